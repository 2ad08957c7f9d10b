//! Line breaks as a document writes them. Models write `\n`; a document written with `\r\n`
//! (or, from classic Mac OS, a lone `\r`) must get its own break back, or every edit leaves it
//! with mixed line endings. Every text the server puts into a document (completions,
//! code-action edits, chat edits, chat-file answers) goes through [`LineEnding::apply`] or its
//! streaming form, [`Converter`]. Pure.

use std::borrow::Cow;
use std::ops::Range;

/// A document's line break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
    /// A lone `\r` (classic Mac OS). LSP counts it as a line break, and so does the rope.
    Cr,
}

impl LineEnding {
    /// The style of `text`: the kind most of its line breaks are (see [`LineBreaks::majority`]).
    /// Linear: a document's is kept up to date by [`crate::text::Document`] instead.
    pub fn of(text: &str) -> LineEnding {
        LineBreaks::of(text).majority()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }

    /// `text` with its line breaks in this style: in a `\r\n` document every `\n` that is not
    /// already part of a `\r\n` gains its `\r`; in a lone-`\r` document every break (`\n` or
    /// `\r\n`) becomes a `\r`. An `\n` document's text is left as it is.
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

/// How many line breaks of each kind a text has. A `\r\n` counts once, as itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineBreaks {
    pub lf: usize,
    pub crlf: usize,
    /// `\r` not followed by `\n`.
    pub cr: usize,
}

impl LineBreaks {
    pub fn of(text: &str) -> LineBreaks {
        let mut breaks = LineBreaks::default();
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', &bytes[at..]) {
            let brk = at + i;
            at = brk + 1;
            match bytes[brk] {
                b'\r' if bytes.get(brk + 1) == Some(&b'\n') => {
                    breaks.crlf += 1;
                    at += 1;
                }
                b'\r' => breaks.cr += 1,
                _ => breaks.lf += 1,
            }
        }
        breaks
    }

    /// The breaks of `rope` that start at a char index in `chars`, a `\r\n` starting at its
    /// `\r`: the chars just outside the range decide whether a `\r` or `\n` at its edge is
    /// half of a pair. So an edit's effect is the difference of its window's counts before and
    /// after (see `Document::edit`).
    pub fn in_rope(rope: &ropey::Rope, chars: Range<usize>) -> LineBreaks {
        let mut breaks = LineBreaks::default();
        let end = chars.end.min(rope.len_chars());
        let start = chars.start.min(end);
        let mut prev = start.checked_sub(1).and_then(|i| rope.get_char(i));
        let mut pending_cr = false;
        for c in rope.slice(start..end).chars() {
            if pending_cr {
                if c == '\n' {
                    breaks.crlf += 1;
                } else {
                    breaks.cr += 1;
                }
            } else if c == '\n' && prev != Some('\r') {
                breaks.lf += 1;
            }
            pending_cr = c == '\r';
            prev = Some(c);
        }
        if pending_cr {
            if rope.get_char(end) == Some('\n') {
                breaks.crlf += 1;
            } else {
                breaks.cr += 1;
            }
        }
        breaks
    }

    pub fn total(self) -> usize {
        self.lf + self.crlf + self.cr
    }

    /// `self + added - removed`; saturating, so that a bug in the bookkeeping cannot panic.
    pub fn changed(self, removed: LineBreaks, added: LineBreaks) -> LineBreaks {
        LineBreaks {
            lf: (self.lf + added.lf).saturating_sub(removed.lf),
            crlf: (self.crlf + added.crlf).saturating_sub(removed.crlf),
            cr: (self.cr + added.cr).saturating_sub(removed.cr),
        }
    }

    /// The kind most breaks are: one stray break of another kind (a line pasted in, an editor
    /// that inserted its own) does not decide for the whole file. A tie goes to `\n`, then to
    /// `\r\n`; no break at all is `\n`.
    pub fn majority(self) -> LineEnding {
        if self.crlf > self.lf && self.crlf >= self.cr {
            LineEnding::CrLf
        } else if self.cr > self.lf && self.cr > self.crlf {
            LineEnding::Cr
        } else {
            LineEnding::Lf
        }
    }
}

/// `text` with each lone `\r` turned into `\n`, byte for byte (offsets stay valid): for code
/// that splits lines at `\n` only, reading a lone-`\r` document. `\r\n` pairs are kept.
pub fn lone_crs_as_lf(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut bytes = text.into_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            bytes[i] = b'\n';
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    String::from_utf8(bytes).unwrap_or_default()
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
            match (self.ending, c) {
                (LineEnding::CrLf, '\n') if !self.after_cr => out.push_str("\r\n"),
                // The `\n` of a `\r\n` whose `\r` is already out.
                (LineEnding::Cr, '\n') if self.after_cr => {}
                (LineEnding::Cr, '\n') => out.push('\r'),
                _ => out.push(c),
            }
            self.after_cr = c == '\r';
        }
        out
    }
}

