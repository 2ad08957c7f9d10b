//! The provider client against the Moonshot API stand-in: every row of the error table becomes
//! the right typed error with the right retry and fallback advice and a message the user can act
//! on; streamed and non-streamed answers, tool calls, timeouts, drops and cancellation behave as
//! the live service makes them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kimi_lsp::config::{Config, ConfigLayers, Source};
use kimi_lsp::ledger::Feature;
use kimi_lsp::providers::stream::USAGE_GRACE;
use kimi_lsp::providers::{
    ChatRequest, ChatStream, ContentPart, FinishReason, Message, OpenAiCompatible, ProviderConfig, ProviderError,
    RateLimit, RetryHint, StreamEvent, TimeoutPhase, ToolCall, ToolSpec,
};
use kimi_lsp::router::Router;
use kimi_lsp::secret::ApiKey;
use kimi_test_support::{estimate_tokens, ApiError, Reply, Standin};
use serde_json::{json, Value};

const MODEL: &str = "kimi-k2-turbo-preview";

fn config(base_url: &str, key: Option<&str>) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("moonshot", base_url, key.and_then(ApiKey::new));
    cfg.first_byte_timeout = Duration::from_secs(10);
    cfg.idle_timeout = Duration::from_secs(10);
    cfg
}

fn client(s: &Standin) -> OpenAiCompatible {
    OpenAiCompatible::new(config(&s.base_url(), None), OpenAiCompatible::shared_http_client())
}

fn client_with_key(s: &Standin, key: &str) -> OpenAiCompatible {
    OpenAiCompatible::new(config(&s.base_url(), Some(key)), OpenAiCompatible::shared_http_client())
}

/// A client that believes it talks to api.moonshot.ai while its connections go to the stand-in:
/// the messages that depend on the real host can then be checked without leaving 127.0.0.1.
fn client_as_moonshot_ai(s: &Standin, key: &str) -> OpenAiCompatible {
    let addr: SocketAddr = ([127, 0, 0, 1], s.port()).into();
    let http = reqwest::Client::builder().resolve("api.moonshot.ai", addr).build().unwrap();
    let base_url = format!("http://api.moonshot.ai:{}/v1", s.port());
    OpenAiCompatible::new(config(&base_url, Some(key)), http)
}

/// The router every feature sends through, pointed at the stand-in: retries are its to make.
fn routed(s: &Standin) -> (Router, Config) {
    let mut layers = ConfigLayers::default();
    layers.set(Source::Editor, json!({"apiKey": "sk-routed", "baseUrl": s.base_url()}));
    let (config, problems) = layers.resolve();
    assert!(problems.is_empty(), "{problems:?}");
    (Router::new(&config, None), config)
}

/// What a user-initiated request (a code action) gets through the router.
async fn routed_chat(s: &Standin, req: ChatRequest) -> Result<kimi_lsp::providers::ChatResponse, ProviderError> {
    let (router, config) = routed(s);
    router.chat(&config, Feature::Action, req).await
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(MODEL, vec![Message::user(text)])
}

async fn chat_err(c: &OpenAiCompatible, req: &ChatRequest) -> ProviderError {
    match c.chat(req).await {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

async fn stream_err(c: &OpenAiCompatible, req: &ChatRequest) -> ProviderError {
    match c.chat_stream(req).await {
        Ok(_) => panic!("expected the stream to fail before its first event"),
        Err(e) => e,
    }
}

/// Reads a stream to its end: the events, and the error if it ended with one.
async fn drain(mut stream: ChatStream) -> (Vec<StreamEvent>, Option<ProviderError>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn done(events: &[StreamEvent]) -> &kimi_lsp::providers::ChatResponse {
    match events.last() {
        Some(StreamEvent::Done(r)) => r,
        other => panic!("the stream did not end with Done: {other:?}"),
    }
}

fn assert_says(e: &ProviderError, phrases: &[&str]) {
    let text = e.to_string();
    for p in phrases {
        assert!(text.contains(p), "message lacks {p:?}:\n{text}\n({e:?})");
    }
}

// ---------------------------------------------------------------------------------------------
// The error table, row by row

#[tokio::test]
async fn context_overflow_reports_limit_and_request() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::ContextOverflow { limit: 262144, requested: 291351 }));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::ContextOverflow { limit: 262144, requested: 291351, .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Once);
    assert!(!e.allows_fallback());
    assert_says(&e, &["291351", "262144", "Send less context"]);
    assert!(e.request_id().is_some(), "the Msh-Request-Id is kept");

    // The stand-in's own check of prompt + max_tokens against the model's context.
    s.set_context_length(MODEL, 100);
    let req = ChatRequest { max_tokens: Some(90), ..ask(&"word ".repeat(100)) };
    match stream_err(&client(&s), &req).await {
        ProviderError::ContextOverflow { limit: 100, requested, .. } => assert!(requested > 100),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invalid_temperature_names_the_allowed_value() {
    let s = Standin::start().await;
    let req = ChatRequest {
        temperature: Some(0.2),
        thinking: Some(false),
        ..ChatRequest::new("kimi-k2.5", vec![Message::user("hi")])
    };
    let e = chat_err(&client(&s), &req).await;
    assert!(matches!(e, ProviderError::InvalidTemperature { allowed: Some(a), .. } if (a - 0.6).abs() < 1e-6), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["kimi-k2.5", "only accepts temperature 0.6", "remove `temperature`"]);
}

#[tokio::test]
async fn content_filter_is_not_retried() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::ContentFilter));
    let e = stream_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::ContentFilter { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["content filter", "Rephrase"]);
}

