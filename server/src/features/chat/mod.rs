//! Chat with Kimi about the code: a conversation kept per session, the context the user points
//! at (selection, current file, `@path` mentions, diagnostics), images for models that accept
//! them, and workspace tools the model may call (see `tools.rs`), in a bounded loop.
//!
//! [`ChatService::ask`] streams what happens as [`ChatEvent`]s on a channel; the LSP layer turns
//! them into notifications and `workspace/applyEdit` requests. Dropping the future (the client
//! cancelled) drops the model stream, which closes the upstream connection.

pub mod chatfile;
pub mod context;
pub mod diagnostics;
pub mod shrink;
pub mod store;
pub mod tools;

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;

use dashmap::DashMap;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ledger::Feature;
use crate::providers::{
    ChatRequest, ContentPart, FinishReason, Message, ProviderError, StreamEvent, ToolCall, ToolChoice, Usage,
};
use crate::router::{RouteHint, Router};
use crate::text::DocumentSnapshot;
use diagnostics::{DiagnosticStore, EditorDiagnostic};
use shrink::ChatShrink;
use store::{ChatStore, Turn};
use tools::{Proposal, ToolOutput, Workspace};

const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;

const SYSTEM: &str = "You are Kimi, a programming assistant inside the user's editor. Answer in Markdown, concisely. \
Use the tools to read the workspace when the answer depends on code you have not seen; do not guess file contents. \
To change code, call propose_edit: the user reviews each edit in the editor before it is applied.";

/// What the user asked, with what they pointed at.
#[derive(Clone, Debug, Default)]
pub struct ChatInput {
    pub message: String,
    pub session_id: Option<String>,
    /// The document the user is in, and its path when it is a file.
    pub document: Option<(DocumentSnapshot, Option<PathBuf>)>,
    /// Char range of the selection in `document`; an empty range is the cursor.
    pub selection: Option<Range<usize>>,
    /// Image file paths (relative to the workspace root, or absolute) or `data:image/…` URLs.
    pub images: Vec<String>,
    /// The document's diagnostics as the editor last reported them.
    pub diagnostics: Vec<EditorDiagnostic>,
    /// The earlier turns, when the caller keeps them (a chat file is its own history): used
    /// instead of the session's, and the answer is not saved to a session.
    pub history: Option<Vec<Turn>>,
    /// The user asked to think harder: routing rules with `thinkHarder` apply.
    pub think_harder: bool,
    /// What the model should know of `document` beyond its text (a notebook's layout, the cell
    /// the user is in), said right after it.
    pub document_note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolStatus {
    Started,
    Done,
    Refused,
}

/// What the LSP layer shows while an answer is being produced.
#[derive(Debug)]
pub enum ChatEvent {
    /// The next piece of the answer.
    Delta(String),
    Tool {
        name: String,
        arguments: Value,
        status: ToolStatus,
        summary: String,
    },
    /// The model proposed an edit; the receiver answers whether the editor applied it.
    Edit {
        proposal: Proposal,
        applied: oneshot::Sender<EditOutcome>,
    },
}

/// What became of a proposed edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditOutcome {
    Applied,
    /// The user or the editor declined it.
    Declined,
    /// The document changed after the edit was computed: it was not sent, since an editor that
    /// takes no versioned edits would have applied it to the wrong text.
    Stale,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatAnswer {
    pub session_id: String,
    pub text: String,
    /// Summed over every request of this turn (tool rounds included).
    pub usage: Usage,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
}

/// The chat feature's state: sessions, what was learned about models, and the diagnostics the
/// editor reported.
pub struct ChatService {
    pub store: ChatStore,
    pub diagnostics: std::sync::Arc<DiagnosticStore>,
    /// Chat files being answered, by URI: one answer per file at a time, and its stop switch.
    pub answering: DashMap<String, CancellationToken>,
    chat_files: std::sync::Mutex<Option<std::sync::Arc<chatfile::ChatFiles>>>,
}

impl ChatService {
    pub fn new(store: ChatStore) -> ChatService {
        ChatService {
            store,
            diagnostics: std::sync::Arc::new(DiagnosticStore::default()),
            answering: DashMap::new(),
            chat_files: std::sync::Mutex::new(None),
        }
    }

