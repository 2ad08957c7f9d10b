use std::sync::atomic::Ordering;

use crate::lsp::ext::Status;
use crate::lsp::Backend;

pub fn handle(backend: &Backend) -> Status {
    let config = backend.session.config();
    let session = backend.router.ledger().map(|l| l.session()).unwrap_or_default();
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        base_url: config.base_url.clone(),
        api_key_set: config.api_key.is_some(),
        completion_model: config.models.completion.clone(),
        action_model: config.models.action.clone(),
        chat_model: config.models.chat.clone(),
        open_documents: backend.session.open_documents(),
        indexing: backend.indexing.load(Ordering::SeqCst),
        indexed_files: backend.index.file_count(),
        indexed_symbols: backend.index.symbol_count(),
        index_scans: backend.index.scans(),
        similar_documents: backend.engine.similar().len(),
        session_requests: session.requests,
        session_cost: session.cost,
        shown_completions: session.shown_completions,
        accepted_completions: session.accepted_completions,
        completion_own_time: backend.engine.own_time(),
    }
}
