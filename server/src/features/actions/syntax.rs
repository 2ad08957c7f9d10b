//! Where an action applies, found in the syntax tree: the enclosing function, the item to
//! document, the `mod tests` of a Rust file, an instruction comment. Everything is answered in
//! line indices of the snapshot, so the rest of the feature never holds a tree node.

use std::ops::Range;

use tree_sitter::Node;

use crate::context::declared_name;
use crate::text::{DocumentSnapshot, Language};

fn function_kinds(language: Language) -> &'static [&'static str] {
    match language {
        Language::Rust => &["function_item"],
        Language::Python => &["function_definition"],
        Language::TypeScript | Language::Tsx | Language::JavaScript => &[
            "function_declaration",
            "method_definition",
            "generator_function_declaration",
            "arrow_function",
            "function_expression",
        ],
        Language::Go => &["function_declaration", "method_declaration", "func_literal"],
        Language::Java => {
            &["method_declaration", "constructor_declaration", "compact_constructor_declaration", "lambda_expression"]
        }
        Language::CSharp => &[
            "method_declaration",
            "constructor_declaration",
            "local_function_statement",
            "lambda_expression",
            "accessor_declaration",
        ],
        Language::C => &["function_definition"],
        Language::Cpp => &["function_definition", "lambda_expression"],
        Language::Ruby => &["method", "singleton_method", "do_block", "block", "lambda"],
        Language::Php => &["function_definition", "method_declaration", "anonymous_function", "arrow_function"],
        Language::Kotlin => &[
            "function_declaration",
            "secondary_constructor",
            "anonymous_initializer",
            "anonymous_function",
            "lambda_literal",
            "getter",
            "setter",
        ],
        Language::Swift => &[
            "function_declaration",
            "init_declaration",
            "deinit_declaration",
            "lambda_literal",
            "computed_getter",
            "computed_setter",
        ],
        Language::PlainText => &[],
    }
}

fn item_kinds(language: Language) -> &'static [&'static str] {
    match language {
        Language::Rust => &[
            "function_item",
            "function_signature_item",
            "struct_item",
            "enum_item",
            "union_item",
            "trait_item",
            "type_item",
            "const_item",
            "static_item",
            "mod_item",
            "macro_definition",
        ],
        Language::Python => &["function_definition", "class_definition"],
        Language::TypeScript | Language::Tsx | Language::JavaScript => &[
            "function_declaration",
            "generator_function_declaration",
            "class_declaration",
            "method_definition",
            "interface_declaration",
            "type_alias_declaration",
            "enum_declaration",
            "lexical_declaration",
        ],
        Language::Go => &["function_declaration", "method_declaration", "type_declaration"],
        Language::Java => &[
            "method_declaration",
            "constructor_declaration",
            "compact_constructor_declaration",
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "annotation_type_declaration",
            "field_declaration",
            "constant_declaration",
        ],
        Language::CSharp => &[
            "method_declaration",
            "constructor_declaration",
            "property_declaration",
            "class_declaration",
            "struct_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "delegate_declaration",
            "field_declaration",
            "event_declaration",
        ],
        // Declarations too: a header documents its prototypes and its classes' members.
        Language::C | Language::Cpp => &[
            "function_definition",
            "declaration",
            "field_declaration",
            "struct_specifier",
            "union_specifier",
            "enum_specifier",
            "class_specifier",
            "type_definition",
            "alias_declaration",
            "preproc_def",
            "preproc_function_def",
        ],
        Language::Ruby => &["method", "singleton_method", "class", "module"],
        Language::Php => &[
            "function_definition",
            "method_declaration",
            "class_declaration",
            "interface_declaration",
            "trait_declaration",
            "enum_declaration",
            "property_declaration",
            "const_declaration",
        ],
        Language::Kotlin => &[
            "function_declaration",
            "secondary_constructor",
            "class_declaration",
            "object_declaration",
            "property_declaration",
            "type_alias",
        ],
        Language::Swift => &[
            "function_declaration",
            "init_declaration",
            "class_declaration",
            "protocol_declaration",
            "protocol_function_declaration",
            "property_declaration",
            "typealias_declaration",
        ],
        Language::PlainText => &[],
    }
}

/// Whether a node of one of [`item_kinds`] is an item worth a doc comment: in C and C++, not a
/// local variable or type inside a function body.
fn is_item(language: Language, node: Node<'_>) -> bool {
    if !matches!(language, Language::C | Language::Cpp) || node.kind() == "function_definition" {
        return true;
    }
    let mut parent = node.parent();
    while let Some(p) = parent {
        match p.kind() {
            "compound_statement" => return false,
            "translation_unit" => return true,
            _ => parent = p.parent(),
        }
    }
    true
}

