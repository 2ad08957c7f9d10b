//! The Anthropic Messages client against the Anthropic-style stand-in: streamed and whole
//! answers, tool calls round-tripped through `tool_use`/`tool_result`, prefills, thinking, usage
//! with cache reads, every error row typed with the right retry and fallback advice, drops,
//! timeouts and cancellation, and the key kept out of every error. The stand-in's own event
//! order and validation are checked first, over plain HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use kimi_lsp::providers::{
    Anthropic, ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ProviderConfig, ProviderError, RateLimit,
    RetryHint, StreamEvent, TimeoutPhase, ToolCall, ToolSpec, Usage,
};
use kimi_lsp::secret::ApiKey;
use kimi_test_support::anthropic::{anthropic_error, ANTHROPIC_VERSION};
use kimi_test_support::{AnthropicStandin, ApiError, Reply};
use serde_json::{json, Value};

const MODEL: &str = "claude-haiku-4-5";

fn config(base_url: &str, key: Option<&str>) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("claude", base_url, key.and_then(ApiKey::new));
    cfg.first_byte_timeout = Duration::from_secs(10);
    cfg.idle_timeout = Duration::from_secs(10);
    cfg
}

fn client(s: &AnthropicStandin) -> Anthropic {
    Anthropic::new(config(&s.base_url(), Some("sk-ant-test-key")), reqwest::Client::new())
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(MODEL, vec![Message::system("You complete code."), Message::user(text)])
}

/// Every event of a stream, and how it ended.
async fn drain(c: &Anthropic, req: &ChatRequest) -> (Vec<StreamEvent>, Result<ChatResponse, ProviderError>) {
    let mut stream = match c.chat_stream(req).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Done(r)) => return (events, Ok(r)),
            Ok(e) => events.push(e),
            Err(e) => return (events, Err(e)),
        }
    }
    panic!("the stream ended without Done or an error: {events:?}");
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Content(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The stand-in itself

/// Reads a raw SSE body into (event name, data) pairs.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad data {data:?}: {e}")))
        })
        .collect()
}

