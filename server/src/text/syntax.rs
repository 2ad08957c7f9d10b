//! Languages, their tree-sitter grammars, and parsing straight from a rope.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ropey::Rope;
use tree_sitter::{Parser, Point, Tree};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    Rust,
    Python,
    TypeScript,
    Tsx,
    JavaScript,
    Go,
    Java,
    CSharp,
    C,
    Cpp,
    Ruby,
    Php,
    Kotlin,
    Swift,
    PlainText,
}

impl Language {
    /// Every language, plain text last: for tests that must cover each one.
    pub const ALL: [Language; 15] = [
        Language::Rust,
        Language::Python,
        Language::TypeScript,
        Language::Tsx,
        Language::JavaScript,
        Language::Go,
        Language::Java,
        Language::CSharp,
        Language::C,
        Language::Cpp,
        Language::Ruby,
        Language::Php,
        Language::Kotlin,
        Language::Swift,
        Language::PlainText,
    ];

    /// From the LSP languageId ("rust", "python", "typescript", "typescriptreact", "javascript",
    /// "javascriptreact", "go", "java", "csharp", "c", "cpp", "ruby", "php", "kotlin", "swift", and the short
    /// names some editors send, e.g. eglot's "tsx" or "c++", Helix's "rs" and "c-sharp", Neovim's "cs"), and,
    /// when the id is unknown or empty, from the path's extension (.rs .py .pyi .ts .mts .cts .tsx
    /// .js .mjs .cjs .jsx .go .java .cs .csx .c .h .cc .cpp .cxx .c++ .hpp .hh .hxx .h++ .ipp .tpp
    /// .inl .rb .rake .gemspec .ru .php .phtml .kt .kts .swift) or Ruby's file names (`Gemfile`,
    /// `Rakefile`).
    /// `path` may be a plain path or a URI. Anything else is plain text.
    pub fn detect(language_id: &str, path: &str) -> Language {
        Self::from_language_id(language_id).or_else(|| Self::from_path(path)).unwrap_or(Language::PlainText)
    }

    fn from_language_id(id: &str) -> Option<Language> {
        let id = id.trim().to_ascii_lowercase();
        Some(match id.as_str() {
            "rust" | "rs" => Language::Rust,
            "python" | "py" | "python3" => Language::Python,
            "typescript" | "ts" => Language::TypeScript,
            "typescriptreact" | "tsx" => Language::Tsx,
            "javascript" | "js" | "javascriptreact" | "jsx" => Language::JavaScript,
            "go" | "golang" => Language::Go,
            "java" => Language::Java,
            "csharp" | "cs" | "c-sharp" | "c#" => Language::CSharp,
            "c" => Language::C,
            // "cuda" stays plain text: its kernels' `<<<...>>>` launches do not parse as C++.
            "cpp" | "c++" | "cxx" => Language::Cpp,
            "ruby" | "rb" => Language::Ruby,
            "php" => Language::Php,
            "kotlin" | "kt" => Language::Kotlin,
            "swift" => Language::Swift,
            "plaintext" | "text" => Language::PlainText,
            _ => return None,
        })
    }

    fn from_path(path: &str) -> Option<Language> {
        // A URI's query or fragment is not part of the file name.
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        // Ruby's build files are named, not extended.
        if matches!(file, "Gemfile" | "Rakefile" | "Guardfile" | "Podfile" | "Brewfile") {
            return Some(Language::Ruby);
        }
        let (stem, ext) = file.rsplit_once('.')?;
        if stem.is_empty() {
            // ".rs" is a hidden file named "rs", not a Rust file.
            return None;
        }
        Some(match ext.to_ascii_lowercase().as_str() {
            "rs" => Language::Rust,
            "py" | "pyi" => Language::Python,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "go" => Language::Go,
            "java" => Language::Java,
            // .csx: C# scripts, the same grammar with top-level statements.
            "cs" | "csx" => Language::CSharp,
            "c" => Language::C,
            // `.h` is shared by C and C++ and nothing in the name tells which. C++'s grammar parses
            // nearly every C header (the exceptions: C++ keywords used as names, `restrict`), while
            // C's grammar breaks on any class, template or namespace: C++ loses less.
            "h" | "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "tpp" | "inl" => Language::Cpp,
            "rb" | "rake" | "gemspec" | "ru" => Language::Ruby,
            "php" | "phtml" => Language::Php,
            // .kts: Gradle's and other Kotlin scripts, the same grammar with top-level statements.
            "kt" | "kts" => Language::Kotlin,
            "swift" => Language::Swift,
            _ => return None,
        })
    }

