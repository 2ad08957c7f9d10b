//! The stand-in checked over real HTTP against what `/work/shared/kimi-api.md` records of the live
//! service: byte shapes of streamed and plain replies, every error's status and body, the odd
//! unknown-route body, headers, validation, the request log, and detection of clients that leave;
//! and the HTTPS stand-in: its own certificate authority, HTTP/2 by ALPN, one connection for many
//! requests, and what a stream a client drops early does to its connection.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kimi_test_support::{estimate_tokens, AnthropicStandin, ApiError, Protocols, Reply, Standin};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("a plain HTTP client builds")
}

fn chat_body(model: &str, user: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You complete code."},
            {"role": "user", "content": user}
        ]
    })
}

async fn post(s: &Standin, path: &str, body: &Value) -> reqwest::Response {
    http().post(format!("{}{path}", s.base_url())).json(body).send().await.expect("the stand-in answers")
}

async fn get(s: &Standin, path: &str) -> reqwest::Response {
    http().get(format!("{}{path}", s.base_url())).send().await.expect("the stand-in answers")
}

/// The `data:` payloads of an SSE body, checking the framing on the way.
fn sse_events(text: &str) -> Vec<String> {
    assert!(text.ends_with("\n\n"), "the stream must end with a blank line: {text:?}");
    text.strip_suffix("\n\n")
        .unwrap()
        .split("\n\n")
        .map(|e| {
            e.strip_prefix("data: ").unwrap_or_else(|| panic!("an event is not a single data line: {e:?}")).to_string()
        })
        .collect()
}

fn assert_live_headers(r: &reqwest::Response) {
    let h = r.headers();
    assert!(h.get("msh-request-id").is_some(), "Msh-Request-Id missing: {h:?}");
    assert!(h.get("x-msh-trace-id").is_some(), "X-Msh-Trace-Id missing: {h:?}");
    assert!(h.get("retry-after").is_none(), "the live service sends no Retry-After");
    assert!(
        !h.keys().any(|k| k.as_str().starts_with("x-ratelimit")),
        "the live service sends no rate-limit headers: {h:?}"
    );
}

