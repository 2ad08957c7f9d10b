//! Rule 8: a suggestion must not break a document that parsed. The suggestion is parsed in
//! place; when that has errors, it is cut back line by line to the longest part that parses.
//!
//! With the document's own tree, "in place" means within the smallest piece of the document that
//! parses on its own (a Rust list element, see `nested.rs`; a function, say), falling back to an
//! incremental reparse of the whole document. Without it, the document is parsed once in full and every cut-back attempt is an
//! incremental reparse of that tree.

use std::time::Duration;

use ropey::{Rope, RopeBuilder};
use tree_sitter::{InputEdit, Node, Point, Tree};

use crate::text::{Language, PARSE_LIMIT_BYTES};

use super::CompletionSite;

/// The most cut-back attempts: a suggestion is a few dozen lines at most.
const MAX_CUTS: usize = 32;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Cut { text: String, replaced: usize },
    Reject,
}

/// The cursor's byte offset in `document`: where `before` ends and `after` starts. `None` when
/// the windows do not fit the document (the caller passed texts of different versions).
pub(crate) fn locate_cursor(document: &str, before: &str, after: &str) -> Option<usize> {
    let fits = |p: usize| {
        document.get(..p).is_some_and(|d| d.ends_with(before))
            && document.get(p..).is_some_and(|d| d.starts_with(after))
    };
    // The usual case: `before` is the whole prefix.
    if fits(before.len()) {
        return Some(before.len());
    }
    if before.is_empty() {
        return document.find(after).filter(|&p| fits(p));
    }
    document.match_indices(before).map(|(at, _)| at + before.len()).find(|&p| fits(p))
}

fn point_after(mut point: Point, text: &str) -> Point {
    match text.rfind('\n') {
        Some(i) => {
            // A byte count, which the compiler vectorises: `text` may be the whole prefix.
            point.row += text.bytes().filter(|&b| b == b'\n').count();
            point.column = text.len() - i - 1;
        }
        None => point.column += text.len(),
    }
    point
}

/// How long one parse may take here. The text comes from a model, and some grammars loop on
/// some input; a parse past the budget is abandoned and the check gives way.
const PARSE_BUDGET: Duration = Duration::from_millis(100);

/// Parses `rope` as `language` (incrementally from `old_tree`, already edited to match) within
/// [`PARSE_BUDGET`], on the text floor's parser pool. `None` when abandoned or for plain text.
pub(crate) fn parse_within(language: Language, rope: &Rope, old_tree: Option<&Tree>) -> Option<Tree> {
    crate::text::syntax::parse_within(language, rope, old_tree, PARSE_BUDGET)
}

fn spliced(head: &str, middle: &str, tail: &str) -> Rope {
    let mut builder = RopeBuilder::new();
    builder.append(head);
    builder.append(middle);
    builder.append(tail);
    builder.finish()
}

fn parses(tree: &Tree) -> bool {
    !tree.root_node().has_error()
}

/// The document with `text` in place of the `replaced` bytes after the cursor.
struct Splice<'a> {
    head: &'a str,
    rest: &'a str,
    /// The cursor's point, found when first needed: counting the lines before it is not free.
    start: std::cell::OnceCell<Point>,
}

impl Splice<'_> {
    fn rope(&self, text: &str, replaced: usize) -> Rope {
        spliced(self.head, text, &self.rest[replaced..])
    }

    /// The edit that turns `head + from_text + rest[from_replaced..]` into
    /// `head + to_text + rest[to_replaced..]`.
    fn edit(&self, from: (&str, usize), to: (&str, usize)) -> InputEdit {
        // Past the larger replaced count both texts are `rest`; before it, each has its text
        // and the replaced characters it gives back.
        let shared = from.1.max(to.1);
        let old_middle = format!("{}{}", from.0, &self.rest[from.1..shared]);
        let new_middle = format!("{}{}", to.0, &self.rest[to.1..shared]);
        let cursor = self.head.len();
        let start = *self.start.get_or_init(|| point_after(Point::new(0, 0), self.head));
        InputEdit {
            start_byte: cursor,
            old_end_byte: cursor + old_middle.len(),
            new_end_byte: cursor + new_middle.len(),
            start_position: start,
            old_end_position: point_after(start, &old_middle),
            new_end_position: point_after(start, &new_middle),
        }
    }
}