    /// `node.kind()`, read from a table: tree-sitter's own turns the kind's C string into a
    /// `&str` (a `strlen` and a UTF-8 check) at every call, and the context's rules ask a few
    /// thousand times per request. `node` must come from a tree of this language's grammar.
    pub fn kind_of<'t>(self, node: impl std::borrow::Borrow<tree_sitter::Node<'t>>) -> &'static str {
        let node = node.borrow();
        const LANGUAGES: usize = Language::PlainText as usize + 1;
        static TABLES: [OnceLock<Box<[&'static str]>>; LANGUAGES] = [const { OnceLock::new() }; LANGUAGES];
        let table = TABLES[self as usize].get_or_init(|| match self.grammar() {
            Some(grammar) => {
                (0..grammar.node_kind_count()).map(|id| grammar.node_kind_for_id(id as u16).unwrap_or("")).collect()
            }
            None => Box::default(),
        });
        let kind = table.get(usize::from(node.kind_id())).copied().unwrap_or_else(|| node.kind());
        // A node of another grammar would get another kind's name: the tests run with this on.
        debug_assert_eq!(kind, node.kind(), "a node of another grammar than {self:?}'s");
        kind
    }

    /// The tree-sitter grammar; `None` for plain text.
    pub fn grammar(self) -> Option<tree_sitter::Language> {
        Some(match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Language::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            // The grammar of whole `.php` files: the text around `<?php … ?>` is HTML.
            Language::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Language::Swift => tree_sitter_swift::LANGUAGE.into(),
            Language::PlainText => return None,
        })
    }

    /// Languages whose files use each other's definitions share a family: TypeScript, TSX and
    /// JavaScript import one another, and so do C and C++. A definition from another family is
    /// a different thing that happens to share a name (a TypeScript `insert` is not what a Rust
    /// `.insert()` calls), so the cross-file context leaves it out.
    pub fn family(self) -> Language {
        match self {
            Language::TypeScript | Language::Tsx | Language::JavaScript => Language::TypeScript,
            // C code includes headers that count as C++ (`.h`), and C++ calls C.
            Language::C | Language::Cpp => Language::Cpp,
            other => other,
        }
    }

    /// Human name, also used in prompts.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::TypeScript => "TypeScript",
            Language::Tsx => "TypeScript (TSX)",
            Language::JavaScript => "JavaScript",
            Language::Go => "Go",
            Language::Java => "Java",
            Language::CSharp => "C#",
            Language::C => "C",
            Language::Cpp => "C++",
            Language::Ruby => "Ruby",
            Language::Php => "PHP",
            Language::Kotlin => "Kotlin",
            Language::Swift => "Swift",
            Language::PlainText => "plain text",
        }
    }

    /// The info string of a Markdown code fence of this language; empty for plain text.
    pub fn fence(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::JavaScript => "javascript",
            Language::Go => "go",
            Language::Java => "java",
            Language::CSharp => "csharp",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Ruby => "ruby",
            Language::Php => "php",
            Language::Kotlin => "kotlin",
            Language::Swift => "swift",
            Language::PlainText => "",
        }
    }
}

