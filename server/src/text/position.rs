//! Editor positions <-> rope indices. This is the only module that knows about position
//! encodings; everything else in the server works in char indices of a [`ropey::Rope`].
//!
//! Line breaks are LSP's three: `\n`, `\r\n` and a lone `\r`. The rope is built with ropey's
//! `cr_lines` feature and without `unicode_lines`, so `Rope::line_to_char` and friends count
//! exactly those breaks and their line numbers are the editor's line numbers.
//!
//! Every conversion clamps instead of failing, because a client that is one keystroke ahead of
//! (or behind) the server must never crash it or lose text:
//! - a line past the last line means the end of the document;
//! - a column past the end of its line means the end of that line's *content*, i.e. just before
//!   its line break (so a column can never split a `\r\n` pair);
//! - a column that falls inside a character (inside a UTF-16 surrogate pair, or inside a UTF-8
//!   multi-byte sequence) rounds down to the start of that character.

use std::ops::Range;

use ropey::Rope;

/// How the editor counts columns, as negotiated in `initialize` (`general.positionEncodings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PositionEncoding {
    /// Columns are UTF-8 bytes.
    Utf8,
    /// Columns are UTF-16 code units: LSP's mandatory default.
    #[default]
    Utf16,
    /// Columns are Unicode scalar values (chars).
    Utf32,
}

impl PositionEncoding {
    /// Pick from the client's `general.positionEncodings` (strings "utf-8", "utf-16", "utf-32").
    ///
    /// Server preference: utf-8 (the rope's native unit, O(log n) either way but no surrogate
    /// arithmetic), then utf-32, then utf-16. None offered (or an empty list, or only unknown
    /// names) gives utf-16, which every client must support.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Self {
        let mut utf8 = false;
        let mut utf32 = false;
        for name in offered {
            match name {
                "utf-8" => utf8 = true,
                "utf-32" => utf32 = true,
                _ => {}
            }
        }
        if utf8 {
            PositionEncoding::Utf8
        } else if utf32 {
            PositionEncoding::Utf32
        } else {
            PositionEncoding::Utf16
        }
    }

    /// The name used on the wire: "utf-8" | "utf-16" | "utf-32".
    pub fn as_str(self) -> &'static str {
        match self {
            PositionEncoding::Utf8 => "utf-8",
            PositionEncoding::Utf16 => "utf-16",
            PositionEncoding::Utf32 => "utf-32",
        }
    }

    /// How many code units of this encoding `text` occupies: the column advance of inserting it
    /// on one line.
    pub fn len_of(self, text: &str) -> usize {
        match self {
            PositionEncoding::Utf8 => text.len(),
            PositionEncoding::Utf16 => text.chars().map(char::len_utf16).sum(),
            PositionEncoding::Utf32 => text.chars().count(),
        }
    }
}

/// A position as the editor counts it: zero-based line and column in code units of the
/// negotiated encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

impl LineCol {
    pub const fn new(line: u32, col: u32) -> Self {
        LineCol { line, col }
    }
}

/// A range between two editor positions. Not necessarily ordered: conversions normalise it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TextRange {
    pub start: LineCol,
    pub end: LineCol,
}

impl TextRange {
    pub const fn new(start: LineCol, end: LineCol) -> Self {
        TextRange { start, end }
    }

    /// An empty range (an insertion point).
    pub const fn at(pos: LineCol) -> Self {
        TextRange { start: pos, end: pos }
    }
}

/// `(start, content end)` char indices of `line`, which must be a valid line index. The content
/// end is just before the line break (`\n`, a lone `\r`, or the whole `\r\n`).
fn line_bounds(rope: &Rope, line: usize) -> (usize, usize) {
    let start = rope.line_to_char(line);
    let slice = rope.line(line);
    let len = slice.len_chars();
    let break_chars = match (len.checked_sub(2).map(|i| slice.char(i)), len.checked_sub(1).map(|i| slice.char(i))) {
        (Some('\r'), Some('\n')) => 2,
        (_, Some('\n' | '\r')) => 1,
        _ => 0,
    };
    (start, start + len - break_chars)
}

/// Char index of the end of `line`'s content, just before its line break. A line past the last
/// line gives the end of the document.
pub fn line_content_end(rope: &Rope, line: usize) -> usize {
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    line_bounds(rope, line).1
}

/// Char index of the start of `line`. A line past the last line gives the end of the document.
pub fn line_start(rope: &Rope, line: usize) -> usize {
    if line >= rope.len_lines() {
        rope.len_chars()
    } else {
        rope.line_to_char(line)
    }
}

