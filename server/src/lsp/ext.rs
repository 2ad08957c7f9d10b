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
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentState {
    pub uri: String,
    pub version: i32,
    /// The language the server parses it as ("Rust", …, "Plain text").
    pub language: String,
    pub text: String,
    pub line_count: usize,
    /// A syntax tree is kept (false for plain text, binary and over-large files).
    pub parsed: bool,
    /// The tree has error nodes: the code does not parse as it stands.
    pub syntax_errors: bool,
    pub binary: bool,
    pub too_large: bool,
}

impl DocumentState {
    pub fn from_snapshot(s: &DocumentSnapshot) -> DocumentState {
        let tree = s.tree();
        DocumentState {
            uri: s.uri().to_string(),
            version: s.version(),
            language: s.language().name().to_string(),
            text: s.rope().to_string(),
            line_count: s.rope().len_lines(),
            parsed: tree.is_some(),
            syntax_errors: tree.is_some_and(|t| t.root_node().has_error()),
            binary: s.is_binary(),
            too_large: s.is_too_large(),
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
    /// The workspace symbol index is being built.
    pub indexing: bool,
    pub indexed_files: usize,
    pub indexed_symbols: usize,
    /// Requests and cost of this server process so far.
    pub session_requests: u64,
    pub session_cost: f64,
    pub shown_completions: u64,
    pub accepted_completions: u64,
}

/// Runs a code action (the path for clients without `codeAction/resolve` for edits, and for
/// actions whose answer is text). Arguments: `[data: ActionData, instruction?: string]`.
pub const RUN_ACTION: &str = "kimi.runAction";

/// What a listed code action carries (`data`, and its command's first argument): enough to
/// compute it later against exactly the document version it was listed for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionData {
    pub uri: tower_lsp_server::gen_lsp_types::Uri,
    pub version: i32,
    pub action: String,
    /// For custom actions: the title, checked so a settings change cannot swap the action.
    #[serde(default)]
    pub title: String,
    pub range: tower_lsp_server::gen_lsp_types::Range,
    #[serde(default)]
    pub diagnostics: Vec<tower_lsp_server::gen_lsp_types::Diagnostic>,
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
