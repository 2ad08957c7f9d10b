//! Providers: the only code that speaks HTTP.
//!
//! [`OpenAiCompatible`] talks to Moonshot's API and to any OpenAI-compatible server; its failures
//! are [`ProviderError`]s whose `Display` tells the user what to do and whose
//! [`ProviderError::retry_hint`] / [`ProviderError::allows_fallback`] tell callers what may help.
//! Nothing here knows LSP types.

pub mod error;
pub mod openai;
pub mod retry;
pub mod stream;
pub mod types;

pub use error::{Platform, ProviderError, RateLimit, RetryHint, TimeoutPhase};
pub use openai::{ChatStream, HttpPool, OpenAiCompatible, ProviderConfig};
pub use retry::{with_retries, RetryPolicy};
pub use types::{
    Balance, ChatRequest, ChatResponse, Content, ContentPart, FinishReason, Message, ModelInfo, Role, StreamEvent,
    ToolCall, ToolChoice, ToolSpec, Usage,
};
