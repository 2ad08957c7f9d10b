use std::sync::atomic::Ordering;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Error, Result};

use crate::features::actions::{self, Action, ActionError, Change, Outcome};
use crate::lsp::ext::ActionData;
use crate::lsp::handlers::code_action::{notebook_site, site};
use crate::lsp::{to_proto, Backend};

/// Computes the edit of an action listed with `data` (clients that resolve `edit`).
pub async fn handle(backend: &Backend, mut action: CodeAction) -> Result<CodeAction> {
    let Some(data) = action.data.clone().and_then(|d| serde_json::from_value::<ActionData>(d).ok()) else {
        return Ok(action);
    };
    match run(backend, &data, None).await? {
        Outcome::Edits(changes) => {
            action.edit = Some(edit_for_client(backend, &changes).await?);
        }
        Outcome::Text { title, markdown } => {
            show_text(backend, &title, &markdown).await;
        }
    }
    Ok(action)
}

/// The changes as a workspace edit this client takes; a change it cannot take (which
/// `actions::plan` refuses before the model call) is shown as a failure.
async fn edit_for_client(backend: &Backend, changes: &[Change]) -> Result<WorkspaceEdit> {
    match to_proto::workspace_edit(changes, backend.session.encoding(), backend.edit_support()) {
        Ok(edit) => Ok(edit),
        Err(e) => {
            let message = format!("kimi-lsp: {e}");
            backend.client.show_message(MessageType::Error, &message).await;
            Err(failure(message))
        }
    }
}

fn failure(message: impl Into<String>) -> Error {
    Error { code: tower_lsp_server::jsonrpc::ErrorCode::from(-32803), message: message.into().into(), data: None }
}

async fn stale(backend: &Backend) -> Result<Outcome> {
    let message = "kimi-lsp: the document changed while the action was being computed; nothing was changed. Run the action again.";
    backend.client.show_message(MessageType::Warning, message).await;
    Err(failure(message))
}

/// The action's document was closed after the action was listed: it names no text to run on.
async fn not_open(backend: &Backend, uri: &str) -> Result<Outcome> {
    let message = format!(
        "kimi-lsp: {} is no longer open in the editor, so the action was not run; nothing was changed. \
         Open the file and ask for the action again.",
        file_name(uri)
    );
    backend.client.show_message(MessageType::Warning, &message).await;
    Err(failure(message))
}

/// What messages call a document: its file's name, else (`untitled:`, notebook cells) its URI.
fn file_name(uri: &str) -> String {
    crate::lsp::from_proto::file_path_of(uri)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| uri.to_string())
}

/// Runs an action with progress and a cancel button, and checks that every edited document is
/// still the text the edit was computed for. Failures are shown to the user and returned
/// as an error; a stale edit is never returned.
pub(crate) async fn run(backend: &Backend, data: &ActionData, instruction: Option<&str>) -> Result<Outcome> {
    let Some(action) = Action::parse(&data.action, &data.title) else {
        return Err(Error::invalid_params(format!("kimi-lsp has no action `{}`", data.action)));
    };
    let Some(mut site) = site(backend, &data.uri, data.range, &data.diagnostics).await else {
        return not_open(backend, data.uri.0.as_str()).await;
    };
    // The revision, not the version: a document reopened at the listed version holds other
    // text, and the listed range would send other lines to the model.
    if site.snapshot.revision() != data.revision {
        return stale(backend).await;
    }
    site.notebook = notebook_site(backend, data.uri.0.as_str()).await;
    let config = backend.session.config();
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let progress = start_progress(backend, &cancel, &config.models.action).await;
    let session = backend.session.clone();
    // The editor's copy of a test file is only appended to: its text is enough, and taking
    // it as it is never parses on the message loop.
    let lookup = move |uri: &str| session.snapshot_as_is(uri);
    let result = actions::run(
        &backend.router,
        &config,
        &site,
        &action,
        instruction,
        data.think_harder,
        backend.index.as_ref(),
        &lookup,
        backend.edit_support().create_files,
        cancel.clone(),
    )
    .await;
    if let Some((token, progress)) = progress {
        backend.action_progress.remove(&token);
        progress.finish().await;
    }
    let outcome = match result {
        Ok(o) => o,
        Err(ActionError::Cancelled) => return Err(Error::request_cancelled()),
        Err(e) => {
            let message = format!("kimi-lsp: {e}");
            backend.client.show_message(MessageType::Error, &message).await;
            return Err(failure(message));
        }
    };
    // Just before the edit goes out (no await between here and `workspace/applyEdit` or the
    // resolved action's answer): an editor that takes no `documentChanges` gets an edit without
    // a version, and would apply it to the text the user typed meanwhile.
    if let Outcome::Edits(changes) = &outcome {
        if changed_since(&backend.session, changes).is_some() {
            return stale(backend).await;
        }
    }
    Ok(outcome)
}

/// The name of the first open document `changes` edit that is no longer the text they were
/// computed for (closed counts as changed); `None` when all are current. Files on disk that
/// were not open carry no version to compare. The text's revision decides, not its version:
/// a document closed and opened again (reloaded from disk) starts again at version 1, and
/// an editor may repeat a version.
pub(crate) fn changed_since(session: &crate::session::Session, changes: &[Change]) -> Option<String> {
    changes.iter().find_map(|c| match c {
        Change::Edit { snapshot, versioned: true, .. } => {
            let current =
                session.snapshot_as_is(snapshot.uri()).is_some_and(|now| now.revision() == snapshot.revision());
            (!current).then(|| file_name(snapshot.uri()))
        }
        _ => None,
    })
}

type Ongoing = tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::Cancellable>;

