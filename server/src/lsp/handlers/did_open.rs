use tower_lsp_server::gen_lsp_types::DidOpenTextDocumentParams;

use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    let language_id = String::from(doc.language_id);
    open(backend, doc.uri.0.as_str(), &language_id, doc.version, &doc.text);
    // An open document's symbols count over its saved copy's.
    backend.dirty.lock().unwrap_or_else(|e| e.into_inner()).insert(doc.uri.0);
}

/// What opening a text document does, also for a notebook's cells (which the workspace index
/// leaves out: their notebook is no source file). A second open of an open document replaces
/// its text, as an edit does: the requests in flight for it are superseded, or they would
/// answer for the text it replaced.
pub fn open(backend: &Backend, uri: &str, language_id: &str, version: i32, text: &str) {
    backend.engine.document_changed(uri);
    backend.session.open(uri, language_id, version, text);
}
