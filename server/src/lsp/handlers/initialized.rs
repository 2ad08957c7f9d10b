use tower_lsp_server::gen_lsp_types::MessageType;

use crate::config::API_KEY_ENV;
use crate::lsp::Backend;
use crate::providers::error::{host_of, Platform};

/// Tells the user, once, what stands between them and a working setup: settings that could not
/// be used, and a missing API key. Silence means everything is in order.
pub async fn handle(backend: &Backend) {
    // The symbol index for cross-file context, built off the async threads.
    let roots = backend.session.roots();
    if !roots.is_empty() {
        let index = backend.index.clone();
        let indexing = backend.indexing.clone();
        indexing.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            index.build(&roots);
            indexing.store(false, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(
                files = index.file_count(),
                symbols = index.symbol_count(),
                ms = started.elapsed().as_millis() as u64,
                "workspace indexed"
            );
        });
    }
    let problems = std::mem::take(&mut *backend.pending_problems.lock().unwrap_or_else(|e| e.into_inner()));
    for problem in problems {
        tracing::warn!("settings: {problem}");
        backend.client.show_message(MessageType::Warning, format!("kimi-lsp settings: {problem}")).await;
    }
    spawn_reindexer(backend);
    let config = backend.session.config();
    if config.api_key.is_none() && Platform::of_host(&host_of(&config.base_url)).is_some() {
        backend
            .client
            .show_message(
                MessageType::Warning,
                format!(
                    "kimi-lsp: no API key. Set {API_KEY_ENV} in the environment the editor starts from \
                     (or `apiKey` in the kimi-lsp settings); AI features stay off until then. \
                     `kimi-lsp doctor` checks the setup."
                ),
            )
            .await;
    }
}

/// Re-indexes edited open documents every so often, from their snapshots (which carry their
/// tree, so this is a walk, not a parse), and makes their windows for similar code again.
fn spawn_reindexer(backend: &Backend) {
    let dirty = backend.dirty.clone();
    let session = backend.session.clone();
    let index = backend.index.clone();
    let engine = backend.engine.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(750));
        loop {
            tick.tick().await;
            let uris: Vec<String> = dirty.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
            if uris.is_empty() {
                continue;
            }
            let (index, session, engine) = (index.clone(), session.clone(), engine.clone());
            let _ = tokio::task::spawn_blocking(move || {
                // Edited documents get their pending reparse here (incremental, off the async
                // threads), so the index walks a tree instead of parsing the text again.
                for snapshot in uris.iter().filter_map(|u| session.snapshot_reparsed(u)) {
                    let snapshot = &snapshot;
                    engine.similar().update(snapshot);
                    // Closed while its windows were made: `did_close` removed them before
                    // they were in, or will after this check.
                    if session.snapshot_as_is(snapshot.uri()).is_none() {
                        engine.similar().remove(snapshot.uri());
                    }
                    if snapshot.tree().is_some() {
                        index.update_document(snapshot);
                    } else {
                        // Its tree was freed (see session::MAX_TREES): the index parses the text.
                        index.update_file(snapshot.uri(), snapshot.language(), &snapshot.rope().to_string());
                    }
                }
            })
            .await;
        }
    });
}
