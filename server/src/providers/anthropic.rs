//! The client for the Anthropic Messages API: Claude at `https://api.anthropic.com`, and
//! Moonshot's Anthropic-compatible endpoint `https://api.moonshot.ai/anthropic` (or `.cn`).
//!
//! It takes the same [`ChatRequest`] and yields the same [`StreamEvent`]s, [`ChatResponse`] and
//! [`ProviderError`]s as [`OpenAiCompatible`](super::OpenAiCompatible), so the router can put
//! either behind a model name. The mapping, in short:
//! - system messages → the top-level `system`; tool results → `tool_result` blocks in a user
//!   turn; tool calls → `tool_use` blocks; images → `image` blocks (base64 or URL);
//! - system messages anywhere in the conversation are joined into `system`, in order (the API
//!   has no system turns);
//! - a trailing assistant message (partial mode) → a prefill, which the answer continues; for
//!   models that refuse prefills (Claude 4.6 and later) the prefix goes in the user turn instead
//!   and a repeat of it is cut from the answer;
//! - `thinking_delta`s → [`StreamEvent::Reasoning`]; reasoning is not sent back on tool-call
//!   turns (a `Message` keeps no thinking signature), so thinking stays off while tool results
//!   are answered;
//! - whitespace-only stop strings are dropped (the API refuses them; the server's own stop
//!   detection still ends the line);
//! - usage: `input_tokens` counts only uncached input, so the prompt is input + cache writes +
//!   cache reads, and cache reads are the cached tokens.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::{
    classify, host_of, parse_context_overflow, parse_error_body, parse_retry_after, scrub, stated_wait, Endpoint,
    ErrorContext, Platform, ProviderError, RateLimit, MODEL_LIST,
};
use super::http::{self, checked_url, extra_headers, key_header, read_body, Answer, Call, MAX_BODY_BYTES};
use super::openai::{ChatStream, HttpPool, ProviderConfig};
use super::stream::{sse_events, whole_answer_events, Origin, SseDecoder};
use super::types::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, Message, ModelInfo, Role, StreamEvent, ToolCall,
    ToolChoice, ToolSpec, Usage,
};

/// The API version every request names (`anthropic-version`). An `extra_headers` entry of the
/// same name overrides it.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the Messages API; this is sent when the request sets none. Long
/// enough for a chat answer or a rewritten function, short enough not to run up a bill.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The smallest thinking budget the API accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;
/// The model list is paged; this many pages of 1000 is far more than any provider lists.
const MAX_MODEL_PAGES: usize = 20;

/// A client for one Anthropic-style provider. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Anthropic {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ProviderConfig,
    http: reqwest::Client,
    host: String,
    /// Models that refused a prefill once; their partial-mode requests go without one at once.
    no_prefill: Mutex<HashSet<String>>,
    /// The Messages route's URL, parsed on first use: every request but `/models` goes there.
    messages_url: OnceLock<reqwest::Url>,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("name", &self.inner.cfg.name)
            .field("base_url", &self.inner.cfg.base_url)
            .finish_non_exhaustive()
    }
}

/// A request's body with the bytes to send, built before they are needed
/// ([`Anthropic::stream_body`]).
#[derive(Debug)]
pub struct PreparedBody {
    wire: MessagesBody,
    bytes: Vec<u8>,
}

/// The JSON body of `POST /v1/messages`, and what the answer must have trimmed from its start.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagesBody {
    pub body: Value,
    pub continuation: Continuation,
    /// Whether the body ends in an assistant prefill (partial mode).
    pub has_prefill: bool,
}

/// How the answer to a partial-mode request is made to continue the caller's prefix exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Continuation {
    /// The API refuses a prefill that ends in whitespace, so it is sent trimmed; the model then
    /// usually writes that whitespace again, and it is removed from the start of the answer.
    pub trimmed_whitespace: String,
    /// For models that refuse prefills: the prefix, shown in the user turn instead, removed from
    /// the start of the answer if the model repeats it.
    pub echo: Option<String>,
}

/// What Claude 4.6 and later answer to a prefill ("This model does not support assistant
/// message prefill…"), and older models to a prefill next to tools ("…pre-filling the
/// `assistant` response is not supported").
fn is_prefill_refusal(e: &ProviderError) -> bool {
    match e {
        ProviderError::InvalidRequest { message, .. } => {
            let lower = message.to_ascii_lowercase();
            lower.contains("prefill") || lower.contains("pre-fill")
        }
        _ => false,
    }
}

/// Which route of the API a request went to (for error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Messages,
    Models,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Messages => "/v1/messages",
            Route::Models => "/v1/models",
        }
    }
}

impl Anthropic {
    /// `cfg.base_url` is the API's root, like `https://api.anthropic.com` or
    /// `https://api.moonshot.ai/anthropic`; a trailing `/v1` is accepted too.
    pub fn new(cfg: ProviderConfig, http: reqwest::Client) -> Self {
        let host = host_of(&cfg.base_url);
        let no_prefill = Mutex::new(HashSet::new());
        Anthropic { inner: Arc::new(Inner { cfg, http, host, no_prefill, messages_url: OnceLock::new() }) }
    }

    /// A client on a shared pool.
    pub fn with_pool(cfg: ProviderConfig, pool: &HttpPool) -> Self {
        Self::new(cfg, pool.client().clone())
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.cfg
    }

