//! Code like the code the user is writing, from the other open documents and from the current
//! file away from the cursor: the sibling handler, the other match arm, the test above the one
//! being written. The definitions (see [`super::gather`]) tell the model what the names are;
//! a similar piece of code tells it how this project puts them together, which is what makes a
//! suggestion look like the user's own.
//!
//! Each document is cut into overlapping windows of [`WINDOW_LINES`] lines, and each window is
//! kept as the set of its identifiers (hashed, keywords left out). A request's query is the
//! set of the identifiers on the complete lines just above the cursor; the windows are scored
//! by Jaccard similarity (shared identifiers over all identifiers of the two), the best of
//! each file is kept, and the best of those go into the prompt, within budget.
//!
//! The windows are made off the message loop, when the reindexer picks up an opened or edited
//! document ([`SimilarIndex::update`]); a request only scores them. Only the documents touched
//! last are candidates ([`NEIGHBOURS`]): the files the user works in now, not every file they
//! ever opened.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ropey::Rope;

use super::{uri_to_path, Snippet, SnippetKind};
use crate::secrets::looks_secret;
use crate::text::{DocumentSnapshot, Language};

/// Lines per window, and of the query.
pub const WINDOW_LINES: usize = 20;
/// Windows start every this many lines, so that a piece of code of up to half a window lies
/// whole in one of them.
const STEP: usize = WINDOW_LINES / 2;
/// Other documents scored per request: the ones touched last.
pub const NEIGHBOURS: usize = 20;
/// Below this, two windows share only what code of one language shares anyway (`Ok`, `len`,
/// `String`, `value`).
const MIN_SCORE: f64 = 0.3;
/// A query of fewer identifiers says too little to find anything like it.
const MIN_QUERY: usize = 6;
/// A snippet cut shorter than this to fit the budget no longer shows a piece of code.
const MIN_LINES: usize = 4;
/// Larger documents get no windows: they are generated or data, and scoring them would cost
/// more than it finds. The same limit as the workspace index's.
const MAX_BYTES: usize = super::MAX_FILE_BYTES as usize;

/// An open document's windows, with the text they were made from: a snippet is cut from that
/// text, so it shows exactly what was scored even when the document changed since.
///
/// The windows' identifiers are kept inverted, as each identifier's list of the windows that
/// hold it: a request then visits only the windows that share an identifier with its query,
/// instead of comparing the query with every window of every neighbour (a thousand windows
/// for 20 neighbours and a 3,000-line file, which took half a millisecond).
#[derive(Debug)]
pub struct FileWindows {
    uri: String,
    language: Language,
    rope: Rope,
    /// Each window's first line.
    firsts: Box<[u32]>,
    /// Each window's number of distinct identifiers.
    sizes: Box<[u16]>,
    /// The file's distinct identifiers, sorted.
    tokens: Box<[u32]>,
    /// Where each identifier's windows start in `postings` (one more entry than `tokens`).
    starts: Box<[u32]>,
    /// The windows of each identifier in turn, ascending.
    postings: Box<[u16]>,
    /// A bit per identifier hash's low bits: a query's identifiers that the file lacks, most
    /// of them in a small file, are told apart with a bit test instead of a binary search
    /// whose every step, after a pause, is a cache miss.
    present: Box<[u64; PRESENT_WORDS]>,
}

/// 2,048 bits, four cache lines.
const PRESENT_WORDS: usize = 32;

fn present_bit(token: u32) -> (usize, u64) {
    let bit = token as usize % (PRESENT_WORDS * 64);
    (bit / 64, 1 << (bit % 64))
}

