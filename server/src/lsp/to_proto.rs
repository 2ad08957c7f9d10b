//! The server's own types out as LSP types.

use tower_lsp_server::gen_lsp_types::*;

use crate::features::completion::Item;
use crate::lsp::ext;
use crate::text::{DocumentSnapshot, LineCol, PositionEncoding, TextRange};

pub fn encoding(e: PositionEncoding) -> PositionEncodingKind {
    match e {
        PositionEncoding::Utf8 => PositionEncodingKind::UTF8,
        PositionEncoding::Utf16 => PositionEncodingKind::UTF16,
        PositionEncoding::Utf32 => PositionEncodingKind::UTF32,
    }
}

pub fn position(p: LineCol) -> Position {
    Position { line: p.line, character: p.col }
}

pub fn range(r: TextRange) -> Range {
    Range { start: position(r.start), end: position(r.end) }
}

fn accept_command(item: &Item) -> Command {
    Command {
        title: "Accept Kimi suggestion".into(),
        tooltip: None,
        command: ext::ACCEPT_COMPLETION.into(),
        arguments: Some(vec![serde_json::Value::from(item.id)]),
    }
}

/// The range a suggestion replaces: empty at the cursor, or over the auto-closed characters
/// after it on the same line.
fn replaced_range(snapshot: &DocumentSnapshot, cursor: usize, replace_after: usize, enc: PositionEncoding) -> Range {
    let end = (cursor + replace_after).min(snapshot.len_chars());
    range(snapshot.text_range(cursor..end, enc))
}

/// A range in a notebook's view as its cell's: `lines_above` is the view's line on which the
/// cell starts (0 for any other document). Cells start at a line start, so columns stay.
fn in_cell(mut range: Range, lines_above: u32) -> Range {
    range.start.line = range.start.line.saturating_sub(lines_above);
    range.end.line = range.end.line.saturating_sub(lines_above);
    range
}

/// `lines_above`: the line of a notebook's view on which the cell starts (0 for any other
/// document); the item's range is given in the cell's own lines.
pub fn inline_item(
    item: &Item,
    snapshot: &DocumentSnapshot,
    cursor: usize,
    enc: PositionEncoding,
    lines_above: u32,
) -> InlineCompletionItem {
    InlineCompletionItem {
        insert_text: InsertText::String(item.text.clone()),
        filter_text: None,
        range: Some(in_cell(replaced_range(snapshot, cursor, item.replace_after, enc), lines_above)),
        command: Some(accept_command(item)),
    }
}

/// As a completion item the suggestion replaces the identifier being typed too, so that the
/// editor's filter (the text from the range start to the cursor) matches it and keeps it shown.
pub fn completion_item(
    item: &Item,
    snapshot: &DocumentSnapshot,
    cursor: usize,
    enc: PositionEncoding,
    lines_above: u32,
) -> CompletionItem {
    let rope = snapshot.rope();
    let line_start = rope.line_to_char(rope.char_to_line(cursor));
    let mut word_start = cursor;
    while word_start > line_start {
        let c = rope.char(word_start - 1);
        if c.is_alphanumeric() || c == '_' || c == '$' {
            word_start -= 1;
        } else {
            break;
        }
    }
    let word: String = String::from(rope.slice(word_start..cursor));
    let new_text = format!("{word}{}", item.text);
    let end = (cursor + item.replace_after).min(snapshot.len_chars());
    let first_line = new_text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let mut label: String = first_line.chars().take(60).collect();
    if first_line.chars().count() > 60 || new_text.trim().lines().count() > 1 {
        label.push('…');
    }
    CompletionItem {
        label,
        kind: Some(CompletionItemKind::Snippet),
        detail: Some("Kimi".into()),
        documentation: Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: format!("```{}\n{}\n```", snapshot.language_name().fence, new_text),
        })),
        filter_text: Some(new_text.clone()),
        sort_text: Some("0".into()),
        insert_text_format: Some(InsertTextFormat::PlainText),
        text_edit: Some(CompletionItemTextEdit::TextEdit(TextEdit {
            range: in_cell(range(snapshot.text_range(word_start..end, enc)), lines_above),
            new_text,
        })),
        command: Some(accept_command(item)),
        ..Default::default()
    }
}

pub fn action_kind(kind: crate::features::actions::OfferKind) -> Option<CodeActionKind> {
    use crate::features::actions::OfferKind;
    match kind {
        OfferKind::QuickFix => Some(CodeActionKind::QuickFix),
        OfferKind::Refactor => Some(CodeActionKind::Refactor),
        OfferKind::RefactorRewrite => Some(CodeActionKind::RefactorRewrite),
        OfferKind::Info => None,
    }
}

/// An action's changes as one `documentChanges` edit: open documents pinned to the version the
/// edit was computed for, so an editor refuses it rather than misplace it.
pub fn workspace_edit(changes: &[crate::features::actions::Change], enc: PositionEncoding) -> WorkspaceEdit {
    use crate::features::actions::Change;
    let document_changes = changes
        .iter()
        .flat_map(|c| match c {
            Change::Edit { snapshot, versioned, edits } => vec![DocumentChange::TextDocumentEdit(TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    version: versioned.then(|| snapshot.version()),
                    text_document_identifier: TextDocumentIdentifier { uri: Uri::from(snapshot.uri()) },
                },
                edits: edits
                    .iter()
                    .map(|e| {
                        Edit::TextEdit(TextEdit {
                            range: range(snapshot.text_range(e.chars.clone(), enc)),
                            new_text: e.text.clone(),
                        })
                    })
                    .collect(),
            })],
            Change::Create { uri, text } => vec![
                DocumentChange::CreateFile(CreateFile {
                    uri: Uri::from(uri.as_str()),
                    options: Some(CreateFileOptions { overwrite: Some(false), ignore_if_exists: Some(true) }),
                    annotation_id: None,
                }),
                DocumentChange::TextDocumentEdit(TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier {
                        version: None,
                        text_document_identifier: TextDocumentIdentifier { uri: Uri::from(uri.as_str()) },
                    },
                    edits: vec![Edit::TextEdit(TextEdit { range: Range::default(), new_text: text.clone() })],
                }),
            ],
        })
        .collect();
    WorkspaceEdit { document_changes: Some(document_changes), ..Default::default() }
}
