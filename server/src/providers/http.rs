//! The HTTP side every provider shares: sending a request within its first-byte deadline, reading
//! bodies within the idle timeout, turning transport failures into [`ProviderError`]s, and the
//! headers and URLs built from a [`ProviderConfig`]. What differs between protocols — routes,
//! authentication headers, how a refusal is classified — stays with each provider.

use futures::stream::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use tokio::time::Instant;

use super::error::{scrub, CertificateProblem, ProviderError, TimeoutPhase};
use super::openai::ProviderConfig;
use super::stream::{timed_body, BodyError};
use super::types::ModelInfo;

/// A whole non-streamed answer larger than this is not a chat completion.
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Error bodies are read only this far.
pub(crate) const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// What a successful request gave back before its body is read.
pub(crate) struct Answer {
    pub response: reqwest::Response,
    pub request_id: Option<String>,
}

impl Answer {
    /// Whether the body is one JSON document: what a server or proxy that ignores `stream: true`
    /// sends instead of events.
    pub fn is_json(&self) -> bool {
        self.response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    }
}

/// A non-success answer, its body read for the provider to classify.
pub(crate) struct Refusal {
    pub status: u16,
    pub headers: HeaderMap,
    /// Empty when the body could not be read.
    pub body: String,
    pub request_id: Option<String>,
}

/// One request, as logs and errors name it.
pub(crate) struct Call<'a> {
    pub cfg: &'a ProviderConfig,
    pub host: &'a str,
    pub method: Method,
    pub path: &'static str,
    /// Empty for requests that name no model.
    pub model: &'a str,
    /// The headers that may carry the server's id of the request, the preferred first.
    pub request_id_headers: &'a [&'a str],
}

/// Sends a request with `headers` and `body` (JSON text) and waits for its headers until
/// `deadline`. A non-success answer comes back as a [`Refusal`], its body read within the idle
/// timeout.
pub(crate) async fn send(
    call: &Call<'_>,
    http: &reqwest::Client,
    url: reqwest::Url,
    mut headers: HeaderMap,
    body: Option<Vec<u8>>,
    deadline: Instant,
) -> Result<Result<Answer, Refusal>, ProviderError> {
    let mut request = http.request(call.method.clone(), url);
    if let Some(body) = body {
        // As reqwest's `json` does it: a content type from the configured headers stays.
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request = request.body(body);
    }
    let cfg = call.cfg;
    let request = request.headers(headers).build().map_err(|e| transport_error(&e, call.host, cfg))?;
    // A body held in memory clones by reference count.
    let again = request.try_clone();
    let started = Instant::now();
    let mut response = tokio::time::timeout_at(deadline, http.execute(request)).await;
    let mut resent = false;
    if let (Ok(Err(e)), Some(again)) = (&response, again) {
        if unprocessed(e) {
            resent = true;
            // A kept-alive connection the server closed as the request went out (its idle
            // timeout, a restart), most likely before reading it, or an HTTP/2 stream the server
            // refused or left out of its GOAWAY: the pool gives it a connection that takes it.
            // Once: a server that hangs up on, or refuses, every request is down. This is the only
            // retry below the router's: reqwest's own is turned off (`OpenAiCompatible::http_client`).
            tracing::debug!(
                provider = %cfg.name,
                path = call.path,
                detail = %scrub(&root_cause(e), None),
                "the provider did not take up the request: sending it once more"
            );
            response = tokio::time::timeout_at(deadline, http.execute(again)).await;
        }
    }
    let response = match response {
        Err(_) => {
            tracing::debug!(
                provider = %cfg.name,
                method = %call.method,
                path = call.path,
                model = call.model,
                "no response headers before the first-byte timeout"
            );
            return Err(ProviderError::Timeout {
                host: call.host.to_string(),
                phase: TimeoutPhase::FirstByte,
                after: cfg.first_byte_timeout,
            });
        }
        // Refused again: a third send (the router's retry of a dropped connection) would meet
        // the same, and its own resend a fourth.
        Ok(Err(e)) if resent && unprocessed(&e) => {
            return Err(ProviderError::NotTakenUp { host: call.host.to_string(), detail: scrub(&root_cause(&e), None) })
        }
        Ok(Err(e)) => return Err(transport_error(&e, call.host, cfg)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let request_id = request_id(response.headers(), call.request_id_headers);
    tracing::debug!(
        provider = %cfg.name,
        method = %call.method,
        path = call.path,
        model = call.model,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        request_id = request_id.as_deref().unwrap_or(""),
        "provider response"
    );
    if status.is_success() {
        return Ok(Ok(Answer { response, request_id }));
    }
    let headers = response.headers().clone();
    let idle = Instant::now() + cfg.idle_timeout;
    let body = match read_body(response, idle, MAX_ERROR_BODY_BYTES, call.host, cfg).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    Ok(Err(Refusal { status: status.as_u16(), headers, body, request_id }))
}

/// Whether `e` says the server did not process the request, so that sending it again cannot do
/// anything twice. Over HTTP/1.1: the connection closed (or was reset) after the request went out
/// and before any of the answer came back, which is what a kept-alive connection the server has
/// just closed does. Over HTTP/2 the server says so itself: a stream reset with REFUSED_STREAM was
/// not processed (RFC 9113 §8.7), nor was one whose id is above a GOAWAY's last stream id (§6.8;
/// a load balancer retiring the connection), whatever the GOAWAY's error code. Any other reset
/// (INTERNAL_ERROR, CANCEL) or an error h2 found itself may come after the model began.
fn unprocessed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(reqwest) = c.downcast_ref::<reqwest::Error>() {
            if reqwest.is_connect() || reqwest.is_timeout() || reqwest.is_status() {
                return false;
            }
        }
        if c.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
            return true;
        }
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            // h2 gives a remote GOAWAY only to the streams above its last stream id, and to
            // requests that came after it and never left (hyper-util sends those again itself
            // only while they are still queued).
            if h2.is_remote() && (h2.is_go_away() || h2.reason() == Some(h2::Reason::REFUSED_STREAM)) {
                return true;
            }
            return h2.get_io().is_some_and(connection_broke);
        }
        if c.downcast_ref::<std::io::Error>().is_some_and(connection_broke) {
            return true;
        }
        cause = c.source();
    }
    false
}

