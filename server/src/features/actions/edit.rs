//! Model output → minimal edits: the code is taken out of the answer's fenced block, re-indented
//! to the code it replaces, and diffed line by line against the original so that only changed
//! lines are sent. Pure functions of strings.

use std::ops::Range;
use std::path::{Path, PathBuf};

use similar::{DiffTag, TextDiff};

use crate::text::Language;

/// Why an answer gives no code to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoCode {
    /// Nothing but blank lines (or an empty block).
    Empty,
    /// The block opens and the answer ends before its closing fence: the answer was cut short
    /// (or its end was lost), and the code in it may stop anywhere.
    Unclosed,
}

/// The code in a model's answer: the first fenced block (``` or ~~~, any info string), or, when
/// the answer has no fence at all, the whole answer. A block the answer never closes is
/// [`NoCode::Unclosed`]: applied, part of the code would replace all of it.
pub fn extract_code(answer: &str) -> Result<String, NoCode> {
    let lines: Vec<&str> = answer.split_inclusive('\n').collect();
    let open = lines.iter().position(|l| fence_of(l).is_some());
    let body: String = match open {
        Some(i) => {
            let (marker, len) = fence_of(lines[i]).unwrap_or(('`', 3));
            let rest = &lines[i + 1..];
            let close = rest.iter().position(|l| {
                let t = l.trim();
                t.len() >= len && t.chars().all(|c| c == marker)
            });
            rest[..close.ok_or(NoCode::Unclosed)?].concat()
        }
        None => answer.to_string(),
    };
    let trimmed = trim_blank_lines(&body);
    if trimmed.trim().is_empty() {
        Err(NoCode::Empty)
    } else {
        Ok(trimmed)
    }
}

/// What to append to `markdown`, a model's answer that may stop anywhere (inside a line, inside a
/// code block), so that `note` shows as a paragraph of its own after it, not as code.
pub fn note_after(markdown: &str, note: &str) -> String {
    let mut open: Option<(char, usize)> = None;
    for line in markdown.lines() {
        match open {
            None => open = fence_of(line),
            Some((marker, len)) => {
                let t = line.trim();
                if t.len() >= len && t.chars().all(|c| c == marker) {
                    open = None;
                }
            }
        }
    }
    let mut out = String::new();
    if !markdown.is_empty() && !markdown.ends_with('\n') {
        out.push('\n');
    }
    if let Some((marker, len)) = open {
        out.extend(std::iter::repeat_n(marker, len));
        out.push('\n');
    }
    if !markdown.is_empty() {
        out.push('\n');
    }
    out.push_str(note);
    out.push('\n');
    out
}

/// A line opening a fence: its marker char and length.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let marker = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = t.chars().take_while(|c| *c == marker).count();
    (len >= 3).then_some((marker, len))
}

/// Drops blank lines at both ends and makes the text end with exactly one line break.
fn trim_blank_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => {
            let mut out = lines[a..=b].join("\n");
            out.push('\n');
            out
        }
        _ => String::new(),
    }
}

/// The leading whitespace shared by every non-blank line.
pub fn common_indent(text: &str) -> String {
    let mut common: Option<&str> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let ws = &line[..line.len() - line.trim_start().len()];
        common = Some(match common {
            None => ws,
            Some(c) => {
                let n = c.chars().zip(ws.chars()).take_while(|(a, b)| a == b).count();
                &c[..c.char_indices().nth(n).map_or(c.len(), |(i, _)| i)]
            }
        });
    }
    common.unwrap_or("").to_string()
}

/// Moves `code` to `indent`: its common indentation is replaced by `indent` on every non-blank
/// line (models often answer a nested block flush left). Blank lines stay empty.
pub fn reindent(code: &str, indent: &str) -> String {
    let current = common_indent(code);
    if current == indent {
        return code.to_string();
    }
    let mut out = String::with_capacity(code.len());
    for line in code.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let eol = &line[content.len()..];
        if content.trim().is_empty() {
            out.push_str(eol);
        } else {
            out.push_str(indent);
            out.push_str(content.strip_prefix(current.as_str()).unwrap_or(content.trim_start()));
            out.push_str(eol);
        }
    }
    out
}

/// One changed region: lines `lines` of the original (a half-open range of line indices,
/// empty for a pure insertion before that line) become `text` (whole lines, each ending with a
/// line break).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEdit {
    pub lines: Range<usize>,
    pub text: String,
}

