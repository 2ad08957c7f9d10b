//! Where the text shown around the cursor starts and ends, and whether the cursor calls for a
//! block or for the rest of one line.
//!
//! Positions are char indices into the rope unless named `*_byte`; tree-sitter speaks bytes, and
//! its rows disagree with the rope's lines when a file has lone `\r`s, so rows are never used.

use std::ops::{Range, RangeInclusive};

use ropey::Rope;
use tree_sitter::{Node, TreeCursor};

use super::lang::Spec;
use crate::text::position::{line_content_end, line_start};

/// The nodes containing `byte`, from the root down to the deepest one that starts at or before
/// it. One descent with a tree cursor: `Node::parent` would restart from the root at every step.
pub(crate) fn ancestors_at<'t>(root: Node<'t>, byte: usize) -> Vec<Node<'t>> {
    let mut chain = vec![root];
    let mut cursor = root.walk();
    while goto_child_ending_after(&mut cursor, byte) {
        let node = cursor.node();
        if node.start_byte() > byte {
            // `byte` lies in the whitespace before this child: the parent is the deepest node.
            break;
        }
        chain.push(node);
    }
    chain
}

/// Moves `cursor` to the first child of its node that ends after `byte`; false (cursor
/// unmoved) when there is none.
pub(crate) fn goto_child_ending_after(cursor: &mut TreeCursor<'_>, byte: usize) -> bool {
    if cursor.goto_first_child_for_byte(byte).is_some() {
        return true;
    }
    // tree-sitter also answers None when `byte` falls in a gap between two children that only
    // hidden nodes fill (Go's statement terminators): step through the children instead.
    if !cursor.goto_first_child() {
        return false;
    }
    loop {
        if cursor.node().end_byte() > byte {
            return true;
        }
        if !cursor.goto_next_sibling() {
            cursor.goto_parent();
            return false;
        }
    }
}

/// The rope's text between two byte offsets, which are first rounded to char boundaries so
/// that no offset can panic.
pub(crate) fn text_between(rope: &Rope, start_byte: usize, end_byte: usize) -> String {
    let a = rope.byte_to_char(start_byte.min(rope.len_bytes()));
    let b = rope.byte_to_char(end_byte.min(rope.len_bytes()));
    String::from(rope.slice(a.min(b)..b))
}

/// Whether the rope's text between two byte offsets equals `expected`, without allocating.
pub(crate) fn text_is(rope: &Rope, start_byte: usize, end_byte: usize, expected: &str) -> bool {
    if end_byte.saturating_sub(start_byte) != expected.len() || end_byte > rope.len_bytes() {
        return false;
    }
    let a = rope.byte_to_char(start_byte);
    let b = rope.byte_to_char(end_byte);
    rope.slice(a..b) == expected
}

/// Where the header of `node` ends: after its last child before `body`, comments excepted
/// (`def f():  # note` ends at the colon).
pub(crate) fn head_end(node: Node<'_>, body: Node<'_>) -> usize {
    let mut end = node.start_byte();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.start_byte() >= body.start_byte() {
            break;
        }
        if !child.kind().contains("comment") {
            end = child.end_byte();
        }
    }
    end
}

/// Byte offset of the start of the line holding `byte`.
pub(crate) fn line_start_byte(rope: &Rope, byte: usize) -> usize {
    let byte = byte.min(rope.len_bytes());
    rope.line_to_byte(rope.byte_to_line(byte))
}

/// The lines around the cursor, copied out of the rope once with the byte offset of each line's
/// start. Cutting the window looks at dozens of lines, and every rope lookup (a line's start,
/// its end, a char's byte) is a descent of the rope's tree plus a scan of a chunk: about 15,000
/// instructions per line looked at, against a few dozen here.
struct Lines {
    /// The rope line that `text` starts with.
    first: usize,
    /// The document's byte offset of `text`.
    start_byte: usize,
    text: String,
    /// Where each line starts in `text`, and `text.len()` after the last one. Line breaks are
    /// the rope's: `\n`, `\r\n` and a lone `\r`.
    starts: Vec<usize>,
}