/// The byte ranges of `needle` in `haystack` (not overlapping, in order), where a `\r\n` or a
/// lone `\r` in either matches a `\n` in the other: text a model quotes from a `\r\n` (or
/// classic Mac) file has `\n` breaks, since the tools show it lines, not their breaks. A match
/// that ends with a line break includes the whole `\r\n`; one that ends before a line break
/// stops before its `\r`.
pub fn find_ignoring_line_endings(haystack: &str, needle: &str) -> Vec<Range<usize>> {
    let needle = lone_crs_as_lf(needle.replace("\r\n", "\n"));
    if needle.is_empty() {
        return Vec::new();
    }
    if !haystack.contains('\r') {
        return haystack.match_indices(needle.as_str()).map(|(at, m)| at..at + m.len()).collect();
    }
    // The haystack without the `\r` of each `\r\n` and with `\n` for a lone `\r`, and for each
    // of its bytes (and its end) the byte of the original it came from: a `\n` of a `\r\n`
    // comes from its `\r`, so a match starting with that break starts before the `\r`, and one
    // ending before it stops there.
    let mut plain = String::with_capacity(haystack.len());
    let mut origin = Vec::with_capacity(haystack.len() + 1);
    let mut chars = haystack.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let c = match c {
            '\r' if chars.peek().is_some_and(|(_, next)| *next == '\n') => continue,
            '\r' => '\n',
            c => c,
        };
        let from = if haystack.as_bytes()[i] == b'\n' && haystack[..i].ends_with('\r') { i - 1 } else { i };
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
    fn most_line_breaks_decide_the_style() {
        assert_eq!(LineEnding::of("a\r\nb\nc"), LineEnding::Lf, "a tie goes to \\n");
        assert_eq!(LineEnding::of("a\r\nb\r\nc\n"), LineEnding::CrLf);
        // One stray `\n` first does not make a CRLF file an LF one.
        assert_eq!(LineEnding::of("// x\nfn a() {\r\n}\r\n"), LineEnding::CrLf);
        assert_eq!(LineEnding::of("a\rb\rc\r\n"), LineEnding::Cr);
        assert_eq!(LineEnding::of("a\rb\r\nc\r\n"), LineEnding::CrLf);
        assert_eq!(LineEnding::of("no break"), LineEnding::Lf);
        assert_eq!(LineEnding::of(""), LineEnding::Lf);
        assert_eq!(LineEnding::of("\r"), LineEnding::Cr);
        assert_eq!(LineBreaks::of("a\r\n\r\r\n\n😀\r"), LineBreaks { lf: 1, crlf: 2, cr: 2 });
    }

    #[test]
    fn breaks_in_a_rope_range_are_those_starting_in_it() {
        let rope = ropey::Rope::from_str("a\r\nb\rc\n😀\r");
        let all = LineBreaks::in_rope(&rope, 0..rope.len_chars());
        assert_eq!(all, LineBreaks { lf: 1, crlf: 1, cr: 2 });
        assert_eq!(all, LineBreaks::of(&rope.to_string()));
        // The `\r` at 1 pairs with the `\n` just past the range; the `\n` at 2 is its half.
        assert_eq!(LineBreaks::in_rope(&rope, 1..2), LineBreaks { lf: 0, crlf: 1, cr: 0 });
        assert_eq!(LineBreaks::in_rope(&rope, 2..4), LineBreaks::default());
        assert_eq!(LineBreaks::in_rope(&rope, 2..5), LineBreaks { lf: 0, crlf: 0, cr: 1 });
        assert_eq!(LineBreaks::in_rope(&rope, 6..99), LineBreaks { lf: 1, crlf: 0, cr: 1 });
        assert_eq!(LineBreaks::in_rope(&rope, 7..99), LineBreaks { lf: 0, crlf: 0, cr: 1 });
    }

    #[test]
    fn lone_crs_become_lf_byte_for_byte() {
        assert_eq!(lone_crs_as_lf("a\rb\r\nc\r".into()), "a\nb\r\nc\n");
        assert_eq!(lone_crs_as_lf("é\r😀".into()), "é\n😀");
        assert_eq!(lone_crs_as_lf("plain\n".into()), "plain\n");
    }

    #[test]
    fn lone_cr_text_gets_lone_crs() {
        assert_eq!(LineEnding::Cr.apply("a\nb\r\n\nc"), "a\rb\r\rc");
        assert!(matches!(LineEnding::Cr.apply("no break"), Cow::Borrowed(_)));
        let mut c = LineEnding::Cr.converter();
        assert_eq!(c.convert("a\n\nb\r"), "a\r\rb\r");
        assert_eq!(c.convert("\nc\n"), "c\r", "the \\n of a split \\r\\n is not a second break");
        assert_eq!(LineEnding::Cr.as_str(), "\r");
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
        // A classic Mac file's lone `\r` is a line break too.
        let text = "fn a() {\r    let x = 1;\r}\r";
        let ranges = find_ignoring_line_endings(text, "    let x = 1;\n}\n");
        assert_eq!(ranges.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), ["    let x = 1;\r}\r"]);
        assert_eq!(find_ignoring_line_endings(text, "{\n    let"), vec![7..16]);
    }
}