/// The changed regions between `original` and `replacement`, both whole lines. Unchanged lines
/// produce no edit, so an edit never touches what the model left alone.
pub fn line_edits(original: &str, replacement: &str) -> Vec<LineEdit> {
    let original = with_final_newline(original);
    let replacement = with_final_newline(replacement);
    let diff = TextDiff::from_lines(original.as_str(), replacement.as_str());
    let new_lines: Vec<&str> = diff.new_slices().to_vec();
    let mut edits: Vec<LineEdit> = Vec::new();
    for op in diff.ops() {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        let text: String = new_lines[new.clone()].concat();
        match edits.last_mut() {
            // Adjacent changes (a delete then an insert) are one edit.
            Some(last) if last.lines.end == old.start => {
                last.lines.end = old.end;
                last.text.push_str(&text);
            }
            _ => edits.push(LineEdit { lines: old, text }),
        }
    }
    edits
}

fn with_final_newline(text: &str) -> String {
    let mut t = text.to_string();
    if !t.is_empty() && !t.ends_with('\n') {
        t.push('\n');
    }
    t
}

/// Where the tests of `source` conventionally live, when they live in another file; `None` for
/// Rust (tests go into the file's own `mod tests`) and for languages without a convention here.
///
/// C and C++ have no single convention; GoogleTest's `foo_test.cc` beside `foo.cc` is the most
/// common one, and C test frameworks (Unity, cmocka, Check) are used the same way. A header's
/// tests go into a source file: `foo.h` gets `foo_test.c` in C, `foo_test.cpp` in C++.
pub fn test_file_path(source: &Path, language: Language) -> Option<PathBuf> {
    let stem = source.file_stem()?.to_str()?;
    let name = match language {
        Language::Go => format!("{stem}_test.go"),
        Language::Python => format!("test_{stem}.py"),
        Language::TypeScript => format!("{stem}.test.ts"),
        Language::Tsx => format!("{stem}.test.tsx"),
        Language::JavaScript => {
            let ext = source.extension().and_then(|e| e.to_str()).unwrap_or("js");
            format!("{stem}.test.{ext}")
        }
        Language::Java => return Some(java_test_path(source, stem, "java")),
        // Gradle's Kotlin source sets mirror Java's: `src/main/kotlin` and `src/test/kotlin`.
        Language::Kotlin => {
            let ext = source.extension().and_then(|e| e.to_str()).unwrap_or("kt");
            return Some(java_test_path(source, stem, "kotlin").with_extension(ext));
        }
        Language::Swift => return Some(swift_test_path(source, stem)),
        // xUnit, NUnit and MSTest projects alike name the class under test plus `Tests`.
        Language::CSharp => format!("{stem}Tests.cs"),
        Language::C | Language::Cpp => {
            let ext = source.extension().and_then(|e| e.to_str()).unwrap_or("");
            let ext = match (ext.to_ascii_lowercase().as_str(), language) {
                ("h", Language::C) | ("", Language::C) => "c",
                ("h" | "hpp" | "ipp" | "tpp" | "inl" | "", _) => "cpp",
                ("hh", _) => "cc",
                ("hxx", _) => "cxx",
                ("h++", _) => "c++",
                _ => ext,
            };
            format!("{stem}_test.{ext}")
        }
        // RSpec's `spec/models/user_spec.rb` for `app/models/user.rb`, beside it when there is no
        // `app/` or `lib/` to mirror.
        Language::Ruby => return Some(mirrored_test_path(source, "spec", &format!("{stem}_spec.rb"))),
        // PHPUnit's `tests/UserTest.php` for `src/User.php`.
        Language::Php => return Some(mirrored_test_path(source, "tests", &format!("{stem}Test.php"))),
        Language::Rust | Language::PlainText => return None,
    };
    Some(source.with_file_name(name))
}

/// Maven and Gradle keep `src/main/java/a/b/Foo.java`'s tests in `src/test/java/a/b/FooTest.java`,
/// the same package in the test source set; outside that layout the test class sits beside it.
/// Kotlin's `src/main/kotlin` is the same layout.
fn java_test_path(source: &Path, stem: &str, set: &str) -> PathBuf {
    let name = format!("{stem}Test.java");
    let parts: Vec<_> = source.components().collect();
    let layout = parts.windows(3).rposition(|w| {
        w[0].as_os_str() == "src"
            && w[1].as_os_str() == "main"
            && (w[2].as_os_str() == "java" || w[2].as_os_str() == set)
    });
    match layout {
        Some(at) => {
            let mut path = PathBuf::new();
            for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
                path.push(if i == at + 1 { std::path::Component::Normal("test".as_ref()) } else { *part });
            }
            path.join(name)
        }
        None => source.with_file_name(name),
    }
}

