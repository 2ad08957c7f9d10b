//! What frames the code around the cursor when the window starts below it: the file's imports
//! and the headers of the scopes the cursor is in.

use std::ops::Range;
use std::sync::OnceLock;

use ropey::Rope;
use tree_sitter::Node;

use super::lang::Spec;
use super::symbols::is_require;
use super::window::{head_end, line_start_byte, text_between, text_is};
use crate::text::{Language, Rename, TopImports};

/// Imports come first in a file, give or take a docstring, attributes, `mod` lines or a
/// conditional import: after this many other statements in a row the scan stops, so that its
/// cost does not grow with the file (tree-sitter steps through siblings at ~80 ns each).
const MAX_GAP: usize = 24;

/// A header longer than this many lines keeps its first lines and its last one (the line that
/// opens the body).
const MAX_HEADER_LINES: usize = 12;

/// The import statements that lie above `window_start` (a byte offset), in file order, whole
/// statements only, at most `budget` chars. Imports inside the window are already visible and
/// are not repeated.
///
/// Looks at the top level (up to [`MAX_GAP`] statements past the last import; found once per
/// stretch of edits that leave them alone, see [`TopImports`]) and, in Rust, at the inline
/// modules the cursor is in (their `use` lines are the imports in scope there), C#'s namespaces
/// (their `using` directives), and in C and C++ at the include guard the cursor is in.
pub(crate) fn imports(
    language: Language,
    spec: &Spec,
    rope: &Rope,
    chain: &[Node<'_>],
    window_start: usize,
    budget: usize,
    top: &OnceLock<TopImports>,
) -> String {
    let Some(root) = chain.first() else {
        return String::new();
    };
    let mut left = budget;
    let mut out: Vec<&str> = Vec::new();
    let top = top_imports(language, spec, rope, *root, top);
    pick(&top.imports, window_start, &mut left, &mut out);
    let modules: Vec<TopImports> = chain
        .windows(2)
        .filter(|pair| {
            pair[1].kind() == "declaration_list" && matches!(pair[0].kind(), "mod_item" | "namespace_declaration")
        })
        .map(|pair| scan(language, spec, rope, pair[1], window_start))
        .collect();
    // A C or C++ header's includes are inside its include guard, not at the top level.
    let guarded: Vec<TopImports> = chain
        .windows(2)
        .filter(|pair| pair[0].kind() == "translation_unit" && matches!(pair[1].kind(), "preproc_ifdef" | "preproc_if"))
        .map(|pair| scan(language, spec, rope, pair[1], window_start))
        .collect();
    for module in modules.iter().chain(&guarded) {
        pick(&module.imports, window_start, &mut left, &mut out);
    }
    out.join("\n")
}

/// Lines of a language without a grammar read this far: imports sit at the top of a file, or at
/// the top of its one module (Elixir's `alias` in `defmodule`).
const UNPARSED_IMPORT_LINES: usize = 200;

/// [`imports`] for code the server does not parse (Ruby, Kotlin, Lua, shell): the import
/// statements among the file's first [`UNPARSED_IMPORT_LINES`] lines that end above the window
/// (`window_line` is its first line), in file order, at most `budget` chars. `language` is the
/// language's name ([`crate::text::LanguageName`]).
///
/// Without a tree a statement can only be told by how its first line starts (SQL's `from` and
/// `use` are queries, not imports, so SQL has none), and by what makes the lines after it part of
/// it (see [`import_continues`]): Haskell's export lists, Elixir's `alias App.{…}`, Clojure's
/// `(ns … (:require …))` run over several lines. A statement's first line is trimmed, and its
/// other lines keep their indentation relative to it.
pub(crate) fn unparsed_imports(rope: &Rope, language: &str, window_line: usize, budget: usize) -> String {
    if language == "SQL" {
        return String::new();
    }
    // Borrowed unless a line spans two of the rope's chunks.
    let lines: Vec<std::borrow::Cow<'_, str>> =
        rope.lines().take(window_line.min(UNPARSED_IMPORT_LINES)).map(Into::into).collect();
    let mut left = budget;
    let mut out: Vec<String> = Vec::new();
    let mut l = 0;
    while l < lines.len() {
        let first = lines[l].trim_end_matches(['\n', '\r']);
        let line = first.trim();
        l += 1;
        if !is_import_line(line, language) {
            continue;
        }
        let indent = first.len() - first.trim_start().len();
        let mut statement = line.to_string();
        let mut depth = bracket_depth(line);
        let mut last_line = line;
        let mut complete = true;
        let mut taken = 0;
        loop {
            let Some(next) = lines.get(l).map(|n| n.trim_end_matches(['\n', '\r'])) else {
                // The statement goes on into the window, or the file ends inside it.
                complete = !import_continues(depth, last_line, indent, None);
                break;
            };
            if !import_continues(depth, last_line, indent, Some(next)) {
                break;
            }
            if taken == MAX_IMPORT_LINES {
                // Too long to be an import after all, or too long to show: not a part of it.
                complete = false;
                break;
            }
            depth += bracket_depth(next);
            statement.push('\n');
            // Relative to the first line; a line indented less than it is kept as it is.
            let own = next.len() - next.trim_start().len();
            statement.push_str(&next[own.min(indent)..]);
            last_line = next;
            taken += 1;
            l += 1;
        }
        if !complete || statement.len() + 1 > left {
            continue;
        }
        left -= statement.len() + 1;
        out.push(statement);
    }
    out.join("\n")
}

/// The most lines after its first that one import statement of [`unparsed_imports`] takes.
const MAX_IMPORT_LINES: usize = 40;

/// Whether the import statement whose last line so far is `last` (its brackets still open:
/// `depth`; its first line indented `indent`) goes on into `next` (`None`: there is no next
/// line to read). It does while a bracket is open (`alias App.{`, `import Data.Map (`,
/// Clojure's `(ns app.core`), after a trailing `,` or `\` (Julia's `using A: b,`), and into a
/// line indented deeper that starts a list or goes on with one (Haskell's and Elm's
/// `  ( Html` and `  , div`, `  exposing (..)`, `  hiding (x)`).
fn import_continues(depth: i32, last: &str, indent: usize, next: Option<&str>) -> bool {
    if depth > 0 || last.trim_end().ends_with([',', '\\']) {
        return true;
    }
    let Some(next) = next else { return false };
    let body = next.trim_start();
    next.len() - body.len() > indent
        && (body.starts_with(['(', ')', '[', ']', '{', '}', ','])
            || body.starts_with("exposing")
            || body.starts_with("hiding"))
}

/// Brackets a line opens minus those it closes, outside quoted strings and a trailing comment
/// (`#`, `--`, `//` after a space, or `;`: Lisp's comment, and the end of a PHP or Perl
/// statement, after which nothing of the import is left). A quote opens a string only when the
/// line closes it: Clojure's `'[a.b :as b]` quotes a form, and Haskell's `x'` is a name.
fn bracket_depth(line: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut previous = ' ';
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            previous = c;
            continue;
        }
        let after_space = previous.is_whitespace();
        match c {
            '"' | '\'' if !previous.is_alphanumeric() && line[i + 1..].contains(c) => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ';' => break,
            '#' if after_space => break,
            '-' | '/' if after_space && chars.peek().map(|&(_, n)| n) == Some(c) => break,
            _ => {}
        }
        previous = c;
    }
    depth
}

