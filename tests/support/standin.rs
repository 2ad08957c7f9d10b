//! A stand-in for the Moonshot (Kimi) API on 127.0.0.1, faithful to the live service as recorded
//! in `/work/shared/kimi-api.md`.
//!
//! Where the facts file gives a live message, the stand-in uses it verbatim. A few validation
//! messages were never captured from the live service (temperature out of range, too many stop
//! strings, `tool_choice: "required"` on a non-thinking model); those keep the live service's
//! `Invalid request: …` style and are marked below. Clients must key on status and `type`, never
//! on those texts.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

use crate::standin_core::{Core, Protocols, Rendered, Server};

/// The value of `system_fingerprint`, shaped like the live one (`fpv0_` and eight hex digits).
const FINGERPRINT: &str = "fpv0_5e3b9d21";
/// The account named inside rate-limit and balance messages, shaped like live ones.
const ORG: &str = "org-2f9c4d7a1e6b4c08";
const AK: &str = "ak-f1c8e3a92b7d5e40";
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
    pub(crate) kind: ReplyKind,
    pub(crate) usage: Option<Usage>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) first_byte_delay: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) drop_after: Option<usize>,
    /// The texts of choices 1.. for a request with `n` > 1; choices without one here say what
    /// choice 0 says, as a model sampling at a low temperature often does.
    pub(crate) alternatives: Vec<String>,
    /// Answers with one choice whatever `n` asks for.
    pub(crate) one_choice: bool,
    /// No `[DONE]` (Anthropic: no `message_stop`) after the finish; the connection stays open.
    pub(crate) linger: bool,
}

