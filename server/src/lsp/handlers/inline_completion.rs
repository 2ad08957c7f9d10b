use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::features::completion::Trigger;
use crate::lsp::{to_proto, Backend};

/// Answered whether or not the client announced the capability: Neovim before 0.12, Emacs and
/// Helix don't, and scripted clients call it anyway.
pub async fn handle(backend: &Backend, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
    let position = params.text_document_position_params;
    let trigger = match params.context.trigger_kind {
        InlineCompletionTriggerKind::Invoked => Trigger::Invoked,
        _ => Trigger::Automatic,
    };
    // An explicit request gets several suggestions to go through (VS Code: Alt+] / Alt+[).
    let Some((query, snapshot, lines_above)) =
        backend.completion_query(&position.text_document.uri, position.position, trigger, true)
    else {
        return Ok(Some(InlineCompletionResponse::InlineCompletionList(InlineCompletionList { items: vec![] })));
    };
    let cursor = query.cursor;
    let items = match backend.run_completion(query).await {
        Ok(items) => items,
        // Only an explicit request is told why: automatic ones fire at every pause in typing.
        Err(off) => {
            if trigger == Trigger::Invoked {
                backend.explain_off(&off).await;
            }
            Vec::new()
        }
    };
    let encoding = backend.session.encoding();
    Ok(Some(InlineCompletionResponse::InlineCompletionList(InlineCompletionList {
        items: items
            .into_iter()
            .map(|item| to_proto::inline_item(&item, &snapshot, cursor, encoding, lines_above))
            .collect(),
    })))
}