/// Lines looked at above the cursor for the headers around it in code without a grammar: the
/// walk stops there, so that its cost does not grow with the file.
const UNPARSED_HEADER_LINES: usize = 3000;

/// [`enclosing`] for code the server does not parse: the lines above the cursor that open the
/// blocks it is in, told by indentation (each one less indented than everything below it up to
/// the cursor), outermost first, those above the window (`window_line` is its first line) only.
/// `cursor_indent` is the cursor's line's indentation, or the cursor's column on a blank line.
/// Lines that close a block (`end`, `}`) or are comments are not headers.
pub(crate) fn unparsed_enclosing(
    rope: &Rope,
    cursor_line: usize,
    cursor_indent: usize,
    window_line: usize,
) -> Option<String> {
    let mut threshold = cursor_indent;
    let mut headers: Vec<String> = Vec::new();
    let first = cursor_line.saturating_sub(UNPARSED_HEADER_LINES);
    for l in (first..cursor_line).rev() {
        if threshold == 0 {
            break;
        }
        let line: std::borrow::Cow<'_, str> = rope.line(l).into();
        let text = line.trim_end_matches(['\n', '\r']);
        let trimmed = text.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let indent = crate::text::indent_width(text);
        if indent >= threshold || is_closer_or_comment(trimmed) {
            continue;
        }
        threshold = indent;
        // A line this long is data, not a header worth repeating.
        if l < window_line && text.len() <= 300 {
            headers.push(text.to_string());
        }
    }
    headers.reverse();
    (!headers.is_empty()).then(|| headers.join("\n"))
}

