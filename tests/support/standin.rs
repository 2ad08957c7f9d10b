//! A stand-in for the Moonshot (Kimi) API on 127.0.0.1, faithful to the live service as recorded
//! in `/work/shared/kimi-api.md`.
//!
//! Where the facts file gives a live message, the stand-in uses it verbatim. A few validation
//! messages were never captured from the live service (temperature out of range, too many stop
//! strings, `tool_choice: "required"` on a non-thinking model); those keep the live service's
//! `Invalid request: …` style and are marked below. Clients must key on status and `type`, never
//! on those texts.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The value of `system_fingerprint`, shaped like the live one (`fpv0_` and eight hex digits).
const FINGERPRINT: &str = "fpv0_5e3b9d21";
/// The account named inside rate-limit and balance messages, shaped like live ones.
const ORG: &str = "org-2f9c4d7a1e6b4c08";
const AK: &str = "ak-f1c8e3a92b7d5e40";
/// Requests larger than this are refused before parsing; no test needs more.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Fixed `created` of the model list, so that `/models` answers are stable across runs.
const MODELS_CREATED: u64 = 1_757_030_400;

// ---------------------------------------------------------------------------------------------
// Errors

/// The errors the live API answers with, each with its live status, `type` and message.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    ContextOverflow { limit: u32, requested: u32 },
    InvalidTemperature,
    ContentFilter,
    InvalidAuthentication,
    IncorrectApiKey,
    PermissionDenied,
    ModelNotFound { model: String },
    RateLimitRpm { seconds: u32 },
    Concurrency { seconds: u32 },
    Tpm { seconds: u32 },
    Tpd { seconds: u32 },
    Overloaded,
    InsufficientBalance,
    UnexpectedOutput,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::ContextOverflow { .. } | ApiError::InvalidTemperature | ApiError::ContentFilter => 400,
            ApiError::InvalidAuthentication | ApiError::IncorrectApiKey => 401,
            ApiError::PermissionDenied => 403,
            ApiError::ModelNotFound { .. } => 404,
            ApiError::RateLimitRpm { .. }
            | ApiError::Concurrency { .. }
            | ApiError::Tpm { .. }
            | ApiError::Tpd { .. }
            | ApiError::Overloaded
            | ApiError::InsufficientBalance => 429,
            ApiError::UnexpectedOutput => 500,
        }
    }

    /// The `error.type` of the body.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::ContextOverflow { .. } | ApiError::InvalidTemperature => "invalid_request_error",
            ApiError::ContentFilter => "content_filter",
            ApiError::InvalidAuthentication => "invalid_authentication_error",
            ApiError::IncorrectApiKey => "incorrect_api_key_error",
            ApiError::PermissionDenied => "permission_denied_error",
            ApiError::ModelNotFound { .. } => "resource_not_found_error",
            ApiError::RateLimitRpm { .. }
            | ApiError::Concurrency { .. }
            | ApiError::Tpm { .. }
            | ApiError::Tpd { .. } => "rate_limit_reached_error",
            ApiError::Overloaded => "engine_overloaded_error",
            ApiError::InsufficientBalance => "exceeded_current_quota_error",
            ApiError::UnexpectedOutput => "unexpected_output",
        }
    }

    /// The `error.message` of the body, as the live service words it.
    pub fn message(&self) -> String {
        match self {
            ApiError::ContextOverflow { limit, requested } => format!(
                "Invalid request: Your request exceeded model token limit: {limit} (requested: {requested})"
            ),
            ApiError::InvalidTemperature => {
                "invalid temperature: only 0.6 is allowed for this model".to_string()
            }
            ApiError::ContentFilter => {
                "The request was rejected because it was considered high risk".to_string()
            }
            ApiError::InvalidAuthentication => "Invalid Authentication".to_string(),
            ApiError::IncorrectApiKey => "Incorrect API key provided".to_string(),
            ApiError::PermissionDenied => "The API you are accessing is not open".to_string(),
            ApiError::ModelNotFound { model } => {
                format!("Not found the model {model} or Permission denied")
            }
            ApiError::RateLimitRpm { seconds } => format!(
                "Your account {ORG}<{AK}> request reached organization max RPM: 3, please try again after {seconds} seconds"
            ),
            ApiError::Concurrency { seconds } => format!(
                "Your account {ORG}<{AK}> request reached max organization concurrency: 1, please try again after {seconds} seconds"
            ),
            ApiError::Tpm { seconds } => format!(
                "Your account {ORG}<{AK}> request reached TPM rate limit, current:512000, limit:500000, please try again after {seconds} seconds"
            ),
            ApiError::Tpd { seconds } => format!(
                "Your account {ORG}<{AK}> request reached TPD rate limit,current:1500512, limit:1500000, please try again after {seconds} seconds"
            ),
            ApiError::Overloaded => {
                "The engine is currently overloaded, please try again later".to_string()
            }
            ApiError::InsufficientBalance => format!(
                "Your account {ORG} <{AK}> is suspended due to insufficient balance, please recharge your account or check your plan and billing details"
            ),
            ApiError::UnexpectedOutput => "invalid state transition".to_string(),
        }
    }

    /// The exact response body: `{"error":{"message":…,"type":…}}`, nothing else.
    pub fn body(&self) -> String {
        error_body(&self.message(), self.error_type())
    }

    fn failure(&self) -> Failure {
        Failure { status: self.status(), body: self.body() }
    }
}

fn error_body(message: &str, kind: &str) -> String {
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    #[derive(Serialize)]
    struct Outer<'a> {
        error: Inner<'a>,
    }
    serde_json::to_string(&Outer { error: Inner { message, kind } }).expect("an error body always serializes")
}

