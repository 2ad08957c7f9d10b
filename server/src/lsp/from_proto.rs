//! LSP types in, the server's own types out. Positions stay in the client's encoding here; the
//! text floor converts them (it alone knows encodings).

use std::path::PathBuf;

use tower_lsp_server::gen_lsp_types::*;

use crate::text::notebook::{Cell, CellKind};
use crate::text::{LineCol, PositionEncoding, TextChange, TextRange};

pub fn negotiate_encoding(caps: &ClientCapabilities) -> PositionEncoding {
    let offered: Vec<String> = caps
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.clone())
        .unwrap_or_default()
        .into_iter()
        .map(String::from)
        .collect();
    PositionEncoding::negotiate(offered.iter().map(String::as_str))
}

pub fn position(p: Position) -> LineCol {
    LineCol { line: p.line, col: p.character }
}

pub fn range(r: Range) -> TextRange {
    TextRange { start: position(r.start), end: position(r.end) }
}

pub fn text_change(change: TextDocumentContentChangeEvent) -> TextChange {
    match change {
        TextDocumentContentChangeEvent::TextDocumentContentChangePartial(p) => {
            TextChange { range: Some(range(p.range)), text: p.text }
        }
        TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(w) => {
            TextChange { range: None, text: w.text }
        }
    }
}

/// The local path of a `file:` URI; `None` for other schemes (untitled buffers, remote files).
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    file_path_of(uri.0.as_str())
}

/// [`file_path`] of a URI kept as a string.
pub fn file_path_of(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

/// A file watcher's event as the path it is about and whether the path was deleted; `None`
/// for a URI that names no local file.
pub fn file_change(event: &FileEvent) -> Option<(PathBuf, bool)> {
    Some((file_path(&event.uri)?, event.kind == FileChangeType::Deleted))
}

#[allow(deprecated)] // rootUri and rootPath: older clients send only these
pub fn workspace_roots(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(WorkspaceFolders::WorkspaceFolderList(folders)) =
        &params.workspace_folders_initialize_params.workspace_folders
    {
        let roots: Vec<_> = folders.iter().filter_map(|f| file_path(&f.uri)).collect();
        if !roots.is_empty() {
            return roots;
        }
    }
    if let Some(root) = params.root_uri.as_ref().and_then(file_path) {
        return vec![root];
    }
    match &params.root_path {
        Some(RootPath::String(p)) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => Vec::new(),
    }
}

/// A notebook's cell: its text document and whether it is code or markdown (an unknown kind
/// is read as markdown, which is never completed as code).
pub fn notebook_cell(cell: &NotebookCell) -> Cell {
    let kind = match cell.kind {
        NotebookCellKind::Code => CellKind::Code,
        _ => CellKind::Markup,
    };
    Cell { uri: cell.document.0.to_string(), kind }
}