    /// The `chat.files` patterns compiled, kept until the setting changes. Invalid patterns
    /// are logged and left out.
    pub fn chat_files(&self, patterns: &[String]) -> std::sync::Arc<chatfile::ChatFiles> {
        let mut cached = self.chat_files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(files) = cached.as_ref().filter(|f| f.is_for(patterns)) {
            return files.clone();
        }
        let (files, problems) = chatfile::ChatFiles::new(patterns);
        for p in problems {
            tracing::warn!("{p}");
        }
        let files = std::sync::Arc::new(files);
        *cached = Some(files.clone());
        files
    }

    /// Answers one message of a session, streaming events on `events`.
    pub async fn ask(
        &self,
        router: &Router,
        config: &Config,
        workspace: &Workspace,
        input: ChatInput,
        events: mpsc::UnboundedSender<ChatEvent>,
        cancel: CancellationToken,
    ) -> Result<ChatAnswer, ChatError> {
        if input.message.trim().is_empty() && input.images.is_empty() {
            return Err(ChatError::Invalid("the message is empty".into()));
        }
        let session_id = match &input.session_id {
            Some(id) if !store::valid_id(id) => {
                return Err(ChatError::Invalid(format!(
                    "`{id}` is not a session id (1 to 64 letters, digits, `-` or `_`)"
                )))
            }
            Some(id) => id.clone(),
            None => self.store.new_id(),
        };
        let keep_session = input.history.is_none();
        let history = std::sync::Arc::new(match &input.history {
            Some(turns) => turns.clone(),
            None => self.store.get(&session_id).map(|s| s.turns).unwrap_or_default(),
        });
        // The model the route picks (images may pick a vision route), and what it can do.
        let hint = RouteHint { think_harder: input.think_harder, model: None };
        let model = router.route_model(config, Feature::Chat, &hint, !input.images.is_empty());
        let info = router.model_info(config, &model).await;
        let images = if input.images.is_empty() {
            Vec::new()
        } else {
            let accepts = config.chat.images.or(info.as_ref().and_then(|i| i.supports_image_in)).unwrap_or(false);
            if !accepts {
                return Err(ChatError::Invalid(format!(
                    "the chat model `{model}` does not accept images; set `models.chat` to a model that does, such as `kimi-k2.5` (or set `chat.images = true` if this one does)"
                )));
            }
            input.images.iter().map(|i| load_image(workspace, i)).collect::<Result<Vec<_>, _>>()?
        };
        let prompt = user_prompt(&input, workspace);

        let context_tokens =
            info.as_ref().and_then(|i| i.context_length).map(|c| c as usize).unwrap_or(config.chat.context_tokens);
        let budget = context_tokens.saturating_sub(config.chat.max_tokens as usize);
        let fixed = SYSTEM.len() + prompt.chars().count() + TOOLS_ALLOWANCE_CHARS;
        if store::estimate_tokens(fixed) > budget {
            return Err(ChatError::Invalid(format!(
                "the message with its attached context is too long for `{model}` ({context_tokens} tokens); select less or mention fewer files"
            )));
        }
        let mut first = store::first_kept_turn(&history, fixed, budget);
        let mut messages = vec![Message::system(SYSTEM)];
        if let Some(note) = store::dropped_summary(&history[..first]) {
            messages.push(Message::system(note));
        }
        for t in &history[first..] {
            messages.push(Message::user(t.prompt.clone()));
            messages.push(Message::assistant(t.answer.clone()));
        }
        if images.is_empty() {
            messages.push(Message::user(prompt.clone()));
        } else {
            let mut parts = vec![ContentPart::text(prompt.clone())];
            parts.extend(images);
            messages.push(Message::user_parts(parts));
        }

        let mut usage = Usage::default();
        let mut seen_calls: HashSet<(String, String)> = HashSet::new();
        let mut answer = String::new();
        let mut round = 0;
        loop {
            let last_round = round >= config.chat.max_tool_rounds;
            let mut request = ChatRequest::new(model.clone(), messages.clone());
            request.max_tokens = Some(config.chat.max_tokens);
            request.tools = tools::specs();
            // Past the limit the tools stay declared (the history mentions them) but may not be
            // called: the model has to answer with what it has.
            request.tool_choice = Some(if last_round { ToolChoice::None } else { ToolChoice::Auto });
            // The estimates above are the server's; a model that counts more tokens answers that
            // the request is too long, and the router sends it once more with less in it.
            let shrink =
                std::sync::Arc::new(ChatShrink::new(history.clone(), first, input.message.trim_end().chars().count()));
            let mut stream = tokio::select! {
                _ = cancel.cancelled() => return Err(ChatError::Cancelled),
                s = router.stream_shrinking(config, Feature::Chat, &hint, request, shrink.clone()) => s?,
            };
            if let Some((smaller, kept)) = shrink.take_shrunk() {
                // The later tool rounds go on from what fitted.
                (messages, first) = (smaller, kept);
            }
            let mut text = String::new();
            let response = loop {
                let event = tokio::select! {
                    _ = cancel.cancelled() => return Err(ChatError::Cancelled),
                    e = stream.next() => e,
                };
                match event {
                    Some(Ok(StreamEvent::Content(delta))) => {
                        text.push_str(&delta);
                        let _ = events.send(ChatEvent::Delta(delta));
                    }
                    Some(Ok(StreamEvent::Done(response))) => break response,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(ProviderError::dropped().into()),
                }
            };
            drop(stream);
            if let Some(u) = &response.usage {
                usage.prompt_tokens += u.prompt_tokens;
                usage.completion_tokens += u.completion_tokens;
                usage.total_tokens += u.total_tokens;
                usage.cached_tokens += u.cached_tokens;
            }
            answer.push_str(&text);
            if let Some(note) = unfinished_note(&response.finish_reason, config.chat.max_tokens) {
                // Said in the answer itself, where the user reads it: the answer stops short of
                // what the model meant to write. Tool calls cut off with it are not run.
                let tail = crate::features::actions::edit::note_after(&answer, &note);
                answer.push_str(&tail);
                let _ = events.send(ChatEvent::Delta(tail));
                break;
            }
            if response.tool_calls.is_empty() || last_round {
                break;
            }
            round += 1;
            if !text.is_empty() && !text.ends_with('\n') {
                answer.push('\n');
                let _ = events.send(ChatEvent::Delta("\n".into()));
            }
            messages.push(Message::assistant_tool_calls(
                text,
                Some(response.reasoning.clone()),
                response.tool_calls.clone(),
            ));
            let mut progressed = false;
            for call in &response.tool_calls {
                let result = self.run_tool(workspace, call, &mut seen_calls, &events, &cancel).await?;
                progressed |= result.1;
                messages.push(Message::tool_result(call.id.clone(), call.name.clone(), result.0));
            }
            if !progressed {
                // Every call of this round repeated an earlier one: the model is going in
                // circles. One last request without tools makes it answer.
                round = config.chat.max_tool_rounds;
            }
            let total: usize = messages.iter().map(Message::text_len).sum();
            if store::estimate_tokens(total) > budget {
                round = config.chat.max_tool_rounds;
                messages.push(Message::system(
                    "The tool results have filled the context: answer now with what you have read.",
                ));
            }
        }
        if keep_session {
            self.store.append(
                &session_id,
                Turn {
                    message: input.message,
                    prompt,
                    answer: answer.clone(),
                    at_unix_ms: crate::ledger::unix_ms_now(),
                },
            );
        }
        Ok(ChatAnswer { session_id, text: answer, usage })
    }

