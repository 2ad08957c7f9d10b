use tower_lsp_server::gen_lsp_types::DidCloseTextDocumentParams;

use crate::lsp::Backend;

pub fn handle(backend: &Backend, params: DidCloseTextDocumentParams) {
    backend.engine.document_closed(params.text_document.uri.0.as_str());
    backend.dirty.lock().unwrap_or_else(|e| e.into_inner()).remove(params.text_document.uri.0.as_str());
    // Unsaved edits die with the buffer: the file on disk is what counts again.
    if let Some(path) = crate::lsp::from_proto::file_path(&params.text_document.uri) {
        let index = backend.index.clone();
        tokio::task::spawn_blocking(move || match std::fs::read_to_string(&path) {
            Ok(text) => {
                let language = crate::text::Language::detect("", &path.to_string_lossy());
                index.update_file(&path.to_string_lossy(), language, &text)
            }
            Err(_) => index.remove_file(&path.to_string_lossy()),
        });
    }
    if !backend.session.close(params.text_document.uri.0.as_str()) {
        tracing::debug!(uri = params.text_document.uri.0.as_str(), "didClose for a document that was not open");
    }
}
