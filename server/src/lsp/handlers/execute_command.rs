use serde_json::Value;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Error, Result};

use crate::features::completion::record_accept;
use crate::lsp::{ext, Backend};

pub async fn handle(backend: &Backend, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
    match params.command.as_str() {
        ext::ACCEPT_COMPLETION => {
            let id = params.arguments.as_ref().and_then(|a| a.first()).and_then(Value::as_u64);
            match id.and_then(|id| backend.engine.accepted(id)) {
                Some(row) => record_accept(&backend.router, &row),
                None => tracing::debug!(?id, "accept for an unknown or already accepted suggestion"),
            }
            Ok(None)
        }
        ext::RUN_ACTION => {
            let arguments = params.arguments.unwrap_or_default();
            crate::lsp::handlers::code_action_resolve::execute(backend, &arguments).await
        }
        ext::ASK_CHAT_FILE => {
            crate::lsp::handlers::chat_file::ask(backend, &params.arguments.unwrap_or_default()).await
        }
        ext::STOP_CHAT_FILE => {
            crate::lsp::handlers::chat_file::stop(backend, &params.arguments.unwrap_or_default()).await
        }
        other => Err(Error::invalid_params(format!("kimi-lsp has no command `{other}`"))),
    }
}