    /// The host part of the base URL, as used in messages.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// One answer, not streamed.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let (wire, answer, deadline) = self.send_messages(req, false).await?;
        let request_id = answer.request_id.clone();
        let bytes = read_body(answer.response, deadline, MAX_BODY_BYTES, &self.inner.host, &self.inner.cfg)
            .await
            .map_err(|e| e.with_request_id(request_id.as_deref()))?;
        self.parse_message(&bytes, &req.model, &wire.continuation, request_id)
    }

    /// Sends a Messages request. A model that refuses prefills gets the request again without
    /// one (the prefix then goes in the user turn), and is remembered so that later partial-mode
    /// requests to it skip the refused attempt.
    async fn send_messages(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(MessagesBody, Answer, Instant), ProviderError> {
        let body = self.body(req, stream)?;
        self.send_body(req, stream, body).await
    }

    /// The body of `req`, in partial mode unless the model is known to refuse prefills.
    fn body(&self, req: &ChatRequest, stream: bool) -> Result<PreparedBody, ProviderError> {
        let prefill = !self.inner.no_prefill.lock().unwrap_or_else(|e| e.into_inner()).contains(&req.model);
        let wire = to_wire_with(req, stream, prefill)?;
        let bytes = body_bytes(&wire)?;
        Ok(PreparedBody { wire, bytes })
    }

    async fn send_body(
        &self,
        req: &ChatRequest,
        stream: bool,
        body: PreparedBody,
    ) -> Result<(MessagesBody, Answer, Instant), ProviderError> {
        let PreparedBody { wire, bytes } = body;
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        match self.send(Method::POST, Route::Messages, Some(bytes), &req.model, deadline).await {
            Ok(answer) => Ok((wire, answer, deadline)),
            Err(e) if wire.has_prefill && is_prefill_refusal(&e) => {
                tracing::debug!(model = %req.model, "the model refuses prefills; sending the prefix in the user turn");
                self.inner.no_prefill.lock().unwrap_or_else(|e| e.into_inner()).insert(req.model.clone());
                let wire = to_wire_with(req, stream, false)?;
                let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
                let answer =
                    self.send(Method::POST, Route::Messages, Some(body_bytes(&wire)?), &req.model, deadline).await?;
                Ok((wire, answer, deadline))
            }
            Err(e) => Err(e),
        }
    }

    /// The body [`Anthropic::chat_stream_with`] sends for `req`, built ahead of time.
    pub fn stream_body(&self, req: &ChatRequest) -> Result<PreparedBody, ProviderError> {
        self.body(req, true)
    }

    /// One answer as a stream of events ending in [`StreamEvent::Done`]. Returns once the first
    /// event has arrived. Dropping the stream closes the connection.
    pub async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        self.chat_stream_with(req, None).await
    }

    /// [`Anthropic::chat_stream`], sending `body` when given: [`Anthropic::stream_body`] of
    /// this same request.
    pub async fn chat_stream_with(
        &self,
        req: &ChatRequest,
        body: Option<PreparedBody>,
    ) -> Result<ChatStream, ProviderError> {
        let started = Instant::now();
        let body = match body {
            Some(body) => body,
            None => self.stream_body(req)?,
        };
        let (wire, answer, deadline) = self.send_body(req, true, body).await?;
        let events: BoxStream<'static, Result<StreamEvent, ProviderError>> = if answer.is_json() {
            // A proxy that ignores `stream: true` answers with one JSON message.
            let request_id = answer.request_id.clone();
            let bytes = read_body(answer.response, deadline, MAX_BODY_BYTES, &self.inner.host, &self.inner.cfg)
                .await
                .map_err(|e| e.with_request_id(request_id.as_deref()))?;
            whole_answer_events(self.parse_message(&bytes, &req.model, &wire.continuation, request_id)?)
        } else {
            let origin = Origin { cfg: &self.inner.cfg, host: &self.inner.host, model: &req.model };
            let url = format!("{}{}", self.base(), Route::Messages.path());
            let decoder = MessageAccumulator::new(answer.request_id.clone(), wire.continuation, url);
            sse_events(answer, &origin, deadline, started, decoder)
        };
        ChatStream::start(events, self.inner.host.clone()).await
    }

    /// The models the key may use (`GET /v1/models`, every page).
    pub async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        let mut models = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_MODEL_PAGES {
            let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
            let query = match &after {
                Some(id) => format!("?limit=1000&after_id={id}"),
                None => "?limit=1000".to_string(),
            };
            let answer = self.send_to(Method::GET, Route::Models, &query, None, "", deadline).await?;
            let request_id = answer.request_id.clone();
            let bytes = read_body(answer.response, deadline, MAX_BODY_BYTES, &self.inner.host, &self.inner.cfg).await?;
            let page: ModelPage = serde_json::from_slice(&bytes)
                .map_err(|e| self.malformed(format!("the model list cannot be read: {e}"), request_id))?;
            let last = page.data.last().map(|m| m.id.clone());
            models.extend(page.data);
            match (page.has_more, page.last_id.or(last)) {
                (true, Some(id)) if after.as_deref() != Some(id.as_str()) => after = Some(id),
                _ => break,
            }
        }
        Ok(models)
    }

    fn malformed(&self, detail: String, request_id: Option<String>) -> ProviderError {
        ProviderError::MalformedResponse { host: self.inner.host.clone(), detail, request_id }
    }

    fn base(&self) -> &str {
        let base = self.inner.cfg.base_url.trim_end_matches('/');
        base.strip_suffix("/v1").unwrap_or(base)
    }

    fn url(&self, route: Route, query: &str) -> Result<reqwest::Url, ProviderError> {
        let cached = (route == Route::Messages && query.is_empty()).then_some(&self.inner.messages_url);
        if let Some(url) = cached.and_then(OnceLock::get) {
            return Ok(url.clone());
        }
        let url = checked_url(&self.inner.cfg, &format!("{}{}{query}", self.base(), route.path()))?;
        if let Some(cache) = cached {
            let _ = cache.set(url.clone());
        }
        Ok(url)
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let cfg = &self.inner.cfg;
        let mut headers = extra_headers(cfg)?;
        // An `extra_headers` entry of the same name wins.
        if !headers.contains_key("anthropic-version") {
            headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        }
        if let Some(key) = &cfg.api_key {
            headers.insert("x-api-key", key_header(key.expose())?);
            // Anthropic reads `Authorization: Bearer` as an OAuth token and refuses an API key
            // there; Moonshot's endpoint documents the bearer form (ANTHROPIC_AUTH_TOKEN) and
            // Kimi's the x-api-key form. Other hosts get both so either convention works.
            if !is_anthropic_host(&self.inner.host) {
                headers.insert(AUTHORIZATION, key_header(&format!("Bearer {}", key.expose()))?);
            }
        }
        Ok(headers)
    }

    async fn send(
        &self,
        method: Method,
        route: Route,
        body: Option<Vec<u8>>,
        model: &str,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        self.send_to(method, route, "", body, model, deadline).await
    }

    /// Sends one request and waits for its headers until `deadline`. Non-success answers come
    /// back as the matching [`ProviderError`].
    async fn send_to(
        &self,
        method: Method,
        route: Route,
        query: &str,
        body: Option<Vec<u8>>,
        model: &str,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(route, query)?;
        let headers = self.headers()?;
        let call = Call {
            cfg: &self.inner.cfg,
            host: &self.inner.host,
            method,
            path: route.path(),
            model,
            request_id_headers: REQUEST_ID_HEADERS,
        };
        let refusal = match http::send(&call, &self.inner.http, url, headers, body, deadline).await? {
            Ok(answer) => return Ok(answer),
            Err(refusal) => refusal,
        };
        let retry_after = retry_after_header(&refusal.headers);
        let ctx = self.inner.cfg.error_context(Endpoint::Chat, model, refusal.request_id.as_deref());
        let url = format!("{}{}", self.base(), route.path());
        let messages = route == Route::Messages;
        let mut error = classify_anthropic(refusal.status, &refusal.body, retry_after, &ctx, messages, &url);
        http::log_refusal(&call, &error, &refusal, ctx.secret);
        if http::wants_model_list(&error) && messages {
            http::offer_models(&mut error, Box::pin(self.models()).await);
        }
        Err(error)
    }

    fn parse_message(
        &self,
        bytes: &[u8],
        model: &str,
        continuation: &Continuation,
        request_id: Option<String>,
    ) -> Result<ChatResponse, ProviderError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| self.malformed(format!("the answer is not JSON: {e}"), request_id.clone()))?;
        if let Some(err) = value.get("error").filter(|e| e.is_object()) {
            let kind = err.get("type").and_then(Value::as_str).unwrap_or("");
            let ctx = self.inner.cfg.error_context(Endpoint::Chat, model, request_id.as_deref());
            let url = format!("{}{}", self.base(), Route::Messages.path());
            return Err(classify_anthropic(
                status_for_anthropic_type(kind),
                &value.to_string(),
                None,
                &ctx,
                true,
                &url,
            ));
        }
        let message: WireMessage = serde_json::from_value(value)
            .map_err(|e| self.malformed(format!("the answer has an unexpected shape: {e}"), request_id.clone()))?;
        Ok(message_to_response(message, continuation, request_id))
    }
}

fn is_anthropic_host(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name).to_ascii_lowercase();
    name == "anthropic.com" || name.ends_with(".anthropic.com")
}

/// Anthropic's `request-id`, else the Moonshot and generic ids.
const REQUEST_ID_HEADERS: &[&str] = &["request-id", "msh-request-id", "x-msh-trace-id", "x-request-id"];

/// `retry-after` in seconds (Anthropic sends whole seconds on 429s).
fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim().parse::<f64>().ok()?;
    stated_wait(value)
}

// ---------------------------------------------------------------------------------------------
// Request mapping

/// The bytes of a Messages body. Its turns are merged and edited as values (prefill trimming,
/// continuation notes), so unlike the chat body it goes through a `Value` first.
fn body_bytes(wire: &MessagesBody) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(&wire.body).map_err(|e| ProviderError::Unsendable { reason: e.to_string() })
}

/// The Messages API body for `req`. Fails, before anything is sent, on what the API cannot
/// express: Moonshot's built-in `$web_search`, JSON mode, and several choices (`n` > 1).
pub fn to_wire(req: &ChatRequest, stream: bool) -> Result<MessagesBody, ProviderError> {
    to_wire_with(req, stream, true)
}

