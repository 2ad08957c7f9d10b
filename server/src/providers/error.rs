//! What can go wrong talking to a model, as typed errors whose `Display` tells the user what to do.
//!
//! The classification of HTTP answers ([`classify`]) is a pure function of status, body and the
//! request's context, so every row of Moonshot's error table is tested with plain strings.

use std::time::Duration;

use serde_json::Value;

use crate::secret::KeyKind;

const GLOBAL_BASE_URL: &str = "https://api.moonshot.ai/v1";
const CHINA_BASE_URL: &str = "https://api.moonshot.cn/v1";

/// Which Moonshot platform a host belongs to, if any: keys, billing and the region hint depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// api.moonshot.ai, keys from platform.moonshot.ai.
    Global,
    /// api.moonshot.cn, keys from platform.moonshot.cn.
    China,
}

impl Platform {
    /// `host` as [`host_of`] gives it, possibly with a port.
    pub fn of_host(host: &str) -> Option<Platform> {
        let host = match host.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "moonshot.ai" || host.ends_with(".moonshot.ai") {
            Some(Platform::Global)
        } else if host == "moonshot.cn" || host.ends_with(".moonshot.cn") {
            Some(Platform::China)
        } else {
            None
        }
    }

    pub fn base_url(self) -> &'static str {
        match self {
            Platform::Global => GLOBAL_BASE_URL,
            Platform::China => CHINA_BASE_URL,
        }
    }

    /// Where keys are created and balances recharged.
    pub fn console(self) -> &'static str {
        match self {
            Platform::Global => "https://platform.moonshot.ai",
            Platform::China => "https://platform.moonshot.cn",
        }
    }

    pub fn other(self) -> Platform {
        match self {
            Platform::Global => Platform::China,
            Platform::China => Platform::Global,
        }
    }
}

/// The host part of a base URL, for messages; the whole string when it does not parse.
pub fn host_of(base_url: &str) -> String {
    match reqwest::Url::parse(base_url) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => base_url.to_string(),
        },
        Err(_) => base_url.to_string(),
    }
}

/// Which of a stream's timeouts fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the TCP/TLS connection.
    Connect,
    /// From sending the request to the response headers and the first bytes of the answer.
    FirstByte,
    /// Between two chunks of a streamed answer.
    Idle,
}

/// Why the provider's TLS certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Signed by no authority this machine trusts: most often a company proxy that inspects HTTPS.
    Untrusted,
    /// Made out to another host name: a wrong base URL, or something else answering for it.
    OtherName,
    /// Expired or not valid yet: an old certificate, or this computer's clock.
    OutOfDate,
}

/// Which Moonshot rate limit a 429 names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    RequestsPerMinute,
    Concurrency,
    TokensPerMinute,
    TokensPerDay,
    Unspecified,
}

impl RateLimit {
    fn describe(self) -> &'static str {
        match self {
            RateLimit::RequestsPerMinute => "too many requests per minute (RPM limit)",
            RateLimit::Concurrency => "too many requests at the same time (concurrency limit)",
            RateLimit::TokensPerMinute => "too many tokens per minute (TPM limit)",
            RateLimit::TokensPerDay => "the daily token allowance is used up (TPD limit)",
            RateLimit::Unspecified => "too many requests",
        }
    }
}

