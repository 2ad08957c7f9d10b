//! The server's own types out as LSP types.

use tower_lsp_server::gen_lsp_types::*;

use crate::text::{LineCol, PositionEncoding, TextRange};

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
