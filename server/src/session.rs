//! The server's state: open documents, settings, the workspace roots and the negotiated
//! position encoding. Shared by every handler; every method here is synchronous and holds a
//! lock only for the duration of a field access, so none is ever held across an `.await`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use serde_json::Value;

use crate::config::{Config, ConfigLayers, ConfigProblem, Source};
use crate::text::{Document, DocumentSnapshot, EditOutcome, PositionEncoding, TextChange};

pub struct Session {
    documents: DashMap<String, Document>,
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
    }

    pub fn change(&self, uri: &str, version: i32, changes: &[TextChange]) -> Result<EditOutcome, SessionError> {
        let encoding = self.encoding();
        let mut doc = self.documents.get_mut(uri).ok_or_else(|| SessionError::NotOpen { uri: uri.to_string() })?;
        Ok(doc.apply_changes(version, changes, encoding))
    }

    pub fn close(&self, uri: &str) -> bool {
        self.documents.remove(uri).is_some()
    }

    /// An immutable view for work that outlives this call (a model request, a prompt).
    pub fn snapshot(&self, uri: &str) -> Option<DocumentSnapshot> {
        self.documents.get(uri).map(|d| d.snapshot())
    }

    pub fn open_documents(&self) -> usize {
        self.documents.len()
    }
}