thread_local! {
    // One parser per language per thread: parsers are not Sync and each owns sizeable
    // buffers, so sharing them across the documents a thread handles keeps memory flat.
    static PARSERS: RefCell<Vec<(Language, Parser)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's parser for `language`. The parser is taken out of the pool while
/// in use, so a nested call (none exists today) would get a fresh parser rather than a panic.
fn with_parser<R>(language: Language, f: impl FnOnce(&mut Parser) -> R) -> Option<R> {
    let pooled = PARSERS
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let i = pool.iter().position(|(l, _)| *l == language)?;
            Some(pool.swap_remove(i).1)
        })
        .ok()
        .flatten();
    let mut parser = match pooled {
        Some(parser) => parser,
        None => {
            let grammar = language.grammar()?;
            let mut parser = Parser::new();
            if let Err(err) = parser.set_language(&grammar) {
                tracing::error!(language = language.name(), %err, "grammar rejected by tree-sitter");
                return None;
            }
            parser
        }
    };
    let result = f(&mut parser);
    // Failing to return the parser (thread teardown) only costs a re-allocation later.
    let _ = PARSERS.try_with(|pool| pool.borrow_mut().push((language, parser)));
    Some(result)
}

/// The bytes of the rope from `offset` to the end of the chunk holding it, each lone `\r` as
/// `\n`: tree-sitter ends lines (and so line comments) at `\n` only, where the rope, LSP and the
/// editor also end them at a lone `\r` (classic Mac files). Same length, so byte offsets hold;
/// a chunk is copied only when it has a lone `\r`.
fn chunk_from(rope: &Rope, offset: usize) -> Cow<'_, [u8]> {
    if offset >= rope.len_bytes() {
        return Cow::Borrowed(&[]);
    }
    let (chunk, chunk_start, _, _) = rope.chunk_at_byte(offset);
    let bytes = &chunk.as_bytes()[offset - chunk_start..];
    let next_after = || rope.get_byte(chunk_start + chunk.len());
    let is_lone = |i: usize| match bytes.get(i + 1) {
        Some(&next) => next != b'\n',
        None => next_after() != Some(b'\n'),
    };
    let Some(first) = memchr::memchr_iter(b'\r', bytes).find(|&i| is_lone(i)) else {
        return Cow::Borrowed(bytes);
    };
    let mut owned = bytes.to_vec();
    for i in memchr::memchr_iter(b'\r', &bytes[first..]).map(|i| first + i) {
        if is_lone(i) {
            owned[i] = b'\n';
        }
    }
    Cow::Owned(owned)
}

/// Parses `rope` as `language`, reading the rope's chunks in place (no copy of the document).
///
/// `old_tree`, when given, must already have been [`Tree::edit`]ed to match `rope`; tree-sitter
/// then reuses its unchanged subtrees, which is what keeps a keystroke's reparse cheap.
/// `None` for plain text (or, should it ever happen, a grammar tree-sitter refuses).
///
/// A parse that takes longer than [`PARSE_BUDGET`] is abandoned (`None`): some grammars loop
/// forever on some inputs (tree-sitter-typescript on `([[e)/*i}r#*/`), and a document must never
/// hang the thread that applies edits.
pub fn parse(language: Language, rope: &Rope, old_tree: Option<&Tree>) -> Option<Tree> {
    parse_within(language, rope, old_tree, PARSE_BUDGET)
}

/// The most one parse may take. A real 5,000-line file parses from scratch in about 15 ms;
/// an unclosed string literal near its top, the worst ordinary case, in under 60 ms.
pub const PARSE_BUDGET: Duration = Duration::from_millis(500);

pub fn parse_within(language: Language, rope: &Rope, old_tree: Option<&Tree>, budget: Duration) -> Option<Tree> {
    with_parser(language, |parser| {
        let started = Instant::now();
        let mut over_budget = |_: &tree_sitter::ParseState| started.elapsed() > budget;
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut over_budget);
        let tree = parser.parse_with_options(&mut |offset, _| chunk_from(rope, offset), old_tree, Some(options));
        if tree.is_none() {
            // An abandoned parse would otherwise be resumed by this pooled parser's next call.
            parser.reset();
            tracing::warn!(
                language = language.name(),
                ms = started.elapsed().as_millis() as u64,
                "parse abandoned: over its time budget"
            );
        }
        tree
    })
    .flatten()
}

