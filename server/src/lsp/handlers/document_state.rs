use tower_lsp_server::jsonrpc::{Error, Result};

use crate::lsp::ext::{DocumentState, DocumentStateParams};
use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DocumentStateParams) -> Result<DocumentState> {
    let uri = params.text_document.uri.0.as_str();
    let Some(snapshot) = backend.session.snapshot(uri) else {
        return Err(Error::invalid_params(format!("{uri} is not open")));
    };
    Ok(DocumentState::from_snapshot(&snapshot))
}
