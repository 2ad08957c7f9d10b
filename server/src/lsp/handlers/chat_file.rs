//! The chat file, for editors without a chat UI (Helix): in a Markdown transcript matching
//! `chat.files` (`*.kimi.md`), the code action "Ask Kimi" runs `kimi.askChatFile`, which answers
//! the last question by streaming the answer into the file with `workspace/applyEdit`.
//!
//! The command answers once the answer's heading is in the file (the editor replied to that
//! `workspace/applyEdit`), and the answer streams from a background task: Helix gives up on a
//! request after 20 s and never cancels one, so a long answer must not hold the request open.
//! The heading goes first because Emacs 28's jsonrpc leaves a message that arrives in the same
//! read as the reply it waits for unread until more output comes: a first edit sent right behind
//! the reply would stall there. "Stop Kimi's answer" (`kimi.stopChatFile`) is offered while an
//! answer is streaming.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::Client;

use crate::features::actions::{Change, CharEdit};
use crate::features::chat::chatfile;
use crate::features::chat::{ChatError, ChatEvent, ChatInput, ChatService};
use crate::lsp::ext::{ASK_CHAT_FILE, STOP_CHAT_FILE};
use crate::lsp::handlers::chat::{apply_proposal, workspace};
use crate::lsp::handlers::code_action::kind_wanted;
use crate::lsp::{from_proto, to_proto, Backend};
use crate::session::Session;
use crate::text::{line_ending, DocumentSnapshot, PositionEncoding};

/// The kind of the chat-file actions: a `source` action (it concerns the whole file), of its own
/// sub-kind so a key binding can ask for exactly it (`only: ["source.kimi"]`) and a request for
/// other source actions (`source.fixAll` on save) never runs it.
pub const KIND: &str = "source.kimi";

/// Streamed text is sent at most this often: a fast model must not flood the editor with one
/// edit per token. While an edit is in flight the text keeps gathering, so batches also grow
/// with the editor's latency.
const BATCH_EVERY: Duration = Duration::from_millis(100);
/// An edit the editor refused (the user typed between our snapshot and its arrival) is tried
/// again on a fresh snapshot this many times in all.
const ATTEMPTS: usize = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long the editor may take to report an edit it applied.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(serde::Deserialize)]
struct Target {
    uri: Uri,
}

fn target_argument(arguments: &[Value], command: &str) -> Result<Uri> {
    arguments
        .first()
        .cloned()
        .and_then(|v| serde_json::from_value::<Target>(v).ok())
        .map(|t| t.uri)
        .ok_or_else(|| Error::invalid_params(format!("{command} takes `{{\"uri\": …}}` as its argument")))
}

fn name_of(uri: &Uri) -> String {
    from_proto::file_path(uri)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| uri.0.to_string())
}

/// "Ask Kimi" (or, while an answer streams, "Stop Kimi's answer") for an open chat file, when
/// the client can apply workspace edits and `only` does not exclude the kind.
pub(crate) fn action(backend: &Backend, uri: &Uri, only: &[CodeActionKind]) -> Option<CodeActionResponse> {
    if !kind_wanted(KIND, only) || backend.session.snapshot_as_is(uri.0.as_str()).is_none() {
        return None;
    }
    let applies_edits = {
        let caps = backend.client_caps.lock().unwrap_or_else(|e| e.into_inner());
        caps.workspace.as_ref().and_then(|w| w.apply_edit).unwrap_or(false)
    };
    let config = backend.session.config();
    let path = from_proto::file_path(uri).unwrap_or_else(|| {
        // An unsaved buffer (`untitled:notes.kimi.md`): its name is the last segment.
        uri.0.as_str().rsplit(['/', ':']).next().unwrap_or_default().into()
    });
    if !applies_edits || !backend.chat.chat_files(&config.chat.files).matches(&path) {
        return None;
    }
    let (title, command) = if backend.chat.answering.contains_key(uri.0.as_str()) {
        ("Stop Kimi's answer", STOP_CHAT_FILE)
    } else {
        ("Ask Kimi", ASK_CHAT_FILE)
    };
    Some(CodeActionResponse::CodeAction(CodeAction {
        title: title.into(),
        kind: Some(CodeActionKind::from(KIND)),
        command: Some(Command {
            title: title.into(),
            tooltip: None,
            command: command.into(),
            arguments: Some(vec![serde_json::json!({ "uri": uri })]),
        }),
        ..Default::default()
    }))
}

