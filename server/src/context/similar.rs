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
//! document ([`SimilarIndex::update`]); a request only scores them ([`SimilarIndex::find`]).
//! Only the documents touched last are candidates ([`NEIGHBOURS`]): the files the user works
//! in now, not every file they ever opened.

use std::ops::Range;
use std::sync::Mutex;

use ropey::Rope;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::nearby::name_hash;
use super::{Snippet, SnippetKind};
use crate::text::{DocumentSnapshot, Language, LanguageName};

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

/// Which documents' code can be like each other's: a parsed language's family (TypeScript
/// with JavaScript, C with C++), or a language the server does not parse, by its name (Lua
/// with Lua). Prose has none: a paragraph is no piece of code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Family(u64);

impl Family {
    pub fn of(name: &LanguageName) -> Option<Family> {
        if name.prose {
            return None;
        }
        Some(Family(match name.parsed {
            Language::PlainText => name_hash(&name.name),
            parsed => name_hash(parsed.family().name()),
        }))
    }
}

/// An open document's windows, with the text they were made from: a snippet is cut from that
/// text, so it shows exactly what was scored even when the document changed since.
#[derive(Debug)]
struct FileWindows {
    uri: String,
    rope: Rope,
    /// Which making of windows this is: a document's windows made again while a [`touch`]
    /// tokenized the old text are not mixed with that text's postings.
    ///
    /// [`touch`]: SimilarIndex::touch
    generation: u64,
    /// Each window's first line.
    firsts: Box<[u32]>,
    /// Each window's number of distinct identifiers.
    sizes: Box<[u16]>,
    /// While the document is live, its distinct identifiers: whose postings hold it, to take
    /// it out again. Empty otherwise.
    distinct: Box<[u32]>,
}

/// Each window's distinct identifiers, sorted, one window after the other, for the postings.
struct WindowTokens {
    tokens: Vec<u32>,
    /// Where each window's identifiers start in `tokens` (one more entry than windows).
    starts: Vec<u32>,
}

impl WindowTokens {
    fn window(&self, w: usize) -> &[u32] {
        &self.tokens[self.starts[w] as usize..self.starts[w + 1] as usize]
    }

    fn windows(&self) -> usize {
        self.starts.len() - 1
    }

    fn distinct(&self) -> Box<[u32]> {
        let mut distinct = self.tokens.clone();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.into_boxed_slice()
    }
}

/// Cuts `rope` into windows: each one's first line, its number of distinct identifiers, and
/// the identifiers themselves.
fn tokenize(rope: &Rope) -> (Vec<u32>, Vec<u16>, WindowTokens) {
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
    let (mut firsts, mut sizes, mut tokens, mut starts) = (Vec::new(), Vec::new(), Vec::new(), vec![0u32]);
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
            firsts.push(first as u32);
            sizes.push(window.len().min(usize::from(u16::MAX)) as u16);
            tokens.extend_from_slice(&window);
            starts.push(tokens.len() as u32);
        }
        if end >= lines {
            break;
        }
        first += STEP;
    }
    (firsts, sizes, WindowTokens { tokens, starts })
}

/// The windows of the open documents, and for the documents touched last, kept inverted: each
/// identifier's list of the windows that hold it. A request looks up only its query's
/// identifiers, a few dozen hash lookups, and visits only the windows that share one.
///
/// Only the 24 documents of each language family touched last (`LIVE`) are in the postings (they
/// are *live*): scoring looks at no other. With every open document in them, a request walked
/// the windows of 300 files that share its common names (`self`, `Result`, `new`) to count the
/// 21 it scores: 12,000 postings and 0.1 ms in the bench. A document that drops out of the
/// live ones keeps its windows, and is put back in when touched again. Before this index,
/// scoring each neighbour's windows on its own cost a cache miss per step of a search in each
/// of 21 files.
///
/// Each update takes the lock for as long as it moves the document's postings (about a
/// millisecond for a 3,000-line file, on the reindexer's blocking thread); a request takes it
/// to score, some microseconds. Neither ever holds it across an `.await`.
#[derive(Debug, Default)]
pub struct SimilarIndex {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Documents by slot; a closed document's slot is reused.
    slots: Vec<Option<FileWindows>>,
    /// Each slot's URI hash, for a document to be found by reading this list alone rather
    /// than every slot's document (a cache miss each).
    hashes: Vec<u64>,
    /// Each slot's language family, for the same reason.
    families: Vec<Family>,
    /// Whether each slot's windows are in `postings`.
    live: Vec<bool>,
    /// Slots in use, the document touched last first.
    order: Vec<u16>,
    /// Identifier hash → `slot << 16 | window` of every window of a live document that holds
    /// it. Most identifiers are in one or two windows of one file: held inline, they cost no
    /// allocation of their own.
    postings: FxHashMap<u32, SmallVec<[u32; 4]>>,
    /// The last [`FileWindows::generation`] given out.
    generation: u64,
}