impl Lines {
    /// Rope lines `first..end` (clamped to the document).
    fn new(rope: &Rope, first: usize, end: usize) -> Lines {
        let end = end.min(rope.len_lines());
        let first = first.min(end);
        let start_byte = rope.line_to_byte(first);
        let text = String::from(rope.byte_slice(start_byte..rope.line_to_byte(end)));
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut at = 0;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', &bytes[at..]) {
            let brk = at + i;
            at = if bytes[brk] == b'\r' && bytes.get(brk + 1) == Some(&b'\n') { brk + 2 } else { brk + 1 };
            starts.push(at);
        }
        if *starts.last().unwrap_or(&0) != text.len() {
            starts.push(text.len());
        }
        Lines { first, start_byte, text, starts }
    }

    /// `line`'s text with its line break, when it was copied.
    fn line(&self, line: usize) -> Option<(usize, &str)> {
        let i = line.checked_sub(self.first)?;
        let (&start, &end) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        Some((start, &self.text[start..end]))
    }

    /// The byte of the first char of `line` that is not a space, a tab or a byte-order mark;
    /// `None` for a blank line. Lines that were not copied are looked up in the rope.
    fn first_code_byte(&self, rope: &Rope, line: usize) -> Option<usize> {
        let Some((start, text)) = self.line(line) else {
            return first_code_byte_in_rope(rope, line);
        };
        let code = text.trim_start_matches([' ', '\t', '\u{feff}']);
        if code.is_empty() || code.starts_with(['\n', '\r']) {
            return None;
        }
        Some(self.start_byte + start + (text.len() - code.len()))
    }

    /// The document's byte at `byte` (which the caller found in a line).
    fn byte(&self, rope: &Rope, byte: usize) -> u8 {
        match byte.checked_sub(self.start_byte).and_then(|i| self.text.as_bytes().get(i)) {
            Some(b) => *b,
            None => rope.byte(byte),
        }
    }
}

/// The document's text by byte range, from the cutter's copy of the lines around the cursor
/// where the range lies in it (nearly always), else from the rope.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    rope: &'a Rope,
    start_byte: usize,
    copy: &'a str,
}

impl<'a> Source<'a> {
    pub fn of_rope(rope: &'a Rope) -> Source<'a> {
        Source { rope, start_byte: 0, copy: "" }
    }

    /// How many `\n` lie between two byte offsets.
    pub fn newlines(&self, start: usize, end: usize) -> usize {
        let copied = start.checked_sub(self.start_byte).zip(end.checked_sub(self.start_byte));
        if let Some(text) = copied.and_then(|(a, b)| self.copy.as_bytes().get(a..b)) {
            return memchr::memchr_iter(b'\n', text).count();
        }
        self.rope
            .get_byte_slice(start..end)
            .map_or(0, |s| s.chunks().map(|c| memchr::memchr_iter(b'\n', c.as_bytes()).count()).sum())
    }

    /// The text between two byte offsets, borrowed where it can be.
    pub fn text(&self, start: usize, end: usize) -> std::borrow::Cow<'a, str> {
        let copied = start.checked_sub(self.start_byte).zip(end.checked_sub(self.start_byte));
        if let Some(text) = copied.and_then(|(a, b)| self.copy.get(a..b)) {
            return text.into();
        }
        match self.rope.get_byte_slice(start..end) {
            Some(slice) => slice.into(),
            None => std::borrow::Cow::Owned(text_between(self.rope, start, end)),
        }
    }
}

/// [`Lines::first_code_byte`] for a line outside the copy.
fn first_code_byte_in_rope(rope: &Rope, line: usize) -> Option<usize> {
    let start = line_start(rope, line);
    let end = line_content_end(rope, line);
    let offset = rope.slice(start..end).chars().position(|c| !matches!(c, ' ' | '\t' | '\u{feff}'))?;
    Some(rope.char_to_byte(start + offset))
}

/// Where a line's first code lies in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineStart {
    /// A node starts there; `member`: its parent is a container (a block, a class or impl body,
    /// the top level), so the node is a statement, an item or a member.
    Node { member: bool },
    /// Inside a token or a construct that started on an earlier line.
    Inside,
}

/// Below this many children, [`Walker::seek`] descends into a node again rather than stepping
/// through its children from where it stopped last.
const FEW_CHILDREN: usize = 64;

