//! Just enough lexing to count brackets: strings and comments are skipped so that a `}` inside
//! `"}"` or `// }` is not taken for a block end. Tree-sitter cannot do this job on its own,
//! because the text being lexed is a fragment (a streaming suggestion) that never parses.

use crate::text::Language;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quote {
    Double,
    Single,
    Backtick,
    TripleDouble,
    TripleSingle,
    /// A Rust raw string with this many `#`.
    Raw(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexState {
    Code,
    LineComment,
    /// Rust nests block comments, so the depth is kept.
    BlockComment(u8),
    Str(Quote),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bracket {
    Open(u8),
    Close(u8),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Lexer {
    language: Language,
    pub(crate) state: LexState,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Length in bytes of the UTF-8 sequence starting with `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

impl Lexer {
    pub(crate) fn new(language: Language, state: LexState) -> Self {
        Lexer { language, state }
    }

    fn c_comments(&self) -> bool {
        !matches!(self.language, Language::Python | Language::PlainText)
    }

    /// Scans `text`, calling `on_bracket(byte offset, bracket)` for each bracket outside strings
    /// and comments. Plain text has no brackets worth counting: prose is full of unpaired `(`.
    pub(crate) fn scan(&mut self, text: &str, mut on_bracket: impl FnMut(usize, Bracket)) {
        if self.language == Language::PlainText {
            return;
        }
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match self.state {
                LexState::Code => match c {
                    b'(' | b'[' | b'{' => on_bracket(i, Bracket::Open(c)),
                    b')' | b']' | b'}' => on_bracket(i, Bracket::Close(c)),
                    b'/' if self.c_comments() && at(i + 1) == b'/' => {
                        self.state = LexState::LineComment;
                        i += 2;
                        continue;
                    }
                    b'/' if self.c_comments() && at(i + 1) == b'*' => {
                        self.state = LexState::BlockComment(1);
                        i += 2;
                        continue;
                    }
                    b'#' if self.language == Language::Python => {
                        self.state = LexState::LineComment;
                    }
                    b'"' | b'\'' if self.language == Language::Python => {
                        let triple = at(i + 1) == c && at(i + 2) == c;
                        self.state = LexState::Str(match (c, triple) {
                            (b'"', true) => Quote::TripleDouble,
                            (b'"', false) => Quote::Double,
                            (_, true) => Quote::TripleSingle,
                            (_, false) => Quote::Single,
                        });
                        if triple {
                            i += 3;
                            continue;
                        }
                    }
                    b'"' => self.state = LexState::Str(Quote::Double),
                    b'\'' if self.language == Language::Rust => {
                        // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a, 'static):
                        // only the former is closed by a quote right after one character.
                        if at(i + 1) == b'\\' {
                            let end = (i + 3..b.len().min(i + 14)).find(|&j| b[j] == b'\'' || b[j] == b'\n');
                            if let Some(j) = end.filter(|&j| b[j] == b'\'') {
                                i = j + 1;
                                continue;
                            }
                        } else if i + 1 < b.len() {
                            let after_char = i + 1 + utf8_len(b[i + 1]);
                            if b[i + 1] != b'\'' && b[i + 1] != b'\n' && at(after_char) == b'\'' {
                                i = after_char + 1;
                                continue;
                            }
                        }
                    }
                    b'\'' => self.state = LexState::Str(Quote::Single),
                    b'`' if matches!(
                        self.language,
                        Language::Go | Language::JavaScript | Language::TypeScript | Language::Tsx
                    ) =>
                    {
                        self.state = LexState::Str(Quote::Backtick)
                    }
                    b'r' if self.language == Language::Rust
                        && (i == 0
                            || !is_ident_byte(b[i - 1])
                            || (b[i - 1] == b'b' && (i < 2 || !is_ident_byte(b[i - 2])))) =>
                    {
                        let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
                        if at(i + 1 + hashes) == b'"' && hashes < 256 {
                            self.state = LexState::Str(Quote::Raw(hashes as u8));
                            i += 2 + hashes;
                            continue;
                        }
                    }
                    _ => {}
                },
                LexState::LineComment => {
                    if c == b'\n' {
                        self.state = LexState::Code;
                    }
                }
                LexState::BlockComment(depth) => {
                    if c == b'*' && at(i + 1) == b'/' {
                        self.state = if depth <= 1 { LexState::Code } else { LexState::BlockComment(depth - 1) };
                        i += 2;
                        continue;
                    }
                    if self.language == Language::Rust && c == b'/' && at(i + 1) == b'*' {
                        self.state = LexState::BlockComment(depth.saturating_add(1));
                        i += 2;
                        continue;
                    }
                }
                LexState::Str(quote) => {
                    match quote {
                        Quote::Raw(hashes) => {
                            let n = hashes as usize;
                            if c == b'"' && b[i + 1..].iter().take(n).filter(|&&h| h == b'#').count() == n {
                                self.state = LexState::Code;
                                i += 1 + n;
                                continue;
                            }
                        }
                        Quote::Backtick => {
                            if c == b'\\' && self.language != Language::Go {
                                i += 2;
                                continue;
                            }
                            if c == b'`' {
                                self.state = LexState::Code;
                            }
                        }
                        Quote::TripleDouble | Quote::TripleSingle => {
                            let q = if quote == Quote::TripleDouble { b'"' } else { b'\'' };
                            if c == b'\\' {
                                i += 2;
                                continue;
                            }
                            if c == q && at(i + 1) == q && at(i + 2) == q {
                                self.state = LexState::Code;
                                i += 3;
                                continue;
                            }
                        }
                        Quote::Double | Quote::Single => {
                            let q = if quote == Quote::Double { b'"' } else { b'\'' };
                            if c == b'\\' {
                                i += 2;
                                continue;
                            }
                            if c == q {
                                self.state = LexState::Code;
                            } else if c == b'\n' && self.language != Language::Rust {
                                // Only Rust strings span lines; elsewhere an unterminated
                                // string ends at the line end (the parser recovers the same way).
                                self.state = LexState::Code;
                            }
                        }
                    }
                }
            }
            i += 1;
        }
    }
}

