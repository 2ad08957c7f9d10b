//! Requests and responses of the OpenAI-compatible chat API, in the shapes Moonshot accepts.
//!
//! Callers build these with plain Rust values; the wire JSON is produced by
//! [`ChatRequest::wire_body`] (and [`ChatRequest::to_wire`], its `Value` twin) so that Moonshot's
//! constraints (stop-string limits, omitted empty content next to tool calls, the `thinking`
//! switch) are enforced in one place.

use base64::Engine as _;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// How the server is told to continue a last message marked [`Message::partial`]; the
    /// router sets it per provider.
    pub prefill: Prefill,
}

/// How a server is asked to continue the text of the last, assistant, message instead of
/// answering it: each server family names partial mode differently, and one that does not
/// understand the request's way closes that message and starts an answer of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prefill {
    /// Moonshot's partial mode: `"partial": true` on the message.
    #[default]
    Partial,
    /// vLLM's and SGLang's: `"continue_final_message": true` and `"add_generation_prompt":
    /// false` on the request. Their chat templates otherwise end the message and open a new turn,
    /// and a `partial` key on a message is ignored.
    ContinueFinalMessage,
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

    /// The JSON body for `POST /chat/completions`, as a value (for printing and inspection).
    /// Derived from the same `WireRequest` as [`ChatRequest::wire_body`], so the two cannot
    /// disagree.
    pub fn to_wire(&self, stream: bool) -> Result<Value, InvalidRequest> {
        serde_json::to_value(self.wire(Some(stream))?).map_err(|e| InvalidRequest(e.to_string()))
    }

    /// The bytes of [`ChatRequest::to_wire`], written straight from the request: the prompt is
    /// copied once, into the body, rather than into a `Value` first.
    pub fn wire_body(&self, stream: bool) -> Result<Vec<u8>, InvalidRequest> {
        self.wire(Some(stream))?.to_bytes()
    }

    /// The body for Moonshot's token-count route: the chat body without `stream`.
    pub(crate) fn token_count_body(&self) -> Result<Vec<u8>, InvalidRequest> {
        self.wire(None)?.to_bytes()
    }

    fn wire(&self, stream: Option<bool>) -> Result<WireRequest<'_>, InvalidRequest> {
        if !self.tools.is_empty() {
            validate_tools(&self.tools)?;
        }
        let continues =
            self.prefill == Prefill::ContinueFinalMessage && self.messages.last().is_some_and(|m| m.partial);
        Ok(WireRequest {
            add_generation_prompt: continues.then_some(false),
            continue_final_message: continues.then_some(true),
            max_tokens: self.max_tokens,
            messages: WireMessages { messages: &self.messages, partial_key: !continues },
            model: &self.model,
            n: self.n,
            response_format: self.response_format_json.then_some(TypeTag { kind: "json_object" }),
            stop: kept_stops(&self.stop),
            stream,
            // Moonshot puts usage in the finishing chunk anyway; OpenAI-style servers need this
            // to send it at all.
            stream_options: (stream == Some(true)).then_some(StreamOptions { include_usage: true }),
            temperature: self.temperature.map(Decimal),
            thinking: self.thinking.map(|on| TypeTag { kind: if on { "enabled" } else { "disabled" } }),
            tool_choice: self.tool_choice.map(|choice| match choice {
                ToolChoice::Auto => "auto",
                ToolChoice::None => "none",
            }),
            tools: &self.tools,
            top_p: self.top_p.map(Decimal),
        })
    }
}

/// The chat body, borrowing from the [`ChatRequest`]. Fields are in alphabetical order, like
/// every object below: the order a `serde_json::Value` gives its keys, which is how the body
/// was built before it was written directly, so the bytes on the wire stayed the same.
#[derive(Serialize)]
struct WireRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    add_generation_prompt: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continue_final_message: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    messages: WireMessages<'a>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<TypeTag>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<TypeTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "<[ToolSpec]>::is_empty")]
    tools: &'a [ToolSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<Decimal>,
}

