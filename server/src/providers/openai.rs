//! The client for Moonshot's API and any OpenAI-compatible server (vLLM, SGLang, Ollama).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{classify, host_of, scrub, Endpoint, ErrorContext, Platform, ProviderError, TimeoutPhase};
use super::stream::StreamAccumulator;
use super::types::{Balance, ChatRequest, ChatResponse, FinishReason, ModelInfo, StreamEvent, ToolCall, Usage};
use crate::secret::ApiKey;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A whole non-streamed answer larger than this is not a chat completion.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Error bodies are read only this far.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Where and how to reach one provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// A name for logs and messages, e.g. `moonshot` or `local-vllm`.
    pub name: String,
    /// Up to and including the version segment: `https://api.moonshot.ai/v1`.
    pub base_url: String,
    /// `None` for self-hosted servers that need no key.
    pub api_key: Option<ApiKey>,
    /// Enforced by the `reqwest::Client` (see [`OpenAiCompatible::http_client`]); kept here so
    /// the error names the right number of seconds.
    pub connect_timeout: Duration,
    /// From sending the request to the response headers and the first bytes of the answer.
    pub first_byte_timeout: Duration,
    /// The longest silence allowed between two chunks of an answer.
    pub idle_timeout: Duration,
    pub extra_headers: Vec<(String, String)>,
}

impl ProviderConfig {
    /// A configuration with the default timeouts and no extra headers.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        ProviderConfig {
            name: name.into(),
            base_url: base_url.into(),
            api_key,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            extra_headers: Vec::new(),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Extra headers may carry credentials (a gateway token): only their names are shown.
        let header_names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("extra_headers", &header_names)
            .finish()
    }
}

/// A shared connection pool, opaque so that nothing outside `providers` holds an HTTP type.
#[derive(Clone)]
pub struct HttpPool {
    client: reqwest::Client,
    connect_timeout: Duration,
}

impl HttpPool {
    pub fn new(connect_timeout: Duration) -> HttpPool {
        HttpPool { client: OpenAiCompatible::http_client(connect_timeout), connect_timeout }
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

impl fmt::Debug for HttpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPool").field("connect_timeout", &self.connect_timeout).finish()
    }
}

/// A client for one provider. Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct OpenAiCompatible {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ProviderConfig,
    http: reqwest::Client,
    host: String,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.inner.cfg.name)
            .field("base_url", &self.inner.cfg.base_url)
            .finish_non_exhaustive()
    }
}

/// What a successful request gave back before its body is read.
struct Answer {
    response: reqwest::Response,
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    message: Option<CompletionMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CompletionToolCall>,
}

#[derive(Deserialize)]
struct CompletionToolCall {
    #[serde(default)]
    id: String,
    function: CompletionFunction,
}

#[derive(Deserialize)]
struct CompletionFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelInfo>,
}

#[derive(Deserialize)]
struct BalanceReply {
    data: Balance,
}

#[derive(Deserialize)]
struct TokenCountReply {
    data: TokenCount,
}

#[derive(Deserialize)]
struct TokenCount {
    total_tokens: u32,
}

impl OpenAiCompatible {
    /// `http` should come from [`OpenAiCompatible::http_client`] with `cfg.connect_timeout` (or
    /// [`OpenAiCompatible::shared_http_client`] for the default), shared by every provider.
    pub fn new(cfg: ProviderConfig, http: reqwest::Client) -> Self {
        let host = host_of(&cfg.base_url);
        OpenAiCompatible { inner: Arc::new(Inner { cfg, http, host }) }
    }

    /// A client on a shared pool.
    pub fn with_pool(cfg: ProviderConfig, pool: &HttpPool) -> Self {
        Self::new(cfg, pool.client.clone())
    }

    /// The HTTP client every provider should share: pooled keep-alive connections, the default
    /// connect timeout, and a `kimi-lsp/<version>` user agent.
    pub fn shared_http_client() -> reqwest::Client {
        Self::http_client(DEFAULT_CONNECT_TIMEOUT)
    }

