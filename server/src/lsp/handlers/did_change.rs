use tower_lsp_server::gen_lsp_types::DidChangeTextDocumentParams;

use crate::context::SymbolLookup;
use crate::lsp::{from_proto, Backend};
use crate::text::{DocumentSnapshot, TextChange};

/// Synchronous on purpose: the edit must be in the session before any later request is looked
/// at, and tower-lsp-server starts handlers in arrival order but interleaves them at `.await`s.
pub fn handle(backend: &Backend, params: DidChangeTextDocumentParams) {
    let uri = params.text_document.text_document_identifier.uri.0.as_str();
    let version = params.text_document.version;
    let changes: Vec<_> = params.content_changes.into_iter().map(from_proto::text_change).collect();
    if apply(backend, uri, version, &changes) {
        backend.dirty.lock().unwrap_or_else(|e| e.into_inner()).insert(uri.to_string());
        if let (Some(last), Some(snapshot)) =
            (changes.last().and_then(|c| c.range), backend.session.snapshot_as_is(uri))
        {
            let region = edited_region(&snapshot, last.start.line as usize);
            backend.engine.note_edit(uri, &backend.index.display_path(uri), region);
        }
    }
}

/// What an edit does to a text document, also to a notebook's cell: the document's requests
/// are superseded, the edit is applied. `false` when the document is not open.
pub fn apply(backend: &Backend, uri: &str, version: i32, changes: &[TextChange]) -> bool {
    backend.engine.document_changed(uri);
    match backend.session.change(uri, version, changes) {
        Ok(outcome) => {
            if outcome.out_of_order {
                tracing::warn!(uri, version, "didChange version did not increase; applied the edit anyway");
            }
            true
        }
        Err(e) => {
            tracing::warn!("{e}");
            false
        }
    }
}

/// A few lines around an edit: what "recently edited" context shows of it in other files.
pub fn edited_region(snapshot: &DocumentSnapshot, line: usize) -> String {
    let last = snapshot.len_lines().saturating_sub(1);
    let line = line.min(last);
    (line.saturating_sub(2)..=(line + 3).min(last)).map(|l| snapshot.line(l)).collect::<Vec<_>>().join("\n")
}