fn is_closer_or_comment(line: &str) -> bool {
    const STARTS: &[&str] = &["}", ")", "]", "#", "//", "--", ";", "/*", "*", "%", "<!--"];
    const WORDS: &[&str] = &["end", "fi", "done", "esac", "endif", "endfor", "endwhile", "endfunction"];
    STARTS.iter().any(|s| line.starts_with(s))
        || WORDS.iter().any(|w| {
            line.strip_prefix(w).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
}

/// How an import starts, across the languages without a grammar: Lua's and Crystal's `require`
/// (Ruby's and PHP's forms too, for their relatives; their own files are parsed),
/// Scala's, Dart's and Haskell's `import`,
/// Perl's `use`, R's `library(`, Julia's `using`, Elixir's `alias`, OCaml's and F#'s `open`,
/// Erlang's `-include(`, CSS's `@import`, shell's `source`, Make's `include`.
const IMPORT_STARTS: &[&str] = &[
    "import ",
    "require ",
    "require(",
    "require_relative ",
    "require_once ",
    "require_once(",
    "include ",
    "include_once ",
    "use ",
    "using ",
    "open ",
    "alias ",
    "library(",
    "source(",
    "source ",
    "@import ",
    "@use ",
    "-include(",
    "-include_lib(",
    "-import(",
    "#import ",
    "#include ",
    // Clojure's and the Lisps': the whole form, over its lines (see `import_continues`).
    "(ns ",
    "(require ",
    "(import ",
];

fn is_import_line(line: &str, language: &str) -> bool {
    IMPORT_STARTS.iter().any(|s| line.starts_with(s))
        // Nim's and Python-like `from x import y`; a query's `from` has no `import`.
        || line.starts_with("from ") && line.contains(" import ")
        // Lua's `local json = require("json")`, Zig's `const std = @import("std");`.
        || (line.starts_with("local ") || line.starts_with("const ") || line.starts_with("var "))
            && (line.contains("= require") || line.contains("= @import("))
        // A Dockerfile's base image is what the rest builds on.
        || language == "Dockerfile" && line.starts_with("FROM ")
}

/// The file's top-level imports, scanned on first use (see [`TopImports`]).
pub(crate) fn top_imports<'a>(
    language: Language,
    spec: &Spec,
    rope: &Rope,
    root: Node<'_>,
    top: &'a OnceLock<TopImports>,
) -> &'a TopImports {
    top.get_or_init(|| scan(language, spec, rope, root, usize::MAX))
}

/// Adds the imports that end above `window_start` and fit in what is `left` of the budget; an
/// import too long for it is skipped, a shorter one after it may still fit.
fn pick<'a>(imports: &'a [(Range<usize>, String)], window_start: usize, left: &mut usize, out: &mut Vec<&'a str>) {
    for (range, text) in imports {
        if range.start >= window_start {
            break;
        }
        if range.end > window_start {
            continue;
        }
        let cost = text.chars().count() + 1;
        if cost <= *left {
            *left -= cost;
            out.push(text);
        }
    }
}

