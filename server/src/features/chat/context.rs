//! What the model sees of the document the user is in: the selection (or the cursor's place),
//! the whole file when it fits a budget, otherwise its imports and the function or type around
//! the selection, and the definitions of the names the selection uses, found in other open
//! documents and the workspace index by the same tree-sitter context gathering as completions.

use std::ops::Range;

use tree_sitter::Node;

use crate::context::{self, Snippet, SymbolLookup};
use crate::text::{DocumentSnapshot, Language};

/// How much of each part the prompt may carry, in chars (about 3.5 chars a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The file is sent whole up to this size (about 7k tokens).
    pub whole_file_chars: usize,
    pub selection_chars: usize,
    /// The function or type around the selection, sent whole up to this size; a larger one is
    /// shown by its header.
    pub enclosing_chars: usize,
    pub imports_chars: usize,
    pub definitions_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            whole_file_chars: 24_000,
            selection_chars: 30_000,
            enclosing_chars: 12_000,
            imports_chars: 1_500,
            definitions_chars: 4_000,
        }
    }
}

/// `text` in a Markdown code fence longer than any run of backticks inside it.
pub fn fence(tag: &str, text: &str) -> String {
    let mut ticks = "```".to_string();
    while text.contains(&ticks) {
        ticks.push('`');
    }
    format!("{ticks}{tag}\n{}{}{ticks}", text, if text.ends_with('\n') { "" } else { "\n" })
}

/// `text` cut to `max` chars at a line end where one lies in its second half, saying so.
pub fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            let cut = &text[..at];
            let cut = match cut.rfind('\n') {
                Some(nl) if nl >= at / 2 => &cut[..=nl],
                _ => cut,
            };
            format!("{cut}{}[… cut at {max} characters]\n", if cut.ends_with('\n') { "" } else { "\n" })
        }
        None => text.to_string(),
    }
}

/// Functions, methods and types: what "the code around the selection" means, innermost first.
fn enclosing_kinds(language: Language) -> &'static [&'static str] {
    match language {
        Language::Rust => &[
            "function_item",
            "impl_item",
            "trait_item",
            "struct_item",
            "enum_item",
            "union_item",
            "mod_item",
            "macro_definition",
        ],
        Language::Python => &["function_definition", "class_definition"],
        Language::TypeScript | Language::Tsx | Language::JavaScript => &[
            "function_declaration",
            "generator_function_declaration",
            "method_definition",
            "class_declaration",
            "abstract_class_declaration",
            "interface_declaration",
            "enum_declaration",
            "arrow_function",
            "function_expression",
        ],
        Language::Go => &["function_declaration", "method_declaration", "type_declaration", "func_literal"],
        Language::Java => &[
            "method_declaration",
            "constructor_declaration",
            "compact_constructor_declaration",
            "lambda_expression",
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
        ],
        Language::CSharp => &[
            "method_declaration",
            "constructor_declaration",
            "local_function_statement",
            "lambda_expression",
            "accessor_declaration",
            "class_declaration",
            "struct_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "namespace_declaration",
        ],
        Language::C => &["function_definition", "struct_specifier", "union_specifier", "enum_specifier"],
        Language::Cpp => &[
            "function_definition",
            "lambda_expression",
            "class_specifier",
            "struct_specifier",
            "union_specifier",
            "enum_specifier",
        ],
        Language::Ruby => &["method", "singleton_method", "do_block", "lambda", "class", "module", "singleton_class"],
        Language::Php => &[
            "function_definition",
            "method_declaration",
            "anonymous_function",
            "arrow_function",
            "class_declaration",
            "interface_declaration",
            "trait_declaration",
            "enum_declaration",
            "namespace_definition",
        ],
        Language::Kotlin => &[
            "function_declaration",
            "secondary_constructor",
            "anonymous_initializer",
            "anonymous_function",
            "lambda_literal",
            "class_declaration",
            "object_declaration",
            "companion_object",
        ],
        Language::Swift => &[
            "function_declaration",
            "init_declaration",
            "deinit_declaration",
            "lambda_literal",
            "class_declaration",
            "protocol_declaration",
        ],
        Language::PlainText => &[],
    }
}

