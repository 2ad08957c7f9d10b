//! A stand-in for the Anthropic Messages API (`POST /v1/messages`, `GET /v1/models`) on
//! 127.0.0.1, as Claude's API and Moonshot's Anthropic-compatible endpoint speak it.
//!
//! It answers the same scripted [`Reply`]s as the Moonshot [`Standin`](crate::Standin), rendered
//! in Anthropic's shapes: a streamed answer is `message_start`, then per content block
//! `content_block_start`, `content_block_delta`s (`text_delta`, `thinking_delta` +
//! `signature_delta`, `input_json_delta`) and `content_block_stop`, with one `ping` after the first
//! block starts, then `message_delta` (stop reason, output tokens) and `message_stop`. Errors are
//! `{"type":"error","error":{"type":…,"message":…}}` with Anthropic's statuses; see
//! [`anthropic_error`] for how each [`ApiError`] maps.
//!
//! The validation messages below are Anthropic's where they were seen on live responses; the
//! rest keep their style and are marked. Clients must key on status and `error.type`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::standin::{quarter, split_fragments, ApiError, Output, Reply, ReplyKind, Said};
use crate::standin_core::{Core, Protocols, Rendered, Server};

/// The version header every request must carry.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Base64 alphabet for ids shaped like the live ones (`msg_01…`, `toolu_01…`).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The status, `error.type`, `error.message` and `retry-after` seconds Anthropic answers with
/// for the error a [`Reply::error`] scripts.
pub fn anthropic_error(e: &ApiError) -> (u16, &'static str, String, Option<u32>) {
    match e {
        ApiError::Overloaded => (529, "overloaded_error", "Overloaded".to_string(), None),
        ApiError::RateLimitRpm { seconds } => (
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute. \
             For details, refer to: https://docs.claude.com/en/api/rate-limits."
                .to_string(),
            Some(*seconds),
        ),
        ApiError::Concurrency { seconds } => (
            429,
            "rate_limit_error",
            "Number of concurrent connections has exceeded your rate limit. Please try again later or \
             contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate \
             limit increase."
                .to_string(),
            Some(*seconds),
        ),
        ApiError::Tpm { seconds } | ApiError::Tpd { seconds } => (
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 30,000 input tokens per \
             minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
                .to_string(),
            Some(*seconds),
        ),
        ApiError::InvalidAuthentication | ApiError::IncorrectApiKey => {
            (401, "authentication_error", "invalid x-api-key".to_string(), None)
        }
        ApiError::PermissionDenied => (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.".to_string(),
            None,
        ),
        ApiError::ModelNotFound { model } => (404, "not_found_error", format!("model: {model}"), None),
        ApiError::ContextOverflow { limit, requested } => {
            (400, "invalid_request_error", format!("prompt is too long: {requested} tokens > {limit} maximum"), None)
        }
        // Not captured live; the range is documented.
        ApiError::InvalidTemperature => (400, "invalid_request_error", "temperature: range: 0..1".to_string(), None),
        ApiError::ContentFilter => {
            (400, "invalid_request_error", "Output blocked by content filtering policy".to_string(), None)
        }
        ApiError::InsufficientBalance => (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to \
             upgrade or purchase credits."
                .to_string(),
            None,
        ),
        ApiError::UnexpectedOutput => (500, "api_error", "Internal server error".to_string(), None),
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}`
pub fn error_body(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

#[derive(Clone, Debug, PartialEq)]
struct Failure {
    status: u16,
    body: String,
    retry_after: Option<u32>,
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure { status: 400, body: error_body("invalid_request_error", &message.into()), retry_after: None }
}

fn failure_of(e: &ApiError) -> Failure {
    let (status, kind, message, retry_after) = anthropic_error(e);
    Failure { status, body: error_body(kind, &message), retry_after }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// The stand-in's token estimate: a quarter (rounded up) of the characters of `system`, every
/// message's text, tool inputs and tool results, plus the serialized `tools`.
pub fn estimate_input_tokens(body: &Value) -> u32 {
    let mut chars = text_of(body.get("system")).chars().count();
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            chars += text_of(m.get("content")).chars().count();
        }
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        chars += tools.to_string().chars().count();
    }
    quarter(chars)
}

/// The text of a `content`/`system` value: a string, or the text of its blocks (tool inputs and
/// results included, thinking not).
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().unwrap_or("").to_string(),
                Some("tool_use") => b["input"].to_string(),
                Some("tool_result") => text_of(b.get("content")),
                _ => String::new(),
            })
            .collect(),
        _ => String::new(),
    }
}

#[derive(Clone, Debug, PartialEq)]
struct MessagesRequest {
    model: String,
    stream: bool,
    input_tokens: u32,
    last_user: String,
}

/// Validates a Messages request the way the live API does, in the order it reports problems.
fn check_messages(body: &Value, models: &[String], no_prefill: &[String]) -> Result<MessagesRequest, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(invalid("Input should be a valid dictionary or object to extract fields from"));
    };
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return Err(invalid("model: Field required"));
    };
    let Some(max_tokens) = obj.get("max_tokens") else {
        return Err(invalid("max_tokens: Field required"));
    };
    let Some(max_tokens) = max_tokens.as_u64().filter(|m| *m >= 1) else {
        return Err(invalid("max_tokens: Input should be greater than or equal to 1"));
    };
    let messages = match obj.get("messages") {
        None => return Err(invalid("messages: Field required")),
        Some(Value::Array(m)) if !m.is_empty() => m,
        // Not captured live.
        Some(_) => return Err(invalid("messages: at least one message is required")),
    };
    if let Some(system) = obj.get("system") {
        let ok = match system {
            Value::String(_) => true,
            Value::Array(blocks) => blocks.iter().all(|b| b["type"] == "text" && b["text"].is_string()),
            _ => false,
        };
        if !ok {
            // Not captured live.
            return Err(invalid("system: Input should be a valid string or a list of text blocks"));
        }
    }
    let last = messages.len() - 1;
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("user") | Some("assistant") => {}
            Some("system") => {
                return Err(invalid(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` \
                     parameter, not \"system\" as an input message role.",
                ))
            }
            _ => return Err(invalid(format!("messages.{i}.role: Input should be 'user' or 'assistant'"))),
        }
        let final_assistant = i == last && m["role"] == "assistant";
        let empty = match m.get("content") {
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(blocks)) => blocks.is_empty(),
            _ => return Err(invalid(format!("messages.{i}.content: Field required"))),
        };
        if empty && !final_assistant {
            return Err(invalid(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final \
                 assistant message"
            )));
        }
        if let Some(blocks) = m["content"].as_array() {
            for (j, b) in blocks.iter().enumerate() {
                check_block(b, i, j, m["role"].as_str().unwrap_or(""))?;
            }
        }
        if final_assistant {
            let text = text_of(m.get("content"));
            if text.ends_with(char::is_whitespace) {
                return Err(invalid("final assistant content cannot end with trailing whitespace"));
            }
        }
    }
    check_tool_pairs(messages)?;
    if obj.get("thinking").is_some_and(|t| t["type"] == "enabled") {
        check_thinking_before_tools(messages)?;
    }
    if let Some(t) = obj.get("temperature").filter(|t| !t.is_null()) {
        match t.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => {}
            _ => return Err(failure_of(&ApiError::InvalidTemperature)),
        }
    }
    if let Some(stop) = obj.get("stop_sequences") {
        let ok = stop.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        if !ok {
            // Not captured live.
            return Err(invalid("stop_sequences: Input should be a valid list of strings"));
        }
        let all_space = |s: &Value| s.as_str().is_some_and(|s| s.trim().is_empty());
        if stop.as_array().is_some_and(|a| a.iter().any(all_space)) {
            // Seen live (a `"\n"` stop sequence).
            return Err(invalid("stop_sequences: each stop sequence must contain non-whitespace"));
        }
    }
    if let Some(tools) = obj.get("tools") {
        let Some(tools) = tools.as_array() else {
            return Err(invalid("tools: Input should be a valid list"));
        };
        for (i, t) in tools.iter().enumerate() {
            if !t["name"].is_string() {
                return Err(invalid(format!("tools.{i}.custom.name: Field required")));
            }
            if !t["input_schema"].is_object() {
                return Err(invalid(format!("tools.{i}.custom.input_schema: Field required")));
            }
        }
    }
    if let Some(thinking) = obj.get("thinking") {
        match thinking["type"].as_str() {
            Some("enabled") => {
                let budget = thinking["budget_tokens"].as_u64().unwrap_or(0);
                if budget < 1024 {
                    return Err(invalid(
                        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                    ));
                }
                if max_tokens <= budget {
                    return Err(invalid("`max_tokens` must be greater than `thinking.budget_tokens`"));
                }
                if obj.get("temperature").and_then(Value::as_f64).is_some_and(|t| t != 1.0) {
                    return Err(invalid("`temperature` may only be set to 1 when thinking is enabled."));
                }
            }
            Some("disabled") => {}
            _ => {
                return Err(invalid(
                    "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'",
                ))
            }
        }
    }
    if !models.iter().any(|m| m == model) {
        return Err(failure_of(&ApiError::ModelNotFound { model: model.to_string() }));
    }
    if no_prefill.iter().any(|m| m == model) && messages[last]["role"] == "assistant" {
        // Seen live from Claude 4.6 and later.
        return Err(invalid(
            "This model does not support assistant message prefill. The conversation must end with a user message.",
        ));
    }
    let last_user = messages.iter().rev().find(|m| m["role"] == "user").map(|m| text_of(m.get("content")));
    Ok(MessagesRequest {
        model: model.to_string(),
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        input_tokens: estimate_input_tokens(body),
        last_user: last_user.unwrap_or_default(),
    })
}