/// The import statements among `list`'s children, up to [`MAX_GAP`] other statements past the
/// last one, or up to the first child that starts at or after `stop_at`.
fn scan(language: Language, spec: &Spec, rope: &Rope, list: Node<'_>, stop_at: usize) -> TopImports {
    let js = matches!(language, Language::TypeScript | Language::Tsx | Language::JavaScript);
    let mut found = TopImports { scanned_to: usize::MAX, ..TopImports::default() };
    let mut cursor = list.walk();
    let mut since_import = 0;
    let mut last_end = 0;
    for child in list.named_children(&mut cursor) {
        if child.start_byte() >= stop_at || since_import == MAX_GAP {
            found.scanned_to = last_end;
            break;
        }
        last_end = child.end_byte();
        let is_import = spec.imports.contains(&child.kind())
            || (js && is_require_declaration(child, rope))
            || (language == Language::Ruby && is_ruby_require(child, rope))
            || (language == Language::Php && is_php_import(child));
        if !is_import {
            since_import += 1;
            continue;
        }
        since_import = 0;
        // From the line start, so that a nested module's `use` keeps its indentation.
        let text = text_between(rope, line_start_byte(rope, child.start_byte()), child.end_byte());
        // A C `#include` ends with its line break.
        let text = match text.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line).to_string(),
            None => text,
        };
        found.imports.push((child.start_byte()..child.end_byte(), text));
        module_names(language, rope, child, &mut found);
    }
    found
}

/// The names an import statement binds to whole modules: `import * as vscode from "vscode"`,
/// `const path = require("path")`, Python's `import numpy as np`, Go's `"net/http"` (`http`).
/// Such a name is a module, never a definition of the workspace: a lookup could only find an
/// unrelated symbol that happens to share it (a variable named `path` in another file). Names
/// an import brings in one by one (`import { Server } from "./server"`, `from a import b`,
/// Rust's `use`) are the workspace's definitions the cross-file context is for, and stay out.
fn module_names(language: Language, rope: &Rope, import: Node<'_>, found: &mut TopImports) {
    renames(language, rope, import, &mut found.renames);
    let out = &mut found.modules;
    let text = |node: Node<'_>| text_between(rope, node.start_byte(), node.end_byte());
    // `"./utils/schema.js"` is module `schema`.
    let from_source = |source: Node<'_>| {
        let path = text(source);
        let path = path.trim_matches(['"', '\'', '`']);
        let last = path.rsplit('/').next().unwrap_or(path);
        last.split('.').next().unwrap_or(last).to_string()
    };
    let mut cursor = import.walk();
    match language {
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            if import.kind() == "import_statement" {
                let clause = import.named_children(&mut cursor).find(|n| n.kind() == "import_clause");
                let namespace =
                    clause.and_then(|c| c.named_children(&mut c.walk()).find(|n| n.kind() == "namespace_import"));
                if let Some(name) = namespace.and_then(|n| n.named_child(0)) {
                    let module = import.child_by_field_name("source").map(from_source).unwrap_or_else(|| text(name));
                    out.push((text(name), module));
                }
            } else {
                // A require declaration: a plain name holds the module; a destructuring
                // pattern takes definitions out of it.
                for declarator in import.named_children(&mut cursor) {
                    if let Some(name) = declarator.child_by_field_name("name").filter(|n| n.kind() == "identifier") {
                        let source = declarator
                            .child_by_field_name("value")
                            .and_then(|call| call.child_by_field_name("arguments"))
                            .and_then(|args| args.named_child(0))
                            .filter(|arg| arg.kind() == "string");
                        let module = source.map(from_source).unwrap_or_else(|| text(name));
                        out.push((text(name), module));
                    }
                }
            }
        }
        Language::Python if import.kind() == "import_statement" => {
            for name in import.children_by_field_name("name", &mut cursor) {
                match name.kind() {
                    // `import a.b.c as x`: `x` is module `c`.
                    "aliased_import" => {
                        let module = name.child_by_field_name("name").and_then(|dotted| {
                            let count = dotted.named_child_count();
                            dotted.named_child(count.checked_sub(1)?).map(text)
                        });
                        if let (Some(alias), Some(module)) = (name.child_by_field_name("alias").map(text), module) {
                            out.push((alias, module));
                        }
                    }
                    // `import os.path` binds `os`.
                    _ => out.extend(name.named_child(0).map(|n| (text(n), text(n)))),
                }
            }
        }
        // `from app import helpers` (or `as h`): `helpers` may be a module or a definition.
        Language::Python if import.kind() == "import_from_statement" => {
            for name in import.children_by_field_name("name", &mut cursor) {
                let (alias, imported) = match name.kind() {
                    "aliased_import" => (name.child_by_field_name("alias"), name.child_by_field_name("name")),
                    _ => (Some(name), Some(name)),
                };
                let (Some(alias), Some(imported)) = (alias.map(text), imported.map(text)) else { continue };
                if alias.starts_with(|c: char| c.is_lowercase()) && !imported.contains('.') {
                    found.maybe_modules.push((alias, imported));
                }
            }
        }
        Language::Go if import.kind() == "import_declaration" => {
            let mut specs = Vec::new();
            for child in import.named_children(&mut cursor) {
                if child.kind() == "import_spec_list" {
                    specs.extend(child.named_children(&mut child.walk()).filter(|n| n.kind() == "import_spec"));
                } else if child.kind() == "import_spec" {
                    specs.push(child);
                }
            }
            for spec in specs {
                let path = spec.child_by_field_name("path").map(text).unwrap_or_default();
                let package = go_package_name(path.trim_matches(['"', '`'])).map(str::to_string);
                match spec.child_by_field_name("name") {
                    Some(name) if name.kind() == "package_identifier" => {
                        let name = text(name);
                        out.push((name.clone(), package.unwrap_or(name)));
                    }
                    Some(_) => {}
                    None => out.extend(package.map(|p| (p.clone(), p))),
                }
            }
        }
        _ => {}
    }
}