/// The innermost function or type that contains `bytes` and is larger than it, as whole lines
/// (char range) and the word that names its kind in the prompt.
fn enclosing_item(doc: &DocumentSnapshot, bytes: Range<usize>) -> Option<(Range<usize>, &'static str)> {
    let tree = doc.tree()?;
    let kinds = enclosing_kinds(doc.language());
    let mut node: Option<Node<'_>> = tree.root_node().descendant_for_byte_range(bytes.start, bytes.end);
    while let Some(n) = node {
        let larger = n.start_byte() < bytes.start || n.end_byte() > bytes.end;
        if kinds.contains(&n.kind()) && larger {
            let rope = doc.rope();
            let first = rope.byte_to_line(n.start_byte());
            let last = rope.byte_to_line(n.end_byte().saturating_sub(1).max(n.start_byte()));
            let start = rope.line_to_char(first);
            let end = if last + 1 < rope.len_lines() { rope.line_to_char(last + 1) } else { rope.len_chars() };
            let word = if n.kind().contains("function")
                || n.kind().contains("method")
                || n.kind() == "func_literal"
                || n.kind() == "arrow_function"
                || n.kind().contains("constructor")
                || n.kind() == "lambda_expression"
                || n.kind() == "accessor_declaration"
            {
                "function"
            } else {
                "definition"
            };
            return Some((start..end, word));
        }
        node = n.parent();
    }
    None
}

fn lines(n: usize) -> String {
    if n == 1 {
        "1 line".into()
    } else {
        format!("{n} lines")
    }
}

/// 1-based first and last line of a char range (an end at a line start belongs to the line
/// before).
fn line_span(doc: &DocumentSnapshot, chars: &Range<usize>) -> (usize, usize) {
    let rope = doc.rope();
    let first = rope.char_to_line(chars.start);
    let last_char = if chars.end > chars.start { chars.end - 1 } else { chars.start };
    (first + 1, rope.char_to_line(last_char.min(rope.len_chars())) + 1)
}

/// Definitions in `primary` first, then those of `more` not yet listed, within `budget` chars.
fn merge_definitions(primary: Vec<Snippet>, more: Vec<Snippet>, budget: usize) -> Vec<Snippet> {
    let mut left = budget;
    let mut out: Vec<Snippet> = Vec::new();
    for s in primary.into_iter().chain(more) {
        if out.iter().any(|o| o.path == s.path && o.text == s.text) {
            continue;
        }
        let cost = s.text.chars().count() + s.path.chars().count() + 8;
        if cost > left {
            continue;
        }
        left -= cost;
        out.push(s);
    }
    out
}

