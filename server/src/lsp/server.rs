//! `impl LanguageServer`: delegation only. Each method's work lives in `handlers/<method>.rs`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::{Client, LanguageServer};

use super::ext::{DocumentState, DocumentStateParams};
use super::handlers;
use crate::config::ConfigProblem;
use crate::session::Session;

pub struct Backend {
    pub(super) client: Client,
    pub(super) session: Arc<Session>,
    /// Settings problems found before the client could be told (config file, environment,
    /// initializationOptions); shown once `initialized` arrives.
    pub(super) pending_problems: Mutex<Vec<ConfigProblem>>,
    pub(super) shutdown_requested: Arc<AtomicBool>,
    pub(super) client_caps: Mutex<ClientCapabilities>,
}

impl Backend {
    pub fn new(client: Client, session: Arc<Session>, problems: Vec<ConfigProblem>) -> Backend {
        Backend {
            client,
            session,
            pending_problems: Mutex::new(problems),
            shutdown_requested: Arc::new(AtomicBool::new(false)),
            client_caps: Mutex::new(ClientCapabilities::default()),
        }
    }

    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown_requested.clone()
    }

    /// The answer to a message the transport guard could not pass on (see `transport.rs`).
    pub async fn malformed_message(&self, params: super::ext::MalformedParams) -> Result<()> {
        Err(tower_lsp_server::jsonrpc::Error {
            code: params.code.into(),
            message: params.message.into(),
            data: None,
        })
    }

    pub async fn document_state(&self, params: DocumentStateParams) -> Result<DocumentState> {
        handlers::document_state::handle(self, params)
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        handlers::initialize::handle(self, params)
    }

    async fn initialized(&self, _: InitializedParams) {
        handlers::initialized::handle(self).await
    }

    async fn shutdown(&self) -> Result<()> {
        self.shutdown_requested.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        handlers::did_open::handle(self, params)
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        handlers::did_change::handle(self, params)
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        handlers::did_close::handle(self, params)
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        handlers::did_change_configuration::handle(self, params).await
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        handlers::did_change_workspace_folders::handle(self, params)
    }
}
