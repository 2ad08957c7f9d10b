//! The server's state: open documents, settings, the workspace roots and the negotiated
//! position encoding. Shared by every handler; every method here is synchronous and holds a
//! lock only for the duration of a field access, so none is ever held across an `.await`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use serde_json::Value;

use crate::config::{Config, ConfigLayers, ConfigProblem, Source};
use crate::text::{Document, DocumentSnapshot, EditOutcome, PositionEncoding, TextChange};

/// Syntax trees cost about 40 bytes per byte of code, so only the documents touched most
/// recently keep theirs; the others are parsed again when they are next edited or asked for.
/// With 300 files open this is the difference between ~200 MiB and a few tens.
pub const MAX_TREES: usize = 16;

pub struct Session {
    documents: DashMap<String, Document>,
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
    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        self.documents.insert(uri.to_string(), Document::new(uri, language_id, version, text));
        self.touch(uri);
        self.evict_trees();
    }

    pub fn change(&self, uri: &str, version: i32, changes: &[TextChange]) -> Result<EditOutcome, SessionError> {
        let encoding = self.encoding();
        let (outcome, was_cold) = {
            let mut doc = self.documents.get_mut(uri).ok_or_else(|| SessionError::NotOpen { uri: uri.to_string() })?;
            let was_cold = !doc.has_tree();
            (doc.apply_changes(version, changes, encoding), was_cold)
        };
        self.touch(uri);
        // Only a document that just got its tree back can push the count over the limit; the
        // keystroke path in an already warm document skips the scan.
        if was_cold {
            self.evict_trees();
        }
        Ok(outcome)
    }

    pub fn close(&self, uri: &str) -> bool {
        self.touched.remove(uri);
        self.documents.remove(uri).is_some()
    }

    /// An immutable view for work that outlives this call (a model request, a prompt), with
    /// its syntax tree (parsed again here if it had been freed).
    pub fn snapshot(&self, uri: &str) -> Option<DocumentSnapshot> {
        let (snapshot, parsed) = {
            let mut doc = self.documents.get_mut(uri)?;
            let parsed = doc.ensure_tree();
            (doc.snapshot(), parsed)
        };
        self.touch(uri);
        if parsed {
            self.evict_trees();
        }
        Some(snapshot)
    }

    /// Like [`Session::snapshot`] without parsing a freed tree: for background work that
    /// can do without one (the index parses such text itself, off the async threads).
    pub fn snapshot_as_is(&self, uri: &str) -> Option<DocumentSnapshot> {
        self.documents.get(uri).map(|d| d.snapshot())
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
    }

    pub fn open_documents(&self) -> usize {
        self.documents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{LineCol, TextRange};

    #[test]
    fn only_the_most_recent_documents_keep_their_trees() {
        let (session, _) = Session::new(ConfigLayers::default());
        let uri = |i: usize| format!("file:///w/f{i}.rs");
        for i in 0..MAX_TREES + 5 {
            session.open(&uri(i), "rust", 1, "fn f() {}\n");
        }
        let trees =
            |s: &Session| (0..MAX_TREES + 5).filter(|i| s.snapshot_as_is(&uri(*i)).unwrap().tree().is_some()).count();
        assert_eq!(trees(&session), MAX_TREES);
        assert!(session.snapshot_as_is(&uri(0)).unwrap().tree().is_none(), "the oldest lost its tree");
        // Asking for it, or editing it, brings the tree back, and another one goes.
        assert!(session.snapshot(&uri(0)).unwrap().tree().is_some());
        let at = LineCol { line: 0, col: 3 };
        session
            .change(&uri(1), 2, &[TextChange { range: Some(TextRange { start: at, end: at }), text: "g".into() }])
            .unwrap();
        let one = session.snapshot_as_is(&uri(1)).unwrap();
        assert_eq!(one.rope().to_string(), "fn gf() {}\n");
        assert!(one.tree().is_some_and(|t| !t.root_node().has_error()));
        assert_eq!(trees(&session), MAX_TREES);
    }
}