/// The largest unit parsed on its own; beyond it the whole document is reparsed incrementally
/// (about 0.7 ms on a 3,000-line file, as much as parsing 5–7 KiB from scratch; a unit may need
/// two parses). BENCHMARKS.md has the sweep this was chosen from.
pub(crate) const MAX_UNIT_BYTES: usize = 4 * 1024;

/// The smallest piece of the document around the cursor that parses on its own: a function, a
/// method (inside a stand-in class), a top-level item, or the cursor's line between items.
/// Parsing a small one with the suggestion in place costs microseconds where an incremental
/// reparse of a large file costs a few tenths of a millisecond.
struct Unit<'a> {
    head: &'a str,
    tail: &'a str,
    prefix: &'static str,
    suffix: &'static str,
    /// A verdict of "does not parse" holds for the whole document too. Not for the cursor's
    /// line between items, where the suggestion may combine with the next item (`const y = `
    /// before a class makes a class expression), nor in Python, where a line that dedents
    /// past the unit belongs to an outer block the stand-in lacks. Where it holds, so does a
    /// verdict of "parses" (`the_unit_shortcut_agrees_with_a_full_parse` checks both).
    failure_is_final: bool,
    /// Whether the unit parses on its own without the suggestion: if it does not, its verdicts
    /// mean nothing. Found only when needed: a unit that is a node of the document's tree (not
    /// the cursor's line) parsed there as that kind of item, so its verdict of "parses" holds
    /// without this check, which would cost a second parse of the unit on every request.
    parses_alone: std::cell::OnceCell<bool>,
}

fn is_unit(language: Language, node: Node, parent: Node) -> bool {
    let kind = node.kind();
    match language {
        Language::Rust => kind == "function_item" || matches!(parent.kind(), "source_file" | "declaration_list"),
        Language::Python => {
            matches!(kind, "function_definition" | "class_definition" | "decorated_definition")
                || parent.kind() == "module"
        }
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            matches!(
                kind,
                "function_declaration" | "generator_function_declaration" | "class_declaration" | "method_definition"
            ) || parent.kind() == "program"
        }
        Language::Go => parent.kind() == "source_file",
        // Members go back into a stand-in class or namespace (see `Unit::find`).
        Language::Java => {
            matches!(
                kind,
                "method_declaration"
                    | "constructor_declaration"
                    | "class_declaration"
                    | "interface_declaration"
                    | "enum_declaration"
                    | "record_declaration"
            ) || parent.kind() == "program"
        }
        Language::CSharp => {
            matches!(
                kind,
                "method_declaration"
                    | "constructor_declaration"
                    | "class_declaration"
                    | "struct_declaration"
                    | "interface_declaration"
                    | "enum_declaration"
                    | "record_declaration"
            ) || parent.kind() == "compilation_unit"
        }
        // Functions wherever they are (a member defined in its class too), and the items of a
        // file, a namespace, an `extern "C"` block, an include guard or a class body. A class
        // member goes back into a stand-in `struct`, the rest parses at the top level. Not a
        // preprocessor directive or conditional: it ends at a line end, which a `\` or an
        // `#endif` in the suggestion moves past what follows the unit.
        Language::C | Language::Cpp => {
            kind == "function_definition"
                || node.is_named()
                    && !kind.starts_with("preproc_")
                    && matches!(
                        c_item_list(parent),
                        Some("translation_unit" | "declaration_list" | "field_declaration_list")
                    )
        }
        // Members and nested types go back into a stand-in class (see `Unit::find`).
        Language::Kotlin => {
            matches!(
                kind,
                "function_declaration" | "secondary_constructor" | "class_declaration" | "object_declaration"
            ) || parent.kind() == "source_file"
        }
        // Functions, initializers and types (structs, enums, extensions, protocols); members go
        // back into a stand-in class (see `Unit::find`).
        Language::Swift => {
            matches!(
                kind,
                "function_declaration"
                    | "init_declaration"
                    | "deinit_declaration"
                    | "class_declaration"
                    | "protocol_declaration"
            ) || parent.kind() == "source_file"
        }
        // A method parses on its own wherever it is (Ruby defines methods at the top level too).
        Language::Ruby => {
            matches!(kind, "method" | "singleton_method")
                || matches!(kind, "class" | "module") && parent.kind() == "program"
        }
        // Members go back into a stand-in class; every unit after a `<?php` tag.
        Language::Php => matches!(
            kind,
            "function_definition"
                | "method_declaration"
                | "class_declaration"
                | "interface_declaration"
                | "trait_declaration"
                | "enum_declaration"
        ),
        Language::PlainText => false,
    }
}