/// Answers "which node starts at this byte" for bytes in increasing order with a single descent
/// from the root: it keeps its place in the tree between questions and only moves forward.
/// Descending from the root for each line instead costs a step through every earlier sibling at
/// each level, and a 3,000-line file's impl blocks have hundreds of members.
#[derive(Clone)]
struct Walker<'t> {
    cursor: TreeCursor<'t>,
    /// The ancestors of the cursor's node, root first.
    ancestors: Vec<Node<'t>>,
    spec: &'static Spec,
    last: usize,
}

impl<'t> Walker<'t> {
    fn new(root: Node<'t>, spec: &'static Spec) -> Walker<'t> {
        Walker { cursor: root.walk(), ancestors: Vec::new(), spec, last: 0 }
    }

    /// What starts at `byte`, which is not before the byte of the previous question. Moves the
    /// walker to the outermost node starting at `byte`, or to the deepest one containing it.
    fn seek(&mut self, byte: usize) -> LineStart {
        debug_assert!(byte >= self.last, "the walker only moves forward");
        self.last = byte;
        // Up and forward to the first node at some level that ends after `byte`: every earlier
        // sibling ended before an earlier question's byte, so none needs looking at again. Up
        // first, past every level whose parent ends before `byte`, without a step through the
        // rest of its children. A sibling step costs about 800 instructions (hidden nodes,
        // aliases), while a descent passes over a child in about 35: in a parent with few
        // children, going back up and descending again is the cheaper way forward.
        while let Some(parent) = self.ancestors.last() {
            if self.cursor.node().end_byte() > byte {
                break;
            }
            let redescend = parent.end_byte() > byte && parent.child_count() <= FEW_CHILDREN;
            if parent.end_byte() <= byte || redescend || !self.cursor.goto_next_sibling() {
                self.cursor.goto_parent();
                self.ancestors.pop();
                if redescend {
                    break;
                }
            }
        }
        loop {
            let node = self.cursor.node();
            if node.start_byte() > byte {
                // `byte` lies in the gap before this node: no node starts there.
                return LineStart::Inside;
            }
            if node.start_byte() == byte {
                let member = self.ancestors.last().is_none_or(|p| self.spec.is_container(p.kind()));
                return LineStart::Node { member };
            }
            if node.end_byte() <= byte {
                return LineStart::Inside;
            }
            self.ancestors.push(node);
            if !goto_child_ending_after(&mut self.cursor, byte) {
                self.ancestors.pop();
                return LineStart::Inside;
            }
        }
    }

    /// [`ancestors_at`] `byte`, from the walker's place: down from where [`Walker::seek`] stops
    /// to the deepest node that starts at or before `byte`. The walker stays there.
    fn chain(&mut self, byte: usize) -> Vec<Node<'t>> {
        self.seek(byte);
        loop {
            let node = self.cursor.node();
            // The root is in every chain; below it, only nodes around `byte`.
            if !self.ancestors.is_empty() && (node.start_byte() > byte || node.end_byte() <= byte) {
                break;
            }
            self.ancestors.push(node);
            if !goto_child_ending_after(&mut self.cursor, byte) {
                // The walker stays at `node`, the deepest of the chain.
                let chain = self.ancestors.clone();
                self.ancestors.pop();
                return chain;
            }
        }
        self.ancestors.clone()
    }

    /// Whether `byte` lies inside a string or a comment that starts before it: the nodes around
    /// the walker's place after [`Walker::seek`]`(byte)`.
    fn in_opaque(&self, byte: usize) -> bool {
        let node = self.cursor.node();
        let here = (node.start_byte() < byte && byte < node.end_byte()).then_some(node);
        self.ancestors
            .iter()
            .copied()
            .chain(here)
            .any(|n| self.spec.opaque.contains(&n.kind()) && n.start_byte() < byte)
    }
}

/// Cuts the document around the cursor at places that split no token and, where the tree
/// allows, no statement.
pub(crate) struct Cutter<'a> {
    rope: &'a Rope,
    tree: Option<(Node<'a>, &'static Spec)>,
    lines: Lines,
    walker: Option<Walker<'a>>,
}