fn check_block(b: &Value, i: usize, j: usize, role: &str) -> Result<(), Failure> {
    let at = format!("messages.{i}.content.{j}");
    match b["type"].as_str() {
        Some("text") => match b["text"].as_str() {
            Some("") => Err(invalid("messages: text content blocks must be non-empty")),
            Some(_) => Ok(()),
            None => Err(invalid(format!("{at}.text.text: Field required"))),
        },
        Some("image") if role == "user" => {
            let source = &b["source"];
            match source["type"].as_str() {
                Some("base64") => {
                    let media = source["media_type"].as_str().unwrap_or("");
                    if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&media) {
                        return Err(invalid(format!(
                            "{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', \
                             'image/gif' or 'image/webp'"
                        )));
                    }
                    if !source["data"].is_string() {
                        return Err(invalid(format!("{at}.image.source.base64.data: Field required")));
                    }
                    Ok(())
                }
                Some("url") if source["url"].is_string() => Ok(()),
                _ => Err(invalid(format!(
                    "{at}.image.source: Input tag does not match any of the expected tags: 'base64', 'url'"
                ))),
            }
        }
        Some("tool_use") if role == "assistant" => {
            if !b["id"].is_string() || !b["name"].is_string() || !b["input"].is_object() {
                return Err(invalid(format!("{at}.tool_use: id, name and an object input are required")));
            }
            Ok(())
        }
        Some("tool_result") if role == "user" => {
            if !b["tool_use_id"].is_string() {
                return Err(invalid(format!("{at}.tool_result.tool_use_id: Field required")));
            }
            Ok(())
        }
        Some("thinking") if role == "assistant" => Ok(()),
        Some(other) => Err(invalid(format!("{at}: block type '{other}' is not allowed in a {role} message"))),
        None => Err(invalid(format!("{at}.type: Field required"))),
    }
}

