//! kimi-lsp: a language server for Moonshot AI's Kimi models.
//!
//! The floors, top to bottom, are described in ARCHITECTURE.md; a module may use the ones below
//! it, never the ones above.

pub mod cli;
pub mod config;
pub mod context;
pub mod doctor;
pub mod features;
pub mod ledger;
pub mod lsp;
pub mod memory;
pub mod postprocess;
pub mod prompt;
pub mod providers;
pub mod router;
pub mod secret;
pub mod secrets;
pub mod session;
pub mod template;
pub mod text;
