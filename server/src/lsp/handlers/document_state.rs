use tower_lsp_server::jsonrpc::{Error, Result};

use crate::lsp::ext::{DocumentState, DocumentStateParams};
use crate::lsp::Backend;

/// A reparse that is due runs on a blocking thread: `syntaxErrors` needs the current tree, and
/// a debug command must not stall the message loop to get it.
pub async fn handle(backend: &Backend, params: DocumentStateParams) -> Result<DocumentState> {
    let uri = params.text_document.uri.0.as_str();
    let Some(snapshot) = backend.session.snapshot_parsed(uri).await else {
        return Err(Error::invalid_params(format!("{uri} is not open")));
    };
    Ok(DocumentState::from_snapshot(&snapshot))
}
