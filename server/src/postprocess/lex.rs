//! Just enough lexing to count brackets: strings and comments are skipped so that a `}` inside
//! `"}"` or `// }` is not taken for a block end. Tree-sitter cannot do this job on its own,
//! because the text being lexed is a fragment (a streaming suggestion) that never parses.

use std::ops::ControlFlow;

use memchr::{memchr, memchr2, memchr3};

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
    /// A C# verbatim string, `@"…"`: no escapes but `""`, and it spans lines.
    Verbatim,
    /// A C# raw string opened by this many quotes (three or more): no escapes at all.
    Quotes(u8),
    /// A C++ raw string `R"delim(...)delim"`: the delimiter's length and [`delimiter_hash`].
    /// The state has to stay `Copy` and small; two delimiters of one length that hash alike
    /// are not worth telling apart.
    CppRaw(u8, u32),
    /// A Swift string: its `#`s (none for a plain one, whose escapes start with a lone `\`) and
    /// whether it is a multi-line one (`"""`).
    Swift {
        hashes: u8,
        multi: bool,
    },
    /// Code in a Swift string's interpolation `\(…)`, as part of the string: its brackets are
    /// not counted, but a string inside it does not end the outer one. The outer string, and
    /// how many parentheses are open (the interpolation's own included).
    SwiftHole {
        hashes: u8,
        multi: bool,
        parens: u8,
    },
    /// A string inside an interpolation, back to it at its end. Its own interpolations are
    /// skipped with its text, which keeps its quotes paired.
    SwiftInner {
        hashes: u8,
        multi: bool,
        parens: u8,
    },
}

