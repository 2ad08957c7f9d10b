//! An open document: its text as a rope, its syntax tree kept up to date incrementally, and
//! cheap immutable snapshots of both for background work.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use ropey::Rope;
use tree_sitter::{InputEdit, Tree};

use super::line_ending::{LineBreaks, LineEnding};
use super::position::{self, LineCol, PositionEncoding, TextRange};
use super::syntax::{self, Language};

/// Documents larger than this are kept as text but never parsed: tree-sitter's time and memory
/// grow with the file, and such files (generated code, bundles, data) gain little from a tree.
pub const PARSE_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// One entry of `didChange`'s `contentChanges`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextChange {
    /// `None` replaces the whole text.
    pub range: Option<TextRange>,
    pub text: String,
}

impl TextChange {
    pub fn replace(range: TextRange, text: impl Into<String>) -> Self {
        TextChange { range: Some(range), text: text.into() }
    }

    pub fn full(text: impl Into<String>) -> Self {
        TextChange { range: None, text: text.into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditOutcome {
    /// The new version did not increase: the changes were applied anyway (the editor's text is
    /// the truth), and the caller logs it.
    pub out_of_order: bool,
}

/// The file's top-level import statements, as the completion context finds them (see
/// `context::scope`): worked out on first use and kept by [`Document::edit`] for as long as the
/// edits start after `scanned_to`, which leaves every statement the scan looked at as it was.
/// Nearly every keystroke lands below a file's imports, so the next completion finds them ready
/// instead of stepping through the top level again (about a third of the context's time on a
/// 3,000-line file).
#[derive(Debug, Default)]
pub struct TopImports {
    /// Byte offset of the end of the last top-level statement the scan looked at;
    /// `usize::MAX` when it reached the end of the file (an edit anywhere may add an import).
    pub scanned_to: usize,
    /// Each import statement's byte range, and its text from the start of its line.
    pub imports: Vec<(Range<usize>, String)>,
    /// The names these imports bind to whole modules (`import * as vscode`, `import os`), each
    /// with the module's own name: the last element of its path (`import numpy as np`:
    /// `("np", "numpy")`; `import * as S from "./schema"`: `("S", "schema")`).
    pub modules: Vec<(String, String)>,
    /// The lower-case names a Python `from pkg import name` binds, each with the name imported
    /// (`from app import helpers as h`: `("h", "helpers")`). Such a name is a module as often as
    /// a definition; the workspace's files tell which.
    pub maybe_modules: Vec<(String, String)>,
    /// The names an import binds to a definition under another name, each with the name the
    /// definition has (`use crate::proxy::Matcher as ProxyMatcher`: `("ProxyMatcher",
    /// "Matcher")`; `import { Client as HttpClient }`; `from .client import Client as C`).
    pub renames: Vec<Rename>,
}

/// A name an import binds to a definition under another name: see [`TopImports::renames`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rename {
    pub alias: String,
    /// The definition's own name.
    pub name: String,
    /// The module the import names, by its last element (`proxy` of `crate::proxy::Matcher`,
    /// `client` of `"./net/client"`), when it names one.
    pub module: Option<String>,
}

/// An immutable view of a document at one version. Cloning is cheap (the rope shares its
/// nodes, the tree is reference counted), so background tasks take one instead of locking.
#[derive(Clone)]
pub struct DocumentSnapshot {
    uri: Arc<str>,
    /// As the editor named it (`markdown`, `typescriptreact`); empty when it gave none.
    language_id: Arc<str>,
    language: Language,
    version: i32,
    rope: Rope,
    tree: Option<Tree>,
    binary: bool,
    too_large: bool,
    /// Kept up to date edit by edit ([`Document::edit`]): a request never rescans the text.
    line_breaks: LineBreaks,
    /// Shared with the document (and its other snapshots) while it stays valid.
    imports: Arc<OnceLock<TopImports>>,
    /// Which text this is, unique among every text of every document of the process
    /// ([`next_revision`]): new at each open and each edit. Versions cannot tell texts apart: a
    /// document reopened starts again at the editor's first version, and editors are not
    /// trusted to increase them.
    revision: u64,
}

/// A revision no text had before (see [`DocumentSnapshot::revision`]).
fn next_revision() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl std::fmt::Debug for DocumentSnapshot {
    // Never the text: documents can hold secrets, and a Debug print ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentSnapshot")
            .field("uri", &self.uri)
            .field("language_id", &self.language_id)
            .field("language", &self.language)
            .field("version", &self.version)
            .field("bytes", &self.rope.len_bytes())
            .field("has_tree", &self.tree.is_some())
            .field("binary", &self.binary)
            .field("too_large", &self.too_large)
            .finish()
    }
}

impl DocumentSnapshot {
    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    /// Equal for two snapshots only when they hold the same text of the same opening of the
    /// document: what a check that the text did not change since a snapshot was taken compares.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The editor's name for the language, which users' settings use (`completion.languages`).
    pub fn language_id(&self) -> &str {
        &self.language_id
    }

