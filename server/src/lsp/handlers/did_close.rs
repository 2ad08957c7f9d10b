use tower_lsp_server::gen_lsp_types::DidCloseTextDocumentParams;

use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DidCloseTextDocumentParams) {
    if !backend.session.close(params.text_document.uri.0.as_str()) {
        tracing::debug!(uri = params.text_document.uri.0.as_str(), "didClose for a document that was not open");
    }
}
