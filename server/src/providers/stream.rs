//! Turning the `data:` payloads of a streamed answer into [`StreamEvent`]s and one final
//! [`ChatResponse`]. Pure: the HTTP side feeds it strings.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::error::{classify, host_of, status_for_error_type, ErrorContext, ProviderError};
use super::types::{ChatResponse, FinishReason, StreamEvent, ToolCall, Usage};

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
    /// Moonshot puts usage here, on the finishing chunk.
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// vLLM's newer reasoning parser calls it `reasoning`.
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Everything a streamed answer has said so far.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: String,
    model: String,
    content: String,
    reasoning: String,
    alternatives: BTreeMap<u32, String>,
    /// Keyed by the delta's `index`: only the first delta of a call carries its id.
    tool_calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    request_id: Option<String>,
}

impl StreamAccumulator {
    pub fn new(request_id: Option<String>) -> Self {
        StreamAccumulator { request_id, ..StreamAccumulator::default() }
    }

    /// Whether the finishing chunk (one with a `finish_reason`) has arrived.
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// Characters of answer and reasoning received, for error messages.
    pub fn received_chars(&self) -> usize {
        self.content.chars().count() + self.reasoning.chars().count()
    }

    /// Takes one `data:` payload (not `[DONE]`) and returns what it adds.
    pub fn on_data(&mut self, data: &str, ctx: &ErrorContext<'_>) -> Result<Vec<StreamEvent>, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(|e| ProviderError::MalformedResponse {
            host: host_of(ctx.base_url),
            detail: format!("a stream chunk is not JSON: {e}"),
            request_id: self.request_id.clone(),
        })?;
        // Servers report failures that happen after the headers inside the stream.
        if let Some(err) = value.get("error") {
            let kind = err.get("type").and_then(Value::as_str).unwrap_or("");
            return Err(classify(status_for_error_type(kind), data, ctx));
        }
        let chunk: Chunk = serde_json::from_value(value).map_err(|e| ProviderError::MalformedResponse {
            host: host_of(ctx.base_url),
            detail: format!("a stream chunk has an unexpected shape: {e}"),
            request_id: self.request_id.clone(),
        })?;

        if let Some(id) = chunk.id.filter(|id| !id.is_empty()) {
            self.id = id;
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }

        let mut events = Vec::new();
        for choice in chunk.choices {
            if choice.usage.is_some() {
                self.usage = choice.usage;
            }
            if choice.index != 0 {
                if let Some(text) = choice.delta.and_then(|d| d.content) {
                    self.alternatives.entry(choice.index).or_default().push_str(&text);
                }
                continue;
            }
            if let Some(delta) = choice.delta {
                self.apply_delta(delta, &mut events);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(FinishReason::parse(&reason));
            }
        }
        Ok(events)
    }

    fn apply_delta(&mut self, delta: Delta, events: &mut Vec<StreamEvent>) {
        if let Some(reasoning) = delta.reasoning_content.filter(|r| !r.is_empty()) {
            self.reasoning.push_str(&reasoning);
            events.push(StreamEvent::Reasoning(reasoning));
        }
        if let Some(content) = delta.content.filter(|c| !c.is_empty()) {
            self.content.push_str(&content);
            events.push(StreamEvent::Content(content));
        }
        for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let index = call.index.unwrap_or(position as u32);
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            let is_new = !self.tool_calls.contains_key(&index);
            let entry = self.tool_calls.entry(index).or_default();
            if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                entry.id = id;
            }
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                entry.name = name;
            }
            if is_new {
                events.push(StreamEvent::ToolCallStarted { index, id: entry.id.clone(), name: entry.name.clone() });
            }
            if let Some(fragment) = arguments.filter(|a| !a.is_empty()) {
                entry.arguments.push_str(&fragment);
                events.push(StreamEvent::ToolCallArguments { index, fragment });
            }
        }
    }

    /// The whole answer. `finish_reason` defaults to `stop` when the server ended the stream
    /// with `[DONE]` without naming one.
    pub fn into_response(self) -> ChatResponse {
        let tool_calls = self
            .tool_calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    // A tool result must name the call it answers.
                    call.id = format!("call_{index}");
                }
                call
            })
            .collect();
        ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            reasoning: self.reasoning,
            tool_calls,
            finish_reason: self.finish_reason.unwrap_or(FinishReason::Stop),
            alternatives: self.alternatives.into_values().collect(),
            usage: self.usage,
            request_id: self.request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::Endpoint;
    use super::*;

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            base_url: "https://api.moonshot.ai/v1",
            endpoint: Endpoint::Chat,
            model: "kimi-k2-turbo-preview",
            key: None,
            secret: None,
            request_id: None,
        }
    }

    fn feed(acc: &mut StreamAccumulator, chunks: &[&str]) -> Vec<StreamEvent> {
        chunks.iter().flat_map(|c| acc.on_data(c, &ctx()).unwrap()).collect()
    }

    #[test]
    fn moonshot_stream_with_usage_inside_the_choice() {
        let mut acc = StreamAccumulator::new(Some("rid".into()));
        let events = feed(
            &mut acc,
            &[
                r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"fn "},"finish_reason":null}]}"#,
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"main"},"finish_reason":null}]}"#,
            ],
        );
        assert_eq!(events, vec![StreamEvent::Content("fn ".into()), StreamEvent::Content("main".into())]);
        assert!(!acc.finished());
        feed(
            &mut acc,
            &[
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":8,"completion_tokens":11,"total_tokens":19,"cached_tokens":8}}]}"#,
            ],
        );
        assert!(acc.finished());
        let response = acc.into_response();
        assert_eq!(response.content, "fn main");
        assert_eq!(response.model, "kimi-k2-turbo-preview");
        assert_eq!(response.finish_reason, FinishReason::Stop);
        assert_eq!(response.usage.unwrap().cached_tokens, 8);
        assert_eq!(response.request_id.as_deref(), Some("rid"));
    }

    #[test]
    fn openai_style_usage_chunk_with_empty_choices() {
        let mut acc = StreamAccumulator::new(None);
        feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}"#,
            ],
        );
        let r = acc.into_response();
        assert_eq!(r.finish_reason, FinishReason::Length);
        assert_eq!(r.usage, Some(Usage { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4, cached_tokens: 2 }));
    }

    #[test]
    fn reasoning_comes_before_content() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"reasoning":"ing"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"answer"},"finish_reason":"stop"}]}"#,
            ],
        );
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("think".into()),
                StreamEvent::Reasoning("ing".into()),
                StreamEvent::Content("answer".into()),
            ]
        );
        let r = acc.into_response();
        assert_eq!(r.reasoning, "thinking");
        assert_eq!(r.content, "answer");
    }

    #[test]
    fn tool_calls_are_keyed_by_index() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"functions.read_file:0","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"functions.grep:1","type":"function","function":{"name":"grep","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            ],
        );
        assert_eq!(
            events[0],
            StreamEvent::ToolCallStarted { index: 0, id: "functions.read_file:0".into(), name: "read_file".into() }
        );
        assert_eq!(events[2], StreamEvent::ToolCallArguments { index: 0, fragment: "{\"path\":".into() });
        let r = acc.into_response();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.tool_calls,
            vec![
                ToolCall {
                    id: "functions.read_file:0".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"a"}"#.into()
                },
                ToolCall { id: "functions.grep:1".into(), name: "grep".into(), arguments: "{}".into() }
            ]
        );
    }

    #[test]
    fn extra_choices_become_alternatives() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
                r#"{"choices":[{"index":1,"delta":{"content":"c"},"finish_reason":"stop"},{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ],
        );
        assert_eq!(events, vec![StreamEvent::Content("a".into())]);
        let r = acc.into_response();
        assert_eq!(r.content, "a");
        assert_eq!(r.alternatives, vec!["bc".to_string()]);
    }

    #[test]
    fn errors_inside_the_stream_are_typed() {
        let mut acc = StreamAccumulator::new(None);
        let err = acc
            .on_data(
                r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"engine_overloaded_error"}}"#,
                &ctx(),
            )
            .unwrap_err();
        assert!(matches!(err, ProviderError::Overloaded { .. }));
        let err = acc.on_data("{not json", &ctx()).unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }));
        assert!(err.to_string().contains("not JSON"));
    }
}
