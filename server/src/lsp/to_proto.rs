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

/// What a client takes in a `WorkspaceEdit`, from its `workspace.workspaceEdit` capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EditSupport {
    /// `documentChanges`: edits pinned to a document version, and the only place file
    /// operations can go.
    pub document_changes: bool,
    /// `resourceOperations` holds `create` (which needs `documentChanges` too).
    pub create_files: bool,
}

impl EditSupport {
    /// `create_files` only with `documentChanges`, where a `create` operation can go.
    pub fn of(caps: &ClientCapabilities) -> EditSupport {
        let edit = caps.workspace.as_ref().and_then(|w| w.workspace_edit.as_ref());
        let document_changes = edit.and_then(|e| e.document_changes).unwrap_or(false);
        let create = edit
            .and_then(|e| e.resource_operations.as_ref())
            .is_some_and(|ops| ops.contains(&ResourceOperationKind::Create));
        EditSupport { document_changes, create_files: document_changes && create }
    }
}

/// A change the client cannot take (a new file for a client that cannot create files). The
/// features refuse such changes before they reach here, with a message that says what to do.
#[derive(Debug, thiserror::Error)]
#[error("the editor cannot create `{0}`: it does not let language servers create files")]
pub struct CannotCreate(pub String);

/// Changes as one `WorkspaceEdit` the client takes. With `documentChanges`, open documents are
/// pinned to the version the edit was computed for, so an editor refuses it rather than
/// misplace it, and a new file is a `create` operation. Without, the edits go in `changes`,
/// which carry no version (code actions check it themselves just before sending), and a new
/// file cannot be expressed at all.
pub fn workspace_edit(
    changes: &[crate::features::actions::Change],
    enc: PositionEncoding,
    support: EditSupport,
) -> Result<WorkspaceEdit, CannotCreate> {
    use crate::features::actions::{Change, CharEdit};
    let text_edits = |snapshot: &DocumentSnapshot, edits: &[CharEdit]| -> Vec<TextEdit> {
        edits
            .iter()
            .map(|e| TextEdit { range: range(snapshot.text_range(e.chars.clone(), enc)), new_text: e.text.clone() })
            .collect()
    };
    if let Some(Change::Create { uri, .. }) =
        changes.iter().find(|c| matches!(c, Change::Create { .. }) && !support.create_files)
    {
        return Err(CannotCreate(uri.clone()));
    }
    if !support.document_changes {
        let mut by_uri: std::collections::HashMap<Uri, Vec<TextEdit>> = std::collections::HashMap::new();
        for change in changes {
            if let Change::Edit { snapshot, edits, .. } = change {
                by_uri.entry(Uri::from(snapshot.uri())).or_default().extend(text_edits(snapshot, edits));
            }
        }
        return Ok(WorkspaceEdit { changes: Some(by_uri), ..Default::default() });
    }
    let document_changes = changes
        .iter()
        .flat_map(|c| match c {
            Change::Edit { snapshot, versioned, edits } => vec![DocumentChange::TextDocumentEdit(TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    version: versioned.then(|| snapshot.version()),
                    text_document_identifier: TextDocumentIdentifier { uri: Uri::from(snapshot.uri()) },
                },
                edits: text_edits(snapshot, edits).into_iter().map(Edit::TextEdit).collect(),
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
    Ok(WorkspaceEdit { document_changes: Some(document_changes), ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::actions::{Change, CharEdit};
    use crate::text::Document;
    use serde_json::json;

    fn support(workspace_edit: serde_json::Value) -> EditSupport {
        let caps: ClientCapabilities =
            serde_json::from_value(json!({"workspace": {"workspaceEdit": workspace_edit}})).unwrap();
        EditSupport::of(&caps)
    }

    #[test]
    fn the_client_says_what_edits_it_takes() {
        let full = EditSupport { document_changes: true, create_files: true };
        assert_eq!(support(json!({"documentChanges": true, "resourceOperations": ["create", "rename"]})), full);
        assert_eq!(
            support(json!({"documentChanges": true})),
            EditSupport { document_changes: true, create_files: false }
        );
        assert!(!support(json!({"documentChanges": true, "resourceOperations": ["rename", "delete"]})).create_files);
        // File operations go in `documentChanges` only.
        assert_eq!(
            support(json!({"documentChanges": false, "resourceOperations": ["create"]})),
            EditSupport::default()
        );
        assert_eq!(EditSupport::of(&ClientCapabilities::default()), EditSupport::default());
    }

    #[test]
    fn without_document_changes_edits_go_in_changes_and_a_new_file_is_refused() {
        let doc = Document::new("file:///w/a.py", "python", 4, "x = 1\ny = 2\n").snapshot();
        let edit = Change::Edit {
            snapshot: doc,
            versioned: true,
            edits: vec![CharEdit { chars: 6..11, text: "y = 3".into() }],
        };
        let create = Change::Create { uri: "file:///w/test_a.py".into(), text: "def test(): pass\n".into() };
        let enc = PositionEncoding::Utf16;
        let out = |e: WorkspaceEdit| serde_json::to_value(e).unwrap();

        let plain = workspace_edit(std::slice::from_ref(&edit), enc, EditSupport::default()).unwrap();
        assert_eq!(
            out(plain),
            json!({"changes": {"file:///w/a.py": [{"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 5}}, "newText": "y = 3"}]}})
        );
        let err = workspace_edit(&[edit.clone(), create.clone()], enc, EditSupport::default()).unwrap_err();
        assert!(err.to_string().contains("file:///w/test_a.py"), "{err}");
        let no_create = EditSupport { document_changes: true, create_files: false };
        assert!(workspace_edit(std::slice::from_ref(&create), enc, no_create).is_err());

        let pinned = workspace_edit(std::slice::from_ref(&edit), enc, no_create).unwrap();
        assert_eq!(out(pinned)["documentChanges"][0]["textDocument"], json!({"uri": "file:///w/a.py", "version": 4}));
        let full = EditSupport { document_changes: true, create_files: true };
        let created = out(workspace_edit(&[create], enc, full).unwrap());
        assert_eq!(created["documentChanges"][0]["kind"], "create");
        assert_eq!(created["documentChanges"][1]["edits"][0]["newText"], "def test(): pass\n");
    }
}