    /// What prompts call the document's language, also when the server does not parse it.
    pub fn language_name(&self) -> super::LanguageName {
        super::LanguageName::of(self.language, &self.language_id, &self.uri)
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// The document's line break, by the majority of its breaks; kept current edit by edit.
    pub fn line_ending(&self) -> LineEnding {
        self.line_breaks.majority()
    }

    /// How many line breaks of each kind the document has.
    pub fn line_breaks(&self) -> LineBreaks {
        self.line_breaks
    }

    /// `None` for plain text, binary and too-large documents.
    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// See [`TopImports`]: filled by whoever needs it first, from this snapshot's tree.
    pub fn top_imports(&self) -> &OnceLock<TopImports> {
        &self.imports
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// A NUL character was seen in the text: such files are never sent to a model.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// Has no tree though its language has a grammar: the document's reparse is pending, its
    /// tree was freed, or it was never parsed (or its grammar gave up on it).
    pub fn lacks_tree(&self) -> bool {
        self.tree.is_none() && !self.binary && !self.too_large && self.language.grammar().is_some()
    }

    /// Over [`PARSE_LIMIT_BYTES`]: kept as text, without a tree.
    pub fn is_too_large(&self) -> bool {
        self.too_large
    }

    /// Number of lines as the editor counts them (a trailing line break starts an empty line).
    pub fn len_lines(&self) -> usize {
        self.rope.len_lines()
    }

    pub fn len_chars(&self) -> usize {
        self.rope.len_chars()
    }

    /// The content of line `n` without its line break; empty past the last line.
    pub fn line(&self, n: usize) -> String {
        if n >= self.rope.len_lines() {
            return String::new();
        }
        let start = self.rope.line_to_char(n);
        let end = position::line_content_end(&self.rope, n);
        String::from(self.rope.slice(start..end))
    }

    /// The text of a char range, clamped to the document (and normalised if reversed).
    pub fn slice(&self, chars: Range<usize>) -> String {
        let len = self.rope.len_chars();
        let (a, b) = (chars.start.min(chars.end), chars.start.max(chars.end));
        String::from(self.rope.slice(a.min(len)..b.min(len)))
    }

    /// See [`position::char_index`].
    pub fn char_index(&self, pos: LineCol, enc: PositionEncoding) -> usize {
        position::char_index(&self.rope, pos, enc)
    }

    /// See [`position::line_col`].
    pub fn line_col(&self, char_idx: usize, enc: PositionEncoding) -> LineCol {
        position::line_col(&self.rope, char_idx, enc)
    }

    /// See [`position::char_range`].
    pub fn char_range(&self, range: TextRange, enc: PositionEncoding) -> Range<usize> {
        position::char_range(&self.rope, range, enc)
    }

    /// See [`position::text_range`].
    pub fn text_range(&self, chars: Range<usize>, enc: PositionEncoding) -> TextRange {
        position::text_range(&self.rope, chars, enc)
    }

    pub fn byte_to_char(&self, byte: usize) -> usize {
        position::byte_to_char(&self.rope, byte)
    }

    pub fn char_to_byte(&self, char_idx: usize) -> usize {
        position::char_to_byte(&self.rope, char_idx)
    }

    /// The editor range of a byte range, e.g. a tree-sitter node's.
    pub fn byte_range_to_text_range(&self, bytes: Range<usize>, enc: PositionEncoding) -> TextRange {
        let chars = position::byte_range_to_chars(&self.rope, bytes);
        position::text_range(&self.rope, chars, enc)
    }
}

/// A document open in the editor. Owned by one place (the document store); everything else
/// works on [`DocumentSnapshot`]s.
pub struct Document {
    snap: DocumentSnapshot,
    /// NUL chars in the text, kept so that deleting the last one clears `binary` without a scan.
    nul_chars: usize,
    /// A parse ran over its time budget: the grammar is stuck on this text. Editing on would
    /// pay the budget on every keystroke, so the document stays plain text until its whole
    /// text is replaced.
    parse_gave_up: bool,
    /// The last tree, [`Tree::edit`]ed to match the current text but not reparsed yet (see
    /// [`Document::edit`]). Never handed out: only the next parse reads it, to reuse subtrees.
    stale: Option<Tree>,
    /// Counts edits, so that a parse finished elsewhere is installed only on the text it was
    /// made from (versions may repeat: editors are not trusted to increase them).
    edits: u64,
}

/// The work of bringing a document's tree up to date, taken out of the document so that it can
/// run without holding whatever lock guards the document; see [`Document::take_parse_job`].
pub struct ParseJob {
    language: Language,
    rope: Rope,
    stale: Option<Tree>,
    edits: u64,
}

impl ParseJob {
    /// Parses, incrementally from the stale tree when there is one. Blocking: from a few
    /// microseconds to tens of milliseconds (a whole file from scratch), within the parse budget.
    pub fn run(self) -> ParsedJob {
        let tree = syntax::parse(self.language, &self.rope, self.stale.as_ref());
        ParsedJob { tree, edits: self.edits }
    }
}

/// The result of a [`ParseJob`], for [`Document::install`]. Its tree is `None` when the parse
/// was abandoned (over its time budget).
pub struct ParsedJob {
    tree: Option<Tree>,
    edits: u64,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snap.fmt(f)
    }
}

impl Document {
    /// A document with its tree parsed now.
    pub fn new(uri: &str, language_id: &str, version: i32, text: &str) -> Document {
        let mut doc = Document::unparsed(uri, language_id, version, text);
        doc.ensure_tree();
        doc
    }