impl<'a> Cutter<'a> {
    /// A cutter for windows of at most `prefix_budget` chars before `cursor` and
    /// `suffix_budget` after it: the lines those can reach are copied now.
    pub fn new(
        rope: &'a Rope,
        tree: Option<(Node<'a>, &'static Spec)>,
        cursor: usize,
        prefix_budget: usize,
        suffix_budget: usize,
    ) -> Cutter<'a> {
        let first = rope.char_to_line(cursor.saturating_sub(prefix_budget));
        // The suffix's last line, and the line after it, which decides whether a cut is clean.
        let last = rope.char_to_line((cursor + suffix_budget).min(rope.len_chars()));
        Cutter { rope, tree, lines: Lines::new(rope, first, last + 2), walker: None }
    }

    /// The document's text, from the lines copied for the cut where it can.
    pub fn source(&self) -> Source<'_> {
        Source { rope: self.rope, start_byte: self.lines.start_byte, copy: &self.lines.text }
    }

    /// Whether a cut just before `line` is clean: `Some(true)` when the line starts a
    /// statement, an item or a member (a child of a container node), `Some(false)` when it at
    /// least does not start inside a token (a multi-line string or comment), `None` otherwise.
    /// Without a tree, every line that has code and does not open with a closer is clean.
    fn clean_start(&mut self, line: usize) -> Option<bool> {
        let byte = self.lines.first_code_byte(self.rope, line)?;
        if matches!(self.lines.byte(self.rope, byte), b')' | b']' | b'}') {
            // The tail of a construct: a window starting here would open with unbalanced closers.
            return None;
        }
        let Some((root, spec)) = self.tree else {
            return Some(true);
        };
        if root.start_byte() == byte {
            return Some(true);
        }
        // Lines are asked about in increasing order, see [`Walker`].
        match self.walker.get_or_insert_with(|| Walker::new(root, spec)).seek(byte) {
            LineStart::Node { member } => Some(member),
            LineStart::Inside => None,
        }
    }

    /// [`ancestors_at`] the cursor's byte: the walker goes on from the prefix's lines to the
    /// cursor instead of descending from the root again. Call it after
    /// [`Cutter::prefix_start`] and before [`Cutter::suffix_end`]; empty without a tree.
    pub fn chain_at(&mut self, cursor_byte: usize) -> Vec<Node<'a>> {
        let Some((root, spec)) = self.tree else {
            return Vec::new();
        };
        self.walker.get_or_insert_with(|| Walker::new(root, spec)).chain(cursor_byte)
    }

    /// Whether a cut after `line` is clean, judged from a copy of `walker` (which lies before
    /// the line): `Some(true)` when the next line starts a statement or is a blank line outside
    /// strings and comments, `Some(false)` when it starts some other node, `None` otherwise.
    fn clean_after(&self, walker: Option<&Walker<'a>>, line: usize) -> Option<bool> {
        let next = line + 1;
        let code = self.lines.first_code_byte(self.rope, next);
        let Some(walker) = walker else {
            // No tree: blank lines and lines that do not open with a closer are clean.
            return match code {
                None => Some(true),
                Some(byte) => (!matches!(self.lines.byte(self.rope, byte), b')' | b']' | b'}')).then_some(true),
            };
        };
        let mut walker = walker.clone();
        match code {
            None => {
                let byte = match self.lines.line(next) {
                    Some((start, _)) => self.lines.start_byte + start,
                    None => self.rope.char_to_byte(line_start(self.rope, next)),
                };
                walker.seek(byte);
                (!walker.in_opaque(byte)).then_some(true)
            }
            Some(byte) if matches!(self.lines.byte(self.rope, byte), b')' | b']' | b'}') => None,
            Some(byte) => match walker.seek(byte) {
                LineStart::Node { member } => Some(member),
                LineStart::Inside => None,
            },
        }
    }

    /// The char index where the text shown before the cursor starts: the start of the first
    /// clean line at or after `cursor - budget`, preferring one that starts a statement.
    ///
    /// That lower bound is rounded up to a multiple of an eighth of the budget, so the start
    /// stays put while the user types (it moves once per budget/8 chars typed). Moonshot caches
    /// prompt prefixes: a start that moved with every keystroke would change the prompt ahead
    /// of all the code and throw the cache away each time.
    pub fn prefix_start(&mut self, cursor: usize, budget: usize) -> usize {
        let rope = self.rope;
        let candidates = match prefix_lines(rope, cursor, budget) {
            Ok(lines) => lines,
            Err(start) => return start,
        };
        let line_begin = rope.line_to_char(candidates.end);
        let mut loose = None;
        for l in candidates {
            match self.clean_start(l) {
                Some(true) => return rope.line_to_char(l),
                Some(false) => {
                    loose.get_or_insert(l);
                }
                None => {}
            }
        }
        loose.map_or(line_begin, |l| rope.line_to_char(l))
    }

    /// The char index where the text shown after the cursor ends: the end of the last line
    /// within `budget` after which a clean line (or a blank line outside strings) follows,
    /// preferring one followed by the start of a statement. Call it after
    /// [`Cutter::chain_at`]: the lines are judged from the walker's place at the cursor, each
    /// from a copy of it, latest first, until a line after which a statement starts.
    pub fn suffix_end(&mut self, cursor: usize, budget: usize) -> usize {
        let rope = self.rope;
        let candidates = match suffix_lines(rope, cursor, budget) {
            Ok(lines) => lines,
            Err(end) => return end,
        };
        let line_end = line_content_end(rope, *candidates.start());
        if let Some((root, spec)) = self.tree {
            if self.walker.is_none() {
                self.chain_at(rope.char_to_byte(cursor));
            }
            self.walker.get_or_insert_with(|| Walker::new(root, spec));
        }
        let walker = self.walker.as_ref();
        let mut loose = None;
        for l in candidates.rev() {
            match self.clean_after(walker, l) {
                Some(true) => return line_content_end(rope, l),
                Some(false) => {
                    loose.get_or_insert(l);
                }
                None => {}
            }
        }
        loose.map_or(line_end, |l| line_content_end(rope, l))
    }
}