#[tokio::test]
async fn streamed_reply_matches_the_live_shape() {
    let s = Standin::start().await;
    s.push(Reply::text("").chunks(&["fn ", "main() {}"]).usage(8, 11, 8));
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "go", true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_live_headers(&r);
    let text = r.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.len(), 5, "{text}");
    assert_eq!(events[4], "[DONE]");
    let chunks: Vec<Value> = events[..4].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && id.len() == "chatcmpl-".len() + 24, "{id}");
    for c in &chunks {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "kimi-k2-turbo-preview");
        assert!(c["created"].is_u64());
    }
    assert_eq!(
        chunks[0]["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}])
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "fn "}));
    assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": "main() {}"}));
    let last = &chunks[3];
    assert_eq!(
        last["choices"],
        json!([{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 8, "completion_tokens": 11, "total_tokens": 19, "cached_tokens": 8}}])
    );
    assert!(last.get("usage").is_none(), "usage lives inside choices[0], not on top");
    assert!(last["system_fingerprint"].as_str().unwrap().starts_with("fpv0_"));
    // Field order as the live service writes it.
    assert!(events[0].starts_with(r#"{"id":"chatcmpl-"#), "{}", events[0]);
    assert!(events[3].contains(r#""finish_reason":"stop","usage":{"prompt_tokens":8,"completion_tokens":11,"total_tokens":19,"cached_tokens":8}}],"system_fingerprint":"#));
}

#[tokio::test]
async fn plain_reply_has_top_level_usage_derived_from_the_prompt() {
    let s = Standin::start().await;
    s.push(Reply::text("hello world"));
    let body = chat_body("kimi-k2-0905-preview", "say hello", false);
    let r = post(&s, "/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    assert_live_headers(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "kimi-k2-0905-preview");
    assert_eq!(
        v["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "hello world"}, "finish_reason": "stop"}])
    );
    let prompt = estimate_tokens(&body);
    assert_eq!(prompt, 7, "(18 + 9 chars) / 4, rounded up");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3, "cached_tokens": 0})
    );
    assert!(v["system_fingerprint"].as_str().unwrap().starts_with("fpv0_"));
}

#[tokio::test]
async fn every_api_error_has_its_live_status_and_exact_body() {
    let org = "org-2f9c4d7a1e6b4c08";
    let ak = "ak-f1c8e3a92b7d5e40";
    let cases: Vec<(ApiError, u16, &str, String)> = vec![
        (ApiError::ContextOverflow { limit: 262144, requested: 291351 }, 400, "invalid_request_error",
            "Invalid request: Your request exceeded model token limit: 262144 (requested: 291351)".into()),
        (ApiError::InvalidTemperature, 400, "invalid_request_error",
            "invalid temperature: only 0.6 is allowed for this model".into()),
        (ApiError::ContentFilter, 400, "content_filter",
            "The request was rejected because it was considered high risk".into()),
        (ApiError::InvalidAuthentication, 401, "invalid_authentication_error", "Invalid Authentication".into()),
        (ApiError::IncorrectApiKey, 401, "incorrect_api_key_error", "Incorrect API key provided".into()),
        (ApiError::PermissionDenied, 403, "permission_denied_error", "The API you are accessing is not open".into()),
        (ApiError::ModelNotFound { model: "kimi-latest".into() }, 404, "resource_not_found_error",
            "Not found the model kimi-latest or Permission denied".into()),
        (ApiError::RateLimitRpm { seconds: 1 }, 429, "rate_limit_reached_error",
            format!("Your account {org}<{ak}> request reached organization max RPM: 3, please try again after 1 seconds")),
        (ApiError::Concurrency { seconds: 2 }, 429, "rate_limit_reached_error",
            format!("Your account {org}<{ak}> request reached max organization concurrency: 1, please try again after 2 seconds")),
        (ApiError::Tpm { seconds: 3 }, 429, "rate_limit_reached_error",
            format!("Your account {org}<{ak}> request reached TPM rate limit, current:512000, limit:500000, please try again after 3 seconds")),
        (ApiError::Tpd { seconds: 4 }, 429, "rate_limit_reached_error",
            format!("Your account {org}<{ak}> request reached TPD rate limit,current:1500512, limit:1500000, please try again after 4 seconds")),
        (ApiError::Overloaded, 429, "engine_overloaded_error",
            "The engine is currently overloaded, please try again later".into()),
        (ApiError::InsufficientBalance, 429, "exceeded_current_quota_error",
            format!("Your account {org} <{ak}> is suspended due to insufficient balance, please recharge your account or check your plan and billing details")),
        (ApiError::UnexpectedOutput, 500, "unexpected_output", "invalid state transition".into()),
    ];
    let s = Standin::start().await;
    for (error, status, kind, message) in cases {
        for stream in [false, true] {
            s.push(Reply::error(error.clone()));
            let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", stream)).await;
            assert_eq!(r.status().as_u16(), status, "{error:?}");
            assert_live_headers(&r);
            assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
            let expected = serde_json::to_string(&json!({"error": {"message": message, "type": kind}})).unwrap();
            assert_eq!(r.text().await.unwrap(), expected, "{error:?}");
        }
    }
}

#[tokio::test]
async fn unknown_routes_answer_the_non_openai_body() {
    let s = Standin::start().await;
    let r = get(&s, "/nothing/here").await;
    assert_eq!(r.status(), 404);
    assert_live_headers(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 5);
    assert_eq!(v["error"], "url.not_found");
    assert_eq!(v["message"], "没找到对象");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["scode"], "0x5");
    assert_eq!(v["status"], false);
    // A base URL without /v1 and the wrong method on a known path are unknown routes too.
    let r = http()
        .post(format!("http://127.0.0.1:{}/chat/completions", s.port()))
        .json(&chat_body("kimi-k2-turbo-preview", "x", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["error"].as_str(), v["method"].as_str()), (Some("url.not_found"), Some("POST")));
    assert_eq!(get(&s, "/chat/completions").await.status(), 404);
    assert_eq!(s.chat_requests().len(), 0, "none of these reached the chat route");
}

#[tokio::test]
async fn a_required_key_guards_every_route() {
    let s = Standin::start().await;
    s.require_key("sk-right");
    let unauthorized = r#"{"error":{"message":"Invalid Authentication","type":"invalid_authentication_error"}}"#;
    for auth in [None, Some("Bearer sk-wrong"), Some("sk-right"), Some("Bearer sk-righ")] {
        for (method, path) in
            [("POST", "/chat/completions"), ("GET", "/models"), ("GET", "/users/me/balance"), ("GET", "/nope")]
        {
            let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base_url()));
            if method == "POST" {
                req = req.json(&chat_body("kimi-k2-turbo-preview", "x", false));
            }
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{auth:?} {path}");
            assert_live_headers(&r);
            assert_eq!(r.text().await.unwrap(), unauthorized);
        }
    }
    let r = http()
        .post(format!("{}/chat/completions", s.base_url()))
        .bearer_auth("sk-right")
        .json(&chat_body("kimi-k2-turbo-preview", "x", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "ok", "the initial default reply");
}