#[tokio::test]
async fn a_rejected_key_on_moonshot_ai_suggests_the_china_host() {
    let s = Standin::start().await;
    s.require_key("sk-good-key-0123456789abcdef");
    let secret = "sk-from-the-other-platform-0123456789";
    let e = chat_err(&client_as_moonshot_ai(&s, secret), &ask("hi")).await;
    match &e {
        ProviderError::InvalidAuthentication { suggested_base_url, host, .. } => {
            assert_eq!(suggested_base_url.as_deref(), Some("https://api.moonshot.cn/v1"));
            assert!(host.starts_with("api.moonshot.ai"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(
        &e,
        &[
            "Invalid Authentication",
            "MOONSHOT_API_KEY",
            "platform.moonshot.cn only work with https://api.moonshot.cn/v1",
            "set `baseUrl` (or MOONSHOT_BASE_URL) to https://api.moonshot.cn/v1",
        ],
    );
    assert!(!format!("{e} {e:?}").contains(secret));
}

#[tokio::test]
async fn a_kimi_code_key_is_explained() {
    let s = Standin::start().await;
    s.require_key("sk-good-key-0123456789abcdef");
    let e = chat_err(&client_as_moonshot_ai(&s, "sk-kimi-0123456789abcdefghij"), &ask("hi")).await;
    assert!(matches!(e, ProviderError::InvalidAuthentication { .. }), "{e:?}");
    assert_says(&e, &["Kimi Code key", "not the Moonshot platform API"]);
}

#[tokio::test]
async fn a_rejected_key_on_another_host_gets_a_generic_hint() {
    let s = Standin::start().await;
    s.require_key("sk-good-key-0123456789abcdef");
    let e = chat_err(&client_with_key(&s, "sk-bad-key-0123456789abcdef"), &ask("hi")).await;
    assert!(matches!(e, ProviderError::InvalidAuthentication { suggested_base_url: None, .. }), "{e:?}");
    assert_says(&e, &["rejected by 127.0.0.1", "Check the API key"]);
    assert!(!e.to_string().contains("moonshot.cn"));
}

#[tokio::test]
async fn incorrect_api_key() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::IncorrectApiKey));
    let e = chat_err(&client_as_moonshot_ai(&s, "sk-x"), &ask("hi")).await;
    assert!(matches!(e, ProviderError::IncorrectApiKey { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["incorrect", "https://platform.moonshot.ai", "MOONSHOT_API_KEY"]);
}

#[tokio::test]
async fn permission_denied() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::PermissionDenied));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::PermissionDenied { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["refused access", "The API you are accessing is not open", "permissions"]);
}

