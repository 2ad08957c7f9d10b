//! Rust's nested units for the parse check: the smallest piece of a list — a statement of a
//! block, an argument, a field of a struct expression or definition, an enum variant, a match
//! arm, an item of an impl or of the file — checked in a stand-in of its container.
//!
//! Why: the item units of `parse.rs` stop at 4 KiB, and a third of the cursors in a real
//! 3,000-line file sit inside longer functions, where the check fell back to an incremental
//! reparse of the whole document (0.7–0.9 ms, the tail of a completion's latency). A list
//! element is a few lines, parsed in tens of microseconds.
//!
//! Only a verdict of "parses" is trusted. Tree-sitter's Rust grammar gives each of these
//! containers the same content whatever surrounds it (a block is a block in a function, a
//! closure or an `if`; `arguments` only ever follow a callee), so when the suggestion turns the
//! element into a sequence of elements that parses with the container's stand-in around it —
//! and with a further element after it, where one follows in the document — the document parses
//! too. A "does not parse" may be the stand-in's fault (an `else` that needed the `if` before
//! it), so it is left to the next check.

use std::sync::OnceLock;

use tree_sitter::{Node, Tree};

use super::parse::parse_stand_in;
use crate::text::Language;

/// A container whose children can be checked on their own, and how to stand in for it.
struct Container {
    prefix: &'static str,
    /// An element and its comma, after `prefix` when the unit follows an element in the
    /// document: a comma list accepts a stray leading comma (`f(,)`) that cannot follow one.
    lead: &'static str,
    /// After the element when another follows it in the document: forces the separator (or a
    /// statement's end) that the next element needs, and starts with a token that nothing
    /// unfinished can take (`f(x ())` would be a call, `pub fn` an item; `x ""` and
    /// `pub #[a]` are errors, as `x next` and `pub #[attr]` are in the document).
    then_more: &'static str,
    /// After the element when the container's closing delimiter follows it.
    then_close: &'static str,
    /// Elements are separated by commas (which are not part of them).
    commas: bool,
}

fn container(kind: &str) -> Option<Container> {
    let c =
        |prefix, lead, then_more, then_close, commas| Some(Container { prefix, lead, then_more, then_close, commas });
    match kind {
        "block" => c("fn __() {\n", "fn __() { let _ = ();\n", "\nlet _ = ();\n}", "\n}", false),
        "declaration_list" => c("impl __ {\n", "impl __ {\nfn __() {}\n", "\n#[__]\nfn __() {}\n}", "\n}", false),
        "source_file" => c("", "fn __() {}\n", "\n#[__]\nfn __() {}\n", "\n", false),
        "match_block" => {
            c("fn __() { match () {\n", "fn __() { match () {\n_ => {}\n", "\n_ => {}\n} }", "\n} }", true)
        }
        "field_initializer_list" => {
            c("fn __() { __ {\n", "fn __() { __ {\n__: (),\n", "\n__: (),\n}; }", "\n}; }", true)
        }
        "arguments" => c("fn __() { __(\n", "fn __() { __(\n(),\n", "\n\"\",\n); }", "\n); }", true),
        // A struct's (or a struct-like variant's) fields and an enum's variants: long
        // definitions (a config struct of a hundred fields) were checked as one whole item.
        "field_declaration_list" => c("struct __ {\n", "struct __ {\n__: (),\n", "\n#[__]\n__: (),\n}", "\n}", true),
        "enum_variant_list" => c("enum __ {\n", "enum __ {\n__,\n", "\n#[__]\n__,\n}", "\n}", true),
        _ => None,
    }
}

fn is_comment(node: Node) -> bool {
    // By kind id: this runs for every child of a container the cursor is in, and a kind's name
    // costs a lookup and a string comparison each time.
    static IDS: OnceLock<[u16; 2]> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let id = |kind| Language::Rust.grammar().map_or(u16::MAX, |g| g.id_for_node_kind(kind, true));
        [id("line_comment"), id("block_comment")]
    });
    ids.contains(&node.kind_id())
}

/// An element after which anything may start: a statement or an item, never a block's value
/// (`Foo {}` without `;` ends the block) nor a macro call that may still need its `;`.
fn ends_cleanly(node: Node) -> bool {
    let kind = node.kind();
    matches!(
        kind,
        "expression_statement" | "let_declaration" | "empty_statement" | "attribute_item" | "inner_attribute_item"
    ) || (kind != "macro_invocation" && (kind.ends_with("_item") || kind.ends_with("_declaration")))
}

