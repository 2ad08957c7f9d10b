//! Requests and responses of the OpenAI-compatible chat API, in the shapes Moonshot accepts.
//!
//! Callers build these with plain Rust values; the wire JSON is produced by [`ChatRequest::to_wire`]
//! so that Moonshot's constraints (stop-string limits, omitted empty content next to tool calls,
//! the `thinking` switch) are enforced in one place.

use base64::Engine as _;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Moonshot rejects more stop strings than this.
pub const MAX_STOP_SEQUENCES: usize = 5;
/// Moonshot rejects a stop string longer than this many bytes.
pub const MAX_STOP_BYTES: usize = 32;
/// Moonshot rejects a request with more tools than this.
pub const MAX_TOOLS: usize = 128;

/// One chat completion request. `stream` and `stream_options` are not here: the client method
/// chosen (`chat` or `chat_stream`) decides them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u32>,
    /// At most [`MAX_STOP_SEQUENCES`], each at most [`MAX_STOP_BYTES`]; extra or longer ones are
    /// dropped or shortened (with a warning) rather than costing a 400.
    pub stop: Vec<String>,
    pub n: Option<u32>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: Option<ToolChoice>,
    pub response_format_json: bool,
    /// `Some(false)` turns thinking off on models where it is on by default (K2.5); `None` leaves
    /// the model's default.
    pub thinking: Option<bool>,
}

/// Moonshot accepts only these two; `required` is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
}

/// A request that cannot be sent as built. Checked before any network traffic so that the user
/// sees which tool is wrong instead of an opaque 400.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRequest(pub String);

impl ChatRequest {
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest { model: model.into(), messages, ..ChatRequest::default() }
    }

    /// The JSON body for `POST /chat/completions`.
    pub fn to_wire(&self, stream: bool) -> Result<Value, InvalidRequest> {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert(
            "messages".into(),
            serde_json::to_value(&self.messages).map_err(|e| InvalidRequest(e.to_string()))?,
        );
        if let Some(t) = self.temperature {
            body.insert("temperature".into(), decimal_json(t));
        }
        if let Some(p) = self.top_p {
            body.insert("top_p".into(), decimal_json(p));
        }
        if let Some(m) = self.max_tokens {
            body.insert("max_tokens".into(), json!(m));
        }
        let stop = sanitize_stop(&self.stop);
        if !stop.is_empty() {
            body.insert("stop".into(), json!(stop));
        }
        if let Some(n) = self.n {
            body.insert("n".into(), json!(n));
        }
        if !self.tools.is_empty() {
            validate_tools(&self.tools)?;
            body.insert("tools".into(), serde_json::to_value(&self.tools).map_err(|e| InvalidRequest(e.to_string()))?);
        }
        if let Some(choice) = self.tool_choice {
            let value = match choice {
                ToolChoice::Auto => "auto",
                ToolChoice::None => "none",
            };
            body.insert("tool_choice".into(), json!(value));
        }
        if self.response_format_json {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        if let Some(on) = self.thinking {
            let kind = if on { "enabled" } else { "disabled" };
            body.insert("thinking".into(), json!({ "type": kind }));
        }
        body.insert("stream".into(), json!(stream));
        if stream {
            // Moonshot puts usage in the finishing chunk anyway; OpenAI-style servers need this
            // to send it at all.
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Ok(Value::Object(body))
    }
}

/// Keeps the stop strings Moonshot will accept: non-empty, unique, at most five, each cut to 32
/// bytes on a character boundary. A shortened stop string stops the model a little earlier, which
/// is safer than letting it run past the point the caller wanted to stop at.
pub fn sanitize_stop(stop: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for s in stop {
        if s.is_empty() {
            continue;
        }
        let mut cut = s.as_str();
        if cut.len() > MAX_STOP_BYTES {
            let mut end = MAX_STOP_BYTES;
            while !cut.is_char_boundary(end) {
                end -= 1;
            }
            cut = &cut[..end];
            tracing::warn!(original_bytes = s.len(), "stop sequence longer than {MAX_STOP_BYTES} bytes was shortened");
        }
        if kept.iter().any(|k| k == cut) {
            continue;
        }
        if kept.len() == MAX_STOP_SEQUENCES {
            tracing::warn!(
                dropped = %cut.escape_debug(),
                "more than {MAX_STOP_SEQUENCES} stop sequences; extra ones dropped"
            );
            continue;
        }
        kept.push(cut.to_string());
    }
    kept
}

fn validate_tools(tools: &[ToolSpec]) -> Result<(), InvalidRequest> {
    if tools.len() > MAX_TOOLS {
        return Err(InvalidRequest(format!(
            "{} tools were offered to the model; the API accepts at most {MAX_TOOLS}",
            tools.len()
        )));
    }
    for tool in tools {
        if let ToolSpec::Function { name, .. } = tool {
            if !is_valid_tool_name(name) {
                return Err(InvalidRequest(format!(
                    "tool name {name:?} is not accepted by the API: it must start with a letter or \
                     `_`, continue with letters, digits, `-` or `_`, and be 3 to 64 characters long"
                )));
            }
        }
    }
    Ok(())
}

/// `^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$`
pub fn is_valid_tool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes[1..].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    fn is_empty(&self) -> bool {
        match self {
            Content::Text(t) => t.is_empty(),
            Content::Parts(p) => p.is_empty(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ContentPart {
    Text(String),
    /// A URL the API can read; for local images a `data:<mime>;base64,…` URL.
    ImageUrl(String),
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(text.into())
    }

    /// An inline image; `mime` such as `image/png`.
    pub fn image(mime: &str, bytes: &[u8]) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        ContentPart::ImageUrl(format!("data:{mime};base64,{encoded}"))
    }
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentPart::Text(text) => json!({"type": "text", "text": text}),
            ContentPart::ImageUrl(url) => json!({"type": "image_url", "image_url": {"url": url}}),
        }
        .serialize(serializer)
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(t) => serializer.serialize_str(t),
            Content::Parts(parts) => parts.serialize(serializer),
        }
    }
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Content,
    /// Partial mode: on the last assistant message, the model continues this text and its reply
    /// does not repeat it.
    pub partial: bool,
    /// Calls the assistant made (assistant messages only).
    pub tool_calls: Vec<ToolCall>,
    /// A thinking model's reasoning, sent back on assistant messages that carry tool calls.
    pub reasoning_content: Option<String>,
    /// For tool results: which call this answers.
    pub tool_call_id: Option<String>,
    /// For tool results: the tool's name.
    pub name: Option<String>,
}

