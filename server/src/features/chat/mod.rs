//! Chat with Kimi about the code: a conversation kept per session, the context the user points
//! at (selection, current file, `@path` mentions, diagnostics), images for models that accept
//! them, and workspace tools the model may call (see `tools.rs`), in a bounded loop.
//!
//! [`ChatService::ask`] streams what happens as [`ChatEvent`]s on a channel; the LSP layer turns
//! them into notifications and `workspace/applyEdit` requests. Dropping the future (the client
//! cancelled) drops the model stream, which closes the upstream connection.

pub mod chatfile;
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
    ChatRequest, ContentPart, Message, ModelInfo, OpenAiCompatible, ProviderError, StreamEvent, ToolCall, ToolChoice,
    Usage,
};
use crate::router::Router;
use crate::text::DocumentSnapshot;
use store::{ChatStore, Turn};
use tools::{Proposal, ToolOutput, Workspace};

/// Files attached by `@path` or as the current file are cut at this many characters.
const MAX_ATTACHED_CHARS: usize = 30_000;
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
    /// Char range of the selection in `document` (empty or absent: none).
    pub selection: Option<Range<usize>>,
    /// Image file paths (relative to the workspace root, or absolute) or `data:image/…` URLs.
    pub images: Vec<String>,
    /// The document's diagnostics as the editor sent them, one line each.
    pub diagnostics: Vec<String>,
    /// The earlier turns, when the caller keeps them (a chat file is its own history): used
    /// instead of the session's, and the answer is not saved to a session.
    pub history: Option<Vec<Turn>>,
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
        applied: oneshot::Sender<bool>,
    },
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

/// The chat feature's state: sessions and what was learned about models.
pub struct ChatService {
    pub store: ChatStore,
    models: DashMap<String, Option<ModelInfo>>,
    /// Chat files being answered, by URI: one answer per file at a time, and its stop switch.
    pub answering: DashMap<String, CancellationToken>,
    chat_files: std::sync::Mutex<Option<std::sync::Arc<chatfile::ChatFiles>>>,
}

impl ChatService {
    pub fn new(store: ChatStore) -> ChatService {
        ChatService {
            store,
            models: DashMap::new(),
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

    /// What `/models` says about `model`, asked once per model and process. `None` when the
    /// endpoint has no such list or does not name the model.
    async fn model_info(&self, config: &Config, model: &str) -> Option<ModelInfo> {
        if let Some(known) = self.models.get(model) {
            return known.clone();
        }
        let client = OpenAiCompatible::new(config.provider_config(), OpenAiCompatible::shared_http_client());
        let listed = match client.models().await {
            Ok(list) => list,
            Err(e) => {
                tracing::debug!("no model list: {e}");
                return None;
            }
        };
        for m in &listed {
            self.models.insert(m.id.clone(), Some(m.clone()));
        }
        let found = listed.into_iter().find(|m| m.id == model);
        self.models.insert(model.to_string(), found.clone());
        found
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
        let history = match &input.history {
            Some(turns) => turns.clone(),
            None => self.store.get(&session_id).map(|s| s.turns).unwrap_or_default(),
        };
        let model = config.models.chat.clone();
        let info = self.model_info(config, &model).await;
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
        let first = store::first_kept_turn(&history, fixed, budget);
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
            let mut stream = tokio::select! {
                _ = cancel.cancelled() => return Err(ChatError::Cancelled),
                s = router.stream(config, Feature::Chat, request) => s?,
            };
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
                    None => {
                        return Err(ProviderError::StreamDropped {
                            host: String::new(),
                            received: 0,
                            detail: None,
                            request_id: None,
                        }
                        .into())
                    }
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
                let applied = tokio::select! {
                    _ = cancel.cancelled() => return Err(ChatError::Cancelled),
                    a = rx => a.unwrap_or(false),
                };
                if applied {
                    report(ToolStatus::Done, format!("{summary} (applied)"));
                    Ok(("the editor applied the edit".into(), true))
                } else {
                    report(ToolStatus::Refused, format!("{summary} (not applied)"));
                    Ok(("the user or the editor declined the edit; nothing was changed".into(), true))
                }
            }
            Err(refusal) => {
                report(ToolStatus::Refused, refusal.0.clone());
                Ok((format!("refused: {}", refusal.0), true))
            }
        }
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

fn fence(text: &str) -> String {
    let mut ticks = "```".to_string();
    while text.contains(&ticks) {
        ticks.push('`');
    }
    format!("{ticks}\n{}{}{ticks}", text, if text.ends_with('\n') { "" } else { "\n" })
}

fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_ATTACHED_CHARS) {
        Some((at, _)) => format!("{}\n[… cut at {MAX_ATTACHED_CHARS} characters]\n", &text[..at]),
        None => text.to_string(),
    }
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
        if snapshot.is_binary() || path.as_deref().is_some_and(crate::secrets::looks_secret) {
            out.push_str(&format!("\n\n(The current file `{name}` is never sent to a model.)"));
        } else {
            let rope = snapshot.rope();
            if let Some(sel) = input.selection.as_ref().filter(|s| !s.is_empty()) {
                let end = sel.end.min(rope.len_chars());
                let start = sel.start.min(end);
                let first_line = rope.char_to_line(start) + 1;
                let last_line = rope.char_to_line(end) + 1;
                let text = rope.slice(start..end).to_string();
                out.push_str(&format!(
                    "\n\nSelected in `{name}` (lines {first_line}-{last_line}):\n{}",
                    fence(&capped(&text))
                ));
            }
            out.push_str(&format!("\n\nThe current file, `{name}`:\n{}", fence(&capped(&snapshot.text()))));
        }
    }
    if !input.diagnostics.is_empty() {
        out.push_str("\n\nDiagnostics of the current file:\n");
        for d in &input.diagnostics {
            out.push_str(&format!("- {d}\n"));
        }
    }
    for mention in mentions(&input.message) {
        match workspace.call(tools::READ_FILE, &serde_json::json!({ "path": mention }).to_string()) {
            Ok(ToolOutput::Text { text, .. }) => out.push_str(&format!("\n\n@{mention}:\n{}", fence(&text))),
            Ok(ToolOutput::Edit(_)) => {}
            Err(e) => out.push_str(&format!("\n\n(@{mention} could not be attached: {e})")),
        }
    }
    out
}