async fn raw_post(s: &AnthropicStandin, body: Value, version: bool) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{}/v1/messages", s.base_url())).json(&body);
    if version {
        req = req.header("anthropic-version", ANTHROPIC_VERSION);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// message_start, then for each block content_block_start (+ one ping after the first),
/// content_block_deltas and content_block_stop with consecutive indices from 0, then
/// message_delta and message_stop; every `event:` name equals its data's `type`.
fn assert_documented_order(events: &[(String, Value)]) {
    for (name, data) in events {
        assert_eq!(data["type"].as_str(), Some(name.as_str()), "event name and type differ: {data}");
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(&names[names.len() - 2..], &["message_delta", "message_stop"], "{names:?}");
    let mut i = 1;
    let mut block = 0u64;
    while names[i] == "content_block_start" {
        assert_eq!(events[i].1["index"], json!(block));
        i += 1;
        if block == 0 {
            assert_eq!(names[i], "ping", "{names:?}");
            i += 1;
        }
        while names[i] == "content_block_delta" {
            assert_eq!(events[i].1["index"], json!(block));
            i += 1;
        }
        assert_eq!(names[i], "content_block_stop", "{names:?}");
        assert_eq!(events[i].1["index"], json!(block));
        i += 1;
        block += 1;
    }
    assert_eq!(i, names.len() - 2, "unexpected events: {names:?}");
    assert!(events[0].1["message"]["usage"]["input_tokens"].is_u64());
    assert!(events[names.len() - 2].1["delta"]["stop_reason"].is_string());
    assert!(events[names.len() - 2].1["usage"]["output_tokens"].is_u64());
}

#[tokio::test]
async fn standin_streams_events_in_the_documented_order() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::reasoning_then_text("let me think", "fn main() {}"));
    s.push(Reply::tool_calls(&[("read_file", r#"{"path":"a.rs"}"#), ("list_dir", "{}")]));
    let body = json!({"model": MODEL, "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = raw_post(&s, body.clone(), true).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    assert_documented_order(&events);
    let deltas: Vec<&str> = events.iter().filter_map(|(_, d)| d["delta"]["type"].as_str()).collect();
    assert_eq!(
        deltas,
        [
            "thinking_delta",
            "thinking_delta",
            "thinking_delta",
            "signature_delta",
            "text_delta",
            "text_delta",
            "text_delta"
        ]
    );
    assert_eq!(events.last().map(|(n, _)| n.as_str()), Some("message_stop"));

    let (_, text) = raw_post(&s, body, true).await;
    let events = sse_events(&text);
    assert_documented_order(&events);
    let starts: Vec<&Value> =
        events.iter().filter(|(n, _)| n == "content_block_start").map(|(_, d)| &d["content_block"]).collect();
    assert_eq!(starts[0]["type"], "tool_use");
    assert_eq!(starts[0]["name"], "read_file");
    assert!(starts[0]["id"].as_str().unwrap().starts_with("toolu_01"));
    assert_eq!(starts[0]["input"], json!({}));
    let args: String = events
        .iter()
        .filter(|(_, d)| d["index"] == 0 && d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"path":"a.rs"}"#);
    let stop = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn standin_validates_like_the_live_api() {
    let s = AnthropicStandin::start().await;
    let ok = json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let (status, body) = raw_post(&s, ok.clone(), false).await;
    assert_eq!((status, body.contains("anthropic-version")), (400, true), "{body}");
    let (status, body) = raw_post(&s, ok, true).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0], json!({"type": "text", "text": "ok"}));

    let cases = [
        (json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}), "max_tokens: Field required"),
        (
            json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "x"}]}),
            "Unexpected role \"system\"",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "stop_sequences": ["\n"], "messages": [{"role": "user", "content": "x"}]}),
            "each stop sequence must contain non-whitespace",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y "}]}),
            "final assistant content cannot end with trailing whitespace",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]}),
            "unexpected `tool_use_id`",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_y", "name": "f", "input": {}}]},
                {"role": "user", "content": "no result"}]}),
            "`tool_use` ids were found without `tool_result` blocks",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}),
            "text content blocks must be non-empty",
        ),
    ];
    for (body, expected) in cases {
        let (status, text) = raw_post(&s, body.clone(), true).await;
        assert_eq!(status, 400, "{body} -> {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains(expected), "{text}");
    }
    let (status, text) = raw_post(
        &s,
        json!({"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        true,
    )
    .await;
    assert_eq!(status, 404);
    assert!(text.contains("not_found_error") && text.contains("model: claude-x"), "{text}");
}

#[tokio::test]
async fn standin_redacts_the_key_and_pages_models() {
    let s = AnthropicStandin::start().await;
    s.require_key("sk-ant-right");
    let http = reqwest::Client::new();
    let url = format!("{}/v1/models?limit=2", s.base_url());
    let denied = http.get(&url).header("anthropic-version", ANTHROPIC_VERSION).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    let page: Value = http
        .get(&url)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("x-api-key", "sk-ant-right")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["type"], "model");
    let recorded = s.requests();
    assert_eq!(recorded[1].header("x-api-key"), Some("<redacted>"));
    assert!(!format!("{recorded:?}").contains("sk-ant-right"));
    assert!(recorded.iter().all(|r| r.header("request-id").is_none()), "request ids are response headers");
}

// ---------------------------------------------------------------------------------------------
// The client

#[tokio::test]
async fn a_streamed_answer_arrives_in_order_with_usage() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::text("").chunks(&["fn ", "main() ", "{}"]).usage(300, 12, 0));
    let c = client(&s);
    let (events, done) = drain(&c, &ask("write main")).await;
    assert_eq!(
        events,
        vec![
            StreamEvent::Content("fn ".into()),
            StreamEvent::Content("main() ".into()),
            StreamEvent::Content("{}".into())
        ]
    );
    let r = done.unwrap();
    assert_eq!(r.content, "fn main() {}");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.model, MODEL);
    assert!(r.id.starts_with("msg_01"), "{}", r.id);
    assert!(r.request_id.as_deref().is_some_and(|id| id.starts_with("req_")));
    assert_eq!(r.usage, Some(Usage { prompt_tokens: 300, completion_tokens: 12, total_tokens: 312, cached_tokens: 0 }));

    let sent = &s.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    assert_eq!(sent.header("x-api-key"), Some("<redacted>"));
    assert_eq!(sent.header("authorization"), Some("<redacted>"), "off api.anthropic.com a bearer goes too");
    assert_eq!(sent.body["system"], "You complete code.");
    assert_eq!(sent.body["messages"], json!([{"role": "user", "content": "write main"}]));
    assert_eq!(sent.body["max_tokens"], 4096);
    assert_eq!(sent.body["stream"], true);
}