/// Swift packages keep `Sources/App/Models/User.swift`'s tests in
/// `Tests/AppTests/Models/UserTests.swift`, the module's test target named after it (XCTest's
/// and Swift Testing's convention alike); outside that layout the tests sit beside the source.
fn swift_test_path(source: &Path, stem: &str) -> PathBuf {
    let name = format!("{stem}Tests.swift");
    let parts: Vec<_> = source.components().collect();
    // `Sources` and a module directory under it, above the file.
    let layout = parts
        .len()
        .checked_sub(2)
        .and_then(|last_dir| parts[..last_dir].iter().rposition(|p| p.as_os_str() == "Sources"));
    match layout {
        Some(at) => {
            let mut path: PathBuf = parts[..at].iter().collect();
            path.push("Tests");
            path.push(format!("{}Tests", parts[at + 1].as_os_str().to_string_lossy()));
            path.extend(&parts[at + 2..parts.len() - 1]);
            path.join(name)
        }
        None => source.with_file_name(name),
    }
}

/// `name` in `tests_dir` where the source's `app/`, `lib/` or `src/` root was, keeping the
/// directories below it (`app/models/user.rb` → `spec/models/user_spec.rb`); beside the source
/// when it is under none of them.
fn mirrored_test_path(source: &Path, tests_dir: &str, name: &str) -> PathBuf {
    let parts: Vec<_> = source.components().collect();
    let root = parts[..parts.len().saturating_sub(1)]
        .iter()
        .rposition(|p| matches!(p.as_os_str().to_str(), Some("app" | "lib" | "src")));
    match root {
        Some(at) => {
            let mut path: PathBuf = parts[..at].iter().collect();
            path.push(tests_dir);
            path.extend(&parts[at + 1..parts.len() - 1]);
            path.join(name)
        }
        None => source.with_file_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fenced_block_is_the_code() {
        let answer = "Here you go:\n\n```rust\nfn a() {}\n```\n\nAnd another:\n```\nnot this\n```\n";
        assert_eq!(extract_code(answer).as_deref(), Ok("fn a() {}\n"));
    }

    #[test]
    fn an_answer_without_a_fence_is_all_code_and_blank_edges_go() {
        assert_eq!(extract_code("\n\nx = 1\ny = 2\n\n").as_deref(), Ok("x = 1\ny = 2\n"));
    }

    #[test]
    fn a_cut_off_fence_is_no_code_and_longer_fences_nest() {
        assert_eq!(extract_code("```py\nx = 1\n"), Err(NoCode::Unclosed));
        assert_eq!(extract_code("```rust\nfn total(xs: &[u32]) -> u32 {\n    let mut t = 0;\n"), Err(NoCode::Unclosed));
        let nested = "````md\n```rust\nfn a() {}\n```\n````\n";
        assert_eq!(extract_code(nested).as_deref(), Ok("```rust\nfn a() {}\n```\n"));
        assert_eq!(extract_code("````md\n```rust\nfn a() {}\n```\n"), Err(NoCode::Unclosed));
        assert_eq!(extract_code("~~~\nfoo\n~~~").as_deref(), Ok("foo\n"));
    }

    #[test]
    fn a_note_after_a_cut_off_answer_is_out_of_its_code_block() {
        assert_eq!(note_after("Some text.\n", "> note"), "\n> note\n");
        assert_eq!(note_after("Some te", "> note"), "\n\n> note\n");
        assert_eq!(note_after("See:\n```rust\nfn a() {", "> note"), "\n```\n\n> note\n");
        assert_eq!(note_after("````md\n```\nx\n", "> note"), "````\n\n> note\n");
        assert_eq!(note_after("```\nx\n```\n~~~\ny\n~~~\n", "> note"), "\n> note\n");
        assert_eq!(note_after("", "> note"), "> note\n");
    }

    #[test]
    fn an_empty_block_is_no_code() {
        assert_eq!(extract_code("```rust\n```\n"), Err(NoCode::Empty));
        assert_eq!(extract_code("   \n"), Err(NoCode::Empty));
    }

    #[test]
    fn reindent_moves_flush_left_code_under_its_block() {
        let code = "if x {\n    y();\n}\n\nz();\n";
        assert_eq!(reindent(code, "        "), "        if x {\n            y();\n        }\n\n        z();\n");
        assert_eq!(reindent("    a\n      b\n", ""), "a\n  b\n");
        assert_eq!(reindent("\ta\n", "\t"), "\ta\n");
    }

    #[test]
    fn only_changed_lines_are_edited() {
        let old = "a\nb\nc\nd\ne\n";
        let new = "a\nB\nc\nd\ne\nf\n";
        assert_eq!(
            line_edits(old, new),
            vec![LineEdit { lines: 1..2, text: "B\n".into() }, LineEdit { lines: 5..5, text: "f\n".into() }]
        );
        assert!(line_edits(old, old).is_empty());
        // A missing final newline on one side is not a change.
        assert!(line_edits("a\nb", "a\nb\n").is_empty());
        assert_eq!(line_edits("a\nb\nc\n", "a\nc\n"), vec![LineEdit { lines: 1..2, text: String::new() }]);
    }

    #[test]
    fn tests_live_beside_the_source_by_convention() {
        let p = |s: &str, l| test_file_path(Path::new(s), l).map(|p| p.display().to_string());
        assert_eq!(p("/w/pkg/foo.go", Language::Go).as_deref(), Some("/w/pkg/foo_test.go"));
        assert_eq!(p("/w/app/models/user.rb", Language::Ruby).as_deref(), Some("/w/spec/models/user_spec.rb"));
        assert_eq!(p("/w/lib/kimi/client.rb", Language::Ruby).as_deref(), Some("/w/spec/kimi/client_spec.rb"));
        assert_eq!(p("/w/script.rb", Language::Ruby).as_deref(), Some("/w/script_spec.rb"));
        assert_eq!(p("/w/src/Models/User.php", Language::Php).as_deref(), Some("/w/tests/Models/UserTest.php"));
        assert_eq!(p("/w/foo.py", Language::Python).as_deref(), Some("/w/test_foo.py"));
        assert_eq!(p("/w/src/foo.ts", Language::TypeScript).as_deref(), Some("/w/src/foo.test.ts"));
        assert_eq!(p("/w/src/foo.mjs", Language::JavaScript).as_deref(), Some("/w/src/foo.test.mjs"));
        assert_eq!(p("/w/src/lib.rs", Language::Rust), None);
        assert_eq!(
            p("/w/app/src/main/java/com/acme/UserService.java", Language::Java).as_deref(),
            Some("/w/app/src/test/java/com/acme/UserServiceTest.java")
        );
        assert_eq!(p("/w/scripts/Tool.java", Language::Java).as_deref(), Some("/w/scripts/ToolTest.java"));
        assert_eq!(
            p("/w/app/src/main/kotlin/com/acme/UserService.kt", Language::Kotlin).as_deref(),
            Some("/w/app/src/test/kotlin/com/acme/UserServiceTest.kt")
        );
        assert_eq!(p("/w/scripts/Tool.kts", Language::Kotlin).as_deref(), Some("/w/scripts/ToolTest.kts"));
        assert_eq!(
            p("/w/Sources/App/Models/User.swift", Language::Swift).as_deref(),
            Some("/w/Tests/AppTests/Models/UserTests.swift")
        );
        assert_eq!(
            p("/w/Sources/App/main.swift", Language::Swift).as_deref(),
            Some("/w/Tests/AppTests/mainTests.swift")
        );
        assert_eq!(p("/w/Sources/User.swift", Language::Swift).as_deref(), Some("/w/Sources/UserTests.swift"));
        assert_eq!(p("/w/App/User.swift", Language::Swift).as_deref(), Some("/w/App/UserTests.swift"));
        assert_eq!(p("/w/src/Shop/Cart.cs", Language::CSharp).as_deref(), Some("/w/src/Shop/CartTests.cs"));
        assert_eq!(p("/w/src/list.c", Language::C).as_deref(), Some("/w/src/list_test.c"));
        assert_eq!(p("/w/include/list.h", Language::C).as_deref(), Some("/w/include/list_test.c"));
        assert_eq!(p("/w/src/widget.cc", Language::Cpp).as_deref(), Some("/w/src/widget_test.cc"));
        assert_eq!(p("/w/src/widget.cpp", Language::Cpp).as_deref(), Some("/w/src/widget_test.cpp"));
        assert_eq!(p("/w/src/widget.h", Language::Cpp).as_deref(), Some("/w/src/widget_test.cpp"));
        assert_eq!(p("/w/src/widget.hh", Language::Cpp).as_deref(), Some("/w/src/widget_test.cc"));
    }
}
