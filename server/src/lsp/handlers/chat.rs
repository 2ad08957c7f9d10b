//! `kimi/chat`, `kimi/chatSessions` and `kimi/chatSession`: unpack the request, run the chat feature, and turn its
//! events into `kimi/chatDelta` / `kimi/chatTool` / `kimi/chatDone` notifications and
//! `workspace/applyEdit` requests.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::gen_lsp_types::{Code, Diagnostic, DiagnosticSeverity, Range, Uri};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};

use crate::features::actions::{Change, CharEdit};
use crate::features::chat::diagnostics::EditorDiagnostic;
use crate::features::chat::tools::{Proposal, Workspace};
use crate::features::chat::{ChatError, ChatEvent, ChatInput, EditOutcome, ToolStatus};
use crate::lsp::ext::{self, ChatParams, ChatResult, ChatSessionParams, ChatSessionResult, ChatSessionsResult};
use crate::lsp::{from_proto, to_proto, Backend};

pub(crate) fn workspace(backend: &Backend) -> Workspace {
    let session = backend.session.clone();
    let notebooks = backend.session.clone();
    Workspace {
        roots: backend.session.roots(),
        // As they are, never parsed here: a file's `@mention` is read on the message loop, and
        // the one tool that needs a tree parses the text itself, on its blocking thread.
        open_document: Arc::new(move |uri| session.snapshot_as_is(uri)),
        open_notebook: Arc::new(move |uri| notebooks.notebook_script(uri)),
        index: backend.index.clone(),
        diagnostics: backend.chat.diagnostics.clone(),
        creates_files: backend.edit_support().create_files,
    }
}

fn editor_diagnostic(d: &Diagnostic, version: Option<i32>) -> EditorDiagnostic {
    let message = match &d.message {
        tower_lsp_server::gen_lsp_types::Message::String(s) => s.clone(),
        tower_lsp_server::gen_lsp_types::Message::MarkupContent(m) => m.value.clone(),
    };
    let severity = d.severity.and_then(|s| match s {
        DiagnosticSeverity::Error => Some("error"),
        DiagnosticSeverity::Warning => Some("warning"),
        DiagnosticSeverity::Information => Some("information"),
        DiagnosticSeverity::Hint => Some("hint"),
        _ => None,
    });
    EditorDiagnostic {
        lines: (d.range.start.line, d.range.end.line.max(d.range.start.line)),
        severity,
        message,
        source: d.source.clone(),
        code: d.code.as_ref().map(|c| match c {
            Code::Int(n) => n.to_string(),
            Code::String(s) => s.clone(),
        }),
        version,
    }
}

/// Keeps the diagnostics a code-action request carries (those overlapping its range) for the
/// chat's `get_diagnostics` tool: the editor tells the server about other servers' diagnostics
/// nowhere else.
pub(crate) fn remember_diagnostics(backend: &Backend, uri: &Uri, range: Range, diagnostics: &[Diagnostic]) {
    let Some(path) = from_proto::file_path(uri) else { return };
    let version =
        if diagnostics.is_empty() { None } else { backend.session.snapshot_as_is(uri.0.as_str()).map(|s| s.version()) };
    let known = diagnostics.iter().map(|d| editor_diagnostic(d, version)).collect();
    backend.chat.diagnostics.replace_lines(&path, (range.start.line, range.end.line.max(range.start.line)), known);
}

/// How long an applied edit of an open document may take to come back as `didChange`.
const CHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Asks the editor to apply a `propose_edit` proposal; whether it did (the model is told). A
/// proposal for an open document that changed since the tool read it is not sent: the user is
/// told, and the model learns why. Once an edit of an open document is applied, this returns
/// only after the editor reported the change (or [`CHANGE_TIMEOUT`]): the reply to
/// `workspace/applyEdit` may overtake the `didChange`, and the model's next tool call must read,
/// and place its edit in, the edited text.
pub(crate) async fn apply_proposal(
    client: &tower_lsp_server::Client,
    session: &crate::session::Session,
    proposal: Proposal,
    encoding: crate::text::PositionEncoding,
    support: to_proto::EditSupport,
) -> EditOutcome {
    let change = proposal_edit(proposal);
    let pinned = match &change {
        Change::Edit { snapshot, versioned: true, .. } => Some((snapshot.uri().to_string(), snapshot.revision())),
        _ => None,
    };
    if let Some(name) = super::code_action_resolve::changed_since(session, std::slice::from_ref(&change)) {
        let message = format!(
            "kimi-lsp: {name} changed while the model was answering, so its proposed edit was not applied; \
             nothing was changed. Ask again to have the edit made on the current text."
        );
        client.show_message(tower_lsp_server::gen_lsp_types::MessageType::Warning, message).await;
        return EditOutcome::Stale;
    }
    let edit = match to_proto::workspace_edit(&[change], encoding, support) {
        Ok(edit) => edit,
        Err(e) => {
            // `propose_edit` refuses new files for such editors; this is the last guard.
            tracing::warn!("{e}");
            return EditOutcome::Declined;
        }
    };
    match client.apply_edit(edit).await {
        Ok(r) if r.applied => {
            if let Some((uri, revision)) = pinned {
                wait_for_change(session, &uri, revision).await;
            }
            EditOutcome::Applied
        }
        Ok(_) => EditOutcome::Declined,
        Err(e) => {
            tracing::warn!("workspace/applyEdit failed: {e}");
            EditOutcome::Declined
        }
    }
}