/// Like [`to_wire`]; with `prefill` false a partial-mode prefix goes at the end of the user turn
/// instead of in a final assistant turn, for models that refuse prefills.
pub fn to_wire_with(req: &ChatRequest, stream: bool, prefill: bool) -> Result<MessagesBody, ProviderError> {
    let unsendable = |reason: String| ProviderError::Unsendable { reason };
    if req.tools.iter().any(|t| matches!(t, ToolSpec::WebSearch)) {
        return Err(unsendable(
            "Moonshot's built-in $web_search tool is not available through the Anthropic Messages API; \
             route this request to a Moonshot (OpenAI-compatible) model"
                .to_string(),
        ));
    }
    if req.response_format_json {
        return Err(unsendable(
            "JSON mode (response_format) is not available through the Anthropic Messages API; route this \
             request to an OpenAI-compatible model"
                .to_string(),
        ));
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsendable(
            "the Anthropic Messages API returns one answer per request; several choices (n > 1) need an \
             OpenAI-compatible model"
                .to_string(),
        ));
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    // With thinking on, the API requires the assistant turn that called tools to start with its
    // signed thinking block, which a `Message` does not keep; the API's own advice is to leave
    // thinking off for such a request, which is what happens here.
    let in_tool_loop = req.messages.last().is_some_and(|m| m.role == Role::Tool);
    let thinking_on = req.thinking == Some(true) && !in_tool_loop;
    if req.thinking == Some(true) && in_tool_loop {
        tracing::debug!("thinking left off while answering tool results (no thinking signature to send back)");
    }
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).max(1);
    let budget = if thinking_on {
        // Thinking spends from max_tokens: the budget is half of it (at least the API's minimum),
        // and max_tokens grows when it would leave no room for the answer.
        let budget = (max_tokens / 2).max(MIN_THINKING_BUDGET);
        if max_tokens <= budget {
            max_tokens += budget;
        }
        Some(budget)
    } else {
        None
    };
    body.insert("max_tokens".into(), json!(max_tokens));

    let (system, messages, continuation) = map_messages(&req.messages, prefill);
    let has_prefill = messages.last().is_some_and(|m| m["role"] == "assistant");
    match system.len() {
        0 => {}
        1 => {
            body.insert("system".into(), json!(system[0]));
        }
        _ => {
            let blocks: Vec<Value> = system.iter().map(|s| json!({"type": "text", "text": s})).collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }
    body.insert("messages".into(), Value::Array(messages));

    // With thinking on the API accepts only the default temperature.
    if let Some(t) = req.temperature.filter(|_| !thinking_on) {
        body.insert("temperature".into(), decimal(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), decimal(p));
    }
    let stop = stop_sequences(&req.stop);
    if !stop.is_empty() {
        body.insert("stop_sequences".into(), json!(stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .filter_map(|t| match t {
                ToolSpec::Function { name, description, parameters } => {
                    Some(json!({"name": name, "description": description, "input_schema": parameters}))
                }
                ToolSpec::WebSearch => None,
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = req.tool_choice {
        let kind = match choice {
            ToolChoice::Auto => "auto",
            ToolChoice::None => "none",
        };
        body.insert("tool_choice".into(), json!({"type": kind}));
    }
    match (req.thinking, budget) {
        (_, Some(budget)) => {
            body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
        }
        (Some(false), None) => {
            body.insert("thinking".into(), json!({"type": "disabled"}));
        }
        _ => {}
    }
    body.insert("stream".into(), json!(stream));
    Ok(MessagesBody { body: Value::Object(body), continuation, has_prefill })
}

/// An `f32` setting as the decimal the user wrote: widening 0.6f32 to f64 would send
/// 0.6000000238418579, which a server that allows exactly 0.6 refuses.
fn decimal(v: f32) -> Value {
    v.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

/// Stop strings the API accepts: non-empty, not whitespace only (a 400 otherwise: "each stop
/// sequence must contain non-whitespace"), unique. A dropped `"\n"` costs nothing here: the
/// server's own stop detection closes the stream at the line end.
fn stop_sequences(stop: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for s in stop {
        if s.trim().is_empty() {
            continue;
        }
        if !kept.contains(s) {
            kept.push(s.clone());
        }
    }
    kept
}

/// Text put after the user's words when a model refuses prefills; the prefix follows it.
pub const CONTINUE_INSTRUCTION: &str =
    "Your reply is inserted directly after the following text, which is already written. Do not repeat it; \
     continue it exactly where it ends:";

/// System texts, the user/assistant turns, and how the answer continues a final prefill.
/// Consecutive messages of one role become one turn (tool results and the user's next words
/// share the user turn that must follow a `tool_use`).
fn map_messages(messages: &[Message], prefill: bool) -> (Vec<String>, Vec<Value>, Continuation) {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut continuation = Continuation::default();
    let last = messages.len().saturating_sub(1);
    for (i, m) in messages.iter().enumerate() {
        let (role, mut blocks) = match m.role {
            Role::System => {
                let text = content_text(&m.content);
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::User => ("user", content_blocks(&m.content)),
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                ("user", vec![json!({"type": "tool_result", "tool_use_id": id, "content": content_text(&m.content)})])
            }
            Role::Assistant => {
                let mut blocks = content_blocks(&m.content);
                if i == last && m.tool_calls.is_empty() && !prefill {
                    let prefix = content_text(&m.content);
                    if !prefix.is_empty() {
                        let note = json!({"type": "text", "text": format!("{CONTINUE_INSTRUCTION}\n{prefix}")});
                        continuation.echo = Some(prefix);
                        ("user", vec![note])
                    } else {
                        continue;
                    }
                } else {
                    if i == last && m.tool_calls.is_empty() {
                        // A final assistant turn is a prefill, which may not end in whitespace.
                        if let Some(Value::Object(block)) = blocks.last_mut() {
                            if let Some(Value::String(text)) = block.get_mut("text") {
                                let kept = text.trim_end().len();
                                continuation.trimmed_whitespace = text[kept..].to_string();
                                text.truncate(kept);
                            }
                        }
                        blocks.retain(|b| b["type"] != "text" || b["text"] != "");
                    }
                    for call in &m.tool_calls {
                        blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name,
                                           "input": tool_input(&call.arguments)}));
                    }
                    ("assistant", blocks)
                }
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, existing)) if *r == role => existing.append(&mut blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let turns = turns
        .into_iter()
        .map(|(role, blocks)| {
            // A turn of one text block is sent as a plain string, the API's common form.
            let content = match blocks.as_slice() {
                [only] if only["type"] == "text" => only["text"].clone(),
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect();
    (system, turns, continuation)
}

fn content_text(content: &Content) -> String {
    match content {
        Content::Text(t) => t.clone(),
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t.as_str()),
                ContentPart::ImageUrl(_) => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Text and image blocks; empty text is left out (the API refuses empty text blocks).
fn content_blocks(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(t) if t.is_empty() => Vec::new(),
        Content::Text(t) => vec![json!({"type": "text", "text": t})],
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) if t.is_empty() => None,
                ContentPart::Text(t) => Some(json!({"type": "text", "text": t})),
                ContentPart::ImageUrl(url) => Some(image_block(url)),
            })
            .collect(),
    }
}

/// `data:<mime>;base64,<data>` becomes a base64 source; any other URL a URL source.
fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((mime, data)) = rest.split_once(";base64,") {
            return json!({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}});
        }
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

/// A tool call's arguments as the object `tool_use.input` must be. Arguments that are not a
/// JSON object (a model's broken output echoed back) are sent as `{}`: the tool result that
/// follows already tells the model what was wrong with them.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            if !arguments.trim().is_empty() {
                tracing::debug!("tool call arguments are not a JSON object; sent as {{}}");
            }
            json!({})
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Anthropic's usage; every field optional because `message_delta` repeats only some.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u32>,
    #[serde(default)]
    pub output_tokens: Option<u32>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u32>,
}

impl WireUsage {
    /// Later counts replace earlier ones (`message_delta` usage is cumulative).
    fn merge(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
    }

    /// `input_tokens` excludes cache reads and writes; the prompt is all three.
    pub fn to_usage(self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + self.cache_creation_input_tokens.unwrap_or(0) + cached;
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_tokens: cached,
        }
    }
}

#[derive(Deserialize)]
struct ModelPage {
    #[serde(default)]
    data: Vec<ModelInfo>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

/// `stop_reason` → [`FinishReason`]: `refusal` is the model declining (the content filter's
/// counterpart); `pause_turn` and unknown reasons are kept as they are.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

fn message_to_response(message: WireMessage, continuation: &Continuation, request_id: Option<String>) -> ChatResponse {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block["type"].as_str() {
            Some("text") => content.push_str(block["text"].as_str().unwrap_or("")),
            Some("thinking") => reasoning.push_str(block["thinking"].as_str().unwrap_or("")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or("").to_string(),
                name: block["name"].as_str().unwrap_or("").to_string(),
                arguments: block.get("input").map(Value::to_string).unwrap_or_else(|| "{}".to_string()),
            }),
            _ => {}
        }
    }
    let mut strip = Prefill::new(continuation.clone());
    let mut content = strip.apply(content);
    content.push_str(&strip.finish());
    ChatResponse {
        id: message.id,
        model: message.model,
        content,
        reasoning,
        tool_calls: with_ids(tool_calls),
        finish_reason: message.stop_reason.as_deref().map(finish_reason).unwrap_or(FinishReason::Stop),
        alternatives: Vec::new(),
        usage: message.usage.map(WireUsage::to_usage),
        request_id,
    }
}