    /// A document whose tree is parsed only when first asked for ([`Document::ensure_tree`]):
    /// most documents an editor opens are never completed in, and a tree costs about 40 bytes
    /// per byte of code.
    pub fn unparsed(uri: &str, language_id: &str, version: i32, text: &str) -> Document {
        let language = Language::detect(language_id, uri);
        let rope = Rope::from_str(text);
        let nul_chars = text.bytes().filter(|&b| b == 0).count();
        let line_breaks = LineBreaks::of(text);
        let mut doc = Document {
            snap: DocumentSnapshot {
                uri: Arc::from(uri),
                language_id: Arc::from(language_id.trim()),
                language,
                version,
                rope,
                tree: None,
                binary: false,
                too_large: false,
                line_breaks,
                imports: Arc::default(),
                revision: next_revision(),
            },
            nul_chars,
            parse_gave_up: false,
            stale: None,
            edits: 0,
        };
        doc.refresh_flags();
        doc
    }

    /// The document as it would be with `chars` replaced by `text`, its tree brought up to date
    /// (incrementally from `snap`'s, when it has one); `snap`'s own document is untouched. For
    /// the text a suggestion leaves once accepted (see `CompletionEngine::speculate`). Blocking:
    /// a reparse.
    pub fn replaced(snap: &DocumentSnapshot, chars: Range<usize>, text: &str) -> DocumentSnapshot {
        let rope = &snap.rope;
        let mut doc = Document {
            snap: snap.clone(),
            nul_chars: rope.bytes().filter(|&b| b == 0).count(),
            parse_gave_up: false,
            stale: None,
            edits: 0,
        };
        let end = chars.end.min(rope.len_chars());
        let range = snap.text_range(chars.start.min(end)..end, PositionEncoding::Utf32);
        doc.edit(snap.version, &[TextChange::replace(range, text)], PositionEncoding::Utf32);
        doc.ensure_tree();
        doc.snapshot()
    }

    /// Applies LSP-style changes in order, each relative to the text left by the previous one,
    /// and brings the tree up to date: [`Document::edit`] then [`Document::ensure_tree`].
    pub fn apply_changes(&mut self, version: i32, changes: &[TextChange], enc: PositionEncoding) -> EditOutcome {
        let outcome = self.edit(version, changes, enc);
        self.ensure_tree();
        outcome
    }

    /// Applies LSP-style changes in order, each relative to the text left by the previous one.
    /// Positions are clamped (see [`position`]), so a stale or bogus range edits the nearest
    /// valid place instead of failing or dropping text.
    ///
    /// The syntax tree is edited for every change but not reparsed: that waits for the next
    /// [`Document::ensure_tree`] (or [`Document::take_parse_job`]), so a burst of keystrokes
    /// costs one incremental reparse when a feature needs the tree, not one per key. Until then
    /// the document has no tree to hand out, never a stale one.
    pub fn edit(&mut self, version: i32, changes: &[TextChange], enc: PositionEncoding) -> EditOutcome {
        let out_of_order = version <= self.snap.version;
        if changes.is_empty() {
            // A version bump alone: the tree still matches the text.
            self.snap.version = version;
            return EditOutcome { out_of_order };
        }
        let mut tree = self.snap.tree.take().or_else(|| self.stale.take());
        // The text before this byte is the same as before the changes.
        let mut unchanged_before = usize::MAX;
        for change in changes {
            let rope = &self.snap.rope;
            let chars = match change.range {
                Some(range) => position::char_range(rope, range, enc),
                None => {
                    // Nothing of the old tree survives a full replacement: parse from scratch.
                    tree = None;
                    self.parse_gave_up = false;
                    0..rope.len_chars()
                }
            };
            unchanged_before = unchanged_before.min(self.snap.rope.char_to_byte(chars.start));
            let edit = self.replace(chars, &change.text, tree.is_some());
            if let (Some(tree), Some(edit)) = (tree.as_mut(), edit) {
                tree.edit(&edit);
            }
        }
        if self.snap.imports.get().is_none_or(|found| unchanged_before <= found.scanned_to) {
            // A snapshot of the old text may still fill or read the old cell.
            self.snap.imports = Arc::default();
        }
        self.snap.version = version;
        self.snap.revision = next_revision();
        self.edits += 1;
        self.stale = tree;
        self.refresh_flags();
        EditOutcome { out_of_order }
    }