/// Documents beyond this many get no windows (slot ids are u16).
const MAX_SLOTS: usize = u16::MAX as usize;

/// Documents of a family kept in the postings: the current one, [`NEIGHBOURS`] others, and a
/// few more for those that a request's `allowed` turns down (files `completion.exclude` keeps
/// completions out of).
const LIVE: usize = NEIGHBOURS + 1 + 3;

impl SimilarIndex {
    pub fn new() -> SimilarIndex {
        SimilarIndex::default()
    }

    /// Makes `doc`'s windows again (blocking: a tokenizer pass over the text, about a
    /// millisecond per 100 KiB), and counts it touched. Secrets, plain text, binary text and
    /// very large documents have none: their text is never shown to a model.
    pub fn update(&self, doc: &DocumentSnapshot) {
        let uri = doc.uri();
        let family = Family::of(&doc.language_name());
        let Some(family) = family.filter(|_| {
            !crate::secrets::uri_looks_secret(uri) && !doc.is_binary() && doc.rope().len_bytes() <= MAX_BYTES
        }) else {
            self.remove(uri);
            return;
        };
        // Made before the lock is taken: requests score meanwhile.
        let (firsts, sizes, tokens) = tokenize(doc.rope());
        let mut inner = self.lock();
        let slot = match inner.take(uri) {
            Some(slot) => slot,
            None => match inner.slots.iter().position(Option::is_none) {
                Some(free) => free,
                None if inner.slots.len() < MAX_SLOTS => {
                    inner.slots.push(None);
                    inner.hashes.push(0);
                    inner.families.push(family);
                    inner.live.push(false);
                    inner.slots.len() - 1
                }
                None => return,
            },
        };
        inner.generation += 1;
        inner.hashes[slot] = name_hash(uri);
        inner.families[slot] = family;
        inner.slots[slot] = Some(FileWindows {
            uri: uri.to_string(),
            rope: doc.rope().clone(),
            generation: inner.generation,
            firsts: firsts.into_boxed_slice(),
            sizes: sizes.into_boxed_slice(),
            distinct: Box::default(),
        });
        inner.order.insert(0, slot as u16);
        inner.go_live(slot, &tokens);
    }

    pub fn remove(&self, uri: &str) {
        let mut inner = self.lock();
        if let Some(slot) = inner.take(uri) {
            inner.slots[slot] = None;
        }
    }

    /// `uri` is being worked in (a completion was asked for in it): it stays a neighbour of
    /// the others. A document that had dropped out of the live ones has its windows'
    /// identifiers found again (outside the lock) and put back in the postings.
    pub fn touch(&self, uri: &str) {
        let hash = name_hash(uri);
        let (rope, generation) = {
            let mut inner = self.lock();
            let Some(at) = inner.position(uri, hash) else { return };
            let slot = inner.order.remove(at);
            inner.order.insert(0, slot);
            let slot = usize::from(slot);
            if inner.live[slot] {
                // Ahead of it, the others of its family each moved down by one: none dropped
                // below the live ones.
                return;
            }
            let file = inner.slots[slot].as_ref().expect("in order");
            (file.rope.clone(), file.generation)
        };
        let (_, _, tokens) = tokenize(&rope);
        let mut inner = self.lock();
        let Some(at) = inner.position(uri, hash) else { return };
        let slot = usize::from(inner.order[at]);
        // Made again or closed meanwhile: an update is live on its own.
        if inner.live[slot] || inner.slots[slot].as_ref().is_none_or(|f| f.generation != generation) {
            return;
        }
        inner.go_live(slot, &tokens);
    }