#[tokio::test]
async fn models_balance_and_token_estimates() {
    let s = Standin::start().await;
    let v: Value = get(&s, "/models").await.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["kimi-k2-0905-preview", "kimi-k2-turbo-preview", "kimi-k2-thinking", "kimi-k2.5"]);
    let k25 = &v["data"][3];
    assert_eq!(
        (
            &k25["object"],
            &k25["owned_by"],
            &k25["context_length"],
            &k25["supports_image_in"],
            &k25["supports_reasoning"]
        ),
        (&json!("model"), &json!("moonshot"), &json!(262144), &json!(true), &json!(true))
    );
    assert_eq!(v["data"][0]["supports_reasoning"], false);

    s.set_models(&["kimi-k2-0711-preview", "my-finetune"]);
    let v: Value = get(&s, "/models").await.json().await.unwrap();
    assert_eq!(v["data"][0]["context_length"], 131072);
    assert_eq!(v["data"][1]["id"], "my-finetune");
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2.5", "x", false)).await;
    assert_eq!(r.status(), 404, "a model no longer listed is not found");

    let v: Value = get(&s, "/users/me/balance").await.json().await.unwrap();
    assert_eq!(v["code"], 0);
    assert_eq!(v["status"], true);
    assert_eq!(v["scode"], "0x0");
    assert_eq!(v["data"]["available_balance"], 49.58);
    s.set_balance(Some(-0.5));
    let v: Value = get(&s, "/users/me/balance").await.json().await.unwrap();
    assert_eq!(v["data"]["available_balance"], -0.5);
    s.set_balance(None);
    let r = get(&s, "/users/me/balance").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "url.not_found");

    let body = chat_body("my-finetune", "0123456789", false);
    let r = post(&s, "/tokenizers/estimate-token-count", &body).await;
    assert_eq!(r.status(), 200);
    assert_live_headers(&r);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"data": {"total_tokens": estimate_tokens(&body)}}));
    assert_eq!(estimate_tokens(&body), 7, "(18 + 10 chars) / 4");
}

#[tokio::test]
async fn unknown_model_is_refused_without_consuming_the_queue() {
    let s = Standin::start().await;
    s.push(Reply::text("scripted"));
    let r = post(&s, "/chat/completions", &chat_body("kimi-latest", "x", true)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"error":{"message":"Not found the model kimi-latest or Permission denied","type":"resource_not_found_error"}}"#
    );
    let v: Value =
        post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", false)).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "scripted");
}