    /// Like [`OpenAiCompatible::shared_http_client`] with another connect timeout.
    pub fn http_client(connect_timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(8)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!("kimi-lsp/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not configure the HTTP client; using defaults");
                reqwest::Client::new()
            })
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
        let body = req.to_wire(false).map_err(|e| ProviderError::Unsendable { reason: e.0 })?;
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::Chat, Some(&body), &req.model, deadline).await?;
        let request_id = answer.request_id.clone();
        let bytes = self
            .read_body(answer.response, deadline, MAX_BODY_BYTES)
            .await
            .map_err(|e| e.with_request_id(request_id.as_deref()))?;
        self.parse_completion(&bytes, &req.model, request_id)
    }

    /// One answer as a stream of events ending in [`StreamEvent::Done`]. Returns once the first
    /// event has arrived, so that a server that never starts answering is an error here rather
    /// than inside the stream. Dropping the stream closes the connection, which is how the
    /// server learns the answer is no longer wanted.
    pub async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let body = req.to_wire(true).map_err(|e| ProviderError::Unsendable { reason: e.0 })?;
        let started = Instant::now();
        let deadline = started + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::Chat, Some(&body), &req.model, deadline).await?;

        let is_json = answer
            .response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut inner: BoxStream<'static, Result<StreamEvent, ProviderError>> = if is_json {
            // A server that ignores `stream: true` answers with one JSON document.
            let request_id = answer.request_id.clone();
            let bytes = self
                .read_body(answer.response, deadline, MAX_BODY_BYTES)
                .await
                .map_err(|e| e.with_request_id(request_id.as_deref()))?;
            let response = self.parse_completion(&bytes, &req.model, request_id)?;
            let mut events = Vec::new();
            if !response.reasoning.is_empty() {
                events.push(Ok(StreamEvent::Reasoning(response.reasoning.clone())));
            }
            if !response.content.is_empty() {
                events.push(Ok(StreamEvent::Content(response.content.clone())));
            }
            events.push(Ok(StreamEvent::Done(response)));
            futures::stream::iter(events).boxed()
        } else {
            self.sse_events(answer, &req.model, deadline, started)
        };

        match inner.next().await {
            Some(Ok(first)) => Ok(ChatStream { first: Some(first), inner, host: self.inner.host.clone() }),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::StreamDropped {
                host: self.inner.host.clone(),
                received: 0,
                detail: None,
                request_id: None,
            }),
        }
    }

    /// The models the key may use (`GET /models`).
    pub async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::GET, Endpoint::Models, None, "", deadline).await?;
        let request_id = answer.request_id.clone();
        let bytes = self.read_body(answer.response, deadline, MAX_BODY_BYTES).await?;
        serde_json::from_slice::<ModelList>(&bytes)
            .map(|list| list.data)
            .map_err(|e| self.malformed(format!("the model list cannot be read: {e}"), request_id))
    }

    /// The account balance; `None` when the server has no balance route (not Moonshot).
    pub async fn balance(&self) -> Result<Option<Balance>, ProviderError> {
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = match self.send(Method::GET, Endpoint::Balance, None, "", deadline).await {
            Ok(answer) => answer,
            Err(ProviderError::EndpointMissing { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let request_id = answer.request_id.clone();
        let bytes = self.read_body(answer.response, deadline, MAX_BODY_BYTES).await?;
        match serde_json::from_slice::<BalanceReply>(&bytes) {
            Ok(reply) => Ok(Some(reply.data)),
            // Only Moonshot documents this route; elsewhere a 200 with another shape is some
            // other service's page, not a balance.
            Err(_) if Platform::of_host(&self.inner.host).is_none() => Ok(None),
            Err(e) => Err(self.malformed(format!("the balance cannot be read: {e}"), request_id)),
        }
    }

    /// The prompt tokens the request would use (Moonshot's token-count route).
    pub async fn estimate_tokens(&self, req: &ChatRequest) -> Result<u32, ProviderError> {
        let mut body = req.to_wire(false).map_err(|e| ProviderError::Unsendable { reason: e.0 })?;
        if let Some(map) = body.as_object_mut() {
            map.remove("stream");
        }
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::TokenCount, Some(&body), &req.model, deadline).await?;
        let request_id = answer.request_id.clone();
        let bytes = self.read_body(answer.response, deadline, MAX_BODY_BYTES).await?;
        serde_json::from_slice::<TokenCountReply>(&bytes)
            .map(|r| r.data.total_tokens)
            .map_err(|e| self.malformed(format!("the token count cannot be read: {e}"), request_id))
    }

    fn malformed(&self, detail: String, request_id: Option<String>) -> ProviderError {
        ProviderError::MalformedResponse { host: self.inner.host.clone(), detail, request_id }
    }

    fn error_context<'a>(
        &'a self,
        endpoint: Endpoint,
        model: &'a str,
        request_id: Option<&'a str>,
    ) -> ErrorContext<'a> {
        let key = self.inner.cfg.api_key.as_ref();
        ErrorContext {
            base_url: &self.inner.cfg.base_url,
            endpoint,
            model,
            key: key.map(ApiKey::kind),
            secret: key.map(ApiKey::expose),
            request_id,
        }
    }

    fn url(&self, endpoint: Endpoint) -> Result<reqwest::Url, ProviderError> {
        let base = self.inner.cfg.base_url.trim_end_matches('/');
        let invalid =
            |reason: String| ProviderError::InvalidBaseUrl { base_url: self.inner.cfg.base_url.clone(), reason };
        let url = reqwest::Url::parse(&format!("{base}{}", endpoint.path())).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("the scheme must be http or https, not {}", url.scheme())));
        }
        Ok(url)
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.inner.cfg.extra_headers {
            let bad = || ProviderError::Unsendable {
                reason: format!(
                    "the extra header {name:?} of provider `{}` is not a valid HTTP header",
                    self.inner.cfg.name
                ),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let mut value = HeaderValue::from_str(value).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(key) = &self.inner.cfg.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| ProviderError::Unsendable {
                    reason: "the API key contains characters that cannot be sent in an HTTP \
                             header; copy it again without spaces or line breaks"
                        .to_string(),
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }

    /// Sends one request and waits for its headers until `deadline`. Non-success answers come
    /// back as the matching [`ProviderError`].
    async fn send(
        &self,
        method: Method,
        endpoint: Endpoint,
        body: Option<&Value>,
        model: &str,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(endpoint)?;
        let mut request = self.inner.http.request(method.clone(), url).headers(self.headers()?);
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => {
                tracing::debug!(
                    provider = %self.inner.cfg.name,
                    %method,
                    path = endpoint.path(),
                    model,
                    "no response headers before the first-byte timeout"
                );
                return Err(ProviderError::Timeout {
                    host: self.inner.host.clone(),
                    phase: TimeoutPhase::FirstByte,
                    after: self.inner.cfg.first_byte_timeout,
                });
            }
            Ok(Err(e)) => return Err(self.transport_error(&e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let request_id = request_id(response.headers());
        tracing::debug!(
            provider = %self.inner.cfg.name,
            %method,
            path = endpoint.path(),
            model,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            request_id = request_id.as_deref().unwrap_or(""),
            "provider response"
        );
        if status.is_success() {
            return Ok(Answer { response, request_id });
        }

        let idle = Instant::now() + self.inner.cfg.idle_timeout;
        let text = match self.read_body(response, idle, MAX_ERROR_BODY_BYTES).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        };
        let ctx = self.error_context(endpoint, model, request_id.as_deref());
        let mut error = classify(status.as_u16(), &text, &ctx);
        tracing::debug!(
            provider = %self.inner.cfg.name,
            kind = error.kind(),
            status = status.as_u16(),
            request_id = request_id.as_deref().unwrap_or(""),
            body = %scrub(&text, ctx.secret).chars().take(500).collect::<String>(),
            "provider error"
        );
        if let ProviderError::ModelNotFound { available, .. } = &mut error {
            if endpoint == Endpoint::Chat && status == StatusCode::NOT_FOUND {
                match Box::pin(self.models()).await {
                    Ok(models) => *available = models.into_iter().map(|m| m.id).collect(),
                    Err(e) => tracing::debug!(error = %e, "could not list models for the 404"),
                }
            }
        }
        Err(error)
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let host = self.inner.host.clone();
        let detail = scrub(&root_cause(e), None);
        if e.is_connect() && (e.is_timeout() || detail.contains("timed out")) {
            ProviderError::Timeout { host, phase: TimeoutPhase::Connect, after: self.inner.cfg.connect_timeout }
        } else if e.is_connect() {
            ProviderError::Connect { host, detail }
        } else if e.is_builder() {
            ProviderError::InvalidBaseUrl { base_url: self.inner.cfg.base_url.clone(), reason: detail }
        } else if e.is_request() || e.is_body() {
            // The connection broke after it was opened ("connection closed before message
            // completed", a reset): the answer was lost in transit, which is worth one retry.
            ProviderError::StreamDropped { host, received: 0, detail: Some(detail), request_id: None }
        } else {
            ProviderError::Transport { host, detail }
        }
    }

    /// Reads a whole body: the first bytes by `first_deadline`, then with at most the idle
    /// timeout between chunks.
    async fn read_body(
        &self,
        response: reqwest::Response,
        first_deadline: Instant,
        limit: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut body = timed_body(
            response.bytes_stream(),
            first_deadline,
            self.inner.cfg.first_byte_timeout,
            self.inner.cfg.idle_timeout,
        );
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    let bytes = bytes.as_ref();
                    if out.len() + bytes.len() > limit {
                        return Err(
                            self.malformed(format!("the answer is larger than {} MiB", limit / (1024 * 1024)), None)
                        );
                    }
                    out.extend_from_slice(bytes);
                }
                Err(BodyError::Timeout(phase, after)) => {
                    return Err(ProviderError::Timeout { host: self.inner.host.clone(), phase, after })
                }
                Err(BodyError::Transport(e)) => {
                    return Err(ProviderError::StreamDropped {
                        host: self.inner.host.clone(),
                        // Bytes of JSON, not of the answer: no count the user could use.
                        received: 0,
                        detail: Some(scrub(&root_cause(&e), None)),
                        request_id: None,
                    });
                }
            }
        }
        Ok(out)
    }

    fn parse_completion(
        &self,
        bytes: &[u8],
        model: &str,
        request_id: Option<String>,
    ) -> Result<ChatResponse, ProviderError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| self.malformed(format!("the answer is not JSON: {e}"), request_id.clone()))?;
        if let Some(err) = value.get("error") {
            let kind = err.get("type").and_then(Value::as_str).unwrap_or("");
            let ctx = self.error_context(Endpoint::Chat, model, request_id.as_deref());
            return Err(classify(super::error::status_for_error_type(kind), &value.to_string(), &ctx));
        }
        let completion: Completion = serde_json::from_value(value)
            .map_err(|e| self.malformed(format!("the answer has an unexpected shape: {e}"), request_id.clone()))?;
        completion_to_response(completion, request_id)
            .ok_or_else(|| self.malformed("the answer has no choices".to_string(), None))
    }

    fn sse_events(
        &self,
        answer: Answer,
        model: &str,
        first_deadline: Instant,
        started: Instant,
    ) -> BoxStream<'static, Result<StreamEvent, ProviderError>> {
        let cfg = &self.inner.cfg;
        let key = cfg.api_key.clone();
        let state = SseState {
            events: timed_body(
                answer.response.bytes_stream(),
                first_deadline,
                cfg.first_byte_timeout,
                cfg.idle_timeout,
            )
            .eventsource()
            .boxed(),
            acc: StreamAccumulator::new(answer.request_id.clone()),
            queue: VecDeque::new(),
            finished: false,
            provider: cfg.name.clone(),
            base_url: cfg.base_url.clone(),
            host: self.inner.host.clone(),
            model: model.to_string(),
            key,
            request_id: answer.request_id,
            started,
        };
        futures::stream::unfold(state, next_event).boxed()
    }
}