/// The lines a node covers.
fn node_lines(snap: &DocumentSnapshot, node: Node<'_>) -> Range<usize> {
    let rope = snap.rope();
    let start = rope.char_to_line(snap.byte_to_char(node.start_byte()));
    let end = rope.char_to_line(snap.byte_to_char(node.end_byte()));
    start..end + 1
}

fn node_at(snap: &DocumentSnapshot, char_idx: usize) -> Option<Node<'_>> {
    let tree = snap.tree()?;
    let byte = snap.char_to_byte(char_idx.min(snap.len_chars()));
    tree.root_node().descendant_for_byte_range(byte, byte)
}

fn name_of(snap: &DocumentSnapshot, node: Node<'_>) -> String {
    let named = node.child_by_field_name("name").or_else(|| {
        // `const f = () => …`, `type X struct {…}`: the name sits one level down.
        let mut cursor = node.walk();
        let child = node
            .named_children(&mut cursor)
            .find(|c| matches!(c.kind(), "variable_declarator" | "type_spec" | "lexical_declaration"));
        child.and_then(|c| c.child_by_field_name("name"))
    });
    // C and C++ name functions, variables and typedefs inside their declarator.
    let named = named.or_else(|| declared_name(node.child_by_field_name("declarator")?));
    // Kotlin's `val name`: a `variable_declaration` holding the identifier, without fields.
    let named = named.or_else(|| {
        let mut cursor = node.walk();
        let declaration = node.named_children(&mut cursor).find(|c| c.kind() == "variable_declaration")?;
        let mut cursor = declaration.walk();
        let name = declaration.named_children(&mut cursor).find(|c| c.kind() == "identifier");
        name
    });
    named.map(|n| snap.slice(snap.byte_to_char(n.start_byte())..snap.byte_to_char(n.end_byte()))).unwrap_or_default()
}

/// The innermost function or method around `char_idx`: its lines and name.
pub fn enclosing_function(snap: &DocumentSnapshot, char_idx: usize) -> Option<(Range<usize>, String)> {
    let kinds = function_kinds(snap.language());
    let mut node = node_at(snap, char_idx);
    while let Some(n) = node {
        if kinds.contains(&n.kind()) {
            return Some((node_lines(snap, n), name_of(snap, n)));
        }
        node = n.parent();
    }
    None
}

/// The function or type whose doc comment the Document action writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Documentable {
    pub name: String,
    /// The item itself, for the prompt.
    pub lines: Range<usize>,
    /// Lines the doc comment replaces: an existing doc comment, or an empty range where a new
    /// one goes (above the item and its attributes; inside the body for a Python docstring).
    pub doc_lines: Range<usize>,
    /// Indentation of the doc comment.
    pub indent: String,
}

pub fn documentable(snap: &DocumentSnapshot, char_idx: usize) -> Option<Documentable> {
    let language = snap.language();
    let kinds = item_kinds(language);
    let mut node = node_at(snap, char_idx);
    let item = loop {
        let n = node?;
        if kinds.contains(&n.kind()) && is_item(language, n) {
            break n;
        }
        node = n.parent();
    };
    // `typedef struct { … } point;` and `struct config { … } defaults;` are documented as the
    // declaration, which names them.
    let item = match item.parent() {
        Some(p) if item.kind().ends_with("_specifier") && matches!(p.kind(), "type_definition" | "declaration") => p,
        _ => item,
    };
    // `export function f` documents the export statement, where JSDoc tools look for it.
    let outer = match item.parent() {
        // Doxygen reads the comment above a C++ template's `template <…>` line.
        Some(p) if matches!(p.kind(), "export_statement" | "decorated_definition" | "template_declaration") => p,
        _ => item,
    };
    let lines = node_lines(snap, outer);
    let name = name_of(snap, item);
    if language == Language::Python {
        let body = item.child_by_field_name("body")?;
        let body_lines = node_lines(snap, body);
        if body_lines.start == node_lines(snap, item).start {
            return None; // a one-line `def f(): …` has no room for a docstring
        }
        let indent = leading_ws(&snap.line(body_lines.start));
        let first = body.named_child(0);
        let existing = first
            .filter(|f| f.kind() == "expression_statement" && f.named_child(0).is_some_and(|s| s.kind() == "string"));
        let doc_lines = match existing {
            Some(f) => node_lines(snap, f),
            None => body_lines.start..body_lines.start,
        };
        return Some(Documentable { name, lines, doc_lines, indent });
    }
    let indent = leading_ws(&snap.line(lines.start));
    // Above the item: its attributes stay with it, an existing doc comment is replaced.
    let mut top = lines.start;
    while top > 0 && language == Language::Rust && snap.line(top - 1).trim_start().starts_with("#[") {
        top -= 1;
    }
    let mut doc_top = top;
    while doc_top > 0 && is_doc_line(language, &snap.line(doc_top - 1)) {
        doc_top -= 1;
    }
    Some(Documentable { name, lines: top.min(lines.start)..lines.end, doc_lines: doc_top..top, indent })
}