/// Bracket openers and closers of `text` that it does not match itself, lexed from `state`:
/// `(closers that close something opened before the text, openers still open at its end)`,
/// each as byte offsets in `text`.
pub(crate) fn unmatched(language: Language, state: LexState, text: &str) -> (Vec<usize>, Vec<usize>) {
    let mut lexer = Lexer::new(language, state);
    let mut open = Vec::new();
    let mut closers = Vec::new();
    lexer.scan(text, |at, bracket| match bracket {
        Bracket::Open(_) => open.push(at),
        Bracket::Close(_) => {
            if open.pop().is_none() {
                closers.push(at);
            }
        }
    });
    (closers, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brackets(language: Language, text: &str) -> String {
        let mut lexer = Lexer::new(language, LexState::Code);
        let mut out = String::new();
        lexer.scan(text, |_, b| {
            out.push(match b {
                Bracket::Open(c) | Bracket::Close(c) => c as char,
            })
        });
        out
    }

    #[test]
    fn brackets_in_strings_and_comments_are_not_counted() {
        let cases = [
            (Language::Rust, r#"f("(", '{', '\'', 'a) // )"#, "()"),
            (Language::Rust, "fn f<'a>(x: &'a str) {", "(){"),
            (Language::Rust, r###"r#"}"#; x[0] /* { /* } */ ( */ ]"###, "[]]"),
            (Language::Rust, r#"b'}'; br"}"; ("#, "("),
            (Language::Python, "f('(', \"[\") # {", "()"),
            (Language::Python, "x = \"\"\"(\n]\"\"\" + [1]", "[]"),
            (Language::Go, "f(`{\n}`, '(')", "()"),
            (Language::TypeScript, "f(`${a}`, '}') /* ( */", "()"),
            (Language::JavaScript, "a = 'it\\'s {'; {", "{"),
            (Language::PlainText, "(a [b {c", ""),
        ];
        for (language, text, expected) in cases {
            assert_eq!(brackets(language, text), expected, "{language:?} {text:?}");
        }
    }

    #[test]
    fn single_quoted_strings_end_at_the_line_end_outside_rust() {
        assert_eq!(brackets(Language::Python, "x = 'oops\n(y)"), "()");
        assert_eq!(brackets(Language::Rust, "let s = \"a\n(b\";\n(c)"), "()");
    }

    #[test]
    fn unmatched_reports_closers_and_open_openers() {
        let (closers, open) = unmatched(Language::Rust, LexState::Code, "a) + (b, [c]) ) {");
        assert_eq!(closers, vec![1, 14]);
        assert_eq!(open, vec![16]);
    }
}