    /// Runs one tool call and reports it. Returns the text for the model and whether the call
    /// was new (a repeated call gets a reminder instead of a second run).
    async fn run_tool(
        &self,
        workspace: &Workspace,
        call: &ToolCall,
        seen: &mut HashSet<(String, String)>,
        events: &mpsc::UnboundedSender<ChatEvent>,
        cancel: &CancellationToken,
    ) -> Result<(String, bool), ChatError> {
        let arguments = tools::arguments_value(&call.arguments);
        let key = (call.name.clone(), canonical_json(&arguments));
        let report = |status, summary: String| {
            let _ =
                events.send(ChatEvent::Tool { name: call.name.clone(), arguments: arguments.clone(), status, summary });
        };
        if !seen.insert(key) {
            let message = "this exact call was already made; its result is above".to_string();
            report(ToolStatus::Refused, message.clone());
            return Ok((message, false));
        }
        report(ToolStatus::Started, String::new());
        let ws = workspace.clone();
        let (name, raw) = (call.name.clone(), call.arguments.clone());
        let outcome = tokio::task::spawn_blocking(move || ws.call(&name, &raw))
            .await
            .unwrap_or_else(|e| Err(tools::Refusal(format!("the tool failed: {e}"))));
        match outcome {
            Ok(ToolOutput::Text { text, summary }) => {
                report(ToolStatus::Done, summary);
                Ok((text, true))
            }
            Ok(ToolOutput::Edit(proposal)) => {
                let summary = proposal.summary.clone();
                let (tx, rx) = oneshot::channel();
                let _ = events.send(ChatEvent::Edit { proposal, applied: tx });
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => return Err(ChatError::Cancelled),
                    a = rx => a.unwrap_or(EditOutcome::Declined),
                };
                match outcome {
                    EditOutcome::Applied => {
                        report(ToolStatus::Done, format!("{summary} (applied)"));
                        Ok(("the editor applied the edit".into(), true))
                    }
                    EditOutcome::Declined => {
                        report(ToolStatus::Refused, format!("{summary} (not applied)"));
                        Ok(("the user or the editor declined the edit; nothing was changed".into(), true))
                    }
                    EditOutcome::Stale => {
                        report(ToolStatus::Refused, format!("{summary} (not applied: the file changed meanwhile)"));
                        let told = "the file changed in the editor while you answered, so the edit was not applied \
                                    and nothing was changed; read the file again before proposing an edit";
                        Ok((told.into(), true))
                    }
                }
            }
            Err(refusal) => {
                report(ToolStatus::Refused, refusal.0.clone());
                Ok((format!("refused: {}", refusal.0), true))
            }
        }
    }
}

