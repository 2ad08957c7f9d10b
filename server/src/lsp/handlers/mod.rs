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
