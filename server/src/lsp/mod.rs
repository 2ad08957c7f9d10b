//! The LSP face of the server: the only module that knows LSP types. Handlers are thin: they
//! unpack the params (`from_proto`), call the session or a feature, and convert the answer back
//! (`to_proto`).

mod capabilities;
pub mod ext;
pub mod from_proto;
mod handlers;
mod server;
pub mod to_proto;
mod transport;

use std::sync::Arc;

use tower_lsp_server::{LspService, Server};

use crate::config::{ConfigLayers, ConfigProblem};
use crate::session::Session;

pub use server::Backend;

/// tower-lsp-server runs every incoming message, `didChange` and `$/cancelRequest` included,
/// inside one `buffer_unordered(n)`: with the default of 4, four slow model calls would stall
/// document sync behind them. Model calls run in spawned tasks, so a wide window costs nothing.
const CONCURRENCY: usize = 256;

/// Serves LSP on stdin/stdout until the client sends `exit`. Returns whether `shutdown` came
/// first, which decides the exit code (0 or 1, as the spec asks).
pub async fn serve_stdio(layers: ConfigLayers, startup_problems: Vec<ConfigProblem>) -> bool {
    let (session, mut problems) = Session::new(layers);
    problems.splice(0..0, startup_problems);
    let session = Arc::new(session);
    let (service, socket) = LspService::build(|client| Backend::new(client, session.clone(), problems))
        .custom_method(ext::DOCUMENT_STATE, Backend::document_state)
        .custom_method(ext::STATUS, Backend::status)
        .custom_method(ext::USAGE, Backend::usage)
        .custom_method(ext::CHAT, Backend::chat)
        .custom_method(ext::CHAT_SESSIONS, Backend::chat_sessions)
        .custom_method(ext::CHAT_SESSION, Backend::chat_session)
        .custom_method("window/workDoneProgress/cancel", Backend::work_done_progress_cancel)
        .custom_method(transport::MALFORMED_METHOD, Backend::malformed_message)
        .finish();
    let (stdin, stdout) = transport::stdio();
    let stdin = transport::guarded(stdin);
    let backend_state = service.inner().shutdown_flag();
    Server::new(stdin, stdout, socket).concurrency_level(CONCURRENCY).serve(service).await;
    backend_state.load(std::sync::atomic::Ordering::SeqCst)
}