fn connection_broke(io: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe)
}

/// Logs a refusal as the provider classified it.
pub(crate) fn log_refusal(call: &Call<'_>, error: &ProviderError, refusal: &Refusal, secret: Option<&str>) {
    tracing::debug!(
        provider = %call.cfg.name,
        kind = error.kind(),
        status = refusal.status,
        request_id = refusal.request_id.as_deref().unwrap_or(""),
        body = %scrub(&refusal.body, secret).chars().take(500).collect::<String>(),
        "provider error"
    );
}

/// Whether `error` says a model does not exist, so that the provider's model list can offer the
/// models the key may use.
pub(crate) fn wants_model_list(error: &ProviderError) -> bool {
    matches!(error, ProviderError::ModelNotFound { .. })
}

/// Fills the models the key may use into a model-not-found error.
pub(crate) fn offer_models(error: &mut ProviderError, models: Result<Vec<ModelInfo>, ProviderError>) {
    if let ProviderError::ModelNotFound { available, .. } = error {
        match models {
            Ok(models) => *available = models.into_iter().map(|m| m.id).collect(),
            Err(e) => tracing::debug!(error = %e, "could not list models for the 404"),
        }
    }
}

/// The configured `extra_headers`, each value marked sensitive: they may carry credentials (a
/// gateway token).
pub(crate) fn extra_headers(cfg: &ProviderConfig) -> Result<HeaderMap, ProviderError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &cfg.extra_headers {
        let bad = || ProviderError::Unsendable {
            reason: format!("the extra header {name:?} of provider `{}` is not a valid HTTP header", cfg.name),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let mut value = HeaderValue::from_str(value).map_err(|_| bad())?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// A header value that carries the API key, kept out of debug output. The error does not echo
/// the key.
pub(crate) fn key_header(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| ProviderError::Unsendable {
        reason: "the API key contains characters that cannot be sent in an HTTP header; copy it again without \
                 spaces or line breaks"
            .to_string(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `url` (the configured base URL with a route appended) if it parses and is http(s).
pub(crate) fn checked_url(cfg: &ProviderConfig, url: &str) -> Result<reqwest::Url, ProviderError> {
    let invalid = |reason: String| ProviderError::InvalidBaseUrl { base_url: cfg.base_url.clone(), reason };
    let url = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("the scheme must be http or https, not {}", url.scheme())));
    }
    Ok(url)
}

/// The value of the first of `names` that is present, unless empty.
pub(crate) fn request_id(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| headers.get(*name)?.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string)
}

/// How a failure to send a request or read its answer's headers reaches the user.
pub(crate) fn transport_error(e: &reqwest::Error, host: &str, cfg: &ProviderConfig) -> ProviderError {
    let host = host.to_string();
    let detail = scrub(&root_cause(e), None);
    if let Some(problem) = certificate_problem(e) {
        ProviderError::Certificate { host, problem, detail }
    } else if e.is_connect() && (e.is_timeout() || detail.contains("timed out")) {
        ProviderError::Timeout { host, phase: TimeoutPhase::Connect, after: cfg.connect_timeout }
    } else if e.is_connect() {
        ProviderError::Connect { host, detail }
    } else if e.is_builder() {
        ProviderError::InvalidBaseUrl { base_url: cfg.base_url.clone(), reason: detail }
    } else if e.is_request() || e.is_body() {
        // The connection broke after it was opened ("connection closed before message
        // completed", a reset): the answer was lost in transit, which is worth one retry.
        ProviderError::StreamDropped { host, received: 0, detail: Some(detail), request_id: None }
    } else {
        ProviderError::Transport { host, detail }
    }
}

/// Reads a whole body of at most `limit` bytes: the first bytes by `first_deadline`, then with
/// at most the idle timeout between chunks.
pub(crate) async fn read_body(
    response: reqwest::Response,
    first_deadline: Instant,
    limit: usize,
    host: &str,
    cfg: &ProviderConfig,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = timed_body(response.bytes_stream(), first_deadline, cfg.first_byte_timeout, cfg.idle_timeout);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                let bytes = bytes.as_ref();
                if out.len() + bytes.len() > limit {
                    return Err(ProviderError::MalformedResponse {
                        host: host.to_string(),
                        detail: format!("the answer is larger than {} MiB", limit / (1024 * 1024)),
                        request_id: None,
                    });
                }
                out.extend_from_slice(bytes);
            }
            Err(BodyError::Timeout(phase, after)) => {
                return Err(ProviderError::Timeout { host: host.to_string(), phase, after })
            }
            Err(BodyError::Transport(e)) => {
                return Err(ProviderError::StreamDropped {
                    host: host.to_string(),
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

/// The certificate problem behind a failed TLS handshake, if that is what failed. rustls's error
/// arrives inside an `io::Error` (inside another one, from hyper-util's connector), and an
/// `io::Error`'s `source()` skips the error it wraps: the walk steps into each one instead.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<CertificateProblem> {
    use rustls::CertificateError as C;
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(rustls::Error::InvalidCertificate(cert)) = err.downcast_ref::<rustls::Error>() {
            return Some(match cert {
                C::NotValidForName | C::NotValidForNameContext { .. } => CertificateProblem::OtherName,
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                    CertificateProblem::OutOfDate
                }
                _ => CertificateProblem::Untrusted,
            });
        }
        current = match err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// The innermost cause of an error ("Connection refused (os error 111)"): the outer layers of a
/// reqwest error only say "error sending request for url (…)".
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_is_told_apart_inside_the_io_error_that_carries_it() {
        use rustls::CertificateError as C;
        // As reqwest hands it up: rustls's error inside tokio-rustls's io::Error, inside
        // hyper-util's connector's io::Error, under hyper-util's own error.
        let wrapped = |cert: C| -> Box<dyn std::error::Error + Send + Sync> {
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(cert));
            Box::new(Outer(std::io::Error::other(io)))
        };
        let problem = |cert| certificate_problem(wrapped(cert).as_ref());
        assert_eq!(problem(C::UnknownIssuer), Some(CertificateProblem::Untrusted));
        assert_eq!(problem(C::BadSignature), Some(CertificateProblem::Untrusted));
        assert_eq!(problem(C::NotValidForName), Some(CertificateProblem::OtherName));
        assert_eq!(problem(C::Expired), Some(CertificateProblem::OutOfDate));
        assert_eq!(problem(C::NotValidYet), Some(CertificateProblem::OutOfDate));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(certificate_problem(&Outer(refused)), None);
        let other_tls = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::HandshakeNotComplete);
        assert_eq!(certificate_problem(&Outer(other_tls)), None);

        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
    }

    /// The errors as h2 hands them to hyper: a real HTTP/2 server resets the client's stream.
    #[tokio::test]
    async fn only_a_stream_the_server_says_it_did_not_process_is_sent_again() {
        async fn reset_with(reason: h2::Reason) -> h2::Error {
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let mut conn = h2::server::handshake(server).await.unwrap();
                if let Some(Ok((_, mut respond))) = conn.accept().await {
                    respond.send_reset(reason);
                }
                // Serves until the client is done, so that the reset is written.
                while conn.accept().await.is_some() {}
            });
            let (mut send, conn) = h2::client::handshake(client).await.unwrap();
            tokio::spawn(conn);
            let request = hyper::Request::post("https://api.example/v1/chat/completions").body(()).unwrap();
            let (response, _) = send.send_request(request, true).unwrap();
            response.await.expect_err("reset")
        }
        let refused = reset_with(h2::Reason::REFUSED_STREAM).await;
        assert!(refused.is_remote(), "{refused}");
        assert!(unprocessed(&Outer(Box::new(refused))));
        for reason in [h2::Reason::INTERNAL_ERROR, h2::Reason::CANCEL, h2::Reason::PROTOCOL_ERROR] {
            let reset = reset_with(reason).await;
            assert!(!unprocessed(&Outer(Box::new(reset))), "{reason:?}");
        }
        // The code alone is not the server's word.
        assert!(!unprocessed(&Outer(Box::new(h2::Error::from(h2::Reason::REFUSED_STREAM)))));
        // A kept-alive HTTP/1.1 connection closed under the request, as before.
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        assert!(unprocessed(&Outer(Box::new(broken))));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(!unprocessed(&Outer(Box::new(refused))));

        /// hyper's error around h2's.
        #[derive(Debug)]
        struct Outer(Box<dyn std::error::Error + Send + Sync>);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("http2 error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(self.0.as_ref())
            }
        }
    }

    #[test]
    fn request_id_takes_the_first_header_present() {
        let names = ["msh-request-id", "x-msh-trace-id", "x-request-id"];
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers, &names), None);
        headers.insert("x-request-id", HeaderValue::from_static("generic"));
        assert_eq!(request_id(&headers, &names).as_deref(), Some("generic"));
        headers.insert("x-msh-trace-id", HeaderValue::from_static("trace"));
        assert_eq!(request_id(&headers, &names).as_deref(), Some("trace"));
        headers.insert("msh-request-id", HeaderValue::from_static("msh"));
        assert_eq!(request_id(&headers, &names).as_deref(), Some("msh"));
    }

    #[test]
    fn extra_headers_are_sensitive_and_bad_ones_are_named() {
        let mut cfg = ProviderConfig::new("gw", "https://gw.example/v1", None);
        cfg.extra_headers = vec![("x-gateway-token".into(), "t0k".into())];
        let headers = extra_headers(&cfg).unwrap();
        assert!(headers["x-gateway-token"].is_sensitive());
        cfg.extra_headers = vec![("bad name".into(), "v".into())];
        let err = extra_headers(&cfg).unwrap_err();
        assert!(err.to_string().contains("\"bad name\"") && err.to_string().contains("`gw`"), "{err}");
    }
}