/// The part of the user message about the current document. `name` is how the file is shown;
/// `focus` the selection (an empty range: the cursor) in chars. Binary and secret documents
/// are the caller's to leave out.
pub fn document_section(
    doc: &DocumentSnapshot,
    name: &str,
    focus: Option<Range<usize>>,
    symbols: &dyn SymbolLookup,
    budget: &Budget,
) -> String {
    let rope = doc.rope();
    let name_of_language = doc.language_name();
    let tag: &str = &name_of_language.fence;
    // As an editor numbers them: a final line break does not start another line.
    let ends_with_break = rope.len_chars() > 0 && rope.char(rope.len_chars() - 1) == '\n';
    let total_lines = doc.len_lines() - usize::from(ends_with_break && doc.len_lines() > 1);
    let focus = focus.map(|f| {
        let end = f.end.min(rope.len_chars());
        f.start.min(end)..end
    });
    let mut out = String::new();
    let mut add = |part: String| {
        out.push_str("\n\n");
        out.push_str(&part);
    };

    let whole = rope.len_chars() <= budget.whole_file_chars;
    let all_selected = focus.as_ref().is_some_and(|f| f.start == 0 && f.end == rope.len_chars() && f.end > 0);
    if all_selected && whole {
        // The file follows whole: showing it twice would only cost tokens.
        add(format!("The whole of `{name}` is selected."));
    } else if let Some(sel) = focus.as_ref().filter(|s| !s.is_empty()) {
        let (first, last) = line_span(doc, sel);
        let text = String::from(rope.slice(sel.clone()));
        add(format!(
            "Selected in `{name}` (lines {first}-{last}):\n{}",
            fence(tag, &capped(&text, budget.selection_chars))
        ));
    } else if let Some(cursor) = &focus {
        let line = rope.char_to_line(cursor.start);
        add(format!("The cursor is in `{name}` at line {}: `{}`", line + 1, doc.line(line).trim()));
    }

    if whole {
        add(format!("The current file, `{name}` ({}):\n{}", lines(total_lines), fence(tag, &doc.text())));
    } else {
        add(format!(
            "The current file, `{name}`, has {}, too many to show whole; read_file reads any part of it.",
            lines(total_lines)
        ));
    }

    let Some(focus) = focus else {
        if !whole {
            // Nothing pointed at: the start of the file, where its purpose and imports are.
            let head = String::from(rope.slice(..rope.len_chars().min(budget.whole_file_chars + 1)));
            let text = capped(&head, budget.whole_file_chars);
            let shown = text.lines().count().saturating_sub(1).max(1);
            add(format!("Its first lines (1-{shown}):\n{}", fence(tag, &text)));
        }
        return out.trim_start().to_string();
    };

    let start_byte = rope.char_to_byte(focus.start);
    let end_byte = rope.char_to_byte(focus.end);
    // The update names fields completions may add later, which chat leaves at their defaults.
    #[allow(clippy::needless_update)]
    let gather_budget = context::Budget {
        prefix_chars: 0,
        suffix_chars: 0,
        recent_edit_chars: 0,
        imports_chars: budget.imports_chars,
        cross_file_chars: budget.definitions_chars,
        ..context::Budget::default()
    };
    let around = context::gather(doc, focus.start, symbols, &[], &gather_budget);
    if !whole {
        if !around.imports.trim().is_empty() {
            add(format!("Its imports:\n{}", fence(tag, &around.imports)));
        }
        match enclosing_item(doc, start_byte..end_byte) {
            Some((lines, word)) if lines.len() <= budget.enclosing_chars => {
                let (first, last) = line_span(doc, &lines);
                let what = if focus.is_empty() { "cursor" } else { "selection" };
                add(format!(
                    "The {word} around the {what} (lines {first}-{last}):\n{}",
                    fence(tag, &String::from(rope.slice(lines)))
                ));
            }
            _ => {
                if let Some(headers) = &around.enclosing {
                    add(format!("The code around it starts:\n{}", fence(tag, headers)));
                }
            }
        }
    }
    let used = if focus.is_empty() {
        Vec::new()
    } else {
        context::definitions_used_in(doc, focus.clone(), symbols, budget.definitions_chars)
    };
    let definitions = merge_definitions(used, around.cross_file, budget.definitions_chars);
    if !definitions.is_empty() {
        let mut listing = String::new();
        for d in &definitions {
            listing.push_str(&format!("// {}\n{}\n", d.path, d.text.trim_end()));
        }
        add(format!("Definitions it uses, from other files:\n{}", fence(tag, &listing)));
    }
    out.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::WorkspaceIndex;
    use crate::text::Document;
    use expect_test::expect;

    fn index_with(files: &[(&str, &str)]) -> WorkspaceIndex {
        let index = WorkspaceIndex::new();
        for (path, text) in files {
            index.update_file(path, Language::detect("", path), text);
        }
        index
    }

    #[test]
    fn capped_text_ends_at_a_line_and_says_so() {
        assert_eq!(capped("abc\ndef\nghi\n", 100), "abc\ndef\nghi\n");
        assert_eq!(capped("abc\ndef\nghi\n", 9), "abc\ndef\n[… cut at 9 characters]\n");
        assert_eq!(fence("rust", "a ``` b"), "````rust\na ``` b\n````");
    }

    #[test]
    fn a_large_file_sends_the_selection_its_function_imports_and_definitions() {
        let index = index_with(&[
            ("/w/src/store.rs", "pub struct Store { items: Vec<Item> }\nimpl Store {\n    pub fn get(&self, id: u32) -> Option<&Item> { None }\n}\n"),
            ("/w/src/item.rs", "pub struct Item { pub id: u32, pub price: u64 }\npub fn unrelated() {}\n"),
        ]);
        let filler: String = (0..30).map(|i| format!("fn filler_{i}() -> u32 {{\n    {i}\n}}\n\n")).collect();
        let text = format!(
            "use crate::store::Store;\nuse crate::item::Item;\n\n{filler}pub fn total(store: &Store, ids: &[u32]) -> u64 {{\n    let mut sum = 0;\n    for id in ids {{\n        if let Some(item) = store.get(*id) {{\n            sum += item.price;\n        }}\n    }}\n    sum\n}}\n\n{filler}"
        );
        let doc = Document::new("file:///w/src/billing.rs", "rust", 1, &text).snapshot();
        let start = text.find("if let").unwrap();
        let end = text.find("sum += item.price;").unwrap() + "sum += item.price;".len();
        let budget = Budget { whole_file_chars: 1_000, ..Budget::default() };
        let section = document_section(&doc, "src/billing.rs", Some(start..end), &index, &budget);
        expect![[r#"
            Selected in `src/billing.rs` (lines 127-128):
            ```rust
            if let Some(item) = store.get(*id) {
                        sum += item.price;
            ```

            The current file, `src/billing.rs`, has 253 lines, too many to show whole; read_file reads any part of it.

            Its imports:
            ```rust
            use crate::store::Store;
            use crate::item::Item;
            ```

            The function around the selection (lines 124-132):
            ```rust
            pub fn total(store: &Store, ids: &[u32]) -> u64 {
                let mut sum = 0;
                for id in ids {
                    if let Some(item) = store.get(*id) {
                        sum += item.price;
                    }
                }
                sum
            }
            ```

            Definitions it uses, from other files:
            ```rust
            // /w/src/store.rs
            impl Store { pub fn get(&self, id: u32) -> Option<&Item>; }
            // /w/src/store.rs
            pub struct Store { items: Vec<Item> }
            ```"#]]
        .assert_eq(&section);
    }

    #[test]
    fn a_large_java_file_sends_the_method_around_the_selection_and_the_classes_it_uses() {
        let index = index_with(&[(
            "/w/src/main/java/shop/Store.java",
            "package shop;\n\npublic class Store {\n    public Item get(long id) { return null; }\n    private void drop() {}\n}\n",
        )]);
        let filler: String =
            (0..30).map(|i| format!("    int filler{i}() {{\n        return {i};\n    }}\n\n")).collect();
        let text = format!(
            "package shop;\n\nimport java.util.List;\n\nclass Billing {{\n{filler}    long total(Store store, List<Long> ids) {{\n        long sum = 0;\n        for (long id : ids) {{\n            sum += store.get(id).price();\n        }}\n        return sum;\n    }}\n\n{filler}}}\n"
        );
        let doc = Document::new("file:///w/src/main/java/shop/Billing.java", "java", 1, &text).snapshot();
        let start = text.find("sum += store").unwrap();
        let end = start + "sum += store.get(id).price();".len();
        let budget = Budget { whole_file_chars: 1_000, ..Budget::default() };
        let section = document_section(&doc, "src/main/java/shop/Billing.java", Some(start..end), &index, &budget);
        expect![[r#"
            Selected in `src/main/java/shop/Billing.java` (lines 129-129):
            ```java
            sum += store.get(id).price();
            ```

            The current file, `src/main/java/shop/Billing.java`, has 254 lines, too many to show whole; read_file reads any part of it.

            Its imports:
            ```java
            package shop;
            import java.util.List;
            ```

            The function around the selection (lines 126-132):
            ```java
                long total(Store store, List<Long> ids) {
                    long sum = 0;
                    for (long id : ids) {
                        sum += store.get(id).price();
                    }
                    return sum;
                }
            ```

            Definitions it uses, from other files:
            ```java
            // /w/src/main/java/shop/Store.java
            public class Store { public Item get(long id); }
            // /w/src/main/java/shop/Store.java
            public class Store {
                public Item get(long id);
            }
            ```"#]].assert_eq(&section);
    }

    #[test]
    fn names_at_the_edges_of_a_selection_are_looked_up() {
        let index = index_with(&[("/w/lib.rs", "pub fn first() {}\npub fn last() {}\npub fn outside() {}\n")]);
        let text = "first(); outside();\nlet x = last();\n";
        let doc = Document::new("file:///w/main.rs", "rust", 1, text).snapshot();
        let names = |range: Range<usize>| -> Vec<String> {
            context::definitions_used_in(&doc, range, &index, 1000).into_iter().map(|s| s.text).collect()
        };
        assert_eq!(names(0..7), ["pub fn first()"], "a selection that starts the file");
        let start = text.find("last").unwrap();
        assert_eq!(names(start..start + 6), ["pub fn last()"], "a selection that starts at a name");
    }

    #[test]
    fn a_small_file_selected_whole_is_sent_once() {
        let text = "fn main() {}\n";
        let doc = Document::new("file:///w/main.rs", "rust", 1, text).snapshot();
        let section =
            document_section(&doc, "main.rs", Some(0..text.len()), &crate::context::NoSymbols, &Budget::default());
        assert_eq!(
            section,
            "The whole of `main.rs` is selected.\n\nThe current file, `main.rs` (1 line):\n```rust\nfn main() {}\n```"
        );
    }

    #[test]
    fn without_a_range_a_large_file_sends_its_first_lines() {
        let text: String = (1..=100).map(|i| format!("const C{i}: u32 = {i};\n")).collect();
        let doc = Document::new("file:///w/consts.rs", "rust", 1, &text).snapshot();
        let budget = Budget { whole_file_chars: 60, ..Budget::default() };
        let section = document_section(&doc, "consts.rs", None, &crate::context::NoSymbols, &budget);
        expect![[r#"
            The current file, `consts.rs`, has 100 lines, too many to show whole; read_file reads any part of it.

            Its first lines (1-3):
            ```rust
            const C1: u32 = 1;
            const C2: u32 = 2;
            const C3: u32 = 3;
            [… cut at 60 characters]
            ```"#]]
        .assert_eq(&section);
    }

    #[test]
    fn a_small_file_is_sent_whole_with_the_cursor_line() {
        let index = index_with(&[("/w/util.py", "def slugify(text: str) -> str:\n    return text.lower()\n")]);
        let text = "from util import slugify\n\n\ndef title(name):\n    return slugify(name)\n";
        let doc = Document::new("file:///w/main.py", "python", 1, text).snapshot();
        let cursor = text.find("slugify(name)").unwrap();
        let section = document_section(&doc, "main.py", Some(cursor..cursor), &index, &Budget::default());
        expect![[r#"
            The cursor is in `main.py` at line 5: `return slugify(name)`

            The current file, `main.py` (5 lines):
            ```python
            from util import slugify


            def title(name):
                return slugify(name)
            ```

            Definitions it uses, from other files:
            ```python
            // /w/util.py
            def slugify(text: str) -> str: ...
            ```"#]]
        .assert_eq(&section);
    }
}