/// The list a C or C++ item is in, through the `#if` branches around it: an include guard's
/// items are the file's, but an `#ifdef` in a function body holds statements.
fn c_item_list(mut parent: Node<'_>) -> Option<&'static str> {
    while parent.kind().starts_with("preproc_") {
        parent = parent.parent()?;
    }
    Some(parent.kind())
}

impl<'a> Unit<'a> {
    fn find(
        language: Language,
        tree: &Tree,
        document: &'a str,
        cursor: usize,
        replaced: usize,
        limit: usize,
    ) -> Option<Unit<'a>> {
        let root = tree.root_node();
        let mut node = root.descendant_for_byte_range(cursor, cursor + replaced)?;
        let line = || {
            let start = document[..cursor].rfind('\n').map_or(0, |i| i + 1);
            let end = document[cursor + replaced..].find('\n').map_or(document.len(), |i| cursor + replaced + i);
            (start, end)
        };
        let (mut start, mut end, line_unit) = loop {
            let Some(parent) = node.parent() else {
                if matches!(language, Language::C | Language::Cpp | Language::Ruby | Language::Php) {
                    // Between C or C++ items the line is no unit: C's top level takes statements
                    // (a `case 1:` there parses alone but swallows the next item), and an `#endif`
                    // or a `\` on a preprocessor line reaches the lines around it. Ruby's and
                    // PHP's statements outside a method are whole documents' business: a Ruby
                    // line's `do` or a PHP line's `?>` reaches the lines after it.
                    return None;
                }
                // At the top level, between items: the cursor's line.
                let (start, end) = line();
                break (start, end, true);
            };
            // Text inserted at a node's edge is in its parent's context, which may accept less
            // (`export |function f` takes no statement), so the unit must enclose the edit.
            let inside = node.start_byte() < cursor && cursor + replaced < node.end_byte();
            if inside && is_unit(language, node, parent) {
                break (node.start_byte(), node.end_byte(), false);
            }
            node = parent;
        };
        let failure_is_final = language != Language::Python && !line_unit;
        let mut prefix = "";
        let mut suffix = "";
        // Items of an impl, a trait or a module, and methods of a class, go back into a
        // stand-in of their container: a top level accepts more than an impl body does.
        let parent_kind = node.parent().map(|p| p.kind());
        if language == Language::Rust && parent_kind == Some("declaration_list") {
            prefix = "impl __ {\n";
            suffix = "\n}";
        }
        if node.kind() == "method_definition" {
            prefix = "class __ {\n";
            suffix = "\n}";
        }
        if matches!(language, Language::Java | Language::CSharp) {
            // A top level accepts statements (Java's grammar, C#'s top-level programs), which a
            // class or namespace body does not: members and nested types keep their container.
            let parent = node.parent();
            let grandparent_kind = parent.and_then(|p| p.parent()).map(|g| g.kind());
            match parent_kind {
                Some("declaration_list") if grandparent_kind == Some("namespace_declaration") => {
                    prefix = "namespace __ {\n";
                    suffix = "\n}";
                }
                Some("class_body" | "interface_body" | "enum_body_declarations" | "declaration_list") => {
                    prefix = "class __ {\n";
                    suffix = "\n}";
                }
                _ => {}
            }
        }
        if matches!(language, Language::C | Language::Cpp)
            && node.parent().and_then(c_item_list) == Some("field_declaration_list")
        {
            prefix = "struct __ {\n";
            suffix = "\n};";
        }
        if matches!(language, Language::Kotlin | Language::Swift)
            && matches!(parent_kind, Some("class_body" | "enum_class_body"))
        {
            // A class body takes declarations only, where a file takes statements too.
            prefix = "class __ {\n";
            suffix = "\n}";
        }
        if language == Language::Php {
            // Outside `<?php` everything is HTML.
            let member = matches!(parent_kind, Some("declaration_list" | "enum_declaration_list"));
            (prefix, suffix) = if member { ("<?php class __ {\n", "\n}") } else { ("<?php\n", "") };
        }
        if language == Language::Python {
            // From the line start, so that the suggestion's lines keep their indentation
            // relative to the unit's; an indented unit goes inside a stand-in block.
            start = document[..start].rfind('\n').map_or(0, |i| i + 1);
            if document[start..].starts_with([' ', '\t']) {
                prefix = "class __:\n";
            }
        }
        end = end.max(cursor + replaced);
        // Through the line break after the unit: Go ends a statement there.
        let line_rest = document[end..].split('\n').next().unwrap_or("");
        if line_rest.trim().is_empty() {
            end = (end + line_rest.len() + 1).min(document.len());
        }
        if end - start > limit {
            return None;
        }
        Some(Unit {
            head: &document[start..cursor],
            tail: &document[cursor..end],
            prefix,
            suffix,
            failure_is_final,
            parses_alone: std::cell::OnceCell::new(),
        })
    }

    fn parses_alone(&self, language: Language) -> bool {
        *self.parses_alone.get_or_init(|| self.parses(language, "", 0))
    }

    /// "Parses" holds for the whole document too.
    fn success_is_final(&self, language: Language) -> bool {
        self.failure_is_final || self.parses_alone(language)
    }

    /// "Does not parse" holds for the whole document too.
    fn failure_is_final(&self, language: Language) -> bool {
        self.failure_is_final && self.parses_alone(language)
    }

    fn parses(&self, language: Language, text: &str, replaced: usize) -> bool {
        parse_stand_in(language, [self.prefix, self.head, text, &self.tail[replaced..], self.suffix])
            .is_some_and(|t| parses(&t))
    }
}

