use tower_lsp_server::gen_lsp_types::DidChangeTextDocumentParams;

use crate::config::CompletionsOff;
use crate::context::SymbolLookup;
use crate::features::completion::declined;
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
            let path = from_proto::file_path(&params.text_document.text_document_identifier.uri);
            if shareable(backend, &snapshot, path.as_deref()) {
                let region = edited_region(&snapshot, last.start.line as usize);
                backend.engine.note_edit(uri, &backend.index.display_path(uri), region);
            }
        }
    }
}

/// Whether an edit of this document may be shown to the model as a recent edit in other files'
/// prompts: not when the document is never sent (a secret, binary, too large) nor when
/// `completion.exclude` keeps it out. A language whose completions are off is still context.
pub(crate) fn shareable(backend: &Backend, snapshot: &DocumentSnapshot, path: Option<&std::path::Path>) -> bool {
    let off = declined(&backend.session.config(), snapshot, path, backend.index.as_ref());
    !matches!(
        off,
        Some(CompletionsOff::Path(_) | CompletionsOff::Secret | CompletionsOff::Binary | CompletionsOff::TooLarge)
    )
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

/// The most chars of one line an edited region keeps: a line of minified code or data is no
/// useful context, and copying a megabyte line on every keystroke stalled the message loop.
const MAX_REGION_LINE_CHARS: usize = 300;

/// A few lines around an edit: what "recently edited" context shows of it in other files. A
/// line longer than [`MAX_REGION_LINE_CHARS`] is cut there, with `…`.
pub fn edited_region(snapshot: &DocumentSnapshot, line: usize) -> String {
    let rope = snapshot.rope();
    let last = snapshot.len_lines().saturating_sub(1);
    let line = line.min(last);
    let mut region = String::new();
    for l in line.saturating_sub(2)..=(line + 3).min(last) {
        if !region.is_empty() {
            region.push('\n');
        }
        let start = rope.line_to_char(l);
        let end = crate::text::position::line_content_end(rope, l);
        let cut = (start + MAX_REGION_LINE_CHARS).min(end);
        region.extend(rope.slice(start..cut).chunks());
        if cut < end {
            region.push('…');
        }
    }
    region
}