fn failure(message: String) -> Error {
    Error { code: ErrorCode::from(-32803), message: message.into(), data: None }
}

/// `kimi.askChatFile`: checks the file has a question, starts the answer and returns `null` once
/// the answer's heading is in the file. What goes wrong up to then is the command's error and a
/// message; what goes wrong later, a message.
pub(crate) async fn ask(backend: &Backend, arguments: &[Value]) -> Result<Option<Value>> {
    let uri = target_argument(arguments, ASK_CHAT_FILE)?;
    let started = match start(backend, &uri) {
        Ok(started) => started.await.unwrap_or_else(|_| Err(format!("the answer in {} did not start", name_of(&uri)))),
        Err(message) => Err(message),
    };
    match started {
        Ok(()) => Ok(None),
        Err(message) => {
            let message = format!("kimi-lsp: {message}");
            backend.client.show_message(MessageType::Warning, &message).await;
            Err(failure(message))
        }
    }
}

/// `kimi.stopChatFile`: stops the answer streaming into the file; what arrived stays.
pub(crate) async fn stop(backend: &Backend, arguments: &[Value]) -> Result<Option<Value>> {
    let uri = target_argument(arguments, STOP_CHAT_FILE)?;
    match backend.chat.answering.get(uri.0.as_str()) {
        Some(cancel) => {
            cancel.cancel();
            Ok(None)
        }
        None => Err(Error::invalid_params(format!("Kimi is not answering in {}", name_of(&uri)))),
    }
}

/// Starts the answer; the receiver learns whether its heading went in.
fn start(
    backend: &Backend,
    uri: &Uri,
) -> std::result::Result<oneshot::Receiver<std::result::Result<(), String>>, String> {
    let name = name_of(uri);
    let snapshot = backend.session.snapshot_as_is(uri.0.as_str()).ok_or_else(|| format!("{name} is not open"))?;
    let text = snapshot.text();
    let (history, question) = chatfile::pending(&text)?;
    // The question's images go along as image parts; earlier turns' images stay behind (only
    // their text is history).
    let (question, image_refs) = chatfile::images(&question);
    let chat_dir = from_proto::file_path(uri).and_then(|p| p.parent().map(Path::to_path_buf));
    let roots = backend.session.roots();
    let images = image_refs.iter().map(|i| i.resolve(chat_dir.as_deref(), &roots)).collect();
    let history = history
        .into_iter()
        .map(|mut t| {
            t.prompt = chatfile::images(&t.prompt).0;
            t.message = chatfile::images(&t.message).0;
            t
        })
        .collect();
    // A note left by a question that could not be sent is replaced by this answer.
    let kept = chatfile::trailing_note_start(&text).unwrap_or(text.len());
    let cancel = CancellationToken::new();
    match backend.chat.answering.entry(uri.0.to_string()) {
        dashmap::Entry::Occupied(_) => {
            return Err(format!("Kimi is already answering in {name}; wait for it, or run \"Stop Kimi's answer\""))
        }
        dashmap::Entry::Vacant(v) => {
            v.insert(cancel.clone());
        }
    }
    let writer = Writer {
        client: backend.client.clone(),
        session: backend.session.clone(),
        uri: uri.0.to_string(),
        name,
        enc: backend.session.encoding(),
        support: backend.edit_support(),
        endings: snapshot.line_ending().converter(),
    };
    let job = Job {
        chat: backend.chat.clone(),
        router: backend.router.clone(),
        config: backend.session.config(),
        workspace: workspace(backend),
        input: ChatInput { message: question, images, history: Some(history), ..ChatInput::default() },
        header: chatfile::answer_header(&text[..kept]),
        cancel,
    };
    let (started, on_start) = oneshot::channel();
    tokio::spawn(async move {
        let _done = Answering { chat: job.chat.clone(), uri: writer.uri.clone() };
        let client = writer.client.clone();
        if let Err(message) = job.run(writer, started).await {
            client.show_message(MessageType::Error, format!("kimi-lsp: {message}")).await;
        }
    });
    Ok(on_start)
}