fn is_doc_line(language: Language, line: &str) -> bool {
    let t = line.trim_start();
    match language {
        Language::Rust => t.starts_with("///"),
        Language::Go => t.starts_with("//"),
        // Doxygen's `///`, `//!` and `/** … */`, and the plain comments many projects document with.
        Language::C | Language::Cpp => {
            t.starts_with("//") || t.starts_with("/*") || t.starts_with("* ") || t == "*" || t.starts_with("*/")
        }
        Language::TypeScript | Language::Tsx | Language::JavaScript | Language::Java | Language::Kotlin => {
            t.starts_with("/**") || t.starts_with("* ") || t == "*" || t.starts_with("*/")
        }
        Language::CSharp => t.starts_with("///"),
        // Swift's markup is in `///` lines, or in a `/** … */` block.
        Language::Swift => {
            t.starts_with("///") || t.starts_with("/**") || t.starts_with("* ") || t == "*" || t.starts_with("*/")
        }
        // PHPDoc is Javadoc's form.
        Language::Php => t.starts_with("/**") || t.starts_with("* ") || t == "*" || t.starts_with("*/"),
        // YARD and RDoc document with the `#` lines above the definition.
        Language::Ruby => t.starts_with('#'),
        Language::Python | Language::PlainText => false,
    }
}

pub fn leading_ws(line: &str) -> String {
    line[..line.len() - line.trim_start().len()].to_string()
}

/// Where a Rust file keeps its tests: the line of the closing brace of its top-level
/// `mod tests { … }`, before which new tests go; `None` when there is none.
pub fn rust_tests_module_end(snap: &DocumentSnapshot) -> Option<usize> {
    let tree = snap.tree()?;
    let root = tree.root_node();
    let mut cursor = root.walk();
    let module = root.named_children(&mut cursor).find(|n| {
        n.kind() == "mod_item"
            && n.child_by_field_name("name").is_some_and(|name| {
                snap.slice(snap.byte_to_char(name.start_byte())..snap.byte_to_char(name.end_byte())) == "tests"
            })
            && n.child_by_field_name("body").is_some()
    })?;
    Some(node_lines(snap, module).end - 1)
}

/// Where a Java or C# test file takes new test methods: the line of the brace that closes its
/// last top-level class (in C#, the last class of its last namespace), when that brace is on a
/// line of its own. Appending after it would put methods outside any class.
pub fn test_class_end(snap: &DocumentSnapshot) -> Option<usize> {
    if !matches!(snap.language(), Language::Java | Language::CSharp) {
        return None;
    }
    let tree = snap.tree()?;
    let mut list = tree.root_node();
    let class = loop {
        let mut cursor = list.walk();
        let last = list.named_children(&mut cursor).filter(|n| n.kind().ends_with("_declaration")).last()?;
        match last.kind() {
            "namespace_declaration" => list = last.child_by_field_name("body")?,
            "class_declaration" | "record_declaration" | "struct_declaration" => break last,
            _ => return None,
        }
    };
    class.child_by_field_name("body")?;
    let end = node_lines(snap, class).end - 1;
    (snap.line(end).trim() == "}").then_some(end)
}

/// The instruction of a `kimi:` comment on line `line` (`// kimi: make this iterative`,
/// `# kimi: …`), if that line is one.
pub fn instruction_on(snap: &DocumentSnapshot, line: usize) -> Option<String> {
    let text = snap.line(line);
    let t = text.trim_start();
    let body = t.strip_prefix("//").or_else(|| t.strip_prefix('#')).or_else(|| t.strip_prefix("--"))?;
    let body = body.trim_start();
    let rest = body.get(..5).filter(|p| p.eq_ignore_ascii_case("kimi:")).map(|_| &body[5..])?;
    let instruction = rest.trim();
    (!instruction.is_empty()).then(|| instruction.to_string())
}