/// Parses the pieces of a unit's stand-in (prefix, text before the suggestion, the suggestion,
/// text after it, suffix) as one text, from scratch.
pub(super) fn parse_stand_in(language: Language, pieces: [&str; 5]) -> Option<Tree> {
    let mut builder = RopeBuilder::new();
    for piece in pieces {
        builder.append(piece);
    }
    parse_within(language, &builder.finish(), None)
}

/// What the parse check can find out before the suggestion exists: the cursor's nested unit
/// for a suggestion that replaces nothing after the cursor (the usual case). Found while the
/// model is answering, it takes the descent to the cursor, which runs on caches gone cold while
/// the request waited, out of the time between the answer and the response.
#[derive(Clone, Debug)]
pub(crate) struct Ahead {
    cursor: usize,
    nested: Option<super::nested::NestedAt>,
}

impl Ahead {
    /// `None` where the check would not use a nested unit (no tree, not Rust, a document that
    /// does not parse or is too large for the check).
    pub(crate) fn find(site: &CompletionSite, original: Option<&Tree>) -> Option<Ahead> {
        let tree = original?;
        let document = site.document?;
        let parsed = site.original_parses.unwrap_or_else(|| parses(tree));
        if site.language != Language::Rust || !parsed || document.len() > PARSE_LIMIT_BYTES {
            return None;
        }
        let cursor = locate_cursor(document, site.before, site.after)?;
        let nested = super::nested::find(tree, document, cursor, 0, MAX_UNIT_BYTES).map(|n| n.at(cursor));
        Some(Ahead { cursor, nested })
    }

    #[cfg(test)]
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    #[cfg(test)]
    pub(crate) fn nested<'a>(&self, document: &'a str) -> Option<super::nested::Nested<'a>> {
        self.nested.as_ref().and_then(|n| n.in_document(document, self.cursor))
    }
}

/// Checks `text` (replacing `replaced` bytes after the cursor) against the document.
/// `original` is the document's own tree, when the caller has it: the suggestion is then
/// parsed within its unit, and at worst the document reparsed incrementally. `ahead`, found
/// for this site and tree, saves looking for the unit again.
pub(crate) fn check(
    site: &CompletionSite,
    text: &str,
    replaced: usize,
    original: Option<&Tree>,
    ahead: Option<&Ahead>,
) -> Verdict {
    check_with_limit(site, text, replaced, original, MAX_UNIT_BYTES, ahead)
}

