use tower_lsp_server::gen_lsp_types::DidCloseTextDocumentParams;

use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DidCloseTextDocumentParams) {
    let uri = params.text_document.uri.0;
    close(backend, &uri);
    backend.dirty.lock().unwrap_or_else(|e| e.into_inner()).remove(&uri);
    // Unsaved edits die with the buffer: the file on disk is what counts again.
    let index = backend.index.clone();
    tokio::task::spawn_blocking(move || index.refresh_from_disk(&uri));
}

/// What closing a text document does, also a notebook's cell: its work in flight stops.
pub fn close(backend: &Backend, uri: &str) {
    backend.engine.document_closed(uri);
    if !backend.session.close(uri) {
        tracing::debug!(uri, "didClose for a document that was not open");
    }
    // After the session lets go of it: the reindexer, which may be making its windows right
    // now, checks the session after it has (see `spawn_reindexer`).
    backend.engine.similar().remove(uri);
}
