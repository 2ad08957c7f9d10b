//! Where the text shown around the cursor starts and ends, and whether the cursor calls for a
//! block or for the rest of one line.
//!
//! Positions are char indices into the rope unless named `*_byte`; tree-sitter speaks bytes, and
//! its rows disagree with the rope's lines when a file has lone `\r`s, so rows are never used.

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

/// The byte of the first char of `line` that is not a space or a tab; `None` for a blank line.
fn first_code_byte(rope: &Rope, line: usize) -> Option<usize> {
    let start = line_start(rope, line);
    let end = line_content_end(rope, line);
    let offset = rope.slice(start..end).chars().position(|c| !matches!(c, ' ' | '\t' | '\u{feff}'))?;
    Some(rope.char_to_byte(start + offset))
}

/// Cuts the document around the cursor at places that split no token and, where the tree
/// allows, no statement.
pub(crate) struct Cutter<'a> {
    pub rope: &'a Rope,
    pub tree: Option<(Node<'a>, &'static Spec)>,
}

impl Cutter<'_> {
    /// Whether a cut just before `line` is clean. `strict`: the line starts a statement, an
    /// item or a member (a child of a container node). Otherwise: the line at least does not
    /// start inside a token (a multi-line string or comment).
    fn starts_unit(&self, line: usize, strict: bool) -> bool {
        let Some(byte) = first_code_byte(self.rope, line) else {
            return false;
        };
        if matches!(self.rope.byte(byte), b')' | b']' | b'}') {
            // The tail of a construct: a window starting here would open with unbalanced closers.
            return false;
        }
        let Some((root, spec)) = self.tree else {
            return true;
        };
        if root.start_byte() == byte {
            return true;
        }
        // Down from the root only as far as the outermost node starting at `byte`: this runs
        // for several lines per request, and most of a full descent would be below that node.
        let mut cursor = root.walk();
        loop {
            let parent = cursor.node();
            if !goto_child_ending_after(&mut cursor, byte) {
                return false;
            }
            let node = cursor.node();
            if node.start_byte() > byte {
                return false;
            }
            if node.start_byte() == byte {
                return !strict || spec.is_container(parent.kind());
            }
        }
    }

    /// Whether the start of `line` (a blank line) lies inside a string or a comment.
    fn inside_opaque(&self, line: usize) -> bool {
        let Some((root, spec)) = self.tree else {
            return false;
        };
        let byte = self.rope.char_to_byte(line_start(self.rope, line));
        ancestors_at(root, byte).iter().any(|n| spec.opaque.contains(&n.kind()) && n.start_byte() < byte)
    }

    fn is_blank(&self, line: usize) -> bool {
        first_code_byte(self.rope, line).is_none()
    }

    /// The char index where the text shown before the cursor starts: the start of the first
    /// clean line at or after `cursor - budget`.
    ///
    /// That lower bound is rounded up to a multiple of an eighth of the budget, so the start
    /// stays put while the user types (it moves once per budget/8 chars typed). Moonshot caches
    /// prompt prefixes: a start that moved with every keystroke would change the prompt ahead
    /// of all the code and throw the cache away each time.
    pub fn prefix_start(&self, cursor: usize, budget: usize) -> usize {
        if cursor <= budget {
            return 0;
        }
        let rope = self.rope;
        let line = rope.char_to_line(cursor);
        let line_begin = rope.line_to_char(line);
        let step = (budget / 8).max(1);
        let earliest = (cursor - budget).div_ceil(step) * step;
        if earliest > line_begin {
            // The current line alone is longer than the budget (minified code).
            return after_space(rope, earliest, cursor);
        }
        let mut first = rope.char_to_line(earliest);
        if rope.line_to_char(first) < earliest {
            first += 1;
        }
        for strict in [true, false] {
            if let Some(l) = (first..line).find(|&l| self.starts_unit(l, strict)) {
                return rope.line_to_char(l);
            }
        }
        line_begin
    }

    /// The char index where the text shown after the cursor ends: the end of the last line
    /// within `budget` after which a clean line (or a blank line outside strings) follows.
    pub fn suffix_end(&self, cursor: usize, budget: usize) -> usize {
        let rope = self.rope;
        let len = rope.len_chars();
        if len - cursor <= budget {
            return len;
        }
        let latest = cursor + budget;
        let line = rope.char_to_line(cursor);
        let line_end = line_content_end(rope, line);
        if line_end > latest {
            return before_space(rope, latest, cursor);
        }
        let mut last = rope.char_to_line(latest);
        if line_content_end(rope, last) > latest {
            last -= 1;
        }
        for strict in [true, false] {
            let clean_after = |l: usize| {
                let next = l + 1;
                if self.is_blank(next) {
                    !self.inside_opaque(next)
                } else {
                    self.starts_unit(next, strict)
                }
            };
            if let Some(l) = (line..=last).rev().find(|&l| clean_after(l)) {
                return line_content_end(rope, l);
            }
        }
        line_end
    }
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
pub(crate) fn wants_block(cutter: &Cutter<'_>, cursor: usize, line_prefix: &str, line_suffix: &str) -> bool {
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
        let Some((root, spec)) = cutter.tree else {
            return true;
        };
        let chain = ancestors_at(root, cursor_byte);
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