fn completion_to_response(completion: Completion, request_id: Option<String>) -> Option<ChatResponse> {
    let mut choices = completion.choices;
    choices.sort_by_key(|c| c.index);
    let mut iter = choices.into_iter();
    let first = iter.next()?;
    let message =
        first.message.unwrap_or(CompletionMessage { content: None, reasoning_content: None, tool_calls: Vec::new() });
    let tool_calls = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: if call.id.is_empty() { format!("call_{i}") } else { call.id },
            name: call.function.name,
            arguments: call.function.arguments,
        })
        .collect();
    Some(ChatResponse {
        id: completion.id,
        model: completion.model,
        content: message.content.unwrap_or_default(),
        reasoning: message.reasoning_content.unwrap_or_default(),
        tool_calls,
        finish_reason: first.finish_reason.as_deref().map(FinishReason::parse).unwrap_or(FinishReason::Stop),
        alternatives: iter.map(|c| c.message.and_then(|m| m.content).unwrap_or_default()).collect(),
        usage: completion.usage.or(first.usage),
        request_id,
    })
}

/// `Msh-Request-Id`, else `X-Msh-Trace-Id`, else the common `x-request-id`.
fn request_id(headers: &HeaderMap) -> Option<String> {
    ["msh-request-id", "x-msh-trace-id", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The innermost cause of an error ("Connection refused (os error 111)"): the outer layers of a
/// reqwest error only say "error sending request for url (…)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[derive(Debug)]
enum BodyError {
    Timeout(TimeoutPhase, Duration),
    Transport(reqwest::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Timeout(phase, after) => write!(f, "{phase:?} timeout after {after:?}"),
            BodyError::Transport(e) => write!(f, "{}", root_cause(e)),
        }
    }
}

/// A response body whose first chunk must arrive by `first_deadline` and later ones within
/// `idle` of each other. Byte chunks rather than SSE events are timed, so a server's keep-alive
/// comments count as life. Ends after the first error.
fn timed_body<B>(
    body: impl Stream<Item = reqwest::Result<B>> + Send + 'static,
    first_deadline: Instant,
    first_byte_timeout: Duration,
    idle: Duration,
) -> BoxStream<'static, Result<B, BodyError>>
where
    B: AsRef<[u8]> + Send + 'static,
{
    struct State<B> {
        body: BoxStream<'static, reqwest::Result<B>>,
        first_deadline: Option<Instant>,
        first_byte_timeout: Duration,
        idle: Duration,
        ended: bool,
    }
    let state =
        State { body: body.boxed(), first_deadline: Some(first_deadline), first_byte_timeout, idle, ended: false };
    futures::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let next = match st.first_deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, st.body.next())
                .await
                .map_err(|_| BodyError::Timeout(TimeoutPhase::FirstByte, st.first_byte_timeout)),
            None => tokio::time::timeout(st.idle, st.body.next())
                .await
                .map_err(|_| BodyError::Timeout(TimeoutPhase::Idle, st.idle)),
        };
        match next {
            Err(e) => {
                st.ended = true;
                Some((Err(e), st))
            }
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                st.ended = true;
                Some((Err(BodyError::Transport(e)), st))
            }
            Ok(Some(Ok(bytes))) => {
                if !bytes.as_ref().is_empty() {
                    st.first_deadline = None;
                }
                Some((Ok(bytes), st))
            }
        }
    })
    .boxed()
}

