use tower_lsp_server::gen_lsp_types::DidChangeTextDocumentParams;

use crate::lsp::{from_proto, Backend};

/// Synchronous on purpose: the edit must be in the session before any later request is looked
/// at, and tower-lsp-server starts handlers in arrival order but interleaves them at `.await`s.
pub fn handle(backend: &Backend, params: DidChangeTextDocumentParams) {
    let uri = params.text_document.text_document_identifier.uri.0.as_str();
    let version = params.text_document.version;
    let changes: Vec<_> = params.content_changes.into_iter().map(from_proto::text_change).collect();
    match backend.session.change(uri, version, &changes) {
        Ok(outcome) if outcome.out_of_order => {
            tracing::warn!(uri, version, "didChange version did not increase; applied the edit anyway")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("{e}"),
    }
}