/// What a caller may do after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryHint {
    /// Retrying the same request cannot help.
    Never,
    /// Retry after waiting this long (the server said so).
    After(Duration),
    /// Retry with exponential backoff.
    Backoff,
    /// Retry once (for a context overflow: only after shrinking the prompt).
    Once,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 401 `invalid_authentication_error`: a wrong key, a key of the other region, or no key.
    #[error("{}", auth_message(.host, .message, *.key, .suggested_base_url.as_deref()))]
    InvalidAuthentication {
        host: String,
        message: String,
        /// What kind of key was sent; `None` when none was.
        key: Option<KeyKind>,
        /// The other Moonshot region's base URL, when the key may belong there.
        suggested_base_url: Option<String>,
        request_id: Option<String>,
    },

    /// 401 `incorrect_api_key_error`: the key is malformed or revoked.
    #[error("{}", incorrect_key_message(.host, *.key))]
    IncorrectApiKey { host: String, key: Option<KeyKind>, request_id: Option<String> },

    /// 400: prompt plus `max_tokens` exceed the model's context. The router shrinks the request
    /// and retries once where the feature says what may be left out (`router::Shrink`).
    #[error(
        "The request needs {requested} tokens but the model's context limit is {limit} (prompt \
         plus max_tokens). Send less context or lower max_tokens."
    )]
    ContextOverflow {
        limit: u32,
        requested: u32,
        /// Whether `requested` counts the room asked for the answer (`max_tokens`) besides the
        /// prompt: Moonshot's and vLLM's do, Anthropic's "prompt is too long" does not.
        counts_answer: bool,
        request_id: Option<String>,
    },

    /// A request that does not fit the model's context after the one shrink the router makes
    /// (`shrunk`), or that had nothing left to leave out: what must be sent alone is too long.
    #[error("{}", too_long_message(.model, *.limit, *.requested, *.shrunk, .advice))]
    TooLong {
        model: String,
        limit: u32,
        requested: u32,
        shrunk: bool,
        /// What the user can do, from the feature: what to send less of, which setting names the model.
        advice: String,
        request_id: Option<String>,
    },

    /// 400: the model accepts only one temperature (K2.5: 0.6, or 1 with thinking on).
    #[error("{}", temperature_message(.model, *.allowed, .message))]
    InvalidTemperature { model: String, allowed: Option<f32>, message: String, request_id: Option<String> },

    /// Any other 400.
    #[error("{host} rejected the request as invalid: {message}")]
    InvalidRequest { host: String, message: String, request_id: Option<String> },

    /// 400 `content_filter`.
    #[error(
        "The request was rejected by the provider's content filter as high risk. Rephrase it or \
         leave out the flagged text; sending it again will not help."
    )]
    ContentFilter { request_id: Option<String> },

    /// 403 `permission_denied_error`.
    #[error(
        "{host} refused access ({message}). This key or account may not use this API or model; \
         check its permissions in the platform console."
    )]
    PermissionDenied { host: String, message: String, request_id: Option<String> },

    /// 404 for a model id that does not exist (or that the key may not use).
    #[error("{}", model_not_found_message(.model, .host, .available))]
    ModelNotFound {
        model: String,
        host: String,
        /// The ids `GET /models` lists, when that could be read.
        available: Vec<String>,
        request_id: Option<String>,
    },

    /// 429 `rate_limit_reached_error`.
    #[error(
        "Rate limit reached: {}; the server asks to wait {} s. Limits depend on the account's \
         tier (the lowest allows 3 requests a minute and one at a time); topping up the account \
         raises them.",
        .limit.describe(), secs(*.retry_after)
    )]
    RateLimited { limit: RateLimit, retry_after: Duration, request_id: Option<String> },

    /// 429 `engine_overloaded_error`.
    #[error("{}", overloaded_message(.host, .model, .tried_before))]
    Overloaded {
        host: String,
        model: String,
        /// The models of the route tried before this one, when it was a fallback: each as
        /// `name (what went wrong)`. Set by the router.
        tried_before: Vec<String>,
        request_id: Option<String>,
    },

    /// 429 `exceeded_current_quota_error`: the account is suspended until recharged.
    #[error("{}", balance_message(.host, .billing_url.as_deref()))]
    InsufficientBalance { host: String, billing_url: Option<String>, request_id: Option<String> },

    /// 500 `unexpected_output`: the model produced something the server could not return.
    #[error("{host} failed to produce a valid answer ({message}). This is usually transient; try again.")]
    UnexpectedOutput { host: String, message: String, request_id: Option<String> },

    /// Any other 5xx.
    #[error(
        "{host} had an internal error (HTTP {status}: {message}). Try again shortly; if it keeps \
         failing, the service may be down."
    )]
    ServerError { host: String, status: u16, message: String, request_id: Option<String> },

    /// A route the server does not know: the base URL's path is wrong.
    #[error("{}", wrong_path_message(.url, *.status, .suggested_base_url.as_deref()))]
    WrongPath {
        url: String,
        status: u16,
        /// The base URL with `/v1` added, when it lacks it.
        suggested_base_url: Option<String>,
        request_id: Option<String>,
    },

    /// A Moonshot-only endpoint (token count) that this server does not have.
    #[error("{}", endpoint_missing_message(.host, .what, .path))]
    EndpointMissing { host: String, what: &'static str, path: &'static str },

    /// A status the API does not document, with a body we could not classify.
    #[error("{host} answered HTTP {status}: {message}")]
    UnexpectedStatus { host: String, status: u16, message: String, request_id: Option<String> },

    #[error(
        "Cannot reach {host}: the host is unreachable ({detail}). Check the network, any proxy, \
         and the provider's base URL."
    )]
    Connect { host: String, detail: String },

    /// The TLS handshake failed on the certificate: unreachable is the wrong word for it, and
    /// the remedy (a company proxy's root) is specific.
    #[error("{}", certificate_message(.host, *.problem, .detail))]
    Certificate { host: String, problem: CertificateProblem, detail: String },

    #[error("{}", timeout_message(.host, *.phase, *.after))]
    Timeout { host: String, phase: TimeoutPhase, after: Duration },

    /// The stream ended before the answer was finished: never treated as a short answer.
    #[error("{}", dropped_message(.host, *.received, .detail.as_deref()))]
    StreamDropped {
        host: String,
        /// Characters of the answer (and reasoning) that had arrived.
        received: usize,
        detail: Option<String>,
        request_id: Option<String>,
    },

    /// The provider did not take up the request, nor the second send the transport made of it
    /// (`providers/http.rs`): a connection closed before any answer, or HTTP/2 streams refused.
    /// No retry: the transport's resend was the one a dropped connection gets.
    #[error(
        "{host} did not take up the request, nor when it was sent once more ({detail}). The service may be \
         restarting or shedding load; try again in a moment."
    )]
    NotTakenUp { host: String, detail: String },

    #[error(
        "{host} sent a response that is not valid for the OpenAI-compatible API ({detail}). If \
         this server is not Moonshot or OpenAI-compatible, check the provider's base URL."
    )]
    MalformedResponse { host: String, detail: String, request_id: Option<String> },

    /// The request was refused locally, before anything was sent.
    #[error("The request was not sent: {reason}")]
    Unsendable { reason: String },

    #[error(
        "The base URL {base_url:?} is not a valid URL ({reason}). Set the provider's `baseUrl` \
         (or MOONSHOT_BASE_URL), e.g. to https://api.moonshot.ai/v1."
    )]
    InvalidBaseUrl { base_url: String, reason: String },

    /// Any other transport failure (TLS, a reset connection while sending).
    #[error("The request to {host} failed: {detail}")]
    Transport { host: String, detail: String },

    /// Refused before any network call: a spending limit from the settings is reached.
    /// Amounts are in the price table's currency.
    #[error("{}", budget_message(*.period, *.spent, *.limit))]
    BudgetExceeded { period: BudgetPeriod, spent: f64, limit: f64 },
}

/// Which spending limit (`budget.daily` or `budget.monthly`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetPeriod {
    Daily,
    Monthly,
}

impl BudgetPeriod {
    /// The setting that raises the limit.
    pub fn setting(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "budget.daily",
            BudgetPeriod::Monthly => "budget.monthly",
        }
    }

    pub fn adjective(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "daily",
            BudgetPeriod::Monthly => "monthly",
        }
    }

    /// The span the spend is counted over, as a sentence ends: "spent today".
    pub fn span(self) -> &'static str {
        match self {
            BudgetPeriod::Daily => "today",
            BudgetPeriod::Monthly => "this month",
        }
    }
}

/// Money for messages: small amounts keep enough digits to be told apart (a completion costs
/// hundredths of a cent).
pub fn format_amount(amount: f64) -> String {
    if amount.abs() >= 1.0 {
        format!("{amount:.2}")
    } else {
        format!("{amount:.4}")
    }
}

fn budget_message(period: BudgetPeriod, spent: f64, limit: f64) -> String {
    format!(
        "The {} budget is used up: {} spent {} of a limit of {}, so the request was not sent. \
         To continue, raise `{}` in the kimi-lsp settings (or remove it for no limit).",
        period.adjective(),
        format_amount(spent),
        period.span(),
        format_amount(limit),
        period.setting()
    )
}