    /// Replaces a char range of the rope, keeping the counters current; returns the matching
    /// tree-sitter edit when `want_edit`.
    fn replace(&mut self, chars: Range<usize>, text: &str, want_edit: bool) -> Option<InputEdit> {
        let snap = &mut self.snap;
        let rope = &mut snap.rope;
        // A '\r' just before the range is given to tree-sitter as '\n' when lone (see
        // `syntax::chunk_from`), and the edit may change whether it is: the tree's edit starts at
        // it, so that it is read again.
        let edit_start = rope.char_to_byte(chars.start);
        let start_byte = match edit_start.checked_sub(1) {
            Some(before) if rope.get_byte(before) == Some(b'\r') => before,
            _ => edit_start,
        };
        let old_end_byte = rope.char_to_byte(chars.end);
        let points = want_edit.then(|| {
            let no_lone_cr = snap.line_breaks.cr == 0;
            (syntax::point_at_byte(rope, start_byte, no_lone_cr), syntax::point_at_byte(rope, old_end_byte, no_lone_cr))
        });

        // The char before the range may be a '\r' whose follower changes, and the char after it
        // a '\n' whose predecessor changes: hence the window reaches one char past each end.
        let window_start = chars.start.saturating_sub(1);
        let breaks_before = LineBreaks::in_rope(rope, window_start..chars.end + 1);
        let nul_removed = rope.slice(chars.clone()).chars().filter(|&c| c == '\0').count();
        rope.remove(chars.clone());
        rope.insert(chars.start, text);
        let inserted_chars = text.chars().count();
        let breaks_after = LineBreaks::in_rope(rope, window_start..chars.start + inserted_chars + 1);
        // The counts are exact, so these never saturate; saturating keeps a bug from panicking.
        snap.line_breaks = snap.line_breaks.changed(breaks_before, breaks_after);
        let nul_added = text.bytes().filter(|&b| b == 0).count();
        self.nul_chars = (self.nul_chars + nul_added).saturating_sub(nul_removed);

        let (start_position, old_end_position) = points?;
        let new_end_byte = edit_start + text.len();
        Some(InputEdit {
            start_byte,
            old_end_byte,
            new_end_byte,
            start_position,
            old_end_position,
            new_end_position: syntax::point_at_byte(rope, new_end_byte, snap.line_breaks.cr == 0),
        })
    }

    fn refresh_flags(&mut self) {
        let snap = &mut self.snap;
        snap.binary = self.nul_chars > 0;
        snap.too_large = snap.rope.len_bytes() > PARSE_LIMIT_BYTES;
        if !self.wants_tree() {
            self.stale = None;
        }
    }

    /// Whether this document is parsed at all: a grammar, text, not too large, and the grammar
    /// has not given up on it.
    fn wants_tree(&self) -> bool {
        let snap = &self.snap;
        !(snap.binary || snap.too_large || self.parse_gave_up) && snap.language.grammar().is_some()
    }

    pub fn uri(&self) -> &str {
        self.snap.uri()
    }

    pub fn version(&self) -> i32 {
        self.snap.version
    }

    pub fn language(&self) -> Language {
        self.snap.language
    }

    pub fn rope(&self) -> &Rope {
        &self.snap.rope
    }

    pub fn tree(&self) -> Option<&Tree> {
        self.snap.tree.as_ref()
    }

    pub fn text(&self) -> String {
        self.snap.text()
    }

    /// Frees the syntax tree (the largest part of a document: about 40 bytes per byte of
    /// code). The next [`Document::ensure_tree`] parses from scratch.
    pub fn drop_tree(&mut self) {
        self.snap.tree = None;
        self.stale = None;
    }

    /// Holds a tree, up to date or waiting for its reparse: what counts against memory.
    pub fn has_tree(&self) -> bool {
        self.snap.tree.is_some() || self.stale.is_some()
    }

    /// The tree is missing or behind the text, and a parse would bring it.
    pub fn needs_parse(&self) -> bool {
        self.snap.tree.is_none() && self.wants_tree()
    }