#[tokio::test]
async fn a_whole_answer_and_a_base_url_with_v1() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::reasoning_then_text("think", "answer").usage(50, 5, 40));
    let c = Anthropic::new(config(&format!("{}/v1/", s.base_url()), None), reqwest::Client::new());
    let r = c.chat(&ask("q")).await.unwrap();
    assert_eq!(r.content, "answer");
    assert_eq!(r.reasoning, "think");
    assert_eq!(r.usage, Some(Usage { prompt_tokens: 50, completion_tokens: 5, total_tokens: 55, cached_tokens: 40 }));
    assert_eq!(s.requests()[0].path, "/v1/messages");
    assert_eq!(s.requests()[0].body["stream"], false);
    assert_eq!(s.requests()[0].header("x-api-key"), None, "no key configured, none sent");
}

#[tokio::test]
async fn cache_reads_count_as_cached_prompt_tokens() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::text("x").usage(1000, 20, 800));
    let (_, done) = drain(&client(&s), &ask("q")).await;
    assert_eq!(
        done.unwrap().usage,
        Some(Usage { prompt_tokens: 1000, completion_tokens: 20, total_tokens: 1020, cached_tokens: 800 })
    );
}

#[tokio::test]
async fn thinking_streams_as_reasoning_before_the_answer() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::reasoning_then_text("first this", "then that"));
    let req = ChatRequest { thinking: Some(true), max_tokens: Some(2000), ..ask("q") };
    let (events, done) = drain(&client(&s), &req).await;
    let first_content = events.iter().position(|e| matches!(e, StreamEvent::Content(_))).unwrap();
    assert!(events[..first_content].iter().all(|e| matches!(e, StreamEvent::Reasoning(_))));
    let r = done.unwrap();
    assert_eq!(r.reasoning, "first this");
    assert_eq!(r.content, "then that");
    let body = &s.requests()[0].body;
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    assert_eq!(body["max_tokens"], 2000);
}

#[tokio::test]
async fn a_tool_call_round_trips_through_tool_use_and_tool_result() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::tool_call("read_file", r#"{"path":"src/a.rs"}"#));
    s.push(Reply::text("It prints hello."));
    let c = client(&s);
    let tools = vec![ToolSpec::function(
        "read_file",
        "Read a workspace file",
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    )];
    // With thinking on, the stand-in (like the API) refuses a tool loop whose assistant turn lacks
    // its signed thinking block: the client must leave thinking off for the second request.
    let mut req =
        ChatRequest { tools: tools.clone(), thinking: Some(true), max_tokens: Some(4000), ..ask("what does a.rs do?") };
    let (events, done) = drain(&c, &req).await;
    let first = done.unwrap();
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    let call = first.tool_calls[0].clone();
    assert_eq!(call.name, "read_file");
    assert_eq!(call.arguments, r#"{"path":"src/a.rs"}"#);
    assert!(call.id.starts_with("toolu_01"));
    assert_eq!(events[0], StreamEvent::ToolCallStarted { index: 0, id: call.id.clone(), name: "read_file".into() });
    let fragments: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallArguments { index: 0, fragment } => Some(fragment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(fragments, call.arguments);

    req.messages.push(Message::assistant_tool_calls("", None, vec![call.clone()]));
    req.messages.push(Message::tool_result(&call.id, "read_file", "fn main() { println!(\"hello\") }"));
    // The stand-in refuses a tool_result that does not answer the tool_use right before it.
    let (_, done) = drain(&c, &req).await;
    assert_eq!(done.unwrap().content, "It prints hello.");
    let body = &s.requests()[1].body;
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": call.id, "name": "read_file", "input": {"path": "src/a.rs"}}]})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": "fn main() { println!(\"hello\") }"}]})
    );
    assert_eq!(body["tools"][0]["input_schema"]["required"], json!(["path"]));
    assert_eq!(s.requests()[0].body["thinking"]["type"], "enabled");
    assert!(body.get("thinking").is_none(), "{body}");
}