type SseItem = Result<eventsource_stream::Event, EventStreamError<BodyError>>;

struct SseState {
    events: BoxStream<'static, SseItem>,
    acc: StreamAccumulator,
    queue: VecDeque<StreamEvent>,
    finished: bool,
    provider: String,
    base_url: String,
    host: String,
    model: String,
    /// Only to scrub it from server text kept in errors.
    key: Option<ApiKey>,
    request_id: Option<String>,
    started: Instant,
}

impl SseState {
    /// Ends the stream with the accumulated answer.
    fn complete(&mut self) {
        self.finished = true;
        let acc = std::mem::take(&mut self.acc);
        let response = acc.into_response();
        tracing::debug!(
            provider = %self.provider,
            model = %self.model,
            finish_reason = ?response.finish_reason,
            prompt_tokens = response.usage.map(|u| u.prompt_tokens),
            completion_tokens = response.usage.map(|u| u.completion_tokens),
            cached_tokens = response.usage.map(|u| u.cached_tokens),
            latency_ms = self.started.elapsed().as_millis() as u64,
            request_id = self.request_id.as_deref().unwrap_or(""),
            "stream finished"
        );
        self.queue.push_back(StreamEvent::Done(response));
    }

    /// The stream stopped without `[DONE]`: fine if the finishing chunk came, a drop otherwise.
    fn ended_early(&mut self, cause: Option<ProviderError>, detail: Option<String>) -> Option<ProviderError> {
        if self.acc.finished() {
            self.complete();
            return None;
        }
        self.finished = true;
        let error = cause.unwrap_or_else(|| ProviderError::StreamDropped {
            host: self.host.clone(),
            received: self.acc.received_chars(),
            detail,
            request_id: self.request_id.clone(),
        });
        tracing::debug!(
            provider = %self.provider,
            model = %self.model,
            kind = error.kind(),
            received = self.acc.received_chars(),
            request_id = self.request_id.as_deref().unwrap_or(""),
            "stream ended early"
        );
        Some(error)
    }
}

