//! `impl LanguageServer`: delegation only. Each method's work lives in `handlers/<method>.rs`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::{Client, LanguageServer};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::ext::{DocumentState, DocumentStateParams};
use super::{from_proto, handlers};
use crate::config::{CompletionsOff, ConfigProblem};
use crate::context::WorkspaceIndex;
use crate::features::completion::{AnsweredAt, CompletionEngine, CompletionError, Item, Query, Trigger};
use crate::router::Router;
use crate::session::Session;
use crate::text::DocumentSnapshot;

/// The same failure is shown to the user at most this often; completions fire constantly and a
/// message per keystroke would be noise.
const SAME_ERROR_EVERY: Duration = Duration::from_secs(300);

pub struct Backend {
    pub(super) client: Client,
    pub(super) session: Arc<Session>,
    /// Settings problems found before the client could be told (config file, environment,
    /// initializationOptions); shown once `initialized` arrives.
    pub(super) pending_problems: Mutex<Vec<ConfigProblem>>,
    pub(super) shutdown_requested: Arc<AtomicBool>,
    pub(super) client_caps: Mutex<ClientCapabilities>,
    pub(super) router: Arc<Router>,
    pub(super) engine: Arc<CompletionEngine>,
    pub(super) index: Arc<WorkspaceIndex>,
    /// When each kind of message was last shown, for [`SAME_ERROR_EVERY`].
    shown_errors: Mutex<HashMap<String, Instant>>,
    /// Open documents edited since the index last saw them (re-indexed in the background, so
    /// typing never waits for the index).
    pub(super) dirty: Arc<Mutex<std::collections::HashSet<String>>>,
    pub(super) indexing: Arc<AtomicBool>,
    /// Asks for a walk of the workspace: files changed on disk, or the folders changed (see
    /// `handlers::initialized::spawn_rescanner`).
    pub(super) rescan: Arc<tokio::sync::Notify>,
    /// Running code actions by progress token, for the progress's cancel button.
    pub(super) action_progress: dashmap::DashMap<String, CancellationToken>,
    pub(super) next_progress: std::sync::atomic::AtomicU64,
    pub(super) chat: Arc<crate::features::chat::ChatService>,
}