/// The char index that an editor position designates. Never panics; clamps as described in the
/// module documentation: a line past the last line -> end of document; a column past the end of
/// the line -> end of the line's content (before `\n`, `\r\n` or `\r`, never between `\r` and
/// `\n`); a column inside a surrogate pair or a UTF-8 sequence -> start of that character.
pub fn char_index(rope: &Rope, pos: LineCol, enc: PositionEncoding) -> usize {
    let line = pos.line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let (start, end) = line_bounds(rope, line);
    let col = pos.col as usize;
    match enc {
        PositionEncoding::Utf32 => start.saturating_add(col).min(end),
        PositionEncoding::Utf16 => {
            let target = rope.char_to_utf16_cu(start).saturating_add(col);
            if target >= rope.char_to_utf16_cu(end) {
                end
            } else {
                // Rounds down when `target` is the second half of a surrogate pair.
                rope.utf16_cu_to_char(target)
            }
        }
        PositionEncoding::Utf8 => {
            let target = rope.char_to_byte(start).saturating_add(col);
            if target >= rope.char_to_byte(end) {
                end
            } else {
                // Rounds down when `target` is inside a multi-byte sequence.
                rope.byte_to_char(target)
            }
        }
    }
}

/// The editor position of a char index (clamped to the document's length).
///
/// A char index between the `\r` and the `\n` of a `\r\n` pair (which [`char_index`] never
/// produces) reports the end of that line's content, so the result is always a position the
/// editor can show.
pub fn line_col(rope: &Rope, char_idx: usize, enc: PositionEncoding) -> LineCol {
    let idx = char_idx.min(rope.len_chars());
    // ropey never splits a "\r\n": an index between its halves is on the pair's line.
    let line = rope.char_to_line(idx);
    let (start, end) = line_bounds(rope, line);
    let idx = idx.min(end);
    let col = match enc {
        PositionEncoding::Utf32 => idx - start,
        PositionEncoding::Utf16 => rope.char_to_utf16_cu(idx) - rope.char_to_utf16_cu(start),
        PositionEncoding::Utf8 => rope.char_to_byte(idx) - rope.char_to_byte(start),
    };
    LineCol { line: saturate(line), col: saturate(col) }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The char range an editor range designates, each end clamped by [`char_index`], and
/// normalised so that `start <= end` even when the editor sent the ends swapped.
pub fn char_range(rope: &Rope, range: TextRange, enc: PositionEncoding) -> Range<usize> {
    let a = char_index(rope, range.start, enc);
    let b = char_index(rope, range.end, enc);
    a.min(b)..a.max(b)
}

/// The editor range of a char range (ends clamped, normalised so that `start <= end`).
pub fn text_range(rope: &Rope, chars: Range<usize>, enc: PositionEncoding) -> TextRange {
    let (a, b) = (chars.start.min(chars.end), chars.start.max(chars.end));
    TextRange { start: line_col(rope, a, enc), end: line_col(rope, b, enc) }
}

/// Char index of a byte offset, clamped to the document; a byte inside a multi-byte character
/// gives that character's index.
pub fn byte_to_char(rope: &Rope, byte: usize) -> usize {
    rope.byte_to_char(byte.min(rope.len_bytes()))
}

/// Byte offset of a char index, clamped to the document.
pub fn char_to_byte(rope: &Rope, char_idx: usize) -> usize {
    rope.char_to_byte(char_idx.min(rope.len_chars()))
}

/// A byte range (e.g. a tree-sitter node's) as a char range, clamped and normalised.
pub fn byte_range_to_chars(rope: &Rope, bytes: Range<usize>) -> Range<usize> {
    let (a, b) = (bytes.start.min(bytes.end), bytes.start.max(bytes.end));
    byte_to_char(rope, a)..byte_to_char(rope, b)
}

/// A char range as a byte range, clamped and normalised.
pub fn char_range_to_bytes(rope: &Rope, chars: Range<usize>) -> Range<usize> {
    let (a, b) = (chars.start.min(chars.end), chars.start.max(chars.end));
    char_to_byte(rope, a)..char_to_byte(rope, b)
}

#[cfg(test)]
mod tests {
    use super::PositionEncoding::{Utf16, Utf32, Utf8};
    use super::*;

    const ENCODINGS: [PositionEncoding; 3] = [Utf8, Utf16, Utf32];

    /// `fixture` holds one `$0`, the char position that `pos` designates. Checks both directions.
    #[track_caller]
    fn check(fixture: &str, enc: PositionEncoding, pos: (u32, u32)) {
        let (rope, cursor) = parse_fixture(fixture);
        let pos = LineCol::new(pos.0, pos.1);
        assert_eq!(char_index(&rope, pos, enc), cursor, "char_index({pos:?}, {enc:?}) in {fixture:?}");
        assert_eq!(line_col(&rope, cursor, enc), pos, "line_col({cursor}, {enc:?}) in {fixture:?}");
    }

    /// `pos` is out of range or inside a character: it must clamp to `$0`.
    #[track_caller]
    fn check_clamped(fixture: &str, enc: PositionEncoding, pos: (u32, u32)) {
        let (rope, cursor) = parse_fixture(fixture);
        let pos = LineCol::new(pos.0, pos.1);
        assert_eq!(char_index(&rope, pos, enc), cursor, "char_index({pos:?}, {enc:?}) in {fixture:?}");
    }

    fn parse_fixture(fixture: &str) -> (Rope, usize) {
        let byte = fixture.find("$0").expect("fixture needs a $0 cursor");
        let text = fixture.replacen("$0", "", 1);
        let cursor = text[..byte].chars().count();
        (Rope::from_str(&text), cursor)
    }

    #[test]
    fn negotiation_prefers_utf8_then_utf32_then_utf16() {
        let cases: &[(&[&str], PositionEncoding)] = &[
            (&[], Utf16),
            (&["utf-16"], Utf16),
            (&["utf-16", "utf-8"], Utf8),
            (&["utf-8", "utf-32", "utf-16"], Utf8),
            (&["utf-16", "utf-32"], Utf32),
            (&["utf-32"], Utf32),
            (&["latin-1", "UTF-8"], Utf16),
        ];
        for (offered, expected) in cases {
            assert_eq!(PositionEncoding::negotiate(offered.iter().copied()), *expected, "{offered:?}");
        }
        assert_eq!(PositionEncoding::default(), Utf16);
        let names: Vec<_> = ENCODINGS.iter().map(|e| e.as_str()).collect();
        assert_eq!(names, ["utf-8", "utf-16", "utf-32"]);
    }

    #[test]
    fn ascii_positions_agree_in_every_encoding() {
        for enc in ENCODINGS {
            check("$0fn main() {}\n", enc, (0, 0));
            check("fn $0main() {}\n", enc, (0, 3));
            check("fn main() {}$0\n", enc, (0, 12));
            check("a\nb$0c\n", enc, (1, 1));
        }
    }

    #[test]
    fn emoji_counts_two_utf16_units_four_bytes_one_char() {
        check("😀$0x", Utf16, (0, 2));
        check("😀$0x", Utf8, (0, 4));
        check("😀$0x", Utf32, (0, 1));
        check("a\n😀😀$0!", Utf16, (1, 4));
        check("a\n😀😀$0!", Utf8, (1, 8));
        check("a\n😀😀$0!", Utf32, (1, 2));
    }

    #[test]
    fn cjk_counts_one_utf16_unit_three_bytes() {
        check("中$0文", Utf16, (0, 1));
        check("中$0文", Utf8, (0, 3));
        check("中$0文", Utf32, (0, 1));
        check("x\r\n中文$0", Utf8, (1, 6));
    }

    #[test]
    fn column_inside_a_character_rounds_down() {
        check_clamped("$0😀x", Utf16, (0, 1));
        check_clamped("a$0😀", Utf16, (0, 2));
        check_clamped("$0😀x", Utf8, (0, 1));
        check_clamped("$0😀x", Utf8, (0, 3));
        check_clamped("$0中", Utf8, (0, 2));
        check_clamped("ab\n中$0文", Utf8, (1, 5));
    }

    #[test]
    fn all_three_line_breaks_start_a_line() {
        for enc in ENCODINGS {
            check("a\n$0b", enc, (1, 0));
            check("a\r\n$0b", enc, (1, 0));
            check("a\r$0b", enc, (1, 0));
            check("a\r\rb\n$0c", enc, (3, 0));
            check("a\r\n\r\n\n$0c", enc, (3, 0));
            // A "\n\r" is two breaks, not one.
            check("a\n\r$0b", enc, (2, 0));
        }
    }

    #[test]
    fn column_past_the_end_stops_before_the_line_break() {
        for enc in ENCODINGS {
            check_clamped("ab$0\ncd", enc, (0, 3));
            check_clamped("ab$0\r\ncd", enc, (0, 3));
            // Column 3 would land between '\r' and '\n': the pair must not be split.
            check_clamped("ab$0\r\ncd", enc, (0, 3));
            check_clamped("ab$0\r\ncd", enc, (0, 4));
            check_clamped("ab$0\rcd", enc, (0, 3));
            check_clamped("ab$0\r\ncd", enc, (0, u32::MAX));
            check_clamped("😀$0\r\n", enc, (0, 99));
            check_clamped("ab\ncd$0", enc, (1, 7));
        }
    }

    #[test]
    fn line_past_the_end_is_the_end_of_the_document() {
        for enc in ENCODINGS {
            check_clamped("ab\ncd$0", enc, (2, 0));
            check_clamped("ab\ncd\n$0", enc, (5, 3));
            check_clamped("$0", enc, (1, 0));
            check_clamped("ab\r\n$0", enc, (u32::MAX, u32::MAX));
        }
    }

    #[test]
    fn last_line_with_and_without_trailing_newline() {
        for enc in ENCODINGS {
            // With a trailing break the last line is an empty line after it.
            check("ab\n$0", enc, (1, 0));
            check("ab\r\n$0", enc, (1, 0));
            check("ab\r$0", enc, (1, 0));
            // Without one, the end of the document is at the end of the last line's content.
            check("ab\ncd$0", enc, (1, 2));
            check("$0", enc, (0, 0));
        }
    }

    #[test]
    fn a_char_index_inside_crlf_reports_the_end_of_the_line() {
        let rope = Rope::from_str("ab\r\ncd");
        for enc in ENCODINGS {
            assert_eq!(line_col(&rope, 3, enc), LineCol::new(0, 2));
            assert_eq!(line_col(&rope, 4, enc), LineCol::new(1, 0));
            assert_eq!(line_col(&rope, 99, enc), LineCol::new(1, 2));
        }
    }

    #[test]
    fn every_char_boundary_round_trips_in_every_encoding() {
        let texts =
            ["", "fn main() {}\n", "😀中a\r\n\r\n😀\rb\n\n中", "\r\n", "\r", "x😀\r", "a\u{10FFFF}\u{7FF}\u{800}\n"];
        for text in texts {
            let rope = Rope::from_str(text);
            let chars: Vec<char> = text.chars().collect();
            for enc in ENCODINGS {
                for idx in 0..=chars.len() {
                    let inside_crlf = idx > 0 && chars[idx - 1] == '\r' && chars.get(idx) == Some(&'\n');
                    if inside_crlf {
                        continue;
                    }
                    let pos = line_col(&rope, idx, enc);
                    assert_eq!(char_index(&rope, pos, enc), idx, "{text:?} {enc:?} {idx} {pos:?}");
                }
            }
        }
    }

    #[test]
    fn ranges_are_normalised_and_clamped() {
        let rope = Rope::from_str("😀ab\ncd");
        let swapped = TextRange::new(LineCol::new(1, 1), LineCol::new(0, 2));
        assert_eq!(char_range(&rope, swapped, Utf16), 1..5);
        let beyond = TextRange::new(LineCol::new(0, 99), LineCol::new(9, 0));
        assert_eq!(char_range(&rope, beyond, Utf8), 3..6);
        assert_eq!(
            text_range(&rope, Range { start: 5, end: 1 }, Utf16),
            TextRange::new(LineCol::new(0, 2), LineCol::new(1, 1))
        );
        assert_eq!(text_range(&rope, 0..0, Utf8), TextRange::at(LineCol::new(0, 0)));
    }

    #[test]
    fn byte_and_char_offsets_convert_with_clamping() {
        let rope = Rope::from_str("a😀中b");
        assert_eq!(char_to_byte(&rope, 2), 5);
        assert_eq!(char_to_byte(&rope, 99), 9);
        assert_eq!(byte_to_char(&rope, 5), 2);
        assert_eq!(byte_to_char(&rope, 3), 1, "inside the emoji");
        assert_eq!(byte_to_char(&rope, 99), 4);
        assert_eq!(byte_range_to_chars(&rope, Range { start: 8, end: 1 }), 1..3);
        assert_eq!(char_range_to_bytes(&rope, 1..3), 1..8);
    }

    #[test]
    fn code_unit_lengths() {
        assert_eq!(Utf8.len_of("a😀中"), 8);
        assert_eq!(Utf16.len_of("a😀中"), 4);
        assert_eq!(Utf32.len_of("a😀中"), 3);
    }

    #[test]
    fn line_bounds_exclude_the_break() {
        let rope = Rope::from_str("ab\r\ncd\ref\n");
        assert_eq!(line_content_end(&rope, 0), 2);
        assert_eq!(line_content_end(&rope, 1), 6);
        assert_eq!(line_content_end(&rope, 2), 9);
        assert_eq!(line_content_end(&rope, 3), 10);
        assert_eq!(line_content_end(&rope, 4), 10);
        assert_eq!(line_start(&rope, 2), 7);
        assert_eq!(line_start(&rope, 9), 10);
    }
}