/// Frees the file for the next question however the answer ends.
struct Answering {
    chat: Arc<ChatService>,
    uri: String,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.chat.answering.remove(&self.uri);
    }
}

struct Job {
    chat: Arc<ChatService>,
    router: Arc<crate::router::Router>,
    config: Arc<crate::config::Config>,
    workspace: crate::features::chat::tools::Workspace,
    input: ChatInput,
    header: String,
    cancel: CancellationToken,
}

impl Job {
    /// `started` gets the heading's outcome; a failure to put it in is the command's to report.
    async fn run(
        self,
        mut writer: Writer,
        started: oneshot::Sender<std::result::Result<(), String>>,
    ) -> std::result::Result<(), String> {
        let header = writer.endings.convert(&self.header);
        let sent = writer.start_answer(&header).await;
        // The command answers now, before the heading's `didChange` is waited for: eglot reports
        // changes from an idle timer, which does not run while a command waits for its answer.
        let _ = started.send(sent.clone().map(|_| ()));
        let Ok(sent) = sent else {
            // The command reports it.
            return Ok(());
        };
        if let Some(version) = sent {
            writer.wait_for_change(version).await?;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let Job { chat, router, config, workspace, input, cancel, .. } = self;
        // Aborted with this future when writing fails: the model stream closes with it.
        let task = tokio::spawn(async move { chat.ask(&router, &config, &workspace, input, tx, cancel).await });
        let _abort = AbortOnDrop(task.abort_handle());

        let mut answer = String::new();
        let mut pending = String::new();
        let mut last_flush = Instant::now();
        // The channel closes when the model task ends, after its last event.
        while let Some(event) = rx.recv().await {
            writer.on_event(event, &mut pending, &mut answer).await?;
            tokio::time::sleep_until(last_flush + BATCH_EVERY).await;
            while let Ok(event) = rx.try_recv() {
                writer.on_event(event, &mut pending, &mut answer).await?;
            }
            writer.flush(&mut pending, &mut answer).await?;
            last_flush = Instant::now();
        }
        let result = task.await.map_err(|e| format!("the answer failed: {e}"))?;
        if answer.trim().is_empty() {
            if let Err(ChatError::Invalid(reason)) = &result {
                // The question itself is the problem (images for a model without them, too
                // long): the reason goes where the answer would have, next to the question.
                let note = writer.endings.convert(&chatfile::not_sent_note(reason));
                writer.insert_at_end(&note).await?;
                return Err(format!("the question in {} was not sent: {reason}", writer.name));
            }
            // Nothing to keep: the file goes back to its question, ready to be asked again.
            writer.remove_tail(&header).await?;
            return match result {
                Ok(_) => Err(format!("Kimi sent an empty answer to the question in {}", writer.name)),
                Err(ChatError::Cancelled) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
        }
        match result {
            Ok(_) | Err(ChatError::Cancelled) => {
                let next = writer.endings.convert(&chatfile::next_question_header(&answer));
                writer.insert_at_end(&next).await
            }
            Err(e) => Err(format!(
                "the answer in {} stopped: {e}. What arrived stays in the file; delete it from the `{}` heading to ask again",
                writer.name,
                chatfile::KIMI
            )),
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Appends to one open document through the editor.
///
/// Every edit is pinned to the version of the server's snapshot and inserts at that snapshot's
/// end, so it lands exactly after the text before it or the editor refuses it. That is sound
/// because each edit waits until the editor's `didChange` for it has arrived (the reply to
/// `workspace/applyEdit` may come before it) before the next one is computed; a refused edit
/// (the user typed meanwhile) is tried again on a fresh snapshot.
struct Writer {
    client: Client,
    session: Arc<Session>,
    uri: String,
    name: String,
    enc: PositionEncoding,
    support: to_proto::EditSupport,
    endings: line_ending::Converter,
}

impl Writer {
    async fn on_event(
        &mut self,
        event: ChatEvent,
        pending: &mut String,
        answer: &mut String,
    ) -> std::result::Result<(), String> {
        match event {
            ChatEvent::Delta(text) => pending.push_str(&text),
            ChatEvent::Tool { name, status, summary, .. } => {
                tracing::debug!(tool = %name, ?status, %summary, "chat file tool call");
            }
            ChatEvent::Edit { proposal, applied } => {
                // The answer so far goes in first: the edit is a consequence of it.
                self.flush(pending, answer).await?;
                let _ =
                    applied.send(apply_proposal(&self.client, &self.session, proposal, self.enc, self.support).await);
            }
        }
        Ok(())
    }

    async fn flush(&mut self, pending: &mut String, answer: &mut String) -> std::result::Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        let text = self.endings.convert(pending);
        self.insert_at_end(&text).await?;
        answer.push_str(pending);
        pending.clear();
        Ok(())
    }

    /// Puts the answer's heading at the end, in place of a "not sent" note that ends the file;
    /// returns the version it was pinned to once the editor applied it.
    async fn start_answer(&self, header: &str) -> std::result::Result<Option<i32>, String> {
        self.send_edit(|s| {
            let text = s.text();
            let kept = chatfile::trailing_note_start(&text).unwrap_or(text.len());
            Some((s.rope().byte_to_char(kept)..s.len_chars(), header.to_string()))
        })
        .await
    }

    async fn insert_at_end(&self, text: &str) -> std::result::Result<(), String> {
        self.edit(|s| Some((s.len_chars()..s.len_chars(), text.to_string()))).await
    }

    /// Deletes `tail` from the end of the document, if the document still ends with it.
    async fn remove_tail(&self, tail: &str) -> std::result::Result<(), String> {
        let len = tail.chars().count();
        self.edit(|s| {
            let end = s.len_chars();
            (end >= len && s.slice(end - len..end) == tail).then(|| (end - len..end, String::new()))
        })
        .await
    }

    /// Sends the edit `make` computes on the current snapshot (`None`: nothing to do) and
    /// returns once the server's copy of the document has it.
    async fn edit(
        &self,
        make: impl Fn(&DocumentSnapshot) -> Option<(Range<usize>, String)>,
    ) -> std::result::Result<(), String> {
        match self.send_edit(make).await? {
            Some(version) => self.wait_for_change(version).await,
            None => Ok(()),
        }
    }

    /// Sends the edit `make` computes on the current snapshot until the editor applies it;
    /// returns the version it was pinned to (`None`: nothing to do).
    async fn send_edit(
        &self,
        make: impl Fn(&DocumentSnapshot) -> Option<(Range<usize>, String)>,
    ) -> std::result::Result<Option<i32>, String> {
        let mut reason = String::new();
        for attempt in 1..=ATTEMPTS {
            let snapshot = self.session.snapshot_as_is(&self.uri).ok_or_else(|| self.closed())?;
            let Some((chars, text)) = make(&snapshot) else {
                return Ok(None);
            };
            let version = snapshot.version();
            let change = Change::Edit { snapshot, versioned: true, edits: vec![CharEdit { chars, text }] };
            // An edit of an open document: every client takes it, with or without `documentChanges`.
            let edit = to_proto::workspace_edit(&[change], self.enc, self.support).map_err(|e| e.to_string())?;
            let response = self
                .client
                .apply_edit(edit)
                .await
                .map_err(|e| format!("the editor did not take the answer for {}: {e}", self.name))?;
            if response.applied {
                return Ok(Some(version));
            }
            reason = response.failure_reason.map(|r| format!(" ({r})")).unwrap_or_default();
            if attempt < ATTEMPTS {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
        Err(format!("the editor refused to insert the answer into {}{reason}; the answer stopped", self.name))
    }

    /// Polls: the session has no change notification, and this runs once per batch.
    async fn wait_for_change(&self, version: i32) -> std::result::Result<(), String> {
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        loop {
            // Only the version is read: no tree needed, so no reparse per poll.
            let now = self.session.snapshot_as_is(&self.uri).ok_or_else(|| self.closed())?;
            if now.version() != version {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the editor applied the answer to {} but did not report the change (textDocument/didChange); the answer stopped",
                    self.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn closed(&self) -> String {
        format!("{} was closed; the answer stopped", self.name)
    }
}