/// Every `tool_use` must be answered by a `tool_result` in the very next (user) message, and
/// every `tool_result` must answer a `tool_use` of the message just before it.
fn check_tool_pairs(messages: &[Value]) -> Result<(), Failure> {
    let ids = |m: &Value, kind: &str, field: &str| -> Vec<String> {
        m["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b["type"] == kind)
                    .filter_map(|b| b[field].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (i, m) in messages.iter().enumerate() {
        let uses = ids(m, "tool_use", "id");
        if !uses.is_empty() {
            let answered = messages.get(i + 1).map(|n| ids(n, "tool_result", "tool_use_id")).unwrap_or_default();
            let missing: Vec<&str> = uses.iter().filter(|u| !answered.contains(u)).map(String::as_str).collect();
            // The last message may be the assistant's own turn being continued: only a turn
            // that something follows must be answered.
            if !missing.is_empty() && i + 1 < messages.len() {
                return Err(invalid(format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: \
                     {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    missing.join(", ")
                )));
            }
        }
        let results = ids(m, "tool_result", "tool_use_id");
        if !results.is_empty() {
            let asked = if i > 0 { ids(&messages[i - 1], "tool_use", "id") } else { Vec::new() };
            for (j, r) in results.iter().enumerate() {
                if !asked.contains(r) {
                    return Err(invalid(format!(
                        "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {r}. \
                         Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    )));
                }
            }
        }
    }
    Ok(())
}

/// With thinking on, the last assistant turn that used tools must start with a thinking block.
fn check_thinking_before_tools(messages: &[Value]) -> Result<(), Failure> {
    let Some((i, m)) = messages.iter().enumerate().rev().find(|(_, m)| m["role"] == "assistant") else {
        return Ok(());
    };
    let Some(blocks) = m["content"].as_array() else { return Ok(()) };
    if !blocks.iter().any(|b| b["type"] == "tool_use") {
        return Ok(());
    }
    match blocks.first().and_then(|b| b["type"].as_str()) {
        Some("thinking") | Some("redacted_thinking") => Ok(()),
        found => Err(invalid(format!(
            "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When \
             `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the \
             lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from \
             previous turns. To avoid this requirement, disable `thinking`.",
            found.unwrap_or("")
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

const JSON_TYPE: &str = "application/json";
const SSE_TYPE: &str = "text/event-stream; charset=utf-8";

/// Ids the rendering needs, drawn by the server (fixed in unit tests).
struct Ids {
    message: String,
    tools: Vec<String>,
    signature: String,
}

fn stop_reason(finish: Option<&str>, has_tools: bool) -> String {
    match finish {
        Some("stop") => "end_turn".to_string(),
        Some("length") => "max_tokens".to_string(),
        Some("tool_calls") => "tool_use".to_string(),
        Some(other) => other.to_string(),
        None if has_tools => "tool_use".to_string(),
        None => "end_turn".to_string(),
    }
}

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// `mid_stream_error`: after this many `content_block_delta` events, an `error` event ends the
/// stream instead of the rest.
fn render(reply: &Reply, req: &MessagesRequest, ids: &Ids, mid_stream_error: Option<(usize, &ApiError)>) -> Rendered {
    let output = match reply.said(&req.last_user) {
        Said::Error(e) => {
            let f = failure_of(&e);
            return json_rendered(f.status, f.body, reply.drop_after, f.retry_after);
        }
        Said::Raw { status, body } => return json_rendered(status, body, reply.drop_after, None),
        Said::Output(output) => output,
    };
    let (input, output_tokens, cached) = match reply.usage {
        Some(u) => (u.prompt_tokens.saturating_sub(u.cached_tokens), u.completion_tokens, u.cached_tokens),
        None => (req.input_tokens, output.estimated_tokens(), 0),
    };
    let Output { reasoning, content, calls } = output;
    let stop = stop_reason(reply.finish_reason.as_deref(), !calls.is_empty());
    let usage = |output_tokens: u32| {
        json!({"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
               "output_tokens": output_tokens})
    };
    let tool_input = |args: &str| serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({}));

    if !req.stream {
        let mut blocks = Vec::new();
        if !reasoning.is_empty() {
            blocks.push(json!({"type": "thinking", "thinking": reasoning.concat(), "signature": ids.signature}));
        }
        if !content.is_empty() {
            blocks.push(json!({"type": "text", "text": content.concat()}));
        }
        for (i, (name, args)) in calls.iter().enumerate() {
            blocks.push(json!({"type": "tool_use", "id": ids.tools[i], "name": name, "input": tool_input(args)}));
        }
        let body = json!({
            "id": ids.message, "type": "message", "role": "assistant", "model": req.model,
            "content": blocks, "stop_reason": stop, "stop_sequence": null, "usage": usage(output_tokens),
        });
        return json_rendered(200, body.to_string(), reply.drop_after, None);
    }

    // Each block: its start, its deltas, its stop. Deltas are counted for cuts and errors.
    let mut blocks: Vec<(Value, Vec<Value>)> = Vec::new();
    if !reasoning.is_empty() {
        let mut deltas: Vec<Value> =
            reasoning.iter().map(|r| json!({"type": "thinking_delta", "thinking": r})).collect();
        deltas.push(json!({"type": "signature_delta", "signature": ids.signature}));
        blocks.push((json!({"type": "thinking", "thinking": ""}), deltas));
    }
    if !content.is_empty() {
        let deltas = content.iter().map(|c| json!({"type": "text_delta", "text": c})).collect();
        blocks.push((json!({"type": "text", "text": ""}), deltas));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let mut deltas = vec![json!({"type": "input_json_delta", "partial_json": ""})];
        deltas
            .extend(split_fragments(args).into_iter().map(|f| json!({"type": "input_json_delta", "partial_json": f})));
        blocks.push((json!({"type": "tool_use", "id": ids.tools[i], "name": name, "input": {}}), deltas));
    }

    let start = json!({"type": "message_start", "message": {
        "id": ids.message, "type": "message", "role": "assistant", "model": req.model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": usage(1),
    }});
    let mut pieces = vec![sse("message_start", &start)];
    let limit = match (reply.drop_after, mid_stream_error) {
        (Some(n), _) => Some(n),
        (None, Some((n, _))) => Some(n),
        (None, None) => None,
    };
    let mut sent_deltas = 0usize;
    let mut stopped_early = false;
    'blocks: for (index, (block, deltas)) in blocks.into_iter().enumerate() {
        if limit.is_some_and(|n| sent_deltas >= n) {
            stopped_early = true;
            break;
        }
        pieces.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        if index == 0 {
            pieces.push(sse("ping", &json!({"type": "ping"})));
        }
        for delta in deltas {
            if limit.is_some_and(|n| sent_deltas >= n) {
                stopped_early = true;
                break 'blocks;
            }
            pieces.push(sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
            sent_deltas += 1;
        }
        pieces.push(sse("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
    }
    if reply.drop_after.is_some() {
        return Rendered { status: 200, content_type: SSE_TYPE, pieces, cut: true, retry_after: None, linger: false };
    }
    if let Some((_, error)) = mid_stream_error {
        let (_, kind, message, _) = anthropic_error(error);
        pieces.push(sse("error", &json!({"type": "error", "error": {"type": kind, "message": message}})));
        return Rendered { status: 200, content_type: SSE_TYPE, pieces, cut: false, retry_after: None, linger: false };
    }
    debug_assert!(!stopped_early);
    pieces.push(sse(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}}),
    ));
    if !reply.linger {
        pieces.push(sse("message_stop", &json!({"type": "message_stop"})));
    }
    Rendered { status: 200, content_type: SSE_TYPE, pieces, cut: false, retry_after: None, linger: reply.linger }
}

fn json_rendered(status: u16, body: String, drop_after: Option<usize>, retry_after: Option<u32>) -> Rendered {
    Rendered { retry_after, ..Rendered::json(JSON_TYPE, status, body, drop_after) }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A scripted reply, optionally ending in an `error` event partway through the stream.
#[derive(Clone, Debug)]
pub struct Scripted {
    reply: Reply,
    mid_stream_error: Option<(usize, ApiError)>,
}

impl From<Reply> for Scripted {
    fn from(reply: Reply) -> Scripted {
        Scripted { reply, mid_stream_error: None }
    }
}

/// What only the Anthropic stand-in keeps: the models it serves and those that refuse prefills.
pub struct AnthropicApi {
    models: Vec<String>,
    no_prefill: Vec<String>,
}

/// The running Anthropic stand-in. Clones share it; it stops when the last clone is dropped or
/// [`Server::stop`] is called. Every request is recorded with its `x-api-key` and
/// `authorization` values reading `<redacted>`.
pub type AnthropicStandin = Server<Scripted, AnthropicApi>;

type Shared = Core<Scripted, AnthropicApi>;

fn anthropic_api() -> AnthropicApi {
    AnthropicApi { models: DEFAULT_MODELS.iter().map(|m| m.to_string()).collect(), no_prefill: Vec::new() }
}

/// `prefix` + `01` + 22 characters, the shape of live ids.
fn live_id(shared: &Shared, prefix: &str) -> String {
    let mut out = format!("{prefix}01");
    let mut bits = shared.next_random() as u128 | ((shared.next_random() as u128) << 64);
    for _ in 0..22 {
        out.push(ID_ALPHABET[(bits % ID_ALPHABET.len() as u128) as usize] as char);
        bits /= ID_ALPHABET.len() as u128;
    }
    out
}

/// The model ids `GET /v1/models` lists and `POST /v1/messages` accepts, unless replaced.
pub const DEFAULT_MODELS: [&str; 3] = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"];

const MESSAGES_PATH: &str = "/v1/messages";

impl AnthropicStandin {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start() -> AnthropicStandin {
        AnthropicStandin::start_on(0).await.expect("the Anthropic stand-in could not bind 127.0.0.1")
    }

    pub async fn start_on(port: u16) -> io::Result<AnthropicStandin> {
        Server::serve(port, Reply::text("ok").into(), anthropic_api(), Router::new().fallback(handle)).await
    }

    /// Serves HTTPS on a free port of 127.0.0.1, as [`Standin::start_tls`](crate::Standin::start_tls)
    /// does.
    pub async fn start_tls(protocols: Protocols) -> AnthropicStandin {
        Server::serve_tls(0, Reply::text("ok").into(), anthropic_api(), Router::new().fallback(handle), protocols)
            .await
            .expect("the TLS Anthropic stand-in could not start on 127.0.0.1")
    }

    /// `http://127.0.0.1:PORT` (`https://localhost:PORT` when serving TLS) — like
    /// `https://api.anthropic.com`, without `/v1`: Messages are at `{base_url}/v1/messages`.
    pub fn base_url(&self) -> String {
        self.origin()
    }

    /// Queues a reply whose stream carries an `error` event after `after_deltas`
    /// `content_block_delta` events (HTTP 200 already sent), as Anthropic reports overload that
    /// starts mid-answer. A non-streamed request gets the error as its HTTP answer.
    pub fn push_stream_error(&self, reply: Reply, after_deltas: usize, error: ApiError) {
        self.push(Scripted { reply, mid_stream_error: Some((after_deltas, error)) });
    }

    /// Replaces the model list (initially [`DEFAULT_MODELS`]); other ids get 404 `not_found_error`.
    pub fn set_models(&self, ids: &[&str]) {
        self.core().lock().api.models = ids.iter().map(|id| id.to_string()).collect();
    }

    /// These models (which must also be listed) answer a request ending in an assistant turn
    /// with the 400 that Claude 4.6 and later give to prefills.
    pub fn refuse_prefill(&self, models: &[&str]) {
        self.core().lock().api.no_prefill = models.iter().map(|m| m.to_string()).collect();
    }

    /// Bodies of `POST /v1/messages`, in arrival order (refused ones included).
    pub fn message_requests(&self) -> Vec<Value> {
        self.posted_to(MESSAGES_PATH)
    }

    /// Waits until at least `n` Messages requests arrived; panics with what came on timeout.
    pub async fn wait_for_message_requests(&self, n: usize, timeout: Duration) -> Vec<Value> {
        self.wait_for_posts(MESSAGES_PATH, "Messages requests", n, timeout).await
    }
}

fn error_response(f: &Failure) -> Response {
    let mut response = Response::new(Body::from(f.body.clone()));
    *response.status_mut() = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    if let Some(s) = f.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body_value, index) = shared.record(req, &["x-api-key", header::AUTHORIZATION.as_str()]).await;

    let authorized = match &shared.lock().key {
        None => true,
        Some(key) => {
            let x_api_key = parts.headers.get("x-api-key").map(|v| v.as_bytes());
            let bearer = parts.headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
            x_api_key == Some(key.as_bytes()) || bearer == Some(format!("Bearer {key}").as_bytes())
        }
    };
    let version = parts.headers.get("anthropic-version").and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = parts.uri.path();
    let mut response = if !authorized {
        error_response(&failure_of(&ApiError::InvalidAuthentication))
    } else if version.is_none() && path.starts_with("/v1/") {
        error_response(&invalid("anthropic-version: header is required"))
    } else {
        match (&parts.method, path) {
            (&Method::POST, MESSAGES_PATH) => messages(&shared, &body_value, index).await,
            (&Method::GET, "/v1/models") => {
                let query = parts.uri.query().unwrap_or("");
                models_page(&shared.lock().api.models, query)
            }
            _ => error_response(&Failure {
                status: 404,
                body: error_body("not_found_error", "Not Found"),
                retry_after: None,
            }),
        }
    };
    let request_id = live_id(&shared, "req_");
    response.headers_mut().insert("request-id", HeaderValue::from_str(&request_id).expect("ids are ASCII"));
    shared.answered(index, response.status().as_u16());
    response
}

/// One page of `GET /v1/models` (`limit`, default 20; `after_id`), newest first as listed.
fn models_page(models: &[String], query: &str) -> Response {
    let mut limit = 20usize;
    let mut after: Option<String> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => limit = v.parse().unwrap_or(20).clamp(1, 1000),
            "after_id" => after = Some(v.to_string()),
            _ => {}
        }
    }
    let start = match &after {
        Some(id) => models.iter().position(|m| m == id).map(|p| p + 1).unwrap_or(models.len()),
        None => 0,
    };
    let page: Vec<&String> = models.iter().skip(start).take(limit).collect();
    let data: Vec<Value> = page
        .iter()
        .map(|id| json!({"type": "model", "id": id, "display_name": display_name(id), "created_at": "2025-09-29T00:00:00Z"}))
        .collect();
    let body = json!({
        "data": data,
        "has_more": start + page.len() < models.len(),
        "first_id": page.first(),
        "last_id": page.last(),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    response
}

fn display_name(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn messages(shared: &Arc<Shared>, body: &Value, index: usize) -> Response {
    let (req, scripted) = {
        let mut st = shared.lock();
        match check_messages(body, &st.api.models, &st.api.no_prefill) {
            Err(f) => return error_response(&f),
            Ok(req) => (req, st.next_reply()),
        }
    };
    let reply = &scripted.reply;
    if !req.stream {
        if let Some((_, e)) = &scripted.mid_stream_error {
            return error_response(&failure_of(e));
        }
    }
    let guard = shared.guard(index);
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    let tools = match &reply.kind {
        ReplyKind::ToolCalls(calls) => calls.iter().map(|_| live_id(shared, "toolu_")).collect(),
        _ => Vec::new(),
    };
    let ids = Ids { message: live_id(shared, "msg_"), tools, signature: format!("Eq{}", live_id(shared, "")) };
    let mid = scripted.mid_stream_error.as_ref().map(|(n, e)| (*n, e));
    render(reply, &req, &ids, mid).into_response(reply.chunk_delay, guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(stream: bool) -> MessagesRequest {
        MessagesRequest { model: "claude-haiku-4-5".into(), stream, input_tokens: 8, last_user: "hello there".into() }
    }

    fn ids(tools: usize) -> Ids {
        Ids {
            message: "msg_01X".into(),
            tools: (0..tools).map(|i| format!("toolu_0{i}")).collect(),
            signature: "EqSig".into(),
        }
    }

    #[test]
    fn a_streamed_text_reply_is_the_documented_event_sequence() {
        let r = render(&Reply::text("").chunks(&["fn ", "main"]).usage(108, 11, 100), &req(true), &ids(0), None);
        assert_eq!((r.status, r.content_type, r.cut), (200, SSE_TYPE, false));
        expect_test::expect![[r#"
            event: message_start
            data: {"message":{"content":[],"id":"msg_01X","model":"claude-haiku-4-5","role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"input_tokens":8,"output_tokens":1}},"type":"message_start"}

            event: content_block_start
            data: {"content_block":{"text":"","type":"text"},"index":0,"type":"content_block_start"}

            event: ping
            data: {"type":"ping"}

            event: content_block_delta
            data: {"delta":{"text":"fn ","type":"text_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_delta
            data: {"delta":{"text":"main","type":"text_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_stop
            data: {"index":0,"type":"content_block_stop"}

            event: message_delta
            data: {"delta":{"stop_reason":"end_turn","stop_sequence":null},"type":"message_delta","usage":{"output_tokens":11}}

            event: message_stop
            data: {"type":"message_stop"}

        "#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn a_streamed_tool_call_starts_with_an_empty_input_then_fragments() {
        let r = render(&Reply::tool_call("read_file", r#"{"path":"a.rs"}"#), &req(true), &ids(1), None);
        expect_test::expect![[r#"
            event: message_start
            data: {"message":{"content":[],"id":"msg_01X","model":"claude-haiku-4-5","role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":8,"output_tokens":1}},"type":"message_start"}

            event: content_block_start
            data: {"content_block":{"id":"toolu_00","input":{},"name":"read_file","type":"tool_use"},"index":0,"type":"content_block_start"}

            event: ping
            data: {"type":"ping"}

            event: content_block_delta
            data: {"delta":{"partial_json":"","type":"input_json_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_delta
            data: {"delta":{"partial_json":"{\"pat","type":"input_json_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_delta
            data: {"delta":{"partial_json":"h\":\"a","type":"input_json_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_delta
            data: {"delta":{"partial_json":".rs\"}","type":"input_json_delta"},"index":0,"type":"content_block_delta"}

            event: content_block_stop
            data: {"index":0,"type":"content_block_stop"}

            event: message_delta
            data: {"delta":{"stop_reason":"tool_use","stop_sequence":null},"type":"message_delta","usage":{"output_tokens":6}}

            event: message_stop
            data: {"type":"message_stop"}

        "#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn a_whole_reply_has_thinking_and_text_blocks() {
        let r =
            render(&Reply::reasoning_then_text("think", "answer").finish_reason("length"), &req(false), &ids(0), None);
        expect_test::expect![[r#"{"content":[{"signature":"EqSig","thinking":"think","type":"thinking"},{"text":"answer","type":"text"}],"id":"msg_01X","model":"claude-haiku-4-5","role":"assistant","stop_reason":"max_tokens","stop_sequence":null,"type":"message","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":8,"output_tokens":3}}"#]]
        .assert_eq(&r.pieces.concat());
    }

    #[test]
    fn cuts_and_mid_stream_errors_come_after_n_deltas() {
        let reply = Reply::text("").chunks(&["a", "b", "c"]);
        let cut = render(&reply.clone().drop_after(2), &req(true), &ids(0), None);
        assert!(cut.cut);
        let text = cut.pieces.concat();
        assert_eq!(text.matches("content_block_delta\n").count(), 2);
        assert!(!text.contains("message_delta") && !text.contains("message_stop"));
        let failing = render(&reply, &req(true), &ids(0), Some((1, &ApiError::Overloaded)));
        assert!(!failing.cut);
        let last = failing.pieces.last().unwrap();
        assert_eq!(last, "event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}\n\n");
        assert_eq!(failing.pieces.concat().matches("content_block_delta\n").count(), 1);
    }

    #[test]
    fn errors_render_with_anthropic_statuses_and_retry_after() {
        let r = render(&Reply::error(ApiError::RateLimitRpm { seconds: 9 }), &req(true), &ids(0), None);
        assert_eq!((r.status, r.content_type, r.retry_after), (429, JSON_TYPE, Some(9)));
        let v: Value = serde_json::from_str(&r.pieces[0]).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(render(&Reply::error(ApiError::Overloaded), &req(false), &ids(0), None).status, 529);
    }

    #[test]
    fn echo_answers_with_the_last_user_text() {
        let r = render(&Reply::echo_last_user(), &req(false), &ids(0), None);
        let v: Value = serde_json::from_str(&r.pieces[0]).unwrap();
        assert_eq!(v["content"][0]["text"], "hello there");
    }
}