#[tokio::test]
async fn a_prefill_is_continued_without_repeating_its_whitespace() {
    let s = AnthropicStandin::start().await;
    // The model writes the whitespace the client had to trim, then the rest.
    s.push(Reply::text("").chunks(&["\n", "    println!(\"hi\");\n}"]));
    let req = ChatRequest {
        stop: vec!["\n\n\n".into(), "</code>".into()],
        ..ChatRequest::new(MODEL, vec![Message::user("complete"), Message::assistant_partial("fn main() {\n")])
    };
    let (events, done) = drain(&client(&s), &req).await;
    assert_eq!(text_of(&events), "    println!(\"hi\");\n}");
    assert_eq!(done.unwrap().content, "    println!(\"hi\");\n}");
    let body = &s.requests()[0].body;
    assert_eq!(body["messages"][1], json!({"role": "assistant", "content": "fn main() {"}));
    assert_eq!(body["stop_sequences"], json!(["</code>"]));
}

#[tokio::test]
async fn a_model_that_refuses_prefills_gets_the_prefix_in_the_user_turn() {
    let s = AnthropicStandin::start().await;
    s.set_models(&["claude-sonnet-4-6"]);
    s.refuse_prefill(&["claude-sonnet-4-6"]);
    // Without a prefill the model tends to repeat the prefix first: that part is dropped.
    s.push(Reply::text("").chunks(&["fn main", "() {\n", "    run();\n}"]));
    s.push(Reply::text("").chunks(&["    again();\n}"]));
    let c = client(&s);
    let req = ChatRequest::new(
        "claude-sonnet-4-6",
        vec![Message::user("complete"), Message::assistant_partial("fn main() {\n")],
    );
    let (events, done) = drain(&c, &req).await;
    assert_eq!(text_of(&events), "    run();\n}");
    assert_eq!(done.unwrap().content, "    run();\n}");
    let sent = s.message_requests();
    assert_eq!(sent.len(), 2, "one refused attempt with the prefill, then one without");
    assert_eq!(sent[0]["messages"][1]["role"], "assistant");
    let retry = &sent[1]["messages"];
    assert_eq!(retry.as_array().unwrap().len(), 1, "{retry}");
    assert!(retry[0]["content"][1]["text"].as_str().unwrap().ends_with("\nfn main() {\n"), "{retry}");

    // The refusal is remembered: the next completion goes without a prefill at once.
    assert_eq!(c.chat(&req).await.unwrap().content, "    again();\n}");
    assert_eq!(s.message_requests().len(), 3);
}

#[tokio::test]
async fn images_go_as_base64_image_blocks() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::text("a red square"));
    let req = ChatRequest::new(
        MODEL,
        vec![Message::user_parts(vec![ContentPart::text("what is this?"), ContentPart::image("image/png", b"png")])],
    );
    assert_eq!(client(&s).chat(&req).await.unwrap().content, "a red square");
    assert_eq!(
        s.requests()[0].body["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "cG5n"}})
    );
}

/// Whether an error is the one a row expects.
type Expect = fn(&ProviderError) -> bool;

#[tokio::test]
async fn every_error_row_is_typed_with_its_retry_and_fallback_advice() {
    let s = AnthropicStandin::start().await;
    let c = client(&s);
    let rows: Vec<(ApiError, Expect, bool)> = vec![
        (ApiError::Overloaded, |e| matches!(e, ProviderError::Overloaded { .. }), true),
        (
            ApiError::RateLimitRpm { seconds: 7 },
            |e| {
                matches!(e, ProviderError::RateLimited { limit: RateLimit::RequestsPerMinute, retry_after, .. }
                    if *retry_after == Duration::from_secs(7))
            },
            true,
        ),
        (
            ApiError::Tpm { seconds: 3 },
            |e| matches!(e, ProviderError::RateLimited { limit: RateLimit::TokensPerMinute, .. }),
            true,
        ),
        (
            ApiError::Concurrency { seconds: 2 },
            |e| matches!(e, ProviderError::RateLimited { limit: RateLimit::Concurrency, .. }),
            true,
        ),
        (ApiError::InvalidAuthentication, |e| matches!(e, ProviderError::InvalidAuthentication { .. }), false),
        (ApiError::PermissionDenied, |e| matches!(e, ProviderError::PermissionDenied { .. }), false),
        (
            ApiError::ModelNotFound { model: "claude-x".into() },
            |e| matches!(e, ProviderError::ModelNotFound { .. }),
            true,
        ),
        (
            ApiError::ContextOverflow { limit: 200_000, requested: 250_000 },
            |e| matches!(e, ProviderError::ContextOverflow { limit: 200_000, requested: 250_000, .. }),
            false,
        ),
        (ApiError::InsufficientBalance, |e| matches!(e, ProviderError::InsufficientBalance { .. }), false),
        (ApiError::ContentFilter, |e| matches!(e, ProviderError::ContentFilter { .. }), false),
        (ApiError::UnexpectedOutput, |e| matches!(e, ProviderError::ServerError { status: 500, .. }), true),
    ];
    for (api_error, is_expected, fallback) in rows {
        let (status, kind, _, _) = anthropic_error(&api_error);
        s.push(Reply::error(api_error.clone()));
        let (_, streamed) = drain(&c, &ask("q")).await;
        let streamed = streamed.unwrap_err();
        assert!(is_expected(&streamed), "{status} {kind}: {streamed:?}");
        assert_eq!(streamed.allows_fallback(), fallback, "{status} {kind}");
        assert!(streamed.request_id().is_some_and(|id| id.starts_with("req_")), "{streamed:?}");
        s.push(Reply::error(api_error));
        let whole = c.chat(&ask("q")).await.unwrap_err();
        assert!(is_expected(&whole), "{status} {kind} (not streamed): {whole:?}");
    }
    let overloaded = {
        s.push(Reply::error(ApiError::Overloaded));
        c.chat(&ask("q")).await.unwrap_err()
    };
    assert_eq!(overloaded.retry_hint(), RetryHint::Backoff);
    s.push(Reply::error(ApiError::RateLimitRpm { seconds: 4 }));
    assert_eq!(c.chat(&ask("q")).await.unwrap_err().retry_hint(), RetryHint::After(Duration::from_secs(4)));
}

