//! What the rules need to know about the cursor, computed once per request (or once per stream
//! for [`super::StopDetector`], which must own it).

use memchr::{memchr, memrchr};

use crate::text::Language;

use super::lex::{Bracket, LexState, Lexer};
use super::CompletionSite;

/// How much text before the current line is kept for echo detection and for lexing up to the
/// cursor: enough for a function or two, small enough to stay in the microseconds.
const PREV_WINDOW_BYTES: usize = 8 * 1024;

/// How far from the cursor the document is searched for fences of its own.
const FENCE_WINDOW_BYTES: usize = 16 * 1024;

/// The last `max` bytes of `text` or a little more, cut at a char boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    &text[start..]
}

/// The first `max` bytes of `text` or a little more, cut at a char boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[..end]
}

#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) language: Language,
    pub(crate) multiline: bool,
    /// The current line up to the cursor.
    pub(crate) line_prefix: String,
    /// The current line after the cursor, without its line break.
    pub(crate) line_suffix: String,
    /// Up to [`PREV_WINDOW_BYTES`] of the lines before the current one, starting at a line
    /// start, without the line break that ends the last of them.
    pub(crate) prev: String,
    pub(crate) crlf: bool,
    /// The document itself has markdown fence lines, so a fence line is content, not wrapping.
    pub(crate) doc_has_fence: bool,
    /// The lexer state at the cursor (inside a string, a comment, or code).
    pub(crate) cursor_state: LexState,
    /// The brackets opened in `prev` and the line prefix and not closed before the cursor
    /// (`(`, `[`, `{`), innermost last. Those opened further up are not known.
    pub(crate) openers: Vec<u8>,
}

pub(crate) fn is_fence(line: &str) -> bool {
    let t = line.trim();
    let Some(info) = t.strip_prefix("```") else {
        return false;
    };
    let info = info.trim_start_matches('`');
    info.chars().all(|c| c.is_alphanumeric() || matches!(c, '+' | '-' | '#' | '.' | '_'))
}

fn has_fence_line(text: &str) -> bool {
    // Only the lines holding a backtick are looked at, found with a byte search: documents can
    // be large.
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = b.get(from..).and_then(|rest| memchr(b'`', rest)) {
        let at = from + i;
        let end = memchr(b'\n', &b[at..]).map_or(b.len(), |i| at + i);
        // A fence line's first backtick opens its "```": inline code (`x`) is passed over
        // without looking for the line's start.
        if b[at..].starts_with(b"```") {
            let start = memrchr(b'\n', &b[..at]).map_or(0, |i| i + 1);
            if text.get(start..end).is_some_and(is_fence) {
                return true;
            }
        }
        from = end;
    }
    false
}

/// Whether the text uses CRLF, judged by the line break nearest the cursor.
fn uses_crlf(before: &str, after: &str, document: Option<&str>) -> bool {
    if let Some(i) = before.rfind('\n') {
        return before[..i].ends_with('\r');
    }
    if let Some(i) = after.find('\n') {
        return after[..i].ends_with('\r');
    }
    document.is_some_and(|d| d.contains("\r\n"))
}