// `pub(crate)` with the fields above: the Anthropic stand-in (anthropic.rs) renders the same
// scripted replies in its own wire format.
#[derive(Clone, Debug)]
pub(crate) enum ReplyKind {
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
            alternatives: Vec::new(),
            one_choice: false,
            linger: false,
        }
    }

    /// Answers with one choice whatever the request's `n`, as some OpenAI-compatible servers do
    /// (Moonshot itself streams every choice asked for, or refuses).
    pub fn one_choice(mut self) -> Reply {
        self.one_choice = true;
        self
    }

    /// What choices 1, 2, … say when the request asks for several (`n`).
    pub fn alternatives(mut self, texts: &[&str]) -> Reply {
        self.alternatives = texts.iter().map(|t| t.to_string()).collect();
        self
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

    /// Sends the whole answer, usage included, but no `[DONE]` (Anthropic: no `message_stop`), and
    /// keeps the connection open without a word, as some servers and proxies do.
    pub fn linger(mut self) -> Reply {
        self.linger = true;
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

/// What a reply says, whatever the wire format it is rendered in.
pub(crate) enum Said {
    Output(Output),
    Error(ApiError),
    Raw { status: u16, body: String },
}

/// The answer a reply scripts, in the pieces it is streamed in.
pub(crate) struct Output {
    pub(crate) reasoning: Vec<String>,
    pub(crate) content: Vec<String>,
    /// Name and arguments of each tool call.
    pub(crate) calls: Vec<(String, String)>,
}

impl Output {
    /// The output tokens reported unless the reply scripts its usage: a quarter of the characters.
    pub(crate) fn estimated_tokens(&self) -> u32 {
        let text: usize = self.reasoning.iter().chain(self.content.iter()).map(|s| s.chars().count()).sum();
        let calls: usize = self.calls.iter().map(|(n, a)| n.chars().count() + a.chars().count()).sum();
        quarter(text + calls)
    }
}

impl Reply {
    /// What this reply says to a request whose last user message is `last_user`.
    pub(crate) fn said(&self, last_user: &str) -> Said {
        match &self.kind {
            ReplyKind::Message { reasoning, content } => {
                Said::Output(Output { reasoning: reasoning.clone(), content: content.clone(), calls: Vec::new() })
            }
            ReplyKind::ToolCalls(calls) => {
                Said::Output(Output { reasoning: Vec::new(), content: Vec::new(), calls: calls.clone() })
            }
            ReplyKind::EchoLastUser => {
                Said::Output(Output { reasoning: Vec::new(), content: split_words(last_user), calls: Vec::new() })
            }
            ReplyKind::Error(e) => Said::Error(e.clone()),
            ReplyKind::Raw { status, body } => Said::Raw { status: *status, body: body.clone() },
        }
    }
}

/// Splits text into at most three word-aligned pieces, so that clients see a real stream.
pub(crate) fn split_words(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let words: Vec<&str> = s.split_inclusive(char::is_whitespace).collect();
    let per = words.len().div_ceil(words.len().min(3));
    words.chunks(per).map(|w| w.concat()).collect()
}

/// Splits tool-call arguments into at most three pieces at char boundaries, as the live service
/// streams them mid-token.
pub(crate) fn split_fragments(s: &str) -> Vec<String> {
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
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    total_tokens: u32,
    pub(crate) cached_tokens: u32,
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
    choices: Vec<CompletionChoice>,
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

pub(crate) fn quarter(chars: usize) -> u32 {
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

    fn to_json(&self, owner: &str) -> Value {
        json!({
            "id": self.id,
            "object": "model",
            "created": MODELS_CREATED,
            "owned_by": owner,
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
    /// `n`: how many choices to answer with.
    choices: u32,
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
    let choices = match obj.get("n").filter(|n| !n.is_null()) {
        None => 1,
        Some(n) => match n.as_u64().filter(|n| (1..=5).contains(n)) {
            // Wording not captured live: only the limit (at most 5) is documented.
            None => {
                return Err(invalid_request(format!(
                    "Invalid request: n {n} is out of range, it must be between 1 and 5"
                )))
            }
            Some(n) => n as u32,
        },
    };
    if model == "kimi-k2.5" && choices != 1 {
        // Wording not captured live: that K2.5 fixes `n` at 1 is documented; the message follows
        // the captured one for its fixed temperature.
        return Err(invalid_request("invalid n: only 1 is allowed for this model".to_string()));
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
        choices,
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering a reply

const JSON_TYPE: &str = "application/json; charset=utf-8";
const SSE_TYPE: &str = "text/event-stream";

fn render(reply: &Reply, req: &ChatRequest, id: &str, created: u64) -> Rendered {
    let one = ChatRequest { choices: 1, ..req.clone() };
    let req = if reply.one_choice { &one } else { req };
    let output = match reply.said(&req.last_user) {
        Said::Error(e) => return json_rendered(e.status(), e.body(), reply.drop_after),
        Said::Raw { status, body } => return json_rendered(status, body, reply.drop_after),
        Said::Output(output) => output,
    };
    // Choices 1.. of a request with `n` > 1: text only, in the pieces they are streamed in.
    let others: Vec<Vec<String>> = (1..req.choices as usize)
        .map(|k| reply.alternatives.get(k - 1).map_or_else(|| output.content.clone(), |t| split_words(t)))
        .collect();
    let others_tokens: u32 = others.iter().map(|pieces| quarter(pieces.iter().map(|p| p.chars().count()).sum())).sum();
    let usage =
        reply.usage.unwrap_or_else(|| Usage::new(req.prompt_tokens, output.estimated_tokens() + others_tokens, 0));
    let Output { reasoning, content, calls } = output;
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
        let mut choices = vec![CompletionChoice { index: 0, message, finish_reason: finish_reason.clone() }];
        for (k, pieces) in others.iter().enumerate() {
            choices.push(CompletionChoice {
                index: k as u32 + 1,
                message: OutMessage {
                    role: "assistant",
                    content: pieces.concat(),
                    reasoning_content: None,
                    tool_calls: Vec::new(),
                },
                finish_reason: finish_reason.clone(),
            });
        }
        let body = Completion {
            id,
            object: "chat.completion",
            created,
            model,
            choices,
            usage,
            system_fingerprint: FINGERPRINT,
        };
        let body = serde_json::to_string(&body).expect("a completion always serializes");
        return json_rendered(200, body, reply.drop_after);
    }

    let event_of = |index: u32, delta: Delta, finish: Option<String>, usage: Option<Usage>| {
        let fingerprint = finish.as_ref().map(|_| FINGERPRINT);
        let chunk = Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: [ChunkChoice { index, delta, finish_reason: finish, usage }],
            system_fingerprint: fingerprint,
        };
        format!("data: {}\n\n", serde_json::to_string(&chunk).expect("a chunk always serializes"))
    };
    let event = |delta: Delta, finish: Option<String>, usage: Option<Usage>| event_of(0, delta, finish, usage);
    let mut body_events = Vec::new();
    for r in reasoning {
        body_events.push(event(Delta { reasoning_content: Some(r), ..Delta::default() }, None, None));
    }
    // Several choices are generated side by side: their pieces interleave.
    let rounds = others.iter().map(Vec::len).chain([content.len()]).max().unwrap_or(0);
    let mut content = content.into_iter();
    for round in 0..rounds {
        if let Some(c) = content.next() {
            body_events.push(event(Delta { content: Some(c), ..Delta::default() }, None, None));
        }
        for (k, pieces) in others.iter().enumerate() {
            if let Some(c) = pieces.get(round) {
                let delta = Delta { content: Some(c.clone()), ..Delta::default() };
                body_events.push(event_of(k as u32 + 1, delta, None, None));
            }
        }
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
    let role = |index| {
        event_of(index, Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() }, None, None)
    };
    let mut pieces: Vec<String> = (0..req.choices).map(role).collect();
    let cut = match reply.drop_after {
        Some(n) => {
            pieces.extend(body_events.into_iter().take(n));
            true
        }
        None => {
            pieces.extend(body_events);
            // Usage rides in choice 0's finishing chunk, the last one (`kimi-api.md`).
            for k in (1..req.choices).rev() {
                pieces.push(event_of(k, Delta::default(), Some(finish_reason.clone()), None));
            }
            pieces.push(event(Delta::default(), Some(finish_reason), Some(usage)));
            if !reply.linger {
                pieces.push("data: [DONE]\n\n".to_string());
            }
            false
        }
    };
    Rendered { status: 200, content_type: SSE_TYPE, pieces, cut, retry_after: None, linger: reply.linger }
}

fn json_rendered(status: u16, body: String, drop_after: Option<usize>) -> Rendered {
    Rendered::json(JSON_TYPE, status, body, drop_after)
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
    /// The client's end of the connection the request came over.
    #[serde(skip)]
    pub peer: Option<std::net::SocketAddr>,
    /// The HTTP version it came in: `HTTP/1.1`, or `HTTP/2.0` from a TLS stand-in whose ALPN
    /// offered `h2`.
    pub version: String,
}

impl Recorded {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// What only the Moonshot stand-in keeps: the models it serves, the balance it reports, and
/// where it logs requests.
pub struct MoonshotApi {
    models: Vec<ModelInfo>,
    /// Errors the next `GET /models` answer with, one each, before it lists again.
    models_errors: std::collections::VecDeque<ApiError>,
    balance: Option<f64>,
    log: Option<File>,
    /// `owned_by` of every listed model: `moonshot`, or a self-hosted server's name.
    owner: String,
}

/// The running Moonshot stand-in. Clones share it; it stops accepting connections when the last
/// clone is dropped or [`Server::stop`] is called.
pub type Standin = Server<Reply, MoonshotApi>;

type Shared = Core<Reply, MoonshotApi>;

fn moonshot_api() -> MoonshotApi {
    MoonshotApi {
        models: default_models(),
        models_errors: Default::default(),
        balance: Some(49.58),
        log: None,
        owner: "moonshot".into(),
    }
}

impl Standin {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start() -> Standin {
        Standin::start_on(0).await.expect("the stand-in could not bind 127.0.0.1")
    }

    /// Binds 127.0.0.1:`port` (0 for a free one).
    pub async fn start_on(port: u16) -> io::Result<Standin> {
        Server::serve(port, Reply::text("ok"), moonshot_api(), Router::new().fallback(handle)).await
    }

    /// Serves HTTPS on a free port of 127.0.0.1, offering `protocols` by ALPN, with a certificate
    /// for `localhost` signed by a certificate authority of its own: clients must trust
    /// [`Server::ca_pem`] (or the file [`Server::write_ca`] writes), as the live service's
    /// clients trust the public ones.
    pub async fn start_tls(protocols: Protocols) -> Standin {
        Server::serve_tls(0, Reply::text("ok"), moonshot_api(), Router::new().fallback(handle), protocols)
            .await
            .expect("the TLS stand-in could not start on 127.0.0.1")
    }

    /// `http://127.0.0.1:PORT/v1`, or `https://localhost:PORT/v1` when serving TLS.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// Replaces the model list; known ids get their live context lengths and capabilities,
    /// others 262,144 tokens and no capabilities.
    pub fn set_models(&self, ids: &[&str]) {
        self.core().lock().api.models = ids.iter().map(|id| ModelInfo::known(id)).collect();
    }

    /// Lists every model as served by `owner`, as a self-hosted server's `/models` does (vLLM
    /// and SGLang name themselves in `owned_by`).
    pub fn set_owned_by(&self, owner: &str) {
        self.core().lock().api.owner = owner.to_string();
    }

    /// The next `GET /models` requests answer with these errors, one each (a rate limit or an
    /// overload the account hits while the list is asked for); later ones list again.
    pub fn fail_models_with(&self, errors: &[ApiError]) {
        self.core().lock().api.models_errors.extend(errors.iter().cloned());
    }

    /// Changes one model's context length (adding the model if it is not listed), so that tests
    /// can provoke the context-overflow 400 with small prompts.
    pub fn set_context_length(&self, model: &str, context_length: u32) {
        let mut st = self.core().lock();
        match st.api.models.iter_mut().find(|m| m.id == model) {
            Some(m) => m.context_length = context_length,
            None => {
                let mut m = ModelInfo::known(model);
                m.context_length = context_length;
                st.api.models.push(m);
            }
        }
    }

    /// `None` makes `/users/me/balance` answer like an unknown route, as some hosts do.
    pub fn set_balance(&self, available: Option<f64>) {
        self.core().lock().api.balance = available;
    }

    /// Also writes every request as a JSON line to `path` (the Authorization header redacted).
    pub fn log_requests_to(&self, path: &Path) -> io::Result<()> {
        let file = File::create(path)?;
        self.core().lock().api.log = Some(file);
        Ok(())
    }

    /// Bodies of `POST /v1/chat/completions`, in arrival order (refused ones included).
    pub fn chat_requests(&self) -> Vec<Value> {
        self.posted_to(CHAT_PATH)
    }

    /// Waits until at least `n` chat requests arrived and returns them all; panics with the
    /// requests seen so far on timeout.
    pub async fn wait_for_chat_requests(&self, n: usize, timeout: Duration) -> Vec<Value> {
        self.wait_for_posts(CHAT_PATH, "chat requests", n, timeout).await
    }
}

const CHAT_PATH: &str = "/v1/chat/completions";

/// Every request comes here: recorded first, then authorized, then routed.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body_value, index) = shared.record(req, &[]).await;

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
            (&Method::POST, CHAT_PATH) => chat(&shared, &body_value, index).await,
            (&Method::GET, "/v1/models") => {
                let mut st = shared.lock();
                match st.api.models_errors.pop_front() {
                    Some(e) => json_response(e.status(), e.body()),
                    None => {
                        let models: Vec<Value> = st.api.models.iter().map(|m| m.to_json(&st.api.owner)).collect();
                        json_response(200, json!({"object": "list", "data": models}).to_string())
                    }
                }
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
            (&Method::GET, "/v1/users/me/balance") => match shared.lock().api.balance {
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

    shared.answered(index, response.status().as_u16());
    if let Some(log) = shared.lock().api.log.as_mut() {
        let mut line = serde_json::to_value(shared.recorded(index)).unwrap_or(Value::Null);
        if let Some(headers) = line.get_mut("headers").and_then(Value::as_array_mut) {
            for h in headers.iter_mut() {
                if h[0].as_str() == Some("authorization") {
                    h[1] = Value::String("<redacted>".to_string());
                }
            }
        }
        line["authorized"] = Value::Bool(authorized);
        let _ = writeln!(log, "{line}");
        let _ = log.flush();
    }
    response
}

async fn chat(shared: &Arc<Shared>, body: &Value, index: usize) -> Response {
    let (req, reply) = {
        let mut st = shared.lock();
        match check_chat(body, &st.api.models) {
            Err(f) => return json_response(f.status, f.body),
            Ok(req) => (req, st.next_reply()),
        }
    };
    let guard = shared.guard(index);
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let id = format!("chatcmpl-{:08x}{:016x}", created as u32, shared.next_random());
    render(&reply, &req, &id, created).into_response(reply.chunk_delay, guard)
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
            choices: 1,
        }
    }

    #[test]
    fn several_choices_stream_side_by_side_and_usage_rides_in_choice_0_last() {
        let req = ChatRequest { choices: 3, ..chat_req(true) };
        let r = render(&Reply::text("").chunks(&["a", "b"]).alternatives(&["c d"]), &req, "chatcmpl-x", 7);
        let chunks: Vec<Value> =
            r.pieces.iter().filter_map(|p| p.strip_prefix("data: ")?.trim_end().parse::<Value>().ok()).collect();
        let shown: Vec<String> = chunks
            .iter()
            .map(|c| {
                let choice = &c["choices"][0];
                let said = choice["delta"]["content"].as_str().map_or(String::new(), |t| format!(" {t:?}"));
                let finish = choice["finish_reason"].as_str().map_or(String::new(), |f| format!(" {f}"));
                let usage = if choice["usage"].is_object() { " +usage" } else { "" };
                format!("{}{said}{finish}{usage}", choice["index"])
            })
            .collect();
        // Choice 2 has no text of its own: it says what choice 0 says.
        expect_test::expect![[r#"
            0 ""
            1 ""
            2 ""
            0 "a"
            1 "c "
            2 "a"
            0 "b"
            1 "d"
            2 "b"
            2 stop
            1 stop
            0 stop +usage"#]]
        .assert_eq(&shown.join("\n"));
        assert!(r.pieces.last().unwrap().contains("[DONE]"));
        // Output tokens of all three choices: a quarter of 2 + 3 + 2 characters each, rounded up.
        assert_eq!(chunks.last().unwrap()["choices"][0]["usage"]["completion_tokens"], 3);

        let plain =
            render(&Reply::text("x").alternatives(&["y"]), &ChatRequest { choices: 2, ..chat_req(false) }, "c", 7);
        let v: Value = serde_json::from_str(&plain.pieces.concat()).unwrap();
        assert_eq!(v["choices"][1]["index"], 1);
        assert_eq!(v["choices"][1]["message"]["content"], "y");
    }

    #[test]
    fn n_is_limited_to_five_and_fixed_at_one_on_k2_5() {
        let ask = |model: &str, n: Value| {
            req(json!({"model": model, "n": n, "messages": [{"role": "user", "content": "x"}]}))
        };
        assert_eq!(ask("kimi-k2-turbo-preview", json!(5)).unwrap().choices, 5);
        assert_eq!(ask("kimi-k2-turbo-preview", json!(6)).unwrap_err().status, 400);
        assert_eq!(ask("kimi-k2-turbo-preview", json!(0)).unwrap_err().status, 400);
        assert_eq!(ask("kimi-k2.5", json!(1)).unwrap().choices, 1);
        assert_eq!(
            message(ask("kimi-k2.5", json!(3)).unwrap_err()),
            (400, "invalid n: only 1 is allowed for this model".to_string())
        );
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