/// A refusal: the status and the exact body to send.
#[derive(Clone, Debug, PartialEq)]
struct Failure {
    status: u16,
    body: String,
}

fn invalid_request(message: String) -> Failure {
    Failure { status: 400, body: error_body(&message, "invalid_request_error") }
}

// ---------------------------------------------------------------------------------------------
// Scripted replies

/// One scripted answer to a chat request.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: ReplyKind,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    first_byte_delay: Duration,
    chunk_delay: Duration,
    drop_after: Option<usize>,
}

#[derive(Clone, Debug)]
enum ReplyKind {
    Message { reasoning: Vec<String>, content: Vec<String> },
    ToolCalls(Vec<(String, String)>),
    EchoLastUser,
    Error(ApiError),
    Raw { status: u16, body: String },
}

impl Reply {
    fn new(kind: ReplyKind) -> Reply {
        Reply {
            kind,
            usage: None,
            finish_reason: None,
            first_byte_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            drop_after: None,
        }
    }

    /// Answers with `s`, streamed in a few word-aligned chunks.
    pub fn text(s: &str) -> Reply {
        Reply::new(ReplyKind::Message { reasoning: Vec::new(), content: split_words(s) })
    }

    /// Replaces the content with exactly these chunks (one streamed delta each).
    pub fn chunks(mut self, parts: &[&str]) -> Reply {
        let reasoning = match self.kind {
            ReplyKind::Message { reasoning, .. } => reasoning,
            _ => Vec::new(),
        };
        self.kind = ReplyKind::Message { reasoning, content: parts.iter().map(|p| p.to_string()).collect() };
        self
    }

    /// Streams `delta.reasoning_content` first, then `delta.content`, as thinking models do.
    pub fn reasoning_then_text(reasoning: &str, text: &str) -> Reply {
        Reply::new(ReplyKind::Message { reasoning: split_words(reasoning), content: split_words(text) })
    }

    /// One tool call; its arguments are streamed in fragments.
    pub fn tool_call(name: &str, arguments_json: &str) -> Reply {
        Reply::tool_calls(&[(name, arguments_json)])
    }

    pub fn tool_calls(calls: &[(&str, &str)]) -> Reply {
        Reply::new(ReplyKind::ToolCalls(calls.iter().map(|(n, a)| (n.to_string(), a.to_string())).collect()))
    }

    /// Overrides the usage (default: the prompt estimate and a quarter of the output's chars).
    pub fn usage(mut self, prompt: u32, completion: u32, cached: u32) -> Reply {
        self.usage = Some(Usage::new(prompt, completion, cached));
        self
    }

    pub fn finish_reason(mut self, r: &str) -> Reply {
        self.finish_reason = Some(r.to_string());
        self
    }

    /// Waits this long before the response headers are sent.
    pub fn first_byte_delay(mut self, d: Duration) -> Reply {
        self.first_byte_delay = d;
        self
    }

    /// Waits this long between streamed events (and before a scripted cut).
    pub fn chunk_delay(mut self, d: Duration) -> Reply {
        self.chunk_delay = d;
        self
    }

    /// Sends the role chunk and then `n_chunks` content (or reasoning, or tool-call) chunks, then
    /// cuts the connection: no finishing chunk, no `[DONE]`. A non-streamed reply sends its
    /// headers and half of its body, then cuts.
    pub fn drop_after(mut self, n_chunks: usize) -> Reply {
        self.drop_after = Some(n_chunks);
        self
    }

    pub fn error(e: ApiError) -> Reply {
        Reply::new(ReplyKind::Error(e))
    }

    /// Answers with this status and body (content-type application/json), whatever was asked.
    pub fn raw(status: u16, body: &str) -> Reply {
        Reply::new(ReplyKind::Raw { status, body: body.to_string() })
    }

    /// Answers with the text of the last user message.
    pub fn echo_last_user() -> Reply {
        Reply::new(ReplyKind::EchoLastUser)
    }
}

/// Splits text into at most three word-aligned pieces, so that clients see a real stream.
fn split_words(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let words: Vec<&str> = s.split_inclusive(char::is_whitespace).collect();
    let per = words.len().div_ceil(words.len().min(3));
    words.chunks(per).map(|w| w.concat()).collect()
}

/// Splits tool-call arguments into at most three pieces at char boundaries, as the live service
/// streams them mid-token.
fn split_fragments(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let per = chars.len().div_ceil(3);
    chars.chunks(per).map(|c| c.iter().collect()).collect()
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (structs rather than `json!`, so that field order matches the live service)

#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    cached_tokens: u32,
}

impl Usage {
    fn new(prompt: u32, completion: u32, cached: u32) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_tokens: cached,
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice; 1],
    usage: Usage,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct CompletionChoice {
    index: u32,
    message: OutMessage,
    finish_reason: String,
}

#[derive(Serialize)]
struct OutMessage {
    role: &'static str,
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall>,
}

#[derive(Serialize)]
struct OutToolCall {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: OutFunction,
}

#[derive(Serialize)]
struct OutFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    arguments: String,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChunkChoice; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<&'static str>,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize, Default)]
struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<OutToolCall>>,
}

// ---------------------------------------------------------------------------------------------
// Requests: estimate, validation