/// The names `import` binds to definitions under another name ([`TopImports::renames`]):
/// Rust's `use a::B as C` (also in a `use` list; not `self as m`, a module, nor `as _`),
/// TypeScript's `import { B as C }`, Python's `from a import B as C`; each with the module it
/// comes from where the statement names one (`a`).
fn renames(language: Language, rope: &Rope, import: Node<'_>, out: &mut Vec<Rename>) {
    let text = |node: Node<'_>| text_between(rope, node.start_byte(), node.end_byte());
    let mut push = |name: Option<Node<'_>>, alias: Option<Node<'_>>, module: Option<String>| {
        let (Some(name), Some(alias)) = (name, alias) else { return };
        let (name, alias) = (text(name), text(alias));
        if name != alias && alias != "_" && !name.is_empty() && !name.contains('.') {
            let module = module.filter(|m| !matches!(m.as_str(), "" | "crate" | "self" | "super"));
            out.push(Rename { alias, name, module });
        }
    };
    match (language, import.kind()) {
        (Language::Rust, "use_declaration") => {
            // The last element of a path: `proxy` of `crate::proxy`.
            let last = |path: Node<'_>| match path.kind() {
                "scoped_identifier" => path.child_by_field_name("name").map(text),
                _ => Some(text(path)),
            };
            // The clauses nest in `use` lists: `use a::{b::{C as D}, E as F}`; each with the
            // module of the list it is in.
            let mut stack: Vec<(Node<'_>, Option<String>)> = vec![(import, None)];
            while let Some((node, module)) = stack.pop() {
                match node.kind() {
                    "use_as_clause" => {
                        let (name, module) = match node.child_by_field_name("path") {
                            Some(path) if path.kind() == "identifier" => (Some(path), module),
                            // `crate::proxy::Matcher`: module `proxy`.
                            Some(path) if path.kind() == "scoped_identifier" => {
                                (path.child_by_field_name("name"), path.child_by_field_name("path").and_then(last))
                            }
                            _ => (None, None),
                        };
                        push(name, node.child_by_field_name("alias"), module);
                    }
                    "scoped_use_list" => {
                        let inner = node.child_by_field_name("path").and_then(last).or(module);
                        if let Some(list) = node.child_by_field_name("list") {
                            stack.extend(list.named_children(&mut list.walk()).map(|c| (c, inner.clone())));
                        }
                    }
                    _ => stack.extend(node.named_children(&mut node.walk()).map(|c| (c, module.clone()))),
                }
            }
        }
        (Language::TypeScript | Language::Tsx | Language::JavaScript, "import_statement") => {
            // `"../naa/AccountInfo.js"`: the directory `naa`, which tells two files named after
            // the type apart; `"./client"`: module `client`; a package's last directory
            // (`"@azure/msal-common/browser"`: `msal-common`).
            let module = import.child_by_field_name("source").map(|source| {
                let path = text(source);
                let mut parts = path.trim_matches(['"', '\'', '`']).rsplit('/');
                let last = parts.next().unwrap_or_default();
                match parts.next() {
                    Some(dir) if !matches!(dir, "" | "." | "..") => dir.to_string(),
                    _ => last.split('.').next().unwrap_or(last).to_string(),
                }
            });
            let clause = import.named_children(&mut import.walk()).find(|n| n.kind() == "import_clause");
            let named = clause.and_then(|c| c.named_children(&mut c.walk()).find(|n| n.kind() == "named_imports"));
            for specifier in named.iter().flat_map(|n| n.named_children(&mut n.walk()).collect::<Vec<_>>()) {
                push(specifier.child_by_field_name("name"), specifier.child_by_field_name("alias"), module.clone());
            }
        }
        (Language::Python, "import_from_statement") => {
            // `from app.client import …`, `from .client import …`: module `client`.
            let module = import.child_by_field_name("module_name").and_then(|m| {
                let dotted = if m.kind() == "relative_import" {
                    m.named_children(&mut m.walk()).find(|c| c.kind() == "dotted_name")?
                } else {
                    m
                };
                let count = dotted.named_child_count();
                dotted.named_child(count.checked_sub(1)?).map(text)
            });
            for name in import.children_by_field_name("name", &mut import.walk()) {
                if name.kind() == "aliased_import" {
                    push(name.child_by_field_name("name"), name.child_by_field_name("alias"), module.clone());
                }
            }
        }
        _ => {}
    }
}