#[tokio::test]
async fn an_unknown_model_lists_the_served_ones() {
    let s = Standin::start().await;
    s.set_models(&["kimi-k2-turbo-preview", "kimi-k2.5"]);
    let req = ChatRequest::new("kimi-latest", vec![Message::user("hi")]);
    let e = chat_err(&client(&s), &req).await;
    match &e {
        ProviderError::ModelNotFound { model, available, .. } => {
            assert_eq!(model, "kimi-latest");
            assert_eq!(available, &["kimi-k2-turbo-preview", "kimi-k2.5"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert_says(&e, &["`kimi-latest` does not exist", "kimi-k2-turbo-preview, kimi-k2.5", "`models.completion`"]);
    // Streamed requests get the same help.
    let e = stream_err(&client(&s), &req).await;
    assert!(matches!(&e, ProviderError::ModelNotFound { available, .. } if available.len() == 2));
}

#[tokio::test]
async fn every_rate_limit_waits_the_stated_seconds() {
    let cases = [
        (ApiError::RateLimitRpm { seconds: 1 }, RateLimit::RequestsPerMinute, 1),
        (ApiError::Concurrency { seconds: 2 }, RateLimit::Concurrency, 2),
        (ApiError::Tpm { seconds: 3 }, RateLimit::TokensPerMinute, 3),
        (ApiError::Tpd { seconds: 4 }, RateLimit::TokensPerDay, 4),
    ];
    let s = Standin::start().await;
    let c = client(&s);
    for (api_error, kind, seconds) in cases {
        s.push(Reply::error(api_error.clone()));
        let e = chat_err(&c, &ask("hi")).await;
        let wait = Duration::from_secs(seconds);
        assert_eq!(
            e,
            ProviderError::RateLimited {
                limit: kind,
                retry_after: wait,
                request_id: e.request_id().map(str::to_string),
            },
            "{api_error:?}"
        );
        assert_eq!(e.retry_hint(), RetryHint::After(wait));
        assert!(e.allows_fallback());
        assert_says(&e, &["Rate limit reached", &format!("wait {seconds} s"), "topping up"]);
        // The account and key ids in the live message stay out of what users see.
        assert!(!e.to_string().contains("org-"));
        assert!(!e.to_string().contains("ak-"));
    }
}

#[tokio::test]
async fn overload_backs_off_and_allows_fallback() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::Overloaded));
    let e = stream_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::Overloaded { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Backoff);
    assert!(e.allows_fallback());
    assert_says(&e, &["overloaded", "fallback model"]);
}

#[tokio::test]
async fn out_of_balance_says_where_to_recharge() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::InsufficientBalance));
    let e = chat_err(&client_as_moonshot_ai(&s, "sk-x"), &ask("hi")).await;
    assert!(matches!(e, ProviderError::InsufficientBalance { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["out of balance", "Recharge at https://platform.moonshot.ai"]);
}

#[tokio::test]
async fn unexpected_output_is_retried_once() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::UnexpectedOutput));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::UnexpectedOutput { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Once);
    assert!(e.allows_fallback());
    assert_says(&e, &["invalid state transition", "try again"]);

    s.push(Reply::error(ApiError::UnexpectedOutput));
    s.push(Reply::text("second try"));
    let r = routed_chat(&s, ask("hi")).await.unwrap();
    assert_eq!(r.content, "second try");
    assert_eq!(s.chat_requests().len(), 3);
    // Once: a second failure in a row is returned.
    s.push(Reply::error(ApiError::UnexpectedOutput));
    s.push(Reply::error(ApiError::UnexpectedOutput));
    s.push(Reply::text("must not be fetched"));
    let e = routed_chat(&s, ask("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::UnexpectedOutput { .. }), "{e:?}");
    assert_eq!(s.chat_requests().len(), 5);
}

#[tokio::test]
async fn other_server_errors_back_off() {
    let s = Standin::start().await;
    s.push(Reply::raw(503, r#"{"error":{"message":"upstream unavailable","type":"server_error"}}"#));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::ServerError { status: 503, .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Backoff);
    assert!(e.allows_fallback());
    assert_says(&e, &["HTTP 503", "upstream unavailable", "Try again"]);
}

#[tokio::test]
async fn a_base_url_without_v1_is_called_a_wrong_path() {
    let s = Standin::start().await;
    let base = format!("http://127.0.0.1:{}", s.port());
    let c = OpenAiCompatible::new(config(&base, None), OpenAiCompatible::shared_http_client());
    let e = chat_err(&c, &ask("hi")).await;
    match &e {
        ProviderError::WrongPath { suggested_base_url, .. } => {
            assert_eq!(suggested_base_url.as_deref(), Some(format!("{base}/v1").as_str()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(!e.allows_fallback());
    assert_says(&e, &["not an API route", "wrong path", "missing /v1", &format!("{base}/v1")]);
    assert!(matches!(c.models().await, Err(ProviderError::WrongPath { .. })));
}

#[tokio::test]
async fn an_unreachable_host_is_named() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = OpenAiCompatible::new(
        config(&format!("http://127.0.0.1:{port}/v1"), Some("sk-unused")),
        OpenAiCompatible::shared_http_client(),
    );
    let e = chat_err(&c, &ask("hi")).await;
    assert!(matches!(e, ProviderError::Connect { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert!(e.allows_fallback());
    assert_says(&e, &[&format!("Cannot reach 127.0.0.1:{port}"), "unreachable"]);
    let e = stream_err(&c, &ask("hi")).await;
    assert!(matches!(e, ProviderError::Connect { .. }), "{e:?}");
}

#[tokio::test]
async fn a_slow_first_byte_times_out() {
    let s = Standin::start().await;
    let mut cfg = config(&s.base_url(), None);
    cfg.first_byte_timeout = Duration::from_millis(300);
    let c = OpenAiCompatible::new(cfg, OpenAiCompatible::shared_http_client());

    s.push(Reply::text("late").first_byte_delay(Duration::from_secs(3)));
    let started = Instant::now();
    let e = stream_err(&c, &ask("hi")).await;
    assert!(started.elapsed() < Duration::from_secs(2), "gave up late");
    assert!(matches!(e, ProviderError::Timeout { phase: TimeoutPhase::FirstByte, .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Backoff);
    assert!(e.allows_fallback());
    assert_says(&e, &["did not start answering within 0.3 s", "first-byte timeout"]);

    s.push(Reply::text("late").first_byte_delay(Duration::from_secs(3)));
    let e = chat_err(&c, &ask("hi")).await;
    assert!(matches!(e, ProviderError::Timeout { phase: TimeoutPhase::FirstByte, .. }), "{e:?}");
}

#[tokio::test]
async fn a_silent_stream_times_out_between_chunks() {
    let s = Standin::start().await;
    let mut cfg = config(&s.base_url(), None);
    cfg.idle_timeout = Duration::from_millis(300);
    let c = OpenAiCompatible::new(cfg, OpenAiCompatible::shared_http_client());
    // The headers and the role chunk come at once, then nothing for two seconds.
    s.push(Reply::text("x").chunks(&["fn ", "main", "()"]).chunk_delay(Duration::from_secs(2)));
    let started = Instant::now();
    let e = stream_err(&c, &ask("hi")).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "gave up late");
    assert!(matches!(e, ProviderError::Timeout { phase: TimeoutPhase::Idle, .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Backoff);
    assert!(e.allows_fallback());
    assert_says(&e, &["stopped sending for 0.3 s", "idle timeout"]);
    // Giving up closed the connection.
    assert_eq!(s.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
}

#[tokio::test]
async fn a_stream_cut_midway_is_dropped_not_short() {
    let s = Standin::start().await;
    s.push(Reply::text("x").chunks(&["fn ", "main", "() {}"]).drop_after(2));
    let stream = client(&s).chat_stream(&ask("hi")).await.unwrap();
    let (events, error) = drain(stream).await;
    assert_eq!(events, vec![StreamEvent::Content("fn ".into()), StreamEvent::Content("main".into())]);
    let e = error.expect("a cut stream is an error");
    assert!(matches!(e, ProviderError::StreamDropped { received: 7, .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Once);
    assert!(e.allows_fallback());
    assert_says(&e, &["closed before the answer was complete", "7 characters"]);

    // A non-streamed answer cut halfway is the same failure, not a parse error.
    s.push(Reply::text("a whole answer").chunk_delay(Duration::from_millis(50)).drop_after(1));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::StreamDropped { .. }), "{e:?}");
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let s = Standin::start().await;
    s.push(Reply::raw(200, "{\"id\": \"chatcmpl-1\", \"choices\": [tru"));
    let e = chat_err(&client(&s), &ask("hi")).await;
    assert!(matches!(e, ProviderError::MalformedResponse { .. }), "{e:?}");
    assert_eq!(e.retry_hint(), RetryHint::Never);
    assert_says(&e, &["not valid for the OpenAI-compatible API", "not JSON"]);
}

// ---------------------------------------------------------------------------------------------
// Answers

#[tokio::test]
async fn streamed_answer_with_usage_inside_the_choice() {
    let s = Standin::start().await;
    s.push(Reply::text("unused").chunks(&["fn ", "main"]).usage(10, 5, 8));
    let stream = client(&s).chat_stream(&ask("complete")).await.unwrap();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(events[0], StreamEvent::Content("fn ".into()));
    assert_eq!(events[1], StreamEvent::Content("main".into()));
    let r = done(&events);
    assert_eq!(r.content, "fn main");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    let usage = r.usage.expect("usage from the finishing chunk");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens), (10, 5, 15, 8));
    assert_eq!(r.model, MODEL);
    assert!(r.id.starts_with("chatcmpl-"));
    assert!(r.request_id.is_some());

    let body = &s.chat_requests()[0];
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(s.completed_streams(), 1);
}

#[tokio::test]
async fn non_streamed_answer() {
    let s = Standin::start().await;
    s.push(Reply::text("hello world").usage(19, 21, 10));
    let r = client(&s).chat(&ask("hi")).await.unwrap();
    assert_eq!(r.content, "hello world");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage.map(|u| (u.total_tokens, u.cached_tokens)), Some((40, 10)));
    assert!(r.request_id.is_some());
    assert_eq!(s.chat_requests()[0]["stream"], json!(false));
    assert!(s.chat_requests()[0].get("stream_options").is_none());
}

#[tokio::test]
async fn reasoning_streams_before_content() {
    let s = Standin::start().await;
    s.push(Reply::reasoning_then_text("let me think", "the answer"));
    let stream = client(&s).chat_stream(&ask("q")).await.unwrap();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    let first_content = events.iter().position(|e| matches!(e, StreamEvent::Content(_))).unwrap();
    assert!(matches!(events[0], StreamEvent::Reasoning(_)));
    assert!(events[..first_content].iter().all(|e| matches!(e, StreamEvent::Reasoning(_))));
    let r = done(&events);
    assert_eq!(r.reasoning, "let me think");
    assert_eq!(r.content, "the answer");
}

#[tokio::test]
async fn tool_call_deltas_are_accumulated_by_index() {
    let s = Standin::start().await;
    s.push(Reply::tool_calls(&[("read_file", r#"{"path":"src/main.rs"}"#), ("grep", r#"{"pattern":"fn main"}"#)]));
    let req = ChatRequest {
        tools: vec![
            ToolSpec::function(
                "read_file",
                "Read a file",
                json!({"type":"object","properties":{"path":{"type":"string"}}}),
            ),
            ToolSpec::function("grep", "Search", json!({"type":"object","properties":{"pattern":{"type":"string"}}})),
        ],
        ..ask("look")
    };
    let stream = client(&s).chat_stream(&req).await.unwrap();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert!(events.contains(&StreamEvent::ToolCallStarted {
        index: 1,
        id: "functions.grep:1".into(),
        name: "grep".into()
    }));
    let fragments: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallArguments { index: 0, fragment } => Some(fragment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(fragments, r#"{"path":"src/main.rs"}"#);
    let r = done(&events);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "functions.read_file:0".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"src/main.rs"}"#.into()
            },
            ToolCall {
                id: "functions.grep:1".into(),
                name: "grep".into(),
                arguments: r#"{"pattern":"fn main"}"#.into()
            },
        ]
    );

    // Sending the calls back: the assistant turn without content, then the results. The
    // stand-in refuses an empty assistant message as the live service does.
    let follow_up = ChatRequest {
        messages: vec![
            Message::user("look"),
            Message::assistant_tool_calls("", Some("reasoning".into()), r.tool_calls.clone()),
            Message::tool_result("functions.read_file:0", "read_file", "fn main() {}"),
            Message::tool_result("functions.grep:1", "grep", "src/main.rs:1"),
        ],
        ..req
    };
    s.push(Reply::text("done"));
    let answer = client(&s).chat(&follow_up).await.unwrap();
    assert_eq!(answer.content, "done");
    let sent = &s.chat_requests()[1]["messages"];
    assert!(sent[1].get("content").is_none());
    assert_eq!(sent[1]["reasoning_content"], json!("reasoning"));
    assert_eq!(sent[2]["tool_call_id"], json!("functions.read_file:0"));
    assert_eq!(sent[2]["name"], json!("read_file"));
}

#[tokio::test]
async fn partial_mode_marks_the_last_message() {
    let s = Standin::start().await;
    s.push(Reply::text("main() {}"));
    let req = ChatRequest::new(
        MODEL,
        vec![Message::system("complete code"), Message::user("write main"), Message::assistant_partial("fn ")],
    );
    let r = client(&s).chat_stream(&req).await.unwrap().collect_response().await.unwrap();
    assert_eq!(r.content, "main() {}");
    let last = s.chat_requests()[0]["messages"][2].clone();
    assert_eq!(last, json!({"role": "assistant", "content": "fn ", "partial": true}));
}

#[tokio::test]
async fn images_travel_as_data_url_parts() {
    let s = Standin::start().await;
    let req = ChatRequest::new(
        "kimi-k2.5",
        vec![Message::user_parts(vec![
            ContentPart::text("what is in this picture?"),
            ContentPart::image("image/png", &[0x89, b'P', b'N', b'G']),
        ])],
    );
    client(&s).chat(&req).await.unwrap();
    let content = &s.chat_requests()[0]["messages"][0]["content"];
    assert_eq!(content[0], json!({"type": "text", "text": "what is in this picture?"}));
    assert_eq!(content[1], json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}));
}

#[tokio::test]
async fn too_many_or_too_long_stop_strings_are_trimmed_not_refused() {
    let s = Standin::start().await;
    let long = "x".repeat(40);
    let req = ChatRequest {
        stop: ["\n\n", "a", "b", "c", "d", "e", long.as_str()].iter().map(|s| s.to_string()).collect(),
        ..ask("hi")
    };
    client(&s).chat(&req).await.unwrap();
    let stop = s.chat_requests()[0]["stop"].clone();
    assert_eq!(stop, json!(["\n\n", "a", "b", "c", "d"]));
}

// ---------------------------------------------------------------------------------------------
// Cancellation, retries, keys, the other routes

/// A server that sends the whole answer, usage included, but no `[DONE]`, and keeps the
/// connection open: the answer ends at its finish, not after the idle timeout (10 s here).
#[tokio::test]
async fn a_finished_answer_ends_without_done_while_the_connection_stays_open() {
    let s = Standin::start().await;
    s.push(Reply::text("whole answer").usage(8, 2, 0).linger());
    let started = Instant::now();
    let stream = client(&s).chat_stream(&ask("hi")).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), stream.collect_response())
        .await
        .expect("the answer ended at its finish")
        .unwrap();
    assert_eq!(r.content, "whole answer");
    assert_eq!(r.usage.map(|u| u.prompt_tokens), Some(8));
    assert!(started.elapsed() < USAGE_GRACE, "waited {:?}", started.elapsed());
    // The connection was left open by the server; dropping the answer closed it.
    assert_eq!(s.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
}

/// The answer ends at the finishing chunk's usage, before `[DONE]` and the body's end, and hyper
/// hands a connection back to its pool only once the body was read to its end: the rest is read
/// off the caller's path, so the next request goes over the same connection instead of paying a
/// new TCP and TLS handshake before the model sees it.
#[tokio::test]
async fn consecutive_streamed_answers_share_one_connection() {
    let s = Standin::start().await;
    let c = client(&s);
    for _ in 0..3 {
        let started = Instant::now();
        let r = c.chat_stream(&ask("hi")).await.unwrap().collect_response().await.unwrap();
        assert_eq!(r.content, "ok");
        assert!(started.elapsed() < USAGE_GRACE, "waited {:?} for the body's end", started.elapsed());
        // A user's next request comes later than the few microseconds the rest takes to read.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.chat_requests().len(), 3);
    assert_eq!(s.connections(), 1, "{:?}", s.requests().iter().map(|r| r.peer).collect::<Vec<_>>());
}

/// Reads one HTTP request with a `content-length` body off `conn`.
async fn read_request(conn: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client hung up mid-request");
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        if got.len() >= end + 4 + length {
            return;
        }
    }
}

/// A server whose connections each read one request and then, by `answers`, either hang up
/// without a word (`false`) or send a streamed answer, "again" (`true`). Returns its base URL
/// and how many connections it accepted.
async fn hang_up_server(answers: Vec<bool>) -> (String, tokio::task::JoinHandle<usize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}/v1", listener.local_addr().unwrap().port());
    let accepted = tokio::spawn(async move {
        let mut accepted = 0;
        for answer in answers {
            let (mut conn, _) = listener.accept().await.unwrap();
            accepted += 1;
            read_request(&mut conn).await;
            if answer {
                let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL, "choices": [{
                    "index": 0, "delta": {"content": "again"}, "finish_reason": "stop",
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}]});
                let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
                // Held open, as a kept-alive connection is.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        accepted
    });
    (base, accepted)
}

/// A kept-alive connection that the server closes just as a request goes out (its idle timeout)
/// loses the request before the server saw it: it goes once more, on a new connection, for
/// completions too, which are otherwise never retried. A server that hangs up twice is down, and
/// is not asked again.
#[tokio::test]
async fn a_connection_closed_before_any_answer_is_tried_once_more_on_a_new_one() {
    let (base, accepted) = hang_up_server(vec![false, true]).await;
    let c = OpenAiCompatible::new(config(&base, None), OpenAiCompatible::shared_http_client());
    let r = c.chat_stream(&ask("hi")).await.unwrap().collect_response().await.unwrap();
    assert_eq!(r.content, "again");
    assert_eq!(accepted.await.unwrap(), 2);

    let (base, accepted) = hang_up_server(vec![false, false]).await;
    let c = OpenAiCompatible::new(config(&base, None), OpenAiCompatible::shared_http_client());
    let e = stream_err(&c, &ask("hi")).await;
    assert!(matches!(e, ProviderError::NotTakenUp { .. }), "{e:?}");
    assert_eq!(accepted.await.unwrap(), 2);

    // Nor does the router retry it as a dropped connection: a code action is sent twice in all.
    // (A third send would find no server and end as a connection error.)
    let (base, accepted) = hang_up_server(vec![false, false]).await;
    let mut layers = ConfigLayers::default();
    layers.set(Source::Editor, json!({"apiKey": "sk-routed", "baseUrl": base}));
    let (config, _) = layers.resolve();
    let e = Router::new(&config, None).chat(&config, Feature::Action, ask("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotTakenUp { .. }), "{e:?}");
    assert!(e.to_string().contains("did not take up the request, nor when it was sent once more"), "{e}");
    assert_eq!(accepted.await.unwrap(), 2);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let s = Standin::start().await;
    s.push(Reply::text("x").chunks(&["a", "b", "c", "d", "e", "f"]).chunk_delay(Duration::from_millis(200)));
    let mut stream = client(&s).chat_stream(&ask("hi")).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first, StreamEvent::Content("a".into()));
    drop(stream);
    assert_eq!(s.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    assert_eq!(s.completed_streams(), 0);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_then_succeeds() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::RateLimitRpm { seconds: 1 }));
    s.push(Reply::text("after the wait"));
    let started = Instant::now();
    let r = routed_chat(&s, ask("hi")).await.unwrap();
    assert_eq!(r.content, "after the wait");
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait");
    assert_eq!(s.chat_requests().len(), 2);
    // A wait longer than a user should sit through is reported at once.
    s.push(Reply::error(ApiError::RateLimitRpm { seconds: 30 }));
    s.push(Reply::text("must not be fetched"));
    let started = Instant::now();
    let e = routed_chat(&s, ask("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.chat_requests().len(), 3);
}

#[tokio::test]
async fn inline_completions_get_the_error_without_a_retry() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::Overloaded));
    s.push(Reply::text("must not be fetched"));
    let (router, config) = routed(&s);
    let e = router.chat(&config, Feature::Completion, ask("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Overloaded { .. }), "{e:?}");
    assert_eq!(s.chat_requests().len(), 1);
}

#[tokio::test]
async fn out_of_balance_is_not_retried() {
    let s = Standin::start().await;
    s.push(Reply::error(ApiError::InsufficientBalance));
    s.push(Reply::text("must not be fetched"));
    let e = routed_chat(&s, ask("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::InsufficientBalance { .. }), "{e:?}");
    assert_eq!(s.chat_requests().len(), 1);
}

#[tokio::test]
async fn the_key_is_sent_but_never_shown() {
    let s = Standin::start().await;
    let good = "sk-good-0123456789abcdefghij";
    s.require_key(good);
    let r = client_with_key(&s, good).chat(&ask("hi")).await.unwrap();
    assert_eq!(r.content, "ok");
    let sent = s.requests()[0].header("authorization").map(str::to_string);
    assert_eq!(sent, Some(format!("Bearer {good}")));
    let ua = s.requests()[0].header("user-agent").unwrap_or("").to_string();
    assert!(ua.starts_with("kimi-lsp/"), "{ua}");

    let bad = "sk-wrong-0123456789abcdefghij";
    let c = client_with_key(&s, bad);
    let mut errors = vec![
        chat_err(&c, &ask("hi")).await,
        stream_err(&c, &ask("hi")).await,
        c.models().await.unwrap_err(),
        c.balance().await.unwrap_err(),
        c.estimate_tokens(&ask("hi")).await.unwrap_err(),
    ];
    // A failure below HTTP too.
    let closed =
        OpenAiCompatible::new(config("http://127.0.0.1:1/v1", Some(bad)), OpenAiCompatible::shared_http_client());
    errors.push(closed.chat(&ask("hi")).await.unwrap_err());
    for e in &errors {
        let shown = format!("{e} | {e:?}");
        assert!(!shown.contains("0123456789abcdefghij"), "{shown}");
    }
    assert!(!format!("{c:?}").contains("0123456789"));
}

#[tokio::test]
async fn models_balance_and_token_count() {
    let s = Standin::start().await;
    s.set_models(&["kimi-k2-turbo-preview", "kimi-k2.5"]);
    let c = client(&s);
    let models = c.models().await.unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[1].id, "kimi-k2.5");
    assert_eq!(models[1].context_length, Some(262144));
    assert_eq!(models[1].supports_image_in, Some(true));

    s.set_balance(Some(49.58));
    let balance = c.balance().await.unwrap().expect("Moonshot has a balance");
    assert_eq!(balance.available, 49.58);
    s.set_balance(None);
    assert_eq!(c.balance().await.unwrap(), None);

    let req = ChatRequest {
        tools: vec![ToolSpec::function(
            "read_file",
            "Read a file",
            json!({"type":"object","properties":{"path":{"type":"string"}}}),
        )],
        ..ask("count these tokens please")
    };
    let n = c.estimate_tokens(&req).await.unwrap();
    let recorded = s.requests().into_iter().find(|r| r.path == "/v1/tokenizers/estimate-token-count").unwrap();
    assert_eq!(n, estimate_tokens(&recorded.body));
    assert!(n > 0);
    let body: &Value = &recorded.body;
    assert!(body.get("stream").is_none());
    assert_eq!(body["model"], json!(MODEL));
}

/// A feature's shrink for the router tests: keeps the last message, cut to what fits.
#[derive(Debug)]
struct KeepLast;

impl kimi_lsp::router::Shrink for KeepLast {
    fn shrink(&self, messages: &[Message], fit: &kimi_lsp::router::Fit) -> Option<Vec<Message>> {
        let last = messages.last()?;
        let text = match &last.content {
            kimi_lsp::providers::Content::Text(t) => t.chars().take(fit.chars).collect::<String>(),
            _ => return None,
        };
        Some(vec![Message::user(text)])
    }

    fn advice(&self) -> String {
        "Send less.".into()
    }
}

/// The overflow is retried exactly once, smaller; a second overflow is the end, in words that
/// name the model's limit and the feature's advice.
#[tokio::test]
async fn an_overflow_is_shrunk_and_retried_once_and_a_second_one_is_reported() {
    let s = Standin::start().await;
    let (router, config) = routed(&s);
    let overflow = ApiError::ContextOverflow { limit: 1000, requested: 3000 };
    s.push(Reply::error(overflow.clone()));
    s.push(Reply::error(ApiError::ContextOverflow { limit: 1000, requested: 1200 }));
    s.push(Reply::text("never asked for"));
    let req = ChatRequest { max_tokens: Some(200), ..ask(&"word ".repeat(2000)) };
    let hint = kimi_lsp::router::RouteHint::default();
    let e =
        router.stream_shrinking(&config, Feature::Chat, &hint, req, std::sync::Arc::new(KeepLast)).await.unwrap_err();
    assert!(matches!(e, ProviderError::TooLong { limit: 1000, requested: 1200, shrunk: true, .. }), "{e:?}");
    assert_says(
        &e,
        &["too long for `kimi-k2-turbo-preview`", "even after", "1200", "context limit is 1000", "Send less."],
    );
    let sent = s.chat_requests();
    assert_eq!(sent.len(), 2, "sent a third time");
    let chars = |r: &Value| r["messages"][0]["content"].as_str().unwrap().chars().count();
    assert!(chars(&sent[1]) < chars(&sent[0]) / 2, "{} then {}", chars(&sent[0]), chars(&sent[1]));
    assert_eq!(sent[1]["max_tokens"], 200, "the answer keeps its room");

    // Over by the answer's room only: max_tokens comes down, the prompt stays whole.
    let s = Standin::start().await;
    let (router, config) = routed(&s);
    s.push(Reply::error(ApiError::ContextOverflow { limit: 1000, requested: 1100 }));
    s.push(Reply::text("fits"));
    let req = ChatRequest { max_tokens: Some(300), ..ask("short") };
    let answer = router.stream_shrinking(&config, Feature::Chat, &hint, req, std::sync::Arc::new(KeepLast)).await;
    assert_eq!(answer.unwrap().collect().await.unwrap().content, "fits");
    let sent = s.chat_requests();
    assert_eq!(sent[1]["messages"], sent[0]["messages"]);
    // 800 prompt tokens of 1,000, less a 1 % margin and 16.
    assert_eq!(sent[1]["max_tokens"], 1000 - 800 - 26);
}