/// The lines [`Cutter::prefix_start`] chooses among (the cursor's line comes after them, and is
/// the start when none is clean), or `Err(start)` when there is no choice to make: the whole
/// text before the cursor fits, or the cursor's line alone is longer than the budget.
///
/// The earliest start is rounded up to a multiple of an eighth of the budget, so that it stays
/// put while the user types (see [`Cutter::prefix_start`]).
fn prefix_lines(rope: &Rope, cursor: usize, budget: usize) -> Result<Range<usize>, usize> {
    if cursor <= budget {
        return Err(0);
    }
    let line = rope.char_to_line(cursor);
    let step = (budget / 8).max(1);
    let earliest = (cursor - budget).div_ceil(step) * step;
    if earliest > rope.line_to_char(line) {
        // The current line alone is longer than the budget (minified code).
        return Err(after_space(rope, earliest, cursor));
    }
    let mut first = rope.char_to_line(earliest);
    if rope.line_to_char(first) < earliest {
        first += 1;
    }
    Ok(first..line)
}

/// The lines after which [`Cutter::suffix_end`] may cut, the cursor's first (its end is the cut
/// when no later one is clean), or `Err(end)` when there is no choice to make: the rest of the
/// document fits, or the cursor's line alone runs past the budget.
fn suffix_lines(rope: &Rope, cursor: usize, budget: usize) -> Result<RangeInclusive<usize>, usize> {
    let len = rope.len_chars();
    if len - cursor <= budget {
        return Err(len);
    }
    let latest = cursor + budget;
    let line = rope.char_to_line(cursor);
    if line_content_end(rope, line) > latest {
        return Err(before_space(rope, latest, cursor));
    }
    let mut last = rope.char_to_line(latest);
    if line_content_end(rope, last) > latest {
        last -= 1;
    }
    Ok(line..=last)
}

/// `from`, moved forward past the next whitespace char if one comes soon, so that a cut in the
/// middle of a long line does not split a word.
fn after_space(rope: &Rope, from: usize, limit: usize) -> usize {
    let window = (limit - from).min(200);
    rope.slice(from..from + window).chars().position(char::is_whitespace).map_or(from, |i| from + i + 1)
}