fn with_ids(calls: Vec<ToolCall>) -> Vec<ToolCall> {
    calls.into_iter().enumerate().map(|(i, c)| c.with_id_or_position(i)).collect()
}

/// Makes the start of an answer continue the caller's prefix: drops the whitespace that was
/// trimmed from the prefill as far as the answer repeats it, and, when the prefix went in the
/// user turn, the prefix itself if the answer starts by repeating it (held back until that is
/// known).
#[derive(Debug, Default)]
struct Prefill {
    pending: String,
    echo: Option<String>,
    held: String,
}

impl Prefill {
    fn new(c: Continuation) -> Self {
        Prefill { pending: c.trimmed_whitespace, echo: c.echo.filter(|e| !e.is_empty()), held: String::new() }
    }

    fn apply(&mut self, mut text: String) -> String {
        while !self.pending.is_empty() && !text.is_empty() {
            let (p, t) = (self.pending.chars().next(), text.chars().next());
            if p != t {
                self.pending.clear();
                break;
            }
            let c = p.map(char::len_utf8).unwrap_or(0);
            self.pending.drain(..c);
            text.drain(..c);
        }
        let Some(echo) = &self.echo else { return text };
        self.held.push_str(&text);
        if self.held.len() >= echo.len() {
            let held = std::mem::take(&mut self.held);
            let echo = self.echo.take().unwrap_or_default();
            match held.strip_prefix(echo.as_str()) {
                Some(rest) => rest.to_string(),
                None => held,
            }
        } else if echo.starts_with(self.held.as_str()) {
            String::new()
        } else {
            self.echo = None;
            std::mem::take(&mut self.held)
        }
    }

    /// At the end of the answer: text held back that turned out to be all there was.
    fn finish(&mut self) -> String {
        self.echo = None;
        std::mem::take(&mut self.held)
    }
}

#[derive(Debug, Clone, Copy)]
enum Block {
    Text,
    Thinking,
    /// Index among the answer's tool calls.
    ToolUse(u32),
    Other,
}

/// Everything a streamed Messages answer has said so far: the [`SseDecoder`] for Anthropic's
/// events. Pure: the driver in stream.rs feeds it events.
#[derive(Debug, Default)]
pub struct MessageAccumulator {
    id: String,
    model: String,
    content: String,
    reasoning: String,
    blocks: BTreeMap<u64, Block>,
    tool_calls: Vec<ToolCall>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
    stopped: bool,
    prefill: Prefill,
    request_id: Option<String>,
    /// The Messages route's URL, which an `error` event naming a 404 points at.
    url: String,
}

impl MessageAccumulator {
    pub fn new(request_id: Option<String>, continuation: Continuation, url: String) -> Self {
        MessageAccumulator { request_id, prefill: Prefill::new(continuation), url, ..MessageAccumulator::default() }
    }

    /// Text held back at the start of the answer (see [`Continuation::echo`]) once nothing more
    /// will come.
    pub fn flush(&mut self) -> Option<StreamEvent> {
        let held = self.prefill.finish();
        if held.is_empty() {
            return None;
        }
        self.content.push_str(&held);
        Some(StreamEvent::Content(held))
    }

    fn merge_usage(&mut self, value: &Value) {
        if let Ok(usage) = serde_json::from_value::<WireUsage>(value.clone()) {
            if value.is_object() {
                self.usage.get_or_insert_with(WireUsage::default).merge(usage);
            }
        }
    }

    fn text(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        let text = self.prefill.apply(text.to_string());
        if !text.is_empty() {
            self.content.push_str(&text);
            events.push(StreamEvent::Content(text));
        }
    }

    fn thinking(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.reasoning.push_str(text);
            events.push(StreamEvent::Reasoning(text.to_string()));
        }
    }

    fn arguments(&mut self, call: u32, fragment: &str, events: &mut Vec<StreamEvent>) {
        if fragment.is_empty() {
            return;
        }
        if let Some(c) = self.tool_calls.get_mut(call as usize) {
            c.arguments.push_str(fragment);
            events.push(StreamEvent::ToolCallArguments { index: call, fragment: fragment.to_string() });
        }
    }

    /// The whole answer. A tool call whose input streamed no fragments had an empty input: `{}`.
    pub fn into_response(self) -> ChatResponse {
        let tool_calls = self
            .tool_calls
            .into_iter()
            .map(|mut c| {
                if c.arguments.is_empty() {
                    c.arguments = "{}".to_string();
                }
                c
            })
            .collect();
        ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            reasoning: self.reasoning,
            tool_calls: with_ids(tool_calls),
            finish_reason: self.stop_reason.as_deref().map(finish_reason).unwrap_or(FinishReason::Stop),
            alternatives: Vec::new(),
            usage: self.usage.map(WireUsage::to_usage),
            request_id: self.request_id,
        }
    }
}