/// The note that ends an answer the model did not finish: cut off at `chat.maxTokens`, or
/// stopped by the provider's content filter. `None` for a finished answer.
fn unfinished_note(finish: &FinishReason, max_tokens: u32) -> Option<String> {
    match finish {
        FinishReason::Length => Some(format!(
            "> **Cut off:** the answer reached the length limit ({max_tokens} tokens, `chat.maxTokens`) and stops here. Ask Kimi to continue, or raise `chat.maxTokens`."
        )),
        FinishReason::ContentFilter => {
            Some("> **Stopped:** the provider's content filter ended the answer here.".to_string())
        }
        FinishReason::Stop | FinishReason::ToolCalls | FinishReason::Other(_) => None,
    }
}

/// Room kept for the tool declarations and a few tool rounds when fitting history.
const TOOLS_ALLOWANCE_CHARS: usize = 24_000;

/// The same arguments with keys in another order are the same call.
fn canonical_json(v: &Value) -> String {
    // serde_json's map is ordered by key unless `preserve_order` is on, which this crate does
    // not enable; serialising therefore sorts the keys.
    serde_json::to_string(v).unwrap_or_default()
}

/// `@path` mentions: `@` at the start of a word, then a path; trailing punctuation is not part
/// of it (`see @src/lib.rs.`).
pub fn mentions(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in message.split_whitespace() {
        let Some(path) = word.strip_prefix('@') else {
            continue;
        };
        let path = path.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
        if !path.is_empty() && !out.iter().any(|p| p == path) {
            out.push(path.to_string());
        }
    }
    out
}