async fn next_event(mut st: SseState) -> Option<(Result<StreamEvent, ProviderError>, SseState)> {
    loop {
        if let Some(event) = st.queue.pop_front() {
            return Some((Ok(event), st));
        }
        if st.finished {
            return None;
        }
        let error = match st.events.next().await {
            None => st.ended_early(None, None),
            Some(Ok(event)) => {
                let data = event.data.trim();
                if data.is_empty() {
                    continue;
                }
                if data == "[DONE]" {
                    st.complete();
                    continue;
                }
                // Built from the fields, not `context()`, so that `acc` can be borrowed mutably.
                let ctx = ErrorContext {
                    base_url: &st.base_url,
                    endpoint: Endpoint::Chat,
                    model: &st.model,
                    key: st.key.as_ref().map(ApiKey::kind),
                    secret: st.key.as_ref().map(ApiKey::expose),
                    request_id: st.request_id.as_deref(),
                };
                match st.acc.on_data(data, &ctx) {
                    Ok(events) => {
                        st.queue.extend(events);
                        continue;
                    }
                    Err(e) => {
                        st.finished = true;
                        Some(e.with_request_id(st.request_id.as_deref()))
                    }
                }
            }
            Some(Err(EventStreamError::Transport(BodyError::Timeout(phase, after)))) => {
                let timeout = ProviderError::Timeout { host: st.host.clone(), phase, after };
                st.ended_early(Some(timeout), None)
            }
            Some(Err(EventStreamError::Transport(BodyError::Transport(e)))) => {
                st.ended_early(None, Some(scrub(&root_cause(&e), None)))
            }
            Some(Err(e)) => {
                st.finished = true;
                Some(ProviderError::MalformedResponse {
                    host: st.host.clone(),
                    detail: format!("the event stream cannot be read: {e}"),
                    request_id: st.request_id.clone(),
                })
            }
        };
        match error {
            Some(e) => return Some((Err(e), st)),
            None => continue,
        }
    }
}