/// An image as an image part: a `data:image/…` URL as given, a file (inside or outside the
/// workspace: the user chose it) read and encoded.
fn load_image(workspace: &Workspace, image: &str) -> Result<ContentPart, ChatError> {
    if image.starts_with("data:") {
        if !image.starts_with("data:image/") || !image.contains(";base64,") {
            return Err(ChatError::Invalid("an image data URL must look like `data:image/png;base64,…`".into()));
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
            index: Arc::new(crate::context::WorkspaceIndex::new()),
        }
    }

    #[test]
    fn mentions_are_words_starting_with_at_without_trailing_punctuation() {
        assert_eq!(mentions("compare @src/a.rs and @b.py, then @src/a.rs."), vec!["src/a.rs", "b.py"]);
        assert!(mentions("mail me at x@y.z or @").is_empty());
    }

    #[test]
    fn the_prompt_carries_selection_file_diagnostics_and_mentions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("util.rs"), "pub fn helper() {}\n").unwrap();
        std::fs::write(dir.path().join(".env"), "KEY=1\n").unwrap();
        let doc = crate::text::Document::new("file:///w/main.rs", "rust", 1, "fn main() {\n    run();\n}\n").snapshot();
        let input = ChatInput {
            message: "Why does this fail? See @util.rs and @.env".into(),
            document: Some((doc, Some(dir.path().join("main.rs")))),
            selection: Some(12..22),
            diagnostics: vec!["line 2: cannot find function `run`".into()],
            ..ChatInput::default()
        };
        let prompt = user_prompt(&input, &workspace(dir.path()));
        assert!(prompt.starts_with("Why does this fail?"), "{prompt}");
        assert!(prompt.contains("Selected in `main.rs` (lines 2-2):\n```\n    run();\n```"), "{prompt}");
        assert!(prompt.contains("The current file, `main.rs`:\n```\nfn main() {\n    run();\n}\n```"), "{prompt}");
        assert!(prompt.contains("- line 2: cannot find function `run`"), "{prompt}");
        assert!(
            prompt.contains("@util.rs:\n```\nutil.rs (lines 1-1 of 1):\n    1  pub fn helper() {}\n```"),
            "{prompt}"
        );
        assert!(prompt.contains("(@.env could not be attached:") && !prompt.contains("KEY=1"), "{prompt}");
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
    }
}