impl SseDecoder for MessageAccumulator {
    /// Takes one SSE event (its `event:` name and `data:`) and returns what it adds. The type in
    /// the data wins over the event name; unknown events are skipped, as the API asks.
    fn on_event(&mut self, name: &str, data: &str, ctx: &ErrorContext<'_>) -> Result<Vec<StreamEvent>, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(|e| ProviderError::MalformedResponse {
            host: host_of(ctx.base_url),
            detail: format!("a stream event is not JSON: {e}"),
            request_id: self.request_id.clone(),
        })?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(name);
        let mut events = Vec::new();
        match kind {
            "message_start" => {
                let message = &value["message"];
                if let Some(id) = message["id"].as_str() {
                    self.id = id.to_string();
                }
                if let Some(model) = message["model"].as_str() {
                    self.model = model.to_string();
                }
                self.merge_usage(&message["usage"]);
            }
            "content_block_start" => {
                let index = value["index"].as_u64().unwrap_or(self.blocks.len() as u64);
                let block = &value["content_block"];
                let kind = match block["type"].as_str() {
                    Some("text") => {
                        self.text(block["text"].as_str().unwrap_or(""), &mut events);
                        Block::Text
                    }
                    Some("thinking") => {
                        self.thinking(block["thinking"].as_str().unwrap_or(""), &mut events);
                        Block::Thinking
                    }
                    Some("tool_use") => {
                        let call = self.tool_calls.len() as u32;
                        let id = block["id"].as_str().unwrap_or("").to_string();
                        let name = block["name"].as_str().unwrap_or("").to_string();
                        self.tool_calls.push(ToolCall { id: id.clone(), name: name.clone(), arguments: String::new() });
                        events.push(StreamEvent::ToolCallStarted { index: call, id, name });
                        // Some proxies send the whole input here instead of as deltas.
                        if let Some(input) = block.get("input").filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            self.arguments(call, &input.to_string(), &mut events);
                        }
                        Block::ToolUse(call)
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, kind);
            }
            "content_block_delta" => {
                let index = value["index"].as_u64().unwrap_or(0);
                let delta = &value["delta"];
                let block = self.blocks.get(&index).copied();
                match (delta["type"].as_str(), block) {
                    (Some("text_delta"), _) => self.text(delta["text"].as_str().unwrap_or(""), &mut events),
                    (Some("thinking_delta"), _) => self.thinking(delta["thinking"].as_str().unwrap_or(""), &mut events),
                    (Some("input_json_delta"), Some(Block::ToolUse(call))) => {
                        self.arguments(call, delta["partial_json"].as_str().unwrap_or(""), &mut events)
                    }
                    // Signatures, citations, and deltas of blocks we do not show.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = value["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                self.merge_usage(&value["usage"]);
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let kind = value["error"]["type"].as_str().unwrap_or("");
                return Err(classify_anthropic(status_for_anthropic_type(kind), data, None, ctx, true, &self.url)
                    .with_request_id(self.request_id.as_deref()));
            }
            // `ping`, `content_block_stop`, and event types added later.
            _ => {}
        }
        Ok(events)
    }

    /// `message_stop` is the last event.
    fn ended(&self) -> bool {
        self.stopped
    }

    /// `message_stop` arrived, or at least `message_delta` with the stop reason.
    fn finished(&self) -> bool {
        self.stopped || self.stop_reason.is_some()
    }

    /// `message_delta` carries the stop reason and the output tokens together.
    fn settled(&self) -> bool {
        self.finished() && self.usage.is_some()
    }

    fn received_chars(&self) -> usize {
        self.content.chars().count() + self.reasoning.chars().count()
    }

    fn finish(mut self) -> (Vec<StreamEvent>, ChatResponse) {
        let held = self.flush();
        (held.into_iter().collect(), self.into_response())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The HTTP status an error reported inside a stream would have had, from its `type`.
pub fn status_for_anthropic_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // Moonshot's endpoint reports its own types inside streams too.
        other => super::error::status_for_error_type(other),
    }
}

/// Error types of Moonshot's own API, which its Anthropic-compatible endpoint also answers with.
fn is_moonshot_type(kind: &str) -> bool {
    matches!(
        kind,
        "invalid_authentication_error"
            | "incorrect_api_key_error"
            | "permission_denied_error"
            | "resource_not_found_error"
            | "rate_limit_reached_error"
            | "engine_overloaded_error"
            | "exceeded_current_quota_error"
            | "content_filter"
            | "unexpected_output"
    )
}

/// The same endpoint on the other Moonshot region, for a 401 that may be a region mismatch.
fn other_region_endpoint(base_url: &str) -> Option<String> {
    let platform = Platform::of_host(&host_of(base_url))?;
    let other = platform.other().base_url().trim_end_matches("/v1");
    Some(format!("{other}/anthropic"))
}

/// "prompt is too long: 250000 tokens > 200000 maximum" → (limit, requested).
fn parse_prompt_too_long(message: &str) -> Option<(u32, u32)> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("prompt is too long")? + "prompt is too long".len()..];
    let numbers: Vec<u32> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [requested, limit] => Some((*limit, *requested)),
        _ => None,
    }
}

/// "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input
/// length or `max_tokens` and try again" → (limit, prompt + max_tokens).
fn parse_input_and_max_tokens(message: &str) -> Option<(u32, u32)> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("exceed context limit")? + "exceed context limit".len()..];
    let numbers: Vec<u32> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [input, max_tokens, limit] => Some((*limit, input.saturating_add(*max_tokens))),
        _ => None,
    }
}

fn rate_limit_kind(message: &str) -> RateLimit {
    let lower = message.to_ascii_lowercase();
    if lower.contains("concurrent") {
        RateLimit::Concurrency
    } else if lower.contains("tokens per minute") {
        RateLimit::TokensPerMinute
    } else if lower.contains("tokens per day") {
        RateLimit::TokensPerDay
    } else if lower.contains("requests per minute") {
        RateLimit::RequestsPerMinute
    } else {
        RateLimit::Unspecified
    }
}

/// Turns a non-success answer of an Anthropic-style API into the error the user should see.
/// `retry_after` is the `retry-after` header; `messages` says whether the Messages route failed
/// (a 404 there names a model); `url` is the route's URL, for a wrong base URL.
pub fn classify_anthropic(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    ctx: &ErrorContext<'_>,
    messages: bool,
    url: &str,
) -> ProviderError {
    let parsed = parse_error_body(body);
    let kind = parsed.kind.as_str();
    if is_moonshot_type(kind) {
        return match classify(status, body, ctx) {
            ProviderError::InvalidAuthentication { host, message, key, suggested_base_url, request_id } => {
                let suggested_base_url = suggested_base_url.and(other_region_endpoint(ctx.base_url));
                ProviderError::InvalidAuthentication { host, message, key, suggested_base_url, request_id }
            }
            other => other,
        };
    }
    let host = host_of(ctx.base_url);
    let message = scrub(&parsed.message, ctx.secret);
    let lower = message.to_ascii_lowercase();
    let request_id = ctx.request_id.map(str::to_string);
    let platform = Platform::of_host(&host);
    let billing_url = match platform {
        Some(p) => Some(p.console().to_string()),
        None if is_anthropic_host(&host) => Some("https://console.anthropic.com/settings/billing".to_string()),
        None => None,
    };
    let effective = match kind {
        "" => status,
        k => match status_for_anthropic_type(k) {
            // An unknown type: go by the status.
            500 if !matches!(k, "api_error") => status,
            s => s,
        },
    };
    match effective {
        529 => ProviderError::Overloaded { host, model: ctx.model.to_string(), tried_before: Vec::new(), request_id },
        429 if lower.contains("overloaded") => {
            ProviderError::Overloaded { host, model: ctx.model.to_string(), tried_before: Vec::new(), request_id }
        }
        429 => ProviderError::RateLimited {
            limit: rate_limit_kind(&message),
            retry_after: retry_after.unwrap_or_else(|| parse_retry_after(&message)),
            request_id,
        },
        401 => {
            let key = ctx.key;
            let suggested_base_url = key.and(other_region_endpoint(ctx.base_url));
            ProviderError::InvalidAuthentication { host, message, key, suggested_base_url, request_id }
        }
        402 => ProviderError::InsufficientBalance { host, billing_url, request_id },
        400 if lower.contains("credit balance is too low") => {
            ProviderError::InsufficientBalance { host, billing_url, request_id }
        }
        400 if lower.contains("content filtering") => ProviderError::ContentFilter { request_id },
        400 => {
            let overflow = match parse_prompt_too_long(&message) {
                Some((limit, requested)) => Some((limit, requested, false)),
                None => parse_input_and_max_tokens(&message)
                    .or_else(|| parse_context_overflow(&message))
                    .map(|(limit, requested)| (limit, requested, true)),
            };
            match overflow {
                Some((limit, requested, counts_answer)) => {
                    ProviderError::ContextOverflow { limit, requested, counts_answer, request_id }
                }
                None => ProviderError::InvalidRequest { host, message, request_id },
            }
        }
        413 => ProviderError::InvalidRequest {
            host,
            message: format!("the request is larger than the API accepts ({message}); send less context"),
            request_id,
        },
        403 => ProviderError::PermissionDenied { host, message, request_id },
        // A provider without a model list; a wrong base URL shows on the Messages route too.
        404 if url.ends_with(Route::Models.path()) && !is_anthropic_host(&host) => {
            ProviderError::EndpointMissing { host, what: MODEL_LIST, path: Route::Models.path() }
        }
        404 if messages && lower.contains("model") => {
            ProviderError::ModelNotFound { model: ctx.model.to_string(), host, available: Vec::new(), request_id }
        }
        404 => ProviderError::WrongPath {
            url: url.to_string(),
            status,
            suggested_base_url: suggested_root(ctx.base_url),
            request_id,
        },
        500..=599 => ProviderError::ServerError { host, status: effective, message, request_id },
        _ => ProviderError::UnexpectedStatus { host, status, message, request_id },
    }
}