    /// Brings the tree up to date: incrementally after [`Document::edit`], from scratch after
    /// [`Document::drop_tree`] or for a document opened [`Document::unparsed`]. A no-op when
    /// the tree is current or the document is not parsed at all (plain text, binary, too
    /// large, or the grammar gave up). Returns whether it parsed.
    pub fn ensure_tree(&mut self) -> bool {
        match self.take_parse_job() {
            Some(job) => {
                let parsed = job.run();
                self.install(parsed);
                self.snap.tree.is_some()
            }
            None => false,
        }
    }

    /// The parse [`Document::ensure_tree`] would do, to run elsewhere (off a lock, or off the
    /// thread that reads the editor's messages); give its result to [`Document::install`].
    /// `None` when there is nothing to parse.
    pub fn take_parse_job(&mut self) -> Option<ParseJob> {
        if !self.needs_parse() {
            return None;
        }
        Some(ParseJob {
            language: self.snap.language,
            rope: self.snap.rope.clone(),
            // A clone (reference counted): the document keeps it in case this job is dropped.
            stale: self.stale.clone(),
            edits: self.edits,
        })
    }

    /// Installs the result of a [`ParseJob`] if the text has not changed since the job was
    /// taken (a later edit makes it useless; the next job starts from the edited stale tree).
    /// Returns whether it was installed.
    pub fn install(&mut self, parsed: ParsedJob) -> bool {
        if parsed.edits != self.edits || !self.needs_parse() {
            return false;
        }
        match parsed.tree {
            Some(tree) => {
                self.snap.tree = Some(tree);
                self.stale = None;
            }
            None => {
                tracing::warn!(uri = %self.snap.uri, "no syntax tree for this document; it is treated as plain text until its whole text is replaced");
                self.parse_gave_up = true;
                self.stale = None;
            }
        }
        true
    }

    pub fn snapshot(&self) -> DocumentSnapshot {
        self.snap.clone()
    }

    /// Whether a parse ran over its budget and the document is kept as plain text (see
    /// `parse_gave_up`).
    pub fn gave_up_parsing(&self) -> bool {
        self.parse_gave_up
    }

    /// The current state without cloning, for the read helpers of [`DocumentSnapshot`].
    pub fn as_snapshot(&self) -> &DocumentSnapshot {
        &self.snap
    }

    /// NUL character seen in the text: such files are never sent to a model.
    pub fn is_binary(&self) -> bool {
        self.snap.binary
    }

    /// Over [`PARSE_LIMIT_BYTES`]: kept as text, no tree.
    pub fn is_too_large(&self) -> bool {
        self.snap.too_large
    }
}

#[cfg(test)]
mod tests {
    use super::PositionEncoding::{Utf16, Utf32, Utf8};
    use super::*;

    fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Option<TextRange> {
        Some(TextRange::new(LineCol::new(l1, c1), LineCol::new(l2, c2)))
    }

    fn change(range: Option<TextRange>, text: &str) -> TextChange {
        TextChange { range, text: text.to_string() }
    }

    /// Applies one change and checks the text, and that the tree still matches a fresh parse.
    #[track_caller]
    fn check_edit(before: &str, enc: PositionEncoding, change: TextChange, after: &str) {
        let mut doc = Document::new("file:///t.rs", "rust", 1, before);
        doc.apply_changes(2, &[change], enc);
        assert_eq!(doc.text(), after);
        assert_same_tree(&doc);
    }

    #[track_caller]
    fn assert_same_tree(doc: &Document) {
        let fresh = Document::new(doc.uri(), "", 0, &doc.text());
        let (Some(a), Some(b)) = (doc.tree(), fresh.tree()) else {
            panic!("both documents should have a tree");
        };
        assert_eq!(a.root_node().to_sexp(), b.root_node().to_sexp());
        assert_eq!(a.root_node().byte_range(), b.root_node().byte_range());
        assert_eq!(a.root_node().end_position(), b.root_node().end_position());
    }

    #[test]
    fn a_replaced_copy_is_edited_and_parsed_and_the_original_is_not() {
        // A suggestion accepted on a CRLF file's second line, after an emoji, replacing the
        // auto-closed `)` after the cursor.
        let doc = Document::new("file:///t.rs", "rust", 3, "fn a() {}\r\nfn b() { f(\"😀\", ) }\r\n");
        let snap = doc.snapshot();
        let cursor = snap.rope().line_to_char(1) + "fn b() { f(\"😀\", ".chars().count();
        let accepted = Document::replaced(&snap, cursor..cursor + 1, "1);\r\n    g()");
        assert_eq!(accepted.text(), "fn a() {}\r\nfn b() { f(\"😀\", 1);\r\n    g() }\r\n");
        assert_eq!(accepted.version(), 3);
        let fresh = Document::new("file:///t.rs", "rust", 0, &accepted.text());
        assert_eq!(accepted.tree().unwrap().root_node().to_sexp(), fresh.tree().unwrap().root_node().to_sexp());
        assert_eq!(doc.text(), "fn a() {}\r\nfn b() { f(\"😀\", ) }\r\n", "the original is untouched");
    }

