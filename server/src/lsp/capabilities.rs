use tower_lsp_server::gen_lsp_types::*;

use crate::text::PositionEncoding;

pub fn server_capabilities(encoding: PositionEncoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(crate::lsp::to_proto::encoding(encoding)),
        text_document_sync: Some(TextDocumentSync::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::Incremental),
            ..Default::default()
        })),
        // Every notebook's cells: a cell is completed with the cells around it as context.
        notebook_document_sync: Some(NotebookDocumentSync::Options(NotebookDocumentSyncOptions {
            notebook_selector: vec![NotebookSelector::NotebookDocumentFilterWithNotebook(
                NotebookDocumentFilterWithNotebook { notebook: Notebook::String("*".into()), cells: None },
            )],
            save: None,
        })),
        inline_completion_provider: Some(InlineCompletionProvider::Bool(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "(".into(), " ".into()]),
            ..Default::default()
        }),
        code_action_provider: Some(CodeActionProvider::CodeActionOptions(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::QuickFix,
                CodeActionKind::Refactor,
                CodeActionKind::RefactorRewrite,
                CodeActionKind::from(crate::lsp::handlers::chat_file::KIND),
            ]),
            resolve_provider: Some(true),
            ..Default::default()
        })),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![
                crate::lsp::ext::ACCEPT_COMPLETION.into(),
                crate::lsp::ext::RUN_ACTION.into(),
                crate::lsp::ext::ASK_CHAT_FILE.into(),
                crate::lsp::ext::STOP_CHAT_FILE.into(),
            ],
            work_done_progress_options: Default::default(),
        }),
        ..Default::default()
    }
}