fn too_long_message(model: &str, limit: u32, requested: u32, shrunk: bool, advice: &str) -> String {
    if shrunk {
        format!(
            "The request is too long for `{model}` even after leaving out what could be left out: it still \
             needs {requested} tokens and the model's context limit is {limit}. {advice}"
        )
    } else {
        format!(
            "The request is too long for `{model}`: it needs {requested} tokens and the model's context limit is \
             {limit}, and what must be sent cannot be shortened, so it was not sent again. {advice}"
        )
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s:.1}")
    }
}

fn auth_message(host: &str, message: &str, key: Option<KeyKind>, suggested: Option<&str>) -> String {
    let platform = Platform::of_host(host);
    match (platform, key) {
        (Some(p), None) => format!(
            "{host} requires an API key and none is set. Create one at {} and set \
             MOONSHOT_API_KEY to it.",
            p.console()
        ),
        (_, Some(KeyKind::KimiCode)) => kimi_code_message(host),
        (Some(p), Some(_)) => {
            let other = suggested.unwrap_or(p.other().base_url());
            format!(
                "The API key was rejected by {host} (Invalid Authentication). Check \
                 MOONSHOT_API_KEY. Keys from platform.moonshot.cn only work with {CHINA_BASE_URL} \
                 and keys from platform.moonshot.ai only with {GLOBAL_BASE_URL} — if yours is \
                 from the other platform, set `baseUrl` (or MOONSHOT_BASE_URL) to {other}."
            )
        }
        (None, None) => format!(
            "{host} requires an API key (HTTP 401: {message}) and none is set for this provider. \
             Set the provider's API key in the configuration."
        ),
        (None, Some(_)) => format!(
            "The API key was rejected by {host} (HTTP 401: {message}). Check the API key \
             configured for this provider."
        ),
    }
}

fn kimi_code_message(host: &str) -> String {
    format!(
        "The API key was rejected by {host}: it is a Kimi Code key (sk-kimi-…), which only works \
         with the Kimi Code service, not the Moonshot platform API. Create a platform key at \
         https://platform.moonshot.ai (or https://platform.moonshot.cn) and set MOONSHOT_API_KEY \
         to it."
    )
}

fn incorrect_key_message(host: &str, key: Option<KeyKind>) -> String {
    match (key, Platform::of_host(host)) {
        (Some(KeyKind::KimiCode), _) => kimi_code_message(host),
        (_, Some(p)) => format!(
            "{host} says the API key is incorrect (Incorrect API key provided). Copy the whole key \
             again from {} and set MOONSHOT_API_KEY to it.",
            p.console()
        ),
        (_, None) => format!("{host} says the API key is incorrect. Check the API key configured for this provider."),
    }
}

fn temperature_message(model: &str, allowed: Option<f32>, message: &str) -> String {
    match allowed {
        Some(t) => format!(
            "The model {model} only accepts temperature {t}: remove `temperature` from its \
             settings or set it to {t}."
        ),
        None => format!(
            "The model {model} rejected the temperature ({message}); remove `temperature` from \
             its settings."
        ),
    }
}

fn model_not_found_message(model: &str, host: &str, available: &[String]) -> String {
    if available.is_empty() {
        format!(
            "The model `{model}` does not exist on {host}, or this key may not use it. Check the \
             model id in the configuration."
        )
    } else {
        format!(
            "The model `{model}` does not exist on {host}, or this key may not use it. Models \
             available: {}. Set the setting that names it (`models.completion`, `models.action` or \
             `models.chat`) to one of them.",
            available.join(", ")
        )
    }
}

/// Advises a fallback model only where none was tried: one that was is already configured.
fn overloaded_message(host: &str, model: &str, tried_before: &[String]) -> String {
    if tried_before.is_empty() {
        return format!(
            "{host} is overloaded right now (model {model}). Try again in a moment, or configure a fallback model."
        );
    }
    let (all, none) = if tried_before.len() == 1 { ("Both", "neither") } else { ("All the", "none") };
    format!(
        "{all} models of this route were tried and {none} could answer: {}, then {model} (overloaded at {host}). \
         Try again in a moment.",
        tried_before.join(", ")
    )
}

fn balance_message(host: &str, billing_url: Option<&str>) -> String {
    match billing_url {
        Some(url) => format!(
            "The account behind this API key is out of balance ({host} suspended it for \
             insufficient balance). Recharge at {url}; requests will fail until then."
        ),
        None => format!(
            "The account behind this API key has no quota left on {host}. Add credit with the \
             provider; requests will fail until then."
        ),
    }
}

fn endpoint_missing_message(host: &str, what: &str, path: &str) -> String {
    if what == MODEL_LIST {
        // Anthropic-compatible endpoints may have no model list (anthropic.rs).
        return format!(
            "{host} has no model list ({path}); set the models' capabilities (context length, images, \
             reasoning) in the configuration."
        );
    }
    format!("{host} has no {what} endpoint ({path}); it exists only on the Moonshot platform API.")
}

/// The `what` of [`ProviderError::EndpointMissing`] for a provider without a model list.
pub const MODEL_LIST: &str = "model list";

fn wrong_path_message(url: &str, status: u16, suggested: Option<&str>) -> String {
    // A root without `/v1` is an Anthropic-style API's (anthropic.rs), whose routes add `/v1`.
    if let Some(root) = suggested.filter(|s| !s.ends_with("/v1")) {
        return format!(
            "{url} is not an API route (HTTP {status}). The provider's base URL has a wrong path: set its \
             `baseUrl` to {root}."
        );
    }
    let fix = match suggested {
        Some(s) => format!("set `baseUrl` (or MOONSHOT_BASE_URL) to {s}"),
        None => "check `baseUrl` (or MOONSHOT_BASE_URL); Moonshot's is https://api.moonshot.ai/v1".to_string(),
    };
    format!(
        "{url} is not an API route (HTTP {status}). The base URL probably has a wrong path, e.g. \
         a missing /v1: {fix}."
    )
}

fn dropped_message(host: &str, received: usize, detail: Option<&str>) -> String {
    let mut what = Vec::new();
    if received > 0 {
        what.push(format!("{received} characters received"));
    }
    if let Some(d) = detail {
        what.push(d.to_string());
    }
    let what = if what.is_empty() { String::new() } else { format!(" ({})", what.join("; ")) };
    format!(
        "The connection to {host} closed before the answer was complete{what}. The partial \
         answer was discarded; try again."
    )
}