impl FileWindows {
    /// `rope`'s windows.
    pub fn new(uri: &str, language: Language, rope: &Rope) -> FileWindows {
        let mut line_tokens: Vec<Vec<u32>> = Vec::with_capacity(rope.len_lines());
        for line in rope.lines() {
            let mut tokens = Vec::new();
            for chunk in line.chunks() {
                // A chunk boundary inside a word splits it in two; ropey's chunks are about a
                // kilobyte, so this blurs a word in a thousand, which scoring can afford.
                identifiers(chunk, |hash| tokens.push(hash));
            }
            line_tokens.push(tokens);
        }
        let lines = line_tokens.len();
        let (mut firsts, mut sizes, mut pairs) = (Vec::new(), Vec::new(), Vec::<(u32, u16)>::new());
        let mut first = 0;
        let mut window = Vec::new();
        // Window ids are u16: past that many windows (650,000 lines), the rest is left out.
        while firsts.len() < usize::from(u16::MAX) {
            let end = (first + WINDOW_LINES).min(lines);
            window.clear();
            window.extend(line_tokens[first..end].iter().flatten().copied());
            window.sort_unstable();
            window.dedup();
            if !window.is_empty() {
                let id = firsts.len() as u16;
                firsts.push(first as u32);
                sizes.push(window.len().min(usize::from(u16::MAX)) as u16);
                pairs.extend(window.iter().map(|&t| (t, id)));
            }
            if end >= lines {
                break;
            }
            first += STEP;
        }
        pairs.sort_unstable();
        let (mut tokens, mut starts) = (Vec::new(), Vec::new());
        for (i, &(token, _)) in pairs.iter().enumerate() {
            if tokens.last() != Some(&token) {
                tokens.push(token);
                starts.push(i as u32);
            }
        }
        starts.push(pairs.len() as u32);
        let mut present = Box::new([0u64; PRESENT_WORDS]);
        for &token in &tokens {
            let (word, bit) = present_bit(token);
            present[word] |= bit;
        }
        FileWindows {
            uri: uri.to_string(),
            language,
            rope: rope.clone(),
            firsts: firsts.into_boxed_slice(),
            sizes: sizes.into_boxed_slice(),
            tokens: tokens.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            postings: pairs.into_iter().map(|(_, w)| w).collect(),
            present,
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// How many identifiers of `query` each window holds, into `shared` (one entry per window).
    fn count_shared(&self, query: &[u32], shared: &mut Vec<u16>) {
        shared.clear();
        shared.resize(self.firsts.len(), 0);
        for &token in query {
            let (word, bit) = present_bit(token);
            if self.present[word] & bit == 0 {
                continue;
            }
            if let Ok(i) = self.tokens.binary_search(&token) {
                let (from, to) = (self.starts[i] as usize, self.starts[i + 1] as usize);
                for &w in &self.postings[from..to] {
                    shared[usize::from(w)] += 1;
                }
            }
        }
    }
}

/// The windows of the open documents, the one touched last first.
///
/// A list, not a map: a request wants the few touched last, and a scan of a map of 300
/// documents, after a pause, cost 80 µs in cache misses. Each entry carries its URI's hash,
/// so that finding one reads only the list.
#[derive(Debug, Default)]
pub struct SimilarIndex {
    files: Mutex<Vec<(u64, Arc<FileWindows>)>>,
}

impl SimilarIndex {
    pub fn new() -> SimilarIndex {
        SimilarIndex::default()
    }

    /// Makes `doc`'s windows again (blocking: a tokenizer pass over the text, about a
    /// millisecond per 100 KiB), and counts it touched. Secrets, plain text, binary text and
    /// very large documents have none: their text is never shown to a model.
    pub fn update(&self, doc: &DocumentSnapshot) {
        let uri = doc.uri();
        let language = doc.language();
        if !eligible(&uri_to_path(uri), language) || doc.is_binary() || doc.rope().len_bytes() > MAX_BYTES {
            self.remove(uri);
            return;
        }
        let windows = Arc::new(FileWindows::new(uri, language, doc.rope()));
        let mut files = self.lock();
        Self::take(&mut files, uri);
        files.insert(0, (name_hash(uri), windows));
    }

    pub fn remove(&self, uri: &str) {
        Self::take(&mut self.lock(), uri);
    }

    /// `uri` is being worked in (a completion was asked for in it): it stays a neighbour of
    /// the others.
    pub fn touch(&self, uri: &str) {
        let mut files = self.lock();
        if let Some(entry) = Self::take(&mut files, uri) {
            files.insert(0, entry);
        }
    }

    /// `uri`'s own windows, if it has any, then the windows of the `NEIGHBOURS` (20) other
    /// documents of `language`'s family touched last, most recent first.
    pub fn neighbours(&self, uri: &str, language: Language) -> Vec<Arc<FileWindows>> {
        let family = language.family();
        let hash = name_hash(uri);
        let files = self.lock();
        let own = files.iter().find(|(h, f)| *h == hash && f.uri == uri).map(|(_, f)| f.clone());
        let others = files
            .iter()
            .filter(|(h, f)| (*h != hash || f.uri != uri) && f.language.family() == family)
            .take(NEIGHBOURS)
            .map(|(_, f)| f.clone());
        own.into_iter().chain(others).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<FileWindows>)>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(files: &mut Vec<(u64, Arc<FileWindows>)>, uri: &str) -> Option<(u64, Arc<FileWindows>)> {
        let hash = name_hash(uri);
        let at = files.iter().position(|(h, f)| *h == hash && f.uri == uri)?;
        Some(files.remove(at))
    }
}

fn name_hash(text: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// What may be shown to a model as another file's code: as for the workspace index, never a
/// file that looks like it holds secrets, and never plain text.
fn eligible(path: &Path, language: Language) -> bool {
    language != Language::PlainText && !looks_secret(path)
}

/// The request's side: the identifiers of the [`WINDOW_LINES`] complete lines above the
/// cursor's line. The cursor's own line is left out, so the query, and with it this part of
/// the prompt, stays the same while the user types on one line.
pub fn query(rope: &Rope, cursor_line: usize) -> Vec<u32> {
    let first = cursor_line.saturating_sub(WINDOW_LINES);
    let mut tokens = Vec::new();
    for line in first..cursor_line.min(rope.len_lines()) {
        for chunk in rope.line(line).chunks() {
            identifiers(chunk, |hash| tokens.push(hash));
        }
    }
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

/// The pieces of code most like `query`, best first, within `budget` chars: at most one per
/// file. In the file at `current` (a URI), windows that overlap `shown` (the lines the prompt
/// shows around the cursor) are left out. `path_of` gives a URI's path as prompts show it.
pub fn find(
    query: &[u32],
    current: &str,
    shown: Range<usize>,
    files: &[Arc<FileWindows>],
    path_of: &dyn Fn(&str) -> String,
    budget: usize,
) -> Vec<Snippet> {
    if query.len() < MIN_QUERY || budget == 0 {
        return Vec::new();
    }
    let mut best: Vec<(f64, &FileWindows, usize)> = Vec::new();
    let mut shared = Vec::new();
    for file in files {
        let own = file.uri == current;
        file.count_shared(query, &mut shared);
        let mut top: Option<(f64, usize)> = None;
        for (w, &count) in shared.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let first = file.firsts[w] as usize;
            if own && first < shown.end && shown.start < first + WINDOW_LINES {
                continue;
            }
            let count = usize::from(count);
            let score = count as f64 / (query.len() + usize::from(file.sizes[w]) - count) as f64;
            if score >= MIN_SCORE && top.is_none_or(|(s, _)| score > s) {
                top = Some((score, w));
            }
        }
        if let Some((score, w)) = top {
            best.push((score, file, w));
        }
    }
    // Ties go to the file touched last, which `files` lists first.
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut left = budget;
    let mut snippets = Vec::new();
    for (_, file, w) in best {
        let Some(text) = excerpt(&file.rope, file.firsts[w] as usize, left, query) else {
            continue;
        };
        left -= text.len();
        snippets.push(Snippet { path: path_of(&file.uri), text, why: SnippetKind::Similar });
        if left < 200 {
            break;
        }
    }
    snippets
}

/// The window's lines from `first`, from the first that shares an identifier with `query`
/// (what came before it in the window is other code), without blank lines at the end, as
/// many as fit in `budget` bytes; `None` when fewer than [`MIN_LINES`] do.
fn excerpt(rope: &Rope, first: usize, budget: usize, query: &[u32]) -> Option<String> {
    let end = (first + WINDOW_LINES).min(rope.len_lines());
    let mut lines: Vec<String> = (first..end).map(|l| String::from(rope.line(l))).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let start = lines.iter().position(|l| {
        let mut shares = false;
        identifiers(l, |hash| shares |= query.binary_search(&hash).is_ok());
        shares
    })?;
    let mut text = String::new();
    let mut taken = 0;
    for line in &lines[start..] {
        if text.len() + line.len() > budget {
            break;
        }
        text.push_str(line);
        taken += 1;
    }
    if taken < MIN_LINES.min(lines.len() - start) {
        return None;
    }
    let trimmed = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(trimmed);
    Some(text)
}

/// Calls `f` with the hash of each identifier in `text` that says something: two characters or
/// more, not a keyword.
fn identifiers(text: &str, mut f: impl FnMut(u32)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphabetic() || b == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let word = &text[start..i];
        if word.len() >= 2 {
            let hash = hash(word);
            if keyword_hashes().binary_search(&hash).is_err() {
                f(hash);
            }
        }
    }
}

fn hash(word: &str) -> u32 {
    let h = name_hash(word);
    (h ^ (h >> 32)) as u32
}

/// [`KEYWORDS`]' hashes, sorted: a word is looked up by the hash it needs anyway.
fn keyword_hashes() -> &'static [u32] {
    static HASHES: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    HASHES.get_or_init(|| {
        let mut hashes: Vec<u32> = KEYWORDS.iter().map(|k| hash(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    })
}

/// Words every file of a language has: sharing them says nothing about two pieces of code.
/// One list for all languages: a word that is a keyword in one is rarely a telling name in
/// another.
const KEYWORDS: &[&str] = &[
    // Rust
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "Some",
    "None",
    "Ok",
    "Err",
    "Option",
    "Result",
    "Vec",
    "String",
    "str",
    "bool",
    "u8",
    "u16",
    "u32",
    "u64",
    "usize",
    "i32",
    "i64",
    "f32",
    "f64", // Python
    "and",
    "assert",
    "class",
    "def",
    "del",
    "elif",
    "except",
    "finally",
    "from",
    "global",
    "import",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "try",
    "with",
    "yield",
    "True",
    "False",
    "cls",
    "int",
    "list",
    "dict",
    // JavaScript and TypeScript
    "case",
    "catch",
    "default",
    "delete",
    "do",
    "export",
    "extends",
    "function",
    "instanceof",
    "new",
    "null",
    "of",
    "switch",
    "this",
    "throw",
    "typeof",
    "undefined",
    "var",
    "void",
    "interface",
    "private",
    "protected",
    "public",
    "readonly",
    "string",
    "number",
    "boolean",
    "any",
    "unknown",
    "never", // Go
    "chan",
    "defer",
    "func",
    "go",
    "goto",
    "map",
    "package",
    "range",
    "select",
    "nil",
    "err",
    "error",
    "byte",
    // Java, C#, C and C++
    "abstract",
    "final",
    "implements",
    "native",
    "throws",
    "char",
    "double",
    "float",
    "long",
    "short",
    "unsigned",
    "signed",
    "sizeof",
    "typedef",
    "union",
    "namespace",
    "template",
    "typename",
    "virtual",
    "override",
    "using",
    "auto",
    "include",
    "define",
    "ifdef",
    "ifndef",
    "endif",
    "std",
    "internal",
    "sealed",
    "out",
    "get",
    "set",
    "value",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(uri: &str, text: &str) -> Arc<FileWindows> {
        Arc::new(FileWindows::new(uri, Language::Rust, &Rope::from_str(text)))
    }

    fn path(uri: &str) -> String {
        uri.trim_start_matches("file:///p/").to_string()
    }

    /// The snippets for a cursor on the line after `above`'s last, in `current` (a URI), with
    /// lines `shown` of it shown already.
    fn found(
        above: &str,
        current: &str,
        shown: Range<usize>,
        files: &[Arc<FileWindows>],
        budget: usize,
    ) -> Vec<String> {
        let rope = Rope::from_str(above);
        let query = query(&rope, rope.len_lines() - 1);
        find(&query, current, shown, files, &path, budget)
            .into_iter()
            .map(|s| format!("{}:\n{}", s.path, s.text))
            .collect()
    }

    const HANDLER: &str = "fn on_save(backend: &Backend, params: SaveParams) {\n    \
        let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n    \
        backend.index.refresh(&snapshot);\n    backend.dirty.lock().remove(&uri);\n}\n";

    const UNRELATED: &str = "fn parse_header(line: &str) -> Option<Header> {\n    \
        let (name, rest) = line.split_once(':')?;\n    let value = rest.trim();\n    \
        Some(Header { name: name.to_lowercase(), value: value.to_string() })\n}\n";

    #[test]
    fn the_most_similar_window_of_each_file_is_found_best_first() {
        let above = "fn on_open(backend: &Backend, params: OpenParams) {\n    \
            let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n    \
            backend.index.refresh(&snapshot);\n";
        let handlers = windows("file:///p/handlers.rs", &format!("{UNRELATED}\n{HANDLER}"));
        let headers = windows("file:///p/headers.rs", UNRELATED);
        let also = windows("file:///p/also.rs", "fn on_close(backend: &Backend) {\n    let session = backend.session;\n    let index = backend.index;\n    drop((session, index));\n}\n");
        let files = [headers, also, handlers];
        expect_test::expect![[r#"
            [
                "handlers.rs:\nfn on_save(backend: &Backend, params: SaveParams) {\n    let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n    backend.index.refresh(&snapshot);\n    backend.dirty.lock().remove(&uri);\n}",
                "also.rs:\nfn on_close(backend: &Backend) {\n    let session = backend.session;\n    let index = backend.index;\n    drop((session, index));\n}",
            ]
        "#]]
        .assert_debug_eq(&found(above, "file:///p/current.rs", 0..5, &files, 1500));
        // Within budget: the best alone, then, where the best would be cut to fewer than four
        // lines, the next.
        let within = found(above, "file:///p/current.rs", 0..5, &files, 360);
        assert_eq!(within.len(), 1, "{within:?}");
        assert!(within[0].starts_with("handlers.rs:\nfn on_save(") && within[0].ends_with("\n}"), "{within:?}");
        let tight = found(above, "file:///p/current.rs", 0..5, &files, 150);
        assert_eq!(tight.len(), 1, "{tight:?}");
        assert!(tight[0].starts_with("also.rs:\nfn on_close("), "{tight:?}");
    }

    #[test]
    fn the_current_file_counts_away_from_the_lines_the_prompt_shows() {
        let filler = "\n".repeat(30);
        let current = format!("{HANDLER}{filler}fn on_open(backend: &Backend, params: OpenParams) {{\n    let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n");
        let own = windows("file:///p/current.rs", &current);
        let rope = Rope::from_str(&current);
        let cursor_line = rope.len_lines() - 1;
        let query = query(&rope, cursor_line);
        let far = find(&query, "file:///p/current.rs", cursor_line - 5..cursor_line + 1, std::slice::from_ref(&own), &path, 1500);
        assert_eq!(far.len(), 1);
        assert!(far[0].text.starts_with("fn on_save("), "{far:?}");
        // Shown already: nothing.
        let shown = find(&query, "file:///p/current.rs", 0..cursor_line + 1, &[own], &path, 1500);
        assert_eq!(shown, []);
    }

    #[test]
    fn too_little_in_common_or_too_little_above_finds_nothing() {
        let files = [windows("file:///p/headers.rs", UNRELATED)];
        let above = "fn on_open(backend: &Backend, params: OpenParams) {\n    let uri = params.text_document.uri;\n";
        assert_eq!(found(above, "file:///p/current.rs", 0..3, &files, 1500), Vec::<String>::new());
        // `parse_header`'s own first line alone is too short a query.
        assert_eq!(
            found("fn parse_header(line: &str) {\n", "file:///p/current.rs", 0..2, &files, 1500),
            Vec::<String>::new()
        );
    }

    #[test]
    fn neighbours_are_the_documents_touched_last_of_the_family_and_never_secrets() {
        let index = SimilarIndex::new();
        let open = |uri: &str, language_id: &str| {
            index.update(&crate::text::Document::unparsed(uri, language_id, 1, HANDLER).snapshot())
        };
        for i in 0..NEIGHBOURS + 5 {
            open(&format!("file:///p/f{i}.rs"), "rust");
        }
        open("file:///p/script.py", "python");
        open("file:///p/.env", "rust");
        open("file:///p/notes.txt", "plaintext");
        open("file:///p/current.rs", "rust");
        index.touch("file:///p/f0.rs");
        let uris = |n: Vec<Arc<FileWindows>>| n.iter().map(|f| path(f.uri())).collect::<Vec<_>>();
        let near = uris(index.neighbours("file:///p/current.rs", Language::Rust));
        assert_eq!(near.len(), NEIGHBOURS + 1);
        assert_eq!(near[..3], ["current.rs", "f0.rs", &format!("f{}.rs", NEIGHBOURS + 4)]);
        assert!(!near.iter().any(|u| u.contains("env") || u.contains("txt") || u.contains("py")), "{near:?}");
        assert_eq!(uris(index.neighbours("file:///p/script.py", Language::Python)), ["script.py"]);
        index.remove("file:///p/current.rs");
        assert_eq!(uris(index.neighbours("file:///p/current.rs", Language::Rust))[0], "f0.rs");
    }

    #[test]
    fn keywords_and_one_letter_names_are_not_identifiers() {
        let mut found = Vec::new();
        identifiers("pub fn send(&self, r: Request) -> Result<Response> { self.client.send(r) }", |h| found.push(h));
        let words = ["send", "Request", "Response", "client", "send"];
        assert_eq!(found, words.iter().map(|w| hash(w)).collect::<Vec<_>>());
    }

    #[test]
    fn a_window_starts_every_half_window_and_the_last_one_reaches_the_end() {
        let text: String = (0..45).map(|i| format!("let name{i} = value{i};\n")).collect();
        let file = windows("file:///p/a.rs", &text);
        assert_eq!(*file.firsts, [0, 10, 20, 30]);
        // Lines 30..46 (the last one empty): two names per line.
        assert_eq!(file.sizes[3], 30);
        let mut shared = Vec::new();
        file.count_shared(&[hash("name5"), hash("name15"), hash("value35"), hash("elsewhere")], &mut shared);
        assert_eq!(shared, [2, 1, 1, 1]);
    }
}