impl Message {
    /// Characters of text this message carries (for estimates; images count nothing).
    pub fn text_len(&self) -> usize {
        let content = match &self.content {
            Content::Text(t) => t.chars().count(),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text(t) => t.chars().count(),
                    ContentPart::ImageUrl(_) => 0,
                })
                .sum(),
        };
        content + self.tool_calls.iter().map(|c| c.arguments.chars().count()).sum::<usize>()
    }

    fn plain(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Content::Text(text.into()),
            partial: false,
            tool_calls: Vec::new(),
            reasoning_content: None,
            tool_call_id: None,
            name: None,
        }
    }

    pub fn system(text: impl Into<String>) -> Self {
        Message::plain(Role::System, text)
    }

    pub fn user(text: impl Into<String>) -> Self {
        Message::plain(Role::User, text)
    }

    /// A user message with images next to text.
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Message { content: Content::Parts(parts), ..Message::plain(Role::User, "") }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Message::plain(Role::Assistant, text)
    }

    /// The prefix the model must continue (partial mode). Must be the last message.
    pub fn assistant_partial(prefix: impl Into<String>) -> Self {
        Message { partial: true, ..Message::plain(Role::Assistant, prefix) }
    }

    /// The assistant's turn that asked for tools, echoed back before the tool results.
    pub fn assistant_tool_calls(
        content: impl Into<String>,
        reasoning: Option<String>,
        tool_calls: Vec<ToolCall>,
    ) -> Self {
        Message {
            tool_calls,
            reasoning_content: reasoning.filter(|r| !r.is_empty()),
            ..Message::plain(Role::Assistant, content)
        }
    }

    /// The answer to one tool call.
    pub fn tool_result(tool_call_id: impl Into<String>, name: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            name: Some(name.into()),
            ..Message::plain(Role::Tool, content)
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", self.role.as_str())?;
        // Empty text next to tool calls is a 400 on Moonshot; the field must be absent.
        if !self.content.is_empty() || self.tool_calls.is_empty() {
            map.serialize_entry("content", &self.content)?;
        }
        if self.partial {
            map.serialize_entry("partial", &true)?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        if let Some(reasoning) = &self.reasoning_content {
            map.serialize_entry("reasoning_content", reasoning)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        map.end()
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolSpec {
    /// An ordinary function; `parameters` is a JSON schema whose properties each carry a `type`.
    Function { name: String, description: String, parameters: Value },
    /// Moonshot's built-in `$web_search` (requires thinking off).
    WebSearch,
}

impl ToolSpec {
    pub fn function(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        ToolSpec::Function { name: name.into(), description: description.into(), parameters }
    }
}

/// The name Moonshot gives its built-in web search.
pub const WEB_SEARCH_TOOL: &str = "$web_search";

impl Serialize for ToolSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolSpec::Function { name, description, parameters } => json!({
                "type": "function",
                "function": {"name": name, "description": description, "parameters": parameters}
            }),
            ToolSpec::WebSearch => {
                json!({"type": "builtin_function", "function": {"name": WEB_SEARCH_TOOL}})
            }
        }
        .serialize(serializer)
    }
}

