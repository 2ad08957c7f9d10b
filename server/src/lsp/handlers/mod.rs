//! One file per LSP method.

pub mod chat;
pub mod chat_file;
pub mod code_action;
pub mod code_action_resolve;
pub mod completion;
pub mod did_change;
pub mod did_change_configuration;
pub mod did_change_watched_files;
pub mod did_change_workspace_folders;
pub mod did_close;
pub mod did_open;
pub mod document_state;
pub mod execute_command;
pub mod initialize;
pub mod initialized;
pub mod inline_completion;
pub mod notebook_did_change;
pub mod notebook_did_close;
pub mod notebook_did_open;
pub mod status;
pub mod usage;

/// `text` as a document of its own (a notebook read as one file), parsed on a blocking thread:
/// a parse may take its whole budget, which the message loop must never wait out.
pub(crate) async fn parsed_off_loop(
    uri: &str,
    language_id: &str,
    version: i32,
    text: &str,
) -> Option<crate::text::DocumentSnapshot> {
    let mut doc = crate::text::Document::unparsed(uri, language_id, version, text);
    tokio::task::spawn_blocking(move || {
        doc.ensure_tree();
        doc.snapshot()
    })
    .await
    .ok()
}
