//! The server's state: open documents, settings, the workspace roots and the negotiated
//! position encoding. Shared by every handler; every method here is synchronous and holds a
//! lock only for the duration of a field access, so none is ever held across an `.await`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use serde_json::Value;

use crate::config::{Config, ConfigLayers, ConfigProblem, Source};
use crate::text::notebook::{self, Cell, CellText, Notebook};
use crate::text::{Document, DocumentSnapshot, EditOutcome, PositionEncoding, TextChange};

/// Syntax trees cost about 40 bytes per byte of code, so only the documents touched most
/// recently keep theirs; the others are parsed again when they are next edited or asked for.
/// With 300 files open this is the difference between ~200 MiB and a few tens.
pub const MAX_TREES: usize = 16;

pub struct Session {
    documents: DashMap<String, Document>,
    /// Open notebooks by URI; their cells' text documents are in `documents`.
    notebooks: DashMap<String, Notebook>,
    /// Each open notebook cell's notebook.
    cell_notebooks: DashMap<String, String>,
    /// When each document was last edited or asked for, by `clock`.
    touched: DashMap<String, u64>,
    clock: AtomicU64,
    layers: Mutex<ConfigLayers>,
    config: RwLock<Arc<Config>>,
    encoding: RwLock<PositionEncoding>,
    roots: RwLock<Vec<PathBuf>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {
    #[error("{uri} is not open: the editor sent a change for a document it never opened (or already closed)")]
    NotOpen { uri: String },
}

impl Session {
    pub fn new(layers: ConfigLayers) -> (Session, Vec<ConfigProblem>) {
        let (config, problems) = layers.resolve();
        let session = Session {
            documents: DashMap::new(),
            notebooks: DashMap::new(),
            cell_notebooks: DashMap::new(),
            touched: DashMap::new(),
            clock: AtomicU64::new(0),
            layers: Mutex::new(layers),
            config: RwLock::new(Arc::new(config)),
            encoding: RwLock::new(PositionEncoding::default()),
            roots: RwLock::new(Vec::new()),
        };
        (session, problems)
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces one settings layer and re-resolves. Returns what could not be applied; the
    /// rest takes effect for the next request.
    pub fn update_config(&self, source: Source, value: Value) -> Vec<ConfigProblem> {
        let (config, problems) = {
            let mut layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
            layers.set(source, value);
            layers.resolve()
        };
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        // The other layers' problems were reported when those layers arrived.
        problems.into_iter().filter(|p| p.source == source).collect()
    }

    pub fn config_layers(&self) -> ConfigLayers {
        self.layers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_encoding(&self, encoding: PositionEncoding) {
        *self.encoding.write().unwrap_or_else(|e| e.into_inner()) = encoding;
    }

    pub fn encoding(&self) -> PositionEncoding {
        *self.encoding.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_roots(&self, roots: Vec<PathBuf>) {
        *self.roots.write().unwrap_or_else(|e| e.into_inner()) = roots;
    }

    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A second `didOpen` for the same URI replaces the document: the editor's text is the truth.
    /// Not parsed here: most open documents are never completed in, so a tree is made when a
    /// feature first asks for one ([`Session::snapshot`]).
    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        self.documents.insert(uri.to_string(), Document::unparsed(uri, language_id, version, text));
        self.touch(uri);
    }

    /// Applies an edit to the text and to the tree's byte offsets; the reparse waits for the
    /// next [`Session::snapshot`], so a keystroke costs microseconds on the message loop.
    pub fn change(&self, uri: &str, version: i32, changes: &[TextChange]) -> Result<EditOutcome, SessionError> {
        let encoding = self.encoding();
        let outcome = {
            let mut doc = self.documents.get_mut(uri).ok_or_else(|| SessionError::NotOpen { uri: uri.to_string() })?;
            doc.edit(version, changes, encoding)
        };
        // An edit never adds a tree (it edits the one there is), so no eviction is due.
        self.touch(uri);
        Ok(outcome)
    }

    pub fn close(&self, uri: &str) -> bool {
        self.touched.remove(uri);
        let closed = self.documents.remove(uri);
        if closed.as_ref().is_some_and(|(_, doc)| doc.has_tree()) {
            drop(closed);
            crate::memory::release_soon();
            return true;
        }
        closed.is_some()
    }

    /// An immutable view for work that outlives this call (a model request, a prompt), with
    /// an up-to-date syntax tree: reparsed here if edits are pending (incrementally) or the
    /// tree was freed or never made (from scratch). The parse runs without holding the
    /// document's lock, so edits and other readers are not held up by it; a caller on the
    /// message loop that can wait should call this from a blocking thread.
    pub fn snapshot(&self, uri: &str) -> Option<DocumentSnapshot> {
        let job = {
            let mut doc = self.documents.get_mut(uri)?;
            match doc.take_parse_job() {
                Some(job) => job,
                None => {
                    let snapshot = doc.snapshot();
                    drop(doc);
                    self.touch(uri);
                    return Some(snapshot);
                }
            }
        };
        let parsed = job.run();
        let snapshot = {
            let mut doc = self.documents.get_mut(uri)?;
            if !doc.install(parsed) {
                // Edited meanwhile: parse again (from the newer stale tree), this time
                // holding the lock, so that it cannot go on forever.
                doc.ensure_tree();
            }
            doc.snapshot()
        };
        self.touch(uri);
        self.evict_trees();
        Some(snapshot)
    }

    /// [`Session::snapshot`] for handlers on the message loop: a reparse that is due runs on a
    /// blocking thread, so that a code action listed after an edit never stalls the loop (an
    /// incremental reparse takes up to ~15 ms on a 3,000-line file, a full one after the tree
    /// was freed as long). A document whose tree is current costs no thread hop.
    pub async fn snapshot_parsed(self: &Arc<Self>, uri: &str) -> Option<DocumentSnapshot> {
        let as_is = self.snapshot_as_is(uri)?;
        if !as_is.lacks_tree() {
            self.touch(uri);
            return Some(as_is);
        }
        let (session, uri) = (self.clone(), uri.to_string());
        tokio::task::spawn_blocking(move || session.snapshot(&uri)).await.ok().flatten()
    }

    /// The document as it is, without parsing: its tree is `None` while a reparse is pending
    /// or the tree was freed. For work that needs only the text, or that parses itself.
    pub fn snapshot_as_is(&self, uri: &str) -> Option<DocumentSnapshot> {
        self.documents.get(uri).map(|d| d.snapshot())
    }

    /// Like [`Session::snapshot`], but parses only to bring a tree that is behind its text up
    /// to date (cheap, incremental); a document without a tree stays without one. For the
    /// index, which parses tree-less text itself and throws that tree away.
    pub fn snapshot_reparsed(&self, uri: &str) -> Option<DocumentSnapshot> {
        if self.documents.get(uri)?.has_tree() {
            self.snapshot(uri)
        } else {
            self.snapshot_as_is(uri)
        }
    }

    fn touch(&self, uri: &str) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        self.touched.insert(uri.to_string(), now);
    }

    /// Frees the trees of all but the [`MAX_TREES`] most recently touched documents. No map
    /// guard is held while another is taken, so this cannot deadlock against the callers.
    fn evict_trees(&self) {
        let mut with_trees: Vec<(u64, String)> = self
            .documents
            .iter()
            .filter(|d| d.has_tree())
            .map(|d| (self.touched.get(d.key()).map_or(0, |t| *t), d.key().clone()))
            .collect();
        if with_trees.len() <= MAX_TREES {
            return;
        }
        with_trees.sort_unstable();
        let excess = with_trees.len() - MAX_TREES;
        for (_, uri) in with_trees.into_iter().take(excess) {
            if let Some(mut doc) = self.documents.get_mut(&uri) {
                doc.drop_tree();
            }
        }
        crate::memory::release_soon();
    }

    pub fn open_documents(&self) -> usize {
        self.documents.len()
    }

    /// A notebook opened with its cells (their text documents are opened one by one with
    /// [`Session::open`]). A second open of the same URI replaces it.
    pub fn open_notebook(&self, uri: &str, cells: Vec<Cell>) {
        self.close_notebook(uri);
        for cell in &cells {
            self.cell_notebooks.insert(cell.uri.clone(), uri.to_string());
        }
        self.notebooks.insert(uri.to_string(), Notebook { cells });
    }

    /// Cells added, removed or moved: `delete_count` cells from `start` become `cells`.
    /// Returns the cells that left the notebook (their documents stay open until the editor
    /// closes them, as it does in the same change).
    pub fn change_notebook_cells(&self, uri: &str, start: usize, delete_count: usize, cells: Vec<Cell>) -> Vec<String> {
        let Some(mut notebook) = self.notebooks.get_mut(uri) else { return Vec::new() };
        for cell in &cells {
            self.cell_notebooks.insert(cell.uri.clone(), uri.to_string());
        }
        let removed = notebook.splice(start, delete_count, cells);
        let left: Vec<String> = removed.into_iter().filter(|c| notebook.position(c).is_none()).collect();
        drop(notebook);
        for cell in &left {
            self.cell_notebooks.remove(cell);
        }
        left
    }

    /// A cell turned from code into markdown or back.
    pub fn set_cell_kind(&self, notebook: &str, cell: &str, kind: notebook::CellKind) {
        if let Some(mut notebook) = self.notebooks.get_mut(notebook) {
            notebook.set_kind(cell, kind);
        }
    }

    /// Forgets the notebook; returns its cells, whose documents the caller closes.
    pub fn close_notebook(&self, uri: &str) -> Vec<String> {
        let Some((_, notebook)) = self.notebooks.remove(uri) else { return Vec::new() };
        let cells: Vec<String> = notebook.cells.into_iter().map(|c| c.uri).collect();
        for cell in &cells {
            self.cell_notebooks.remove(cell);
        }
        cells
    }

    /// The notebook `cell` belongs to, by URI, when it is an open notebook's cell.
    pub fn notebook_of(&self, cell: &str) -> Option<String> {
        self.cell_notebooks.get(cell).map(|n| n.clone())
    }

    /// Copies of an open notebook's cells with their documents (`None` for a cell whose document
    /// is not open) and texts, so that no document's lock is held while they are laid out.
    fn notebook_cells(&self, notebook_uri: &str) -> Option<Vec<(Cell, Option<DocumentSnapshot>, String)>> {
        let cells = self.notebooks.get(notebook_uri)?.cells.clone();
        Some(
            cells
                .into_iter()
                .map(|cell| {
                    let snapshot = self.documents.get(&cell.uri).map(|d| d.snapshot());
                    let text = snapshot.as_ref().map(|s| s.text()).unwrap_or_default();
                    (cell, snapshot, text)
                })
                .collect(),
        )
    }

    /// An open notebook, by its URI, as a chat shows and edits it ([`notebook::script`]), in the
    /// language of its first code cell. `None` when no such notebook is open.
    pub fn notebook_script(&self, notebook_uri: &str) -> Option<NotebookScript> {
        let cells = self.notebook_cells(notebook_uri)?;
        let texts = cell_texts(&cells);
        let language_id = notebook::main_language(&texts)?.to_string();
        let script = notebook::script(&texts, &language_id);
        let cells = cells
            .into_iter()
            .zip(script.cells)
            .enumerate()
            .filter_map(|(i, ((cell, snapshot, _), span))| {
                Some(ScriptCell { uri: cell.uri, number: i + 1, snapshot: snapshot?, span: span? })
            })
            .collect();
        Some(NotebookScript { uri: notebook_uri.to_string(), language_id, text: script.text, cells })
    }

    /// For a notebook cell: the notebook's URI and its cells read as one file, with the cell
    /// placed in it ([`notebook::view`]), and the cell's language, version and number. `None` for
    /// any other document, and for a markdown cell.
    pub fn notebook_view(&self, cell: &str) -> Option<NotebookView> {
        let notebook_uri = self.notebook_of(cell)?;
        let cells = self.notebook_cells(&notebook_uri)?;
        let at = cells.iter().position(|(c, _, _)| c.uri == cell)?;
        let snapshot = cells[at].1.as_ref()?;
        let (language_id, version) = (snapshot.language_id().to_string(), snapshot.version());
        let view = notebook::view(&cell_texts(&cells), at)?;
        Some(NotebookView { notebook_uri, language_id, version, cell: at + 1, view })
    }
}

/// What [`notebook::view`] and [`notebook::script`] read of [`Session::notebook_cells`]' copies.
fn cell_texts(cells: &[(Cell, Option<DocumentSnapshot>, String)]) -> Vec<CellText<'_>> {
    cells
        .iter()
        .map(|(c, snapshot, text)| CellText {
            kind: c.kind,
            language_id: snapshot.as_ref().map_or("", |s| s.language_id()),
            text,
        })
        .collect()
}

/// An open notebook as one script: see [`Session::notebook_script`].
#[derive(Clone, Debug)]
pub struct NotebookScript {
    pub uri: String,
    pub language_id: String,
    pub text: String,
    /// The code cells shown verbatim in `text`, in order.
    pub cells: Vec<ScriptCell>,
}

/// A code cell of a [`NotebookScript`]: its document and where its text is in the script.
#[derive(Clone, Debug)]
pub struct ScriptCell {
    pub uri: String,
    /// Its place among the notebook's cells, from 1.
    pub number: usize,
    pub snapshot: DocumentSnapshot,
    pub span: notebook::Span,
}

impl NotebookScript {
    /// The cell whose text holds the script's chars `chars` whole.
    pub fn cell_holding(&self, chars: &std::ops::Range<usize>) -> Option<&ScriptCell> {
        self.cells.iter().find(|c| c.span.chars.start <= chars.start && chars.end <= c.span.chars.end)
    }
}

/// A notebook cell in the context of its notebook: see [`Session::notebook_view`].
pub struct NotebookView {
    pub notebook_uri: String,
    pub language_id: String,
    pub version: i32,
    /// The cell's place among the notebook's cells, from 1, as the user counts them.
    pub cell: usize,
    pub view: notebook::View,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{LineCol, TextRange};