/// A call the model asked for. `arguments` is the JSON text exactly as the model wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl ToolCall {
    /// The call, named `call_<position>` when the server sent it without an id: a tool result
    /// must name the call it answers.
    pub(crate) fn with_id_or_position(mut self, position: usize) -> ToolCall {
        if self.id.is_empty() {
            self.id = format!("call_{position}");
        }
        self
    }
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Only built-ins have `$` names (user tool names cannot contain it), and the API wants
        // them echoed back with their own type.
        let kind = if self.name.starts_with('$') { "builtin_function" } else { "function" };
        json!({
            "id": self.id,
            "type": kind,
            "function": {"name": self.name, "arguments": self.arguments}
        })
        .serialize(serializer)
    }
}

/// Token counts of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// Prompt tokens served from Moonshot's prefix cache (billed at the cache-hit price).
    pub cached_tokens: u32,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: u32,
    #[serde(default)]
    cached_tokens: Option<u32>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
}

#[derive(Deserialize)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u32>,
}

impl<'de> Deserialize<'de> for Usage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireUsage::deserialize(deserializer)?;
        let cached =
            wire.cached_tokens.or_else(|| wire.prompt_tokens_details.and_then(|d| d.cached_tokens)).unwrap_or(0);
        let total =
            if wire.total_tokens == 0 { wire.prompt_tokens + wire.completion_tokens } else { wire.total_tokens };
        Ok(Usage {
            prompt_tokens: wire.prompt_tokens,
            completion_tokens: wire.completion_tokens,
            total_tokens: total,
            cached_tokens: cached,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// `max_tokens` or the context ran out: the answer is cut short.
    Length,
    ToolCalls,
    ContentFilter,
    Other(String),
}

impl FinishReason {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        }
    }
}

/// A whole answer, streamed or not.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    pub content: String,
    /// `reasoning_content` of thinking models; empty otherwise.
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    /// The texts of choices 1.. when the request asked for `n` > 1, in order; choice 0 is
    /// `content`.
    pub alternatives: Vec<String>,
    pub usage: Option<Usage>,
    /// `Msh-Request-Id` (or `X-Msh-Trace-Id`): what Moonshot support asks for.
    pub request_id: Option<String>,
}

/// What a streamed answer yields, in order. `Done` is always last on success.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Reasoning(String),
    Content(String),
    ToolCallStarted { index: u32, id: String, name: String },
    ToolCallArguments { index: u32, fragment: String },
    Done(ChatResponse),
}

/// One entry of `GET /models`. Capability fields appear only on newer deployments.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default)]
    pub owned_by: Option<String>,
    #[serde(default)]
    pub context_length: Option<u32>,
    #[serde(default)]
    pub supports_image_in: Option<bool>,
    #[serde(default)]
    pub supports_video_in: Option<bool>,
    #[serde(default)]
    pub supports_reasoning: Option<bool>,
}

