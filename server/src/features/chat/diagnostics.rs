//! The diagnostics chat can tell the model about, kept apart by where they come from: what the
//! editor reported (its language servers' errors and warnings, which reach kimi-lsp only inside
//! code-action requests and `kimi/chat`), and the syntax errors tree-sitter finds by parsing.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ropey::Rope;
use tree_sitter::Tree;

/// Documents whose editor diagnostics are kept; past this the least recently reported one is
/// forgotten, so a long session cannot grow the map without bound.
const MAX_DOCUMENTS: usize = 512;
/// Syntax errors listed per file: past a few dozen, more of them tell the model nothing new.
pub const MAX_SYNTAX_ERRORS: usize = 30;
/// Diagnostics from the editor listed per file.
const MAX_LISTED: usize = 100;

/// A diagnostic as the editor reported it, in the document version it was reported for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorDiagnostic {
    /// Zero-based first and last line it covers.
    pub lines: (u32, u32),
    /// `error`, `warning`, `information` or `hint`, when the editor said.
    pub severity: Option<&'static str>,
    pub message: String,
    pub source: Option<String>,
    pub code: Option<String>,
    /// The document version the editor reported it for (`None`: not known).
    pub version: Option<i32>,
}

impl EditorDiagnostic {
    /// `line 3: error: cannot find value `x` (rustc E0425)`.
    pub fn describe(&self) -> String {
        let (first, last) = (self.lines.0 + 1, self.lines.1 + 1);
        let lines = if last > first { format!("lines {first}-{last}") } else { format!("line {first}") };
        let severity = self.severity.map(|s| format!("{s}: ")).unwrap_or_default();
        let origin = match (&self.source, &self.code) {
            (Some(s), Some(c)) => format!(" ({s} {c})"),
            (Some(s), None) => format!(" ({s})"),
            (None, Some(c)) => format!(" ({c})"),
            (None, None) => String::new(),
        };
        // A multi-line message (rustc's notes) reads as one item of a list.
        let message = self.message.trim().lines().map(str::trim_end).collect::<Vec<_>>().join(" / ");
        format!("{lines}: {severity}{message}{origin}")
    }

    fn overlaps(&self, lines: (u32, u32)) -> bool {
        self.lines.0 <= lines.1 && lines.0 <= self.lines.1
    }
}

/// The latest diagnostics the editor reported, per file.
#[derive(Default)]
pub struct DiagnosticStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_path: HashMap<PathBuf, (u64, Vec<EditorDiagnostic>)>,
    clock: u64,
}

/// Files are named by their canonical path, so that the editor's spelling of a path and the
/// one a tool resolves (symlinks, `..`) find the same entry.
fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl DiagnosticStore {
    /// `nothing_new`: the update only removes, so a file not yet known needs no entry (clients
    /// ask for code actions at every cursor move, mostly with no diagnostics).
    fn update(&self, path: &Path, nothing_new: bool, f: impl FnOnce(&mut Vec<EditorDiagnostic>)) {
        // Until the editor reports a diagnostic, code actions at cursor moves cost no file
        // system call.
        if nothing_new && self.inner.lock().unwrap_or_else(|e| e.into_inner()).by_path.is_empty() {
            return;
        }
        let key = key(path);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if nothing_new && !inner.by_path.contains_key(&key) {
            return;
        }
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.by_path.entry(key).or_insert_with(|| (now, Vec::new()));
        entry.0 = now;
        f(&mut entry.1);
        if inner.by_path.len() > MAX_DOCUMENTS {
            let oldest = inner.by_path.iter().min_by_key(|(_, (t, _))| *t).map(|(p, _)| p.clone());
            if let Some(oldest) = oldest {
                inner.by_path.remove(&oldest);
            }
        }
    }

    /// The editor sent the file's whole list (`kimi/chat`): it replaces what was known.
    pub fn replace_all(&self, path: &Path, diagnostics: Vec<EditorDiagnostic>) {
        self.update(path, diagnostics.is_empty(), |known| *known = diagnostics);
    }

    /// The editor sent the diagnostics overlapping `lines` (zero-based, inclusive), as a
    /// code-action request carries them: those known there are replaced, the others kept.
    pub fn replace_lines(&self, path: &Path, lines: (u32, u32), diagnostics: Vec<EditorDiagnostic>) {
        self.update(path, diagnostics.is_empty(), |known| {
            known.retain(|d| !d.overlaps(lines));
            known.extend(diagnostics);
            known.sort_by_key(|d| d.lines);
        });
    }

    /// What the editor last reported for the file, in line order.
    pub fn get(&self, path: &Path) -> Vec<EditorDiagnostic> {
        let key = key(path);
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_path.get(&key).map(|(_, d)| d.clone()).unwrap_or_default()
    }
}