/// The tree-sitter [`Point`] of byte offset `byte`: tree-sitter counts rows by `\n` and columns
/// in bytes, and is given a lone `\r` as `\n` (see `chunk_from`), so its rows are the rope's
/// lines (and LSP's).
///
/// With `no_lone_cr` (the caller knows every `\r` in the text is followed by `\n`) the rope's
/// line index is the row, found in O(log n); otherwise the prefix is scanned, which is linear
/// but only happens for files with old-Mac line endings.
pub(crate) fn point_at_byte(rope: &Rope, byte: usize, no_lone_cr: bool) -> Point {
    // Round down to a char boundary so that slicing below cannot panic.
    let byte = rope.char_to_byte(rope.byte_to_char(byte.min(rope.len_bytes())));
    if no_lone_cr {
        // ropey never splits a "\r\n": a byte between its halves is on the pair's line.
        let row = rope.byte_to_line(byte);
        return Point::new(row, byte - rope.line_to_byte(row));
    }
    let mut row = 0;
    let mut row_start = 0;
    let mut seen = 0;
    let mut after_cr = false;
    for chunk in rope.byte_slice(..byte).chunks() {
        for (i, b) in chunk.bytes().enumerate() {
            if after_cr && b != b'\n' {
                // The `\r` just before was lone: a line break of its own.
                row += 1;
                row_start = seen + i;
            }
            if b == b'\n' {
                row += 1;
                row_start = seen + i + 1;
            }
            after_cr = b == b'\r';
        }
        seen += chunk.len();
    }
    if after_cr && rope.get_byte(byte) != Some(b'\n') {
        row += 1;
        row_start = byte;
    }
    Point::new(row, byte - row_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_from_language_id_first() {
        let cases = [
            ("rust", "x.py", Language::Rust),
            ("python", "", Language::Python),
            ("typescript", "a.tsx", Language::TypeScript),
            ("typescriptreact", "a.ts", Language::Tsx),
            ("javascript", "", Language::JavaScript),
            ("javascriptreact", "a.jsx", Language::JavaScript),
            ("go", "", Language::Go),
            ("java", "", Language::Java),
            ("csharp", "", Language::CSharp),
            // Neovim's filetype, Helix's language name, and the name people write.
            ("cs", "", Language::CSharp),
            ("c-sharp", "", Language::CSharp),
            ("C#", "", Language::CSharp),
            ("java", "Main.cs", Language::Java),
            ("c", "list.h", Language::C),
            ("cpp", "list.c", Language::Cpp),
            ("c++", "", Language::Cpp),
            ("cuda", "kernel.cu", Language::PlainText),
            ("ruby", "", Language::Ruby),
            ("rb", "", Language::Ruby),
            ("php", "", Language::Php),
            ("kotlin", "", Language::Kotlin),
            ("kt", "", Language::Kotlin),
            ("swift", "", Language::Swift),
            ("Rust", "", Language::Rust),
            ("plaintext", "notes.rs", Language::PlainText),
        ];
        for (id, path, expected) in cases {
            assert_eq!(Language::detect(id, path), expected, "{id:?} {path:?}");
        }
    }

    #[test]
    fn falls_back_to_the_extension_for_unknown_or_empty_ids() {
        let cases = [
            ("", "/src/main.rs", Language::Rust),
            ("", "file:///home/u/pkg/mod.PY", Language::Python),
            ("", "stubs/os.pyi", Language::Python),
            ("", "a.ts", Language::TypeScript),
            ("", "a.mts", Language::TypeScript),
            ("", "a.cts", Language::TypeScript),
            ("", "App.tsx", Language::Tsx),
            ("", "a.js", Language::JavaScript),
            ("", "a.mjs", Language::JavaScript),
            ("", "a.cjs", Language::JavaScript),
            ("", "App.jsx", Language::JavaScript),
            ("fundamental", "main.go", Language::Go),
            ("", "src/main/java/com/acme/App.java", Language::Java),
            ("", "file:///w/Shop/Cart.cs", Language::CSharp),
            ("", "build.csx", Language::CSharp),
            ("", "Main.JAVA", Language::Java),
            ("", "C:\\work\\lib.rs", Language::Rust),
            ("", "file:///x/y.go?v=1#L3", Language::Go),
            ("", "src/list.c", Language::C),
            ("", "include/list.h", Language::Cpp),
            ("", "widget.cc", Language::Cpp),
            ("", "widget.cpp", Language::Cpp),
            ("", "widget.cxx", Language::Cpp),
            ("", "widget.c++", Language::Cpp),
            ("", "widget.hpp", Language::Cpp),
            ("", "widget.hh", Language::Cpp),
            ("", "widget.hxx", Language::Cpp),
            ("", "widget.ipp", Language::Cpp),
            ("", "widget.tpp", Language::Cpp),
            ("", "app/models/user.rb", Language::Ruby),
            ("", "lib/tasks/db.rake", Language::Ruby),
            ("", "kimi.gemspec", Language::Ruby),
            ("", "config.ru", Language::Ruby),
            ("", "file:///w/Gemfile", Language::Ruby),
            ("", "Rakefile", Language::Ruby),
            ("", "src/Controller/Home.php", Language::Php),
            ("", "views/list.phtml", Language::Php),
            ("", "app/src/main/kotlin/Main.kt", Language::Kotlin),
            ("", "build.gradle.kts", Language::Kotlin),
            ("", "Sources/App/App.swift", Language::Swift),
            ("", "/home/u/.c", Language::PlainText),
            ("", "README.md", Language::PlainText),
            ("", "Makefile", Language::PlainText),
            ("", "/home/u/.rs", Language::PlainText),
            ("", "/dir.rs/file", Language::PlainText),
            ("", "", Language::PlainText),
        ];
        for (id, path, expected) in cases {
            assert_eq!(Language::detect(id, path), expected, "{id:?} {path:?}");
        }
    }

    #[test]
    fn every_language_but_plain_text_parses() {
        let samples = [
            (Language::Rust, "fn main() { let x = 1; }", "function_item"),
            (Language::Python, "def f(x):\n    return x\n", "function_definition"),
            (Language::TypeScript, "let x: number = 1;", "type_annotation"),
            (Language::Tsx, "const a = <div>{x}</div>;", "jsx_element"),
            (Language::JavaScript, "const a = <div/>;", "jsx_self_closing_element"),
            (Language::Go, "package main\nfunc main() {}\n", "function_declaration"),
            (Language::Java, "class A { String s = \"\"\"\n  x\n  \"\"\"; void f() {} }", "method_declaration"),
            (Language::CSharp, "namespace N;\nclass A { string S => $@\"{x}\"; }", "interpolated_string_expression"),
            (Language::C, "int main(void) { return 0; }\n", "function_definition"),
            (Language::Cpp, "namespace a { class B { int c() const; }; }\n", "class_specifier"),
            (Language::Ruby, "class A < B\n  def f(x) = x * 2\nend\n", "class"),
            (Language::Php, "<p><?php echo \"hi\"; ?></p>\n<?php function f($x) { return $x; }\n", "text"),
            (Language::Kotlin, "class A(val x: Int) {\n    fun f() = \"${x}\"\n}\n", "class_declaration"),
            (
                Language::Swift,
                "struct A {\n    let x: Int\n    func f() -> String { \"\\(x)\" }\n}\n",
                "class_declaration",
            ),
        ];
        for (language, source, kind) in samples {
            let tree = parse(language, &Rope::from_str(source), None).expect("parsed");
            let sexp = tree.root_node().to_sexp();
            assert!(!tree.root_node().has_error(), "{language:?}: {sexp}");
            assert!(sexp.contains(kind), "{language:?}: {sexp}");
        }
        assert!(Language::PlainText.grammar().is_none());
        assert!(parse(Language::PlainText, &Rope::from_str("x"), None).is_none());
    }

    #[test]
    fn parsing_spans_many_rope_chunks() {
        // Far larger than one rope chunk, so the callback is asked for many offsets.
        let source: String = (0..2000).map(|i| format!("fn f{i}() -> &'static str {{ \"😀中{i}\" }}\n")).collect();
        let rope = Rope::from_str(&source);
        assert!(rope.chunks().count() > 10);
        let tree = parse(Language::Rust, &rope, None).unwrap();
        assert!(!tree.root_node().has_error());
        assert_eq!(tree.root_node().named_child_count(), 2000);
        assert_eq!(tree.root_node().end_byte(), source.len());
    }

    #[test]
    fn a_lone_cr_ends_a_line_comment() {
        // Read as written, the comment would run to the end of the file and hide the function.
        let rope = Rope::from_str("// Sums.\rfn add(a: i32) -> i32 {\r    a\r}\r");
        let tree = parse(Language::Rust, &rope, None).unwrap();
        let root = tree.root_node();
        assert!(!root.has_error(), "{}", root.to_sexp());
        assert_eq!(root.named_child(1).map(|n| n.kind()), Some("function_item"), "{}", root.to_sexp());
        assert_eq!(root.named_child(1).unwrap().start_position(), Point::new(1, 0));
        // Also where a chunk ends with the `\r`: far larger than one rope chunk.
        let source: String = (0..2000).map(|i| format!("// {i}\rfn f{i}() {{}}\r")).collect();
        let rope = Rope::from_str(&source);
        let tree = parse(Language::Rust, &rope, None).unwrap();
        assert_eq!(tree.root_node().named_child_count(), 4000);
        // CRLF text is read as it is: only a lone `\r` changes.
        let crlf: String = (0..2000).map(|i| format!("// {i}\r\nfn f{i}() {{}}\r\n")).collect();
        let rope = Rope::from_str(&crlf);
        let mut offset = 0;
        for chunk in rope.chunks() {
            assert!(matches!(chunk_from(&rope, offset), Cow::Borrowed(_)), "chunk at {offset}");
            offset += chunk.len();
        }
        assert_eq!(parse(Language::Rust, &rope, None).unwrap().root_node().named_child_count(), 4000);
    }

    #[test]
    fn names_read_well_in_prompts() {
        assert_eq!(Language::Rust.name(), "Rust");
        assert_eq!(Language::Tsx.name(), "TypeScript (TSX)");
        assert_eq!(Language::CSharp.name(), "C#");
        assert_eq!(Language::Cpp.name(), "C++");
        assert_eq!(Language::Php.name(), "PHP");
        assert_eq!(Language::PlainText.name(), "plain text");
    }

    #[test]
    fn points_count_rows_as_tree_sitter_is_given_the_text() {
        let text = "a\r\nb\rc\nd😀e\r";
        let rope = Rope::from_str(text);
        // What tree-sitter reads: each lone `\r` as `\n`.
        let read = crate::text::line_ending::lone_crs_as_lf(text.to_string());
        let expected = |byte: usize| {
            let before = &read.as_bytes()[..byte];
            let row = before.iter().filter(|&&b| b == b'\n').count();
            let start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            Point::new(row, byte - start)
        };
        for byte in (0..=text.len()).filter(|&b| text.is_char_boundary(b)) {
            assert_eq!(point_at_byte(&rope, byte, false), expected(byte), "byte {byte}");
            // The rope's lines agree, lone `\r` or not.
            let line = rope.byte_to_line(byte);
            assert_eq!(expected(byte), Point::new(line, byte - rope.line_to_byte(line)), "byte {byte}");
        }
        let crlf = "a\r\nb😀\r\n\r\nc";
        let rope = Rope::from_str(crlf);
        for byte in (0..=crlf.len()).filter(|&b| crlf.is_char_boundary(b)) {
            assert_eq!(point_at_byte(&rope, byte, true), point_at_byte(&rope, byte, false), "byte {byte}");
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn a_grammar_that_loops_is_abandoned_in_time() {
        // tree-sitter-typescript 0.23 never returns on this text without a budget.
        let rope = Rope::from_str("([[e)/*i}r#*/");
        let started = Instant::now();
        let tree = parse_within(Language::TypeScript, &rope, None, Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(5));
        // The pooled parser still works afterwards.
        let ok = parse(Language::TypeScript, &Rope::from_str("let a = 1;"), None).expect("a tree");
        assert!(!ok.root_node().has_error());
        let _ = tree;
    }
}