/// The outermost node that starts on `line` (the statement or item under an instruction
/// comment when nothing is selected).
pub fn construct_starting_at(snap: &DocumentSnapshot, line: usize) -> Option<Range<usize>> {
    let tree = snap.tree()?;
    let text = snap.line(line);
    let first = text.len() - text.trim_start().len();
    let char_idx = snap.rope().line_to_char(line) + text[..first].chars().count();
    let byte = snap.char_to_byte(char_idx);
    let mut node = tree.root_node().descendant_for_byte_range(byte, byte)?;
    while let Some(parent) = node.parent() {
        if parent.start_byte() != node.start_byte() || parent.parent().is_none() {
            break;
        }
        node = parent;
    }
    Some(node_lines(snap, node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Document;

    fn snap(lang: &str, text: &str) -> DocumentSnapshot {
        Document::new("file:///w/a", lang, 1, text).snapshot()
    }

    #[test]
    fn rust_doc_goes_above_attributes_and_replaces_an_old_doc() {
        let s = snap("rust", "/// old\n#[inline]\npub fn add(a: i32) -> i32 {\n    a\n}\n");
        let d = documentable(&s, s.rope().line_to_char(3)).unwrap();
        assert_eq!((d.name.as_str(), d.lines.clone(), d.doc_lines.clone()), ("add", 1..5, 0..1));
    }

    #[test]
    fn python_docstring_goes_inside_the_body() {
        let s = snap("python", "class A:\n    def f(self):\n        return 1\n");
        let d = documentable(&s, s.rope().line_to_char(2) + 9).unwrap();
        assert_eq!((d.name.as_str(), d.doc_lines.clone(), d.indent.as_str()), ("f", 2..2, "        "));
        let s = snap("python", "def f():\n    \"\"\"Old.\"\"\"\n    return 1\n");
        assert_eq!(documentable(&s, 3).unwrap().doc_lines, 1..2);
    }

    #[test]
    fn javadoc_and_xml_docs_go_above_annotations_and_replace_an_old_doc() {
        let s = snap(
            "java",
            "class A {\n    /**\n     * Old.\n     */\n    @Override\n    public int size() {\n        return 0;\n    }\n}\n",
        );
        let d = documentable(&s, s.rope().line_to_char(6)).unwrap();
        assert_eq!(
            (d.name.as_str(), d.lines.clone(), d.doc_lines.clone(), d.indent.as_str()),
            ("size", 4..8, 1..4, "    ")
        );
        assert_eq!(enclosing_function(&s, s.rope().line_to_char(6)), Some((4..8, "size".to_string())));
        let s = snap(
            "csharp",
            "namespace N\n{\n    /// <summary>Old.</summary>\n    [Serializable]\n    public class Cart\n    {\n        public int Count => 0;\n    }\n}\n",
        );
        let d = documentable(&s, s.rope().line_to_char(4) + 18).unwrap();
        assert_eq!((d.name.as_str(), d.lines.clone(), d.doc_lines.clone()), ("Cart", 3..8, 2..3));
        let d = documentable(&s, s.rope().line_to_char(6) + 20).unwrap();
        assert_eq!((d.name.as_str(), d.doc_lines.clone(), d.indent.as_str()), ("Count", 6..6, "        "));
    }

    #[test]
    fn java_and_csharp_test_classes_take_tests_before_their_closing_brace() {
        let s = snap("java", "package a;\n\nclass ATest {\n    @Test\n    void t() {}\n}\n");
        assert_eq!(test_class_end(&s), Some(5));
        let s = snap("csharp", "using Xunit;\n\nnamespace N\n{\n    public class CartTests\n    {\n    }\n}\n");
        assert_eq!(test_class_end(&s), Some(6));
        let s = snap("csharp", "namespace N;\n\npublic class CartTests\n{\n}\n");
        assert_eq!(test_class_end(&s), Some(4));
        // On one line there is no line to insert before.
        assert_eq!(test_class_end(&snap("java", "class ATest {}\n")), None);
        assert_eq!(test_class_end(&snap("go", "package a\n")), None);
    }

    #[test]
    fn instruction_comments_in_any_comment_syntax() {
        let s = snap("rust", "  // kimi: make this iterative\n# KIMI: shorter\n// kimi:\n// note\n");
        assert_eq!(instruction_on(&s, 0).as_deref(), Some("make this iterative"));
        assert_eq!(instruction_on(&s, 1).as_deref(), Some("shorter"));
        assert_eq!(instruction_on(&s, 2), None);
        assert_eq!(instruction_on(&s, 3), None);
    }

    #[test]
    fn the_tests_module_and_the_enclosing_function() {
        let s = snap("rust", "fn a() {\n    1;\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n");
        assert_eq!(rust_tests_module_end(&s), Some(7));
        assert_eq!(enclosing_function(&s, 12), Some((0..3, "a".to_string())));
        assert_eq!(enclosing_function(&s, s.len_chars() - 1), None);
        assert_eq!(construct_starting_at(&s, 0), Some(0..3));
    }
}
