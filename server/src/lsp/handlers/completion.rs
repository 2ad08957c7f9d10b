use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::features::completion::Trigger;
use crate::lsp::{to_proto, Backend};

/// The completion-list path for editors without ghost text (Helix, Emacs): the suggestion as one
/// item. `isIncomplete` makes the editor ask again as the user types, which type-through answers
/// from memory, so the item follows the typing instead of being filtered against stale text.
pub async fn handle(backend: &Backend, params: CompletionParams) -> Result<Option<CompletionResponse>> {
    let position = params.text_document_position_params;
    let trigger = match params.context.as_ref().map(|c| c.trigger_kind) {
        Some(CompletionTriggerKind::Invoked) => Trigger::Invoked,
        _ => Trigger::Automatic,
    };
    // Editors send "invoked" here for completion lists they open as the user types, and a list
    // has no room for variants of one suggestion: one choice.
    let Some((query, snapshot, lines_above)) =
        backend.completion_query(&position.text_document.uri, position.position, trigger, false)
    else {
        return Ok(None);
    };
    let cursor = query.cursor;
    let Ok(items) = backend.run_completion(query).await else {
        // Off for this file: complete, so the editor stops asking at every keystroke. Not
        // explained: editors send "invoked" for the lists they open on their own.
        return Ok(Some(CompletionResponse::CompletionList(CompletionList::default())));
    };
    let encoding = backend.session.encoding();
    Ok(Some(CompletionResponse::CompletionList(CompletionList {
        is_incomplete: true,
        items: items
            .iter()
            .map(|item| to_proto::completion_item(item, &snapshot, cursor, encoding, lines_above))
            .collect(),
        item_defaults: None,
        apply_kind: None,
    })))
}