    #[test]
    fn incremental_edits_in_each_encoding() {
        // Insert after the emoji.
        check_edit("let s = \"😀\";", Utf16, change(range(0, 11, 0, 11), "x"), "let s = \"😀x\";");
        check_edit("let s = \"😀\";", Utf8, change(range(0, 13, 0, 13), "x"), "let s = \"😀x\";");
        check_edit("let s = \"😀\";", Utf32, change(range(0, 10, 0, 10), "x"), "let s = \"😀x\";");
        // Replace the CJK word on the second line.
        let before = "fn a() {}\n// 中文 ok\n";
        let after = "fn a() {}\n// 日本 ok\n";
        check_edit(before, Utf16, change(range(1, 3, 1, 5), "日本"), after);
        check_edit(before, Utf8, change(range(1, 3, 1, 9), "日本"), after);
        check_edit(before, Utf32, change(range(1, 3, 1, 5), "日本"), after);
    }

    #[test]
    fn edits_across_crlf_and_lone_cr_lines() {
        let before = "fn a() {}\r\nfn b() {}\r\n";
        check_edit(before, Utf16, change(range(1, 3, 1, 4), "c"), "fn a() {}\r\nfn c() {}\r\n");
        // Joining two lines deletes the whole "\r\n" pair.
        check_edit(before, Utf8, change(range(0, 9, 1, 0), " "), "fn a() {} fn b() {}\r\n");
        // A column past the end of the line inserts before the "\r\n", never inside it.
        check_edit(before, Utf32, change(range(0, 10, 0, 10), ";"), "fn a() {};\r\nfn b() {}\r\n");
        // Inserting '\r' before an existing '\n' turns it into a CRLF line.
        check_edit("fn a() {}\nfn b() {}", Utf16, change(range(0, 9, 0, 9), "\r"), "fn a() {}\r\nfn b() {}");
        // Lone CR files count '\r' as a line break.
        check_edit("// x\rfn a() {}\r😀", Utf16, change(range(2, 2, 2, 2), "\n"), "// x\rfn a() {}\r😀\n");
        check_edit("// x\rfn a() {}\r", Utf8, change(range(1, 3, 1, 4), "z"), "// x\rfn z() {}\r");
    }

    #[test]
    fn edits_wait_for_one_reparse_that_matches_a_fresh_parse() {
        let mut doc = Document::new("file:///t.rs", "rust", 1, "fn main() {\n    let x = 1;\n}\n");
        // Typed key by key, as a burst of didChange: no tree is handed out meanwhile.
        for (i, ch) in "let y = x + 2;".chars().enumerate() {
            let at = 26 + i as u32;
            doc.edit(2 + i as i32, &[change(range(1, at, 1, at), &ch.to_string())], Utf16);
            assert!(doc.tree().is_none() && doc.snapshot().tree().is_none());
            assert!(doc.needs_parse() && doc.has_tree());
        }
        assert_eq!(doc.text(), "fn main() {\n    let x = 1;let y = x + 2;\n}\n");
        assert!(doc.ensure_tree());
        assert!(!doc.needs_parse());
        assert_same_tree(&doc);
        assert!(doc.tree().unwrap().root_node().to_sexp().matches("let_declaration").count() == 2);
    }

    #[test]
    fn a_parse_job_is_installed_only_on_the_text_it_was_made_from() {
        let mut doc = Document::unparsed("file:///t.rs", "rust", 1, "fn a() {}\n");
        assert!(doc.tree().is_none() && doc.needs_parse() && !doc.has_tree(), "opened without a parse");
        let job = doc.take_parse_job().unwrap();
        doc.edit(2, &[change(range(0, 3, 0, 4), "b")], Utf8);
        assert!(!doc.install(job.run()), "the text changed after the job was taken");
        assert!(doc.tree().is_none());
        let job = doc.take_parse_job().unwrap();
        assert!(doc.install(job.run()));
        assert_eq!(doc.text(), "fn b() {}\n");
        assert_same_tree(&doc);
        assert!(doc.take_parse_job().is_none(), "nothing left to parse");
        // Plain text never needs a parse.
        let mut plain = Document::unparsed("file:///notes.txt", "", 1, "fn a() {}");
        assert!(!plain.needs_parse() && plain.take_parse_job().is_none() && !plain.snapshot().lacks_tree());
    }