/// The name a Go import path binds without an explicit one: its last element, or the one
/// before a major-version suffix (`github.com/x/y/v2` is package `y`). A package whose name
/// differs from its path (`gopkg.in/yaml.v3` is `yaml`) is guessed wrong; the cost is one
/// name looked up as before.
fn go_package_name(path: &str) -> Option<&str> {
    let mut elements = path.rsplit('/');
    let last = elements.next().filter(|e| !e.is_empty())?;
    let versioned = last.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let name = if versioned { elements.next()? } else { last };
    Some(name.split('.').next().unwrap_or(name))
}

/// `const x = require("x")`: CommonJS's import statement.
fn is_require_declaration(node: Node<'_>, rope: &Rope) -> bool {
    if !matches!(node.kind(), "lexical_declaration" | "variable_declaration") {
        return false;
    }
    let mut cursor = node.walk();
    let mut declarators = node.named_children(&mut cursor).filter(|n| n.kind() == "variable_declarator").peekable();
    declarators.peek().is_some()
        && declarators.all(|d| d.child_by_field_name("value").is_some_and(|v| is_require(v, rope)))
}

/// Ruby's `require "json"` and `require_relative "user"` (and `load`): calls without a receiver.
fn is_ruby_require(node: Node<'_>, rope: &Rope) -> bool {
    node.kind() == "call"
        && node.child_by_field_name("receiver").is_none()
        && node.child_by_field_name("method").is_some_and(|m| {
            ["require", "require_relative", "load"].iter().any(|word| text_is(rope, m.start_byte(), m.end_byte(), word))
        })
}

/// PHP's `namespace App\Models;` (a block namespace holds code, not a frame) and the includes:
/// `require_once __DIR__ . '/User.php';`.
fn is_php_import(node: Node<'_>) -> bool {
    match node.kind() {
        "namespace_definition" => node.child_by_field_name("body").is_none(),
        "expression_statement" => node.named_child(0).is_some_and(|e| {
            matches!(
                e.kind(),
                "require_expression" | "require_once_expression" | "include_expression" | "include_once_expression"
            )
        }),
        _ => false,
    }
}