/// A streamed answer: [`StreamEvent`]s, then `Done` with the whole response, or one error.
/// Dropping it closes the connection.
pub struct ChatStream {
    first: Option<StreamEvent>,
    inner: BoxStream<'static, Result<StreamEvent, ProviderError>>,
    host: String,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.inner.poll_next_unpin(cx)
    }
}

impl ChatStream {
    /// Reads the stream to its end and returns the whole answer.
    pub async fn collect_response(mut self) -> Result<ChatResponse, ProviderError> {
        while let Some(item) = self.next().await {
            if let StreamEvent::Done(response) = item? {
                return Ok(response);
            }
        }
        // Reached only when the caller already took `Done` off this stream.
        Err(ProviderError::StreamDropped { host: self.host, received: 0, detail: None, request_id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_streamed_answer_with_reasoning_tools_and_alternatives() {
        let completion: Completion = serde_json::from_str(
            r#"{"id":"chatcmpl-6970b5d02fa474c1767e8767","object":"chat.completion","created":1768994256,
                "model":"kimi-k2-turbo-preview",
                "choices":[
                  {"index":1,"message":{"role":"assistant","content":"other"},"finish_reason":"stop"},
                  {"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"hmm",
                    "tool_calls":[{"id":"functions.read_file:0","type":"function",
                      "function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]},
                   "finish_reason":"tool_calls"}],
                "usage":{"prompt_tokens":19,"completion_tokens":21,"total_tokens":40,"cached_tokens":10},
                "system_fingerprint":"fpv0_10a6da87"}"#,
        )
        .unwrap();
        let r = completion_to_response(completion, Some("rid".into())).unwrap();
        assert_eq!(r.content, "");
        assert_eq!(r.reasoning, "hmm");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.tool_calls[0].name, "read_file");
        assert_eq!(r.alternatives, vec!["other".to_string()]);
        assert_eq!(r.usage.unwrap().cached_tokens, 10);
        let empty: Completion = serde_json::from_str(r#"{"choices":[]}"#).unwrap();
        assert!(completion_to_response(empty, None).is_none());
    }

    #[test]
    fn request_id_prefers_moonshot_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("generic"));
        assert_eq!(request_id(&headers).as_deref(), Some("generic"));
        headers.insert("x-msh-trace-id", HeaderValue::from_static("trace"));
        assert_eq!(request_id(&headers).as_deref(), Some("trace"));
        headers.insert("msh-request-id", HeaderValue::from_static("msh"));
        assert_eq!(request_id(&headers).as_deref(), Some("msh"));
    }

    #[tokio::test]
    async fn a_bad_base_url_is_reported_before_sending() {
        let client =
            OpenAiCompatible::new(ProviderConfig::new("t", "ftp://example.com/v1", None), reqwest::Client::new());
        let err = client.models().await.unwrap_err();
        assert!(matches!(err, ProviderError::InvalidBaseUrl { .. }), "{err:?}");
        assert!(err.to_string().contains("http or https"));
        let client =
            OpenAiCompatible::new(ProviderConfig::new("t", "api.moonshot.ai/v1", None), reqwest::Client::new());
        assert!(matches!(client.models().await.unwrap_err(), ProviderError::InvalidBaseUrl { .. }));
    }

    #[tokio::test]
    async fn a_key_with_a_line_break_is_refused_without_echoing_it() {
        let mut cfg = ProviderConfig::new("t", "http://127.0.0.1:9/v1", None);
        cfg.api_key = ApiKey::new("sk-abc\ndef");
        let client = OpenAiCompatible::new(cfg, reqwest::Client::new());
        let err = client.models().await.unwrap_err();
        assert!(matches!(err, ProviderError::Unsendable { .. }));
        assert!(!format!("{err} {err:?}").contains("abc"));
    }
}
