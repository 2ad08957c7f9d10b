//! The client for Moonshot's API and any OpenAI-compatible server (vLLM, SGLang, Ollama).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{classify, host_of, Endpoint, ErrorContext, Platform, ProviderError};
use super::http::{self, checked_url, extra_headers, key_header, Answer, Call, MAX_BODY_BYTES};
pub use super::stream::ChatStream;
use super::stream::{sse_events, whole_answer_events, Origin, StreamAccumulator};
use super::types::{Balance, ChatRequest, ChatResponse, FinishReason, ModelInfo, StreamEvent, ToolCall, Usage};
use crate::secret::ApiKey;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where Moonshot and OpenAI-compatible servers put their id of a request, the preferred first.
const REQUEST_ID_HEADERS: &[&str] = &["msh-request-id", "x-msh-trace-id", "x-request-id"];

/// Where and how to reach one provider.
#[derive(Clone, PartialEq)]
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
    /// The environment variable the key was read from, so messages can name it.
    pub api_key_env: Option<String>,
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
            api_key_env: None,
        }
    }

    /// What [`classify`] needs besides the answer, for a request of `model` to `endpoint`.
    pub(crate) fn error_context<'a>(
        &'a self,
        endpoint: Endpoint,
        model: &'a str,
        request_id: Option<&'a str>,
    ) -> ErrorContext<'a> {
        let key = self.api_key.as_ref();
        ErrorContext {
            base_url: &self.base_url,
            endpoint,
            model,
            key: key.map(ApiKey::kind),
            secret: key.map(ApiKey::expose),
            request_id,
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
            .field("api_key_env", &self.api_key_env)
            .finish()
    }
}

/// A shared connection pool, opaque so that nothing outside `providers` holds an HTTP type.
#[derive(Clone)]
pub struct HttpPool {
    client: reqwest::Client,
    connect_timeout: Duration,
    ca_files: Vec<PathBuf>,
}

impl HttpPool {
    /// `ca_files`: PEM files of certificate authorities trusted besides the system's store and
    /// Mozilla's roots (`tls.caCertificates`); one that cannot be read is left out.
    pub fn new(connect_timeout: Duration, ca_files: &[PathBuf]) -> HttpPool {
        HttpPool {
            client: OpenAiCompatible::http_client(connect_timeout, ca_files),
            connect_timeout,
            ca_files: ca_files.to_vec(),
        }
    }

    /// Whether a pool for these settings would be this one: a change means new connections.
    pub fn serves(&self, connect_timeout: Duration, ca_files: &[PathBuf]) -> bool {
        self.connect_timeout == connect_timeout && self.ca_files == ca_files
    }

    /// For the other providers of this module tree (anthropic.rs), which share the pool.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl fmt::Debug for HttpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPool")
            .field("connect_timeout", &self.connect_timeout)
            .field("ca_files", &self.ca_files)
            .finish()
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
    /// The chat route's URL, parsed on first use: every completion goes there.
    chat_url: OnceLock<reqwest::Url>,
    /// The HTTP version the provider last answered over (see [`OpenAiCompatible::protocol`]).
    protocol: AtomicU8,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.inner.cfg.name)
            .field("base_url", &self.inner.cfg.base_url)
            .finish_non_exhaustive()
    }
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