    /// Open documents with windows.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces of code most like `query` (the identifiers above the cursor), best first,
    /// within `budget` chars, at most one per file: from `current` (a URI) outside the lines
    /// `shown` (those the prompt shows around the cursor), and from the `NEIGHBOURS` (20) other
    /// documents of `family` touched last that `allowed` lets through (it gets their
    /// URIs). `path_of` gives a URI's path as prompts show it.
    #[allow(clippy::too_many_arguments)]
    pub fn find(
        &self,
        query: &[u32],
        current: &str,
        family: Family,
        shown: Range<usize>,
        allowed: &dyn Fn(&str) -> bool,
        path_of: &dyn Fn(&str) -> String,
        budget: usize,
    ) -> Vec<Snippet> {
        if query.len() < MIN_QUERY || budget == 0 {
            return Vec::new();
        }
        // The counters are u16: lines of minified code could hold more distinct names.
        let query = &query[..query.len().min(usize::from(u16::MAX))];
        let inner = self.lock();
        let hash = name_hash(current);
        // The candidates, the current document first, then by recency; each gets a range of
        // `shared`, one counter per window.
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        let mut index_of = vec![u16::MAX; inner.slots.len()];
        let mut windows = 0;
        let mut add = |slot: usize, file: &FileWindows, candidates: &mut Vec<(usize, usize)>| {
            index_of[slot] = candidates.len() as u16;
            candidates.push((slot, windows));
            windows += file.firsts.len();
        };
        let own = inner.order.iter().map(|&s| usize::from(s)).find(|&s| inner.holds(s, current, hash));
        if let Some(slot) = own.filter(|&s| inner.live[s]) {
            add(slot, inner.slots[slot].as_ref().expect("in order"), &mut candidates);
        }
        let mut others = 0;
        for &slot in &inner.order {
            let slot = usize::from(slot);
            if others == NEIGHBOURS {
                break;
            }
            if Some(slot) == own || !inner.live[slot] || inner.families[slot] != family {
                continue;
            }
            let file = inner.slots[slot].as_ref().expect("in order");
            if !allowed(&file.uri) {
                continue;
            }
            add(slot, file, &mut candidates);
            others += 1;
        }
        let mut shared = vec![0u16; windows];
        for token in query {
            let Some(ids) = inner.postings.get(token) else { continue };
            for &id in ids {
                let candidate = index_of[(id >> 16) as usize];
                if candidate != u16::MAX {
                    let (_, offset) = candidates[usize::from(candidate)];
                    shared[offset + (id & 0xffff) as usize] += 1;
                }
            }
        }
        let mut best: Vec<(f64, &FileWindows, usize)> = Vec::new();
        for (i, &(slot, offset)) in candidates.iter().enumerate() {
            let file = inner.slots[slot].as_ref().expect("a candidate");
            let is_own = i == 0 && own.is_some();
            let mut top: Option<(f64, usize)> = None;
            for (w, &count) in shared[offset..offset + file.firsts.len()].iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let first = file.firsts[w] as usize;
                if is_own && first < shown.end && shown.start < first + WINDOW_LINES {
                    continue;
                }
                let count = usize::from(count);
                // A window's size is capped at u16::MAX, so the union is kept above the count.
                let union = (query.len() + usize::from(file.sizes[w])).saturating_sub(count).max(count);
                let score = count as f64 / union as f64;
                if score >= MIN_SCORE && top.is_none_or(|(s, _)| score > s) {
                    top = Some((score, w));
                }
            }
            if let Some((score, w)) = top {
                best.push((score, file, w));
            }
        }
        // Ties go to the file touched last, which comes first.
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Whether `slot` holds `uri` (whose hash is `hash`).
    fn holds(&self, slot: usize, uri: &str, hash: u64) -> bool {
        self.hashes[slot] == hash && self.slots[slot].as_ref().is_some_and(|f| f.uri == uri)
    }

    /// Where `uri` is in `order`.
    fn position(&self, uri: &str, hash: u64) -> Option<usize> {
        self.order.iter().position(|&s| self.holds(usize::from(s), uri, hash))
    }