/// Polls until the open document `uri` is no longer the text of `revision` (or closed), at most
/// [`CHANGE_TIMEOUT`]: the session has no change notification, and this runs once per applied
/// edit. The revision, not the version: an editor may report the edit at the version it had (a
/// buffer reloaded, a version repeated), and the chat would wait out the timeout for nothing.
async fn wait_for_change(session: &crate::session::Session, uri: &str, revision: u64) {
    let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
    while session.snapshot_as_is(uri).is_some_and(|now| now.revision() == revision) {
        if tokio::time::Instant::now() >= deadline {
            tracing::debug!(uri, "the editor applied an edit but reported no change");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A proposal as the edit the editor is asked to apply: pinned to the version of an open
/// document, unversioned for a file on disk, a `create` for a new file.
fn proposal_edit(p: Proposal) -> Change {
    match p.snapshot {
        Some(snapshot) => {
            Change::Edit { snapshot, versioned: p.open, edits: vec![CharEdit { chars: p.chars, text: p.text }] }
        }
        None => Change::Create { uri: p.uri, text: p.text },
    }
}

/// A chat asked from a notebook's cell, as the model gets it: the notebook as one script (the
/// cells above hold what the cell uses), the selection and the editor's diagnostics moved into
/// it, and a note saying where the user is.
struct InNotebook {
    document: (crate::text::DocumentSnapshot, Option<std::path::PathBuf>),
    selection: Option<std::ops::Range<usize>>,
    diagnostics: Vec<EditorDiagnostic>,
    note: String,
}

/// `None` when `cell` is no code cell of an open notebook.
async fn in_notebook(
    backend: &Backend,
    cell: &str,
    selection: Option<std::ops::Range<usize>>,
    diagnostics: Vec<EditorDiagnostic>,
) -> Option<InNotebook> {
    let script = backend.session.notebook_script(&backend.session.notebook_of(cell)?)?;
    let at = script.cells.iter().find(|c| c.uri == cell)?;
    let (offset, number) = (at.span.chars.start, at.number);
    let first_line = script.text[..at.span.bytes.start].matches('\n').count() as u32;
    let lines = script.text[at.span.bytes.clone()].lines().count().max(1) as u32;
    let path = from_proto::file_path_of(&script.uri);
    let parsed = super::parsed_off_loop(&script.uri, &script.language_id, 0, &script.text).await?;
    let name =
        path.as_deref().and_then(|p| p.file_name()).map_or(script.uri.clone(), |n| n.to_string_lossy().into_owned());
    let note = format!(
        "`{name}` is {}. The user is in cell {number}, lines {}-{} of it.",
        crate::features::chat::tools::NOTEBOOK_NOTE,
        first_line + 1,
        first_line + lines
    );
    let diagnostics = diagnostics
        .into_iter()
        // The script has no version of its own: a diagnostic's version was the cell's.
        .map(|d| EditorDiagnostic { lines: (d.lines.0 + first_line, d.lines.1 + first_line), version: None, ..d })
        .collect();
    Some(InNotebook {
        document: (parsed, path),
        selection: selection.map(|r| r.start + offset..r.end + offset),
        diagnostics,
        note,
    })
}

fn failure(message: String) -> Error {
    Error { code: ErrorCode::from(-32803), message: message.into(), data: None }
}

pub async fn handle(backend: &Backend, params: ChatParams) -> Result<ChatResult> {
    // A session to continue must be one the server has: answered without its turns, the user
    // would go on believing the model remembers them. (An ill-formed id is the feature's to
    // refuse, with its own words.)
    if let Some(id) = params.session_id.as_deref() {
        if crate::features::chat::store::valid_id(id) && backend.chat.store.get(id).is_none() {
            return Err(Error::invalid_params(unknown_session(id)));
        }
    }
    let enc = backend.session.encoding();
    let document = match &params.text_document {
        Some(td) => Some((
            backend
                .session
                .snapshot_parsed(td.uri.0.as_str())
                .await
                .ok_or_else(|| Error::invalid_params(format!("{} is not open", td.uri.0)))?,
            from_proto::file_path(&td.uri),
        )),
        None => None,
    };
    let selection = match (&document, params.range) {
        (Some((snapshot, _)), Some(range)) => Some(snapshot.char_range(from_proto::range(range), enc)),
        _ => None,
    };
    // The whole list, when the client sends one, replaces what code actions taught us; without
    // one, what is known about the file is used.
    let diagnostics = match &document {
        Some((snapshot, Some(path))) => {
            if !params.diagnostics.is_empty() {
                let version = Some(snapshot.version());
                let sent = params.diagnostics.iter().map(|d| editor_diagnostic(d, version)).collect();
                backend.chat.diagnostics.replace_all(path, sent);
            }
            backend.chat.diagnostics.get(path)
        }
        Some((snapshot, None)) => {
            params.diagnostics.iter().map(|d| editor_diagnostic(d, Some(snapshot.version()))).collect()
        }
        None => Vec::new(),
    };
    let (document, selection, diagnostics, document_note) = match &params.text_document {
        Some(td) => match in_notebook(backend, td.uri.0.as_str(), selection.clone(), diagnostics.clone()).await {
            Some(nb) => (Some(nb.document), nb.selection, nb.diagnostics, Some(nb.note)),
            None => (document, selection, diagnostics, None),
        },
        None => (document, selection, diagnostics, None),
    };
    let session_id = params.session_id.clone().unwrap_or_else(|| backend.chat.store.new_id());
    let input = ChatInput {
        message: params.message,
        session_id: Some(session_id.clone()),
        document,
        selection,
        images: params.images,
        diagnostics,
        history: None,
        think_harder: params.think_harder,
        document_note,
    };
    let request_id = params.request_id;
    let config = backend.session.config();
    let ws = workspace(backend);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Dropped with this future when the client cancels: the model stream closes with it.
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let ask = backend.chat.ask(&backend.router, &config, &ws, input, tx, cancel.clone());
    tokio::pin!(ask);
    let result = loop {
        tokio::select! {
            biased;
            Some(event) = rx.recv() => forward(backend, &session_id, &request_id, event).await,
            result = &mut ask => {
                while let Ok(event) = rx.try_recv() {
                    forward(backend, &session_id, &request_id, event).await;
                }
                break result;
            }
        }
    };
    let error = result.as_ref().err().map(ToString::to_string);
    backend
        .client
        .send_notification::<ext::ChatDone>(ext::ChatDoneParams {
            session_id: session_id.clone(),
            request_id,
            error: error.clone(),
        })
        .await;
    if let Some(unsaved) = backend.chat.store.take_unsaved() {
        backend.report_warning("chat_unsaved", &unsaved).await;
    }
    match result {
        Ok(answer) => Ok(ChatResult { session_id: answer.session_id, text: answer.text, usage: answer.usage.into() }),
        Err(ChatError::Cancelled) => Err(Error::request_cancelled()),
        Err(ChatError::Invalid(m)) => Err(Error::invalid_params(m)),
        Err(e @ ChatError::Provider(_)) => Err(failure(format!("kimi-lsp: {e}"))),
    }
}

async fn forward(backend: &Backend, session_id: &str, request_id: &Option<serde_json::Value>, event: ChatEvent) {
    match event {
        ChatEvent::Delta(text) => {
            backend
                .client
                .send_notification::<ext::ChatDelta>(ext::ChatDeltaParams {
                    session_id: session_id.to_string(),
                    request_id: request_id.clone(),
                    text,
                })
                .await
        }
        ChatEvent::Tool { name, arguments, status, summary } => {
            let status = match status {
                ToolStatus::Started => "started",
                ToolStatus::Done => "done",
                ToolStatus::Refused => "refused",
            };
            backend
                .client
                .send_notification::<ext::ChatTool>(ext::ChatToolParams {
                    session_id: session_id.to_string(),
                    request_id: request_id.clone(),
                    name,
                    arguments,
                    status: status.into(),
                    summary,
                })
                .await
        }
        ChatEvent::Edit { proposal, applied } => {
            let applied_edit = apply_proposal(
                &backend.client,
                &backend.session,
                proposal,
                backend.session.encoding(),
                backend.edit_support(),
            )
            .await;
            let _ = applied.send(applied_edit);
        }
    }
}

pub async fn sessions(backend: &Backend) -> Result<ChatSessionsResult> {
    Ok(ChatSessionsResult { sessions: backend.chat.store.list() })
}

/// `kimi/chatSession`: one session's turns, from memory or from disk.
pub async fn session(backend: &Backend, params: ChatSessionParams) -> Result<ChatSessionResult> {
    let id = params.session_id;
    if !crate::features::chat::store::valid_id(&id) {
        return Err(Error::invalid_params(format!("`{id}` is not a session id (1 to 64 letters, digits, `-` or `_`)")));
    }
    backend.chat.store.get(&id).map(ChatSessionResult::from).ok_or_else(|| Error::invalid_params(unknown_session(&id)))
}

fn unknown_session(id: &str) -> String {
    format!(
        "there is no chat session `{id}`: it was never answered, or its file was deleted; kimi/chatSessions lists the sessions kept, and a chat without `sessionId` starts a new one"
    )
}