/// FNV-1a of a C++ raw string's delimiter.
fn delimiter_hash(delimiter: &[u8]) -> u32 {
    delimiter.iter().fold(0x811C_9DC5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The longest delimiter C++ allows in a raw string.
const MAX_DELIMITER: usize = 16;

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

/// The bytes that can do something in code, in `language`: brackets, and what may start a
/// string or a comment. Any other byte costs one table look-up instead of the whole state
/// match, and most bytes of code are other bytes. Must stay in step with the arms of
/// [`Lexer::scan_from`] for [`LexState::Code`] (the differential tests below check it).
const fn code_stops(language: Language) -> [bool; 256] {
    let mut stops = [false; 256];
    let always = b"()[]{}\"'";
    let mut k = 0;
    while k < always.len() {
        stops[always[k] as usize] = true;
        k += 1;
    }
    match language {
        Language::Rust => {
            stops[b'/' as usize] = true;
            stops[b'r' as usize] = true;
        }
        Language::Python | Language::Ruby => stops[b'#' as usize] = true,
        Language::Php => {
            stops[b'/' as usize] = true;
            stops[b'#' as usize] = true;
        }
        Language::Go | Language::JavaScript | Language::TypeScript | Language::Tsx => {
            stops[b'/' as usize] = true;
            stops[b'`' as usize] = true;
        }
        // C#'s `@` and `$` string prefixes are looked back at from the quote.
        Language::Java | Language::CSharp | Language::Kotlin => stops[b'/' as usize] = true,
        // `#` may open a raw string (`#"…"#`).
        Language::Swift => {
            stops[b'/' as usize] = true;
            stops[b'#' as usize] = true;
        }
        // A preprocessor line is lexed as code: a macro's brackets balance as written, and a
        // `'` in an `#error` message ends with its line like any unclosed character literal.
        Language::C => stops[b'/' as usize] = true,
        Language::Cpp => {
            stops[b'/' as usize] = true;
            stops[b'R' as usize] = true;
        }
        Language::PlainText => {}
    }
    stops
}

fn code_stops_of(language: Language) -> &'static [bool; 256] {
    static RUST: [bool; 256] = code_stops(Language::Rust);
    static PYTHON: [bool; 256] = code_stops(Language::Python);
    static TYPESCRIPT: [bool; 256] = code_stops(Language::TypeScript);
    static TSX: [bool; 256] = code_stops(Language::Tsx);
    static JAVASCRIPT: [bool; 256] = code_stops(Language::JavaScript);
    static GO: [bool; 256] = code_stops(Language::Go);
    static JAVA: [bool; 256] = code_stops(Language::Java);
    static CSHARP: [bool; 256] = code_stops(Language::CSharp);
    static C: [bool; 256] = code_stops(Language::C);
    static CPP: [bool; 256] = code_stops(Language::Cpp);
    static RUBY: [bool; 256] = code_stops(Language::Ruby);
    static PHP: [bool; 256] = code_stops(Language::Php);
    static KOTLIN: [bool; 256] = code_stops(Language::Kotlin);
    static SWIFT: [bool; 256] = code_stops(Language::Swift);
    static PLAIN_TEXT: [bool; 256] = code_stops(Language::PlainText);
    match language {
        Language::Rust => &RUST,
        Language::Python => &PYTHON,
        Language::TypeScript => &TYPESCRIPT,
        Language::Tsx => &TSX,
        Language::JavaScript => &JAVASCRIPT,
        Language::Go => &GO,
        Language::Java => &JAVA,
        Language::CSharp => &CSHARP,
        Language::C => &C,
        Language::Cpp => &CPP,
        Language::Ruby => &RUBY,
        Language::Php => &PHP,
        Language::Kotlin => &KOTLIN,
        Language::Swift => &SWIFT,
        Language::PlainText => &PLAIN_TEXT,
    }
}

impl Lexer {
    pub(crate) fn new(language: Language, state: LexState) -> Self {
        Lexer { language, state }
    }

    fn c_comments(&self) -> bool {
        !matches!(self.language, Language::Python | Language::Ruby | Language::PlainText)
    }

    /// Scans `text`, calling `on_bracket(byte offset, bracket)` for each bracket outside strings
    /// and comments. Plain text has no brackets worth counting: prose is full of unpaired `(`.
    pub(crate) fn scan(&mut self, text: &str, mut on_bracket: impl FnMut(usize, Bracket)) {
        self.scan_from(text, 0, |at, bracket| {
            on_bracket(at, bracket);
            ControlFlow::Continue(())
        });
    }

    /// Where the next byte of `b` at or after `i` is that the current state has to look at;
    /// every byte before it would leave the state as it is and is no bracket. `b.len()` when
    /// there is none.
    fn next_stop(&self, b: &[u8], i: usize) -> usize {
        let Some(rest) = b.get(i..) else {
            return b.len();
        };
        let found = match self.state {
            LexState::Code => {
                let stops = code_stops_of(self.language);
                let mut j = 0;
                while let Some(&c) = rest.get(j) {
                    // Most `r`s are inside words; only `r"` and `r#` can start a raw string.
                    // Same for C++'s `R`: only `R"` can start a raw string.
                    if stops[c as usize]
                        && (c != b'r' || matches!(rest.get(j + 1), Some(b'#' | b'"')))
                        && (c != b'R' || rest.get(j + 1) == Some(&b'"'))
                    {
                        break;
                    }
                    j += 1;
                }
                Some(j)
            }
            LexState::LineComment => memchr(b'\n', rest),
            LexState::BlockComment(_)
                if matches!(self.language, Language::Rust | Language::Kotlin | Language::Swift) =>
            {
                memchr2(b'*', b'/', rest)
            }
            LexState::BlockComment(_) => memchr(b'*', rest),
            LexState::Str(Quote::Raw(_) | Quote::Verbatim | Quote::Quotes(_)) => memchr(b'"', rest),
            LexState::Str(Quote::CppRaw(..)) => memchr(b')', rest),
            LexState::Str(Quote::Swift { .. } | Quote::SwiftInner { .. }) => memchr3(b'"', b'\\', b'\n', rest),
            LexState::Str(Quote::SwiftHole { .. }) => {
                rest.iter().position(|&c| matches!(c, b'(' | b')' | b'"' | b'\n'))
            }
            LexState::Str(Quote::Backtick) if self.language == Language::Go => memchr(b'`', rest),
            LexState::Str(Quote::Backtick) => memchr2(b'`', b'\\', rest),
            LexState::Str(Quote::TripleDouble) => memchr2(b'"', b'\\', rest),
            LexState::Str(Quote::TripleSingle) => memchr2(b'\'', b'\\', rest),
            LexState::Str(quote @ (Quote::Double | Quote::Single)) => {
                let q = if quote == Quote::Double { b'"' } else { b'\'' };
                if self.language == Language::Rust {
                    memchr2(q, b'\\', rest)
                } else {
                    memchr3(q, b'\\', b'\n', rest)
                }
            }
        };
        found.map_or(b.len(), |j| i + j)
    }

    /// [`Self::scan`] from byte `start` of `text` (the bytes before it are still looked back
    /// at), stopping right after a bracket for which `on_bracket` breaks. Returns where to
    /// resume: scanning on from there gives what one uninterrupted scan would.
    pub(crate) fn scan_from(
        &mut self,
        text: &str,
        start: usize,
        on_bracket: impl FnMut(usize, Bracket) -> ControlFlow<()>,
    ) -> usize {
        self.scan_bytes::<true>(text, start, on_bracket)
    }

    /// The scan, with `SKIP` jumping to [`Self::next_stop`] before each byte. Without it every
    /// byte goes through the state match: the tests' oracle for the skip.
    fn scan_bytes<const SKIP: bool>(
        &mut self,
        text: &str,
        start: usize,
        mut on_bracket: impl FnMut(usize, Bracket) -> ControlFlow<()>,
    ) -> usize {
        if self.language == Language::PlainText {
            return text.len();
        }
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut i = start;
        loop {
            if SKIP {
                i = self.next_stop(b, i);
            }
            let Some(&c) = b.get(i) else {
                return b.len();
            };
            match self.state {
                LexState::Code => match c {
                    b'(' | b'[' | b'{' | b')' | b']' | b'}' => {
                        let bracket =
                            if matches!(c, b'(' | b'[' | b'{') { Bracket::Open(c) } else { Bracket::Close(c) };
                        if on_bracket(i, bracket).is_break() {
                            return i + 1;
                        }
                    }
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
                    // PHP's `#[Attribute]` is code; its other `#` starts a comment as Ruby's does.
                    b'#' if matches!(self.language, Language::Python | Language::Ruby)
                        || self.language == Language::Php && at(i + 1) != b'[' =>
                    {
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
                    // A Java text block; its escapes are a plain string's.
                    b'"' if self.language == Language::Java && at(i + 1) == b'"' && at(i + 2) == b'"' => {
                        self.state = LexState::Str(Quote::TripleDouble);
                        i += 3;
                        continue;
                    }
                    // A Kotlin raw string: no escapes, it spans lines, and the run of quotes that
                    // closes it may be longer than three (the extra ones are its text).
                    b'"' if self.language == Language::Kotlin && at(i + 1) == b'"' && at(i + 2) == b'"' => {
                        self.state = LexState::Str(Quote::Quotes(3));
                        i += 3;
                        continue;
                    }
                    // A Swift string, raw (`#"…"#`, `##"…"##`) or not, on one line or many.
                    b'"' | b'#' if self.language == Language::Swift => {
                        let hashes = b[i..].iter().take_while(|&&h| h == b'#').count();
                        if at(i + hashes) == b'"' && hashes < 256 {
                            let multi = at(i + hashes + 1) == b'"' && at(i + hashes + 2) == b'"';
                            self.state = LexState::Str(Quote::Swift { hashes: hashes as u8, multi });
                            i += hashes + if multi { 3 } else { 1 };
                            continue;
                        }
                        // `#if`, `#selector(…)`: code.
                        i += hashes.max(1);
                        continue;
                    }
                    // Swift has no character literals.
                    b'\'' if self.language == Language::Swift => {}
                    b'"' if self.language == Language::CSharp => {
                        let quotes = b[i..].iter().take_while(|&&q| q == b'"').count();
                        // `$` and `@` prefix the quote in either order (`$@"`, `@$"`, `$$"""`);
                        // an interpolated string is lexed as the plain one it builds on, holes
                        // and all, as TypeScript's template strings are.
                        let verbatim = b[..i].iter().rev().take_while(|&&p| p == b'@' || p == b'$').any(|&p| p == b'@');
                        if verbatim {
                            self.state = LexState::Str(Quote::Verbatim);
                        } else if quotes >= 3 {
                            self.state = LexState::Str(Quote::Quotes(quotes.min(255) as u8));
                            i += quotes;
                            continue;
                        } else {
                            self.state = LexState::Str(Quote::Double);
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
                    b'\'' if self.language == Language::Cpp && is_digit_separator(b, i) => {}
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
                    b'R' if self.language == Language::Cpp && at(i + 1) == b'"' && starts_raw_string(b, i) => {
                        let delimiter = &b[i + 2..b.len().min(i + 3 + MAX_DELIMITER)];
                        let open = delimiter.iter().position(|&d| {
                            d == b'(' || matches!(d, b')' | b'\\' | b'"' | b' ' | b'\t' | b'\n' | b'\r')
                        });
                        if let Some(len) = open.filter(|&len| delimiter[len] == b'(' && len <= MAX_DELIMITER) {
                            self.state = LexState::Str(Quote::CppRaw(len as u8, delimiter_hash(&delimiter[..len])));
                            i += 3 + len;
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
                    // Rust's, Kotlin's and Swift's block comments nest.
                    if matches!(self.language, Language::Rust | Language::Kotlin | Language::Swift)
                        && c == b'/'
                        && at(i + 1) == b'*'
                    {
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
                        Quote::Verbatim => {
                            if c == b'"' {
                                if at(i + 1) == b'"' {
                                    i += 2;
                                    continue;
                                }
                                self.state = LexState::Code;
                            }
                        }
                        Quote::Quotes(n) => {
                            if c == b'"' {
                                // A shorter run of quotes is text; the whole run is stepped over.
                                let run = b[i..].iter().take_while(|&&q| q == b'"').count();
                                if run >= usize::from(n) {
                                    self.state = LexState::Code;
                                }
                                i += run;
                                continue;
                            }
                        }
                        Quote::CppRaw(len, hash) => {
                            let len = len as usize;
                            let closes = c == b')'
                                && at(i + 1 + len) == b'"'
                                && b.get(i + 1..i + 1 + len).is_some_and(|d| delimiter_hash(d) == hash);
                            if closes {
                                self.state = LexState::Code;
                                i += 2 + len;
                                continue;
                            }
                        }
                        Quote::Swift { hashes, multi } => {
                            let n = usize::from(hashes);
                            let hashes_at = |j: usize| b.get(j..j + n).is_some_and(|h| h.iter().all(|&x| x == b'#'));
                            // An escape is `\` and the string's `#`s: `\n`, `\#n`, `\#(x)`.
                            if c == b'\\' && hashes_at(i + 1) {
                                if at(i + 1 + n) == b'(' {
                                    self.state = LexState::Str(Quote::SwiftHole { hashes, multi, parens: 1 });
                                }
                                i += 2 + n;
                                continue;
                            }
                            if c == b'"' {
                                let quotes = if multi { 3 } else { 1 };
                                if b[i..].iter().take(quotes).filter(|&&q| q == b'"').count() == quotes
                                    && hashes_at(i + quotes)
                                {
                                    self.state = LexState::Code;
                                    i += quotes + n;
                                    continue;
                                }
                            } else if c == b'\n' && !multi {
                                // A one-line string ends at the line end, as the parser recovers.
                                self.state = LexState::Code;
                            }
                        }
                        Quote::SwiftHole { hashes, multi, parens } => match c {
                            b'(' => {
                                self.state =
                                    LexState::Str(Quote::SwiftHole { hashes, multi, parens: parens.saturating_add(1) })
                            }
                            b')' => {
                                self.state = LexState::Str(match parens {
                                    0 | 1 => Quote::Swift { hashes, multi },
                                    _ => Quote::SwiftHole { hashes, multi, parens: parens - 1 },
                                })
                            }
                            b'"' => self.state = LexState::Str(Quote::SwiftInner { hashes, multi, parens }),
                            b'\n' if !multi => self.state = LexState::Code,
                            _ => {}
                        },
                        Quote::SwiftInner { hashes, multi, parens } => match c {
                            b'\\' => {
                                i += 2;
                                continue;
                            }
                            b'"' => self.state = LexState::Str(Quote::SwiftHole { hashes, multi, parens }),
                            b'\n' if !multi => self.state = LexState::Code,
                            _ => {}
                        },
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

/// Whether the `R` at `i` (followed by `"`) starts a raw string: it is a word of its own, or ends
/// one of the encoding prefixes `u8R`, `uR`, `UR`, `LR`.
fn starts_raw_string(b: &[u8], i: usize) -> bool {
    let word_start = b[..i].iter().rposition(|&c| !is_ident_byte(c)).map_or(0, |p| p + 1);
    matches!(&b[word_start..i], b"" | b"u8" | b"u" | b"U" | b"L")
}

/// Whether the `'` at `i` separates digits (`1'000'000`, C++14) rather than opening a character
/// literal: digits on both sides, in a word that starts with a digit (`u8'a'` is a literal).
fn is_digit_separator(b: &[u8], i: usize) -> bool {
    let word_start = b[..i].iter().rposition(|&c| !is_ident_byte(c) && c != b'\'').map_or(0, |p| p + 1);
    i > word_start
        && b[word_start].is_ascii_digit()
        && b[i - 1].is_ascii_alphanumeric()
        && b.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric())
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

/// The closers of `text` that close something opened before it (the first list of
/// [`unmatched`]), lexed only as far as asked for: callers often need none or a few of them,
/// and the text can be long.
pub(crate) struct OuterClosers<'a> {
    lexer: Lexer,
    text: &'a str,
    /// Where lexing resumes.
    pos: usize,
    depth: usize,
    found: Vec<usize>,
}

impl<'a> OuterClosers<'a> {
    pub(crate) fn new(language: Language, state: LexState, text: &'a str) -> Self {
        OuterClosers { lexer: Lexer::new(language, state), text, pos: 0, depth: 0, found: Vec::new() }
    }

    /// The byte offsets of the first `n` of them, or of all when there are fewer.
    pub(crate) fn first(&mut self, n: usize) -> &[usize] {
        while self.found.len() < n && self.pos < self.text.len() {
            let (depth, found) = (&mut self.depth, &mut self.found);
            self.pos = self.lexer.scan_from(self.text, self.pos, |at, bracket| match bracket {
                Bracket::Open(_) => {
                    *depth += 1;
                    ControlFlow::Continue(())
                }
                Bracket::Close(_) if *depth > 0 => {
                    *depth -= 1;
                    ControlFlow::Continue(())
                }
                Bracket::Close(_) => {
                    found.push(at);
                    ControlFlow::Break(())
                }
            });
        }
        &self.found[..n.min(self.found.len())]
    }
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
            (Language::C, "f(\"(\", '{', '\\'') /* ) */ // }\n[", "()["),
            (Language::C, "#include <sys/x.h>\nputs(\"a\\\"}\");", "()"),
            (Language::Cpp, r#"f(R"(")}")", R"x( )" ]} )x", u8R"(})") {"#, "(){"),
            (Language::Cpp, "int n = 1'000'000; f(n) {", "(){"),
            (Language::Cpp, "auto c = u8'{'; g(L'(') [", "()["),
            (Language::Cpp, "R(x) + FOO_R\"(\" )", "())"),
            (Language::PlainText, "(a [b {c", ""),
            (Language::Java, "f(\"}\", '{', '\\'') // )", "()"),
            // A text block spans lines and holds lone quotes.
            (Language::Java, "s = \"\"\"\n  {\"(\"\n  ]\"\"\"; g(x)", "()"),
            (Language::Java, "/* { */ a[0] /** ( */", "[]"),
            // Verbatim: a backslash is text, `""` is a quote, and the string spans lines.
            (Language::CSharp, "f(@\"C:\\dir\\\", \"[\")", "()"),
            (Language::CSharp, "g(@\"say \"\"{\"\"\n ] \")", "()"),
            (Language::CSharp, "f($@\"{x} \\\"\"(\"\"\")", "()"),
            // Interpolated: escapes as a plain string, holes skipped with the text.
            (Language::CSharp, "f($\"{a} \\\" {{ ( \")", "()"),
            // Raw: as many quotes close it as opened it; fewer are text.
            (Language::CSharp, "f(\"\"\"\n  \"\" { ]\n  \"\"\")", "()"),
            (Language::CSharp, "f(\"\"\"\" \"\"\" ( \"\"\"\") {", "(){"),
            (Language::CSharp, "c = '{'; // }", ""),
            // A raw string spans lines and a backslash is text; templates are skipped with it.
            (Language::Kotlin, "f(\"\"\"C:\\\"\"\", x) {", "(){"),
            (Language::Kotlin, "g(\"\"\"\n  }\n  \"\"\"\"); h(\"${a[0]} }\")", "()()"),
            (Language::Kotlin, "/* { /* } */ ( */ val c = '{' [", "["),
            // An interpolation's string does not end the outer one, nor do its brackets count.
            (Language::Swift, r#"f("\(x ? "}" : "(")", y) {"#, "(){"),
            (Language::Swift, r#"g("a\(h(")", [1]) ) }") ["#, "()["),
            // A multi-line string spans lines, holds lone quotes and ends at three.
            (Language::Swift, "s = \"\"\"\n  \"}\" (\n  \\(a[\")\"])\n  \"\"\"; f(x)", "()"),
            // A raw string ends only at a quote with its `#`s; `\(` is text there, `\#(` a hole.
            (Language::Swift, r##"r = #"\(") "}"#; f(#"\#(a(")"))"#) {"##, "(){"),
            (Language::Swift, "##\"\"\"\n\"\"\"# }\n\"\"\"## + [", "["),
            // `#if` and `#selector` are code, `'` opens nothing, and block comments nest.
            (Language::Swift, "#if DEBUG\nlet s = #selector(tap) // it's {\n#endif", "()"),
            (Language::Swift, "/* { /* } */ ( */ x[0]", "[]"),
            // A one-line string, and an interpolation left open in it, end at the line end.
            (Language::Swift, "a = \"\\(f(\nb(x)", "()"),
        ];
        for (language, text, expected) in cases {
            assert_eq!(brackets(language, text), expected, "{language:?} {text:?}");
        }
    }

    #[test]
    fn a_cpp_raw_string_ends_only_at_its_own_delimiter_even_across_scans() {
        let mut lexer = Lexer::new(Language::Cpp, LexState::Code);
        let mut seen = String::new();
        let mut record = |_, b| {
            seen.push(match b {
                Bracket::Open(c) | Bracket::Close(c) => c as char,
            })
        };
        lexer.scan("auto q = R\"sql(select (", &mut record);
        assert!(matches!(lexer.state, LexState::Str(Quote::CppRaw(3, _))), "{:?}", lexer.state);
        lexer.scan(") )sq\" }\n)\" ]", &mut record);
        lexer.scan(")sql\"; f(x) {", &mut record);
        assert_eq!(lexer.state, LexState::Code);
        assert_eq!(seen, "(){");
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

    /// The oracle for the differential tests: the same lexer taking every byte through its
    /// state match, as it did before it learnt to skip. What differs is only the skip.
    fn reference(language: Language, state: LexState, text: &str) -> (Vec<(usize, Bracket)>, LexState) {
        let mut lexer = Lexer::new(language, state);
        let mut out = Vec::new();
        lexer.scan_bytes::<false>(text, 0, |at, bracket| {
            out.push((at, bracket));
            ControlFlow::Continue(())
        });
        (out, lexer.state)
    }

    const LANGUAGES: [Language; 15] = Language::ALL;

    const STATES: [LexState; 26] = [
        LexState::Code,
        LexState::LineComment,
        LexState::BlockComment(1),
        LexState::BlockComment(2),
        LexState::BlockComment(u8::MAX),
        LexState::Str(Quote::Double),
        LexState::Str(Quote::Single),
        LexState::Str(Quote::Backtick),
        LexState::Str(Quote::TripleDouble),
        LexState::Str(Quote::TripleSingle),
        LexState::Str(Quote::Raw(0)),
        LexState::Str(Quote::Raw(1)),
        LexState::Str(Quote::Raw(2)),
        LexState::Str(Quote::Raw(u8::MAX)),
        LexState::Str(Quote::Verbatim),
        LexState::Str(Quote::Quotes(3)),
        LexState::Str(Quote::Quotes(4)),
        LexState::Str(Quote::Quotes(u8::MAX)),
        LexState::Str(Quote::CppRaw(0, 0x811C_9DC5)),
        LexState::Str(Quote::CppRaw(1, 0xFD0C_5087)),
        LexState::Str(Quote::Swift { hashes: 0, multi: false }),
        LexState::Str(Quote::Swift { hashes: 1, multi: false }),
        LexState::Str(Quote::Swift { hashes: 2, multi: true }),
        LexState::Str(Quote::SwiftHole { hashes: 0, multi: false, parens: 1 }),
        LexState::Str(Quote::SwiftHole { hashes: 1, multi: true, parens: 2 }),
        LexState::Str(Quote::SwiftInner { hashes: 0, multi: true, parens: 1 }),
    ];

    fn fast(language: Language, state: LexState, text: &str) -> (Vec<(usize, Bracket)>, LexState) {
        let mut lexer = Lexer::new(language, state);
        let mut out = Vec::new();
        lexer.scan(text, |at, bracket| out.push((at, bracket)));
        (out, lexer.state)
    }

    /// Fixed-seed xorshift64: failures reproduce, and no crate is needed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Short texts dense in what the lexer looks at, so that its corner cases (a quote right
    /// after a backslash, `r#` at the very end, `*/` inside a string) come up often.
    fn random_texts(count: usize) -> Vec<String> {
        const PIECES: [&str; 50] = [
            "\"", "'", "`", "\\", "/", "*", "#", "r", "b", "(", ")", "[", "]", "{", "}", "\n", "\r", " ", "a", "_",
            "é", "😀", "\"\"\"", "'''", "//", "/*", "*/", "r#\"", "\"#", "br\"", "'a'", "'\\n'", "x", "\t", "@\"",
            "$\"", "$@\"", "\"\"", "\"\"\"\"", "R\"(", ")\"", "R\"x(", ")x\"", "1'0", "u8R\"", "\\(", "\\#(", "#\"",
            "\"##", "#\"\"\"",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        (0..count)
            .map(|_| {
                let len = rng.below(40);
                (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
            })
            .collect()
    }

    #[test]
    fn skipping_lexer_agrees_with_the_byte_by_byte_one_on_random_texts() {
        for text in random_texts(3000) {
            for language in LANGUAGES {
                for state in STATES {
                    assert_eq!(
                        fast(language, state, &text),
                        reference(language, state, &text),
                        "{language:?} {state:?} {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn skipping_lexer_agrees_with_the_byte_by_byte_one_on_this_crates_sources() {
        fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("readable source directory") {
                let path = entry.expect("readable directory entry").path();
                if path.is_dir() {
                    rust_files(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        rust_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).expect("UTF-8 source file");
            for language in LANGUAGES {
                let (brackets, state) = fast(language, LexState::Code, &text);
                let (expected_brackets, expected_state) = reference(language, LexState::Code, &text);
                // Not assert_eq! on the lists: a failure would print thousands of brackets.
                let first_difference = brackets.iter().zip(&expected_brackets).position(|(a, b)| a != b);
                assert!(
                    first_difference.is_none() && brackets.len() == expected_brackets.len(),
                    "{language:?} {}: first difference at bracket {first_difference:?}, {} brackets (expected {})",
                    path.display(),
                    brackets.len(),
                    expected_brackets.len()
                );
                assert_eq!(state, expected_state, "{language:?} {}", path.display());
            }
        }
    }

    #[test]
    fn outer_closers_are_the_first_unmatched_closers_however_they_are_asked_for() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for text in random_texts(1000) {
            for language in LANGUAGES {
                for state in [LexState::Code, LexState::LineComment, LexState::Str(Quote::Double)] {
                    let (all, _) = unmatched(language, state, &text);
                    let mut lazy = OuterClosers::new(language, state, &text);
                    for _ in 0..4 {
                        let n = rng.below(all.len() + 2);
                        assert_eq!(lazy.first(n), &all[..n.min(all.len())], "{language:?} {state:?} {text:?} n={n}");
                    }
                }
            }
        }
    }
}