/// The account balance (USD on api.moonshot.ai, CNY on api.moonshot.cn). Inference stops when
/// `available` is at or below zero.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Balance {
    #[serde(rename = "available_balance")]
    pub available: f64,
    #[serde(rename = "voucher_balance", default)]
    pub voucher: f64,
    #[serde(rename = "cash_balance", default)]
    pub cash: f64,
}

/// An `f32` setting as the decimal the user wrote: `json!(0.6f32)` would widen it to
/// 0.6000000238418579, which a model that allows "only 0.6" refuses.
pub(crate) fn decimal_json(v: f32) -> Value {
    v.to_string().parse::<f64>().map(|d| json!(d)).unwrap_or_else(|_| json!(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(req: &ChatRequest) -> Value {
        req.to_wire(true).unwrap()
    }

    #[test]
    fn minimal_request_sends_only_what_was_set() {
        let req = ChatRequest::new("kimi-k2-turbo-preview", vec![Message::user("hi")]);
        assert_eq!(
            wire(&req),
            json!({
                "model": "kimi-k2-turbo-preview",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
        let plain = req.to_wire(false).unwrap();
        assert_eq!(plain["stream"], json!(false));
        assert!(plain.get("stream_options").is_none());
    }

    #[test]
    fn optional_fields_take_moonshot_shapes() {
        let req = ChatRequest {
            temperature: Some(0.5),
            top_p: Some(0.75),
            max_tokens: Some(256),
            n: Some(2),
            tool_choice: Some(ToolChoice::None),
            response_format_json: true,
            thinking: Some(false),
            ..ChatRequest::new("m", vec![Message::user("x")])
        };
        let body = wire(&req);
        assert_eq!(body["temperature"], json!(0.5));
        assert_eq!(body["top_p"], json!(0.75));
        assert_eq!(body["max_tokens"], json!(256));
        assert_eq!(body["n"], json!(2));
        assert_eq!(body["tool_choice"], json!("none"));
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["thinking"], json!({"type": "disabled"}));
    }

    #[test]
    fn temperatures_go_out_as_written() {
        let req = ChatRequest { temperature: Some(0.6), top_p: Some(0.95), ..ChatRequest::new("m", vec![]) };
        let text = serde_json::to_string(&wire(&req)).unwrap();
        assert!(text.contains(r#""temperature":0.6,"#) || text.contains(r#""temperature":0.6}"#), "{text}");
        assert!(text.contains(r#""top_p":0.95"#), "{text}");
    }

    #[test]
    fn stop_sequences_are_cut_to_the_api_limits() {
        let long = "é".repeat(20); // 40 bytes, two per character
        let stop: Vec<String> =
            ["a", "", "b", "a", "c", "d", long.as_str(), "f", "g"].iter().map(|s| s.to_string()).collect();
        let kept = sanitize_stop(&stop);
        assert_eq!(kept.len(), 5);
        assert_eq!(&kept[..4], &["a", "b", "c", "d"]);
        assert_eq!(kept[4], "é".repeat(16));
        assert!(kept.iter().all(|s| s.len() <= MAX_STOP_BYTES));
        let req = ChatRequest { stop: vec![], ..ChatRequest::new("m", vec![]) };
        assert!(wire(&req).get("stop").is_none());
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let s = format!("{}{}", "a".repeat(31), "€"); // the € straddles byte 32
        assert_eq!(sanitize_stop(&[s]), vec!["a".repeat(31)]);
    }

    #[test]
    fn partial_mode_marks_the_last_assistant_message() {
        let req = ChatRequest::new("m", vec![Message::user("complete"), Message::assistant_partial("fn main(")]);
        assert_eq!(wire(&req)["messages"][1], json!({"role": "assistant", "content": "fn main(", "partial": true}));
    }

    #[test]
    fn tool_call_turn_omits_empty_content_and_echoes_reasoning() {
        let call = ToolCall {
            id: "functions.read_file:0".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a"}"#.into(),
        };
        let msg = Message::assistant_tool_calls("", Some("I need the file".into()), vec![call]);
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({
                "role": "assistant",
                "tool_calls": [{"id": "functions.read_file:0", "type": "function",
                    "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}],
                "reasoning_content": "I need the file"
            })
        );
        let result = Message::tool_result("functions.read_file:0", "read_file", "contents");
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({"role": "tool", "content": "contents",
                   "tool_call_id": "functions.read_file:0", "name": "read_file"})
        );
    }

    #[test]
    fn images_go_as_data_url_parts() {
        let msg =
            Message::user_parts(vec![ContentPart::text("what is this?"), ContentPart::image("image/png", b"\x89PNG")]);
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
            ]})
        );
    }

    #[test]
    fn tools_use_function_format_and_web_search_is_builtin() {
        let req = ChatRequest {
            tools: vec![
                ToolSpec::function(
                    "read_file",
                    "Read a file",
                    json!({"type": "object", "properties": {"path": {"type": "string"}}}),
                ),
                ToolSpec::WebSearch,
            ],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::new("m", vec![])
        };
        let body = wire(&req);
        assert_eq!(body["tools"][0]["type"], json!("function"));
        assert_eq!(body["tools"][0]["function"]["name"], json!("read_file"));
        assert_eq!(body["tools"][1], json!({"type": "builtin_function", "function": {"name": "$web_search"}}));
        assert_eq!(body["tool_choice"], json!("auto"));
        let call = ToolCall { id: "$web_search:0".into(), name: WEB_SEARCH_TOOL.into(), arguments: "{}".into() };
        assert_eq!(serde_json::to_value(&call).unwrap()["type"], json!("builtin_function"));
    }

    #[test]
    fn bad_tool_names_are_refused_before_sending() {
        let req = ChatRequest {
            tools: vec![ToolSpec::function("read file", "", json!({}))],
            ..ChatRequest::new("m", vec![])
        };
        let err = req.to_wire(true).unwrap_err();
        assert!(err.0.contains("\"read file\""), "{}", err.0);
        assert!(is_valid_tool_name("_ab"));
        assert!(is_valid_tool_name("get-weather_2"));
        assert!(!is_valid_tool_name("ab"));
        assert!(!is_valid_tool_name("1abc"));
        assert!(!is_valid_tool_name(&"a".repeat(65)));
        let too_many =
            ChatRequest { tools: vec![ToolSpec::function("abc", "", json!({})); 129], ..ChatRequest::new("m", vec![]) };
        assert!(too_many.to_wire(true).unwrap_err().0.contains("129"));
    }

    #[test]
    fn usage_reads_cached_tokens_flat_or_nested() {
        let flat: Usage = serde_json::from_value(json!({
            "prompt_tokens": 8, "completion_tokens": 11, "total_tokens": 19, "cached_tokens": 8
        }))
        .unwrap();
        assert_eq!(flat, Usage { prompt_tokens: 8, completion_tokens: 11, total_tokens: 19, cached_tokens: 8 });
        let nested: Usage = serde_json::from_value(json!({
            "prompt_tokens": 100, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 64}
        }))
        .unwrap();
        assert_eq!(nested.cached_tokens, 64);
        assert_eq!(nested.total_tokens, 105);
        let none: Usage = serde_json::from_value(json!({"prompt_tokens": 1, "completion_tokens": 1})).unwrap();
        assert_eq!(none.cached_tokens, 0);
    }

    #[test]
    fn models_and_balance_parse_with_missing_capabilities() {
        let m: ModelInfo = serde_json::from_value(json!({
            "id": "kimi-k2.5", "object": "model", "owned_by": "moonshot",
            "context_length": 262144, "supports_image_in": true, "supports_reasoning": true
        }))
        .unwrap();
        assert_eq!(m.context_length, Some(262144));
        assert_eq!(m.supports_image_in, Some(true));
        let old: ModelInfo = serde_json::from_value(json!({"id": "moonshot-v1-8k"})).unwrap();
        assert_eq!(old.context_length, None);
        let b: Balance = serde_json::from_value(json!({
            "available_balance": 49.58, "voucher_balance": 46.58, "cash_balance": 3.00
        }))
        .unwrap();
        assert_eq!(b.available, 49.58);
        assert_eq!(b.voucher, 46.58);
        assert_eq!(b.cash, 3.0);
    }
}
