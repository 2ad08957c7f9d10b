//! Scripts of replies for the `moonshot-standin` process: a JSON list, one object per reply.
//!
//! ```json
//! [
//!   {"text": "fn main() {}", "first_byte_delay_ms": 300},
//!   {"chunks": ["fn ", "main"], "chunk_delay_ms": 50, "usage": {"prompt": 8, "completion": 2, "cached": 0}},
//!   {"reasoning": "think first", "text": "then answer"},
//!   {"tool_calls": [{"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}]},
//!   {"echo_last_user": true},
//!   {"error": "Overloaded"},
//!   {"error": "RateLimitRpm", "seconds": 2},
//!   {"error": "ContextOverflow", "limit": 262144, "requested": 300000},
//!   {"error": "ModelNotFound", "model": "kimi-latest"},
//!   {"raw_status": 502, "raw_body": "<html>bad gateway</html>"},
//!   {"text": "cut short", "drop_after": 1, "finish_reason": "length"},
//!   {"text": "whole, then silence", "linger": true}
//! ]
//! ```
//! Each entry is exactly one kind: text (`text`, `chunks`, `reasoning`), `tool_calls`,
//! `echo_last_user`, `error` or `raw_status`/`raw_body`. Rate-limit errors take `seconds`
//! (default 1); `ContextOverflow` needs `limit` and `requested`; `ModelNotFound` needs `model`.

use std::time::Duration;

use serde::Deserialize;

