use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower_lsp_server::gen_lsp_types::{
    DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher, GlobPattern, MessageType, Registration,
};

use crate::config::API_KEY_ENV;
use crate::lsp::Backend;
use crate::providers::error::{host_of, Platform};

/// Tells the user, once, what stands between them and a working setup: settings that could not
/// be used, and a missing API key. Silence means everything is in order.
pub async fn handle(backend: &Backend) {
    // The symbol index for cross-file context, built off the async threads.
    if !backend.session.roots().is_empty() {
        backend.indexing.store(true, Ordering::SeqCst);
        backend.rescan.notify_one();
    }
    spawn_rescanner(backend);
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

/// How long file events must have been quiet before a rescan: a branch switch or a generator
/// writes many files in a burst, and one walk covers them all.
const RESCAN_QUIET: Duration = Duration::from_millis(300);
/// How often the workspace is walked for changes when the client watches no files for us.
const RESCAN_POLL: Duration = Duration::from_secs(60);
/// How often it is walked when the client does: some clients report only the files they write
/// themselves, not a branch switched in a terminal.
const RESCAN_POLL_WATCHED: Duration = Duration::from_secs(600);

/// Walks the workspace for the index: first at once, then after each batch of file events (see
/// `did_change_watched_files`) or change of workspace folders, once they have been quiet for
/// [`RESCAN_QUIET`]. A walk re-reads only the files whose stamp changed, so it costs a `stat` per
/// file. Where the client cannot watch files for us (or refuses the registration), the
/// workspace is also walked every [`RESCAN_POLL`], so a branch switch in a terminal still
/// reaches the index; where it does, every [`RESCAN_POLL_WATCHED`].
fn spawn_rescanner(backend: &Backend) {
    let watches = backend
        .client_caps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files)
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false);
    let (client, session, index) = (backend.client.clone(), backend.session.clone(), backend.index.clone());
    let (rescan, indexing) = (backend.rescan.clone(), backend.indexing.clone());
    // Until the client has said yes, the first walk does not wait for its answer, and polling
    // stays on.
    let watched = Arc::new(AtomicBool::new(false));
    if watches {
        let watched = watched.clone();
        tokio::spawn(async move { watched.store(register_watcher(&client).await, Ordering::SeqCst) });
    }
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let every = if watched.load(Ordering::SeqCst) { RESCAN_POLL_WATCHED } else { RESCAN_POLL };
            tokio::select! {
                _ = rescan.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
            if !first {
                // Whatever arrives in the quiet period is covered by this walk.
                while tokio::time::timeout(RESCAN_QUIET, rescan.notified()).await.is_ok() {}
            }
            first = false;
            let roots = session.roots();
            if roots.is_empty() {
                indexing.store(false, Ordering::SeqCst);
                continue;
            }
            let index = index.clone();
            let _ = tokio::task::spawn_blocking(move || index.build(&roots)).await;
            indexing.store(false, Ordering::SeqCst);
        }
    });
}

/// Asks the client to tell us about files created, changed or deleted in the workspace. Every
/// path is asked for, not only source files: a deleted folder comes as one event for the folder.
async fn register_watcher(client: &tower_lsp_server::Client) -> bool {
    let watchers = vec![FileSystemWatcher { glob_pattern: GlobPattern::Pattern("**/*".into()), kind: None }];
    let options = serde_json::to_value(DidChangeWatchedFilesRegistrationOptions { watchers }).ok();
    let registration = Registration {
        id: "kimi-lsp/watched-files".into(),
        method: "workspace/didChangeWatchedFiles".into(),
        register_options: options,
    };
    match client.register_capability(vec![registration]).await {
        Ok(()) => true,
        Err(err) => {
            tracing::info!(%err, "the client does not watch files for us; the workspace is walked every minute");
            false
        }
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