impl Backend {
    pub fn new(client: Client, session: Arc<Session>, problems: Vec<ConfigProblem>) -> Backend {
        let config = session.config();
        let router =
            Router::new(&config, Router::open_ledger(&config)).with_observer(handlers::usage::observer(client.clone()));
        let router = Arc::new(router);
        Backend {
            router,
            engine: Arc::new(CompletionEngine::new()),
            index: Arc::new(WorkspaceIndex::new()),
            shown_errors: Mutex::new(HashMap::new()),
            dirty: Arc::new(Mutex::new(std::collections::HashSet::new())),
            indexing: Arc::new(AtomicBool::new(false)),
            rescan: Arc::new(tokio::sync::Notify::new()),
            action_progress: dashmap::DashMap::new(),
            next_progress: std::sync::atomic::AtomicU64::new(1),
            chat: Arc::new(crate::features::chat::ChatService::new(crate::features::chat::store::ChatStore::new(
                crate::features::chat::store::default_dir(),
            ))),
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

    /// What the client takes in a workspace edit (`documentChanges`, file creation).
    pub(super) fn edit_support(&self) -> super::to_proto::EditSupport {
        super::to_proto::EditSupport::of(&self.client_caps.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Unpacks a completion request into the feature's query, against a snapshot of the
    /// document as it is now. `None` when the document is not open.
    pub(super) fn completion_query(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
        alternatives: bool,
    ) -> Option<(Query, DocumentSnapshot, u32)> {
        // As is: a pending reparse waits for the debounce and runs off the message loop.
        let snapshot = self.session.snapshot_as_is(uri.0.as_str())?;
        let cursor = snapshot.char_index(from_proto::position(position), self.session.encoding());
        if let Some(notebook) = self.session.notebook_view(uri.0.as_str()) {
            return Some(notebook_query(uri, notebook, cursor, trigger, alternatives));
        }
        let reparse: Option<crate::features::completion::Reparse> = snapshot.lacks_tree().then(|| {
            let (session, uri) = (self.session.clone(), uri.0.to_string());
            Box::new(move || session.snapshot(&uri)) as crate::features::completion::Reparse
        });
        let query = Query {
            uri: uri.0.clone(),
            path: from_proto::file_path(uri),
            snapshot: snapshot.clone(),
            cursor,
            trigger,
            alternatives,
            reparse,
            speculative: false,
            retry: None,
        };
        Some((query, snapshot, 0))
    }

    /// Runs a completion; a failure reaches the user as a message (throttled) and the request
    /// answers with no items. `Err` when the settings turn completions off for the document:
    /// the handler decides whether the user is told.
    pub(super) async fn run_completion(&self, query: Query) -> std::result::Result<Vec<Item>, CompletionsOff> {
        let config = self.session.config();
        // Dropped with this future when the client cancels: the model call stops with it.
        let cancel = CancellationToken::new();
        let _guard = cancel.clone().drop_guard();
        let ahead = config.completion.speculate.then(|| AnsweredAt {
            uri: query.uri.clone(),
            snapshot: query.snapshot.clone(),
            path: query.path.clone(),
            cursor: query.cursor,
        });
        match self.engine.complete(&self.router, &config, self.index.as_ref(), query, cancel).await {
            Ok(items) => {
                // While the user reads the suggestion, the one after it is worked out.
                if let (Some(at), Some(first)) = (ahead, items.first()) {
                    let (engine, router, index, item) =
                        (self.engine.clone(), self.router.clone(), self.index.clone(), first.clone());
                    tokio::spawn(async move {
                        engine.speculate(&router, &config, index.as_ref(), at, &item).await;
                    });
                }
                Ok(items)
            }
            Err(CompletionError::Provider(e)) => {
                self.report_error(e.kind(), &e.to_string()).await;
                Ok(Vec::new())
            }
            Err(CompletionError::Off(off)) => Err(off),
        }
    }

    /// Tells the user why an explicit request got nothing (once in a while per reason: asking
    /// again in the same file should not pop the same note up each time).
    pub(super) async fn explain_off(&self, off: &CompletionsOff) {
        let message = off.to_string();
        if self.first_in_a_while(&message) {
            self.client.show_message(MessageType::Info, format!("kimi-lsp: {message}")).await;
        }
    }

    pub(super) async fn report_error(&self, kind: &'static str, message: &str) {
        tracing::warn!("{message}");
        if self.first_in_a_while(kind) {
            self.client.show_message(MessageType::Error, format!("kimi-lsp: {message}")).await;
        }
    }

    /// [`Backend::report_error`] for what the user should fix but that stopped nothing.
    pub(super) async fn report_warning(&self, kind: &'static str, message: &str) {
        tracing::warn!("{message}");
        if self.first_in_a_while(kind) {
            self.client.show_message(MessageType::Warning, format!("kimi-lsp: {message}")).await;
        }
    }

    /// Whether a message under `key` was not shown within [`SAME_ERROR_EVERY`]; counts it shown.
    fn first_in_a_while(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut shown = self.shown_errors.lock().unwrap_or_else(|e| e.into_inner());
        if shown.get(key).is_some_and(|at| now.duration_since(*at) < SAME_ERROR_EVERY) {
            return false;
        }
        shown.insert(key.to_string(), now);
        true
    }

    /// The answer to a message the transport guard could not pass on (see `transport.rs`).
    pub async fn malformed_message(&self, params: super::ext::MalformedParams) -> Result<()> {
        Err(tower_lsp_server::jsonrpc::Error { code: params.code.into(), message: params.message.into(), data: None })
    }

    /// Takes any params (or none): editors differ in what they send for a parameterless request.
    pub async fn status(&self, _params: Option<serde_json::Value>) -> Result<super::ext::Status> {
        Ok(handlers::status::handle(self))
    }

    /// `kimi/usage`; takes any params, as `kimi/status` does.
    pub async fn usage(&self, _params: Option<serde_json::Value>) -> Result<crate::features::usage::UsageReport> {
        handlers::usage::handle(self).await
    }

    /// `window/workDoneProgress/cancel` (tower-lsp-server has no trait method for it).
    pub async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        handlers::code_action_resolve::cancel_progress(self, params)
    }

    pub async fn chat(&self, params: super::ext::ChatParams) -> Result<super::ext::ChatResult> {
        handlers::chat::handle(self, params).await
    }

    /// Takes any params (or none), like `status`.
    pub async fn chat_sessions(&self, _params: Option<serde_json::Value>) -> Result<super::ext::ChatSessionsResult> {
        handlers::chat::sessions(self).await
    }

    pub async fn chat_session(&self, params: super::ext::ChatSessionParams) -> Result<super::ext::ChatSessionResult> {
        handlers::chat::session(self, params).await
    }

    pub async fn document_state(&self, params: DocumentStateParams) -> Result<DocumentState> {
        handlers::document_state::handle(self, params).await
    }
}

/// A completion in a notebook's cell reads the whole notebook ([`crate::session::NotebookView`]):
/// the query's document is the notebook as one file, with the cursor moved into the cell's
/// place in it; the answer's lines are the view's, `first_line` below the cell's own. Work on
/// the query is still the cell's (its URI keys type-through, supersession and speculation).
fn notebook_query(
    uri: &Uri,
    notebook: crate::session::NotebookView,
    cell_cursor: usize,
    trigger: Trigger,
    alternatives: bool,
) -> (Query, DocumentSnapshot, u32) {
    let crate::session::NotebookView { notebook_uri, language_id, version, view, .. } = notebook;
    let doc = crate::text::Document::unparsed(&notebook_uri, &language_id, version, &view.text);
    let snapshot = doc.snapshot();
    // Parsed during the debounce, off the message loop, like an edited document's reparse.
    let reparse: crate::features::completion::Reparse = Box::new(move || {
        let mut doc = doc;
        doc.ensure_tree();
        Some(doc.snapshot())
    });
    let query = Query {
        uri: uri.0.clone(),
        path: from_proto::file_path_of(&notebook_uri),
        snapshot: snapshot.clone(),
        cursor: view.start_char + cell_cursor,
        trigger,
        alternatives,
        reparse: Some(reparse),
        speculative: false,
        retry: None,
    };
    (query, snapshot, view.first_line)
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        handlers::initialize::handle(self, params)
    }

    async fn initialized(&self, _: InitializedParams) {
        handlers::initialized::handle(self).await;
        handlers::usage::check_balance(self);
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

    async fn notebook_did_open(&self, params: DidOpenNotebookDocumentParams) {
        handlers::notebook_did_open::handle(self, params)
    }

    async fn notebook_did_change(&self, params: DidChangeNotebookDocumentParams) {
        handlers::notebook_did_change::handle(self, params)
    }

    async fn notebook_did_close(&self, params: DidCloseNotebookDocumentParams) {
        handlers::notebook_did_close::handle(self, params)
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        handlers::did_change_configuration::handle(self, params).await
    }

    async fn inline_completion(&self, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
        handlers::inline_completion::handle(self, params).await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        handlers::completion::handle(self, params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<Vec<CodeActionResponse>>> {
        handlers::code_action::handle(self, params).await
    }

    async fn code_action_resolve(&self, params: CodeAction) -> Result<CodeAction> {
        handlers::code_action_resolve::handle(self, params).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
        handlers::execute_command::handle(self, params).await
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        handlers::did_change_workspace_folders::handle(self, params)
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        handlers::did_change_watched_files::handle(self, params)
    }
}