impl Ctx {
    pub(crate) fn new(site: &CompletionSite) -> Ctx {
        let before = site.before;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_prefix = &before[line_start..];
        let line_suffix = site.after.split('\n').next().unwrap_or("");
        let line_suffix = line_suffix.strip_suffix('\r').unwrap_or(line_suffix);

        let prev_end = line_start.saturating_sub(1);
        let mut prev_start = prev_end.saturating_sub(PREV_WINDOW_BYTES);
        if prev_start > 0 {
            // Start at a line start (a char boundary, since '\n' is ASCII).
            prev_start = before[..prev_end]
                .get(prev_start..)
                .and_then(|s| s.find('\n'))
                .map_or(prev_end, |i| prev_start + i + 1);
        }
        let prev = before.get(prev_start..prev_end).unwrap_or("");
        let prev = prev.strip_suffix('\r').unwrap_or(prev);

        let mut lexer = Lexer::new(site.language, LexState::Code);
        let mut openers = Vec::new();
        lexer.scan(&before[prev_start..], |_, bracket| match bracket {
            Bracket::Open(c) => openers.push(c),
            Bracket::Close(_) => {
                openers.pop();
            }
        });

        let doc_has_fence =
            has_fence_line(tail(before, FENCE_WINDOW_BYTES)) || has_fence_line(head(site.after, FENCE_WINDOW_BYTES));

        Ctx {
            language: site.language,
            multiline: site.multiline,
            line_prefix: line_prefix.to_owned(),
            line_suffix: line_suffix.to_owned(),
            prev: prev.to_owned(),
            crlf: uses_crlf(before, site.after, site.document),
            doc_has_fence,
            cursor_state: lexer.state,
            openers,
        }
    }

    pub(crate) fn line_prefix_is_blank(&self) -> bool {
        self.line_prefix.trim().is_empty()
    }
}

pub(crate) use crate::text::indent_width;

/// One line of a text: `start..end` is its content without the line break (`\n` or `\r\n`),
/// `next` where the following line starts, `newline` whether a line break ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) next: usize,
    pub(crate) newline: bool,
}

/// The lines of `text`. A text ending in a line break has no empty line after it; an empty
/// text has no line at all.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let line = match text[start..].find('\n') {
            Some(i) => {
                let nl = start + i;
                let end = if text[start..nl].ends_with('\r') { nl - 1 } else { nl };
                Line { start, end, next: nl + 1, newline: true }
            }
            None => Line { start, end: text.len(), next: text.len(), newline: false },
        };
        start = line.next;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_lines() {
        for line in ["```", "```rust", "  ```ts  ", "````", "```c++"] {
            assert!(is_fence(line), "{line:?}");
        }
        for line in ["/// ```", "x = ```", "```rust title=a", "``"] {
            assert!(!is_fence(line), "{line:?}");
        }
        assert!(has_fence_line("a `b`\n/// ```\n  ```rust\nc"));
        assert!(!has_fence_line("a `b`\n/// ```\nlet s = `x```;\n"));
        assert!(!has_fence_line(""));
        assert!(has_fence_line("a `b`\n\u{a0}\t```\n"));
        assert!(!has_fence_line("a `b` ```\n``x"));
        assert!(has_fence_line("```"));
    }

    #[test]
    fn fence_search_agrees_with_looking_at_every_backtick_line() {
        fn reference(text: &str) -> bool {
            text.split('\n').any(|line| line.contains('`') && is_fence(line))
        }
        const PIECES: [&str; 12] = ["`", "``", "```", "\n", "\r\n", " ", "\u{a0}", "a", "rust", "#", "é", "=x"];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut below = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = below(16);
            let text: String = (0..len).map(|_| PIECES[below(PIECES.len())]).collect();
            assert_eq!(has_fence_line(&text), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn lines_split_like_an_editor() {
        fn collect(t: &str) -> Vec<(&str, bool)> {
            lines(t).map(|l| (&t[l.start..l.end], l.newline)).collect()
        }
        assert_eq!(collect(""), vec![]);
        assert_eq!(collect("a"), vec![("a", false)]);
        assert_eq!(collect("a\n"), vec![("a", true)]);
        assert_eq!(collect("a\r\n\nb"), vec![("a", true), ("", true), ("b", false)]);
        assert_eq!(collect("\n"), vec![("", true)]);
    }

    #[test]
    fn crlf_is_judged_near_the_cursor() {
        assert!(uses_crlf("a\r\nb", "", None));
        assert!(!uses_crlf("a\nb", "c\r\n", None));
        assert!(uses_crlf("b", "c\r\nd", None));
        assert!(uses_crlf("b", "c", Some("x\r\nb")));
        assert!(!uses_crlf("b", "c", None));
    }
}