    /// Takes `uri` out of the postings and its slot out of the order; the slot, if it had one.
    fn take(&mut self, uri: &str) -> Option<usize> {
        let hash = name_hash(uri);
        let at = self.position(uri, hash)?;
        let slot = usize::from(self.order.remove(at));
        self.leave_postings(slot);
        Some(slot)
    }

    /// Puts `slot`'s windows, whose identifiers are `tokens`, in the postings, and takes out
    /// the document of its family that this pushes below the [`LIVE`] ones touched last.
    fn go_live(&mut self, slot: usize, tokens: &WindowTokens) {
        let file = self.slots[slot].as_mut().expect("a document");
        debug_assert_eq!(file.firsts.len(), tokens.windows());
        file.distinct = tokens.distinct();
        for w in 0..tokens.windows() {
            let id = (slot as u32) << 16 | w as u32;
            for &token in tokens.window(w) {
                self.postings.entry(token).or_default().push(id);
            }
        }
        self.live[slot] = true;
        let family = self.families[slot];
        let mut rank = 0;
        let mut beyond = None;
        for &other in &self.order {
            let other = usize::from(other);
            if self.families[other] != family {
                continue;
            }
            if rank >= LIVE && self.live[other] {
                beyond = Some(other);
                break;
            }
            rank += 1;
        }
        if let Some(other) = beyond {
            self.leave_postings(other);
        }
    }

    fn leave_postings(&mut self, slot: usize) {
        if !std::mem::take(&mut self.live[slot]) {
            return;
        }
        let file = self.slots[slot].as_mut().expect("a live document");
        for &token in std::mem::take(&mut file.distinct).iter() {
            if let Some(ids) = self.postings.get_mut(&token) {
                ids.retain(|id| (*id >> 16) as usize != slot);
                if ids.is_empty() {
                    self.postings.remove(&token);
                }
            }
        }
    }
}

/// The request's side: the identifiers of the [`WINDOW_LINES`] complete lines above the
/// cursor's line. The cursor's own line is left out, so the query, and with it this part of
/// the prompt, stays the same while the user types on one line.
pub fn query(rope: &Rope, cursor_line: usize) -> Vec<u32> {
    let last = cursor_line.min(rope.len_lines());
    let first = cursor_line.saturating_sub(WINDOW_LINES).min(last);
    let mut tokens = Vec::with_capacity(128);
    // One slice for all the lines: looking each line up on its own rescanned its chunk for
    // line breaks, most of the query's time.
    for chunk in rope.slice(rope.line_to_char(first)..rope.line_to_char(last)).chunks() {
        identifiers(chunk, |hash| tokens.push(hash));
    }
    tokens.sort_unstable();
    tokens.dedup();
    tokens
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
    let keywords = Keywords::get();
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
            if !keywords.contains(hash) {
                f(hash);
            }
        }
    }
}

fn hash(word: &str) -> u32 {
    let h = name_hash(word);
    (h ^ (h >> 32)) as u32
}

/// [`KEYWORDS`]' hashes in an open-addressed table of 1,024 slots (a quarter full, so a word
/// is mostly decided by one slot): every word of every window is looked up here, and a binary
/// search of the sorted hashes took half the tokenizer's time.
struct Keywords {
    slots: Box<[u32; KEYWORD_SLOTS]>,
}

const KEYWORD_SLOTS: usize = 1024;