/// The stand-in's deterministic token estimate: a quarter (rounded up) of the characters of every
/// message's text, reasoning and tool calls, plus the serialized `tools`. The usage it reports and
/// `/tokenizers/estimate-token-count` both use it, so tests can predict both.
pub fn estimate_tokens(body: &Value) -> u32 {
    let mut chars = 0usize;
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            chars += content_text(m.get("content")).chars().count();
            if let Some(r) = m.get("reasoning_content").and_then(Value::as_str) {
                chars += r.chars().count();
            }
            if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                for c in calls {
                    let f = &c["function"];
                    chars += f["name"].as_str().unwrap_or("").chars().count();
                    chars += f["arguments"].as_str().unwrap_or("").chars().count();
                }
            }
        }
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        chars += tools.to_string().chars().count();
    }
    quarter(chars)
}

fn quarter(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// The text of a message's `content`: a string, or the `text` parts of a list.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    }
}

#[derive(Clone, Debug, PartialEq)]
struct ModelInfo {
    id: String,
    context_length: u32,
    supports_image_in: bool,
    supports_reasoning: bool,
}

impl ModelInfo {
    /// The capabilities the live service reports for the ids it knows; others get the K2 defaults.
    fn known(id: &str) -> ModelInfo {
        let context_length = match id {
            "kimi-k2-0711-preview" => 131_072,
            "kimi-k3" => 1_048_576,
            _ => 262_144,
        };
        ModelInfo {
            id: id.to_string(),
            context_length,
            supports_image_in: id.starts_with("kimi-k2.5") || id.starts_with("kimi-k2.6"),
            supports_reasoning: id.contains("thinking") || id.starts_with("kimi-k2.5") || id.starts_with("kimi-k2.6"),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "model",
            "created": MODELS_CREATED,
            "owned_by": "moonshot",
            "context_length": self.context_length,
            "supports_image_in": self.supports_image_in,
            "supports_reasoning": self.supports_reasoning,
        })
    }
}

fn default_models() -> Vec<ModelInfo> {
    ["kimi-k2-0905-preview", "kimi-k2-turbo-preview", "kimi-k2-thinking", "kimi-k2.5"]
        .iter()
        .map(|id| ModelInfo::known(id))
        .collect()
}

/// What the stand-in needs from a chat request once it has passed validation.
#[derive(Clone, Debug, PartialEq)]
struct ChatRequest {
    model: String,
    stream: bool,
    prompt_tokens: u32,
    /// Tool calls already in the conversation: the live model numbers its call ids on from there.
    earlier_tool_calls: usize,
    last_user: String,
}

/// Thinking is on for the thinking models, and for K2.5 unless the request switches it off.
fn thinking_enabled(model: &str, body: &Value) -> bool {
    if model.contains("thinking") {
        return true;
    }
    model == "kimi-k2.5" && body["thinking"]["type"].as_str() != Some("disabled")
}