/// For a 404 on a route, the right root where it is known: Claude's API root, or Moonshot's
/// Anthropic-compatible endpoint under `/anthropic`.
fn suggested_root(base_url: &str) -> Option<String> {
    let host = host_of(base_url);
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    let root = if is_anthropic_host(&host) {
        "https://api.anthropic.com".to_string()
    } else {
        format!("{}/anthropic", Platform::of_host(&host)?.base_url().trim_end_matches("/v1"))
    };
    (base != root).then_some(root)
}

#[cfg(test)]
mod tests {
    use super::super::error::RetryHint;
    use super::*;
    use crate::secret::{ApiKey, KeyKind};

    fn pretty(req: &ChatRequest, stream: bool) -> String {
        serde_json::to_string_pretty(&to_wire(req, stream).unwrap().body).unwrap()
    }

    fn ctx(base_url: &str) -> ErrorContext<'_> {
        ErrorContext {
            base_url,
            endpoint: Endpoint::Chat,
            model: "claude-sonnet-4-5",
            key: Some(KeyKind::Platform),
            secret: Some("sk-ant-api03-secretsecretsecret"),
            request_id: Some("req_1"),
        }
    }

    const CLAUDE: &str = "https://api.anthropic.com";
    const MOONSHOT: &str = "https://api.moonshot.ai/anthropic";
    const URL: &str = "https://api.anthropic.com/v1/messages";

    fn error(kind: &str, message: &str) -> String {
        json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
    }

    #[test]
    fn minimal_request_gets_a_default_max_tokens() {
        let req = ChatRequest::new("claude-haiku-4-5", vec![Message::user("hi")]);
        expect_test::expect![[r#"
            {
              "max_tokens": 4096,
              "messages": [
                {
                  "content": "hi",
                  "role": "user"
                }
              ],
              "model": "claude-haiku-4-5",
              "stream": true
            }"#]]
        .assert_eq(&pretty(&req, true));
    }

    #[test]
    fn system_tools_tool_calls_results_and_images_map_to_blocks() {
        let call =
            ToolCall { id: "toolu_01A".into(), name: "read_file".into(), arguments: r#"{"path":"a.rs"}"#.into() };
        let req = ChatRequest {
            temperature: Some(0.2),
            top_p: Some(0.9),
            max_tokens: Some(512),
            stop: vec!["\n".into(), "</code>".into(), "</code>".into(), String::new()],
            tools: vec![ToolSpec::function(
                "read_file",
                "Read a file",
                json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            )],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::new(
                "claude-sonnet-4-5",
                vec![
                    Message::system("You are terse."),
                    Message::user_parts(vec![
                        ContentPart::text("what is in a.rs, and this?"),
                        ContentPart::image("image/png", b"\x89PNG"),
                        ContentPart::ImageUrl("https://example.com/x.png".into()),
                    ]),
                    Message::assistant_tool_calls("Let me look.", Some("thinking it over".into()), vec![call]),
                    Message::tool_result("toolu_01A", "read_file", "fn main() {}"),
                    Message::user("and now?"),
                    Message::system("Answer in English."),
                ],
            )
        };
        expect_test::expect![[r#"
            {
              "max_tokens": 512,
              "messages": [
                {
                  "content": [
                    {
                      "text": "what is in a.rs, and this?",
                      "type": "text"
                    },
                    {
                      "source": {
                        "data": "iVBORw==",
                        "media_type": "image/png",
                        "type": "base64"
                      },
                      "type": "image"
                    },
                    {
                      "source": {
                        "type": "url",
                        "url": "https://example.com/x.png"
                      },
                      "type": "image"
                    }
                  ],
                  "role": "user"
                },
                {
                  "content": [
                    {
                      "text": "Let me look.",
                      "type": "text"
                    },
                    {
                      "id": "toolu_01A",
                      "input": {
                        "path": "a.rs"
                      },
                      "name": "read_file",
                      "type": "tool_use"
                    }
                  ],
                  "role": "assistant"
                },
                {
                  "content": [
                    {
                      "content": "fn main() {}",
                      "tool_use_id": "toolu_01A",
                      "type": "tool_result"
                    },
                    {
                      "text": "and now?",
                      "type": "text"
                    }
                  ],
                  "role": "user"
                }
              ],
              "model": "claude-sonnet-4-5",
              "stop_sequences": [
                "</code>"
              ],
              "stream": false,
              "system": [
                {
                  "text": "You are terse.",
                  "type": "text"
                },
                {
                  "text": "Answer in English.",
                  "type": "text"
                }
              ],
              "temperature": 0.2,
              "tool_choice": {
                "type": "auto"
              },
              "tools": [
                {
                  "description": "Read a file",
                  "input_schema": {
                    "properties": {
                      "path": {
                        "type": "string"
                      }
                    },
                    "type": "object"
                  },
                  "name": "read_file"
                }
              ],
              "top_p": 0.9
            }"#]]
        .assert_eq(&pretty(&req, false));
    }

    #[test]
    fn partial_mode_is_a_prefill_without_trailing_whitespace() {
        let req = ChatRequest::new(
            "claude-haiku-4-5",
            vec![Message::user("complete"), Message::assistant_partial("fn main() {\n    ")],
        );
        let wire = to_wire(&req, true).unwrap();
        assert_eq!(wire.body["messages"][1], json!({"role": "assistant", "content": "fn main() {"}));
        assert_eq!(wire.continuation.trimmed_whitespace, "\n    ");
        assert!(wire.has_prefill);
        // A prefill of only whitespace leaves no assistant turn at all.
        let blank = ChatRequest::new("m", vec![Message::user("x"), Message::assistant_partial("  ")]);
        let wire = to_wire(&blank, true).unwrap();
        assert_eq!(wire.body["messages"].as_array().unwrap().len(), 1);
        assert_eq!(wire.continuation.trimmed_whitespace, "  ");
        assert!(!wire.has_prefill);
    }

    #[test]
    fn the_answer_loses_the_whitespace_the_prefill_lost() {
        let ws = |w: &str| Continuation { trimmed_whitespace: w.into(), echo: None };
        let mut p = Prefill::new(ws("\n    "));
        assert_eq!(p.apply("\n  ".into()), "");
        assert_eq!(p.apply("  let x".into()), "let x");
        assert_eq!(p.apply("  y".into()), "  y", "only the start of the answer is touched");
        let mut p = Prefill::new(ws(" "));
        assert_eq!(p.apply("{}".into()), "{}", "an answer that does not repeat it is kept whole");
    }

    #[test]
    fn without_prefills_the_prefix_goes_in_the_user_turn_and_its_echo_is_dropped() {
        let req = ChatRequest::new(
            "claude-sonnet-4-6",
            vec![Message::system("s"), Message::user("complete"), Message::assistant_partial("fn main() {\n")],
        );
        let wire = to_wire_with(&req, true, false).unwrap();
        assert!(!wire.has_prefill);
        assert_eq!(
            wire.continuation,
            Continuation { trimmed_whitespace: String::new(), echo: Some("fn main() {\n".into()) }
        );
        assert_eq!(
            wire.body["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "complete"},
                {"type": "text", "text": format!("{CONTINUE_INSTRUCTION}\nfn main() {{\n")}
            ]}])
        );

        let echo = |e: &str| Continuation { trimmed_whitespace: String::new(), echo: Some(e.into()) };
        let mut p = Prefill::new(echo("fn main() {\n"));
        assert_eq!(p.apply("fn ".into()), "", "held while it may be the echo");
        assert_eq!(p.apply("main() {\n    x".into()), "    x");
        assert_eq!(p.apply("y".into()), "y");
        let mut p = Prefill::new(echo("fn main() {\n"));
        assert_eq!(p.apply("fn".into()), "");
        assert_eq!(p.apply("ord".into()), "fnord", "not the echo: everything held comes out");
        let mut p = Prefill::new(echo("fn main() {\n"));
        assert_eq!(p.apply("fn m".into()), "");
        assert_eq!(p.finish(), "fn m", "an answer that ends while held is kept");
    }

    #[test]
    fn thinking_sets_a_budget_inside_max_tokens_and_drops_temperature() {
        let req = ChatRequest {
            thinking: Some(true),
            temperature: Some(0.6),
            max_tokens: Some(1000),
            ..ChatRequest::new("claude-sonnet-4-5", vec![Message::user("x")])
        };
        let body = to_wire(&req, true).unwrap().body;
        assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
        assert_eq!(body["max_tokens"], json!(2024));
        assert!(body.get("temperature").is_none());
        let big = ChatRequest { max_tokens: Some(16000), ..req.clone() };
        assert_eq!(to_wire(&big, true).unwrap().body["thinking"]["budget_tokens"], json!(8000));
        let off = ChatRequest { thinking: Some(false), ..req };
        let body = to_wire(&off, true).unwrap().body;
        assert_eq!(body["thinking"], json!({"type": "disabled"}));
        assert_eq!(body["temperature"], json!(0.6));
    }

    #[test]
    fn thinking_stays_off_while_tool_results_are_answered() {
        let call = ToolCall { id: "toolu_1".into(), name: "f".into(), arguments: "{}".into() };
        let req = ChatRequest {
            thinking: Some(true),
            ..ChatRequest::new(
                "claude-sonnet-4-5",
                vec![
                    Message::user("x"),
                    Message::assistant_tool_calls("", Some("why".into()), vec![call]),
                    Message::tool_result("toolu_1", "f", "r"),
                ],
            )
        };
        let body = to_wire(&req, true).unwrap().body;
        assert!(body.get("thinking").is_none(), "{body}");
        assert_eq!(body["max_tokens"], json!(DEFAULT_MAX_TOKENS));
    }

    #[test]
    fn what_the_api_cannot_express_is_refused_before_sending() {
        let base = ChatRequest::new("m", vec![Message::user("x")]);
        let web = ChatRequest { tools: vec![ToolSpec::WebSearch], ..base.clone() };
        assert!(to_wire(&web, true).unwrap_err().to_string().contains("$web_search"));
        let json_mode = ChatRequest { response_format_json: true, ..base.clone() };
        assert!(matches!(to_wire(&json_mode, true), Err(ProviderError::Unsendable { .. })));
        let n = ChatRequest { n: Some(2), ..base.clone() };
        assert!(to_wire(&n, true).unwrap_err().to_string().contains("n > 1"));
        assert!(to_wire(&ChatRequest { n: Some(1), ..base }, true).is_ok());
    }

    #[test]
    fn broken_tool_arguments_are_echoed_as_an_empty_object() {
        assert_eq!(tool_input(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(tool_input("[1]"), json!({}));
        assert_eq!(tool_input("{\"a\":"), json!({}));
    }

    fn feed(acc: &mut MessageAccumulator, events: &[(&str, Value)]) -> Vec<StreamEvent> {
        events.iter().flat_map(|(name, data)| acc.on_event(name, &data.to_string(), &ctx(CLAUDE)).unwrap()).collect()
    }

    #[test]
    fn a_streamed_answer_with_thinking_text_tools_and_cached_usage() {
        let mut acc = MessageAccumulator::new(Some("req_9".into()), Continuation::default(), URL.into());
        let events = feed(
            &mut acc,
            &[
                (
                    "message_start",
                    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                    "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
                    "stop_sequence": null, "usage": {"input_tokens": 20, "cache_creation_input_tokens": 5,
                    "cache_read_input_tokens": 100, "output_tokens": 1}}}),
                ),
                (
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "thinking", "thinking": ""}}),
                ),
                ("ping", json!({"type": "ping"})),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "signature_delta", "signature": "EqQB"}}),
                ),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                (
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "text", "text": ""}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "text_delta", "text": "Reading."}}),
                ),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
                (
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 2,
                    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": ""}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": "{\"path\":"}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": "\"a.rs\"}"}}),
                ),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 2})),
                (
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 3,
                    "content_block": {"type": "tool_use", "id": "toolu_2", "name": "list", "input": {}}}),
                ),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 3})),
                (
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "tool_use",
                    "stop_sequence": null}, "usage": {"output_tokens": 42}}),
                ),
            ],
        );
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("hmm".into()),
                StreamEvent::Content("Reading.".into()),
                StreamEvent::ToolCallStarted { index: 0, id: "toolu_1".into(), name: "read_file".into() },
                StreamEvent::ToolCallArguments { index: 0, fragment: "{\"path\":".into() },
                StreamEvent::ToolCallArguments { index: 0, fragment: "\"a.rs\"}".into() },
                StreamEvent::ToolCallStarted { index: 1, id: "toolu_2".into(), name: "list".into() },
            ]
        );
        assert!(acc.finished());
        feed(&mut acc, &[("message_stop", json!({"type": "message_stop"}))]);
        let r = acc.into_response();
        assert_eq!(r.id, "msg_1");
        assert_eq!(r.model, "claude-sonnet-4-5");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.tool_calls[0].arguments, r#"{"path":"a.rs"}"#);
        assert_eq!(r.tool_calls[1].arguments, "{}");
        assert_eq!(
            r.usage,
            Some(Usage { prompt_tokens: 125, completion_tokens: 42, total_tokens: 167, cached_tokens: 100 })
        );
        assert_eq!(r.request_id.as_deref(), Some("req_9"));
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
        assert_eq!(finish_reason("pause_turn"), FinishReason::Other("pause_turn".into()));
    }

    #[test]
    fn an_error_event_mid_stream_is_typed() {
        let mut acc = MessageAccumulator::new(Some("req_7".into()), Continuation::default(), URL.into());
        let err = acc.on_event("error", &error("overloaded_error", "Overloaded"), &ctx(CLAUDE)).unwrap_err();
        assert!(matches!(err, ProviderError::Overloaded { .. }), "{err:?}");
        assert!(err.allows_fallback());
        assert_eq!(err.request_id(), Some("req_1"));
        let err = acc.on_event("content_block_delta", "{oops", &ctx(CLAUDE)).unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }));
    }

    #[test]
    fn unknown_events_are_skipped() {
        let mut acc = MessageAccumulator::new(None, Continuation::default(), URL.into());
        assert!(feed(&mut acc, &[("future_event", json!({"type": "future_event", "x": 1}))]).is_empty());
        assert!(!acc.finished());
    }

    #[test]
    fn a_non_streamed_message_is_read_whole() {
        let message: WireMessage = serde_json::from_value(json!({
            "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                        {"type": "text", "text": " {}"},
                        {"type": "tool_use", "id": "toolu_3", "name": "f", "input": {"a": 1}}],
            "stop_reason": "max_tokens", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 0}
        }))
        .unwrap();
        let r = message_to_response(message, &Continuation { trimmed_whitespace: " ".into(), echo: None }, None);
        assert_eq!(r.content, "{}");
        assert_eq!(r.reasoning, "t");
        assert_eq!(
            r.tool_calls,
            vec![ToolCall { id: "toolu_3".into(), name: "f".into(), arguments: r#"{"a":1}"#.into() }]
        );
        assert_eq!(r.finish_reason, FinishReason::Length);
        assert_eq!(r.usage.unwrap().prompt_tokens, 3);
    }

    #[test]
    fn every_documented_error_row_is_typed() {
        let c = ctx(CLAUDE);
        let e = classify_anthropic(529, &error("overloaded_error", "Overloaded"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::Overloaded { .. }));
        assert_eq!(e.retry_hint(), RetryHint::Backoff);
        assert!(e.allows_fallback());

        let e = classify_anthropic(
            429,
            &error(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute.",
            ),
            Some(Duration::from_secs(7)),
            &c,
            true,
            URL,
        );
        assert_eq!(
            e,
            ProviderError::RateLimited {
                limit: RateLimit::RequestsPerMinute,
                retry_after: Duration::from_secs(7),
                request_id: Some("req_1".into())
            }
        );
        assert!(e.allows_fallback());

        let e = classify_anthropic(401, &error("authentication_error", "invalid x-api-key"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::InvalidAuthentication { suggested_base_url: None, .. }), "{e:?}");
        assert!(!e.allows_fallback());
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert!(e.to_string().contains("api.anthropic.com"), "{e}");

        let e = classify_anthropic(403, &error("permission_error", "no access"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::PermissionDenied { .. }));
        assert!(!e.allows_fallback());

        let e = classify_anthropic(404, &error("not_found_error", "model: claude-x"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::ModelNotFound { .. }));
        let e = classify_anthropic(404, &error("not_found_error", "Not Found"), None, &c, true, URL);
        assert!(matches!(&e, ProviderError::WrongPath { url, .. } if url == URL), "{e:?}");

        let e = classify_anthropic(
            400,
            &error("invalid_request_error", "messages: text content blocks must be non-empty"),
            None,
            &c,
            true,
            URL,
        );
        assert!(matches!(e, ProviderError::InvalidRequest { .. }));
        assert!(!e.allows_fallback());
        let e = classify_anthropic(
            400,
            &error("invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
            None,
            &c,
            true,
            URL,
        );
        assert_eq!(
            e,
            ProviderError::ContextOverflow {
                limit: 200000,
                requested: 250000,
                counts_answer: false,
                request_id: Some("req_1".into())
            }
        );
        let e = classify_anthropic(
            400,
            &error("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
            None,
            &c,
            true,
            URL,
        );
        assert!(
            matches!(&e, ProviderError::InsufficientBalance { billing_url: Some(u), .. } if u.contains("console.anthropic.com"))
        );
        assert!(!e.allows_fallback());
        let e = classify_anthropic(402, &error("billing_error", "payment failed"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::InsufficientBalance { .. }));

        let e = classify_anthropic(
            413,
            &error("request_too_large", "Request exceeds the maximum size"),
            None,
            &c,
            true,
            URL,
        );
        assert!(matches!(e, ProviderError::InvalidRequest { .. }));
        assert!(e.to_string().contains("send less context"));

        let e = classify_anthropic(500, &error("api_error", "Internal server error"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::ServerError { status: 500, .. }));
        assert!(e.allows_fallback());
        let e = classify_anthropic(502, "<html>bad gateway</html>", None, &c, true, URL);
        assert!(matches!(e, ProviderError::ServerError { status: 502, .. }));
    }

    #[test]
    fn moonshot_errors_on_its_anthropic_endpoint_keep_their_meaning() {
        let c = ctx(MOONSHOT);
        let body = json!({"error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}});
        let e = classify_anthropic(401, &body.to_string(), None, &c, true, URL);
        match &e {
            ProviderError::InvalidAuthentication { suggested_base_url, .. } => {
                assert_eq!(suggested_base_url.as_deref(), Some("https://api.moonshot.cn/anthropic"))
            }
            other => panic!("{other:?}"),
        }
        let body =
            json!({"error": {"type": "engine_overloaded_error", "message": "The engine is currently overloaded"}});
        assert!(matches!(
            classify_anthropic(429, &body.to_string(), None, &c, true, URL),
            ProviderError::Overloaded { .. }
        ));
        let body = json!({"error": {"type": "exceeded_current_quota_error", "message": "suspended due to insufficient balance"}});
        assert!(matches!(
            classify_anthropic(429, &body.to_string(), None, &c, true, URL),
            ProviderError::InsufficientBalance { .. }
        ));
        let e = classify_anthropic(401, &error("authentication_error", "invalid x-api-key"), None, &c, true, URL);
        assert!(matches!(e, ProviderError::InvalidAuthentication { suggested_base_url: Some(_), .. }));
        let e = classify_anthropic(
            404,
            r#"{"code":5,"error":"url.not_found"}"#,
            None,
            &ctx("https://api.moonshot.ai"),
            true,
            "u",
        );
        assert!(matches!(&e, ProviderError::WrongPath { suggested_base_url: Some(s), .. } if s == MOONSHOT), "{e:?}");
        assert!(e.to_string().ends_with("set its `baseUrl` to https://api.moonshot.ai/anthropic."), "{e}");
        assert_eq!(suggested_root("https://api.anthropic.com/v2"), Some(CLAUDE.to_string()));
        assert_eq!(suggested_root("https://api.anthropic.com/v1/"), None);
        assert_eq!(suggested_root(MOONSHOT), None);
        assert_eq!(suggested_root("http://127.0.0.1:9000"), None);
        let models_url = "https://api.moonshot.ai/anthropic/v1/models";
        let e = classify_anthropic(404, r#"{"code":5,"error":"url.not_found"}"#, None, &c, false, models_url);
        assert!(matches!(e, ProviderError::EndpointMissing { .. }), "{e:?}");
        assert!(e.to_string().contains("has no model list"), "{e}");
    }

    #[test]
    fn the_key_never_reaches_an_error() {
        let body = error("invalid_request_error", "bad key sk-ant-api03-secretsecretsecret given");
        let e = classify_anthropic(400, &body, None, &ctx(CLAUDE), true, URL);
        assert!(!format!("{e} {e:?}").contains("secretsecret"), "{e}");
    }

    #[test]
    fn prompt_too_long_numbers() {
        assert_eq!(parse_prompt_too_long("prompt is too long: 250000 tokens > 200000 maximum"), Some((200000, 250000)));
        assert_eq!(parse_prompt_too_long("prompt is too long"), None);
        // Captured from the live API (issues of docker/docker-agent and continuedev/continue).
        assert_eq!(
            parse_input_and_max_tokens(
                "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input \
                 length or `max_tokens` and try again"
            ),
            Some((200000, 242959))
        );
        assert_eq!(parse_input_and_max_tokens("exceed context limit"), None);
    }

    #[test]
    fn the_key_goes_in_x_api_key_and_a_bearer_only_off_anthropic() {
        let mut cfg = ProviderConfig::new("claude", "https://api.anthropic.com/v1/", ApiKey::new("sk-ant-k"));
        cfg.extra_headers = vec![("anthropic-beta".into(), "x".into())];
        let claude = Anthropic::new(cfg, reqwest::Client::new());
        let h = claude.headers().unwrap();
        assert_eq!(h["x-api-key"], "sk-ant-k");
        assert_eq!(h["anthropic-version"], ANTHROPIC_VERSION);
        assert_eq!(h["anthropic-beta"], "x");
        assert!(h.get(AUTHORIZATION).is_none());
        assert!(h["x-api-key"].is_sensitive());
        assert_eq!(claude.url(Route::Messages, "").unwrap().as_str(), "https://api.anthropic.com/v1/messages");
        let moonshot =
            Anthropic::new(ProviderConfig::new("kimi", MOONSHOT, ApiKey::new("sk-abc")), reqwest::Client::new());
        let h = moonshot.headers().unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer sk-abc");
        assert_eq!(h["x-api-key"], "sk-abc");
        assert_eq!(
            moonshot.url(Route::Models, "?limit=1000").unwrap().as_str(),
            "https://api.moonshot.ai/anthropic/v1/models?limit=1000"
        );
    }

    #[test]
    fn rate_limit_kinds_and_retry_after() {
        assert_eq!(rate_limit_kind("50 requests per minute"), RateLimit::RequestsPerMinute);
        assert_eq!(rate_limit_kind("30,000 input tokens per minute"), RateLimit::TokensPerMinute);
        assert_eq!(rate_limit_kind("Number of concurrent connections has exceeded"), RateLimit::Concurrency);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("12"));
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(12)));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after_header(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("1e30"));
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(86_400)));
    }
}