/// The user message the model gets: the question, then what it refers to.
pub fn user_prompt(input: &ChatInput, workspace: &Workspace) -> String {
    user_prompt_within(input, workspace, &context::Budget::default())
}

fn user_prompt_within(input: &ChatInput, workspace: &Workspace, budget: &context::Budget) -> String {
    let mut out = input.message.trim_end().to_string();
    let display = |path: &Option<PathBuf>, snapshot: &DocumentSnapshot| {
        path.as_ref()
            .map(|p| {
                workspace
                    .roots
                    .iter()
                    .find_map(|r| p.strip_prefix(r).ok())
                    .unwrap_or(p)
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .unwrap_or_else(|| snapshot.uri().to_string())
    };
    if let Some((snapshot, path)) = &input.document {
        let name = display(path, snapshot);
        if snapshot.is_binary()
            || path.as_deref().is_some_and(crate::secrets::looks_secret)
            || crate::secrets::uri_looks_secret(snapshot.uri())
        {
            out.push_str(&format!("\n\n(The current file `{name}` is never sent to a model.)"));
        } else {
            out.push_str("\n\n");
            out.push_str(&context::document_section(
                snapshot,
                &name,
                input.selection.clone(),
                workspace.index.as_ref(),
                budget,
            ));
            if let Some(note) = &input.document_note {
                out.push_str(&format!("\n\n{note}"));
            }
            let syntax = snapshot
                .tree()
                .map(|t| diagnostics::syntax_errors(t, snapshot.rope(), diagnostics::MAX_SYNTAX_ERRORS))
                .unwrap_or_default();
            if !input.diagnostics.is_empty() {
                out.push_str(&format!("\n\nDiagnostics the editor reports for `{name}`:"));
                for d in &input.diagnostics {
                    let stale = d.version.is_some_and(|v| v != snapshot.version());
                    let note = if stale { " (reported for an earlier version; the line may have moved)" } else { "" };
                    out.push_str(&format!("\n- {}{note}", d.describe()));
                }
            }
            if !syntax.is_empty() {
                out.push_str(&format!("\n\nSyntax errors tree-sitter finds in `{name}`:"));
                for e in &syntax {
                    out.push_str(&format!("\n- {}", e.describe()));
                }
            }
        }
    }
    for mention in mentions(&input.message) {
        match workspace.call(tools::READ_FILE, &serde_json::json!({ "path": mention }).to_string()) {
            Ok(ToolOutput::Text { text, .. }) => {
                out.push_str(&format!("\n\n@{mention}:\n{}", context::fence("", &text)))
            }
            Ok(ToolOutput::Edit(_)) => {}
            Err(e) => out.push_str(&format!("\n\n(@{mention} could not be attached: {e})")),
        }
    }
    out
}

/// An image as an image part: a `data:image/…` URL as given, a file (inside or outside the
/// workspace: the user chose it) read and encoded.
fn load_image(workspace: &Workspace, image: &str) -> Result<ContentPart, ChatError> {
    if image.starts_with("http://") || image.starts_with("https://") {
        return Err(ChatError::Invalid(format!(
            "`{image}` is a web address; kimi-lsp sends image files and data URLs only: save the image in the workspace and name the file"
        )));
    }
    if image.starts_with("data:") {
        let Some((head, data)) = image.split_once(";base64,").filter(|(head, _)| head.starts_with("data:image/"))
        else {
            return Err(ChatError::Invalid("an image data URL must look like `data:image/png;base64,…`".into()));
        };
        // Checked here, since the provider refuses the whole message for it, in words about its
        // request rather than the image.
        let invalid = |why: String| {
            ChatError::Invalid(format!(
                "the image data URL's data {why}: after `{head};base64,` give the image's bytes in standard base64 \
                 (A-Z, a-z, 0-9, `+`, `/`, `=` padding)"
            ))
        };
        if data.is_empty() {
            return Err(invalid("is missing".into()));
        }
        if let Err(e) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data) {
            return Err(invalid(format!("is not valid base64 ({e})")));
        }
        return Ok(ContentPart::ImageUrl(image.to_string()));
    }
    let given = PathBuf::from(image.strip_prefix("file://").unwrap_or(image));
    let path = match (given.is_absolute(), workspace.roots.first()) {
        (false, Some(root)) => root.join(given),
        _ => given,
    };
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return Err(ChatError::Invalid(format!("`{image}` is not a PNG, JPEG, GIF or WebP image"))),
    };
    let size = std::fs::metadata(&path)
        .map_err(|e| ChatError::Invalid(format!("cannot read the image `{image}`: {e}")))?
        .len();
    if size > MAX_IMAGE_BYTES {
        return Err(ChatError::Invalid(format!("the image `{image}` is larger than 10 MiB")));
    }
    let bytes =
        std::fs::read(&path).map_err(|e| ChatError::Invalid(format!("cannot read the image `{image}`: {e}")))?;
    Ok(ContentPart::image(mime, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn workspace(root: &std::path::Path) -> Workspace {
        Workspace {
            roots: vec![root.to_path_buf()],
            open_document: Arc::new(|_| None),
            open_notebook: Arc::new(|_| None),
            index: Arc::new(crate::context::WorkspaceIndex::new()),
            diagnostics: Arc::new(DiagnosticStore::default()),
            creates_files: true,
        }
    }

    #[test]
    fn mentions_are_words_starting_with_at_without_trailing_punctuation() {
        assert_eq!(mentions("compare @src/a.rs and @b.py, then @src/a.rs."), vec!["src/a.rs", "b.py"]);
        assert!(mentions("mail me at x@y.z or @").is_empty());
    }

    fn prompt_of(input: &ChatInput, ws: &Workspace, budget: &context::Budget) -> String {
        // The temporary directory's name changes from run to run.
        let root = ws.roots[0].to_string_lossy().into_owned();
        user_prompt_within(input, ws, budget).replace(&root, "/w")
    }

    #[test]
    fn the_prompt_for_a_small_file_carries_it_whole_with_diagnostics_and_mentions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("util.rs"), "pub fn helper() {}\n").unwrap();
        std::fs::write(dir.path().join(".env"), "KEY=1\n").unwrap();
        let ws = workspace(dir.path());
        let uri = url::Url::from_file_path(dir.path().join("main.rs")).unwrap().to_string();
        let doc = crate::text::Document::new(&uri, "rust", 2, "fn main() {\n    run()\n    helper();\n}\n").snapshot();
        ws.index.build(&ws.roots);
        let input = ChatInput {
            message: "Why does this fail? See @util.rs and @.env".into(),
            document: Some((doc, Some(dir.path().join("main.rs")))),
            selection: Some(12..35),
            diagnostics: vec![
                EditorDiagnostic {
                    lines: (1, 1),
                    severity: Some("error"),
                    message: "cannot find function `run` in this scope".into(),
                    source: Some("rustc".into()),
                    code: Some("E0425".into()),
                    version: Some(2),
                },
                EditorDiagnostic {
                    lines: (0, 0),
                    severity: Some("warning"),
                    message: "unused".into(),
                    source: None,
                    code: None,
                    version: Some(1),
                },
            ],
            ..ChatInput::default()
        };
        expect_test::expect![[r#"
            Why does this fail? See @util.rs and @.env

            Selected in `main.rs` (lines 2-3):
            ```rust
                run()
                helper();
            ```

            The current file, `main.rs` (4 lines):
            ```rust
            fn main() {
                run()
                helper();
            }
            ```

            Definitions it uses, from other files:
            ```rust
            // util.rs
            pub fn helper()
            ```

            Diagnostics the editor reports for `main.rs`:
            - line 2: error: cannot find function `run` in this scope (rustc E0425)
            - line 1: warning: unused (reported for an earlier version; the line may have moved)

            Syntax errors tree-sitter finds in `main.rs`:
            - line 3: cannot parse `helper`

            @util.rs:
            ```
            util.rs (lines 1-1 of 1):
                1  pub fn helper() {}
            ```

            (@.env could not be attached: `.env` looks like it holds secrets; it is never sent to a model)"#]]
        .assert_eq(&prompt_of(&input, &ws, &context::Budget::default()));
    }

    #[test]
    fn the_prompt_for_a_selection_in_a_large_file_carries_its_surroundings() {
        let dir = tempfile::tempdir().unwrap();
        let ws = workspace(dir.path());
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("src/queue.rs"),
            "pub struct Queue<T> { items: Vec<T> }\nimpl<T> Queue<T> {\n    pub fn pop(&mut self) -> Option<T> { self.items.pop() }\n}\n",
        )
        .unwrap();
        ws.index.build(&ws.roots);
        let filler: String = (0..40).map(|i| format!("fn step_{i}() {{}}\n")).collect();
        let text = format!(
            "use crate::queue::Queue;\n\n{filler}\npub fn drain(queue: &mut Queue<u32>) -> u32 {{\n    let mut total = 0;\n    while let Some(n) = queue.pop() {{\n        total += n;\n    }}\n    total\n}}\n"
        );
        let uri = url::Url::from_file_path(dir.path().join("src/main.rs")).unwrap().to_string();
        let doc = crate::text::Document::new(&uri, "rust", 1, &text).snapshot();
        let start = text.find("    while").unwrap();
        let end = text.find("    total\n}").unwrap();
        let input = ChatInput {
            message: "Can this loop forever?".into(),
            document: Some((doc, Some(dir.path().join("src/main.rs")))),
            selection: Some(start..end),
            ..ChatInput::default()
        };
        let budget = context::Budget { whole_file_chars: 400, ..context::Budget::default() };
        expect_test::expect![[r#"
            Can this loop forever?

            Selected in `src/main.rs` (lines 46-48):
            ```rust
                while let Some(n) = queue.pop() {
                    total += n;
                }
            ```

            The current file, `src/main.rs`, has 50 lines, too many to show whole; read_file reads any part of it.

            Its imports:
            ```rust
            use crate::queue::Queue;
            ```

            The function around the selection (lines 44-50):
            ```rust
            pub fn drain(queue: &mut Queue<u32>) -> u32 {
                let mut total = 0;
                while let Some(n) = queue.pop() {
                    total += n;
                }
                total
            }
            ```

            Definitions it uses, from other files:
            ```rust
            // src/queue.rs
            impl<T> Queue<T> { pub fn pop(&mut self) -> Option<T>; }
            // src/queue.rs
            pub struct Queue<T> { items: Vec<T> }
            ```"#]]
        .assert_eq(&prompt_of(&input, &ws, &budget));
    }

    #[test]
    fn images_are_data_urls_and_other_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shot.png"), b"\x89PNG").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let ws = workspace(dir.path());
        assert_eq!(
            load_image(&ws, "shot.png").unwrap(),
            ContentPart::ImageUrl("data:image/png;base64,iVBORw==".into())
        );
        assert_eq!(
            load_image(&ws, "data:image/gif;base64,R0lG").unwrap(),
            ContentPart::ImageUrl("data:image/gif;base64,R0lG".into())
        );
        assert!(load_image(&ws, "notes.txt").unwrap_err().to_string().contains("not a PNG"));
        assert!(load_image(&ws, "missing.png").unwrap_err().to_string().contains("cannot read"));
        assert!(load_image(&ws, "data:text/plain;base64,eA==").unwrap_err().to_string().contains("data:image/png"));
        // What follows `base64,` must decode, or the provider refuses the whole message.
        for bad in ["data:image/png;base64,@@@", "data:image/png;base64,iVBOR", "data:image/png;base64,"] {
            let err = load_image(&ws, bad).unwrap_err().to_string();
            assert!(err.contains("the image data URL") && err.contains("base64"), "{bad}: {err}");
        }
        let err = load_image(&ws, "data:image/png;base64,@@@").unwrap_err().to_string();
        assert_eq!(
            err,
            "the image data URL's data is not valid base64 (Invalid symbol 64, offset 0.): after \
             `data:image/png;base64,` give the image's bytes in standard base64 (A-Z, a-z, 0-9, `+`, `/`, `=` padding)"
        );
    }
}