/// `to`, moved back to the last whitespace char before it if one is near.
fn before_space(rope: &Rope, to: usize, limit: usize) -> usize {
    let window = (to - limit).min(200);
    let chars: Vec<char> = rope.slice(to - window..to).chars().collect();
    chars.iter().rposition(|c| c.is_whitespace()).map_or(to, |i| to - window + i)
}

/// Keywords that open an indented block in Python; used when the parser gave up on the line.
const PYTHON_BLOCK_KEYWORDS: &[&str] = &[
    "def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "async", "match", "case",
];

/// Whether the cursor calls for a block (several lines) rather than the rest of its line.
///
/// True on a blank or whitespace-only line inside a block (any container node: a function
/// body, a class or impl body, the top level), and right after a `{` or a Python block header's
/// `:` with nothing after the cursor. An editor that auto-closes brackets leaves `}` (and maybe
/// `)` or `;`) after the cursor when the user types `{`: that still asks for a block. False
/// mid-line, when code follows the cursor, inside strings and comments, and inside argument
/// lists, arrays and other expressions that merely span lines.
///
/// `chain` is [`ancestors_at`] the cursor's byte (empty without a tree).
pub(crate) fn wants_block(
    cutter: &Cutter<'_>,
    chain: &[Node<'_>],
    cursor: usize,
    line_prefix: &str,
    line_suffix: &str,
) -> bool {
    let before = line_prefix.trim_end();
    let after = line_suffix.trim();
    let opens_brace = before.ends_with('{');
    let only_closers = after.chars().all(|c| c.is_whitespace() || matches!(c, '}' | ')' | ']' | ';' | ','));
    if !(after.is_empty() || opens_brace && only_closers) {
        return false;
    }
    let rope = cutter.rope;
    let cursor_byte = rope.char_to_byte(cursor);
    // Byte offset of the last char of `before`: the line prefix ends at the cursor.
    let trailing = line_prefix.len() - before.len();
    if before.trim_start().is_empty() {
        let Some((_, spec)) = cutter.tree else {
            return true;
        };
        if chain.iter().any(|n| spec.opaque.contains(&n.kind())) {
            return false;
        }
        return chain.last().is_some_and(|n| spec.is_container(n.kind()));
    }
    let last_byte = cursor_byte - trailing - 1;
    if opens_brace {
        let Some((root, _)) = cutter.tree else {
            return true;
        };
        // A real `{` token, not one inside a string, a comment or a character literal.
        return ancestors_at(root, last_byte).last().is_some_and(|n| n.kind() == "{" && n.start_byte() == last_byte);
    }
    // A Ruby line that opens a block (`def total`, `items.each do |item|`): its body and `end`.
    // Until the `end` is written the tree has only an ERROR there, so the line's words decide,
    // outside strings and comments.
    let ruby = super::lang::spec(crate::text::Language::Ruby);
    if let Some((root, spec)) = cutter
        .tree
        .filter(|(_, spec)| ruby.is_some_and(|r| std::ptr::eq(*spec, r)) && crate::postprocess::is_ruby_header(before))
    {
        return !ancestors_at(root, last_byte).iter().any(|n| spec.opaque.contains(&n.kind()));
    }
    if before.ends_with(':') {
        let Some((root, spec)) = cutter.tree else {
            return false;
        };
        if spec.colon_headers.is_empty() {
            return false;
        }
        let chain = ancestors_at(root, last_byte);
        let [.., parent, colon] = chain.as_slice() else {
            return false;
        };
        if colon.kind() != ":" || colon.start_byte() != last_byte {
            return false;
        }
        if spec.colon_headers.contains(&parent.kind()) {
            return true;
        }
        let first_word = before.trim_start().split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
        return parent.is_error() && PYTHON_BLOCK_KEYWORDS.contains(&first_word);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::lang;
    use crate::text::Document;

    /// The definition the cutter answers with a copy of the lines and a walker that keeps its
    /// place: each line on its own, from the rope, with a descent from the root.
    fn clean_start_by_definition(rope: &Rope, tree: Option<(Node<'_>, &Spec)>, line: usize) -> Option<bool> {
        let byte = first_code_byte_in_rope(rope, line)?;
        if matches!(rope.byte(byte), b')' | b']' | b'}') {
            return None;
        }
        let Some((root, spec)) = tree else {
            return Some(true);
        };
        if root.start_byte() == byte {
            return Some(true);
        }
        let chain = ancestors_at(root, byte);
        let at = chain.iter().skip(1).position(|n| n.start_byte() == byte)?;
        Some(spec.is_container(chain[at].kind()))
    }

    fn prefix_start_by_definition(rope: &Rope, tree: Option<(Node<'_>, &Spec)>, cursor: usize, budget: usize) -> usize {
        let lines = match prefix_lines(rope, cursor, budget) {
            Ok(lines) => lines,
            Err(start) => return start,
        };
        for strict in [true, false] {
            let found = lines.clone().find(|&l| match clean_start_by_definition(rope, tree, l) {
                Some(member) => member || !strict,
                None => false,
            });
            if let Some(l) = found {
                return rope.line_to_char(l);
            }
        }
        rope.line_to_char(lines.end)
    }

    fn suffix_end_by_definition(rope: &Rope, tree: Option<(Node<'_>, &Spec)>, cursor: usize, budget: usize) -> usize {
        let lines = match suffix_lines(rope, cursor, budget) {
            Ok(lines) => lines,
            Err(end) => return end,
        };
        for strict in [true, false] {
            let clean_after = |l: usize| {
                let next = l + 1;
                if first_code_byte_in_rope(rope, next).is_none() {
                    let Some((root, spec)) = tree else { return true };
                    let byte = rope.char_to_byte(line_start(rope, next));
                    !ancestors_at(root, byte).iter().any(|n| spec.opaque.contains(&n.kind()) && n.start_byte() < byte)
                } else {
                    clean_start_by_definition(rope, tree, next).is_some_and(|member| member || !strict)
                }
            };
            if let Some(l) = lines.clone().rev().find(|&l| clean_after(l)) {
                return line_content_end(rope, l);
            }
        }
        line_content_end(rope, *lines.start())
    }

    /// Every cursor at a line end and mid-line in real files, with small budgets so that cuts
    /// land everywhere: the walker's answers, which move forward through the tree, are the
    /// definition's, which start from the root for every line.
    #[test]
    fn cuts_match_the_per_line_definition() {
        let sources: [(&str, &str); 5] = [
            ("rust", include_str!("mod.rs")),
            ("rust", include_str!("../postprocess/nested.rs")),
            ("rust", &include_str!("symbols.rs").replace('\n', "\r\n")),
            ("python", "class A:\n    def f(self):\n        s = \"\"\"doc\n\n  more\n\"\"\"\n        return [\n            1,\n        ]\n\n\n    x = 1\r    y = 2\n"),
            ("plaintext", "one\n  two\n\n)three\nfour\r\nfive\n"),
        ];
        for (language_id, text) in sources {
            let doc = Document::new("file:///t", language_id, 1, text);
            let snap = doc.snapshot();
            let rope = snap.rope();
            let spec = lang::spec(snap.language());
            let tree = snap.tree().map(|t| t.root_node()).zip(spec);
            let step = (rope.len_chars() / 400).max(1);
            for cursor in (0..rope.len_chars()).step_by(step) {
                for (prefix_budget, suffix_budget) in [(300, 120), (1200, 400), (40, 15)] {
                    let mut cutter = Cutter::new(rope, tree, cursor, prefix_budget, suffix_budget);
                    let start = cutter.prefix_start(cursor, prefix_budget);
                    let cursor_byte = rope.char_to_byte(cursor);
                    let chain = cutter.chain_at(cursor_byte);
                    let expected = tree.map(|(root, _)| ancestors_at(root, cursor_byte)).unwrap_or_default();
                    assert_eq!(chain, expected, "{language_id}: the nodes around cursor {cursor}");
                    let end = cutter.suffix_end(cursor, suffix_budget);
                    let by_definition = (
                        prefix_start_by_definition(rope, tree, cursor, prefix_budget),
                        suffix_end_by_definition(rope, tree, cursor, suffix_budget),
                    );
                    assert_eq!(
                        (start, end),
                        by_definition,
                        "{language_id}: cursor {cursor}, budgets {prefix_budget}/{suffix_budget}"
                    );
                }
            }
        }
    }
}
