//! Line breaks as a document writes them. Models write `\n`; a document written with `\r\n`
//! must get `\r\n` back, or every edit leaves it with mixed line endings. Every text the server
//! puts into a document (completions, code-action edits, chat edits, chat-file answers) goes
//! through [`LineEnding::apply`] or its streaming form, [`Converter`]. Pure.

use std::borrow::Cow;
use std::ops::Range;

/// A document's line break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

impl LineEnding {
    /// The style of `text`, judged by its first line break (`\n` when it has none).
    pub fn of(text: &str) -> LineEnding {
        match text.find('\n') {
            Some(i) if text[..i].ends_with('\r') => LineEnding::CrLf,
            _ => LineEnding::Lf,
        }
    }

    /// [`LineEnding::of`] a rope, without copying it: its first line is all that is read.
    pub fn of_rope(rope: &ropey::Rope) -> LineEnding {
        // With ropey's `cr_lines`, a `\r\n` ends a line as one break, so the first line ends
        // with both characters when the document uses them.
        let first = rope.line(0);
        let n = first.len_chars();
        if n >= 2 && first.char(n - 1) == '\n' && first.char(n - 2) == '\r' {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }

    /// `text` with its line breaks in this style: in a `\r\n` document, every `\n` that is not
    /// already part of a `\r\n` gains its `\r`. An `\n` document's text is left as it is.
    pub fn apply(self, text: &str) -> Cow<'_, str> {
        if self == LineEnding::Lf || !text.contains('\n') {
            return Cow::Borrowed(text);
        }
        Cow::Owned(self.converter().convert(text))
    }

    /// A converter for text that arrives in pieces (a streamed answer).
    pub fn converter(self) -> Converter {
        Converter { ending: self, after_cr: false }
    }
}

/// [`LineEnding::apply`] for streamed text: a `\r` ending one piece and the `\n` starting the
/// next are one line break, not two.
#[derive(Clone, Copy, Debug, Default)]
pub struct Converter {
    ending: LineEnding,
    after_cr: bool,
}

impl Converter {
    pub fn convert(&mut self, piece: &str) -> String {
        if self.ending == LineEnding::Lf {
            return piece.to_string();
        }
        let mut out = String::with_capacity(piece.len() + 8);
        for c in piece.chars() {
            if c == '\n' && !self.after_cr {
                out.push('\r');
            }
            out.push(c);
            self.after_cr = c == '\r';
        }
        out
    }
}

/// The byte ranges of `needle` in `haystack` (not overlapping, in order), where a `\r\n` in
/// either matches a `\n` in the other: text a model quotes from a `\r\n` file has `\n` breaks,
/// since the tools show it lines, not their breaks. A match that ends with a line break
/// includes the whole `\r\n`; one that ends before a line break stops before its `\r`.
pub fn find_ignoring_line_endings(haystack: &str, needle: &str) -> Vec<Range<usize>> {
    let needle = needle.replace("\r\n", "\n");
    if needle.is_empty() {
        return Vec::new();
    }
    if !haystack.contains("\r\n") {
        return haystack.match_indices(needle.as_str()).map(|(at, m)| at..at + m.len()).collect();
    }
    // The haystack without the `\r` of each `\r\n`, and for each of its bytes (and its end) the
    // byte of the original it came from: a `\n` of a `\r\n` comes from its `\r`, so a match
    // starting with that break starts before the `\r`, and one ending before it stops there.
    let mut plain = String::with_capacity(haystack.len());
    let mut origin = Vec::with_capacity(haystack.len() + 1);
    let mut chars = haystack.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\r' && chars.peek().is_some_and(|(_, next)| *next == '\n') {
            continue;
        }
        let from = if c == '\n' && haystack[..i].ends_with('\r') { i - 1 } else { i };
        plain.push(c);
        origin.extend(std::iter::repeat_n(from, c.len_utf8()));
    }
    origin.push(haystack.len());
    plain.match_indices(needle.as_str()).map(|(at, m)| origin[at]..origin[at + m.len()]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_break_decides_the_style() {
        assert_eq!(LineEnding::of("a\r\nb\nc"), LineEnding::CrLf);
        assert_eq!(LineEnding::of("a\nb\r\n"), LineEnding::Lf);
        assert_eq!(LineEnding::of("no break"), LineEnding::Lf);
        assert_eq!(LineEnding::of_rope(&ropey::Rope::from_str("a😀\r\nb\n")), LineEnding::CrLf);
        assert_eq!(LineEnding::of_rope(&ropey::Rope::from_str("a\nb\r\n")), LineEnding::Lf);
        assert_eq!(LineEnding::of_rope(&ropey::Rope::from_str("")), LineEnding::Lf);
        assert_eq!(LineEnding::of_rope(&ropey::Rope::from_str("\r\n")), LineEnding::CrLf);
    }

    #[test]
    fn crlf_text_gets_crlf_once_and_lf_text_is_untouched() {
        assert_eq!(LineEnding::CrLf.apply("a\nb\r\n\nc"), "a\r\nb\r\n\r\nc");
        assert_eq!(LineEnding::CrLf.apply("\n"), "\r\n");
        assert!(matches!(LineEnding::CrLf.apply("no break"), Cow::Borrowed(_)));
        assert!(matches!(LineEnding::Lf.apply("a\nb\r\n"), Cow::Borrowed("a\nb\r\n")));
        assert_eq!(LineEnding::CrLf.as_str(), "\r\n");
    }

    #[test]
    fn a_break_split_between_two_pieces_is_one_break() {
        let mut c = LineEnding::CrLf.converter();
        assert_eq!(c.convert("a\n\nb\r"), "a\r\n\r\nb\r");
        assert_eq!(c.convert("\nc\n"), "\nc\r\n");
        assert_eq!(LineEnding::Lf.converter().convert("a\n"), "a\n");
    }

    #[test]
    fn quoted_text_with_lf_breaks_is_found_in_a_crlf_text() {
        let text = "fn a() {\r\n    let x = 1;\r\n    let y = 2;\r\n}\r\n";
        let found = |needle: &str| -> Vec<&str> {
            find_ignoring_line_endings(text, needle).into_iter().map(|r| &text[r]).collect()
        };
        assert_eq!(found("    let x = 1;\n    let y = 2;\n"), ["    let x = 1;\r\n    let y = 2;\r\n"]);
        assert_eq!(found("let x = 1;"), ["let x = 1;"]);
        assert_eq!(found("\n    let y"), ["\r\n    let y"]);
        assert_eq!(found("    let x = 1;\r\n    let y"), ["    let x = 1;\r\n    let y"]);
        assert_eq!(found("    let"), ["    let", "    let"]);
        assert!(found("let x = 2;").is_empty());
        assert!(found("").is_empty());
        // Characters of several bytes keep their offsets.
        let text = "é😀\r\nß\r\n";
        let ranges = find_ignoring_line_endings(text, "😀\nß\n");
        assert_eq!(ranges.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), ["😀\r\nß\r\n"]);
        // A text without `\r\n` is searched as it is.
        assert_eq!(find_ignoring_line_endings("a\nb\na", "a"), [0..1, 4..5]);
        assert_eq!(find_ignoring_line_endings("a\nb", "a\r\nb"), vec![0..3]);
    }
}