#[tokio::test]
async fn a_missing_model_lists_the_models_there_are() {
    let s = AnthropicStandin::start().await;
    s.set_models(&["claude-sonnet-4-5", "claude-haiku-4-5"]);
    let err = client(&s).chat(&ChatRequest::new("claude-2", vec![Message::user("x")])).await.unwrap_err();
    match &err {
        ProviderError::ModelNotFound { model, available, .. } => {
            assert_eq!(model, "claude-2");
            assert_eq!(available, &["claude-sonnet-4-5", "claude-haiku-4-5"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("claude-sonnet-4-5, claude-haiku-4-5"), "{err}");
}

#[tokio::test]
async fn models_are_read_across_pages() {
    let s = AnthropicStandin::start().await;
    let ids: Vec<String> = (0..1001).map(|i| format!("claude-test-{i}")).collect();
    s.set_models(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    let models = client(&s).models().await.unwrap();
    assert_eq!(models.len(), 1001);
    assert_eq!(models[1000].id, "claude-test-1000");
    let pages: Vec<String> = s.requests().iter().filter_map(|r| r.query.clone()).collect();
    assert_eq!(pages, ["limit=1000", "limit=1000&after_id=claude-test-999"]);
}

#[tokio::test]
async fn overload_inside_the_stream_is_a_typed_error_after_what_arrived() {
    let s = AnthropicStandin::start().await;
    s.push_stream_error(Reply::text("").chunks(&["fn ", "main"]), 1, ApiError::Overloaded);
    let (events, done) = drain(&client(&s), &ask("q")).await;
    assert_eq!(events, vec![StreamEvent::Content("fn ".into())]);
    let err = done.unwrap_err();
    assert!(matches!(err, ProviderError::Overloaded { .. }), "{err:?}");
    assert!(err.allows_fallback());
}

#[tokio::test]
async fn a_stream_cut_midway_is_an_error_not_a_short_answer() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::text("").chunks(&["fn ", "main", "() {}"]).drop_after(2));
    let (events, done) = drain(&client(&s), &ask("q")).await;
    assert_eq!(text_of(&events), "fn main");
    let err = done.unwrap_err();
    assert!(matches!(err, ProviderError::StreamDropped { received: 7, .. }), "{err:?}");
    assert!(err.allows_fallback());
    assert_eq!(err.retry_hint(), RetryHint::Once);

    s.push(Reply::text("whole answer").drop_after(0));
    let err = client(&s).chat(&ask("q")).await.unwrap_err();
    assert!(matches!(err, ProviderError::StreamDropped { .. } | ProviderError::MalformedResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn slow_starts_and_stalls_time_out() {
    let s = AnthropicStandin::start().await;
    let mut cfg = config(&s.base_url(), None);
    cfg.first_byte_timeout = Duration::from_millis(300);
    cfg.idle_timeout = Duration::from_millis(300);
    let c = Anthropic::new(cfg, reqwest::Client::new());
    s.push(Reply::text("late").first_byte_delay(Duration::from_secs(2)));
    let err = c.chat_stream(&ask("q")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { phase: TimeoutPhase::FirstByte, .. }), "{err:?}");
    assert!(err.allows_fallback());
    s.push(Reply::text("").chunks(&["a", "b"]).chunk_delay(Duration::from_secs(2)));
    let (_, done) = drain(&c, &ask("q")).await;
    assert!(matches!(done, Err(ProviderError::Timeout { phase: TimeoutPhase::Idle, .. })), "{done:?}");
}

/// A finished answer's connection goes back to the pool: the next request goes over it.
#[tokio::test]
async fn consecutive_answers_share_one_connection() {
    let s = AnthropicStandin::start().await;
    let c = client(&s);
    for _ in 0..3 {
        s.push(Reply::text("fine"));
        let (events, done) = drain(&c, &ask("q")).await;
        assert_eq!(text_of(&events), "fine");
        done.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.requests().len(), 3);
    assert_eq!(s.connections(), 1);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let s = AnthropicStandin::start().await;
    s.push(Reply::text("").chunks(&["a", "b", "c", "d"]).chunk_delay(Duration::from_millis(300)));
    let mut stream = client(&s).chat_stream(&ask("q")).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), StreamEvent::Content("a".into()));
    drop(stream);
    s.wait_for_dropped_streams(1, Duration::from_secs(5)).await;
    assert_eq!(s.completed_streams(), 0);
}

#[tokio::test]
async fn the_key_never_appears_in_errors_and_a_bearer_never_goes_to_anthropic() {
    let s = AnthropicStandin::start().await;
    s.require_key("sk-ant-api03-the-right-one");
    let wrong = "sk-ant-api03-wrongwrongwrongwrong";
    let c = Anthropic::new(config(&s.base_url(), Some(wrong)), reqwest::Client::new());
    let err = c.chat(&ask("q")).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidAuthentication { .. }), "{err:?}");
    assert!(!err.allows_fallback());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrongwrong"), "{text}");
    assert!(text.contains("API key"), "{text}");
    let (_, streamed) = drain(&c, &ask("q")).await;
    assert!(!format!("{:?}", streamed.unwrap_err()).contains("wrongwrong"));

    // Pretending to be api.anthropic.com: the key goes only as x-api-key.
    let right = Anthropic::new(
        config(&format!("http://api.anthropic.com:{}", s.port()), Some("sk-ant-api03-the-right-one")),
        reqwest::Client::builder()
            .resolve("api.anthropic.com", SocketAddr::from(([127, 0, 0, 1], s.port())))
            .build()
            .unwrap(),
    );
    assert_eq!(right.chat(&ask("q")).await.unwrap().content, "ok");
    let last = s.requests().pop().unwrap();
    assert_eq!(last.header("x-api-key"), Some("<redacted>"));
    assert_eq!(last.header("authorization"), None);
}