    #[test]
    fn full_replacement() {
        let mut doc = Document::new("file:///t.rs", "rust", 1, "fn a() {}");
        doc.apply_changes(2, &[TextChange::full("struct S;\n")], Utf16);
        assert_eq!(doc.text(), "struct S;\n");
        assert!(doc.tree().unwrap().root_node().to_sexp().contains("struct_item"));
        assert_same_tree(&doc);
    }

    #[test]
    fn a_batch_applies_each_change_to_the_result_of_the_previous_one() {
        let mut doc = Document::new("file:///t.rs", "rust", 1, "fn main() {\n}\n");
        let batch = [
            change(range(0, 11, 0, 11), "\n    let x = 1;"),
            // Line 1 exists only because of the first change.
            change(range(1, 8, 1, 9), "answer"),
            change(range(2, 0, 2, 0), "    x;\n"),
            change(None, "fn main() {\n    let answer = 1;\n    answer;\n}\n"),
            change(range(1, 8, 1, 14), "y"),
        ];
        let outcome = doc.apply_changes(7, &batch, Utf16);
        assert_eq!(doc.text(), "fn main() {\n    let y = 1;\n    answer;\n}\n");
        assert_eq!(doc.version(), 7);
        assert!(!outcome.out_of_order);
        assert_same_tree(&doc);
    }

    #[test]
    fn the_intermediate_text_of_a_batch_matters() {
        let mut doc = Document::new("file:///t.rs", "rust", 1, "ab");
        let batch = [change(range(0, 0, 0, 0), "😀"), change(range(0, 2, 0, 3), "X")];
        doc.apply_changes(2, &batch, Utf16);
        assert_eq!(doc.text(), "😀Xb");
    }

    #[test]
    fn version_going_backwards_is_applied_and_reported() {
        let mut doc = Document::new("file:///t.rs", "rust", 5, "a");
        let outcome = doc.apply_changes(3, &[change(range(0, 1, 0, 1), "b")], Utf16);
        assert!(outcome.out_of_order);
        assert_eq!(doc.text(), "ab");
        assert_eq!(doc.version(), 3);
        let outcome = doc.apply_changes(3, &[change(range(0, 2, 0, 2), "c")], Utf16);
        assert!(outcome.out_of_order, "an equal version did not increase either");
        let outcome = doc.apply_changes(4, &[], Utf16);
        assert!(!outcome.out_of_order);
        assert_eq!(doc.text(), "abc");
    }

    #[test]
    fn out_of_range_changes_are_clamped_and_lose_nothing() {
        let mut doc = Document::new("file:///t.rs", "rust", 1, "ab\ncd");
        let batch = [
            change(range(9, 9, 12, 0), "!"),
            change(range(0, 99, 0, 99), "?"),
            // Ends swapped: treated as the same range in order.
            change(range(1, 1, 0, 1), ""),
        ];
        doc.apply_changes(2, &batch, Utf16);
        assert_eq!(doc.text(), "ad!");
        assert_same_tree(&doc);
    }

    #[test]
    fn binary_text_is_kept_but_not_parsed() {
        let mut doc = Document::new("file:///blob.rs", "rust", 1, "fn a() {}\0\u{1}");
        assert!(doc.is_binary());
        assert!(doc.tree().is_none());
        assert_eq!(doc.text(), "fn a() {}\0\u{1}");

        // Removing the only NUL makes it text again, with a tree.
        doc.apply_changes(2, &[change(range(0, 9, 0, 11), "")], Utf8);
        assert!(!doc.is_binary());
        assert!(doc.tree().is_some());
        assert_same_tree(&doc);

        doc.apply_changes(3, &[change(range(0, 0, 0, 0), "\0")], Utf8);
        assert!(doc.is_binary());
        assert!(doc.snapshot().tree().is_none());
    }

    #[test]
    fn too_large_text_is_kept_without_a_tree() {
        let big = "x".repeat(PARSE_LIMIT_BYTES + 1);
        let mut doc = Document::new("file:///big.rs", "rust", 1, &big);
        assert!(doc.is_too_large());
        assert!(doc.tree().is_none());
        assert_eq!(doc.rope().len_bytes(), big.len());

        // Shrinking below the limit brings the tree back.
        doc.apply_changes(2, &[change(range(0, 0, 0, 2), "")], Utf8);
        assert!(!doc.is_too_large());
        assert!(doc.tree().is_some());
        assert_eq!(doc.rope().len_bytes(), PARSE_LIMIT_BYTES - 1);
    }

    #[test]
    fn language_is_detected_from_id_then_uri() {
        let cases = [
            ("file:///a.txt", "python", Language::Python),
            ("file:///a.tsx", "", Language::Tsx),
            ("file:///a.go", "unknown-id", Language::Go),
            ("file:///w/widget.hpp", "", Language::Cpp),
            ("file:///w/list.h", "c", Language::C),
            ("untitled:Untitled-1", "", Language::PlainText),
        ];
        for (uri, id, expected) in cases {
            assert_eq!(Document::new(uri, id, 1, "").language(), expected, "{uri} {id}");
        }
        let plain = Document::new("file:///notes.txt", "", 1, "hello");
        assert!(plain.tree().is_none());
        assert!(!plain.is_binary());
    }

