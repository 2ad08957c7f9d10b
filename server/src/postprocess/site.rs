//! What the rules need to know about the cursor, computed once per request (or once per stream
//! for [`super::StopDetector`], which must own it).

use memchr::{memchr, memrchr};

use crate::text::{Language, LineEnding};

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
    /// The document's line break, which the suggestion's get.
    pub(crate) ending: LineEnding,
    /// The document itself has markdown fence lines, so a fence line is content, not wrapping.
    pub(crate) doc_has_fence: bool,
    /// The lexer state at the cursor (inside a string, a comment, or code).
    pub(crate) cursor_state: LexState,
    /// The brackets opened in `prev` and the line prefix and not closed before the cursor
    /// (`(`, `[`, `{`), innermost last. Those opened further up are not known.
    pub(crate) openers: Vec<u8>,
    /// The identifier the cursor ends (`comp` in `let x = comp|`), when a model might re-type
    /// it: at least [`MIN_PARTIAL_WORD`] chars, in code, no identifier char right after the
    /// cursor, and not the whole line (the line's own echo covers that). Empty otherwise.
    pub(crate) partial_word: String,
    /// The identifiers around the cursor (the lines before it in `prev`, the rest of the
    /// document up to [`PREV_WINDOW_BYTES`] after it; not the partial word itself) that start
    /// with `partial_word`, each once.
    pub(crate) words_like_partial: Vec<String>,
}

/// The shortest partial word whose re-typing is stripped: a shorter one (`a` answered `abc`)
/// may as well start a longer name (`aabc`).
pub(crate) const MIN_PARTIAL_WORD: usize = 3;

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier `line_prefix` ends with, if a model might re-type it, and the words near the
/// cursor that start with it (see [`Ctx::partial_word`]).
/// `above` is the text of the lines before the cursor's.
fn partial_word(line_prefix: &str, above: &str, after: &str, state: LexState) -> (String, Vec<String>) {
    let word_start = line_prefix.trim_end_matches(is_word_char).len();
    let word = &line_prefix[word_start..];
    let whole_line = line_prefix[..word_start].trim().is_empty();
    if state != LexState::Code
        || whole_line
        || word.chars().count() < MIN_PARTIAL_WORD
        || after.chars().next().is_some_and(is_word_char)
    {
        return (String::new(), Vec::new());
    }
    let mut found: Vec<String> = Vec::new();
    for text in [above, &line_prefix[..word_start], head(after, PREV_WINDOW_BYTES)] {
        for candidate in text.split(|c: char| !is_word_char(c)) {
            if candidate.starts_with(word) && !found.iter().any(|f| f == candidate) {
                found.push(candidate.to_owned());
            }
        }
    }
    (word.to_owned(), found)
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

        let (partial_word, words_like_partial) =
            partial_word(line_prefix, &before[prev_start..line_start], site.after, lexer.state);

        let doc_has_fence =
            has_fence_line(tail(before, FENCE_WINDOW_BYTES)) || has_fence_line(head(site.after, FENCE_WINDOW_BYTES));

        Ctx {
            language: site.language,
            multiline: site.multiline,
            line_prefix: line_prefix.to_owned(),
            line_suffix: line_suffix.to_owned(),
            prev: prev.to_owned(),
            ending: site.line_ending,
            doc_has_fence,
            cursor_state: lexer.state,
            openers,
            partial_word,
            words_like_partial,
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
}