/// [`check`] with units of at most `limit` bytes: tests make it small so that every kind of
/// unit is exercised on small documents.
pub(crate) fn check_with_limit(
    site: &CompletionSite,
    text: &str,
    replaced: usize,
    original: Option<&Tree>,
    limit: usize,
    ahead: Option<&Ahead>,
) -> Verdict {
    let Some(document) = site.document else {
        return Verdict::Keep;
    };
    let language = site.language;
    let original_parses = site.original_parses.or_else(|| original.map(parses));
    if original_parses != Some(true) || language.grammar().is_none() || document.len() > PARSE_LIMIT_BYTES {
        return Verdict::Keep;
    }
    let ahead = ahead.filter(|a| original.is_some() && limit == MAX_UNIT_BYTES && a.cursor <= document.len());
    let Some(cursor) = ahead.map(|a| a.cursor).or_else(|| locate_cursor(document, site.before, site.after)) else {
        tracing::debug!("the completion windows do not match the document; parse check skipped");
        return Verdict::Keep;
    };
    let splice = Splice { head: &document[..cursor], rest: &document[cursor..], start: std::cell::OnceCell::new() };
    let replaced = replaced.min(splice.rest.len());
    // The tree later attempts are edited from, and the text it was parsed from.
    let base: (Tree, &str, usize) = match original {
        Some(tree) => (tree.clone(), "", 0),
        None => match parse_within(language, &splice.rope(text, replaced), None) {
            Some(tree) => (tree, text, replaced),
            // A parse that never ends is no parse.
            None => return Verdict::Reject,
        },
    };
    // Rust's list elements first: the smallest units, and the only ones inside long functions.
    let nested = match ahead {
        Some(ahead) if replaced == 0 => ahead.nested.as_ref().and_then(|n| n.in_document(document, cursor)),
        _ => original
            .filter(|_| language == Language::Rust)
            .and_then(|tree| super::nested::find(tree, document, cursor, replaced, limit)),
    };
    // Looked for only when the nested unit cannot tell, which is rare.
    let unit_found = std::cell::OnceCell::new();
    let unit = || {
        unit_found
            .get_or_init(|| original.and_then(|tree| Unit::find(language, tree, document, cursor, replaced, limit)))
    };
    let reparse = |candidate: &str, candidate_replaced: usize| -> bool {
        let mut edited = base.0.clone();
        edited.edit(&splice.edit((base.1, base.2), (candidate, candidate_replaced)));
        parse_within(language, &splice.rope(candidate, candidate_replaced), Some(&edited)).is_some_and(|t| parses(&t))
    };
    let attempt_as_written = |candidate: &str, candidate_replaced: usize| -> bool {
        if let Some(n) = nested.as_ref() {
            if n.parses(candidate, candidate_replaced) {
                return true;
            }
        }
        if let Some(unit) = unit().as_ref().filter(|u| u.success_is_final(language)) {
            if unit.parses(language, candidate, candidate_replaced) {
                return true;
            }
            if unit.failure_is_final(language) {
                return false;
            }
        }
        reparse(candidate, candidate_replaced)
    };
    // Kotlin's grammar breaks on some bodies written on one line (see `spread_braces`): a
    // suggestion that fails is tried again with its braces on lines of their own.
    let attempt_spread = |candidate: &str, candidate_replaced: usize| -> bool {
        language == Language::Kotlin
            && spread_braces(language, candidate).is_some_and(|spread| attempt_as_written(&spread, candidate_replaced))
    };
    let attempt = |candidate: &str, candidate_replaced: usize| -> bool {
        attempt_as_written(candidate, candidate_replaced) || attempt_spread(candidate, candidate_replaced)
    };
    let whole_parses =
        if original.is_some() { attempt(text, replaced) } else { parses(&base.0) || attempt_spread(text, replaced) };
    if whole_parses {
        return Verdict::Keep;
    }

    let typed = &splice.rest[..replaced];
    let cuts = text.match_indices('\n').map(|(at, _)| text[..at].trim_end()).rev().take(MAX_CUTS);
    for cut in cuts {
        if cut.trim().is_empty() {
            break;
        }
        // The cut keeps the replaced characters only if it still ends with them.
        let cut_replaced = if replaced > 0 && cut.ends_with(typed) { replaced } else { 0 };
        if attempt(cut, cut_replaced) {
            return Verdict::Cut { text: cut.to_owned(), replaced: cut_replaced };
        }
    }
    Verdict::Reject
}