/// The certificates of a PEM file, for `tls.caCertificates`. The error names the file and says
/// what is wrong with it.
pub fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    // A CA bundle is a few hundred KiB at most; anything far larger is not one.
    const LARGEST: u64 = 16 * 1024 * 1024;
    let shown = path.display();
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?.len();
    if size > LARGEST {
        return Err(format!("{shown} is {} MiB, too large for a certificate file", size / (1024 * 1024)));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&bytes).map_err(|_| format!("{shown} is not a PEM certificate file"))?;
    if certificates.is_empty() {
        return Err(format!("{shown} holds no certificate (no `-----BEGIN CERTIFICATE-----` block)"));
    }
    Ok(certificates)
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
        OpenAiCompatible {
            inner: Arc::new(Inner { cfg, http, host, chat_url: OnceLock::new(), protocol: AtomicU8::new(0) }),
        }
    }

    /// A client on a shared pool.
    pub fn with_pool(cfg: ProviderConfig, pool: &HttpPool) -> Self {
        Self::new(cfg, pool.client.clone())
    }

    /// The HTTP client every provider should share: pooled keep-alive connections, the default
    /// connect timeout, and a `kimi-lsp/<version>` user agent.
    pub fn shared_http_client() -> reqwest::Client {
        Self::http_client(DEFAULT_CONNECT_TIMEOUT, &[])
    }

    /// Like [`OpenAiCompatible::shared_http_client`] with another connect timeout, trusting the
    /// certificate authorities in `ca_files` too (PEM; one that cannot be read is left out and
    /// logged: the settings report it where the user sees it).
    pub fn http_client(connect_timeout: Duration, ca_files: &[PathBuf]) -> reqwest::Client {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(8)
                .tcp_keepalive(Duration::from_secs(30))
                .tcp_nodelay(true)
                .user_agent(concat!("kimi-lsp/", env!("CARGO_PKG_VERSION")))
                // reqwest would send a refused HTTP/2 stream up to twice more, unlogged, and
                // `providers::http::send` once more on top: it alone decides, once, for both
                // HTTP versions.
                .retry(reqwest::retry::never())
        };
        let mut with_roots = builder();
        for path in ca_files {
            match load_ca_file(path) {
                Ok(certificates) => {
                    for certificate in certificates {
                        with_roots = with_roots.add_root_certificate(certificate);
                    }
                }
                Err(e) => tracing::warn!("not trusted: {e}"),
            }
        }
        with_roots
            .build()
            .or_else(|e| {
                // A PEM block that is not a certificate rustls accepts fails the whole client:
                // keep the timeouts and the system's roots at least.
                tracing::error!(error = %e, "could not add the `tls.caCertificates` authorities; trusting the system's");
                builder().build()
            })
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not configure the HTTP client; using defaults");
                reqwest::Client::new()
            })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.cfg
    }

    /// The HTTP version the provider last answered over, `None` before any answer. HTTP/2 is
    /// offered on every HTTPS connection; whether a provider takes it decides whether an answer
    /// stopped early costs its connection (docs/providers.md, "Connections"), so `doctor` says.
    pub fn protocol(&self) -> Option<&'static str> {
        match self.inner.protocol.load(Ordering::Relaxed) {
            2 => Some("HTTP/2"),
            1 => Some("HTTP/1.1"),
            _ => None,
        }
    }

    /// The host part of the base URL, as used in messages.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// One answer, not streamed.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let body = req.wire_body(false).map_err(|e| ProviderError::Unsendable { reason: e.0 })?;
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::Chat, Some(body), &req.model, deadline).await?;
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
        self.chat_stream_with(req, None).await
    }

    /// The body [`OpenAiCompatible::chat_stream_with`] sends for `req`, built ahead of time.
    pub fn stream_body(&self, req: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
        req.wire_body(true).map_err(|e| ProviderError::Unsendable { reason: e.0 })
    }

    /// [`OpenAiCompatible::chat_stream`], sending `body` when given: [`OpenAiCompatible::stream_body`]
    /// of this same request.
    pub async fn chat_stream_with(
        &self,
        req: &ChatRequest,
        body: Option<Vec<u8>>,
    ) -> Result<ChatStream, ProviderError> {
        let body = match body {
            Some(body) => body,
            None => self.stream_body(req)?,
        };
        let started = Instant::now();
        let deadline = started + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::Chat, Some(body), &req.model, deadline).await?;

        let events: BoxStream<'static, Result<StreamEvent, ProviderError>> = if answer.is_json() {
            // A server that ignores `stream: true` answers with one JSON document.
            let request_id = answer.request_id.clone();
            let bytes = self
                .read_body(answer.response, deadline, MAX_BODY_BYTES)
                .await
                .map_err(|e| e.with_request_id(request_id.as_deref()))?;
            whole_answer_events(self.parse_completion(&bytes, &req.model, request_id)?)
        } else {
            let origin = Origin { cfg: &self.inner.cfg, host: &self.inner.host, model: &req.model };
            let decoder = StreamAccumulator::new(answer.request_id.clone());
            sse_events(answer, &origin, deadline, started, decoder)
        };
        ChatStream::start(events, self.inner.host.clone()).await
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
        let body = req.token_count_body().map_err(|e| ProviderError::Unsendable { reason: e.0 })?;
        let deadline = Instant::now() + self.inner.cfg.first_byte_timeout;
        let answer = self.send(Method::POST, Endpoint::TokenCount, Some(body), &req.model, deadline).await?;
        let request_id = answer.request_id.clone();
        let bytes = self.read_body(answer.response, deadline, MAX_BODY_BYTES).await?;
        serde_json::from_slice::<TokenCountReply>(&bytes)
            .map(|r| r.data.total_tokens)
            .map_err(|e| self.malformed(format!("the token count cannot be read: {e}"), request_id))
    }

    fn malformed(&self, detail: String, request_id: Option<String>) -> ProviderError {
        ProviderError::MalformedResponse { host: self.inner.host.clone(), detail, request_id }
    }

    fn url(&self, endpoint: Endpoint) -> Result<reqwest::Url, ProviderError> {
        let cached = (endpoint == Endpoint::Chat).then_some(&self.inner.chat_url);
        if let Some(url) = cached.and_then(OnceLock::get) {
            return Ok(url.clone());
        }
        let base = self.inner.cfg.base_url.trim_end_matches('/');
        let url = checked_url(&self.inner.cfg, &format!("{base}{}", endpoint.path()))?;
        if let Some(cache) = cached {
            let _ = cache.set(url.clone());
        }
        Ok(url)
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = extra_headers(&self.inner.cfg)?;
        if let Some(key) = &self.inner.cfg.api_key {
            headers.insert(AUTHORIZATION, key_header(&format!("Bearer {}", key.expose()))?);
        }
        Ok(headers)
    }

    /// Sends one request and waits for its headers until `deadline`. Non-success answers come
    /// back as the matching [`ProviderError`].
    async fn send(
        &self,
        method: Method,
        endpoint: Endpoint,
        body: Option<Vec<u8>>,
        model: &str,
        deadline: Instant,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(endpoint)?;
        let headers = self.headers()?;
        let call = Call {
            cfg: &self.inner.cfg,
            host: &self.inner.host,
            method,
            path: endpoint.path(),
            model,
            request_id_headers: REQUEST_ID_HEADERS,
        };
        let refusal = match http::send(&call, &self.inner.http, url, headers, body, deadline).await? {
            Ok(answer) => {
                let protocol = if answer.response.version() == reqwest::Version::HTTP_2 { 2 } else { 1 };
                self.inner.protocol.store(protocol, Ordering::Relaxed);
                return Ok(answer);
            }
            Err(refusal) => refusal,
        };
        let ctx = self.inner.cfg.error_context(endpoint, model, refusal.request_id.as_deref());
        let mut error = classify(refusal.status, &refusal.body, &ctx);
        http::log_refusal(&call, &error, &refusal, ctx.secret);
        if http::wants_model_list(&error) && endpoint == Endpoint::Chat && refusal.status == 404 {
            http::offer_models(&mut error, Box::pin(self.models()).await);
        }
        Err(error)
    }

    /// Reads a whole body: the first bytes by `first_deadline`, then with at most the idle
    /// timeout between chunks.
    async fn read_body(
        &self,
        response: reqwest::Response,
        first_deadline: Instant,
        limit: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        http::read_body(response, first_deadline, limit, &self.inner.host, &self.inner.cfg).await
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
            let ctx = self.inner.cfg.error_context(Endpoint::Chat, model, request_id.as_deref());
            return Err(classify(super::error::status_for_error_type(kind), &value.to_string(), &ctx));
        }
        let completion: Completion = serde_json::from_value(value)
            .map_err(|e| self.malformed(format!("the answer has an unexpected shape: {e}"), request_id.clone()))?;
        completion_to_response(completion, request_id)
            .ok_or_else(|| self.malformed("the answer has no choices".to_string(), None))
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
        .map(|(i, call)| {
            ToolCall { id: call.id, name: call.function.name, arguments: call.function.arguments }
                .with_id_or_position(i)
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