#[tokio::test]
async fn what_anthropic_cannot_do_is_refused_before_any_request() {
    let s = AnthropicStandin::start().await;
    let req = ChatRequest { tools: vec![ToolSpec::WebSearch], ..ask("search") };
    let err = client(&s).chat_stream(&req).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unsendable { .. }), "{err:?}");
    assert!(s.requests().is_empty());
    let call = ToolCall { id: "toolu_1".into(), name: "f".into(), arguments: "not json".into() };
    let req = ChatRequest::new(
        MODEL,
        vec![
            Message::user("x"),
            Message::assistant_tool_calls("", None, vec![call]),
            Message::tool_result("toolu_1", "f", "error: arguments were not JSON"),
        ],
    );
    assert!(client(&s).chat(&req).await.is_ok(), "broken arguments are echoed as an empty input");
}

#[tokio::test]
async fn a_wrong_base_url_is_named_as_such() {
    let s = AnthropicStandin::start().await;
    let c = Anthropic::new(config(&format!("{}/proxy", s.base_url()), None), reqwest::Client::new());
    let err = c.chat(&ask("q")).await.unwrap_err();
    match &err {
        ProviderError::WrongPath { url, status: 404, .. } => assert!(url.ends_with("/proxy/v1/messages"), "{url}"),
        other => panic!("{other:?}"),
    }
    assert!(!err.allows_fallback());
    let err = c.models().await.unwrap_err();
    assert!(matches!(err, ProviderError::EndpointMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("has no model list"), "{err}");
}