fn certificate_message(host: &str, problem: CertificateProblem, detail: &str) -> String {
    match problem {
        CertificateProblem::Untrusted => format!(
            "{host}'s TLS certificate is signed by an authority this computer does not trust ({detail}). \
             A company proxy or firewall that inspects HTTPS does this: install its root certificate in \
             the system's certificate store, or name its PEM file in the `tls.caCertificates` setting."
        ),
        CertificateProblem::OtherName => format!(
            "{host} presented a TLS certificate made out to another name ({detail}). Check the \
             provider's base URL; if a proxy answers for the host, trust its root certificate with the \
             `tls.caCertificates` setting."
        ),
        CertificateProblem::OutOfDate => format!(
            "{host}'s TLS certificate is expired or not valid yet ({detail}). Check this computer's \
             date and time; if they are right, the certificate (or a proxy's) needs renewing."
        ),
    }
}

fn timeout_message(host: &str, phase: TimeoutPhase, after: Duration) -> String {
    let s = secs(after);
    match phase {
        TimeoutPhase::Connect => format!(
            "Connecting to {host} timed out after {s} s (connect timeout). Check the network, any \
             proxy, and the provider's base URL."
        ),
        TimeoutPhase::FirstByte => format!(
            "{host} did not start answering within {s} s (first-byte timeout). The service may be \
             overloaded; try again, or raise the first-byte timeout."
        ),
        TimeoutPhase::Idle => format!(
            "{host} stopped sending for {s} s in the middle of the answer (idle timeout); the \
             answer was abandoned. Try again."
        ),
    }
}

impl ProviderError {
    pub fn retry_hint(&self) -> RetryHint {
        use ProviderError::*;
        match self {
            RateLimited { retry_after, .. } => RetryHint::After(*retry_after),
            Overloaded { .. } | ServerError { .. } | Timeout { .. } => RetryHint::Backoff,
            UnexpectedOutput { .. } | ContextOverflow { .. } | StreamDropped { .. } => RetryHint::Once,
            _ => RetryHint::Never,
        }
    }

    /// A stream that ended with neither its answer's end nor an error, where the host and what
    /// had arrived are not known.
    pub fn dropped() -> ProviderError {
        ProviderError::StreamDropped { host: String::new(), received: 0, detail: None, request_id: None }
    }

    /// Whether another model or provider may succeed where this one failed. Errors about the
    /// account (key, balance) or the request itself would fail the same way elsewhere.
    pub fn allows_fallback(&self) -> bool {
        use ProviderError::*;
        matches!(
            self,
            Overloaded { .. }
                | RateLimited { .. }
                | ServerError { .. }
                | UnexpectedOutput { .. }
                | Timeout { .. }
                | Connect { .. }
                | Certificate { .. }
                | StreamDropped { .. }
                | NotTakenUp { .. }
                // A retired model id: a configured fallback model is exactly what the user wants.
                | ModelNotFound { .. }
        )
    }

    /// The server's request id (`Msh-Request-Id`), for support.
    pub fn request_id(&self) -> Option<&str> {
        use ProviderError::*;
        match self {
            InvalidAuthentication { request_id, .. }
            | IncorrectApiKey { request_id, .. }
            | ContextOverflow { request_id, .. }
            | TooLong { request_id, .. }
            | InvalidTemperature { request_id, .. }
            | InvalidRequest { request_id, .. }
            | ContentFilter { request_id }
            | PermissionDenied { request_id, .. }
            | ModelNotFound { request_id, .. }
            | RateLimited { request_id, .. }
            | Overloaded { request_id, .. }
            | InsufficientBalance { request_id, .. }
            | UnexpectedOutput { request_id, .. }
            | ServerError { request_id, .. }
            | WrongPath { request_id, .. }
            | UnexpectedStatus { request_id, .. }
            | StreamDropped { request_id, .. }
            | MalformedResponse { request_id, .. } => request_id.as_deref(),
            EndpointMissing { .. }
            | BudgetExceeded { .. }
            | Connect { .. }
            | Certificate { .. }
            | Timeout { .. }
            | NotTakenUp { .. }
            | Unsendable { .. }
            | InvalidBaseUrl { .. }
            | Transport { .. } => None,
        }
    }

    /// A short stable name for logs and the usage ledger.
    pub fn kind(&self) -> &'static str {
        use ProviderError::*;
        match self {
            InvalidAuthentication { .. } => "invalid_authentication",
            IncorrectApiKey { .. } => "incorrect_api_key",
            ContextOverflow { .. } => "context_overflow",
            TooLong { .. } => "too_long",
            InvalidTemperature { .. } => "invalid_temperature",
            InvalidRequest { .. } => "invalid_request",
            ContentFilter { .. } => "content_filter",
            PermissionDenied { .. } => "permission_denied",
            ModelNotFound { .. } => "model_not_found",
            RateLimited { .. } => "rate_limited",
            Overloaded { .. } => "overloaded",
            InsufficientBalance { .. } => "insufficient_balance",
            UnexpectedOutput { .. } => "unexpected_output",
            ServerError { .. } => "server_error",
            WrongPath { .. } => "wrong_path",
            EndpointMissing { .. } => "endpoint_missing",
            UnexpectedStatus { .. } => "unexpected_status",
            Connect { .. } => "connect",
            Certificate { .. } => "certificate",
            Timeout { .. } => "timeout",
            StreamDropped { .. } => "stream_dropped",
            NotTakenUp { .. } => "not_taken_up",
            MalformedResponse { .. } => "malformed_response",
            Unsendable { .. } => "unsendable",
            InvalidBaseUrl { .. } => "invalid_base_url",
            Transport { .. } => "transport",
            BudgetExceeded { .. } => "budget_exceeded",
        }
    }

    /// This error of a route's model that was tried after `tried` (each `name (what went
    /// wrong)`), so that it does not advise configuring what is already configured.
    pub fn after_fallbacks(mut self, tried: Vec<String>) -> Self {
        if let ProviderError::Overloaded { tried_before, .. } = &mut self {
            *tried_before = tried;
        }
        self
    }

    /// Sets the request id on errors that carry one and have none yet.
    pub(crate) fn with_request_id(mut self, id: Option<&str>) -> Self {
        use ProviderError::*;
        let Some(id) = id else { return self };
        match &mut self {
            InvalidAuthentication { request_id, .. }
            | IncorrectApiKey { request_id, .. }
            | ContextOverflow { request_id, .. }
            | TooLong { request_id, .. }
            | InvalidTemperature { request_id, .. }
            | InvalidRequest { request_id, .. }
            | ContentFilter { request_id }
            | PermissionDenied { request_id, .. }
            | ModelNotFound { request_id, .. }
            | RateLimited { request_id, .. }
            | Overloaded { request_id, .. }
            | InsufficientBalance { request_id, .. }
            | UnexpectedOutput { request_id, .. }
            | ServerError { request_id, .. }
            | WrongPath { request_id, .. }
            | UnexpectedStatus { request_id, .. }
            | StreamDropped { request_id, .. }
            | MalformedResponse { request_id, .. }
                if request_id.is_none() =>
            {
                *request_id = Some(id.to_string());
            }
            _ => {}
        }
        self
    }
}

