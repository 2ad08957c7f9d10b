use tower_lsp_server::gen_lsp_types::DidChangeNotebookDocumentParams;

use crate::context::SymbolLookup;
use crate::lsp::handlers::{did_change, did_close, did_open};
use crate::lsp::{from_proto, Backend};

/// In the order the specification gives: the cells' structure (with the cells it opens and
/// closes), their kinds, then their text. Synchronous, like `didChange`: the change is in the
/// session before any later request is looked at.
pub fn handle(backend: &Backend, params: DidChangeNotebookDocumentParams) {
    let notebook = params.notebook_document.uri.0.as_str();
    let Some(cells) = params.change.cells else { return };
    if let Some(structure) = cells.structure {
        for doc in structure.did_open.unwrap_or_default() {
            did_open::open(backend, doc.uri.0.as_str(), &String::from(doc.language_id), doc.version, &doc.text);
        }
        let array = structure.array;
        let added = array.cells.unwrap_or_default().iter().map(from_proto::notebook_cell).collect();
        backend.session.change_notebook_cells(notebook, array.start as usize, array.delete_count as usize, added);
        for doc in structure.did_close.unwrap_or_default() {
            did_close::close(backend, doc.uri.0.as_str());
        }
    }
    for cell in cells.data.unwrap_or_default() {
        let cell = from_proto::notebook_cell(&cell);
        backend.session.set_cell_kind(notebook, &cell.uri, cell.kind);
    }
    for content in cells.text_content.unwrap_or_default() {
        let uri = content.document.text_document_identifier.uri.0.as_str();
        let changes: Vec<_> = content.changes.into_iter().map(from_proto::text_change).collect();
        if !did_change::apply(backend, uri, content.document.version, &changes) {
            continue;
        }
        // Other files' completions see it as a recent edit of the notebook (never the same
        // notebook's cells, which read the whole notebook anyway).
        if let (Some(last), Some(snapshot)) =
            (changes.last().and_then(|c| c.range), backend.session.snapshot_as_is(uri))
        {
            let path = crate::context::uri_to_path(notebook);
            if did_change::shareable(backend, &snapshot, Some(&path)) {
                let region = did_change::edited_region(&snapshot, last.start.line as usize);
                backend.engine.note_edit(notebook, &backend.index.display_path(notebook), region);
            }
        }
    }
}
