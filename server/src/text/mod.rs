//! The text floor: documents, editor positions and syntax trees. Knows nothing of LSP types;
//! the LSP layer converts its positions into [`LineCol`]/[`TextRange`] and calls in here.

pub mod document;
pub mod line_ending;
pub mod naming;
pub mod notebook;
pub mod position;
pub mod syntax;

pub use document::{
    Document, DocumentSnapshot, EditOutcome, ParseJob, ParsedJob, Rename, TextChange, TopImports, PARSE_LIMIT_BYTES,
};
pub use line_ending::LineEnding;
pub use naming::LanguageName;
pub use position::{LineCol, PositionEncoding, TextRange};
pub use syntax::Language;

/// Display width of a line's indentation (a tab counts as four columns).
pub fn indent_width(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ' || *c == '\t').map(|c| if c == '\t' { 4 } else { 1 }).sum()
}
