//! kimi-lsp: a language server for Moonshot AI's Kimi models.
//!
//! The floors, top to bottom, are described in ARCHITECTURE.md; a module may use the ones below
//! it, never the ones above.

pub mod cli;
pub mod config;
pub mod doctor;
pub mod ledger;
pub mod lsp;
pub mod providers;
pub mod secret;
pub mod session;
pub mod text;
