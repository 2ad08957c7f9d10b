use tower_lsp_server::gen_lsp_types::DidOpenTextDocumentParams;

use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    let language_id = String::from(doc.language_id);
    backend.session.open(doc.uri.0.as_str(), &language_id, doc.version, &doc.text);
    // An open document's symbols count over its saved copy's.
    backend.dirty.lock().unwrap_or_else(|e| e.into_inner()).insert(doc.uri.0);
}