#[tokio::test]
async fn validation_answers_like_the_live_service() {
    let s = Standin::start().await;
    let with = |extra: Value| {
        let mut b = chat_body("kimi-k2-turbo-preview", "x", true);
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (extra, fragment) in [
        (json!({"temperature": 1.3}), "temperature"),
        (json!({"stop": ["1", "2", "3", "4", "5", "6"]}), "stop"),
        (json!({"stop": ["x".repeat(33)]}), "32 bytes"),
        (json!({"tool_choice": "required"}), "tool_choice 'required'"),
        (
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}),
            "the message at position 1 with role 'assistant' must not be empty",
        ),
        (json!({"messages": []}), "messages must not be empty"),
    ] {
        let r = post(&s, "/chat/completions", &with(extra.clone())).await;
        assert_eq!(r.status(), 400, "{extra}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{extra}");
        assert!(v["error"]["message"].as_str().unwrap().contains(fragment), "{extra}: {v}");
        assert_eq!(v["error"].as_object().unwrap().len(), 2, "only message and type: {v}");
    }
    s.set_context_length("kimi-k2-turbo-preview", 100);
    let r = post(&s, "/chat/completions", &with(json!({"max_tokens": 99}))).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Invalid request: Your request exceeded model token limit: 100 (requested: 104)");
    assert_eq!(s.completed_streams(), 0, "refused requests are not replies");
}

#[tokio::test]
async fn partial_mode_replies_are_continuations_and_echo_answers_the_user() {
    let s = Standin::start().await;
    s.push(Reply::text("(a, b)"));
    let body = json!({
        "model": "kimi-k2-turbo-preview",
        "messages": [
            {"role": "user", "content": "complete"},
            {"role": "assistant", "content": "fn add", "partial": true}
        ]
    });
    let v: Value = post(&s, "/chat/completions", &body).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "(a, b)");

    s.set_default(Reply::echo_last_user());
    let body = chat_body("kimi-k2-turbo-preview", "echo me back please", true);
    let text = post(&s, "/chat/completions", &body).await.text().await.unwrap();
    let content: String = sse_events(&text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(content, "echo me back please");
    assert!(sse_events(&text).len() > 4, "the echo is streamed in several chunks");
}

