//! Test support: a faithful stand-in for the Moonshot (Kimi) API, and an LSP client that speaks
//! real Content-Length framing to a child process.
//!
//! The stand-in reproduces the live service as described in `/work/shared/kimi-api.md`: status
//! codes, error bodies, headers, the shape of streamed chunks (usage inside `choices[0]` of the
//! finishing chunk), and the validation the live service does. Tests script its replies with
//! [`Reply`] and inspect what the server sent with [`Standin::requests`].

pub mod anthropic;
pub mod lsp_client;
pub mod script;
pub mod standin;
pub mod standin_core;

pub use anthropic::AnthropicStandin;
pub use lsp_client::{did_change, did_open, file_uri, fixture, Fixture, LspClient, ResponseError};
pub use script::parse_script;
pub use standin::{estimate_tokens, ApiError, Recorded, Reply, Standin};
pub use standin_core::{Protocols, Refusal, Server};