    #[test]
    fn snapshots_do_not_see_later_edits() {
        let mut doc = Document::new("file:///t.py", "python", 1, "x = 1\n");
        let snap = doc.snapshot();
        let end = snap.tree().unwrap().root_node().end_byte();
        doc.apply_changes(2, &[change(range(0, 4, 0, 5), "12345")], Utf16);
        assert_eq!(snap.text(), "x = 1\n");
        assert_eq!(snap.version(), 1);
        assert_eq!(snap.tree().unwrap().root_node().end_byte(), end);
        assert_eq!(doc.tree().unwrap().root_node().end_byte(), end + 4);
        assert_eq!(doc.snapshot().text(), "x = 12345\n");
    }

    /// tree-sitter's point: rows end at '\n' only, columns are bytes.
    /// The point tree-sitter computes: it is given each lone `\r` as `\n`.
    fn naive_point(text: &str, byte: usize) -> tree_sitter::Point {
        let read = crate::text::line_ending::lone_crs_as_lf(text.to_string());
        let before = &read.as_bytes()[..byte];
        let row = before.iter().filter(|&&b| b == b'\n').count();
        let row_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        tree_sitter::Point::new(row, byte - row_start)
    }

    proptest::proptest! {
        // The final tree hides wrong points (tree-sitter re-lexes whatever an edit touches), so
        // the edits handed to `Tree::edit`, and the counters behind them, are checked directly.
        #[test]
        fn tree_edits_carry_exact_bytes_and_points(
            text in "[ab\r\n😀中\0]{0,40}",
            edits in proptest::collection::vec((0usize..64, 0usize..64, "[ab\r\n😀\0]{0,4}"), 1..10),
        ) {
            let mut doc = Document::new("file:///t.txt", "", 0, &text);
            let mut reference = text.clone();
            for (a, b, inserted) in edits {
                let n = reference.chars().count();
                let (a, b) = (a % (n + 1), b % (n + 1));
                let chars = a.min(b)..a.max(b);
                let byte = |c: usize| reference.char_indices().nth(c).map_or(reference.len(), |(i, _)| i);
                let (start, end) = (byte(chars.start), byte(chars.end));
                let edit = doc.replace(chars, &inserted, true).expect("an edit was asked for");
                // A '\r' just before the range is read again: the edit may make it lone or not.
                let from = if reference[..start].ends_with('\r') { start - 1 } else { start };
                proptest::prop_assert_eq!(edit.start_byte, from);
                proptest::prop_assert_eq!(edit.old_end_byte, end);
                proptest::prop_assert_eq!(edit.start_position, naive_point(&reference, from));
                proptest::prop_assert_eq!(edit.old_end_position, naive_point(&reference, end));
                reference.replace_range(start..end, &inserted);
                proptest::prop_assert_eq!(edit.new_end_byte, start + inserted.len());
                proptest::prop_assert_eq!(
                    edit.new_end_position,
                    naive_point(&reference, start + inserted.len())
                );
                proptest::prop_assert_eq!(doc.rope().to_string(), reference.as_str());
                proptest::prop_assert_eq!(doc.as_snapshot().line_breaks, LineBreaks::of(&reference));
                proptest::prop_assert_eq!(doc.nul_chars, reference.matches('\0').count());
            }
        }
    }

    #[test]
    fn snapshot_read_helpers() {
        let doc = Document::new("file:///t.rs", "rust", 1, "a😀\r\n中b\rc");
        let snap = doc.as_snapshot();
        assert_eq!(snap.len_lines(), 3);
        assert_eq!(snap.line(0), "a😀");
        assert_eq!(snap.line(1), "中b");
        assert_eq!(snap.line(2), "c");
        assert_eq!(snap.line(3), "");
        assert_eq!(snap.slice(1..5), "😀\r\n中");
        assert_eq!(snap.slice(Range { start: 99, end: 4 }), "中b\rc");
        let pos = LineCol::new(1, 1);
        assert_eq!(snap.char_index(pos, Utf16), 5);
        assert_eq!(snap.line_col(5, Utf8), LineCol::new(1, 3));
        let node = doc.tree().unwrap().root_node();
        assert_eq!(
            snap.byte_range_to_text_range(node.byte_range(), Utf16),
            TextRange::new(LineCol::new(0, 0), LineCol::new(2, 1))
        );
        assert!(!format!("{doc:?}").contains('😀'), "Debug never prints the text");
    }
}
