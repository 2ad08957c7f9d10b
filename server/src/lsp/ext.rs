//! kimi-lsp's own LSP methods (documented in docs/lsp-extensions.md).

use serde::{Deserialize, Serialize};
use tower_lsp_server::gen_lsp_types::TextDocumentIdentifier;

use crate::text::DocumentSnapshot;

/// Sent by the editor (as an item's `command`) when the user accepts a suggestion: feeds the
/// acceptance rate in the usage ledger.
pub const ACCEPT_COMPLETION: &str = "kimi.acceptCompletion";

/// What the server believes a document is. For bug reports ("the suggestion ignores my last
/// edit") and for the editor shims' debug commands.
pub const DOCUMENT_STATE: &str = "kimi/documentState";

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStateParams {
    pub text_document: TextDocumentIdentifier,
    /// `false` leaves the text out: a status bar asking at every change of editor needs only
    /// `completionsOff`, and a big file's text is megabytes of JSON.
    #[serde(default = "yes")]
    pub with_text: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentState {
    pub uri: String,
    pub version: i32,
    /// The language the server parses it as ("Rust", …, "Plain text").
    pub language: String,
    /// Absent when the request's `withText` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub line_count: usize,
    /// A syntax tree is kept (false for plain text, binary and over-large files).
    pub parsed: bool,
    /// The tree has error nodes: the code does not parse as it stands.
    pub syntax_errors: bool,
    pub binary: bool,
    pub too_large: bool,
    /// The language id the editor sent, the key `completion.languages` uses.
    pub language_id: String,
    /// What prompts call the language: "Ruby" for a Ruby file, parsed as plain text.
    pub language_name: String,
    /// Why this document gets no completions (the settings, or a file that is never sent or
    /// too large); `null` when it gets them.
    pub completions_off: Option<String>,
}

impl DocumentState {
    pub fn from_snapshot(s: &DocumentSnapshot, with_text: bool) -> DocumentState {
        let tree = s.tree();
        DocumentState {
            uri: s.uri().to_string(),
            version: s.version(),
            language: s.language().name().to_string(),
            text: with_text.then(|| s.rope().to_string()),
            line_count: s.rope().len_lines(),
            parsed: tree.is_some(),
            syntax_errors: tree.is_some_and(|t| t.root_node().has_error()),
            binary: s.is_binary(),
            too_large: s.is_too_large(),
            language_id: s.language_id().to_string(),
            language_name: s.language_name().name.into_owned(),
            completions_off: None,
        }
    }
}

/// Internal: what the transport guard found wrong with a message.
#[derive(Debug, Deserialize)]
pub struct MalformedParams {
    pub code: i64,
    pub message: String,
}

/// The server's state at a glance, for status bars and health checks.
pub const STATUS: &str = "kimi/status";

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version: String,
    pub base_url: String,
    pub api_key_set: bool,
    pub completion_model: String,
    pub action_model: String,
    pub chat_model: String,
    pub open_documents: usize,
    /// The workspace symbol index is being built (first, or for changed workspace folders).
    pub indexing: bool,
    pub indexed_files: usize,
    pub indexed_symbols: usize,
    /// Walks of the workspace done so far: the first, then one per batch of files changed on
    /// disk (or per minute, where the client watches no files).
    pub index_scans: u64,
    /// Open documents whose code can be shown to the model as similar code (not secrets,
    /// plain text, binary or very large ones), once the reindexer has picked them up.
    pub similar_documents: usize,
    /// Requests and cost of this server process so far.
    pub session_requests: u64,
    pub session_cost: f64,
    pub shown_completions: u64,
    pub accepted_completions: u64,
    /// The server's own time per completion, the model's left out; `null` before the first.
    pub completion_own_time: Option<crate::features::completion::OwnTime>,
}

/// Runs a code action (the path for clients without `codeAction/resolve` for edits, and for
/// actions whose answer is text). Arguments: `[data: ActionData, instruction?: string]`.
pub const RUN_ACTION: &str = "kimi.runAction";

/// Answers the last question of a chat file (`chat.files`) by streaming the answer into it with
/// `workspace/applyEdit`. Arguments: `[{ uri }]`; returns `null` once the answer has started.
pub const ASK_CHAT_FILE: &str = "kimi.askChatFile";

/// Stops the answer streaming into a chat file. Arguments: `[{ uri }]`.
pub const STOP_CHAT_FILE: &str = "kimi.stopChatFile";

/// What a listed code action carries (`data`, and its command's first argument): enough to
/// compute it later against exactly the text it was listed for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionData {
    pub uri: tower_lsp_server::gen_lsp_types::Uri,
    /// Which text of the document the action was listed for (`DocumentSnapshot::revision`),
    /// opaque to clients. The version alone cannot say: a document closed and opened again
    /// (reloaded from disk) is back at its first version with other text, and the range would
    /// select other lines.
    pub revision: u64,
    pub action: String,
    /// For custom actions: the title, checked so a settings change cannot swap the action.
    #[serde(default)]
    pub title: String,
    pub range: tower_lsp_server::gen_lsp_types::Range,
    #[serde(default)]
    pub diagnostics: Vec<tower_lsp_server::gen_lsp_types::Diagnostic>,
    /// Set by the client when the user asks Kimi to think harder on this action: routing rules
    /// with `thinkHarder` apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub think_harder: bool,
}