/// Which call failed: a 404 means different things on different routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Models,
    Balance,
    TokenCount,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Models => "/models",
            Endpoint::Balance => "/users/me/balance",
            Endpoint::TokenCount => "/tokenizers/estimate-token-count",
        }
    }
}

/// What [`classify`] needs to know about the request besides the answer.
#[derive(Clone, Debug)]
pub struct ErrorContext<'a> {
    pub base_url: &'a str,
    pub endpoint: Endpoint,
    pub model: &'a str,
    pub key: Option<KeyKind>,
    /// The key itself, only to scrub it from any server text we keep.
    pub secret: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

/// The fields of an error body, whichever of the shapes in use it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub message: String,
    /// `error.type` (OpenAI shape) or the `error` string of Moonshot's gateway.
    pub kind: String,
    pub code: String,
    /// `{"error":{"message":…}}` or vLLM's flat `{"object":"error",…}`: a real API answer rather
    /// than a router's or proxy's.
    pub openai_shape: bool,
}

fn value_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Reads an error body: OpenAI/Moonshot `{"error":{"message","type"}}`, vLLM
/// `{"object":"error","message","type"}`, Moonshot's gateway `{"code":5,"error":"url.not_found",
/// "message":…}`, FastAPI `{"detail":…}`, or anything else as plain text.
pub fn parse_error_body(body: &str) -> ErrorBody {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return ErrorBody { message: excerpt(body), ..ErrorBody::default() };
    };
    if let Some(err) = json.get("error").filter(|e| e.is_object()) {
        return ErrorBody {
            message: value_text(err.get("message")),
            kind: value_text(err.get("type")),
            code: value_text(err.get("code")),
            openai_shape: true,
        };
    }
    if json.get("object").and_then(Value::as_str) == Some("error") {
        return ErrorBody {
            message: value_text(json.get("message")),
            kind: value_text(json.get("type")),
            code: value_text(json.get("code")),
            openai_shape: true,
        };
    }
    if let Some(kind) = json.get("error").and_then(Value::as_str) {
        let message = value_text(json.get("message"));
        return ErrorBody {
            message: if message.is_empty() { kind.to_string() } else { message },
            kind: kind.to_string(),
            code: value_text(json.get("code")),
            openai_shape: false,
        };
    }
    if let Some(detail) = json.get("detail") {
        return ErrorBody { message: value_text(Some(detail)), ..ErrorBody::default() };
    }
    ErrorBody { message: excerpt(body), ..ErrorBody::default() }
}

/// At most 300 characters of a body, on one line: enough to recognise, not a page of HTML.
fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
    if one_line.is_empty() {
        "(empty body)".to_string()
    } else {
        one_line
    }
}

/// Removes the key, and anything shaped like a platform key, from server text we keep.
pub fn scrub(text: &str, secret: Option<&str>) -> String {
    let out = match secret {
        Some(s) if !s.is_empty() => text.replace(s, "<redacted>"),
        _ => text.to_string(),
    };
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(pos) = rest.find("sk-") {
        result.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(tail.len());
        if len >= 20 {
            result.push_str("sk-<redacted>");
        } else {
            result.push_str(&tail[..len]);
        }
        rest = &tail[len..];
    }
    result.push_str(rest);
    result
}

/// The wait a 429 message names ("please try again after 1 seconds"); 1 s when it names none.
pub fn parse_retry_after(message: &str) -> Duration {
    let lower = message.to_ascii_lowercase();
    lower
        .find("after ")
        .and_then(|pos| leading_number(&lower[pos + "after ".len()..]))
        .and_then(stated_wait)
        .unwrap_or(Duration::from_secs(1))
}

/// The longest wait a provider's 429 is taken at its word for: a daily token limit resets
/// within a day. A number past it (or past what a `Duration` holds, which panicked, and past
/// what an `Instant` can be moved by, which would have panicked in the completion cool-down)
/// is read as this.
pub const LONGEST_STATED_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// A wait the provider stated in seconds, at most [`LONGEST_STATED_WAIT`]; `None` for a negative
/// or non-finite number.
pub fn stated_wait(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(LONGEST_STATED_WAIT.as_secs_f64())))
}

fn leading_number(text: &str) -> Option<f64> {
    let text = text.trim_start();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    text[..end].trim_end_matches('.').parse().ok()
}

/// The first whole number after `marker`, skipping separators like `: ` or ` is `.
fn number_after(text: &str, marker: &str) -> Option<u32> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let digits_start = rest.find(|c: char| c.is_ascii_digit())?;
    if digits_start > 4 {
        return None;
    }
    let digits: String = rest[digits_start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `(limit, requested)` from a context-overflow message: Moonshot's "exceeded model token limit:
/// 262144 (requested: 291351)" or vLLM/OpenAI's "maximum context length is 32768 tokens. However,
/// you requested 33000 tokens".
pub fn parse_context_overflow(message: &str) -> Option<(u32, u32)> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("exceeded model token limit") {
        let limit = number_after(&lower, "token limit")?;
        let requested = number_after(&lower, "requested")?;
        return Some((limit, requested));
    }
    if lower.contains("maximum context length") {
        let limit = number_after(&lower, "maximum context length is")?;
        let requested = number_after(&lower, "you requested").or_else(|| number_after(&lower, "resulted in"))?;
        return Some((limit, requested));
    }
    None
}