/// The unit found: `head` and `tail` are the document on either side of the cursor, to be put
/// between `prefix` and `suffix`.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct Nested<'a> {
    pub(super) head: &'a str,
    pub(super) tail: &'a str,
    prefix: &'static str,
    suffix: &'static str,
    kind: &'static str,
    /// Where the container's opening delimiter is in the stand-in (`None` for the file).
    open: Option<usize>,
}

/// A [`Nested`] unit as offsets into its document, so that it can be found while the model is
/// still answering and used once the answer is in.
#[derive(Clone, Debug)]
pub(crate) struct NestedAt {
    start: usize,
    end: usize,
    prefix: &'static str,
    suffix: &'static str,
    kind: &'static str,
    open: Option<usize>,
}

impl NestedAt {
    /// The unit in `document`, the text it was found in, with the cursor at `cursor`.
    pub(crate) fn in_document<'a>(&self, document: &'a str, cursor: usize) -> Option<Nested<'a>> {
        Some(Nested {
            head: document.get(self.start..cursor)?,
            tail: document.get(cursor..self.end)?,
            prefix: self.prefix,
            suffix: self.suffix,
            kind: self.kind,
            open: self.open,
        })
    }
}

impl Nested<'_> {
    /// The unit as offsets; `cursor` is where it was found around.
    pub(crate) fn at(&self, cursor: usize) -> NestedAt {
        NestedAt {
            start: cursor - self.head.len(),
            end: cursor + self.tail.len(),
            prefix: self.prefix,
            suffix: self.suffix,
            kind: self.kind,
            open: self.open,
        }
    }

    /// Whether the document parses with `text` in place of `replaced` bytes after the cursor.
    /// `true` is final; `false` means "cannot tell here".
    pub(crate) fn parses(&self, text: &str, replaced: usize) -> bool {
        let pieces = [self.prefix, self.head, text, &self.tail[replaced..], self.suffix];
        let Some(tree) = parse_stand_in(Language::Rust, pieces) else {
            return false;
        };
        if tree.root_node().has_error() {
            return false;
        }
        // A suggestion that closes the container and opens another (`}\nfn more() {`) parses
        // in the stand-in, never in the document: the container must still hold all of it.
        let Some(open) = self.open else { return true };
        let unit_end = self.prefix.len() + self.head.len() + text.len() + self.tail.len() - replaced;
        let Some(node) = tree.root_node().descendant_for_byte_range(open, open + 1) else {
            return false;
        };
        let mut node = Some(node);
        while let Some(n) = node {
            if n.start_byte() < open {
                return false;
            }
            if n.kind() == self.kind {
                return n.end_byte() >= unit_end;
            }
            node = n.parent();
        }
        false
    }
}

fn line_start(document: &str, at: usize) -> usize {
    document[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(document: &str, at: usize) -> usize {
    document[at..].find('\n').map_or(document.len(), |i| at + i)
}

/// What may follow an element on its last line: its separator, then a line comment.
fn only_separator(rest: &str, commas: bool) -> bool {
    let rest = rest.trim_start();
    let rest = if commas { rest.strip_prefix(',').unwrap_or(rest).trim_start() } else { rest };
    rest.is_empty() || (rest.starts_with("//") && !rest.starts_with("///") && !rest.starts_with("//!"))
}

/// The smallest nested unit around the cursor of at most `limit` bytes, for a Rust document
/// that parses. `replaced` bytes after the cursor (on its line) are replaced by the suggestion.
pub(crate) fn find<'a>(
    tree: &Tree,
    document: &'a str,
    cursor: usize,
    replaced: usize,
    limit: usize,
) -> Option<Nested<'a>> {
    let edit_end = cursor + replaced;
    let root = tree.root_node();
    let target = root.descendant_for_byte_range(cursor, edit_end)?;
    // The target and its ancestors, root first, in one descent: `Node::parent` descends from
    // the root again at every step, through every earlier member of an impl block on the way.
    let mut chain = vec![root];
    while let Some(child) = chain.last().filter(|n| n.id() != target.id()).and_then(|n| n.child_with_descendant(target))
    {
        chain.push(child);
    }
    for (depth, &node) in chain.iter().enumerate().rev() {
        if let Some(spec) = container(node.kind()) {
            let is_root = depth == 0;
            let inside = is_root || (node.start_byte() < cursor && edit_end < node.end_byte());
            if inside {
                match unit_in(node, is_root, &spec, document, cursor, edit_end) {
                    Some(found) if found.end - found.start > limit => return None,
                    Some(Found { start, end, before, more }) => {
                        let prefix = if before { spec.lead } else { spec.prefix };
                        // The lead repeats the prefix, so the opening is at the same place.
                        let open = (!spec.prefix.is_empty()).then(|| spec.prefix.trim_end().len() - 1);
                        return Some(Nested {
                            kind: node.kind(),
                            open,
                            head: &document[start..cursor],
                            tail: &document[cursor..end],
                            prefix,
                            suffix: if more { spec.then_more } else { spec.then_close },
                        });
                    }
                    None => {}
                }
            }
        }
    }
    None
}