impl WireRequest<'_> {
    fn to_bytes(&self) -> Result<Vec<u8>, InvalidRequest> {
        // Sized up front: growing a 10 KiB body from serde_json's 128 bytes copies it about
        // seven times over. Escapes (a `\n` per line of code) take a little more than the text.
        let text: usize = self.messages.messages.iter().map(Message::wire_len).sum();
        let mut out = Vec::with_capacity(256 + text + text / 16);
        serde_json::to_writer(&mut out, self).map_err(|e| InvalidRequest(e.to_string()))?;
        Ok(out)
    }
}

/// The messages of a [`WireRequest`], with or without the `partial` key ([`Prefill`]).
struct WireMessages<'a> {
    messages: &'a [Message],
    partial_key: bool,
}

impl Serialize for WireMessages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.messages.iter().map(|m| WireMessage { message: m, partial_key: self.partial_key }))
    }
}

struct WireMessage<'a> {
    message: &'a Message,
    partial_key: bool,
}

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.message.write(serializer, self.partial_key)
    }
}

/// `{"type": …}`: `response_format` and `thinking`.
#[derive(Serialize)]
struct TypeTag {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// An `f32` setting as the decimal the user wrote: written as an `f32` widened to `f64`, 0.6
/// would go out as 0.6000000238418579, which a model that allows "only 0.6" refuses.
struct Decimal(f32);

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.to_string().parse::<f64>() {
            Ok(decimal) => serializer.serialize_f64(decimal),
            Err(_) => serializer.serialize_f32(self.0),
        }
    }
}

/// Keeps the stop strings Moonshot will accept: non-empty, unique, at most five, each cut to 32
/// bytes on a character boundary. A shortened stop string stops the model a little earlier, which
/// is safer than letting it run past the point the caller wanted to stop at.
pub fn sanitize_stop(stop: &[String]) -> Vec<String> {
    kept_stops(stop).into_iter().map(str::to_string).collect()
}

/// [`sanitize_stop`], borrowing: the body only needs the text.
fn kept_stops(stop: &[String]) -> Vec<&str> {
    let mut kept: Vec<&str> = Vec::new();
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
        if kept.contains(&cut) {
            continue;
        }
        if kept.len() == MAX_STOP_SEQUENCES {
            tracing::warn!(
                dropped = %cut.escape_debug(),
                "more than {MAX_STOP_SEQUENCES} stop sequences; extra ones dropped"
            );
            continue;
        }
        kept.push(cut);
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

// The objects below list their keys alphabetically, as `WireRequest` explains.

#[derive(Serialize)]
struct TextPart<'a> {
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ImagePart<'a> {
    image_url: ImageLink<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ImageLink<'a> {
    url: &'a str,
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentPart::Text(text) => TextPart { text, kind: "text" }.serialize(serializer),
            ContentPart::ImageUrl(url) => {
                ImagePart { image_url: ImageLink { url }, kind: "image_url" }.serialize(serializer)
            }
        }
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
    /// Bytes of the strings this message puts in a body, to size the body's buffer.
    fn wire_len(&self) -> usize {
        let content = match &self.content {
            Content::Text(t) => t.len(),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text(t) | ContentPart::ImageUrl(t) => t.len() + 32,
                })
                .sum(),
        };
        let calls: usize = self.tool_calls.iter().map(|c| c.arguments.len() + c.id.len() + c.name.len() + 64).sum();
        content + calls + self.reasoning_content.as_ref().map_or(0, String::len) + 32
    }

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
        self.write(serializer, true)
    }
}