/// `text` with a line break after each `{` and before each `}` of its code (not those in
/// strings or comments); `None` when it has none. The same code in Kotlin, whose statements end
/// at line breaks but never inside braces; but tree-sitter-kotlin-ng 1.1 takes some class and
/// object bodies written on one line for an enum's body and reports an error where the same
/// members on lines of their own parse: `class C { val x = 1 }`, `class C { fun f() {} }`,
/// `class C { init {} }`, `class C { class D }`, `interface I { val x: Int }`,
/// `object { val x = 1 }` (not `class C { fun f() = 1 }` nor `class C { val x: Int = 1 }`).
fn spread_braces(language: Language, text: &str) -> Option<String> {
    let mut at = Vec::new();
    super::lex::Lexer::new(language, super::lex::LexState::Code).scan(text, |i, bracket| {
        if matches!(bracket, super::lex::Bracket::Open(b'{') | super::lex::Bracket::Close(b'}')) {
            at.push((i, bracket));
        }
    });
    if at.is_empty() {
        return None;
    }
    let mut spread = String::with_capacity(text.len() + 2 * at.len());
    let mut from = 0;
    for (i, bracket) in at {
        let split = if matches!(bracket, super::lex::Bracket::Open(_)) { i + 1 } else { i };
        spread.push_str(&text[from..split]);
        spread.push('\n');
        from = split;
    }
    spread.push_str(&text[from..]);
    Some(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cursor_from_windows() {
        let doc = "fn a() {}\nfn b() {}\nfn a() {}\nfn c() {}\n";
        assert_eq!(locate_cursor(doc, doc, ""), Some(doc.len()));
        assert_eq!(locate_cursor(doc, "fn a() {", "}\nfn c"), Some(28));
        assert_eq!(locate_cursor(doc, "fn a() {", "}\nfn b"), Some(8));
        assert_eq!(locate_cursor(doc, "", "fn a"), Some(0));
        assert_eq!(locate_cursor(doc, "fn z", ""), None);
    }

    #[test]
    fn in_a_long_function_a_statement_unit_decides_and_agrees_with_a_full_parse() {
        // Over the item unit's size limit, so only the line (or a reparse of the file) can tell.
        let statements: String = (0..300).map(|i| format!("    let v{i} = compute(&items, {i});\n")).collect();
        let document = format!("fn long(items: &[u32]) -> u32 {{\n{statements}    v299\n}}\n");
        assert!(document.len() > MAX_UNIT_BYTES);
        let cursor = document.find("compute(&items, 150);").unwrap() + "compute(&items, 150);".len();
        let tree = crate::text::syntax::parse(Language::Rust, &Rope::from_str(&document), None).unwrap();
        let (before, after) = document.split_at(cursor);
        let site = CompletionSite {
            language: Language::Rust,
            before,
            after,
            multiline: false,
            original_parses: Some(true),
            document: Some(&document),
            line_ending: crate::text::LineEnding::Lf,
        };
        // Between two statements: a unit of the rest of the cursor's line, in a stand-in block.
        let unit = super::super::nested::find(&tree, &document, cursor, 0, MAX_UNIT_BYTES).unwrap();
        assert!(unit.head.is_empty() && unit.tail.is_empty());
        let cases = [
            (" // the middle one", Some(Verdict::Keep)),
            ("\n    let extra = v150 + 1;", Some(Verdict::Keep)),
            (" fn inner() {}", Some(Verdict::Keep)),
            // An expression statement without its semicolon is fine as a block's last value, not
            // with statements after it: the stand-in's trailing statement catches that.
            (" v150", Some(Verdict::Reject)),
            (" if v150 > 0 {", Some(Verdict::Reject)),
            // Cut back line by line: whatever the cut, as a full parse decides it.
            ("\n    let extra = v150 + 1;\n    let more = (", None),
        ];
        for (text, expected) in &cases {
            let full = check(&site, text, 0, None, None);
            let fast = check(&site, text, 0, Some(&tree), None);
            assert_eq!(fast, full, "{text:?}");
            if let Some(expected) = expected {
                assert_eq!(&fast, expected, "{text:?}");
            }
        }

        // After a line that only closes a statement, too.
        let document = document.replace(
            "v150 = compute(&items, 150);\n",
            "v150 = compute(&items, 150);\n    if v150 > 0 {\n        v150;\n    }\n",
        );
        let cursor = document.find("        v150;\n    }").unwrap() + "        v150;\n    }".len();
        let tree = crate::text::syntax::parse(Language::Rust, &Rope::from_str(&document), None).unwrap();
        let (before, after) = document.split_at(cursor);
        let site = CompletionSite { before, after, document: Some(&document), ..site };
        assert!(super::super::nested::find(&tree, &document, cursor, 0, MAX_UNIT_BYTES).is_some());
        for (text, expected) in &cases {
            let full = check(&site, text, 0, None, None);
            assert_eq!(check(&site, text, 0, Some(&tree), None), full, "after the closing brace: {text:?}");
            if let Some(expected) = expected {
                assert_eq!(&full, expected, "after the closing brace: {text:?}");
            }
        }
    }

    #[test]
    fn points_count_rows_and_bytes() {
        assert_eq!(point_after(Point::new(2, 3), "ab"), Point::new(2, 5));
        assert_eq!(point_after(Point::new(2, 3), "a\nbé"), Point::new(3, 3));
        assert_eq!(point_after(Point::new(0, 0), "a\r\n"), Point::new(1, 0));
    }
}