/// A place tree-sitter could not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Zero-based first and last line.
    pub lines: (usize, usize),
    pub description: String,
}

impl SyntaxError {
    pub fn describe(&self) -> String {
        let (first, last) = (self.lines.0 + 1, self.lines.1 + 1);
        if last > first {
            format!("lines {first}-{last}: {}", self.description)
        } else {
            format!("line {first}: {}", self.description)
        }
    }
}

/// The first code of `text` that does not parse, as a short quote: its first line, cut.
fn quote(rope: &Rope, bytes: Range<usize>) -> String {
    let start = rope.byte_to_char(bytes.start.min(rope.len_bytes()));
    let end = rope.byte_to_char(bytes.end.min(rope.len_bytes()));
    let text = String::from(rope.slice(start..end));
    let first = text.trim().lines().next().unwrap_or("").trim();
    let mut cut: String = first.chars().take(40).collect();
    if cut.chars().count() < first.chars().count() || text.trim().lines().nth(1).is_some() {
        cut.push('…');
    }
    cut
}

/// The ERROR and MISSING nodes of `tree`, in file order, at most `max`: an ERROR node is
/// reported whole (not the errors inside it), and only subtrees that hold an error are visited.
pub fn syntax_errors(tree: &Tree, rope: &Rope, max: usize) -> Vec<SyntaxError> {
    let mut out = Vec::new();
    if !tree.root_node().has_error() {
        return out;
    }
    let line_of = |byte: usize| rope.byte_to_line(byte.min(rope.len_bytes()));
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        let mut descend = false;
        if node.is_missing() {
            let line = line_of(node.start_byte());
            out.push(SyntaxError { lines: (line, line), description: format!("missing `{}`", node.kind()) });
        } else if node.is_error() {
            let (first, last) = (line_of(node.start_byte()), line_of(node.end_byte().saturating_sub(1)));
            let quoted = quote(rope, node.byte_range());
            let description = if quoted.is_empty() {
                "the code cannot be parsed here".to_string()
            } else if last > first {
                format!("cannot parse the code starting `{quoted}`")
            } else {
                format!("cannot parse `{quoted}`")
            };
            out.push(SyntaxError { lines: (first, last.max(first)), description });
        } else {
            descend = node.has_error();
        }
        if out.len() >= max {
            break;
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
}

/// The diagnostics section of a tool result or a prompt: the editor's and tree-sitter's,
/// labelled by source. `current_version`: the version of the editor's open copy, if open.
pub fn report(
    editor: &[EditorDiagnostic],
    current_version: Option<i32>,
    syntax: Option<&[SyntaxError]>,
    language: &str,
) -> String {
    let mut out = String::new();
    let (current, older): (Vec<_>, Vec<_>) =
        editor.iter().partition(|d| current_version.is_none() || d.version.is_none() || d.version == current_version);
    if editor.is_empty() {
        out.push_str(
            "From the editor: none reported (the editor shares its language servers' diagnostics with kimi-lsp only in code-action requests and chat requests, so there may be others).\n",
        );
    }
    if !current.is_empty() {
        out.push_str("From the editor (its language servers):\n");
        for d in current.iter().take(MAX_LISTED) {
            out.push_str(&format!("- {}\n", d.describe()));
        }
    }
    if !older.is_empty() {
        out.push_str("From the editor, for an earlier version of the file (the lines may have moved since):\n");
        for d in older.iter().take(MAX_LISTED) {
            out.push_str(&format!("- {}\n", d.describe()));
        }
    }
    match syntax {
        None => out.push_str(
            "Syntax errors: not checked (kimi-lsp parses only Rust, Python, TypeScript, JavaScript and Go).\n",
        ),
        Some([]) => out.push_str(&format!("Syntax errors found by tree-sitter ({language} grammar): none.\n")),
        Some(errors) => {
            out.push_str(&format!("Syntax errors found by tree-sitter ({language} grammar):\n"));
            for e in errors {
                out.push_str(&format!("- {}\n", e.describe()));
            }
            if errors.len() >= MAX_SYNTAX_ERRORS {
                out.push_str(&format!("[stopped after {MAX_SYNTAX_ERRORS}]\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{syntax, Language};

    fn errors(language: Language, text: &str) -> Vec<String> {
        let rope = Rope::from_str(text);
        let tree = syntax::parse(language, &rope, None).unwrap();
        syntax_errors(&tree, &rope, MAX_SYNTAX_ERRORS).iter().map(SyntaxError::describe).collect()
    }

    #[test]
    fn syntax_errors_name_the_line_and_what_is_wrong() {
        assert!(errors(Language::Rust, "fn ok() -> u32 {\n    1\n}\n").is_empty());
        assert_eq!(errors(Language::Rust, "fn main() {\n    let x = 1\n    x\n}\n"), vec!["line 2: missing `;`"]);
        assert_eq!(errors(Language::Python, "def f(:\n    return 1\n"), vec!["line 1: missing `)`"]);
        assert_eq!(errors(Language::Python, "x = 1\nprint(x))\n"), vec!["line 2: cannot parse `print(x))`"]);
        let block = errors(Language::TypeScript, "function f() {\n  return 1;\n}\n}\n@@ x y\nconst z = 2;\n");
        assert_eq!(block, vec!["lines 4-5: cannot parse the code starting `}…`"]);
        assert_eq!(
            errors(Language::Java, "class A {\n    void f() {\n        int x = 1\n    }\n}\n"),
            vec!["line 3: missing `;`"]
        );
        assert_eq!(
            errors(Language::CSharp, "class A\n{\n    void F()\n    {\n        var x = 1\n    }\n}\n"),
            vec!["line 5: cannot parse `var x = 1`"]
        );
        assert!(errors(Language::Cpp, "namespace a {\nint f() {\n    return 1;\n}\n}\n").is_empty());
        assert_eq!(errors(Language::Cpp, "int f() {\n    return 1\n}\n"), vec!["line 2: missing `;`"]);
        assert_eq!(errors(Language::C, "int f(int a {\n    return a;\n}\n"), vec!["line 1: missing `)`"]);
    }

    #[test]
    fn the_list_stops_at_its_limit() {
        let text: String = (0..50).map(|i| format!("fn f{i}() {{ let x = 1 }}\n")).collect();
        let rope = Rope::from_str(&text);
        let tree = syntax::parse(Language::Rust, &rope, None).unwrap();
        assert_eq!(syntax_errors(&tree, &rope, 5).len(), 5);
    }

    fn diag(line: u32, message: &str, version: Option<i32>) -> EditorDiagnostic {
        EditorDiagnostic {
            lines: (line, line),
            severity: Some("error"),
            message: message.into(),
            source: Some("rustc".into()),
            code: None,
            version,
        }
    }

    #[test]
    fn a_code_action_replaces_only_the_diagnostics_of_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.rs");
        std::fs::write(&file, "").unwrap();
        let store = DiagnosticStore::default();
        store.replace_all(&file, vec![diag(1, "one", Some(1)), diag(5, "five", Some(1))]);
        store.replace_lines(&file, (4, 6), vec![diag(6, "six", Some(2))]);
        let messages: Vec<String> = store.get(&file).into_iter().map(|d| d.message).collect();
        assert_eq!(messages, ["one", "six"]);
        // The same file named through `..` is the same entry.
        let other = dir.path().join("sub");
        std::fs::create_dir(&other).unwrap();
        assert_eq!(store.get(&other.join("../a.rs")).len(), 2);
        store.replace_all(&file, Vec::new());
        assert!(store.get(&file).is_empty());
        store.replace_lines(&dir.path().join("never.rs"), (0, 9), Vec::new());
        assert!(store.inner.lock().unwrap().by_path.len() == 1, "no entry for a file with nothing to keep");
    }

    #[test]
    fn the_report_labels_each_source_and_flags_stale_lines() {
        let editor = [diag(1, "expected `u32`", Some(3)), diag(8, "unused variable", Some(2))];
        let syntax = [SyntaxError { lines: (4, 4), description: "missing `;`".into() }];
        let text = report(&editor, Some(3), Some(&syntax), "Rust");
        assert_eq!(
            text,
            "From the editor (its language servers):\n- line 2: error: expected `u32` (rustc)\nFrom the editor, for an earlier version of the file (the lines may have moved since):\n- line 9: error: unused variable (rustc)\nSyntax errors found by tree-sitter (Rust grammar):\n- line 5: missing `;`\n"
        );
        let none = report(&[], None, None, "plain text");
        assert!(none.contains("From the editor: none reported") && none.contains("not checked"), "{none}");
    }
}