/// The value in "invalid temperature: only 0.6 is allowed for this model".
pub fn parse_allowed_temperature(message: &str) -> Option<f32> {
    let lower = message.to_ascii_lowercase();
    let pos = lower.find("only ")?;
    leading_number(&lower[pos + "only ".len()..]).map(|v| v as f32)
}

fn rate_limit_kind(message: &str) -> RateLimit {
    let lower = message.to_ascii_lowercase();
    if lower.contains("concurrency") {
        RateLimit::Concurrency
    } else if lower.contains("tpd") {
        RateLimit::TokensPerDay
    } else if lower.contains("tpm") {
        RateLimit::TokensPerMinute
    } else if lower.contains("rpm") {
        RateLimit::RequestsPerMinute
    } else {
        RateLimit::Unspecified
    }
}

fn looks_like_missing_model(body: &ErrorBody) -> bool {
    let lower = body.message.to_ascii_lowercase();
    body.kind == "resource_not_found_error"
        || body.code == "model_not_found"
        || (lower.contains("model") && (lower.contains("not found") || lower.contains("does not exist")))
}

/// The base URL with `/v1` appended, when its path lacks it.
fn base_url_with_v1(base_url: &str) -> Option<String> {
    let trimmed = base_url.trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).ok()?;
    if url.path().split('/').any(|seg| seg == "v1") {
        None
    } else {
        Some(format!("{trimmed}/v1"))
    }
}

/// Turns a non-success HTTP answer into the error the user should see.
pub fn classify(status: u16, body: &str, ctx: &ErrorContext<'_>) -> ProviderError {
    let parsed = parse_error_body(body);
    let host = host_of(ctx.base_url);
    let message = scrub(&parsed.message, ctx.secret);
    let request_id = ctx.request_id.map(str::to_string);
    let kind = parsed.kind.as_str();
    let lower = message.to_ascii_lowercase();
    let platform = Platform::of_host(&host);

    match status {
        400 if kind == "content_filter" => ProviderError::ContentFilter { request_id },
        400 => {
            if let Some((limit, requested)) = parse_context_overflow(&message) {
                ProviderError::ContextOverflow { limit, requested, counts_answer: true, request_id }
            } else if lower.contains("invalid temperature") {
                ProviderError::InvalidTemperature {
                    model: ctx.model.to_string(),
                    allowed: parse_allowed_temperature(&message),
                    message,
                    request_id,
                }
            } else {
                ProviderError::InvalidRequest { host, message, request_id }
            }
        }
        401 if kind == "incorrect_api_key_error" => ProviderError::IncorrectApiKey { host, key: ctx.key, request_id },
        401 => {
            let suggested_base_url = match (platform, ctx.key) {
                (Some(p), Some(KeyKind::Platform | KeyKind::Other)) => Some(p.other().base_url().to_string()),
                _ => None,
            };
            ProviderError::InvalidAuthentication { host, message, key: ctx.key, suggested_base_url, request_id }
        }
        403 => ProviderError::PermissionDenied { host, message, request_id },
        404 if parsed.openai_shape && looks_like_missing_model(&parsed) => {
            ProviderError::ModelNotFound { model: ctx.model.to_string(), host, available: Vec::new(), request_id }
        }
        404 => match ctx.endpoint {
            Endpoint::TokenCount => {
                ProviderError::EndpointMissing { host, what: "token count", path: Endpoint::TokenCount.path() }
            }
            Endpoint::Balance => {
                ProviderError::EndpointMissing { host, what: "balance", path: Endpoint::Balance.path() }
            }
            Endpoint::Chat | Endpoint::Models => ProviderError::WrongPath {
                url: format!("{}{}", ctx.base_url.trim_end_matches('/'), ctx.endpoint.path()),
                status,
                suggested_base_url: base_url_with_v1(ctx.base_url),
                request_id,
            },
        },
        429 if kind == "exceeded_current_quota_error"
            || kind == "insufficient_quota"
            || lower.contains("insufficient balance") =>
        {
            ProviderError::InsufficientBalance {
                host,
                billing_url: platform.map(|p| p.console().to_string()),
                request_id,
            }
        }
        429 if kind == "engine_overloaded_error" || lower.contains("overloaded") => {
            ProviderError::Overloaded { host, model: ctx.model.to_string(), tried_before: Vec::new(), request_id }
        }
        429 => ProviderError::RateLimited {
            limit: rate_limit_kind(&message),
            retry_after: parse_retry_after(&message),
            request_id,
        },
        500 if kind == "unexpected_output" => ProviderError::UnexpectedOutput { host, message, request_id },
        500..=599 => ProviderError::ServerError { host, status, message, request_id },
        _ => ProviderError::UnexpectedStatus { host, status, message, request_id },
    }
}