/// Validates a chat request the way the live service does, in the order it reports problems.
fn check_chat(body: &Value, models: &[ModelInfo]) -> Result<ChatRequest, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(invalid_request("Invalid request: the request body must be a JSON object".to_string()));
    };
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return Err(invalid_request("Invalid request: model is required".to_string()));
    };
    let Some(info) = models.iter().find(|m| m.id == model) else {
        return Err(ApiError::ModelNotFound { model: model.to_string() }.failure());
    };
    let messages = match obj.get("messages").and_then(Value::as_array) {
        Some(m) if !m.is_empty() => m,
        // Captured from the live service.
        _ => return Err(invalid_request("Invalid request: messages must not be empty".to_string())),
    };
    for (i, m) in messages.iter().enumerate() {
        if m["role"].as_str() != Some("assistant") {
            continue;
        }
        let has_tool_calls = m["tool_calls"].as_array().is_some_and(|c| !c.is_empty());
        let empty = match m.get("content") {
            None | Some(Value::Null) => !has_tool_calls,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(parts)) => parts.is_empty(),
            Some(_) => false,
        };
        if empty {
            // Captured from the live service (zero-based position).
            return Err(invalid_request(format!(
                "Invalid request: the message at position {i} with role 'assistant' must not be empty"
            )));
        }
    }
    if let Some(t) = obj.get("temperature").filter(|t| !t.is_null()) {
        let Some(t) = t.as_f64() else {
            return Err(invalid_request("Invalid request: temperature must be a number".to_string()));
        };
        // Wording not captured live: only the range [0, 1] is documented.
        if !(0.0..=1.0).contains(&t) {
            return Err(invalid_request(format!(
                "Invalid request: temperature {t} is out of range, it must be between 0 and 1"
            )));
        }
        if model == "kimi-k2.5" {
            let (allowed, shown) = if thinking_enabled(model, body) { (1.0, "1") } else { (0.6, "0.6") };
            if (t - allowed).abs() > 1e-9 {
                // Captured from the live service.
                return Err(invalid_request(format!("invalid temperature: only {shown} is allowed for this model")));
            }
        }
    }
    if let Some(stop) = obj.get("stop") {
        let stops: Vec<&str> = match stop {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // Wording not captured live: the limits (5 strings, 32 bytes each) are documented.
        if let Value::Array(a) = stop {
            if a.len() > 5 {
                return Err(invalid_request(format!(
                    "Invalid request: stop has {} strings, at most 5 are allowed",
                    a.len()
                )));
            }
        }
        if let Some(long) = stops.iter().find(|s| s.len() > 32) {
            return Err(invalid_request(format!(
                "Invalid request: stop string {long:?} is {} bytes long, at most 32 bytes are allowed",
                long.len()
            )));
        }
    }
    if obj.get("tool_choice").and_then(Value::as_str) == Some("required") {
        let message = if thinking_enabled(model, body) {
            // Captured from the live service.
            "tool_choice 'required' is incompatible with thinking enabled".to_string()
        } else {
            // Wording not captured live; the rejection itself is documented.
            "Invalid request: tool_choice 'required' is not supported".to_string()
        };
        return Err(invalid_request(message));
    }
    let prompt_tokens = estimate_tokens(body);
    let max_tokens =
        obj.get("max_tokens").or_else(|| obj.get("max_completion_tokens")).and_then(Value::as_u64).unwrap_or(0);
    let requested = u64::from(prompt_tokens) + max_tokens;
    if requested > u64::from(info.context_length) {
        return Err(ApiError::ContextOverflow {
            limit: info.context_length,
            requested: u32::try_from(requested).unwrap_or(u32::MAX),
        }
        .failure());
    }
    let earlier_tool_calls = messages.iter().filter_map(|m| m["tool_calls"].as_array()).map(Vec::len).sum();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"].as_str() == Some("user"))
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default();
    Ok(ChatRequest {
        model: model.to_string(),
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        prompt_tokens,
        earlier_tool_calls,
        last_user,
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering a reply

/// A reply turned into bytes: the status, content type, the pieces to write (one per streamed
/// event) and whether to cut the connection after the last piece.
#[derive(Debug, PartialEq)]
struct Rendered {
    status: u16,
    content_type: &'static str,
    pieces: Vec<String>,
    cut: bool,
}

const JSON_TYPE: &str = "application/json; charset=utf-8";
const SSE_TYPE: &str = "text/event-stream";

fn render(reply: &Reply, req: &ChatRequest, id: &str, created: u64) -> Rendered {
    let kind = match &reply.kind {
        ReplyKind::EchoLastUser => ReplyKind::Message { reasoning: Vec::new(), content: split_words(&req.last_user) },
        other => other.clone(),
    };
    let (reasoning, content, calls) = match kind {
        ReplyKind::Error(e) => return json_rendered(e.status(), e.body(), reply.drop_after),
        ReplyKind::Raw { status, body } => return json_rendered(status, body, reply.drop_after),
        ReplyKind::Message { reasoning, content } => (reasoning, content, Vec::new()),
        ReplyKind::ToolCalls(calls) => (Vec::new(), Vec::new(), calls),
        ReplyKind::EchoLastUser => unreachable!("resolved above"),
    };
    let output_chars: usize = reasoning.iter().chain(content.iter()).map(|s| s.chars().count()).sum::<usize>()
        + calls.iter().map(|(n, a)| n.chars().count() + a.chars().count()).sum::<usize>();
    let usage = reply.usage.unwrap_or_else(|| Usage::new(req.prompt_tokens, quarter(output_chars), 0));
    let finish_reason = reply.finish_reason.clone().unwrap_or_else(|| {
        if calls.is_empty() {
            "stop".to_string()
        } else {
            "tool_calls".to_string()
        }
    });
    let call_id = |i: usize, name: &str| format!("functions.{name}:{}", req.earlier_tool_calls + i);
    let model = req.model.as_str();

    if !req.stream {
        let message = OutMessage {
            role: "assistant",
            content: content.concat(),
            reasoning_content: (!reasoning.is_empty()).then(|| reasoning.concat()),
            tool_calls: calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| OutToolCall {
                    index: i,
                    id: Some(call_id(i, name)),
                    kind: Some("function"),
                    function: OutFunction { name: Some(name.clone()), arguments: args.clone() },
                })
                .collect(),
        };
        let body = Completion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: [CompletionChoice { index: 0, message, finish_reason }],
            usage,
            system_fingerprint: FINGERPRINT,
        };
        let body = serde_json::to_string(&body).expect("a completion always serializes");
        return json_rendered(200, body, reply.drop_after);
    }

    let event = |delta: Delta, finish: Option<String>, usage: Option<Usage>| {
        let fingerprint = finish.as_ref().map(|_| FINGERPRINT);
        let chunk = Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: [ChunkChoice { index: 0, delta, finish_reason: finish, usage }],
            system_fingerprint: fingerprint,
        };
        format!("data: {}\n\n", serde_json::to_string(&chunk).expect("a chunk always serializes"))
    };
    let mut body_events = Vec::new();
    for r in reasoning {
        body_events.push(event(Delta { reasoning_content: Some(r), ..Delta::default() }, None, None));
    }
    for c in content {
        body_events.push(event(Delta { content: Some(c), ..Delta::default() }, None, None));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        body_events.push(event(
            Delta {
                tool_calls: Some(vec![OutToolCall {
                    index: i,
                    id: Some(call_id(i, name)),
                    kind: Some("function"),
                    function: OutFunction { name: Some(name.clone()), arguments: String::new() },
                }]),
                ..Delta::default()
            },
            None,
            None,
        ));
        for fragment in split_fragments(args) {
            body_events.push(event(
                Delta {
                    tool_calls: Some(vec![OutToolCall {
                        index: i,
                        id: None,
                        kind: None,
                        function: OutFunction { name: None, arguments: fragment },
                    }]),
                    ..Delta::default()
                },
                None,
                None,
            ));
        }
    }
    let role = event(Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() }, None, None);
    let mut pieces = vec![role];
    let cut = match reply.drop_after {
        Some(n) => {
            pieces.extend(body_events.into_iter().take(n));
            true
        }
        None => {
            pieces.extend(body_events);
            pieces.push(event(Delta::default(), Some(finish_reason), Some(usage)));
            pieces.push("data: [DONE]\n\n".to_string());
            false
        }
    };
    Rendered { status: 200, content_type: SSE_TYPE, pieces, cut }
}

