use tower_lsp_server::jsonrpc::{Error, Result};

use crate::features::completion::declined;
use crate::lsp::ext::{DocumentState, DocumentStateParams};
use crate::lsp::{from_proto, Backend};

/// A reparse that is due runs on a blocking thread: `syntaxErrors` needs the current tree, and
/// a debug command must not stall the message loop to get it.
pub async fn handle(backend: &Backend, params: DocumentStateParams) -> Result<DocumentState> {
    let uri = params.text_document.uri.0.as_str();
    let Some(snapshot) = backend.session.snapshot_parsed(uri).await else {
        return Err(Error::invalid_params(format!("{uri} is not open")));
    };
    let mut state = DocumentState::from_snapshot(&snapshot, params.with_text);
    let path = from_proto::file_path(&params.text_document.uri);
    let off = declined(&backend.session.config(), &snapshot, path.as_deref(), backend.index.as_ref());
    state.completions_off = off.map(|off| off.to_string());
    Ok(state)
}