/// A unit's place in its container.
struct Found {
    start: usize,
    end: usize,
    /// An element precedes it.
    before: bool,
    /// An element follows it.
    more: bool,
}

/// The unit around the cursor in `container`, or `None` when the cursor's place in it cannot
/// be checked on its own. One pass over the children: a block can hold hundreds of statements.
fn unit_in(
    container: Node,
    is_root: bool,
    spec: &Container,
    document: &str,
    cursor: usize,
    edit_end: usize,
) -> Option<Found> {
    let mut walk = container.walk();
    let mut children = container.named_children(&mut walk);
    let mut previous = None;
    // An element (not a comment) ends before the cursor.
    let mut element_before = false;
    let mut first_after = None;
    for child in children.by_ref() {
        if child.end_byte() <= cursor {
            element_before |= !is_comment(child);
            previous = Some(child);
            continue;
        }
        first_after = Some(child);
        break;
    }
    // The first element (not a comment) among `first_after` and the children after it that
    // starts at or after `from`.
    let mut element_from = |from: usize| {
        first_after.into_iter().chain(children.by_ref()).any(|c| c.start_byte() >= from && !is_comment(c))
    };
    if let Some(child) = first_after.filter(|c| c.start_byte() < cursor && edit_end < c.end_byte()) {
        // Inside an element: its whole lines, if it has them to itself.
        if is_comment(child) {
            return None;
        }
        let start = line_start(document, child.start_byte());
        let end = line_end(document, child.end_byte());
        if !document[start..child.start_byte()].trim().is_empty()
            || !only_separator(&document[child.end_byte()..end], spec.commas)
        {
            return None;
        }
        return Some(Found { start, end, before: element_before, more: element_from(child.end_byte()) });
    }
    // Between elements: from the cursor to the end of its line, which must hold nothing more.
    let end = line_end(document, edit_end.min(document.len()));
    if !document[edit_end..end].trim().is_empty() {
        return None;
    }
    // Where the text before the cursor ends: the previous element, or the container's opening.
    let after = match previous {
        Some(p) if is_comment(p) => return None,
        Some(p) => p.end_byte(),
        None if is_root => 0,
        None => container.child(0).filter(|open| !open.is_named())?.end_byte(),
    };
    let between = document[after..cursor].trim();
    let joined = match (previous, spec.commas) {
        // A comma list: the previous element's comma must be there already.
        (Some(_), true) => between == ",",
        (Some(p), false) => between.is_empty() && ends_cleanly(p),
        (None, _) => between.is_empty(),
    };
    if !joined {
        return None;
    }
    Some(Found { start: cursor, end, before: previous.is_some(), more: element_from(cursor) })
}

#[cfg(test)]
mod tests {
    use ropey::Rope;

    use super::*;

    fn unit_after(document: &str, marker: &str) -> (&'static str, &'static str, &'static str) {
        let cursor = document.find(marker).unwrap() + marker.len();
        let tree = crate::text::syntax::parse(Language::Rust, &Rope::from_str(document), None).unwrap();
        let unit = find(&tree, document, cursor, 0, 4096).unwrap();
        (unit.kind, unit.prefix, unit.suffix)
    }

    /// Comments are not elements: a stand-in that put an element where the document has a
    /// comment would turn "a block's last value" into "a value followed by a statement".
    #[test]
    fn comments_around_the_unit_are_not_elements() {
        // Only a comment after the cursor's statement: the block closes after the unit.
        let document = "fn f() {\n    let a = 1;\n    // trailing note\n}\n";
        assert_eq!(unit_after(document, "let a = 1;"), ("block", "fn __() { let _ = ();\n", "\n}"));
        // A statement after it does follow.
        let document = "fn f() {\n    let a = 1;\n    let b = 2;\n}\n";
        assert_eq!(unit_after(document, "let a = 1;").2, "\nlet _ = ();\n}");
        // Only a comment before the cursor's statement: the unit is the block's first element.
        let document = "fn f() {\n    // leading note\n    let a = 1;\n}\n";
        assert_eq!(unit_after(document, "let a = ").1, "fn __() {\n");
        let document = "fn f() {\n    let z = 0;\n    let a = 1;\n}\n";
        assert_eq!(unit_after(document, "let a = ").1, "fn __() { let _ = ();\n");
    }
}