impl Message {
    /// The message's object; `partial_key: false` leaves out `"partial"` for a server told to
    /// continue the message another way ([`Prefill`]).
    fn write<S: Serializer>(&self, serializer: S, partial_key: bool) -> Result<S::Ok, S::Error> {
        // Keys alphabetically, as `WireRequest` explains.
        let mut map = serializer.serialize_map(None)?;
        // Empty text next to tool calls is a 400 on Moonshot; the field must be absent.
        if !self.content.is_empty() || self.tool_calls.is_empty() {
            map.serialize_entry("content", &self.content)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        if self.partial && partial_key {
            map.serialize_entry("partial", &true)?;
        }
        if let Some(reasoning) = &self.reasoning_content {
            map.serialize_entry("reasoning_content", reasoning)?;
        }
        map.serialize_entry("role", self.role.as_str())?;
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
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

#[derive(Serialize)]
struct Typed<T> {
    function: T,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct FunctionSpec<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a Value>,
}

impl Serialize for ToolSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (kind, function) = match self {
            ToolSpec::Function { name, description, parameters } => {
                ("function", FunctionSpec { description: Some(description), name, parameters: Some(parameters) })
            }
            ToolSpec::WebSearch => {
                ("builtin_function", FunctionSpec { description: None, name: WEB_SEARCH_TOOL, parameters: None })
            }
        };
        Typed { function, kind }.serialize(serializer)
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
        WireToolCall { function: CalledFunction { arguments: &self.arguments, name: &self.name }, id: &self.id, kind }
            .serialize(serializer)
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    function: CalledFunction<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct CalledFunction<'a> {
    arguments: &'a str,
    name: &'a str,
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
    /// Text of choice `index` ≥ 1, when the request asked for `n` > 1 (choice 0's is `Content`).
    Alternative {
        index: u32,
        text: String,
    },
    /// Choice `index` has its finish reason: no more of its text will come. With `n` > 1 the
    /// choices finish one by one, each for its own reason (one may run out of tokens while
    /// another stops), and `Done` only follows the last.
    ChoiceFinished {
        index: u32,
        reason: FinishReason,
    },
    ToolCallStarted {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: u32,
        fragment: String,
    },
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    fn everything_set() -> ChatRequest {
        let call = ToolCall {
            id: "functions.read_file:0".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a"}"#.into(),
        };
        let messages = vec![
            Message::system("Be \"brief\".\tNo <CURSOR>\\ tags\u{1}."),
            Message::user_parts(vec![
                ContentPart::text("what is this? é€"),
                ContentPart::image("image/png", b"\x89PNG"),
            ]),
            Message::assistant_tool_calls("", Some("I need the file".into()), vec![call]),
            Message::tool_result("functions.read_file:0", "read_file", "fn main() {}\r\n"),
            Message::user("complete"),
            Message::assistant_partial("fn main("),
        ];
        ChatRequest {
            temperature: Some(0.6),
            top_p: Some(0.95),
            max_tokens: Some(64),
            stop: ["\n\n", "", "\n\n", "</code_window>", &"é".repeat(20)].iter().map(|s| s.to_string()).collect(),
            n: Some(2),
            tools: vec![
                ToolSpec::function(
                    "read_file",
                    "Read a file",
                    json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
                ),
                ToolSpec::WebSearch,
            ],
            tool_choice: Some(ToolChoice::Auto),
            response_format_json: true,
            thinking: Some(false),
            ..ChatRequest::new("kimi-k2.5", messages)
        }
    }

    #[test]
    fn every_field_goes_out_in_the_exact_bytes_it_always_had() {
        // Keys alphabetically at every level, decimals as written, the 40-byte stop string cut
        // to 32, `content` absent next to tool calls: the body as it went out when it was built
        // as a `Value`.
        let expected = concat!(
            r#"{"max_tokens":64,"messages":["#,
            r#"{"content":"Be \"brief\".\tNo <CURSOR>\\ tags\u0001.","role":"system"},"#,
            r#"{"content":[{"text":"what is this? é€","type":"text"},"#,
            r#"{"image_url":{"url":"data:image/png;base64,iVBORw=="},"type":"image_url"}],"role":"user"},"#,
            r#"{"reasoning_content":"I need the file","role":"assistant","tool_calls":[{"function":"#,
            r#"{"arguments":"{\"path\":\"a\"}","name":"read_file"},"id":"functions.read_file:0","type":"function"}]},"#,
            r#"{"content":"fn main() {}\r\n","name":"read_file","role":"tool","tool_call_id":"functions.read_file:0"},"#,
            r#"{"content":"complete","role":"user"},"#,
            r#"{"content":"fn main(","partial":true,"role":"assistant"}],"#,
            r#""model":"kimi-k2.5","n":2,"response_format":{"type":"json_object"},"#,
            r#""stop":["\n\n","</code_window>","éééééééééééééééé"],"#,
            r#""stream":true,"stream_options":{"include_usage":true},"temperature":0.6,"#,
            r#""thinking":{"type":"disabled"},"tool_choice":"auto","#,
            r#""tools":[{"function":{"description":"Read a file","name":"read_file","#,
            r#""parameters":{"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"}},"#,
            r#""type":"function"},{"function":{"name":"$web_search"},"type":"builtin_function"}],"#,
            r#""top_p":0.95}"#,
        );
        let req = everything_set();
        let body = req.wire_body(true).unwrap();
        assert_eq!(String::from_utf8(body.clone()).unwrap(), expected);
        // The `Value` twin holds the same document, and writes the same bytes.
        let value = req.to_wire(true).unwrap();
        assert_eq!(value, serde_json::from_slice::<Value>(&body).unwrap());
        assert_eq!(serde_json::to_vec(&value).unwrap(), body);
    }

    #[test]
    fn a_body_that_is_not_streamed_or_counts_tokens_says_so() {
        let req = everything_set();
        let plain: Value = serde_json::from_slice(&req.wire_body(false).unwrap()).unwrap();
        assert_eq!(plain["stream"], json!(false));
        assert!(plain.get("stream_options").is_none());
        let count: Value = serde_json::from_slice(&req.token_count_body().unwrap()).unwrap();
        let mut expected = plain;
        expected.as_object_mut().unwrap().remove("stream");
        assert_eq!(count, expected);
    }

    #[test]
    fn a_prefix_is_continued_by_partial_mode_or_by_continue_final_message() {
        let messages = vec![Message::user("complete"), Message::assistant_partial("fn main(")];
        let partial = ChatRequest::new("m", messages.clone());
        assert_eq!(
            String::from_utf8(partial.wire_body(true).unwrap()).unwrap(),
            r#"{"messages":[{"content":"complete","role":"user"},{"content":"fn main(","partial":true,"role":"assistant"}],"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
        );
        let continued = ChatRequest { prefill: Prefill::ContinueFinalMessage, ..ChatRequest::new("m", messages) };
        assert_eq!(
            String::from_utf8(continued.wire_body(true).unwrap()).unwrap(),
            r#"{"add_generation_prompt":false,"continue_final_message":true,"messages":[{"content":"complete","role":"user"},{"content":"fn main(","role":"assistant"}],"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
        );
        // A request that ends in no prefix (chat, an action) is the same either way: a server
        // told to continue would otherwise continue the user's message.
        let chat =
            ChatRequest { prefill: Prefill::ContinueFinalMessage, ..ChatRequest::new("m", vec![Message::user("hi")]) };
        assert_eq!(wire(&chat), wire(&ChatRequest::new("m", vec![Message::user("hi")])));
    }

    #[test]
    fn temperatures_go_out_as_written() {
        let req = ChatRequest { temperature: Some(0.6), top_p: Some(0.95), ..ChatRequest::new("m", vec![]) };
        let text = serde_json::to_string(&wire(&req)).unwrap();
        assert!(text.contains(r#""temperature":0.6,"#) || text.contains(r#""temperature":0.6}"#), "{text}");
        assert!(text.contains(r#""top_p":0.95"#), "{text}");
        for (setting, written) in
            [(0.1, "0.1"), (0.3, "0.3"), (0.7, "0.7"), (1.0, "1.0"), (0.0, "0.0"), (0.125, "0.125")]
        {
            let req = ChatRequest { temperature: Some(setting), ..ChatRequest::new("m", vec![]) };
            let body = String::from_utf8(req.wire_body(false).unwrap()).unwrap();
            assert!(body.ends_with(&format!(r#""temperature":{written}}}"#)), "{body}");
        }
        // Not numbers in JSON: sent as null, as a `Value` would have it.
        let req = ChatRequest { temperature: Some(f32::NAN), ..ChatRequest::new("m", vec![]) };
        assert!(String::from_utf8(req.wire_body(false).unwrap()).unwrap().ends_with(r#""temperature":null}"#));
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