/// The result of `kimi.runAction`.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunActionResult {
    /// The editor applied the edit.
    pub applied: bool,
    /// The answer, for actions that explain rather than edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Usage today, this week and all time, by feature and model, with budgets: the same JSON as
/// `kimi-lsp usage --json` (`features::usage::UsageReport`).
pub const USAGE: &str = "kimi/usage";

/// Sent after every metered model request with the running totals of this server process.
pub struct UsageChanged;

impl tower_lsp_server::gen_lsp_types::Notification for UsageChanged {
    type Params = UsageChangedParams;
    const METHOD: tower_lsp_server::gen_lsp_types::LspNotificationMethod<'static> =
        tower_lsp_server::gen_lsp_types::LspNotificationMethod::Custom("kimi/usageChanged");
    const MESSAGE_DIRECTION: tower_lsp_server::gen_lsp_types::MessageDirection =
        tower_lsp_server::gen_lsp_types::MessageDirection::ServerToClient;
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageChangedParams {
    /// Requests of this server process so far, this one included.
    pub session_requests: u64,
    /// Their cost, in the price table's currency.
    pub session_cost: f64,
    pub last_request: LastRequest,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastRequest {
    pub feature: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// `null` when the model has no known price.
    pub cost: Option<f64>,
    /// `ok`, `shown`, `error` or `cancelled`.
    pub outcome: String,
}

/// Chat with Kimi (docs/lsp-extensions.md, "Chat").
pub const CHAT: &str = "kimi/chat";
pub const CHAT_SESSIONS: &str = "kimi/chatSessions";
/// One session's turns, for a client reopening it.
pub const CHAT_SESSION: &str = "kimi/chatSession";

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatParams {
    pub message: String,
    #[serde(default)]
    pub session_id: Option<String>,
    /// Echoed in every notification of this request, so a client with several chats running
    /// can tell them apart.
    #[serde(default)]
    pub request_id: Option<serde_json::Value>,
    #[serde(default)]
    pub text_document: Option<TextDocumentIdentifier>,
    /// The selection in `text_document`; an empty range is the cursor.
    #[serde(default)]
    pub range: Option<tower_lsp_server::gen_lsp_types::Range>,
    #[serde(default)]
    pub images: Vec<String>,
    /// All of the document's diagnostics: they replace what code-action requests told the
    /// server about it. Empty: what those told is used.
    #[serde(default)]
    pub diagnostics: Vec<tower_lsp_server::gen_lsp_types::Diagnostic>,
    /// The user asked Kimi to think harder: routing rules with `thinkHarder` apply.
    #[serde(default)]
    pub think_harder: bool,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatResult {
    pub session_id: String,
    pub text: String,
    pub usage: ChatUsage,
}

/// Tokens of every request of one answer (tool rounds included).
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub cached_tokens: u32,
}

impl From<crate::providers::Usage> for ChatUsage {
    fn from(u: crate::providers::Usage) -> Self {
        ChatUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            cached_tokens: u.cached_tokens,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSessionsResult {
    pub sessions: Vec<crate::features::chat::store::SessionSummary>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSessionParams {
    pub session_id: String,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatSessionResult {
    pub session_id: String,
    /// The first question's first line.
    pub title: String,
    pub created_unix_ms: i64,
    pub updated_unix_ms: i64,
    /// Oldest first, a `user` message then its `assistant` answer for every turn: what the user
    /// typed and what was answered, without the context that went with it.
    pub turns: Vec<ChatMessage>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub text: String,
    /// When the turn was answered.
    pub at_unix_ms: i64,
}

impl From<crate::features::chat::store::ChatSession> for ChatSessionResult {
    fn from(s: crate::features::chat::store::ChatSession) -> Self {
        let turns = s
            .turns
            .into_iter()
            .flat_map(|t| {
                [
                    ChatMessage { role: "user".into(), text: t.message, at_unix_ms: t.at_unix_ms },
                    ChatMessage { role: "assistant".into(), text: t.answer, at_unix_ms: t.at_unix_ms },
                ]
            })
            .collect();
        ChatSessionResult {
            session_id: s.id,
            title: s.title,
            created_unix_ms: s.created_unix_ms,
            updated_unix_ms: s.updated_unix_ms,
            turns,
        }
    }
}

macro_rules! server_notification {
    ($name:ident, $method:literal, $params:ty) => {
        pub enum $name {}
        impl tower_lsp_server::gen_lsp_types::Notification for $name {
            type Params = $params;
            const METHOD: tower_lsp_server::gen_lsp_types::LspNotificationMethod<'static> =
                tower_lsp_server::gen_lsp_types::LspNotificationMethod::Custom($method);
            const MESSAGE_DIRECTION: tower_lsp_server::gen_lsp_types::MessageDirection =
                tower_lsp_server::gen_lsp_types::MessageDirection::ServerToClient;
        }
    };
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatDeltaParams {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<serde_json::Value>,
    pub text: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatToolParams {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<serde_json::Value>,
    pub name: String,
    pub arguments: serde_json::Value,
    /// `started`, `done` or `refused`.
    pub status: String,
    pub summary: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatDoneParams {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<serde_json::Value>,
    /// Set when the answer failed; the request then fails with the same message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

server_notification!(ChatDelta, "kimi/chatDelta", ChatDeltaParams);
server_notification!(ChatTool, "kimi/chatTool", ChatToolParams);
server_notification!(ChatDone, "kimi/chatDone", ChatDoneParams);
