//! Providers: the only code that speaks HTTP.
//!
//! [`OpenAiCompatible`] talks to Moonshot's API and to any OpenAI-compatible server, [`Anthropic`] to
//! the Anthropic Messages API (Claude, Moonshot's Anthropic-compatible endpoint); their failures
//! are [`ProviderError`]s whose `Display` tells the user what to do and whose
//! [`ProviderError::retry_hint`] / [`ProviderError::allows_fallback`] tell callers what may help.
//! Nothing here knows LSP types.

pub mod anthropic;
pub mod error;
mod http;
pub mod openai;
pub mod registry;
pub mod retry;
pub mod stream;
pub mod types;

pub use anthropic::Anthropic;
pub use error::{CertificateProblem, Platform, ProviderError, RateLimit, RetryHint, TimeoutPhase};
pub use openai::{load_ca_file, ChatStream, HttpPool, OpenAiCompatible, ProviderConfig};
pub use registry::{ProviderClient, ProviderKind, StreamBody};
pub use retry::{with_retries, Retries, RetryPolicy};
pub use types::{
    Balance, ChatRequest, ChatResponse, Content, ContentPart, FinishReason, Message, ModelInfo, Prefill, Role,
    StreamEvent, ToolCall, ToolChoice, ToolSpec, Usage,
};