    #[test]
    fn documents_are_parsed_when_asked_for_and_only_the_most_recent_keep_their_trees() {
        let (session, _) = Session::new(ConfigLayers::default());
        let uri = |i: usize| format!("file:///w/f{i}.rs");
        let trees =
            |s: &Session| (0..MAX_TREES + 5).filter(|i| s.snapshot_as_is(&uri(*i)).unwrap().tree().is_some()).count();
        for i in 0..MAX_TREES + 5 {
            session.open(&uri(i), "rust", 1, "fn f() {}\n");
        }
        assert_eq!(trees(&session), 0, "opening parses nothing");
        for i in 0..MAX_TREES + 5 {
            assert!(session.snapshot(&uri(i)).unwrap().tree().is_some());
        }
        assert_eq!(trees(&session), MAX_TREES);
        assert!(session.snapshot_as_is(&uri(0)).unwrap().tree().is_none(), "the oldest lost its tree");
        // Asking for it brings the tree back, and another one goes.
        assert!(session.snapshot(&uri(0)).unwrap().tree().is_some());
        assert_eq!(trees(&session), MAX_TREES);

        // An edit leaves no tree to hand out until the next snapshot reparses it.
        let last = uri(MAX_TREES + 4);
        let at = LineCol { line: 0, col: 3 };
        let typed = |text: &str| TextChange { range: Some(TextRange { start: at, end: at }), text: text.into() };
        session.change(&last, 2, &[typed("g")]).unwrap();
        session.change(&last, 3, &[typed("h")]).unwrap();
        let pending = session.snapshot_as_is(&last).unwrap();
        assert!(pending.lacks_tree() && pending.tree().is_none(), "no stale tree is handed out");
        let now = session.snapshot(&last).unwrap();
        assert_eq!(now.rope().to_string(), "fn hgf() {}\n");
        assert_eq!(now.version(), 3);
        let root = now.tree().unwrap().root_node();
        assert!(!root.has_error());
        assert_eq!(root.child(0).and_then(|f| f.child_by_field_name("name")).map(|n| n.byte_range()), Some(3..6));
        assert!(!session.snapshot_as_is(&last).unwrap().lacks_tree());
    }

    #[tokio::test]
    async fn a_snapshot_for_the_loop_reparses_off_it_and_matches_the_text() {
        let (session, _) = Session::new(ConfigLayers::default());
        let session = Arc::new(session);
        let uri = "file:///w/a.rs";
        session.open(uri, "rust", 1, "fn f() {}\nfn g() {}\n");
        let at = LineCol { line: 1, col: 4 };
        let typed = TextChange { range: Some(TextRange { start: at, end: at }), text: "oo".into() };
        session.change(uri, 2, &[typed]).unwrap();
        let snap = session.snapshot_parsed(uri).await.unwrap();
        assert_eq!(snap.version(), 2);
        assert_eq!(snap.rope().to_string(), "fn f() {}\nfn goo() {}\n");
        let root = snap.tree().expect("parsed").root_node();
        let name = root.child(1).and_then(|f| f.child_by_field_name("name")).map(|n| n.byte_range());
        assert_eq!(name, Some(13..16), "the tree is the edited text's");
        // Installed in the session: the next caller gets the tree without parsing.
        assert!(!session.snapshot_as_is(uri).unwrap().lacks_tree());
        assert!(session.snapshot_parsed("file:///w/not-open.rs").await.is_none());
    }
}
