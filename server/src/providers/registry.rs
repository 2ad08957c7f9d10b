//! One client over every kind of provider, so that the router and `doctor` call Moonshot, any
//! OpenAI-compatible server and the Anthropic Messages API the same way.

use serde::Deserialize;

use super::anthropic::Anthropic;
use super::openai::{ChatStream, HttpPool, OpenAiCompatible, ProviderConfig};
use super::types::{Balance, ChatRequest, ModelInfo};
use super::ProviderError;

/// Which API a provider speaks.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Moonshot's platform API (OpenAI-compatible, with a balance and two regions).
    #[default]
    Moonshot,
    /// Any OpenAI-compatible server: vLLM, SGLang, Ollama, llama.cpp's server, OpenRouter.
    Openai,
    /// The Anthropic Messages API (Claude, or Moonshot's Anthropic-compatible endpoint).
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Moonshot => "moonshot",
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

/// A streamed request's body, serialised for one kind of provider ahead of sending.
#[derive(Debug)]
pub enum StreamBody {
    OpenAi(Vec<u8>),
    Anthropic(super::anthropic::PreparedBody),
}

/// A client for one provider. Cheap to build: it shares the pool's connections.
#[derive(Clone, Debug)]
pub enum ProviderClient {
    OpenAi(OpenAiCompatible),
    Anthropic(Anthropic),
}

impl ProviderClient {
    pub fn new(kind: ProviderKind, cfg: ProviderConfig, pool: &HttpPool) -> ProviderClient {
        match kind {
            ProviderKind::Moonshot | ProviderKind::Openai => {
                ProviderClient::OpenAi(OpenAiCompatible::with_pool(cfg, pool))
            }
            ProviderKind::Anthropic => ProviderClient::Anthropic(Anthropic::with_pool(cfg, pool)),
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        match self {
            ProviderClient::OpenAi(c) => c.config(),
            ProviderClient::Anthropic(c) => c.config(),
        }
    }

    /// The host part of the base URL, as messages name it.
    pub fn host(&self) -> &str {
        match self {
            ProviderClient::OpenAi(c) => c.host(),
            ProviderClient::Anthropic(c) => c.host(),
        }
    }

    /// One streamed answer; returns once the first event arrived (see
    /// [`OpenAiCompatible::chat_stream`]).
    pub async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        self.chat_stream_with(req, None).await
    }

    /// The body [`ProviderClient::chat_stream_with`] would send for `req`, built ahead of time:
    /// a completion builds it while it waits out its debounce.
    pub fn stream_body(&self, req: &ChatRequest) -> Result<StreamBody, ProviderError> {
        match self {
            ProviderClient::OpenAi(c) => c.stream_body(req).map(StreamBody::OpenAi),
            ProviderClient::Anthropic(c) => c.stream_body(req).map(StreamBody::Anthropic),
        }
    }

    /// [`ProviderClient::chat_stream`], sending `body` when it was built for this client
    /// ([`ProviderClient::stream_body`] of this same request); otherwise the body is built here.
    pub async fn chat_stream_with(
        &self,
        req: &ChatRequest,
        body: Option<StreamBody>,
    ) -> Result<ChatStream, ProviderError> {
        match (self, body) {
            (ProviderClient::OpenAi(c), Some(StreamBody::OpenAi(body))) => c.chat_stream_with(req, Some(body)).await,
            (ProviderClient::Anthropic(c), Some(StreamBody::Anthropic(body))) => {
                c.chat_stream_with(req, Some(body)).await
            }
            (ProviderClient::OpenAi(c), _) => c.chat_stream_with(req, None).await,
            (ProviderClient::Anthropic(c), _) => c.chat_stream_with(req, None).await,
        }
    }

    /// The models the provider lists, with what it says about each.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, ProviderError> {
        match self {
            ProviderClient::OpenAi(c) => c.models().await,
            ProviderClient::Anthropic(c) => c.models().await,
        }
    }

    /// The account balance; `None` where the provider keeps none.
    pub async fn balance(&self) -> Result<Option<Balance>, ProviderError> {
        match self {
            ProviderClient::OpenAi(c) => c.balance().await,
            // The Messages API has no balance route.
            ProviderClient::Anthropic(_) => Ok(None),
        }
    }
}