async fn start_progress(backend: &Backend, cancel: &CancellationToken, model: &str) -> Option<(String, Ongoing)> {
    let supported = {
        let caps = backend.client_caps.lock().unwrap_or_else(|e| e.into_inner());
        caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false)
    };
    if !supported {
        return None;
    }
    let token = format!("kimi-action-{}", backend.next_progress.fetch_add(1, Ordering::Relaxed));
    backend.client.create_work_done_progress(ProgressToken::String(token.clone())).await.ok()?;
    backend.action_progress.insert(token.clone(), cancel.clone());
    let progress = backend
        .client
        .progress(ProgressToken::String(token.clone()), "Kimi")
        .with_message(format!("asking {model}…"))
        .with_cancel_button()
        .begin()
        .await;
    Some((token, progress))
}

/// `window/workDoneProgress/cancel`: the user pressed the progress's cancel button.
pub fn cancel_progress(backend: &Backend, params: WorkDoneProgressCancelParams) {
    let token = match params.token {
        ProgressToken::String(s) => s,
        ProgressToken::Int(n) => n.to_string(),
    };
    if let Some((_, cancel)) = backend.action_progress.remove(&token) {
        cancel.cancel();
    }
}

/// An explanation: opened as a Markdown document where the editor can show one, else a message.
pub(crate) async fn show_text(backend: &Backend, title: &str, markdown: &str) {
    let can_show = {
        let caps = backend.client_caps.lock().unwrap_or_else(|e| e.into_inner());
        caps.window.as_ref().and_then(|w| w.show_document.as_ref()).is_some_and(|s| s.support)
    };
    if can_show {
        let (t, m) = (title.to_string(), markdown.to_string());
        let written = tokio::task::spawn_blocking(move || actions::shown::write_markdown(&t, &m))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written.map(|path| url::Url::from_file_path(&path).map_err(|_| path)) {
            Ok(Ok(url)) => {
                let params = ShowDocumentParams {
                    uri: Uri::from(String::from(url)),
                    external: None,
                    take_focus: Some(true),
                    selection: None,
                };
                if backend.client.show_document(params).await.unwrap_or(false) {
                    return;
                }
            }
            Ok(Err(path)) => {
                tracing::warn!("{} cannot be named as a URI; showing the text as a message", path.display())
            }
            Err(e) => tracing::warn!("could not write the text to show: {e}; showing it as a message"),
        }
    }
    backend.client.show_message(MessageType::Info, format!("{title}\n\n{markdown}")).await;
}

/// `kimi.runAction`: runs the action, sends the edit as `workspace/applyEdit`, and answers with
/// whether it was applied and, for explanations, the text.
pub(crate) async fn execute(backend: &Backend, arguments: &[Value]) -> Result<Option<Value>> {
    let data: ActionData = arguments
        .first()
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| Error::invalid_params("kimi.runAction takes the action's data as its first argument"))?;
    let instruction = arguments.get(1).and_then(Value::as_str);
    let result = match run(backend, &data, instruction).await? {
        Outcome::Edits(changes) => {
            let edit = edit_for_client(backend, &changes).await?;
            let applied = match backend.client.apply_edit(edit).await {
                Ok(r) => r.applied,
                Err(e) => {
                    tracing::warn!("workspace/applyEdit failed: {e}");
                    false
                }
            };
            crate::lsp::ext::RunActionResult { applied, text: None }
        }
        Outcome::Text { title, markdown } => {
            show_text(backend, &title, &markdown).await;
            crate::lsp::ext::RunActionResult { applied: false, text: Some(markdown) }
        }
    };
    Ok(Some(serde_json::to_value(result).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigLayers;
    use crate::features::actions::CharEdit;
    use crate::session::Session;
    use crate::text::{LineCol, TextChange, TextRange};

    /// An edit computed for one version of an open document is stale once the document moved
    /// on or closed; an edit of a file that was not open carries no version to compare.
    #[test]
    fn an_edit_is_stale_once_its_open_document_moved_on() {
        let (session, _) = Session::new(ConfigLayers::default());
        let uri = "file:///w/src/lib.rs";
        session.open(uri, "rust", 1, "fn a() {}\n");
        let edit = |versioned: bool| {
            let snapshot = session.snapshot_as_is(uri).unwrap();
            vec![Change::Edit { snapshot, versioned, edits: vec![CharEdit { chars: 0..0, text: "// x\n".into() }] }]
        };
        let (pinned, unpinned) = (edit(true), edit(false));
        assert_eq!(changed_since(&session, &pinned), None);
        let at = LineCol { line: 0, col: 0 };
        let typed = TextChange { range: Some(TextRange { start: at, end: at }), text: "\n".into() };
        session.change(uri, 2, std::slice::from_ref(&typed)).unwrap();
        assert_eq!(changed_since(&session, &pinned).as_deref(), Some("lib.rs"));
        assert_eq!(changed_since(&session, &unpinned), None);
        assert_eq!(changed_since(&session, &edit(true)), None, "computed for the current version");
        let current = edit(true);
        session.close(uri);
        assert_eq!(changed_since(&session, &current).as_deref(), Some("lib.rs"), "closed meanwhile");
        // Opened again (reloaded from disk), at the version the edit was computed for.
        session.open(uri, "rust", 2, "// a new first line\nfn a() {}\n");
        assert_eq!(changed_since(&session, &current).as_deref(), Some("lib.rs"), "reopened at its version");
        // An editor that repeats a version still changed the text.
        let current = edit(true);
        session.change(uri, 2, &[typed]).unwrap();
        assert_eq!(changed_since(&session, &current).as_deref(), Some("lib.rs"), "edited, version repeated");
    }
}