/// A JSON answer; with `drop_after` the connection is cut halfway through the body.
fn json_rendered(status: u16, body: String, drop_after: Option<usize>) -> Rendered {
    match drop_after {
        None => Rendered { status, content_type: JSON_TYPE, pieces: vec![body], cut: false },
        Some(_) => {
            let mut half = body.len() / 2;
            while !body.is_char_boundary(half) {
                half -= 1;
            }
            Rendered { status, content_type: JSON_TYPE, pieces: vec![body[..half].to_string()], cut: true }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// One request as it arrived.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    /// The path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    pub query: Option<String>,
    /// Header names are lowercase; repeated headers appear once per value.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Null` when empty; a JSON string holding the raw text when the body
    /// is not JSON.
    pub body: Value,
    /// The status the stand-in answered with (`None` while the answer is being prepared).
    pub status: Option<u16>,
    /// When the whole request (headers and body) had been read, before anything was parsed.
    #[serde(skip)]
    pub received_at: Instant,
    /// When the stand-in handed the last byte of a chat reply to the connection; `None` for
    /// other routes, and for replies cut on purpose or abandoned by their client.
    #[serde(skip)]
    pub reply_finished_at: Option<Instant>,
}

impl Recorded {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

struct Inner {
    queue: VecDeque<Reply>,
    default: Reply,
    key: Option<String>,
    models: Vec<ModelInfo>,
    balance: Option<f64>,
    requests: Vec<Recorded>,
    log: Option<File>,
}

struct Shared {
    state: Mutex<Inner>,
    dropped: AtomicUsize,
    completed: AtomicUsize,
    counter: AtomicU64,
    seed: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock must not hide the state from the next one.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh 64-bit value: ids must differ between requests and runs, nothing more.
    fn next_random(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut z = self.seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Counts a chat reply as completed or dropped when it goes away: axum drops the response future
/// or body when the client closes the connection, which is how cancellation becomes visible.
struct ReplyGuard {
    shared: Arc<Shared>,
    outcome: Outcome,
    /// The reply's request in `Inner::requests`.
    request: usize,
}

impl ReplyGuard {
    fn completed(&mut self) {
        self.outcome = Outcome::Completed;
        let now = Instant::now();
        if let Some(r) = self.shared.lock().requests.get_mut(self.request) {
            r.reply_finished_at = Some(now);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Pending,
    Completed,
    CutOnPurpose,
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        match self.outcome {
            Outcome::Pending => {
                self.shared.dropped.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Completed => {
                self.shared.completed.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::CutOnPurpose => {}
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// The running stand-in. Clones share it; it stops accepting connections when the last clone is
/// dropped or [`Standin::stop`] is called.
#[derive(Clone)]
pub struct Standin {
    handle: Arc<Handle>,
}

impl Standin {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start() -> Standin {
        Standin::start_on(0).await.expect("the stand-in could not bind 127.0.0.1")
    }

    /// Binds 127.0.0.1:`port` (0 for a free one).
    pub async fn start_on(port: u16) -> io::Result<Standin> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ u64::from(addr.port());
        let shared = Arc::new(Shared {
            state: Mutex::new(Inner {
                queue: VecDeque::new(),
                default: Reply::text("ok"),
                key: None,
                models: default_models(),
                balance: Some(49.58),
                requests: Vec::new(),
                log: None,
            }),
            dropped: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
            seed,
        });
        let (tx, rx) = oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Standin { handle: Arc::new(Handle { shared, addr, stop: Mutex::new(Some(tx)) }) })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.handle.addr)
    }

    pub fn port(&self) -> u16 {
        self.handle.addr.port()
    }

    /// Stops accepting connections; replies already being written finish.
    pub fn stop(&self) {
        if let Some(tx) = self.handle.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    /// Queues a reply; chat requests that pass validation take replies in order.
    pub fn push(&self, reply: Reply) {
        self.shared().lock().queue.push_back(reply);
    }

    /// The reply used when the queue is empty (initially `Reply::text("ok")`).
    pub fn set_default(&self, reply: Reply) {
        self.shared().lock().default = reply;
    }

    /// From now on every route answers 401 `Invalid Authentication` unless the request carries
    /// `Authorization: Bearer <key>`.
    pub fn require_key(&self, key: &str) {
        self.shared().lock().key = Some(key.to_string());
    }

    /// Replaces the model list; known ids get their live context lengths and capabilities,
    /// others 262,144 tokens and no capabilities.
    pub fn set_models(&self, ids: &[&str]) {
        self.shared().lock().models = ids.iter().map(|id| ModelInfo::known(id)).collect();
    }

    /// Changes one model's context length (adding the model if it is not listed), so that tests
    /// can provoke the context-overflow 400 with small prompts.
    pub fn set_context_length(&self, model: &str, context_length: u32) {
        let mut st = self.shared().lock();
        match st.models.iter_mut().find(|m| m.id == model) {
            Some(m) => m.context_length = context_length,
            None => {
                let mut m = ModelInfo::known(model);
                m.context_length = context_length;
                st.models.push(m);
            }
        }
    }

    /// `None` makes `/users/me/balance` answer like an unknown route, as some hosts do.
    pub fn set_balance(&self, available: Option<f64>) {
        self.shared().lock().balance = available;
    }

    /// Also writes every request as a JSON line to `path` (the Authorization header redacted).
    pub fn log_requests_to(&self, path: &Path) -> io::Result<()> {
        let file = File::create(path)?;
        self.shared().lock().log = Some(file);
        Ok(())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared().lock().requests.clone()
    }

    /// Bodies of `POST /v1/chat/completions`, in arrival order (refused ones included).
    pub fn chat_requests(&self) -> Vec<Value> {
        self.shared()
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/chat/completions")
            .map(|r| r.body.clone())
            .collect()
    }

    /// Chat replies whose client went away before the stand-in finished writing them.
    pub fn dropped_streams(&self) -> usize {
        self.shared().dropped.load(Ordering::SeqCst)
    }

    /// Chat replies written to the end (scripted cuts count as neither).
    pub fn completed_streams(&self) -> usize {
        self.shared().completed.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` chat requests arrived and returns them all; panics with the
    /// requests seen so far on timeout.
    pub async fn wait_for_chat_requests(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.chat_requests();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {n} chat requests; got {}:\n{}",
                    got.len(),
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until at least `n` replies were dropped by their client; panics on timeout.
    pub async fn wait_for_dropped_streams(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.dropped_streams();
            if got >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {n} dropped streams; got {got} dropped, {} completed; requests:\n{}",
                    self.completed_streams(),
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn dump(&self) -> String {
        self.requests()
            .iter()
            .map(|r| format!("  {} {} -> {:?} {}", r.method, r.path, r.status, r.body))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Every request comes here: recorded first, then authorized, then routed.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    // Taken before parsing, so that timings of the client under test do not include ours.
    let received_at = Instant::now();
    let body_value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body_value.clone(),
        status: None,
        received_at,
        reply_finished_at: None,
    };
    let index = {
        let mut st = shared.lock();
        st.requests.push(recorded);
        st.requests.len() - 1
    };

    let authorized = {
        let st = shared.lock();
        match &st.key {
            None => true,
            Some(key) => {
                let expected = format!("Bearer {key}");
                parts.headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) == Some(expected.as_bytes())
            }
        }
    };
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let path = parts.uri.path();

    let mut response = if !authorized {
        let f = ApiError::InvalidAuthentication.failure();
        json_response(f.status, f.body)
    } else {
        match (&parts.method, path) {
            (&Method::POST, "/v1/chat/completions") => chat(&shared, &body_value, index).await,
            (&Method::GET, "/v1/models") => {
                let models: Vec<Value> = shared.lock().models.iter().map(ModelInfo::to_json).collect();
                json_response(200, json!({"object": "list", "data": models}).to_string())
            }
            (&Method::POST, "/v1/tokenizers/estimate-token-count") => {
                if body_value.is_object() {
                    let n = estimate_tokens(&body_value);
                    json_response(200, json!({"data": {"total_tokens": n}}).to_string())
                } else {
                    let f = invalid_request("Invalid request: the request body must be a JSON object".to_string());
                    json_response(f.status, f.body)
                }
            }
            (&Method::GET, "/v1/users/me/balance") => match shared.lock().balance {
                Some(available) => json_response(
                    200,
                    json!({
                        "code": 0,
                        "data": {
                            "available_balance": available,
                            "voucher_balance": 0.0,
                            "cash_balance": available,
                        },
                        "scode": "0x0",
                        "status": true,
                    })
                    .to_string(),
                ),
                None => not_found_route(&parts.method, path, &user_agent),
            },
            _ => not_found_route(&parts.method, path, &user_agent),
        }
    };

    let request_id = format!("{:016x}{:016x}", shared.next_random(), shared.next_random());
    let trace_id = format!("{:016x}{:016x}", shared.next_random(), shared.next_random());
    let headers = response.headers_mut();
    headers.insert("msh-request-id", HeaderValue::from_str(&request_id).expect("hex is a valid header value"));
    headers.insert("x-msh-trace-id", HeaderValue::from_str(&trace_id).expect("hex is a valid header value"));

    let status = response.status().as_u16();
    let mut st = shared.lock();
    st.requests[index].status = Some(status);
    if st.log.is_some() {
        let mut line = serde_json::to_value(&st.requests[index]).unwrap_or(Value::Null);
        if let Some(headers) = line.get_mut("headers").and_then(Value::as_array_mut) {
            for h in headers.iter_mut() {
                if h[0].as_str() == Some("authorization") {
                    h[1] = Value::String("<redacted>".to_string());
                }
            }
        }
        line["authorized"] = Value::Bool(authorized);
        if let Some(log) = st.log.as_mut() {
            let _ = writeln!(log, "{line}");
            let _ = log.flush();
        }
    }
    drop(st);
    response
}

async fn chat(shared: &Arc<Shared>, body: &Value, index: usize) -> Response {
    let (req, reply) = {
        let mut st = shared.lock();
        match check_chat(body, &st.models) {
            Err(f) => return json_response(f.status, f.body),
            Ok(req) => {
                let reply = st.queue.pop_front().unwrap_or_else(|| st.default.clone());
                (req, reply)
            }
        }
    };
    let guard = ReplyGuard { shared: shared.clone(), outcome: Outcome::Pending, request: index };
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let id = format!("chatcmpl-{:08x}{:016x}", created as u32, shared.next_random());
    let rendered = render(&reply, &req, &id, created);
    let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = guarded_body(rendered.pieces, rendered.cut, reply.chunk_delay, guard);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
    if rendered.content_type == SSE_TYPE {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// The body of a chat reply: writes the pieces with `delay` between them, then ends or cuts, and
/// tells the guard which of the two happened. If the client leaves first, axum drops the body
/// and the guard counts a dropped stream.
fn guarded_body(pieces: Vec<String>, cut: bool, delay: Duration, guard: ReplyGuard) -> Body {
    struct Writing {
        pieces: VecDeque<String>,
        cut: bool,
        delay: Duration,
        sent: usize,
        guard: ReplyGuard,
    }
    let start = Writing { pieces: pieces.into(), cut, delay, sent: 0, guard };
    let stream = futures::stream::unfold(Some(start), |state| async move {
        let mut w = state?;
        let next = w.pieces.pop_front();
        if (next.is_some() || w.cut) && w.sent > 0 && !w.delay.is_zero() {
            tokio::time::sleep(w.delay).await;
        }
        match next {
            Some(piece) => {
                w.sent += 1;
                Some((Ok::<Bytes, io::Error>(Bytes::from(piece)), Some(w)))
            }
            None if w.cut => {
                // Hyper writes out what it buffered only once the body stalls; without a pause
                // the cut could swallow the pieces (even the headers) meant to arrive before it.
                if w.delay.is_zero() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                w.guard.outcome = Outcome::CutOnPurpose;
                Some((Err(io::Error::other("the stand-in cuts this reply as scripted")), None))
            }
            None => {
                w.guard.completed();
                None
            }
        }
    });
    Body::from_stream(stream)
}

fn json_response(status: u16, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    response
}

/// The live service's answer to an unknown route: not the OpenAI error shape.
fn not_found_route(method: &Method, path: &str, user_agent: &str) -> Response {
    json_response(404, unknown_route_body(method.as_str(), path, user_agent))
}

fn unknown_route_body(method: &str, path: &str, user_agent: &str) -> String {
    json!({
        "code": 5,
        "error": "url.not_found",
        "message": "没找到对象",
        "method": method,
        "scode": "0x5",
        "status": false,
        "ua": user_agent,
        "url": path,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: Value) -> Result<ChatRequest, Failure> {
        check_chat(&body, &default_models())
    }

    fn message(f: Failure) -> (u16, String) {
        let v: Value = serde_json::from_str(&f.body).unwrap();
        (f.status, v["error"]["message"].as_str().unwrap().to_string())
    }

    #[test]
    fn text_is_split_on_words_into_at_most_three_chunks() {
        assert_eq!(split_words("fn main() {}"), ["fn ", "main() ", "{}"]);
        assert_eq!(split_words("a b c d e"), ["a b ", "c d ", "e"]);
        assert_eq!(split_words("ok"), ["ok"]);
        assert!(split_words("").is_empty());
        assert_eq!(split_words("a b c d e").concat(), "a b c d e");
    }

    #[test]
    fn arguments_are_split_mid_token_at_char_boundaries() {
        let parts = split_fragments(r#"{"path":"é.rs"}"#);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), r#"{"path":"é.rs"}"#);
    }

    #[test]
    fn estimate_counts_quarter_of_text_rounded_up() {
        let body = json!({"messages": [
            {"role": "system", "content": "abcd"},
            {"role": "user", "content": [{"type": "text", "text": "e"}]}
        ]});
        assert_eq!(estimate_tokens(&body), 2);
        assert_eq!(estimate_tokens(&json!({})), 0);
    }

    #[test]
    fn unknown_model_is_404_with_that_model_named() {
        let f = req(json!({"model": "kimi-latest", "messages": [{"role": "user", "content": "x"}]})).unwrap_err();
        assert_eq!(
            f,
            Failure {
                status: 404,
                body: r#"{"error":{"message":"Not found the model kimi-latest or Permission denied","type":"resource_not_found_error"}}"#.to_string()
            }
        );
    }

    #[test]
    fn validation_matches_the_live_limits() {
        let base = |extra: Value| {
            let mut b = json!({"model": "kimi-k2-0905-preview", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            req(b)
        };
        assert!(base(json!({"temperature": 1.0})).is_ok());
        assert_eq!(base(json!({"temperature": 1.5})).unwrap_err().status, 400);
        assert!(base(json!({"stop": ["a", "b", "c", "d", "e"]})).is_ok());
        assert_eq!(base(json!({"stop": ["a", "b", "c", "d", "e", "f"]})).unwrap_err().status, 400);
        assert!(base(json!({"stop": "x".repeat(32)})).is_ok());
        assert_eq!(base(json!({"stop": ["x".repeat(33)]})).unwrap_err().status, 400);
        assert!(base(json!({"tool_choice": "auto"})).is_ok());
        assert_eq!(base(json!({"tool_choice": "required"})).unwrap_err().status, 400);
        assert_eq!(
            message(base(json!({"messages": []})).unwrap_err()),
            (400, "Invalid request: messages must not be empty".to_string())
        );
    }

    #[test]
    fn empty_assistant_text_is_refused_but_tool_call_only_messages_pass() {
        let with = |assistant: Value| {
            req(json!({"model": "kimi-k2-0905-preview", "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                assistant,
                {"role": "user", "content": "again"}
            ]}))
        };
        assert_eq!(
            message(with(json!({"role": "assistant", "content": ""})).unwrap_err()),
            (400, "Invalid request: the message at position 2 with role 'assistant' must not be empty".to_string())
        );
        let calls = json!([{"id": "functions.f:0", "type": "function", "function": {"name": "f", "arguments": "{}"}}]);
        assert!(with(json!({"role": "assistant", "tool_calls": calls})).is_ok());
        assert!(with(json!({"role": "assistant", "content": null, "tool_calls": calls})).is_ok());
        assert!(with(json!({"role": "assistant", "content": "", "tool_calls": calls})).is_err());
    }

    #[test]
    fn k2_5_temperature_is_fixed_by_the_thinking_switch() {
        let ask = |extra: Value| {
            let mut b = json!({"model": "kimi-k2.5", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            req(b)
        };
        assert!(ask(json!({"temperature": 1})).is_ok());
        assert_eq!(
            message(ask(json!({"temperature": 0.6})).unwrap_err()),
            (400, "invalid temperature: only 1 is allowed for this model".to_string())
        );
        assert!(ask(json!({"temperature": 0.6, "thinking": {"type": "disabled"}})).is_ok());
        assert_eq!(
            message(ask(json!({"temperature": 0.3, "thinking": {"type": "disabled"}})).unwrap_err()),
            (400, "invalid temperature: only 0.6 is allowed for this model".to_string())
        );
        assert_eq!(
            message(ask(json!({"tool_choice": "required"})).unwrap_err()),
            (400, "tool_choice 'required' is incompatible with thinking enabled".to_string())
        );
    }

    #[test]
    fn prompt_plus_max_tokens_over_the_context_is_the_overflow_400() {
        let mut models = default_models();
        models[0].context_length = 10;
        let body = json!({"model": "kimi-k2-0905-preview", "max_tokens": 8,
            "messages": [{"role": "user", "content": "0123456789"}]});
        let f = check_chat(&body, &models).unwrap_err();
        assert_eq!(
            message(f),
            (400, "Invalid request: Your request exceeded model token limit: 10 (requested: 11)".to_string())
        );
        let body = json!({"model": "kimi-k2-0905-preview", "max_tokens": 7,
            "messages": [{"role": "user", "content": "0123456789"}]});
        assert!(check_chat(&body, &models).is_ok());
    }

    fn chat_req(stream: bool) -> ChatRequest {
        ChatRequest {
            model: "kimi-k2-turbo-preview".to_string(),
            stream,
            prompt_tokens: 8,
            earlier_tool_calls: 0,
            last_user: "hello there".to_string(),
        }
    }

    #[test]
    fn streamed_reply_has_role_chunk_content_usage_inside_choice_and_done() {
        let r = render(&Reply::text("").chunks(&["fn ", "main"]).usage(8, 11, 8), &chat_req(true), "chatcmpl-x", 7);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "text/event-stream");
        assert!(!r.cut);
        expect_test::expect![[r#"
            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"content":"fn "},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"content":"main"},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":8,"completion_tokens":11,"total_tokens":19,"cached_tokens":8}}],"system_fingerprint":"fpv0_5e3b9d21"}

            data: [DONE]

        "#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn streamed_tool_calls_carry_id_once_then_argument_fragments_by_index() {
        let mut req = chat_req(true);
        req.earlier_tool_calls = 2;
        let r = render(&Reply::tool_call("read_file", r#"{"path":"a.rs"}"#), &req, "chatcmpl-x", 7);
        expect_test::expect![[r#"
            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"functions.read_file:2","type":"function","function":{"name":"read_file","arguments":""}}]},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pat"}}]},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"h\":\"a"}}]},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":".rs\"}"}}]},"finish_reason":null}]}

            data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls","usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14,"cached_tokens":0}}],"system_fingerprint":"fpv0_5e3b9d21"}

            data: [DONE]

        "#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn plain_reply_has_top_level_usage_and_reasoning_content() {
        let r = render(&Reply::reasoning_then_text("think", "answer"), &chat_req(false), "chatcmpl-x", 7);
        expect_test::expect![[r#"{"id":"chatcmpl-x","object":"chat.completion","created":7,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"message":{"role":"assistant","content":"answer","reasoning_content":"think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":3,"total_tokens":11,"cached_tokens":0},"system_fingerprint":"fpv0_5e3b9d21"}"#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn drop_after_sends_role_and_n_chunks_then_cuts() {
        let r = render(&Reply::text("").chunks(&["a", "b", "c"]).drop_after(2), &chat_req(true), "chatcmpl-x", 7);
        assert!(r.cut);
        assert_eq!(r.pieces.len(), 3);
        assert!(!r.pieces.concat().contains("[DONE]"));
        assert!(!r.pieces.concat().contains("finish_reason\":\"stop"));
    }

    #[test]
    fn echo_answers_with_the_last_user_message() {
        let r = render(&Reply::echo_last_user(), &chat_req(false), "chatcmpl-x", 7);
        let v: Value = serde_json::from_str(&r.pieces[0]).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hello there");
    }

    #[tokio::test]
    async fn a_chat_reply_read_to_its_end_records_when_it_finished() {
        let s = Standin::start().await;
        s.push(Reply::text("fn main() {}"));
        let http = reqwest::Client::new();
        let body = http
            .post(format!("{}/chat/completions", s.base_url()))
            .json(&json!({"model": "kimi-k2-turbo-preview", "stream": true,
                "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.ends_with("data: [DONE]\n\n"));
        let read_at = Instant::now();
        http.get(format!("{}/models", s.base_url())).send().await.unwrap();
        let r = s.requests();
        let finished = r[0].reply_finished_at.expect("the reply was written to its end");
        assert!(r[0].received_at <= finished && finished <= read_at);
        assert_eq!(r[1].reply_finished_at, None, "only chat replies are timed");
    }

    #[test]
    fn errors_render_their_live_status_and_body_even_when_streaming() {
        let r = render(&Reply::error(ApiError::Overloaded), &chat_req(true), "chatcmpl-x", 7);
        assert_eq!(r.status, 429);
        assert_eq!(r.content_type, JSON_TYPE);
        assert_eq!(
            r.pieces.concat(),
            r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"engine_overloaded_error"}}"#
        );
    }
}