/// The HTTP status an error reported inside a stream would have had, from its `type`.
pub fn status_for_error_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" | "content_filter" => 400,
        "invalid_authentication_error" | "incorrect_api_key_error" => 401,
        "permission_denied_error" => 403,
        "resource_not_found_error" => 404,
        "rate_limit_reached_error" | "engine_overloaded_error" | "exceeded_current_quota_error" => 429,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(base_url: &str) -> ErrorContext<'_> {
        ErrorContext {
            base_url,
            endpoint: Endpoint::Chat,
            model: "kimi-k2-turbo-preview",
            key: Some(KeyKind::Platform),
            secret: Some("sk-secretsecretsecret1234"),
            request_id: Some("req-1"),
        }
    }

    fn body(kind: &str, message: &str) -> String {
        serde_json::json!({"error": {"message": message, "type": kind}}).to_string()
    }

    const AI: &str = "https://api.moonshot.ai/v1";
    const CN: &str = "https://api.moonshot.cn/v1";

    #[test]
    fn context_overflow_parses_both_numbers() {
        let e = classify(
            400,
            &body(
                "invalid_request_error",
                "Invalid request: Your request exceeded model token limit: 262144 (requested: 291351)",
            ),
            &ctx(AI),
        );
        assert_eq!(
            e,
            ProviderError::ContextOverflow {
                limit: 262144,
                requested: 291351,
                counts_answer: true,
                request_id: Some("req-1".into())
            }
        );
        assert_eq!(e.retry_hint(), RetryHint::Once);
        assert!(!e.allows_fallback());
        assert!(e.to_string().contains("291351"));
        assert_eq!(
            parse_context_overflow(
                "This model's maximum context length is 32768 tokens. However, you requested 33000 \
                 tokens (32000 in the messages, 1000 in the completion)."
            ),
            Some((32768, 33000))
        );
        assert_eq!(parse_context_overflow("exceeded model token limit"), None);
    }

    #[test]
    fn invalid_temperature_names_the_allowed_value() {
        let e = classify(
            400,
            &body("invalid_request_error", "invalid temperature: only 0.6 is allowed for this model"),
            &ctx(AI),
        );
        match &e {
            ProviderError::InvalidTemperature { allowed, .. } => assert_eq!(*allowed, Some(0.6)),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("only accepts temperature 0.6"));
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert_eq!(parse_allowed_temperature("invalid temperature: only 1 is allowed"), Some(1.0));
    }

    #[test]
    fn content_filter_is_final() {
        let e = classify(
            400,
            &body("content_filter", "The request was rejected because it was considered high risk"),
            &ctx(AI),
        );
        assert!(matches!(e, ProviderError::ContentFilter { .. }));
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert!(!e.allows_fallback());
        assert!(e.to_string().contains("content filter"));
    }

    #[test]
    fn invalid_authentication_suggests_the_other_region() {
        let e = classify(401, &body("invalid_authentication_error", "Invalid Authentication"), &ctx(AI));
        let text = e.to_string();
        assert!(text.contains("rejected by api.moonshot.ai"), "{text}");
        assert!(text.contains("MOONSHOT_API_KEY"));
        assert!(text.ends_with("set `baseUrl` (or MOONSHOT_BASE_URL) to https://api.moonshot.cn/v1."));
        match &e {
            ProviderError::InvalidAuthentication { suggested_base_url, host, .. } => {
                assert_eq!(suggested_base_url.as_deref(), Some(CN));
                assert_eq!(host, "api.moonshot.ai");
            }
            other => panic!("{other:?}"),
        }
        let from_cn = classify(401, &body("invalid_authentication_error", "Invalid Authentication"), &ctx(CN));
        assert!(from_cn.to_string().ends_with("to https://api.moonshot.ai/v1."));
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert!(!e.allows_fallback());
    }

    #[test]
    fn kimi_code_and_missing_keys_get_their_own_advice() {
        let kimi_code = ErrorContext { key: Some(KeyKind::KimiCode), ..ctx(AI) };
        let e = classify(401, &body("invalid_authentication_error", "Invalid Authentication"), &kimi_code);
        assert!(e.to_string().contains("Kimi Code key"));
        assert!(matches!(e, ProviderError::InvalidAuthentication { suggested_base_url: None, .. }));
        let none = ErrorContext { key: None, secret: None, ..ctx(CN) };
        let e = classify(401, &body("invalid_authentication_error", "x"), &none);
        assert!(e.to_string().contains("none is set"));
        assert!(e.to_string().contains("https://platform.moonshot.cn"));
        let local = ctx("http://127.0.0.1:8000/v1");
        let e = classify(401, r#"{"detail":"Unauthorized"}"#, &local);
        let text = e.to_string();
        assert!(text.contains("127.0.0.1:8000"), "{text}");
        assert!(!text.contains("moonshot.cn"), "{text}");
    }

    #[test]
    fn incorrect_api_key() {
        let e = classify(401, &body("incorrect_api_key_error", "Incorrect API key provided"), &ctx(AI));
        assert!(matches!(e, ProviderError::IncorrectApiKey { .. }));
        assert!(e.to_string().contains("https://platform.moonshot.ai"));
        assert_eq!(e.retry_hint(), RetryHint::Never);
    }

    #[test]
    fn permission_denied() {
        let e = classify(403, &body("permission_denied_error", "The API you are accessing is not open"), &ctx(AI));
        assert!(matches!(e, ProviderError::PermissionDenied { .. }));
        assert!(e.to_string().contains("The API you are accessing is not open"));
        assert!(!e.allows_fallback());
    }

    #[test]
    fn missing_model_versus_wrong_route() {
        let e = classify(
            404,
            &body("resource_not_found_error", "Not found the model kimi-latest or Permission denied"),
            &ctx(AI),
        );
        assert!(matches!(e, ProviderError::ModelNotFound { .. }));
        let vllm = classify(
            404,
            r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#,
            &ctx("http://localhost:8000/v1"),
        );
        assert!(matches!(vllm, ProviderError::ModelNotFound { .. }));

        let gateway =
            r#"{"code":5,"error":"url.not_found","message":"没找到对象","method":"GET","scode":"0x5","status":false}"#;
        let e = classify(404, gateway, &ctx("https://api.moonshot.ai"));
        let text = e.to_string();
        assert!(text.contains("https://api.moonshot.ai/chat/completions is not an API route"));
        assert!(text.contains("https://api.moonshot.ai/v1"), "{text}");
        assert_eq!(e.retry_hint(), RetryHint::Never);
        let with_v1 = classify(404, gateway, &ctx("https://proxy.example/v1/x"));
        assert!(matches!(with_v1, ProviderError::WrongPath { suggested_base_url: None, .. }));
        let token_count = ErrorContext { endpoint: Endpoint::TokenCount, ..ctx("http://localhost:8000/v1") };
        assert!(matches!(
            classify(404, r#"{"detail":"Not Found"}"#, &token_count),
            ProviderError::EndpointMissing { .. }
        ));
    }

    #[test]
    fn rate_limits_keep_their_kind_and_wait() {
        let cases = [
            (
                "Your account org-abc<ak-def> request reached organization max RPM: 3, please try again after 1 seconds",
                RateLimit::RequestsPerMinute,
                1.0,
            ),
            (
                "Your account org-abc<ak-def> request reached max organization concurrency: 1, please try again after 3 seconds",
                RateLimit::Concurrency,
                3.0,
            ),
            (
                "Your account org-abc<ak-def> request reached organization TPM rate limit, current:600000, limit:500000",
                RateLimit::TokensPerMinute,
                1.0,
            ),
            (
                "Your account org-abc<ak-def> request reached organization TPD rate limit, please try again after 2.5 seconds",
                RateLimit::TokensPerDay,
                2.5,
            ),
        ];
        for (message, kind, wait) in cases {
            let e = classify(429, &body("rate_limit_reached_error", message), &ctx(AI));
            assert_eq!(
                e,
                ProviderError::RateLimited {
                    limit: kind,
                    retry_after: Duration::from_secs_f64(wait),
                    request_id: Some("req-1".into())
                },
                "{message}"
            );
            assert_eq!(e.retry_hint(), RetryHint::After(Duration::from_secs_f64(wait)));
            assert!(e.allows_fallback());
            assert!(!e.to_string().contains("org-abc"));
        }
    }

    #[test]
    fn overload_backs_off_and_balance_never_retries() {
        let e = classify(
            429,
            &body("engine_overloaded_error", "The engine is currently overloaded, please try again later"),
            &ctx(AI),
        );
        assert!(matches!(e, ProviderError::Overloaded { .. }));
        assert_eq!(e.retry_hint(), RetryHint::Backoff);
        assert!(e.allows_fallback());
        assert_eq!(
            e.to_string(),
            "api.moonshot.ai is overloaded right now (model kimi-k2-turbo-preview). Try again in a moment, or \
             configure a fallback model."
        );
        // After the route's fallback: both named, no advice to configure what is configured.
        let both = e.clone().after_fallbacks(vec!["kimi-k2.5 (overloaded)".into()]);
        assert_eq!(
            both.to_string(),
            "Both models of this route were tried and neither could answer: kimi-k2.5 (overloaded), then \
             kimi-k2-turbo-preview (overloaded at api.moonshot.ai). Try again in a moment."
        );
        let three = e.after_fallbacks(vec!["a (timeout)".into(), "b (rate limited)".into()]);
        assert!(three.to_string().starts_with("All the models of this route were tried"), "{three}");

        let e = classify(
            429,
            &body(
                "exceeded_current_quota_error",
                "Your account org-x <ak-y> is suspended due to insufficient balance, please recharge your account or check your plan and billing details",
            ),
            &ctx(CN),
        );
        assert!(matches!(e, ProviderError::InsufficientBalance { .. }));
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert!(!e.allows_fallback());
        let text = e.to_string();
        assert!(text.contains("out of balance"));
        assert!(text.contains("Recharge at https://platform.moonshot.cn"));
    }

    #[test]
    fn server_errors() {
        let e = classify(500, &body("unexpected_output", "invalid state transition"), &ctx(AI));
        assert!(matches!(e, ProviderError::UnexpectedOutput { .. }));
        assert_eq!(e.retry_hint(), RetryHint::Once);
        assert!(e.allows_fallback());
        let e = classify(502, "<html>Bad Gateway</html>", &ctx(AI));
        assert!(matches!(e, ProviderError::ServerError { status: 502, .. }));
        assert_eq!(e.retry_hint(), RetryHint::Backoff);
        assert!(e.to_string().contains("Bad Gateway"));
        assert_eq!(e.request_id(), Some("req-1"));
    }

    /// The transport sent it twice already: another model may take it, the same one is not asked
    /// again (its retry would be sent twice more).
    #[test]
    fn a_request_refused_twice_is_not_retried_but_may_fall_back() {
        let e = ProviderError::NotTakenUp { host: "api.moonshot.ai".into(), detail: "refused stream".into() };
        assert_eq!(e.retry_hint(), RetryHint::Never);
        assert!(e.allows_fallback());
        assert_eq!(e.kind(), "not_taken_up");
        assert!(e.to_string().starts_with("api.moonshot.ai did not take up the request"), "{e}");
    }

    #[test]
    fn retry_after_defaults_to_one_second() {
        assert_eq!(parse_retry_after("please try again after 7 seconds"), Duration::from_secs(7));
        assert_eq!(parse_retry_after("please try again later"), Duration::from_secs(1));
        assert_eq!(parse_retry_after(""), Duration::from_secs(1));
    }

    #[test]
    fn a_stated_wait_past_a_day_is_read_as_a_day() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_retry_after("please try again after 90000 seconds"), day);
        // Past what a Duration holds: `Duration::from_secs_f64` panicked on it.
        assert_eq!(parse_retry_after("please try again after 99999999999999999999999 seconds"), day);
        assert_eq!(parse_retry_after("please try again after 86399.5 seconds"), Duration::from_secs_f64(86_399.5));
        assert_eq!(stated_wait(f64::INFINITY), None);
        assert_eq!(stated_wait(-1.0), None);
    }

    #[test]
    fn keys_are_scrubbed_from_server_text() {
        let e = classify(
            400,
            &body("invalid_request_error", "bad key sk-secretsecretsecret1234 and sk-otherotherotherother99"),
            &ctx(AI),
        );
        let text = e.to_string();
        assert!(!text.contains("secretsecret"), "{text}");
        assert!(!text.contains("otherother"), "{text}");
        assert_eq!(scrub("a sk-short b", None), "a sk-short b");
    }

    #[test]
    fn unreadable_bodies_become_an_excerpt() {
        let parsed = parse_error_body("<html>\n  <body>oops</body>\n</html>");
        assert_eq!(parsed.message, "<html> <body>oops</body> </html>");
        assert!(!parsed.openai_shape);
        assert_eq!(parse_error_body("").message, "(empty body)");
        let e = classify(418, "teapot", &ctx(AI));
        assert_eq!(e.to_string(), "api.moonshot.ai answered HTTP 418: teapot");
    }

    #[test]
    fn hosts_and_platforms() {
        assert_eq!(host_of("http://127.0.0.1:9000/v1"), "127.0.0.1:9000");
        assert_eq!(host_of("not a url"), "not a url");
        assert_eq!(Platform::of_host("api.moonshot.ai"), Some(Platform::Global));
        assert_eq!(Platform::of_host("api.moonshot.cn"), Some(Platform::China));
        assert_eq!(Platform::of_host("moonshot.ai.evil.com"), None);
        assert_eq!(Platform::of_host("api.moonshot.ai:8443"), Some(Platform::Global));
        assert_eq!(Platform::of_host("[::1]:8000"), None);
        assert_eq!(status_for_error_type("engine_overloaded_error"), 429);
    }
}