impl Keywords {
    fn get() -> &'static Keywords {
        static TABLE: std::sync::OnceLock<Keywords> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            let mut slots = Box::new([0u32; KEYWORD_SLOTS]);
            for keyword in KEYWORDS {
                let hash = hash(keyword);
                let mut at = Keywords::home(hash);
                while slots[at] != 0 && slots[at] != hash {
                    at = (at + 1) % KEYWORD_SLOTS;
                }
                slots[at] = hash;
            }
            Keywords { slots }
        })
    }

    fn home(hash: u32) -> usize {
        (hash >> 22) as usize
    }

    /// Whether a word of this hash is a keyword. A hash of 0 marks an empty slot: a word that
    /// hashes to it is never taken for one.
    fn contains(&self, hash: u32) -> bool {
        let mut at = Keywords::home(hash);
        loop {
            match self.slots[at] {
                0 => return false,
                h if h == hash => return true,
                _ => at = (at + 1) % KEYWORD_SLOTS,
            }
        }
    }
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
    // Ruby, PHP, Kotlin, Swift, Lua and shell scripts
    "end",
    "elsif",
    "unless",
    "until",
    "then",
    "begin",
    "rescue",
    "ensure",
    "module",
    "require",
    "require_relative",
    "attr_reader",
    "attr_accessor",
    "puts",
    "when",
    "proc",
    "echo",
    "foreach",
    "elseif",
    "php",
    "isset",
    "fun",
    "val",
    "companion",
    "lateinit",
    "it",
    "println",
    "guard",
    "extension",
    "protocol",
    "inout",
    "weak",
    "lazy",
    "local",
    "repeat",
    "fi",
    "done",
    "esac",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Document;

    /// An index of `files` (URI, text), opened in that order (the last one touched last).
    fn index_of(files: &[(&str, &str)]) -> SimilarIndex {
        let index = SimilarIndex::new();
        for (uri, text) in files {
            index.update(&Document::unparsed(uri, "", 1, text).snapshot());
        }
        index
    }

    fn rust() -> Family {
        Family::of(&Language::Rust.into()).unwrap()
    }

    fn path(uri: &str) -> String {
        uri.trim_start_matches("file:///p/").to_string()
    }

    /// The snippets for a cursor on the line after `above`'s last, in `current` (a URI), with
    /// lines `shown` of it shown already.
    fn found(above: &str, current: &str, shown: Range<usize>, index: &SimilarIndex, budget: usize) -> Vec<String> {
        let rope = Rope::from_str(above);
        let query = query(&rope, rope.len_lines() - 1);
        index
            .find(&query, current, rust(), shown, &|_| true, &path, budget)
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

    const ON_OPEN: &str = "fn on_open(backend: &Backend, params: OpenParams) {\n    \
        let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n    \
        backend.index.refresh(&snapshot);\n";

    #[test]
    fn the_most_similar_window_of_each_file_is_found_best_first() {
        let handlers = format!("{UNRELATED}\n{HANDLER}");
        let also = "fn on_close(backend: &Backend) {\n    let session = backend.session;\n    let index = backend.index;\n    drop((session, index));\n}\n";
        let index = index_of(&[
            ("file:///p/handlers.rs", &handlers),
            ("file:///p/headers.rs", UNRELATED),
            ("file:///p/also.rs", also),
        ]);
        expect_test::expect![[r#"
            [
                "handlers.rs:\nfn on_save(backend: &Backend, params: SaveParams) {\n    let uri = params.text_document.uri;\n    let snapshot = backend.session.snapshot(&uri);\n    backend.index.refresh(&snapshot);\n    backend.dirty.lock().remove(&uri);\n}",
                "also.rs:\nfn on_close(backend: &Backend) {\n    let session = backend.session;\n    let index = backend.index;\n    drop((session, index));\n}",
            ]
        "#]]
        .assert_debug_eq(&found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 1500));
        // Within budget: the best alone, then, where the best would be cut to fewer than four
        // lines, the next.
        let within = found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 360);
        assert_eq!(within.len(), 1, "{within:?}");
        assert!(within[0].starts_with("handlers.rs:\nfn on_save(") && within[0].ends_with("\n}"), "{within:?}");
        let tight = found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 150);
        assert_eq!(tight.len(), 1, "{tight:?}");
        assert!(tight[0].starts_with("also.rs:\nfn on_close("), "{tight:?}");
        // Edited into something else, closed: no longer found.
        index.update(&Document::unparsed("file:///p/handlers.rs", "", 2, UNRELATED).snapshot());
        index.remove("file:///p/also.rs");
        assert_eq!(found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 1500), Vec::<String>::new());
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn the_current_file_counts_away_from_the_lines_the_prompt_shows() {
        let filler = "\n".repeat(30);
        let current = format!("{HANDLER}{filler}{ON_OPEN}");
        let index = index_of(&[("file:///p/current.rs", &current)]);
        let cursor_line = Rope::from_str(&current).len_lines() - 1;
        let far = found(&current, "file:///p/current.rs", cursor_line - 5..cursor_line + 1, &index, 1500);
        assert_eq!(far.len(), 1);
        assert!(far[0].starts_with("current.rs:\nfn on_save("), "{far:?}");
        // Shown already: nothing.
        assert_eq!(found(&current, "file:///p/current.rs", 0..cursor_line + 1, &index, 1500), Vec::<String>::new());
    }

    #[test]
    fn too_little_in_common_or_too_little_above_finds_nothing() {
        let index = index_of(&[("file:///p/headers.rs", UNRELATED)]);
        let above = "fn on_open(backend: &Backend, params: OpenParams) {\n    let uri = params.text_document.uri;\n";
        assert_eq!(found(above, "file:///p/current.rs", 0..3, &index, 1500), Vec::<String>::new());
        // `parse_header`'s own first line alone is too short a query.
        assert_eq!(
            found("fn parse_header(line: &str) {\n", "file:///p/current.rs", 0..2, &index, 1500),
            Vec::<String>::new()
        );
    }

    #[test]
    fn candidates_are_the_documents_touched_last_of_the_family_allowed_and_never_secrets() {
        let mut files: Vec<(String, &str)> =
            (0..NEIGHBOURS + 5).map(|i| (format!("file:///p/f{i}.rs"), HANDLER)).collect();
        let others = [
            "file:///p/script.py",
            "file:///p/tool.rb",
            "file:///p/.env",
            "file:///p/secrets.rs",
            "file:///p/notes.txt",
        ];
        for uri in others.into_iter().chain(["file:///p/README.md"]) {
            files.push((uri.to_string(), HANDLER));
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(u, t)| (u.as_str(), *t)).collect();
        let index = index_of(&files);
        index.touch("file:///p/f0.rs");
        let rope = Rope::from_str(ON_OPEN);
        let query = query(&rope, rope.len_lines() - 1);
        let found = |allowed: &dyn Fn(&str) -> bool| -> Vec<String> {
            let snippets = index.find(&query, "file:///p/current.rs", rust(), 0..5, allowed, &path, usize::MAX / 2);
            snippets.into_iter().map(|s| s.path).collect()
        };
        // All alike: ties go to the one touched last.
        let all = found(&|_| true);
        assert_eq!(all.len(), NEIGHBOURS, "{all:?}");
        assert_eq!(all[..2], ["f0.rs", &format!("f{}.rs", NEIGHBOURS + 4)]);
        assert!(
            !all.iter().any(|u| ["env", "secrets", "txt", "py", "rb", "md"].iter().any(|x| u.contains(x))),
            "{all:?}"
        );
        assert!(!all.contains(&"f1.rs".to_string()), "touched before the last 20: {all:?}");
        // What `allowed` turns down makes room for the next.
        let some = found(&|uri| !uri.ends_with("f0.rs"));
        assert_eq!(some.len(), NEIGHBOURS);
        assert!(!some.contains(&"f0.rs".to_string()) && some.contains(&"f5.rs".to_string()), "{some:?}");
        assert_eq!(
            index.len(),
            NEIGHBOURS + 7,
            "the Python and Ruby files have windows, the secrets, plain text and Markdown none"
        );
    }

    /// The postings hold the windows of the live documents and nothing else; each family has
    /// at most [`LIVE`] of them, all among its [`LIVE`] touched last.
    fn check_postings(index: &SimilarIndex) {
        let inner = index.lock();
        let mut expected = std::collections::HashMap::new();
        for (slot, file) in inner.slots.iter().enumerate() {
            let Some(file) = file else { continue };
            if inner.live[slot] {
                let (_, _, tokens) = tokenize(&file.rope);
                for w in 0..tokens.windows() {
                    for &t in tokens.window(w) {
                        expected.entry(t).or_insert_with(Vec::new).push((slot as u32) << 16 | w as u32);
                    }
                }
            }
        }
        let mut actual: std::collections::HashMap<u32, Vec<u32>> =
            inner.postings.iter().map(|(t, ids)| (*t, ids.to_vec())).collect();
        for ids in expected.values_mut().chain(actual.values_mut()) {
            ids.sort_unstable();
        }
        assert_eq!(actual, expected);
        let mut ranks = std::collections::HashMap::new();
        for &slot in &inner.order {
            let rank = ranks.entry(inner.families[usize::from(slot)]).or_insert(0);
            assert!(!inner.live[usize::from(slot)] || *rank < LIVE, "a live document beyond the live ones");
            *rank += 1;
        }
    }

    #[test]
    fn only_the_documents_touched_last_are_in_the_postings_and_an_older_one_comes_back_when_touched() {
        let mut files: Vec<(String, &str)> = vec![("file:///p/old.rs".to_string(), HANDLER)];
        files.push(("file:///p/tool.py".to_string(), "def on_save(backend, params):\n    uri = params.uri\n"));
        for i in 0..LIVE + 3 {
            files.push((format!("file:///p/f{i}.rs"), UNRELATED));
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(u, t)| (u.as_str(), *t)).collect();
        let index = index_of(&files);
        check_postings(&index);
        assert_eq!(index.len(), LIVE + 5, "every open document keeps its windows");
        {
            let inner = index.lock();
            let live = |uri: &str| inner.slots.iter().position(|f| f.as_ref().is_some_and(|f| f.uri == uri));
            assert!(!inner.live[live("file:///p/old.rs").unwrap()], "Rust documents opened since pushed it out");
            assert!(inner.live[live("file:///p/tool.py").unwrap()], "Rust documents do not push out Python ones");
        }
        // Touched again, the old document is found again, and the one it pushes out is not.
        index.touch("file:///p/old.rs");
        check_postings(&index);
        assert_eq!(
            found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 1500)[0],
            format!("old.rs:\n{}", HANDLER.trim_end())
        );
        // Made again, closed: still only the live ones.
        index.update(&Document::unparsed("file:///p/f0.rs", "", 2, HANDLER).snapshot());
        check_postings(&index);
        index.remove("file:///p/old.rs");
        check_postings(&index);
        assert_eq!(
            found(ON_OPEN, "file:///p/current.rs", 0..5, &index, 1500)[0],
            format!("f0.rs:\n{}", HANDLER.trim_end())
        );
    }

    #[test]
    fn lines_of_minified_code_with_more_names_than_the_counters_hold_find_nothing_and_do_not_panic() {
        let names: String = (0..70_000).map(|i| format!("n{i} ")).collect();
        let text = format!("{names}\n{names}\n");
        let index = index_of(&[("file:///p/bundle.rs", &text)]);
        assert_eq!(found(&text, "file:///p/current.rs", 0..3, &index, 1500), Vec::<String>::new());
    }

    #[test]
    fn keywords_and_one_letter_names_are_not_identifiers() {
        let mut found = Vec::new();
        identifiers("pub fn send(&self, r: Request) -> Result<Response> { self.client.send(r) }", |h| found.push(h));
        let words = ["send", "Request", "Response", "client", "send"];
        assert_eq!(found, words.iter().map(|w| hash(w)).collect::<Vec<_>>());
        // Every keyword is in the table (none hashes to the empty slot's 0), and names are not.
        for keyword in KEYWORDS {
            assert!(hash(keyword) != 0 && Keywords::get().contains(hash(keyword)), "{keyword}");
        }
        let names = (0..5000).map(|i| format!("name{i}"));
        assert!(names.filter(|n| Keywords::get().contains(hash(n))).count() == 0);
    }

    #[test]
    fn a_window_starts_every_half_window_and_the_last_one_reaches_the_end() {
        let text: String = (0..45).map(|i| format!("let name{i} = value{i};\n")).collect();
        let (firsts, sizes, tokens) = tokenize(&Rope::from_str(&text));
        assert_eq!(firsts, [0, 10, 20, 30]);
        // Lines 30..46 (the last one empty): two names per line.
        assert_eq!(sizes[3], 30);
        assert!(tokens.window(3).contains(&hash("value35")) && tokens.window(2).contains(&hash("value35")));
        assert!(!tokens.window(1).contains(&hash("value35")));
        assert_eq!(tokens.distinct().len(), 90);
    }
}