#[tokio::test]
async fn tool_calls_and_reasoning_stream_as_thinking_models_do() {
    let s = Standin::start().await;
    s.push(Reply::tool_calls(&[("read_file", r#"{"path":"src/main.rs"}"#), ("get_weather", r#"{"city":"Paris"}"#)]));
    let body = json!({
        "model": "kimi-k2-thinking", "stream": true,
        "messages": [
            {"role": "user", "content": "look"},
            {"role": "assistant", "reasoning_content": "r", "tool_calls": [
                {"id": "functions.ls:0", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "functions.ls:0", "name": "ls", "content": "main.rs"}
        ]
    });
    let text = post(&s, "/chat/completions", &body).await.text().await.unwrap();
    let mut ids = vec![String::new(); 2];
    let mut names = vec![String::new(); 2];
    let mut args = vec![String::new(); 2];
    let mut finish = None;
    for e in sse_events(&text).iter().filter(|e| *e != "[DONE]") {
        let v: Value = serde_json::from_str(e).unwrap();
        let choice = &v["choices"][0];
        if let Some(f) = choice["finish_reason"].as_str() {
            finish = Some(f.to_string());
        }
        for call in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let i = call["index"].as_u64().unwrap() as usize;
            if let Some(id) = call["id"].as_str() {
                ids[i] = id.to_string();
                names[i] = call["function"]["name"].as_str().unwrap().to_string();
                assert_eq!(call["type"], "function");
            }
            args[i] += call["function"]["arguments"].as_str().unwrap();
        }
    }
    assert_eq!(ids, ["functions.read_file:1", "functions.get_weather:2"], "numbered on from the earlier call");
    assert_eq!(names, ["read_file", "get_weather"]);
    assert_eq!(args, [r#"{"path":"src/main.rs"}"#, r#"{"city":"Paris"}"#]);
    assert_eq!(finish.as_deref(), Some("tool_calls"));

    s.push(Reply::reasoning_then_text("let me think", "answer"));
    let text = post(&s, "/chat/completions", &chat_body("kimi-k2-thinking", "q", true)).await.text().await.unwrap();
    let deltas: Vec<Value> = sse_events(&text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"].clone())
        .collect();
    let first_content = deltas.iter().skip(1).position(|d| d.get("content").is_some()).unwrap();
    let last_reasoning = deltas.iter().skip(1).rposition(|d| d.get("reasoning_content").is_some()).unwrap();
    assert!(last_reasoning < first_content, "reasoning comes before content: {deltas:?}");
}

#[tokio::test]
async fn the_request_log_keeps_method_path_lowercase_headers_and_body() {
    let s = Standin::start().await;
    http()
        .post(format!("{}/chat/completions?trace=1", s.base_url()))
        .header("Authorization", "Bearer sk-x")
        .header("X-Custom-Thing", "yes")
        .json(&chat_body("kimi-k2-turbo-preview", "first", false))
        .send()
        .await
        .unwrap();
    get(&s, "/models").await;
    post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "second", false)).await;
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(reqs[0].query.as_deref(), Some("trace=1"));
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-x"));
    assert_eq!(reqs[0].header("X-CUSTOM-THING"), Some("yes"));
    assert!(reqs[0].headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(reqs[0].status, Some(200));
    assert_eq!((reqs[1].method.as_str(), reqs[1].path.as_str()), ("GET", "/v1/models"));
    assert_eq!(reqs[1].body, Value::Null);
    let chats = s.chat_requests();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["messages"][1]["content"], "first");
    assert_eq!(chats[1]["messages"][1]["content"], "second");
    assert_eq!(s.wait_for_chat_requests(2, WAIT).await, chats);
}

#[tokio::test]
#[should_panic(expected = "timed out after 50ms waiting for 1 chat requests; got 0")]
async fn waiting_for_requests_that_never_come_panics() {
    let s = Standin::start().await;
    s.wait_for_chat_requests(1, Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_counted_as_dropped() {
    let s = Standin::start().await;
    let many: Vec<String> = (0..50).map(|i| format!("part{i} ")).collect();
    let parts: Vec<&str> = many.iter().map(String::as_str).collect();
    s.push(Reply::text("").chunks(&parts).chunk_delay(Duration::from_millis(100)));
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", true)).await;
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    s.wait_for_dropped_streams(1, WAIT).await;
    assert_eq!(s.completed_streams(), 0);

    // A reply read to its end counts as completed, and the dropped one stays dropped.
    s.push(Reply::text("").chunks(&["a", "b"]).chunk_delay(Duration::from_millis(20)));
    let text =
        post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", true)).await.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!((s.dropped_streams(), s.completed_streams()), (1, 1));
}

#[tokio::test]
async fn a_client_leaving_before_the_first_byte_is_counted_as_dropped() {
    let s = Standin::start().await;
    s.push(Reply::text("late").first_byte_delay(Duration::from_secs(3)));
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(200)).build().unwrap();
    let started = Instant::now();
    let err = client
        .post(format!("{}/chat/completions", s.base_url()))
        .json(&chat_body("kimi-k2-turbo-preview", "x", true))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    s.wait_for_dropped_streams(1, Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "noticed before the delay ran out");
}

#[tokio::test]
async fn first_byte_delay_holds_the_headers_back() {
    let s = Standin::start().await;
    s.push(Reply::text("x").first_byte_delay(Duration::from_millis(300)));
    let started = Instant::now();
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", true)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn drop_after_cuts_the_connection_without_finishing() {
    let s = Standin::start().await;
    s.push(Reply::text("").chunks(&["one ", "two ", "three"]).drop_after(2));
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", true)).await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(piece) = body.next().await {
        match piece {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client must see the connection cut");
    let text = String::from_utf8(got).unwrap();
    let events = sse_events(&text);
    assert_eq!(events.len(), 3, "role chunk + two content chunks: {text}");
    assert!(!text.contains("[DONE]") && !text.contains("finish_reason\":\"stop"));

    s.push(Reply::text("whole").drop_after(0));
    let r = post(&s, "/chat/completions", &chat_body("kimi-k2-turbo-preview", "x", false)).await;
    assert!(r.json::<Value>().await.is_err(), "a plain reply is cut halfway");
    assert_eq!((s.dropped_streams(), s.completed_streams()), (0, 0), "a scripted cut is neither");
}

#[tokio::test]
async fn stop_closes_the_port() {
    let s = Standin::start().await;
    let clone = s.clone();
    assert_eq!(get(&clone, "/models").await.status(), 200);
    s.stop();
    let deadline = Instant::now() + WAIT;
    loop {
        let r = http().get(format!("{}/models", clone.base_url())).send().await;
        if r.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the stand-in still answers after stop()");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_standin_process_serves_a_script_and_stops_when_stdin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    let log = dir.path().join("requests.jsonl");
    std::fs::write(&script, r#"[{"text": "from the script"}, {"error": "Overloaded"}]"#).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_moonshot-standin"))
        .args(["--script", script.to_str().unwrap(), "--key", "sk-proc", "--log", log.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim_end().strip_prefix("BASE_URL=").unwrap_or_else(|| panic!("{line:?}")).to_string();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"), "{base}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let send = |user: &'static str| {
            http()
                .post(format!("{base}/chat/completions"))
                .bearer_auth("sk-proc")
                .json(&chat_body("kimi-k2-turbo-preview", user, false))
                .send()
        };
        let v: Value = send("a").await.unwrap().json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "from the script");
        assert_eq!(send("b").await.unwrap().status(), 429);
        let v: Value = send("then echo").await.unwrap().json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "then echo");
    });

    child.stdin.take().unwrap().flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < WAIT, "the stand-in kept running after stdin closed");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());

    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["path"], "/v1/chat/completions");
    assert_eq!(lines[1]["status"], 429);
    assert_eq!(lines[2]["body"]["messages"][1]["content"], "then echo");
    assert_eq!(lines[0]["authorized"], true);
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains("sk-proc"), "the key never reaches the log file");
}

#[test]
fn a_bad_script_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, r#"[{"text": "ok"}, {"error": "Busy"}]"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_moonshot-standin"))
        .args(["--script", script.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no BASE_URL line for a refused script");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("script entry 1: unknown error \"Busy\""), "{err}");
}

#[tokio::test]
async fn the_port_closes_when_the_last_handle_is_dropped() {
    let s = Standin::start().await;
    let url = format!("{}/models", s.base_url());
    let clone = s.clone();
    drop(s);
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200, "a clone keeps it running");
    drop(clone);
    let deadline = Instant::now() + WAIT;
    while http().get(&url).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the stand-in outlived its handles");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// HTTPS

/// A client that trusts the stand-in's certificate authority, as the server will once told to.
fn trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the stand-in's CA is valid PEM");
    reqwest::Client::builder().no_proxy().add_root_certificate(ca).build().expect("a TLS client builds")
}

async fn chat_over(client: &reqwest::Client, s: &Standin, user: &str) -> reqwest::Response {
    client
        .post(format!("{}/chat/completions", s.base_url()))
        .json(&chat_body("kimi-k2-turbo-preview", user, true))
        .send()
        .await
        .expect("the TLS stand-in answers")
}

fn versions(s: &Standin) -> Vec<String> {
    s.requests().into_iter().map(|r| r.version).collect()
}

#[tokio::test]
async fn https_offers_h2_and_keeps_one_connection_for_many_requests() {
    let s = Standin::start_tls(Protocols::Http2).await;
    let base = s.base_url();
    assert!(base.starts_with("https://localhost:") && base.ends_with("/v1"), "{base}");
    let client = trusting(&s.ca_pem());

    s.push(Reply::text("").chunks(&["fn ", "main() {}"]));
    let r = chat_over(&client, &s, "one").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN must settle on h2");
    let events = sse_events(&r.text().await.unwrap());
    let said: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(said, "fn main() {}");
    assert_eq!(events.last().unwrap(), "[DONE]");

    assert_eq!(client.get(format!("{base}/models")).send().await.unwrap().status(), 200);
    let text = chat_over(&client, &s, "three").await.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    assert_eq!(versions(&s), ["HTTP/2.0"; 3]);
    assert_eq!(s.connections(), 1, "HTTP/2 carries the three requests over one connection");
    assert_eq!(s.completed_streams(), 2);
}

#[tokio::test]
async fn https_without_h2_speaks_http_1_1() {
    let s = Standin::start_tls(Protocols::Http1Only).await;
    let client = trusting(&s.ca_pem());
    let r = chat_over(&client, &s, "x").await;
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(client.get(format!("{}/models", s.base_url())).send().await.unwrap().status(), 200);
    assert_eq!(versions(&s), ["HTTP/1.1"; 2]);
    assert_eq!(s.connections(), 1, "a reply read to its end leaves the connection to the next request");

    // The plain stand-in records its version too.
    let plain = Standin::start().await;
    get(&plain, "/models").await;
    assert_eq!(versions(&plain), ["HTTP/1.1"]);
}

#[tokio::test]
async fn a_client_without_the_ca_fails_on_the_certificate_and_the_standin_serves_on() {
    let s = Standin::start_tls(Protocols::Http2).await;
    let untrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    let err = untrusting.get(format!("{}/models", s.base_url())).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    assert!(
        chain.iter().any(|e| e.contains("invalid peer certificate") && e.contains("UnknownIssuer")),
        "the error names the untrusted certificate: {chain:#?}"
    );
    assert!(s.requests().is_empty(), "no request got past the handshake");

    // The failed handshake ended that connection only: the accept loop goes on.
    let r = trusting(&s.ca_pem()).get(format!("{}/models", s.base_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(versions(&s), ["HTTP/2.0"]);

    // Another stand-in's CA does not vouch for this one.
    let other = Standin::start_tls(Protocols::Http2).await;
    let err = trusting(&other.ca_pem()).get(format!("{}/models", s.base_url())).send().await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
}

/// Starts a slow streamed answer, reads its first chunk and drops the response, then asks again
/// over the same client; returns the stand-in to count connections on.
async fn drop_a_stream_then_ask_again(protocols: Protocols) -> Standin {
    let s = Standin::start_tls(protocols).await;
    let client = trusting(&s.ca_pem());
    let many: Vec<String> = (0..50).map(|i| format!("part{i} ")).collect();
    let parts: Vec<&str> = many.iter().map(String::as_str).collect();
    s.push(Reply::text("").chunks(&parts).chunk_delay(Duration::from_millis(100)));

    let r = chat_over(&client, &s, "slow").await;
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    s.wait_for_dropped_streams(1, WAIT).await;

    let text = chat_over(&client, &s, "again").await.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!((s.dropped_streams(), s.completed_streams()), (1, 1));
    s
}

#[tokio::test]
async fn a_stream_dropped_early_keeps_its_h2_connection() {
    let s = drop_a_stream_then_ask_again(Protocols::Http2).await;
    assert_eq!(versions(&s), ["HTTP/2.0"; 2]);
    assert_eq!(s.connections(), 1, "the dropped stream was reset, its connection kept");
}

#[tokio::test]
async fn a_stream_dropped_early_costs_its_http_1_1_connection() {
    let s = drop_a_stream_then_ask_again(Protocols::Http1Only).await;
    assert_eq!(versions(&s), ["HTTP/1.1"; 2]);
    assert_eq!(s.connections(), 2, "a half-read HTTP/1.1 reply leaves nothing to reuse");
}

#[tokio::test]
async fn stop_closes_the_tls_port() {
    let s = Standin::start_tls(Protocols::Http2).await;
    let url = format!("{}/models", s.base_url());
    let ca = s.ca_pem();
    assert_eq!(trusting(&ca).get(&url).send().await.unwrap().status(), 200);
    s.stop();
    let deadline = Instant::now() + WAIT;
    while trusting(&ca).get(&url).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the TLS stand-in still answers after stop()");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_ca_file_is_written_where_asked() {
    let s = Standin::start_tls(Protocols::Http2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = s.write_ca(dir.path());
    assert_eq!(path, dir.path().join("standin-ca.pem"));
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(trusting(&pem).get(format!("{}/models", s.base_url())).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_anthropic_standin_serves_https_too() {
    let s = AnthropicStandin::start_tls(Protocols::Http2).await;
    assert!(s.base_url().starts_with("https://localhost:"), "{}", s.base_url());
    let r = trusting(&s.ca_pem())
        .get(format!("{}/v1/models", s.base_url()))
        .header("anthropic-version", kimi_test_support::anthropic::ANTHROPIC_VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(s.requests()[0].version, "HTTP/2.0");
}