/// The headers of the scopes (functions, impls, classes, …) the cursor is in whose start lies
/// above `window_start`, outermost first, each as written from its line start to the opening of
/// its body. `None` when every enclosing scope starts inside the window.
pub(crate) fn enclosing(spec: &Spec, rope: &Rope, chain: &[Node<'_>], window_start: usize) -> Option<String> {
    let headers: Vec<String> = chain
        .iter()
        .filter(|n| spec.scopes.contains(&n.kind()) && n.start_byte() < window_start)
        .filter_map(|n| header(rope, *n))
        .collect();
    (!headers.is_empty()).then(|| headers.join("\n"))
}

fn header(rope: &Rope, node: Node<'_>) -> Option<String> {
    // Kotlin's grammar gives its bodies no field.
    let body = node.child_by_field_name("body").or_else(|| super::symbols::kotlin_body(node))?;
    let opens_brace = rope.get_byte(body.start_byte()) == Some(b'{');
    // Python's `block`; Ruby's `body_statement` (a method, class or module's, up to `end`).
    if !opens_brace && !matches!(body.kind(), "block" | "body_statement") {
        // An arrow function with an expression body: nothing to frame.
        return None;
    }
    let text = text_between(rope, line_start_byte(rope, node.start_byte()), head_end(node, body));
    let text = text.trim_end();
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_HEADER_LINES {
        let last = lines.pop().unwrap_or_default();
        lines.truncate(MAX_HEADER_LINES - 2);
        lines.push("    ...");
        lines.push(last);
    }
    let mut header = lines.join("\n");
    if opens_brace {
        header.push_str(" {");
    }
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::lang;
    use crate::text::Document;

    fn modules(language_id: &str, text: &str) -> Vec<String> {
        let doc = Document::new("file:///t", language_id, 1, text);
        let snap = doc.snapshot();
        let spec = lang::spec(snap.language()).unwrap();
        let root = snap.tree().unwrap().root_node();
        top_imports(snap.language(), spec, snap.rope(), root, snap.top_imports())
            .modules
            .iter()
            .map(|(alias, _)| alias.clone())
            .collect()
    }

    #[test]
    fn imports_that_bind_whole_modules_are_told_from_those_that_bring_definitions() {
        let ts = "import * as vscode from \"vscode\";\nimport fs, { a as b } from \"fs\";\nconst path = require(\"path\");\nconst { x } = require(\"./x\");\n";
        assert_eq!(modules("typescript", ts), ["vscode", "path"]);
        let py = "import os.path\nimport numpy as np, sys\nfrom . import utils\nfrom a.b import c as d\n";
        assert_eq!(modules("python", py), ["os", "np", "sys"]);
        let go = "package main\nimport (\n\t\"fmt\"\n\tstr \"strings\"\n\t\"github.com/a/b/v2\"\n\t_ \"embed\"\n\t\"gopkg.in/yaml.v3\"\n)\nimport \"net/http\"\n";
        assert_eq!(modules("go", go), ["fmt", "str", "b", "yaml", "http"]);
        assert!(modules("rust", "use std::fs;\nuse crate::a::B;\n").is_empty());
    }

    #[test]
    fn imports_that_rename_a_definition_are_read_with_the_definitions_own_name() {
        let renames = |language_id: &str, text: &str| {
            let doc = Document::new("file:///t", language_id, 1, text);
            let snap = doc.snapshot();
            let spec = lang::spec(snap.language()).unwrap();
            let root = snap.tree().unwrap().root_node();
            let top = top_imports(snap.language(), spec, snap.rope(), root, snap.top_imports());
            let shown = |r: &Rename| {
                format!("{} = {}{}", r.alias, r.module.as_deref().map_or(String::new(), |m| format!("{m}.")), r.name)
            };
            top.renames.iter().map(shown).collect::<Vec<_>>()
        };
        let rust = "use crate::proxy::Matcher as ProxyMatcher;\nuse a::{b::{C as D}, E, self as f, G as _, H as H};\nuse h as i;\n";
        assert_eq!(renames("rust", rust), ["ProxyMatcher = proxy.Matcher", "D = b.C", "i = h"]);
        assert_eq!(
            renames("rust", "use crate::db::{Pool as DbPool, conn::Conn as C};\n"),
            ["C = conn.Conn", "DbPool = db.Pool"]
        );
        let ts =
            "import * as vscode from \"vscode\";\nimport Def, { Client as HttpClient, Other } from \"./client\";\n";
        assert_eq!(renames("typescript", ts), ["HttpClient = client.Client"]);
        let py = "import numpy as np\nfrom .client import Client as HttpClient, other\nfrom a import b.c as d\n\
                  from . import Helper as H\n";
        assert_eq!(renames("python", py), ["HttpClient = client.Client", "H = Helper"]);
    }
}