use crate::standin::{ApiError, Reply};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    text: Option<String>,
    chunks: Option<Vec<String>>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<ToolCall>>,
    echo_last_user: Option<bool>,
    error: Option<String>,
    seconds: Option<u32>,
    limit: Option<u32>,
    requested: Option<u32>,
    model: Option<String>,
    raw_status: Option<u16>,
    raw_body: Option<String>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    first_byte_delay_ms: Option<u64>,
    chunk_delay_ms: Option<u64>,
    drop_after: Option<usize>,
    /// No `[DONE]` after the answer; the connection stays open.
    linger: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCall {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Usage {
    prompt: u32,
    completion: u32,
    #[serde(default)]
    cached: u32,
}

/// Parses a script; the error names the entry and what is wrong with it.
pub fn parse_script(json: &str) -> Result<Vec<Reply>, String> {
    let entries: Vec<Entry> =
        serde_json::from_str(json).map_err(|e| format!("the script is not a list of replies: {e}"))?;
    entries.into_iter().enumerate().map(|(i, e)| entry_reply(e).map_err(|m| format!("script entry {i}: {m}"))).collect()
}

fn entry_reply(e: Entry) -> Result<Reply, String> {
    let is_message = e.text.is_some() || e.chunks.is_some() || e.reasoning.is_some();
    let is_raw = e.raw_status.is_some() || e.raw_body.is_some();
    let kinds = [is_message, e.tool_calls.is_some(), e.echo_last_user == Some(true), e.error.is_some(), is_raw];
    match kinds.iter().filter(|k| **k).count() {
        0 => {
            return Err(
                "says nothing to answer: give text, chunks, reasoning, tool_calls, echo_last_user, error or raw_status"
                    .to_string(),
            )
        }
        1 => {}
        _ => {
            return Err(
                "mixes kinds: use only one of text/chunks/reasoning, tool_calls, echo_last_user, error, raw_status/raw_body"
                    .to_string(),
            )
        }
    }
    let error_params = e.seconds.is_some() || e.limit.is_some() || e.requested.is_some() || e.model.is_some();
    if error_params && e.error.is_none() {
        return Err("seconds, limit, requested and model only go with error".to_string());
    }

    let mut reply = if is_message {
        let text = e.text.unwrap_or_default();
        let mut r = match &e.reasoning {
            Some(reasoning) => Reply::reasoning_then_text(reasoning, &text),
            None => Reply::text(&text),
        };
        if let Some(chunks) = &e.chunks {
            if !text.is_empty() {
                return Err("give text or chunks, not both".to_string());
            }
            let parts: Vec<&str> = chunks.iter().map(String::as_str).collect();
            r = r.chunks(&parts);
        }
        r
    } else if let Some(calls) = &e.tool_calls {
        if calls.is_empty() {
            return Err("tool_calls is empty".to_string());
        }
        let calls: Vec<(&str, &str)> = calls.iter().map(|c| (c.name.as_str(), c.arguments.as_str())).collect();
        Reply::tool_calls(&calls)
    } else if e.echo_last_user == Some(true) {
        Reply::echo_last_user()
    } else if let Some(name) = &e.error {
        Reply::error(api_error(name, e.seconds, e.limit, e.requested, e.model.clone())?)
    } else {
        let status = e.raw_status.ok_or("raw_body needs raw_status")?;
        Reply::raw(status, e.raw_body.as_deref().unwrap_or(""))
    };

    if let Some(u) = e.usage {
        reply = reply.usage(u.prompt, u.completion, u.cached);
    }
    if let Some(r) = &e.finish_reason {
        reply = reply.finish_reason(r);
    }
    if let Some(ms) = e.first_byte_delay_ms {
        reply = reply.first_byte_delay(Duration::from_millis(ms));
    }
    if let Some(ms) = e.chunk_delay_ms {
        reply = reply.chunk_delay(Duration::from_millis(ms));
    }
    if let Some(n) = e.drop_after {
        reply = reply.drop_after(n);
    }
    if e.linger == Some(true) {
        reply = reply.linger();
    }
    Ok(reply)
}

const ERROR_NAMES: &str = "ContextOverflow, InvalidTemperature, ContentFilter, InvalidAuthentication, \
IncorrectApiKey, PermissionDenied, ModelNotFound, RateLimitRpm, Concurrency, Tpm, Tpd, Overloaded, \
InsufficientBalance, UnexpectedOutput";

fn api_error(
    name: &str,
    seconds: Option<u32>,
    limit: Option<u32>,
    requested: Option<u32>,
    model: Option<String>,
) -> Result<ApiError, String> {
    let seconds = seconds.unwrap_or(1);
    Ok(match name {
        "ContextOverflow" => ApiError::ContextOverflow {
            limit: limit.ok_or("ContextOverflow needs limit")?,
            requested: requested.ok_or("ContextOverflow needs requested")?,
        },
        "InvalidTemperature" => ApiError::InvalidTemperature,
        "ContentFilter" => ApiError::ContentFilter,
        "InvalidAuthentication" => ApiError::InvalidAuthentication,
        "IncorrectApiKey" => ApiError::IncorrectApiKey,
        "PermissionDenied" => ApiError::PermissionDenied,
        "ModelNotFound" => ApiError::ModelNotFound { model: model.ok_or("ModelNotFound needs model")? },
        "RateLimitRpm" => ApiError::RateLimitRpm { seconds },
        "Concurrency" => ApiError::Concurrency { seconds },
        "Tpm" => ApiError::Tpm { seconds },
        "Tpd" => ApiError::Tpd { seconds },
        "Overloaded" => ApiError::Overloaded,
        "InsufficientBalance" => ApiError::InsufficientBalance,
        "UnexpectedOutput" => ApiError::UnexpectedOutput,
        other => return Err(format!("unknown error {other:?}; known: {ERROR_NAMES}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse_script(json).expect_err("the script should be refused")
    }

    #[test]
    fn every_kind_of_entry_parses() {
        let replies = parse_script(
            r#"[
              {"text": "fn main() {}", "first_byte_delay_ms": 300},
              {"chunks": ["fn ", "main"], "chunk_delay_ms": 50, "usage": {"prompt": 8, "completion": 2}},
              {"reasoning": "think", "text": "answer"},
              {"tool_calls": [{"name": "read_file", "arguments": "{}"}]},
              {"echo_last_user": true},
              {"error": "Overloaded"},
              {"error": "RateLimitRpm", "seconds": 2},
              {"error": "ContextOverflow", "limit": 10, "requested": 11},
              {"error": "ModelNotFound", "model": "kimi-latest"},
              {"raw_status": 502, "raw_body": "bad gateway"},
              {"text": "cut", "drop_after": 1, "finish_reason": "length"}
            ]"#,
        )
        .unwrap();
        assert_eq!(replies.len(), 11);
    }

    #[test]
    fn mistakes_are_named_with_their_entry() {
        assert!(err(r#"{"text": "x"}"#).contains("not a list of replies"));
        assert!(err(r#"[{"text": "x"}, {"txt": "y"}]"#).contains("unknown field `txt`"));
        assert_eq!(
            err(r#"[{"text": "x"}, {"text": "y", "error": "Overloaded"}]"#),
            "script entry 1: mixes kinds: use only one of text/chunks/reasoning, tool_calls, echo_last_user, error, raw_status/raw_body"
        );
        assert!(err(r#"[{"error": "Busy"}]"#).starts_with("script entry 0: unknown error \"Busy\""));
        assert_eq!(
            err(r#"[{"error": "ContextOverflow", "limit": 5}]"#),
            "script entry 0: ContextOverflow needs requested"
        );
        assert_eq!(err(r#"[{}]"#).split(':').next(), Some("script entry 0"));
        assert_eq!(
            err(r#"[{"text": "x", "seconds": 3}]"#),
            "script entry 0: seconds, limit, requested and model only go with error"
        );
    }
}
