//! Definitions in a syntax tree: the ones the workspace index records for a file (with their
//! signatures), and the names the gatherer needs to know the current file defines itself.
//!
//! Recorded: top-level definitions, the methods of Rust inherent impls and traits, of Python
//! and TypeScript classes, of TypeScript and Go interfaces, and Go methods; in Java and C#, every type (nested ones and those in
//! namespaces too) and the methods of each that are not private; in C and C++ also declarations
//! (a header's prototypes and classes are what other files use), macros, and the members of
//! namespaces, `extern "C"` blocks and include guards; in Kotlin, every class, interface and
//! object with its members (a companion object's too, and an enum's entries) that are not
//! private; in Swift, every type and protocol with its members that are not private, an
//! extension's under the type it extends. Not recorded: the methods of Rust trait impls (the
//! trait's declaration already carries their signatures, and `fmt`/`from`/`eq` in every file
//! would drown the lookups), nested functions, locals, and Rust `tests` modules.

use std::collections::HashSet;

use ropey::Rope;
use tree_sitter::Node;

use super::window::{head_end, text_between, text_is};
use super::{Reach, SymbolKind};
use crate::text::Language;

/// The longest definition recorded whole. Small structs, enums, interfaces and type aliases are
/// more useful to the model in full (their fields are what it completes); bigger ones are cut
/// after this many lines, keeping the closing line.
pub(crate) const MAX_DEFINITION_LINES: usize = 15;

/// Guards the index's memory against generated code with absurd signatures.
const MAX_SIGNATURE_CHARS: usize = 1500;
/// A class attribute in a Python class summary, joined onto one line, at most this long.
const MAX_ATTRIBUTE_CHARS: usize = 160;

/// How deep inline Rust modules and TypeScript namespaces are followed.
const MAX_NESTING: u8 = 4;

/// One definition found in a tree.
pub(crate) struct Site<'t> {
    /// The defining node: `function_item`, `class_definition`, `variable_declarator`, …
    pub node: Node<'t>,
    /// What the signature is rendered from: the node plus what wraps it (`export`, decorators,
    /// Go's `type`/`const` keyword when the declaration holds only this spec).
    pub outer: Node<'t>,
    pub name: Node<'t>,
    pub kind: SymbolKind,
    /// For methods: the impl, trait or class node they belong to.
    pub owner: Option<Node<'t>>,
}

/// What decides a definition's [`Reach`] in one file.
pub(crate) struct FileRules {
    language: Language,
    /// A JavaScript or TypeScript file with an `import` or `export` statement: an ES module,
    /// whose other declarations are its own. Without one it is a script (or CommonJS, whose
    /// exports are assignments), and everything it declares is taken as shared.
    es_module: bool,
    /// Names a module exports apart from their declarations: `export { parse, Lexer as L }`,
    /// `export default parse`, TypeScript's `export = parse`.
    exported: Vec<String>,
}

impl FileRules {
    pub(crate) fn of(language: Language, root: Node<'_>, rope: &Rope) -> FileRules {
        let mut rules = FileRules { language, es_module: false, exported: Vec::new() };
        if !matches!(language, Language::TypeScript | Language::Tsx | Language::JavaScript) {
            return rules;
        }
        for statement in named_children(root) {
            match statement.kind() {
                "import_statement" => rules.es_module = true,
                "export_statement" => {
                    rules.es_module = true;
                    // Re-exports (`export { a } from "./a"`) name another file's definitions.
                    if statement.child_by_field_name("source").is_some() {
                        continue;
                    }
                    for part in named_children(statement) {
                        let names: Vec<Node<'_>> = match part.kind() {
                            "export_clause" => named_children(part)
                                .into_iter()
                                .filter_map(|specifier| specifier.child_by_field_name("name"))
                                .collect(),
                            "identifier" => vec![part],
                            _ => Vec::new(),
                        };
                        for name in names {
                            rules.exported.push(text_between(rope, name.start_byte(), name.end_byte()));
                        }
                    }
                }
                _ => {}
            }
        }
        rules
    }

    /// `name` is the site's name as written.
    pub(crate) fn reach(&self, site: &Site<'_>, name: &str, rope: &Rope) -> Reach {
        let has_child = |node: Node<'_>, kind: &str| named_children(node).iter().any(|c| c.kind() == kind);
        match self.language {
            Language::Rust => {
                // A trait's methods are as public as the trait.
                let item = site.owner.filter(|o| o.kind() == "trait_item").unwrap_or(site.node);
                // `macro_rules!` macros are scoped by text order and `#[macro_use]`, not by
                // `pub`: a crate's macros module is used everywhere.
                if site.kind == SymbolKind::Macro || has_child(item, "visibility_modifier") {
                    Reach::Anywhere
                } else {
                    Reach::Module
                }
            }
            Language::Go => {
                if name.starts_with(|c: char| c.is_uppercase()) {
                    Reach::Anywhere
                } else {
                    Reach::Package
                }
            }
            Language::TypeScript | Language::Tsx | Language::JavaScript => {
                if site.kind == SymbolKind::Method {
                    let private = name.starts_with('#')
                        || named_children(site.node).iter().any(|c| {
                            c.kind() == "accessibility_modifier" && c.child(0).is_some_and(|k| k.kind() == "private")
                        });
                    let class_exported = site.owner.is_some_and(|class| {
                        class.parent().is_some_and(is_ts_export)
                            || self.exports(class.child_by_field_name("name"), rope)
                    });
                    match (private, class_exported || !self.es_module) {
                        (false, true) => Reach::Anywhere,
                        _ => Reach::File,
                    }
                } else if !self.es_module
                    || is_ts_export(site.outer)
                    || site.outer.kind() == "ambient_declaration"
                    || self.exported.iter().any(|e| e == name)
                {
                    Reach::Anywhere
                } else {
                    Reach::File
                }
            }
            // A method reaches no further than its type.
            Language::Java | Language::CSharp => match site.owner {
                Some(owner) => match (
                    member_reach(self.language, site.node, Some(owner), rope),
                    member_reach(self.language, owner, None, rope),
                ) {
                    (Reach::File, _) | (_, Reach::File) => Reach::File,
                    (Reach::Package, _) | (_, Reach::Package) => Reach::Package,
                    _ => Reach::Anywhere,
                },
                None => member_reach(self.language, site.node, None, rope),
            },
            Language::C | Language::Cpp => {
                // `static` at file scope and an anonymous namespace give internal linkage: no
                // other translation unit sees the name (a header's are copied into every file
                // that includes it, which `Reach::reaches` knows). Class members are the
                // class's, whatever their access: the class's own source file defines them.
                let declaration =
                    if site.node.kind().ends_with("declarator") { site.node.parent() } else { Some(site.node) };
                let is_static = site.owner.is_none()
                    && declaration.is_some_and(|d| {
                        named_children(d).iter().any(|c| {
                            c.kind() == "storage_class_specifier"
                                && text_is(rope, c.start_byte(), c.end_byte(), "static")
                        })
                    });
                let mut ancestor = site.node.parent();
                let mut anonymous = false;
                while let Some(node) = ancestor {
                    if node.kind() == "namespace_definition" && node.child_by_field_name("name").is_none() {
                        anonymous = true;
                        break;
                    }
                    ancestor = node.parent();
                }
                if is_static || anonymous {
                    Reach::File
                } else {
                    Reach::Anywhere
                }
            }
            // By Python's convention a leading `_` keeps a name to its package: the package's
            // other modules use it (asyncio's `handle._run()` from another file), no one else
            // should. Special names (`__init__`) are not private.
            Language::Python if name.starts_with('_') && !(name.starts_with("__") && name.ends_with("__")) => {
                Reach::Package
            }
            // Ruby and PHP have no file or package privacy: what is recorded is usable anywhere
            // (private methods are not recorded).
            Language::Python | Language::Ruby | Language::Php | Language::PlainText => Reach::Anywhere,
            // A top-level `private` declaration is its file's; a member reaches no further than
            // its class (private members are not recorded). `internal` is the module's, which
            // the workspace stands for.
            Language::Kotlin => {
                if kotlin_private(site.node, rope) || site.owner.is_some_and(|o| kotlin_private(o, rope)) {
                    Reach::File
                } else {
                    Reach::Anywhere
                }
            }
            // Swift's `private` and `fileprivate` at the top level keep a declaration in its
            // file, and a private type's or extension's members with it; `internal` (the
            // default) is the module's, which the workspace stands for.
            Language::Swift => {
                if swift_private(site.node, rope) || site.owner.is_some_and(|o| swift_private(o, rope)) {
                    Reach::File
                } else {
                    Reach::Anywhere
                }
            }
        }
    }
}

/// How far a Java or C# declaration is visible, from its modifiers. `private` keeps it in its
/// file. Java's package-private (no modifier, outside an interface, whose members are public)
/// reaches its package, taken as its directory. C#'s `internal`, and the default, reach the
/// assembly, which the workspace stands for.
fn member_reach(language: Language, node: Node<'_>, owner: Option<Node<'_>>, rope: &Rope) -> Reach {
    let words = modifier_words(node, rope);
    let has = |word: &str| words.iter().any(|w| w == word);
    if has("private") {
        Reach::File
    } else if language == Language::CSharp
        || has("public")
        || has("protected")
        || owner.is_some_and(|o| matches!(o.kind(), "interface_declaration" | "annotation_type_declaration"))
    {
        Reach::Anywhere
    } else {
        Reach::Package
    }
}

impl FileRules {
    fn exports(&self, name: Option<Node<'_>>, rope: &Rope) -> bool {
        name.is_some_and(|n| {
            let name = text_between(rope, n.start_byte(), n.end_byte());
            self.exported.contains(&name)
        })
    }
}

/// The wrapper of an exported declaration: `export class …` (and `export const`, whose
/// declarator's outer node is the statement).
fn is_ts_export(node: Node<'_>) -> bool {
    node.kind() == "export_statement"
}

/// A node's named children, collected (tree-sitter lends them only through a cursor).
pub(crate) fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// Calls `f` for every definition of `root` that the index records (see the module doc).
pub(crate) fn visit<'t>(language: Language, root: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    match language {
        Language::Rust => rust_items(root, rope, f, 0),
        Language::Python => python_block(root, None, rope, f, 0),
        Language::TypeScript | Language::Tsx | Language::JavaScript => ts_statements(root, rope, f, 0),
        Language::Go => go_declarations(root, f),
        Language::Java | Language::CSharp => class_declarations(root, rope, f, 0),
        Language::C | Language::Cpp => c_items(root, rope, f, 0),
        Language::Ruby => ruby_statements(root, None, &[], rope, f, 0),
        Language::Php => php_statements(root, rope, f, 0),
        Language::Kotlin => kotlin_declarations(root, None, rope, f, 0),
        Language::Swift => swift_declarations(root, None, rope, f, 0),
        Language::PlainText => {}
    }
}

fn site<'t>(node: Node<'t>, outer: Node<'t>, kind: SymbolKind, owner: Option<Node<'t>>) -> Option<Site<'t>> {
    Some(Site { node, outer, name: node.child_by_field_name("name")?, kind, owner })
}

fn rust_items<'t>(list: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for item in named_children(list) {
        let kind = match item.kind() {
            "function_item" | "function_signature_item" => SymbolKind::Function,
            "struct_item" | "union_item" => SymbolKind::Class,
            "enum_item" => SymbolKind::Enum,
            "type_item" => SymbolKind::Type,
            "const_item" | "static_item" => SymbolKind::Constant,
            "macro_definition" => SymbolKind::Macro,
            "trait_item" => SymbolKind::Interface,
            "impl_item" => {
                // Trait impls are skipped: see the module doc.
                if item.child_by_field_name("trait").is_none() {
                    rust_methods(item, f);
                }
                continue;
            }
            "mod_item" => {
                if let Some(body) = item.child_by_field_name("body") {
                    if depth < MAX_NESTING && !is_rust_test_module(item, rope) {
                        rust_items(body, rope, f, depth + 1);
                    }
                }
                continue;
            }
            // A broken file still lists its items, under an ERROR node.
            "ERROR" if depth < MAX_NESTING => {
                rust_items(item, rope, f, depth + 1);
                continue;
            }
            _ => continue,
        };
        if let Some(s) = site(item, item, kind, None) {
            f(s);
        }
        if kind == SymbolKind::Interface {
            rust_methods(item, f);
        }
    }
}

fn rust_methods<'t>(owner: Node<'t>, f: &mut dyn FnMut(Site<'t>)) {
    let Some(body) = owner.child_by_field_name("body") else {
        return;
    };
    for member in named_children(body) {
        if matches!(member.kind(), "function_item" | "function_signature_item") {
            if let Some(s) = site(member, member, SymbolKind::Method, Some(owner)) {
                f(s);
            }
        }
    }
}

fn is_rust_test_module(item: Node<'_>, rope: &Rope) -> bool {
    if let Some(name) = item.child_by_field_name("name") {
        if text_is(rope, name.start_byte(), name.end_byte(), "tests")
            || text_is(rope, name.start_byte(), name.end_byte(), "test")
        {
            return true;
        }
    }
    let mut prev = item.prev_named_sibling();
    while let Some(attr) = prev.filter(|n| n.kind() == "attribute_item") {
        if text_between(rope, attr.start_byte(), attr.end_byte()).contains("cfg(test)") {
            return true;
        }
        prev = attr.prev_named_sibling();
    }
    false
}

fn python_block<'t>(block: Node<'t>, owner: Option<Node<'t>>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for child in named_children(block) {
        let def = if child.kind() == "decorated_definition" {
            match child.child_by_field_name("definition") {
                Some(def) => def,
                None => continue,
            }
        } else {
            child
        };
        match def.kind() {
            "function_definition" => {
                let kind = if owner.is_some() { SymbolKind::Method } else { SymbolKind::Function };
                if let Some(s) = site(def, child, kind, owner) {
                    f(s);
                }
            }
            "class_definition" if owner.is_none() => {
                if let Some(s) = site(def, child, SymbolKind::Class, None) {
                    f(s);
                }
                if let Some(body) = def.child_by_field_name("body") {
                    python_block(body, Some(def), rope, f, depth + 1);
                }
            }
            "expression_statement" if owner.is_none() => {
                let Some(assignment) = def.named_child(0).filter(|n| n.kind() == "assignment") else {
                    continue;
                };
                let Some(name) = assignment.child_by_field_name("left").filter(|n| n.kind() == "identifier") else {
                    continue;
                };
                // Python has no `const`: by convention, upper-case names are constants.
                let text = text_between(rope, name.start_byte(), name.end_byte());
                let kind =
                    if text.chars().any(|c| c.is_lowercase()) { SymbolKind::Variable } else { SymbolKind::Constant };
                f(Site { node: assignment, outer: def, name, kind, owner: None });
            }
            "type_alias_statement" if owner.is_none() => {
                // `type Alias = ...`: the name is the first child of the `left` type node.
                let name = def.child_by_field_name("left").and_then(|left| left.named_child(0).or(Some(left)));
                if let Some(name) = name {
                    f(Site { node: def, outer: def, name, kind: SymbolKind::Type, owner: None });
                }
            }
            "ERROR" if owner.is_none() && depth < MAX_NESTING => python_block(def, None, rope, f, depth + 1),
            _ => {}
        }
    }
}

fn ts_statements<'t>(list: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for child in named_children(list) {
        let decl = match child.kind() {
            "export_statement" => child.child_by_field_name("declaration"),
            "ambient_declaration" => child.named_child(0),
            "expression_statement" => child.named_child(0).filter(|n| n.kind() == "internal_module"),
            _ => Some(child),
        };
        let Some(decl) = decl else {
            continue;
        };
        let kind = match decl.kind() {
            "function_declaration" | "generator_function_declaration" | "function_signature" => SymbolKind::Function,
            "class_declaration" | "abstract_class_declaration" => SymbolKind::Class,
            "interface_declaration" => SymbolKind::Interface,
            "type_alias_declaration" => SymbolKind::Type,
            "enum_declaration" => SymbolKind::Enum,
            "lexical_declaration" | "variable_declaration" => {
                ts_variables(decl, child, rope, f);
                continue;
            }
            "internal_module" | "module" if depth < MAX_NESTING => {
                if let Some(body) = decl.child_by_field_name("body") {
                    ts_statements(body, rope, f, depth + 1);
                }
                continue;
            }
            "ERROR" if depth < MAX_NESTING => {
                ts_statements(decl, rope, f, depth + 1);
                continue;
            }
            _ => continue,
        };
        if let Some(s) = site(decl, child, kind, None) {
            f(s);
        }
        // An interface's methods too: a value typed with it (`private repo: UserStore`) calls
        // the interface's `find`, whichever class implements it.
        if matches!(kind, SymbolKind::Class | SymbolKind::Interface) {
            ts_methods(decl, rope, f);
        }
    }
}

fn ts_methods<'t>(class: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    let Some(body) = class.child_by_field_name("body") else {
        return;
    };
    for member in named_children(body) {
        if !matches!(member.kind(), "method_definition" | "method_signature" | "abstract_method_signature") {
            continue;
        }
        let Some(s) = site(member, member, SymbolKind::Method, Some(class)) else {
            continue;
        };
        // Nobody calls `constructor` by name; the class's own entry shows it.
        if !text_is(rope, s.name.start_byte(), s.name.end_byte(), "constructor") {
            f(s);
        }
    }
}

/// `const f = (x) => …` is a function; `const X = require("x")` an import (skipped); other
/// declarations constants (`const`) or variables (`let`, `var`).
fn ts_variables<'t>(decl: Node<'t>, outer: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    let is_const =
        decl.child_by_field_name("kind").is_some_and(|k| text_is(rope, k.start_byte(), k.end_byte(), "const"));
    for declarator in named_children(decl) {
        if declarator.kind() != "variable_declarator" {
            continue;
        }
        let Some(name) = declarator.child_by_field_name("name").filter(|n| n.kind() == "identifier") else {
            continue;
        };
        let value = declarator.child_by_field_name("value");
        let kind = match value.map(|v| v.kind()) {
            Some("arrow_function" | "function_expression" | "function" | "generator_function") => SymbolKind::Function,
            _ if value.is_some_and(|v| is_require(v, rope)) => continue,
            _ if is_const => SymbolKind::Constant,
            _ => SymbolKind::Variable,
        };
        f(Site { node: declarator, outer, name, kind, owner: None });
    }
}

/// `require("…")`, possibly awaited: CommonJS's import.
pub(crate) fn is_require(value: Node<'_>, rope: &Rope) -> bool {
    let call = if value.kind() == "await_expression" {
        match value.named_child(0) {
            Some(inner) => inner,
            None => return false,
        }
    } else {
        value
    };
    call.kind() == "call_expression"
        && call.child_by_field_name("function").is_some_and(|f| text_is(rope, f.start_byte(), f.end_byte(), "require"))
}

fn go_declarations<'t>(root: Node<'t>, f: &mut dyn FnMut(Site<'t>)) {
    for decl in named_children(root) {
        match decl.kind() {
            "function_declaration" => {
                if let Some(s) = site(decl, decl, SymbolKind::Function, None) {
                    f(s);
                }
            }
            "method_declaration" => {
                if let Some(s) = site(decl, decl, SymbolKind::Method, None) {
                    f(s);
                }
            }
            "type_declaration" => {
                let specs = named_children(decl);
                let single = specs.len() == 1;
                for spec in specs {
                    if !matches!(spec.kind(), "type_spec" | "type_alias") {
                        continue;
                    }
                    let kind = match spec.child_by_field_name("type").map(|t| t.kind()) {
                        Some("struct_type") => SymbolKind::Class,
                        Some("interface_type") => SymbolKind::Interface,
                        _ => SymbolKind::Type,
                    };
                    let outer = if single { decl } else { spec };
                    if let Some(s) = site(spec, outer, kind, None) {
                        f(s);
                    }
                    // An interface's methods: a value of the interface's type calls them.
                    if kind == SymbolKind::Interface {
                        for element in spec.child_by_field_name("type").map(named_children).unwrap_or_default() {
                            if matches!(element.kind(), "method_elem" | "method_spec") {
                                if let Some(s) = site(element, element, SymbolKind::Method, Some(spec)) {
                                    f(s);
                                }
                            }
                        }
                    }
                }
            }
            "const_declaration" | "var_declaration" => {
                let kind = if decl.kind() == "const_declaration" { SymbolKind::Constant } else { SymbolKind::Variable };
                let mut specs = Vec::new();
                for child in named_children(decl) {
                    match child.kind() {
                        "const_spec" | "var_spec" => specs.push(child),
                        "var_spec_list" => specs.extend(named_children(child)),
                        _ => {}
                    }
                }
                let single = specs.len() == 1;
                for spec in specs {
                    let outer = if single { decl } else { spec };
                    let mut cursor = spec.walk();
                    let names: Vec<Node<'t>> = spec.children_by_field_name("name", &mut cursor).collect();
                    for name in names {
                        f(Site { node: spec, outer, name, kind, owner: None });
                    }
                }
            }
            "ERROR" => go_declarations(decl, f),
            _ => {}
        }
    }
}

/// The kind recorded for a Java or C# type declaration; `None` for anything else.
fn declaration_kind(kind: &str) -> Option<SymbolKind> {
    Some(match kind {
        "class_declaration" | "record_declaration" | "struct_declaration" | "record_struct_declaration" => {
            SymbolKind::Class
        }
        "interface_declaration" | "annotation_type_declaration" => SymbolKind::Interface,
        "enum_declaration" => SymbolKind::Enum,
        "delegate_declaration" => SymbolKind::Type,
        _ => return None,
    })
}

/// Java's and C#'s types, wherever namespaces and enclosing types put them, and their methods.
fn class_declarations<'t>(list: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for child in named_children(list) {
        match child.kind() {
            // C#'s block namespaces; a file-scoped one is a sibling of what it holds.
            "namespace_declaration" if depth < MAX_NESTING => {
                if let Some(body) = child.child_by_field_name("body") {
                    class_declarations(body, rope, f, depth + 1);
                }
            }
            "ERROR" if depth < MAX_NESTING => class_declarations(child, rope, f, depth + 1),
            kind => {
                let Some(kind) = declaration_kind(kind) else {
                    continue;
                };
                if let Some(s) = site(child, child, kind, None) {
                    f(s);
                }
                let Some(body) = child.child_by_field_name("body") else {
                    continue;
                };
                for member in class_members(body) {
                    if member.kind() == "method_declaration" && !is_hidden(child, member, rope) {
                        if let Some(s) = site(member, member, SymbolKind::Method, Some(child)) {
                            f(s);
                        }
                    }
                }
                if depth < MAX_NESTING {
                    class_declarations(body, rope, f, depth + 1);
                    // A Java enum's members follow its constants, in a node of their own.
                    for part in named_children(body).into_iter().filter(|n| n.kind() == "enum_body_declarations") {
                        class_declarations(part, rope, f, depth + 1);
                    }
                }
            }
        }
    }
}

/// The members of a Java or C# type body; a Java enum keeps them after its constants.
fn class_members(body: Node<'_>) -> Vec<Node<'_>> {
    let mut members = Vec::new();
    for child in named_children(body) {
        if child.kind() == "enum_body_declarations" {
            members.extend(named_children(child));
        } else {
            members.push(child);
        }
    }
    members
}

/// The words before a Java or C# declaration's name: its annotations or attributes, modifiers
/// and type.
fn modifier_words(member: Node<'_>, rope: &Rope) -> Vec<String> {
    let end = member.child_by_field_name("name").map_or(member.end_byte(), |n| n.start_byte());
    let end = named_children(member)
        .into_iter()
        .find(|n| matches!(n.kind(), "variable_declarator" | "variable_declaration"))
        .map_or(end, |n| n.start_byte().min(end));
    let before = text_between(rope, member.start_byte(), end);
    before.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// A Java or C# member other files cannot use, so no context for them: one declared `private`,
/// and in C# one of a class or struct without an access modifier (private by default there; an
/// interface's members are public). Java's package-private members are visible to the package.
fn is_hidden(owner: Node<'_>, member: Node<'_>, rope: &Rope) -> bool {
    let words = modifier_words(member, rope);
    let mut words = words.iter().map(String::as_str);
    if words.clone().any(|word| word == "private") {
        return true;
    }
    let csharp_default_private = matches!(
        owner.kind(),
        "class_declaration" | "struct_declaration" | "record_declaration" | "record_struct_declaration"
    ) && owner.child_by_field_name("body").is_some_and(|b| b.kind() == "declaration_list");
    csharp_default_private && !words.any(|word| matches!(word, "public" | "internal" | "protected"))
}

/// A Ruby method a call in its class's body names to set its visibility (see
/// [`ruby_named_visibility`]).
struct RubyNamed {
    name: String,
    /// Named by `private_class_method` or `public_class_method`: a `def self.name`, which
    /// `private :name` never touches.
    class_method: bool,
    hidden: bool,
}

/// The methods of a Ruby class or module body whose visibility a call names them in sets
/// (`private :helper`, `private :a, :b`, `public :shown`, `private_class_method :build`), by
/// name: whether each ends hidden (`private` or `protected`). The call may come after the
/// definition, so the whole body is read first; the last call naming a method wins, as it does
/// when Ruby runs the body.
fn ruby_named_visibility(body: Node<'_>, rope: &Rope) -> Vec<RubyNamed> {
    let mut named: Vec<RubyNamed> = Vec::new();
    for call in named_children(body) {
        if call.kind() != "call" || call.child_by_field_name("receiver").is_some() {
            continue;
        }
        let (class_method, hidden) =
            match call.child_by_field_name("method").map(|m| text_between(rope, m.start_byte(), m.end_byte())) {
                Some(word) if matches!(word.as_str(), "private" | "protected") => (false, true),
                Some(word) if word == "public" => (false, false),
                Some(word) if word == "private_class_method" => (true, true),
                Some(word) if word == "public_class_method" => (true, false),
                _ => continue,
            };
        let arguments = call.child_by_field_name("arguments").map(named_children).unwrap_or_default();
        for symbol in arguments.into_iter().filter(|a| a.kind() == "simple_symbol") {
            let name = text_between(rope, symbol.start_byte(), symbol.end_byte());
            let name = name.trim_start_matches(':').to_string();
            named.retain(|known| known.name != name || known.class_method != class_method);
            named.push(RubyNamed { name, class_method, hidden });
        }
    }
    named
}

/// [`ruby_named_visibility`] of a Ruby `class << self` block's body, whose methods are the
/// class's class methods: `class_named` is the class body's, whose `private_class_method :name`
/// and `public_class_method :name` name them too. Those run after the block has defined the
/// method (before it, Ruby finds no method to name), so they win over the block's own calls.
fn ruby_block_visibility(body: Node<'_>, class_named: &[RubyNamed], rope: &Rope) -> Vec<RubyNamed> {
    let mut named = ruby_named_visibility(body, rope);
    // The block's `def build` is a `method`, which only entries for methods match.
    for known in class_named.iter().filter(|known| known.class_method) {
        named.retain(|inner| inner.name != known.name || inner.class_method);
        named.push(RubyNamed { name: known.name.clone(), class_method: false, hidden: known.hidden });
    }
    named
}

/// Whether a Ruby method defined in a class body is hidden: what a call naming it says (see
/// [`ruby_named_visibility`]), else its section's (`in_private`), which a class method (`def
/// self.x`) is outside of.
fn ruby_hidden(method: Node<'_>, in_private: bool, named: &[RubyNamed], rope: &Rope) -> bool {
    let class_method = method.kind() == "singleton_method";
    let in_private = in_private && !class_method;
    let Some(name) = method.child_by_field_name("name") else { return in_private };
    let name = text_between(rope, name.start_byte(), name.end_byte());
    named
        .iter()
        .find(|known| known.name == name && known.class_method == class_method)
        .map_or(in_private, |known| known.hidden)
}

/// Ruby's classes, modules, methods and constants. `owner` is the class or module whose body
/// `list` is. A method after a bare `private`, written `private def …`, or named by a later
/// `private :name` is not recorded: only its class calls it. `class_named`: for a `class << self`
/// block, what its class's body names (see [`ruby_block_visibility`]); empty elsewhere.
fn ruby_statements<'t>(
    list: Node<'t>,
    owner: Option<Node<'t>>,
    class_named: &[RubyNamed],
    rope: &Rope,
    f: &mut dyn FnMut(Site<'t>),
    depth: u8,
) {
    let mut private = false;
    let named = if owner.is_some() { ruby_block_visibility(list, class_named, rope) } else { Vec::new() };
    for child in named_children(list) {
        let (def, hidden) = match child.kind() {
            // `private`, `protected`, `public` alone switch the methods below.
            "identifier" if owner.is_some() => {
                match text_between(rope, child.start_byte(), child.end_byte()).as_str() {
                    "private" | "protected" => private = true,
                    "public" => private = false,
                    _ => {}
                }
                continue;
            }
            "call" if owner.is_some() && child.child_by_field_name("receiver").is_none() => {
                let method = child.child_by_field_name("method");
                let word = method.map(|m| text_between(rope, m.start_byte(), m.end_byte())).unwrap_or_default();
                let wrapped = child
                    .child_by_field_name("arguments")
                    .and_then(|args| args.named_child(0))
                    .filter(|d| matches!(d.kind(), "method" | "singleton_method"));
                match (word.as_str(), wrapped) {
                    // `private def self.x` makes no class method private.
                    ("private" | "protected", Some(def)) => (def, def.kind() == "method"),
                    ("private_class_method", Some(def)) => (def, def.kind() == "singleton_method"),
                    ("public" | "public_class_method", Some(def)) => (def, false),
                    _ => continue,
                }
            }
            _ => (child, private),
        };
        // `private def helper` says it where it is written; `private :helper` after it.
        let hidden = if child.kind() == "call" { hidden } else { ruby_hidden(def, hidden, &named, rope) };
        match def.kind() {
            "method" | "singleton_method" if !hidden => {
                let kind = if owner.is_some() { SymbolKind::Method } else { SymbolKind::Function };
                if let Some(s) = site(def, child, kind, owner) {
                    f(s);
                }
            }
            "class" | "module" if depth < MAX_NESTING => {
                let kind = if def.kind() == "class" { SymbolKind::Class } else { SymbolKind::Interface };
                // `class Admin::User`: the name is the last part.
                let name = def.child_by_field_name("name").map(|n| n.child_by_field_name("name").unwrap_or(n));
                if let Some(name) = name {
                    f(Site { node: def, outer: def, name, kind, owner: None });
                }
                if let Some(body) = def.child_by_field_name("body") {
                    ruby_statements(body, Some(def), &[], rope, f, depth + 1);
                }
            }
            "assignment" if owner.is_none_or(|o| o.kind() == "module") => {
                let Some(name) = def.child_by_field_name("left").filter(|n| n.kind() == "constant") else {
                    continue;
                };
                f(Site { node: def, outer: def, name, kind: SymbolKind::Constant, owner: None });
            }
            // `class << self`: its methods are the class's class methods, hidden by the block's
            // own `private` section or `private :name`, or by the class's `private_class_method
            // :name`.
            "singleton_class" if owner.is_some() && depth < MAX_NESTING => {
                if let Some(body) = def.child_by_field_name("body") {
                    ruby_statements(body, owner, &named, rope, f, depth + 1);
                }
            }
            "ERROR" if owner.is_none() && depth < MAX_NESTING => ruby_statements(def, None, &[], rope, f, depth + 1),
            _ => {}
        }
    }
}

/// The `class << self` block a Ruby method is defined in, if any.
fn ruby_singleton_block(method: Node<'_>) -> Option<Node<'_>> {
    method.parent().filter(|b| b.kind() == "body_statement")?.parent().filter(|s| s.kind() == "singleton_class")
}

/// PHP's functions, classes, interfaces, traits and enums, also inside block namespaces, and
/// the methods of each that are not private.
fn php_statements<'t>(list: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for child in named_children(list) {
        let kind = match child.kind() {
            "namespace_definition" | "ERROR" if depth < MAX_NESTING => {
                let body = if child.kind() == "ERROR" { Some(child) } else { child.child_by_field_name("body") };
                if let Some(body) = body {
                    php_statements(body, rope, f, depth + 1);
                }
                continue;
            }
            "function_definition" => SymbolKind::Function,
            "class_declaration" => SymbolKind::Class,
            "interface_declaration" | "trait_declaration" => SymbolKind::Interface,
            "enum_declaration" => SymbolKind::Enum,
            _ => continue,
        };
        if let Some(s) = site(child, child, kind, None) {
            f(s);
        }
        let Some(body) = child.child_by_field_name("body").filter(|_| kind != SymbolKind::Function) else {
            continue;
        };
        for member in named_children(body) {
            if member.kind() == "method_declaration" && !php_private(member, rope) {
                if let Some(s) = site(member, member, SymbolKind::Method, Some(child)) {
                    f(s);
                }
            }
        }
    }
}

/// Whether a PHP class member is `private`: only its class uses it.
fn php_private(member: Node<'_>, rope: &Rope) -> bool {
    named_children(member)
        .iter()
        .any(|c| c.kind() == "visibility_modifier" && text_is(rope, c.start_byte(), c.end_byte(), "private"))
}

/// Kotlin's classes, interfaces, objects, functions, properties and type aliases, and the
/// members of classes and objects (a companion object's too, under its class) that are not
/// private. `owner` is the class or object whose body `list` is.
fn kotlin_declarations<'t>(
    list: Node<'t>,
    owner: Option<Node<'t>>,
    rope: &Rope,
    f: &mut dyn FnMut(Site<'t>),
    depth: u8,
) {
    for child in named_children(list) {
        if owner.is_some() && kotlin_private(child, rope) {
            continue;
        }
        let kind = match child.kind() {
            "class_declaration" => {
                let mut cursor = child.walk();
                let mut children = child.children(&mut cursor);
                if children.any(|c| c.kind() == "interface") {
                    SymbolKind::Interface
                } else if kotlin_body(child).is_some_and(|b| b.kind() == "enum_class_body") {
                    SymbolKind::Enum
                } else {
                    SymbolKind::Class
                }
            }
            "object_declaration" => SymbolKind::Class,
            "companion_object" if depth < MAX_NESTING => {
                if let Some(body) = kotlin_body(child) {
                    kotlin_declarations(body, owner, rope, f, depth + 1);
                }
                continue;
            }
            "function_declaration" if owner.is_some() => SymbolKind::Method,
            "function_declaration" => SymbolKind::Function,
            "type_alias" => SymbolKind::Type,
            // `RED(0xFF0000)`: named by a field-less identifier, a constant of its enum.
            "enum_entry" => {
                let Some(name) = named_children(child).into_iter().find(|c| c.kind() == "identifier") else { continue };
                f(Site { node: child, outer: child, name, kind: SymbolKind::Constant, owner });
                continue;
            }
            "property_declaration" => {
                let Some(name) = kotlin_property_name(child) else { continue };
                let kind =
                    if kotlin_modifier(child, rope, "const") { SymbolKind::Constant } else { SymbolKind::Variable };
                f(Site { node: child, outer: child, name, kind, owner });
                continue;
            }
            _ => continue,
        };
        let Some(name) = child.child_by_field_name("name").or_else(|| {
            // A type alias names itself with a `type` field-less identifier.
            (child.kind() == "type_alias")
                .then(|| named_children(child).into_iter().find(|c| c.kind() == "identifier"))?
        }) else {
            continue;
        };
        let is_type = matches!(child.kind(), "class_declaration" | "object_declaration");
        f(Site { node: child, outer: child, name, kind, owner: if is_type { None } else { owner } });
        if is_type && depth < MAX_NESTING {
            if let Some(body) = kotlin_body(child) {
                kotlin_declarations(body, Some(child), rope, f, depth + 1);
            }
        }
    }
}

/// A Kotlin declaration's body: `class_body`, `enum_class_body` or `function_body` (the grammar
/// gives them no field).
pub(crate) fn kotlin_body(node: Node<'_>) -> Option<Node<'_>> {
    named_children(node).into_iter().find(|c| matches!(c.kind(), "class_body" | "enum_class_body" | "function_body"))
}

/// `val name` of a property declaration (not a destructuring `val (a, b)`).
fn kotlin_property_name(node: Node<'_>) -> Option<Node<'_>> {
    let declaration = named_children(node).into_iter().find(|c| c.kind() == "variable_declaration")?;
    named_children(declaration).into_iter().find(|c| c.kind() == "identifier")
}

/// Whether a Kotlin declaration is `private`: its file's at the top level, its class's inside one.
fn kotlin_private(node: Node<'_>, rope: &Rope) -> bool {
    kotlin_modifier(node, rope, "private")
}

/// Whether a Kotlin declaration's modifiers (not its annotations' arguments) include `word`.
fn kotlin_modifier(node: Node<'_>, rope: &Rope, word: &str) -> bool {
    named_children(node)
        .into_iter()
        .filter(|c| c.kind() == "modifiers")
        .flat_map(named_children)
        .any(|m| m.kind() != "annotation" && text_is(rope, m.start_byte(), m.end_byte(), word))
}

/// Swift's classes, structs, actors, enums, protocols, functions, properties and type aliases,
/// and the members of types, protocols and extensions that are not private (`private` and
/// `fileprivate` alike: neither reaches another file). An extension records no definition of
/// its own: its members are the extended type's. `owner` is the type, protocol or extension
/// whose body `list` is.
fn swift_declarations<'t>(
    list: Node<'t>,
    owner: Option<Node<'t>>,
    rope: &Rope,
    f: &mut dyn FnMut(Site<'t>),
    depth: u8,
) {
    for child in named_children(list) {
        if owner.is_some() && swift_private(child, rope) {
            continue;
        }
        let kind = match child.kind() {
            "class_declaration" => match swift_declaration_kind(child, rope) {
                "extension" => {
                    if let Some(body) = child.child_by_field_name("body").filter(|_| depth < MAX_NESTING) {
                        swift_declarations(body, Some(child), rope, f, depth + 1);
                    }
                    continue;
                }
                "enum" => SymbolKind::Enum,
                _ => SymbolKind::Class,
            },
            "protocol_declaration" => SymbolKind::Interface,
            "function_declaration" | "protocol_function_declaration" if owner.is_some() => SymbolKind::Method,
            "function_declaration" => SymbolKind::Function,
            "typealias_declaration" => SymbolKind::Type,
            "property_declaration" | "protocol_property_declaration" => {
                let Some(name) = swift_property_name(child) else { continue };
                f(Site { node: child, outer: child, name, kind: SymbolKind::Variable, owner });
                continue;
            }
            _ => continue,
        };
        let Some(name) = child.child_by_field_name("name") else { continue };
        let is_type = matches!(child.kind(), "class_declaration" | "protocol_declaration");
        f(Site { node: child, outer: child, name, kind, owner: if is_type { None } else { owner } });
        if is_type && depth < MAX_NESTING {
            if let Some(body) = child.child_by_field_name("body") {
                swift_declarations(body, Some(child), rope, f, depth + 1);
            }
        }
    }
}

/// `class`, `struct`, `actor`, `enum` or `extension`: Swift's grammar makes them all a
/// `class_declaration`, told apart by this keyword.
fn swift_declaration_kind(node: Node<'_>, rope: &Rope) -> &'static str {
    let Some(keyword) = node.child_by_field_name("declaration_kind") else { return "" };
    ["class", "struct", "actor", "enum", "extension"]
        .into_iter()
        .find(|k| text_is(rope, keyword.start_byte(), keyword.end_byte(), k))
        .unwrap_or("")
}

/// `name` of `let name: T` and `var name = …` (not a tuple's `let (a, b)`).
fn swift_property_name(node: Node<'_>) -> Option<Node<'_>> {
    node.child_by_field_name("name")?.child_by_field_name("bound_identifier")
}

/// Whether a Swift declaration is `private` or `fileprivate`: its file's at the top level, its
/// type's inside one. `private(set)` restricts the setter only.
fn swift_private(node: Node<'_>, rope: &Rope) -> bool {
    named_children(node).into_iter().filter(|c| c.kind() == "modifiers").flat_map(named_children).any(|m| {
        m.kind() == "visibility_modifier"
            && (text_is(rope, m.start_byte(), m.end_byte(), "private")
                || text_is(rope, m.start_byte(), m.end_byte(), "fileprivate"))
    })
}

/// How deep C and C++ nest items: include guards, `#if` branches, `extern "C"`, namespaces.
const MAX_C_NESTING: u8 = 8;

/// The items of a translation unit, a namespace or `extern "C"` body, or a preprocessor branch.
fn c_items<'t>(list: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    for item in named_children(list) {
        c_item(item, item, rope, f, depth);
    }
}

/// One item; `outer` is the `template_declaration` around it, if any.
fn c_item<'t>(item: Node<'t>, outer: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>), depth: u8) {
    let nested = depth < MAX_C_NESTING;
    match item.kind() {
        "function_definition" => {
            if let Some(declarator) = item.child_by_field_name("declarator") {
                c_function(item, outer, declarator, rope, f);
            }
        }
        "declaration" => c_declaration(item, outer, rope, f),
        "struct_specifier" | "union_specifier" | "class_specifier" | "enum_specifier" => {
            c_type(item, outer, rope, f);
        }
        "type_definition" => {
            let kind = match item.child_by_field_name("type") {
                Some(t) if t.child_by_field_name("body").is_some() => type_kind(t),
                _ => SymbolKind::Type,
            };
            let mut cursor = item.walk();
            let declarators: Vec<Node<'t>> = item.children_by_field_name("declarator", &mut cursor).collect();
            for declarator in declarators {
                if let Some(name) = declarator_name(declarator).map(|d| d.name) {
                    f(Site { node: item, outer, name, kind, owner: None });
                }
            }
        }
        "alias_declaration" | "concept_definition" => {
            if let Some(s) = site(item, outer, SymbolKind::Type, None) {
                f(s);
            }
        }
        // `#define LIST_H` without a value is an include guard or a flag for `#ifdef`: nothing
        // code uses as a value.
        "preproc_def" if item.child_by_field_name("value").is_some() => {
            if let Some(s) = site(item, item, SymbolKind::Constant, None) {
                f(s);
            }
        }
        "preproc_function_def" => {
            if let Some(s) = site(item, item, SymbolKind::Macro, None) {
                f(s);
            }
        }
        "template_declaration" if nested => {
            // The template's parameters belong to the signature: the item's `outer` is the template.
            if let Some(inner) = template_inner(item) {
                c_item(inner, outer, rope, f, depth + 1);
            }
        }
        "namespace_definition" | "linkage_specification" if nested => match item.child_by_field_name("body") {
            Some(body) if body.kind() == "declaration_list" => c_items(body, rope, f, depth + 1),
            // `extern "C" int f(void);`: one declaration, no braces.
            Some(body) => c_item(body, body, rope, f, depth + 1),
            None => {}
        },
        "preproc_if" | "preproc_ifdef" | "preproc_else" | "preproc_elif" | "preproc_elifdef" | "ERROR" if nested => {
            c_items(item, rope, f, depth + 1);
        }
        _ => {}
    }
}

fn type_kind(specifier: Node<'_>) -> SymbolKind {
    if specifier.kind() == "enum_specifier" {
        SymbolKind::Enum
    } else {
        SymbolKind::Class
    }
}

/// A `struct`, `union`, `class` or `enum` with a body (`struct point;` only declares the name),
/// then its methods.
fn c_type<'t>(specifier: Node<'t>, outer: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    let Some(body) = specifier.child_by_field_name("body") else {
        return;
    };
    let Some(name) = specifier.child_by_field_name("name") else {
        return;
    };
    f(Site { node: specifier, outer, name, kind: type_kind(specifier), owner: None });
    if specifier.kind() == "enum_specifier" {
        return;
    }
    let class_name = base_type(name);
    let class_name = text_between(rope, class_name.start_byte(), class_name.end_byte());
    for member in named_children(body) {
        let (member, member_outer) = match member.kind() {
            "template_declaration" => match template_inner(member) {
                Some(inner) => (inner, member),
                None => continue,
            },
            _ => (member, member),
        };
        if !matches!(member.kind(), "function_definition" | "field_declaration" | "declaration") {
            continue;
        }
        let mut cursor = member.walk();
        let declarators: Vec<Node<'t>> = member.children_by_field_name("declarator", &mut cursor).collect();
        for declarator in declarators {
            let Some(d) = declarator_name(declarator).filter(|d| d.function) else {
                continue;
            };
            // Nobody calls a constructor by name; the class's own entry shows it.
            if text_is(rope, d.name.start_byte(), d.name.end_byte(), &class_name) {
                continue;
            }
            f(Site {
                node: member,
                outer: member_outer,
                name: d.name,
                kind: SymbolKind::Method,
                owner: Some(specifier),
            });
        }
    }
}

/// A function definition: a method when its name is qualified (`void Widget::resize(int w)`).
fn c_function<'t>(node: Node<'t>, outer: Node<'t>, declarator: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    let Some(d) = declarator_name(declarator).filter(|d| d.function) else {
        return;
    };
    // `Widget::Widget(int w) : w_(w) {}`: a constructor, which the class in the header shows.
    let scope =
        d.name.parent().filter(|p| p.kind() == "qualified_identifier").and_then(|q| q.child_by_field_name("scope"));
    if let Some(scope) = scope.map(base_type) {
        let class = text_between(rope, scope.start_byte(), scope.end_byte());
        if text_is(rope, d.name.start_byte(), d.name.end_byte(), &class) {
            return;
        }
    }
    let kind = if d.qualified { SymbolKind::Method } else { SymbolKind::Function };
    f(Site { node, outer, name: d.name, kind, owner: None });
}

/// A declaration: prototypes, variables and constants, and a `struct`/`enum` defined in it.
fn c_declaration<'t>(decl: Node<'t>, outer: Node<'t>, rope: &Rope, f: &mut dyn FnMut(Site<'t>)) {
    if let Some(t) = decl.child_by_field_name("type") {
        if matches!(t.kind(), "struct_specifier" | "union_specifier" | "class_specifier" | "enum_specifier") {
            c_type(t, t, rope, f);
        }
    }
    let constant = named_children(decl).into_iter().any(|n| {
        matches!(n.kind(), "type_qualifier" | "storage_class_specifier")
            && ["const", "constexpr", "constinit"].iter().any(|word| text_is(rope, n.start_byte(), n.end_byte(), word))
    });
    let mut cursor = decl.walk();
    let declarators: Vec<Node<'t>> = decl.children_by_field_name("declarator", &mut cursor).collect();
    for declarator in declarators {
        let Some(d) = declarator_name(declarator) else {
            continue;
        };
        let kind = match (d.function, d.qualified, constant) {
            (true, true, _) => SymbolKind::Method,
            (true, false, _) => SymbolKind::Function,
            // `int Widget::count = 0;`: a static member's definition; the class shows it.
            (false, true, _) => continue,
            (false, false, true) => SymbolKind::Constant,
            (false, false, false) => SymbolKind::Variable,
        };
        // A variable's `node` is its declarator, whose `value` is what a long declaration drops.
        let node = if d.function { decl } else { declarator };
        f(Site { node, outer, name: d.name, kind, owner: None });
    }
}

/// The name a C or C++ declarator declares (`resize` of `void Widget::resize(int w)`).
pub(crate) fn declared_name(declarator: Node<'_>) -> Option<Node<'_>> {
    declarator_name(declarator).map(|d| d.name)
}

/// The name a C or C++ declarator declares when it declares no function (`repo` of `Repo
/// *repo`, not `find` of `Repo *find(int id)`).
pub(crate) fn declared_variable(declarator: Node<'_>) -> Option<Node<'_>> {
    declarator_name(declarator).filter(|d| !d.function).map(|d| d.name)
}

/// What a C or C++ declarator declares.
struct Declared<'t> {
    /// The innermost name: `resize` of `Widget::resize`.
    name: Node<'t>,
    /// Declared through a function declarator (a function, a method, a function pointer).
    function: bool,
    /// Declared with a scope: `Widget::resize`, `ns::helper`.
    qualified: bool,
}

/// The name a declarator declares, through pointers, references, arrays, parentheses,
/// initializers and scopes. `None` for operators, destructors and conversion functions, which
/// no one looks up by name.
fn declarator_name(mut node: Node<'_>) -> Option<Declared<'_>> {
    let (mut function, mut qualified) = (false, false);
    for _ in 0..16 {
        let next = match node.kind() {
            "identifier" | "field_identifier" | "type_identifier" => {
                return Some(Declared { name: node, function, qualified })
            }
            "function_declarator" => {
                function = true;
                node.child_by_field_name("declarator")
            }
            "qualified_identifier" => {
                qualified = true;
                node.child_by_field_name("name")
            }
            "template_function" => node.child_by_field_name("name"),
            "pointer_declarator"
            | "reference_declarator"
            | "array_declarator"
            | "init_declarator"
            | "attributed_declarator"
            | "parenthesized_declarator" => {
                if node.kind() != "init_declarator" {
                    // `int (*compare)(int)`: a pointer inside the function declarator is a
                    // variable holding a function (`int *f(int)` has the pointer outside).
                    function = false;
                }
                let mut cursor = node.walk();
                node.child_by_field_name("declarator").or_else(|| {
                    node.named_children(&mut cursor)
                        .find(|n| !n.kind().contains("attribute") && !n.kind().ends_with("qualifier"))
                })
            }
            _ => None,
        };
        node = next?;
    }
    None
}

/// The name of the type a method belongs to: the impl's or class's type without generics, the
/// trait's name, a Go receiver's type, or the scope of a C++ method defined outside its class.
pub(crate) fn container_name(language: Language, site: &Site<'_>, rope: &Rope) -> Option<String> {
    let type_node = match (language, site.owner) {
        (Language::Rust, Some(owner)) if owner.kind() == "impl_item" => owner.child_by_field_name("type"),
        (_, Some(owner)) => owner.child_by_field_name("name"),
        (Language::Go, None) if site.kind == SymbolKind::Method => site
            .node
            .child_by_field_name("receiver")
            .and_then(|r| r.named_child(0))
            .and_then(|p| p.child_by_field_name("type")),
        (Language::Cpp, None) if site.kind == SymbolKind::Method => {
            site.name.parent().filter(|p| p.kind() == "qualified_identifier")?.child_by_field_name("scope")
        }
        _ => None,
    }?;
    let base = base_type(type_node);
    Some(text_between(rope, base.start_byte(), base.end_byte()))
}

/// `Foo` of `Foo<T>`, `*Foo`, `&mut Foo`, `pkg::Foo`, Swift's `Outer.Foo`.
fn base_type(mut node: Node<'_>) -> Node<'_> {
    for _ in 0..8 {
        let inner = match node.kind() {
            "generic_type" => node.child_by_field_name("type"),
            // C++'s `Widget<T>` and `ns::Widget`.
            "template_type" | "qualified_identifier" => node.child_by_field_name("name"),
            "scoped_type_identifier" => node.child_by_field_name("name"),
            "reference_type" | "pointer_type" => node.named_children(&mut node.walk()).last(),
            // Swift's `Array<T>` and `Outer.Inner` of an extension: the last name.
            "user_type" => node.named_children(&mut node.walk()).filter(|c| c.kind() == "type_identifier").last(),
            _ => None,
        };
        match inner {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

/// The signature recorded for a definition: its declaration without the body, or for small
/// types the whole definition (see [`MAX_DEFINITION_LINES`]). Methods carry their owner's
/// header, so that `parse` reads as `impl Parser { pub fn parse(&self) -> Ast; }`.
pub(crate) fn signature(language: Language, site: &Site<'_>, rope: &Rope) -> String {
    let text = match language {
        Language::Python => python_signature(site, rope),
        Language::Ruby => ruby_signature(site, rope),
        Language::Kotlin => kotlin_signature(site, rope),
        Language::Swift => swift_signature(site, rope),
        _ => braced_signature(language, site, rope),
    };
    cap_chars(text, MAX_SIGNATURE_CHARS)
}

/// How a line comment starts in `language`'s code, for notes the prompts put among it.
pub(crate) fn comment_marker(language: Language) -> &'static str {
    if matches!(language, Language::Python | Language::Ruby) {
        "#"
    } else {
        "//"
    }
}

/// The text of `node` from its start to the start of its body, joined onto one line.
fn head(language: Language, outer: Node<'_>, node: Node<'_>, rope: &Rope) -> Option<String> {
    let body = node.child_by_field_name("body")?;
    let text = text_between(rope, outer.start_byte(), head_end(node, body));
    Some(one_line(&text, comment_marker(language)))
}

fn braced_signature(language: Language, site: &Site<'_>, rope: &Rope) -> String {
    let marker = comment_marker(language);
    let own = || text_between(rope, site.outer.start_byte(), site.outer.end_byte());
    if site.node.kind().starts_with("preproc_") {
        return macro_signature(&own());
    }
    if matches!(site.node.kind(), "struct_specifier" | "union_specifier" | "class_specifier") {
        return c_class_signature(site, rope);
    }
    match site.kind {
        SymbolKind::Function | SymbolKind::Method => {
            let sig = function_head(language, site, rope);
            // `export class …`: the wrapper says the class can be imported.
            let owner_head = |o: Node<'_>| {
                // A Go interface's method (its `type_spec` has no body of its own).
                if o.kind() == "type_spec" {
                    let name = o.child_by_field_name("name")?;
                    return Some(format!("type {} interface", text_between(rope, name.start_byte(), name.end_byte())));
                }
                let outer = o.parent().filter(|p| is_ts_export(*p)).unwrap_or(o);
                head(language, outer, o, rope)
            };
            match site.owner.and_then(owner_head) {
                Some(owner) => format!("{owner} {{ {sig}; }}"),
                None => sig,
            }
        }
        // Classes and traits hold code: their members' declarations stand for them.
        SymbolKind::Class | SymbolKind::Interface | SymbolKind::Enum
            if matches!(site.node.kind(), "class_declaration" | "abstract_class_declaration" | "trait_item")
                || language == Language::Php =>
        {
            class_summary(language, site, rope)
        }
        // Java and C# write all code in types: their public surface is what other files use.
        SymbolKind::Class | SymbolKind::Interface | SymbolKind::Enum
            if matches!(language, Language::Java | Language::CSharp)
                && site
                    .node
                    .child_by_field_name("body")
                    .is_some_and(|b| b.kind() != "enum_member_declaration_list") =>
        {
            class_summary(language, site, rope)
        }
        SymbolKind::Class | SymbolKind::Enum | SymbolKind::Interface | SymbolKind::Type => {
            let mut whole = match language {
                Language::Rust if site.node.kind() == "struct_item" => {
                    public_fields_only(site, rope).unwrap_or_else(own)
                }
                _ => own(),
            };
            // Too long to show whole: the members' own doc comments go first, so that the lines
            // left show members (a TypeScript options type documents every field in 3 lines).
            if whole.lines().count() > MAX_DEFINITION_LINES {
                whole = without_comment_lines(site.outer, rope);
            }
            let text = if language == Language::Go && site.outer.kind() != "type_declaration" {
                format!("type {whole}")
            } else {
                whole
            };
            truncate_lines(&with_derives(site, rope, text))
        }
        SymbolKind::Constant | SymbolKind::Variable => {
            let text = value_declaration(site, rope, marker);
            let keyword = if site.kind == SymbolKind::Constant { "const" } else { "var" };
            if language == Language::Go && site.outer.kind().ends_with("_spec") {
                format!("{keyword} {text}")
            } else {
                text
            }
        }
        SymbolKind::Macro => {
            let first = own().lines().next().unwrap_or_default().trim_end().to_string();
            if first.ends_with('{') || first.ends_with('(') {
                format!("{first} ... }}")
            } else {
                first
            }
        }
    }
}

/// A function's declaration without its body, on one line. For `const f = (x) => …` the
/// declaration up to the arrow's body.
fn function_head(language: Language, site: &Site<'_>, rope: &Rope) -> String {
    let marker = comment_marker(language);
    let node = if site.node.kind() == "variable_declarator" {
        match site.node.child_by_field_name("value") {
            Some(value) => value,
            None => site.node,
        }
    } else {
        site.node
    };
    let outer = if site.owner.is_some() { site.node } else { site.outer };
    let head = match node.child_by_field_name("body") {
        Some(body) => one_line(&text_between(rope, outer.start_byte(), head_end(node, body)), marker),
        None => {
            let text = one_line(&text_between(rope, outer.start_byte(), node.end_byte()), marker);
            text.trim_end_matches(';').trim_end().to_string()
        }
    };
    collapse_spaces(head)
}

/// A one-line declaration with its runs of spaces made single: C headers align their names in
/// columns (`void*       _mi_os_alloc(…)`), which costs tokens and says nothing. Text with a
/// comment or a quote in it is left as it is: there the spaces may mean something.
fn collapse_spaces(text: String) -> String {
    let verbatim =
        text.contains('\n') || text.contains(['"', '\'', '`', '#']) || text.contains("//") || text.contains("/*");
    if verbatim || !(text.contains("  ") || text.contains('\t')) {
        return text;
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A class, trait or TypeScript class as its header and its members' declarations.
fn class_summary(language: Language, site: &Site<'_>, rope: &Rope) -> String {
    let marker = comment_marker(language);
    let Some(body) = site.node.child_by_field_name("body") else {
        return truncate_lines(&text_between(rope, site.outer.start_byte(), site.outer.end_byte()));
    };
    let header = one_line(&text_between(rope, site.outer.start_byte(), head_end(site.node, body)), marker);
    let indent = "    ";
    let mut lines = vec![format!("{header} {{")];
    let java_or_csharp = matches!(language, Language::Java | Language::CSharp);
    let members = if java_or_csharp { class_members(body) } else { named_children(body) };
    // A Java enum's constants, on one line as they are usually written.
    let constants: Vec<String> = members
        .iter()
        .filter(|m| m.kind() == "enum_constant")
        .filter_map(|m| m.child_by_field_name("name"))
        .map(|name| text_between(rope, name.start_byte(), name.end_byte()))
        .collect();
    if !constants.is_empty() {
        lines.push(format!("{indent}{};", constants.join(", ")));
    }
    // The summary is what other files can use, so a member is listed only when they can.
    let ts_private = |member: Node<'_>| {
        member.child_by_field_name("name").is_some_and(|n| n.kind() == "private_property_identifier")
            || named_children(member)
                .iter()
                .any(|c| c.kind() == "accessibility_modifier" && c.child(0).is_some_and(|k| k.kind() == "private"))
    };
    // (member name, line): a name for methods only, which overload.
    let mut listed: Vec<(Option<String>, String)> = Vec::new();
    for member in members {
        let hidden = match language {
            Language::Java | Language::CSharp => is_hidden(site.node, member, rope),
            Language::Php => php_private(member, rope),
            _ => ts_private(member),
        };
        if hidden {
            continue;
        }
        let php = language == Language::Php;
        let line = match member.kind() {
            // A record's compact constructor only repeats the header's components.
            "method_declaration" | "constructor_declaration" if java_or_csharp => {
                let site = Site { node: member, outer: member, name: member, kind: SymbolKind::Method, owner: None };
                function_head(language, &site, rope)
            }
            "field_declaration" | "constant_declaration" | "event_field_declaration" if java_or_csharp => {
                let text = one_line(&text_between(rope, member.start_byte(), member.end_byte()), marker);
                text.trim_end_matches(';').trim_end().to_string()
            }
            "property_declaration" if java_or_csharp => csharp_property(member, rope),
            "method_declaration" if php => {
                let site = Site { node: member, outer: member, name: member, kind: SymbolKind::Method, owner: None };
                function_head(language, &site, rope)
            }
            // A trait's `use`, a property, a constant, an enum's case: one line each.
            "property_declaration" | "const_declaration" | "enum_case" | "use_declaration" if php => {
                let text = one_line(&text_between(rope, member.start_byte(), member.end_byte()), marker);
                text.trim_end_matches(';').trim_end().to_string()
            }

            "function_item" | "method_definition" => match member.child_by_field_name("body") {
                Some(b) => one_line(&text_between(rope, member.start_byte(), head_end(member, b)), marker),
                None => continue,
            },
            "function_signature_item"
            | "method_signature"
            | "abstract_method_signature"
            | "public_field_definition"
            | "field_definition"
            | "associated_type"
            | "const_item"
            | "index_signature"
            | "property_signature" => {
                let text = one_line(&text_between(rope, member.start_byte(), member.end_byte()), marker);
                text.trim_end_matches(';').trim_end().to_string()
            }
            _ => continue,
        };
        // A property's accessors close it.
        let end = if member.kind() == "property_declaration" && !php { "" } else { ";" };
        let method = matches!(member.kind(), "method_declaration" | "method_definition" | "method_signature");
        let name = member
            .child_by_field_name("name")
            .filter(|_| method)
            .map(|n| text_between(rope, n.start_byte(), n.end_byte()));
        listed.push((name, format!("{indent}{line}{end}")));
    }
    // A class too big to list whole (`java.util.Arrays`: a dozen `sort` overloads before
    // anything else) lists each method once, so that the lines it has show more of its surface.
    if lines.len() + listed.len() + 1 > MAX_DEFINITION_LINES {
        let mut seen: HashSet<String> = HashSet::new();
        listed.retain(|(name, _)| name.as_ref().is_none_or(|n| seen.insert(n.clone())));
    }
    lines.extend(listed.into_iter().map(|(_, line)| line));
    if java_or_csharp && lines.len() == 1 {
        // `record User(long id, String name) {}`: the header says it all.
        return format!("{header} {{}}");
    }
    lines.push("}".to_string());
    truncate_lines(&with_derives(site, rope, lines.join("\n")))
}

/// A C# property as its declaration and accessors, without their bodies: `int Count { get; }`.
fn csharp_property(member: Node<'_>, rope: &Rope) -> String {
    let Some(accessors) = member.child_by_field_name("accessors") else {
        // `int Count => items.Count;`: the expression is the body.
        let end = member.child_by_field_name("value").map_or(member.end_byte(), |v| v.start_byte());
        let text = one_line(&text_between(rope, member.start_byte(), end), "//");
        return format!("{} {{ get; }}", text.trim_end_matches(';').trim_end_matches("=>").trim_end());
    };
    let head = one_line(&text_between(rope, member.start_byte(), accessors.start_byte()), "//");
    let kinds: Vec<String> = named_children(accessors)
        .into_iter()
        .filter(|a| a.kind() == "accessor_declaration")
        .map(|a| {
            // The accessor's modifiers and keyword (`private set`, `init`), before its body.
            let end = a.child_by_field_name("body").map_or(a.end_byte(), |b| b.start_byte());
            let text = one_line(&text_between(rope, a.start_byte(), end), "//");
            format!("{};", text.trim_end_matches(';').trim_end_matches("=>").trim_end())
        })
        .collect();
    format!("{head} {{ {} }}", kinds.join(" "))
}

/// A C macro's first line: its name and parameters, and its whole body when it fits on it.
fn macro_signature(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim_end();
    match first.strip_suffix('\\') {
        Some(continued) => format!("{} ...", continued.trim_end()),
        None => first.to_string(),
    }
}

/// What a C++ `template <…>` declares.
fn template_inner(member: Node<'_>) -> Option<Node<'_>> {
    (member.kind() == "template_declaration")
        .then(|| named_children(member).into_iter().find(|n| n.kind() != "template_parameter_list"))
        .flatten()
}

/// A C `struct` or C++ class: as written when it only declares, or when it defines methods
/// inline, as its header and its members' declarations (their bodies are code, not interface).
fn c_class_signature(site: &Site<'_>, rope: &Rope) -> String {
    let own = || truncate_lines(&text_between(rope, site.outer.start_byte(), site.outer.end_byte()));
    let Some(body) = site.node.child_by_field_name("body") else {
        return own();
    };
    let members = named_children(body);
    let defines_code = members.iter().any(|m| {
        let inner = template_inner(*m).unwrap_or(*m);
        inner.kind() == "function_definition" && inner.child_by_field_name("body").is_some()
    });
    if !defines_code {
        return own();
    }
    let header = one_line(&text_between(rope, site.outer.start_byte(), head_end(site.node, body)), "//");
    let mut lines = vec![format!("{header} {{")];
    for member in members {
        let inner = template_inner(member).unwrap_or(member);
        let line = match (inner.kind(), inner.child_by_field_name("body")) {
            ("comment", _) => continue,
            ("access_specifier", _) => {
                lines.push(format!("{}:", text_between(rope, member.start_byte(), member.end_byte())));
                continue;
            }
            ("function_definition", Some(b)) => {
                format!("{};", one_line(&text_between(rope, member.start_byte(), head_end(inner, b)), "//"))
            }
            _ => one_line(&text_between(rope, member.start_byte(), member.end_byte()), "//"),
        };
        lines.push(format!("    {line}"));
    }
    lines.push("};".to_string());
    truncate_lines(&lines.join("\n"))
}

/// `#[derive(...)]` attributes right above a Rust item: they tell the model what the type
/// supports (`Clone`, `Default`, …).
/// The text of `node` without the comments inside it that have lines of their own (a trailing
/// comment after code stays: it is short, and says what the code beside it means).
fn without_comment_lines(node: Node<'_>, rope: &Rope) -> String {
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    let mut cursor = node.walk();
    let mut descend = cursor.goto_first_child();
    while descend {
        let inner = cursor.node();
        if inner.kind().ends_with("comment") {
            let line = inner.start_position().row;
            let line_start = rope.line_to_byte(line);
            // Rust's line comments end with their line's break: at the next line's start.
            let end = inner.end_position();
            let last_row = if end.column == 0 && end.row > line { end.row - 1 } else { end.row };
            let next_line = rope.line_to_byte((last_row + 1).min(rope.len_lines()));
            let alone = text_between(rope, line_start, inner.start_byte()).trim().is_empty()
                && text_between(rope, inner.end_byte(), next_line).trim().is_empty();
            if alone && line_start > node.start_byte() && next_line <= node.end_byte() {
                cut.push(line_start..next_line);
            }
        } else if cursor.goto_first_child() {
            continue;
        }
        // Next in document order: a sibling, or the sibling of the nearest ancestor with one.
        descend = loop {
            if cursor.goto_next_sibling() {
                break true;
            }
            if !cursor.goto_parent() || cursor.node() == node {
                break false;
            }
        };
    }
    let mut out = String::new();
    let mut at = node.start_byte();
    for range in cut {
        out.push_str(&text_between(rope, at, range.start));
        at = range.end;
    }
    out.push_str(&text_between(rope, at, node.end_byte()));
    out
}

fn with_derives(site: &Site<'_>, rope: &Rope, text: String) -> String {
    let mut derives = Vec::new();
    let mut prev = site.outer.prev_named_sibling();
    while let Some(attr) = prev.filter(|n| n.kind() == "attribute_item") {
        let attr_text = text_between(rope, attr.start_byte(), attr.end_byte());
        if attr_text.starts_with("#[derive") {
            derives.push(attr_text);
        }
        prev = attr.prev_named_sibling();
    }
    if derives.is_empty() {
        return text;
    }
    derives.reverse();
    derives.push(text);
    derives.join("\n")
}

/// A constant or variable: the whole declaration when it is one short line, else the part
/// before its value followed by `...`.
fn value_declaration(site: &Site<'_>, rope: &Rope, marker: &str) -> String {
    let whole = text_between(rope, site.outer.start_byte(), site.outer.end_byte());
    if !whole.contains('\n') && whole.chars().count() <= 160 {
        return whole;
    }
    let value = ["value", "right"].iter().find_map(|field| site.node.child_by_field_name(field));
    match value {
        Some(value) => {
            let before = text_between(rope, site.outer.start_byte(), value.start_byte());
            format!("{} ...", one_line(&before, marker))
        }
        None => format!("{} ...", whole.lines().next().unwrap_or_default().trim_end()),
    }
}

fn python_signature(site: &Site<'_>, rope: &Rope) -> String {
    let decorators = |outer: Node<'_>| -> Vec<String> {
        if outer.kind() != "decorated_definition" {
            return Vec::new();
        }
        named_children(outer)
            .into_iter()
            .filter(|n| n.kind() == "decorator")
            .map(|d| one_line(&text_between(rope, d.start_byte(), d.end_byte()), "#"))
            .collect()
    };
    let def_head = |node: Node<'_>| -> String {
        match node.child_by_field_name("body") {
            Some(body) => one_line(&text_between(rope, node.start_byte(), head_end(node, body)), "#"),
            None => one_line(&text_between(rope, node.start_byte(), node.end_byte()), "#"),
        }
    };
    match site.kind {
        SymbolKind::Function | SymbolKind::Method => {
            let mut lines = Vec::new();
            let indent = if let Some(class) = site.owner {
                lines.push(def_head(class));
                "    "
            } else {
                ""
            };
            for d in decorators(site.outer) {
                lines.push(format!("{indent}{d}"));
            }
            lines.push(format!("{indent}{} ...", def_head(site.node)));
            lines.join("\n")
        }
        SymbolKind::Class => {
            let mut lines = decorators(site.outer);
            lines.push(def_head(site.node));
            let body = site.node.child_by_field_name("body");
            for member in body.map(named_children).unwrap_or_default() {
                let (outer, def) = if member.kind() == "decorated_definition" {
                    match member.child_by_field_name("definition") {
                        Some(def) => (member, def),
                        None => continue,
                    }
                } else {
                    (member, member)
                };
                // By Python's convention a leading `_` marks what other files should not use:
                // the summary leaves it out. Of the special methods, `__init__` says how the
                // class is built and `__call__` how it is called; `__repr__`, `__eq__` and the
                // like say nothing a caller writes.
                let name_of = |node: Option<Node<'_>>| {
                    node.map(|n| text_between(rope, n.start_byte(), n.end_byte())).unwrap_or_default()
                };
                match def.kind() {
                    "function_definition" => {
                        let name = name_of(def.child_by_field_name("name"));
                        if name.starts_with('_') && !matches!(name.as_ref(), "__init__" | "__call__") {
                            continue;
                        }
                        for d in decorators(outer) {
                            lines.push(format!("    {d}"));
                        }
                        lines.push(format!("    {} ...", def_head(def)));
                    }
                    "expression_statement" if def.named_child(0).is_some_and(|n| n.kind() == "assignment") => {
                        let target = name_of(def.named_child(0).and_then(|a| a.child_by_field_name("left")));
                        if target.starts_with('_') {
                            continue;
                        }
                        let text = one_line(&text_between(rope, def.start_byte(), def.end_byte()), "#");
                        lines.push(format!("    {}", cap_chars(text, MAX_ATTRIBUTE_CHARS)));
                    }
                    _ => {}
                }
            }
            if lines.len() == 1 + decorators(site.outer).len() {
                lines.push("    ...".to_string());
            }
            truncate_lines(&lines.join("\n"))
        }
        SymbolKind::Constant | SymbolKind::Variable => value_declaration(site, rope, "#"),
        _ => {
            let text = text_between(rope, site.outer.start_byte(), site.outer.end_byte());
            truncate_lines(&text)
        }
    }
}

/// A Ruby definition as its header lines: `def find(id)`, a method under its class's
/// `class UserRepository < Repository` line, a class or module as its header, its constants,
/// attribute macros and public methods, then `end`.
fn ruby_signature(site: &Site<'_>, rope: &Rope) -> String {
    let head = |node: Node<'_>| -> String {
        match node.child_by_field_name("body") {
            Some(body) => one_line(&text_between(rope, node.start_byte(), head_end(node, body)), "#"),
            None => one_line(&text_between(rope, node.start_byte(), node.end_byte()), "#"),
        }
    };
    // An endless method (`def full_name = "…"`) keeps its `=`: the rest is its body.
    let def_line = |node: Node<'_>| -> String {
        let line = head(node);
        let line = line.strip_suffix("end").map(str::trim_end).unwrap_or(&line).to_string();
        format!("{line} ... end")
    };
    match site.kind {
        SymbolKind::Function | SymbolKind::Method => match (site.owner, ruby_singleton_block(site.node)) {
            (Some(owner), Some(block)) => {
                format!("{}\n  {}\n    {}\n  end\nend", head(owner), head(block), def_line(site.node))
            }
            (Some(owner), None) => format!("{}\n  {}\nend", head(owner), def_line(site.node)),
            (None, _) => def_line(site.node),
        },
        SymbolKind::Class | SymbolKind::Interface => {
            let mut lines = vec![head(site.node)];
            let mut private = false;
            let body = site.node.child_by_field_name("body");
            let named = body.map(|b| ruby_named_visibility(b, rope)).unwrap_or_default();
            for member in body.map(named_children).unwrap_or_default() {
                let text = |n: Node<'_>| text_between(rope, n.start_byte(), n.end_byte());
                match member.kind() {
                    "identifier" => match text(member).as_str() {
                        "private" | "protected" => private = true,
                        "public" => private = false,
                        _ => {}
                    },
                    "method" | "singleton_method" if !ruby_hidden(member, private, &named, rope) => {
                        lines.push(format!("  {}", def_line(member)))
                    }
                    // `class << self`: the class methods it defines that are not private.
                    "singleton_class" => {
                        let body = member.child_by_field_name("body");
                        let named = body.map(|b| ruby_block_visibility(b, &named, rope)).unwrap_or_default();
                        let mut private = false;
                        let mut shown = Vec::new();
                        for inner in body.map(named_children).unwrap_or_default() {
                            match inner.kind() {
                                "identifier" => match text(inner).as_str() {
                                    "private" | "protected" => private = true,
                                    "public" => private = false,
                                    _ => {}
                                },
                                "method" if !ruby_hidden(inner, private, &named, rope) => {
                                    shown.push(format!("    {}", def_line(inner)))
                                }
                                _ => {}
                            }
                        }
                        if !shown.is_empty() {
                            lines.push(format!("  {}", head(member)));
                            lines.append(&mut shown);
                            lines.push("  end".to_string());
                        }
                    }
                    // `attr_reader :name, :email`, `include Comparable`: what instances answer to.
                    "call" if member.child_by_field_name("receiver").is_none() => {
                        let method = member.child_by_field_name("method").map(text).unwrap_or_default();
                        if method.starts_with("attr_") || matches!(method.as_str(), "include" | "extend" | "prepend") {
                            let line = one_line(&text(member), "#");
                            lines.push(format!("  {}", cap_chars(line, MAX_ATTRIBUTE_CHARS)));
                        }
                    }
                    "assignment" if member.child_by_field_name("left").is_some_and(|l| l.kind() == "constant") => {
                        let line = one_line(&text(member), "#");
                        lines.push(format!("  {}", cap_chars(line, MAX_ATTRIBUTE_CHARS)));
                    }
                    _ => {}
                }
            }
            lines.push("end".to_string());
            truncate_lines(&lines.join("\n"))
        }
        SymbolKind::Constant | SymbolKind::Variable => value_declaration(site, rope, "#"),
        _ => truncate_lines(&text_between(rope, site.outer.start_byte(), site.outer.end_byte())),
    }
}

/// A Kotlin definition as other files use it: a function's declaration without its body (a
/// method's inside its class's header), a class, interface or object as its header and the
/// declarations of its members that are not private.
fn kotlin_signature(site: &Site<'_>, rope: &Rope) -> String {
    let head = |node: Node<'_>| -> String {
        let end = kotlin_body(node).map_or(node.end_byte(), |b| b.start_byte());
        collapse_spaces(one_line(text_between(rope, node.start_byte(), end).trim_end(), "//"))
    };
    // A member's declaration as its class lists it.
    let member_line = |member: Node<'_>| -> Option<String> {
        Some(match member.kind() {
            "function_declaration" | "secondary_constructor" => head(member),
            "property_declaration" => {
                let text = one_line(&text_between(rope, member.start_byte(), member.end_byte()), "//");
                cap_chars(text, MAX_ATTRIBUTE_CHARS)
            }
            "class_declaration" | "object_declaration" => format!("{} {{ ... }}", head(member)),
            _ => return None,
        })
    };
    // A companion object's member is called on the class (`UserRepository.connect(url)`): it is
    // shown inside its `companion object`, not as a member of the class's instances.
    let companion = site.node.parent().and_then(|body| body.parent()).filter(|c| c.kind() == "companion_object");
    match site.kind {
        SymbolKind::Function | SymbolKind::Method | SymbolKind::Constant | SymbolKind::Variable
            if site.owner.is_some() && (companion.is_some() || site.node.kind() == "enum_entry") =>
        {
            let owner = head(site.owner.unwrap_or(site.node));
            let member = match site.node.kind() {
                "enum_entry" => kotlin_entry(site.node, rope),
                _ => member_line(site.node).unwrap_or_else(|| head(site.node)),
            };
            match companion {
                Some(companion) => format!("{owner} {{ {} {{ {member} }} }}", head(companion)),
                None => format!("{owner} {{ {member} }}"),
            }
        }
        SymbolKind::Function | SymbolKind::Method => match site.owner {
            Some(owner) => format!("{} {{ {} }}", head(owner), head(site.node)),
            None => head(site.node),
        },
        SymbolKind::Class | SymbolKind::Interface | SymbolKind::Enum => {
            let mut lines = vec![format!("{} {{", head(site.node))];
            let mut entries = Vec::new();
            for member in kotlin_body(site.node).map(named_children).unwrap_or_default() {
                if kotlin_private(member, rope) {
                    continue;
                }
                match member.kind() {
                    "enum_entry" => entries.push(kotlin_entry(member, rope)),
                    "companion_object" => {
                        lines.push(format!("    {} {{", head(member)));
                        for inner in kotlin_body(member).map(named_children).unwrap_or_default() {
                            if let Some(line) = member_line(inner).filter(|_| !kotlin_private(inner, rope)) {
                                lines.push(format!("        {line}"));
                            }
                        }
                        lines.push("    }".to_string());
                    }
                    _ => {
                        if let Some(line) = member_line(member) {
                            lines.push(format!("    {line}"));
                        }
                    }
                }
            }
            if !entries.is_empty() {
                lines.insert(1, format!("    {}", cap_chars(entries.join(", "), MAX_ATTRIBUTE_CHARS)));
            }
            lines.push("}".to_string());
            truncate_lines(&lines.join("\n"))
        }
        SymbolKind::Constant | SymbolKind::Variable => value_declaration(site, rope, "//"),
        _ => truncate_lines(&text_between(rope, site.outer.start_byte(), site.outer.end_byte())),
    }
}

/// A Kotlin enum entry as its enum lists it: its name and arguments (`RED(0xFF0000)`), without
/// the body an entry may override members in.
fn kotlin_entry(entry: Node<'_>, rope: &Rope) -> String {
    named_children(entry)
        .into_iter()
        .filter(|c| matches!(c.kind(), "identifier" | "value_arguments"))
        .map(|c| one_line(&text_between(rope, c.start_byte(), c.end_byte()), "//"))
        .collect()
}

/// A Swift definition as other files use it: a function's declaration without its body (a
/// method's inside its type's or extension's header), a type or protocol as its header and the
/// declarations of its members that are not private (a computed property without its body).
fn swift_signature(site: &Site<'_>, rope: &Rope) -> String {
    let head_until = |node: Node<'_>, end: Option<Node<'_>>| -> String {
        let end = end.map_or(node.end_byte(), |b| b.start_byte());
        collapse_spaces(one_line(text_between(rope, node.start_byte(), end).trim_end(), "//"))
    };
    let head = |node: Node<'_>| head_until(node, node.child_by_field_name("body"));
    match site.kind {
        SymbolKind::Function | SymbolKind::Method => match site.owner {
            Some(owner) => format!("{} {{ {} }}", head(owner), head(site.node)),
            None => head(site.node),
        },
        SymbolKind::Class | SymbolKind::Interface | SymbolKind::Enum => {
            let mut lines = vec![format!("{} {{", head(site.node))];
            let mut cases = Vec::new();
            for member in site.node.child_by_field_name("body").map(named_children).unwrap_or_default() {
                if swift_private(member, rope) {
                    continue;
                }
                let line = match member.kind() {
                    "function_declaration"
                    | "init_declaration"
                    | "protocol_function_declaration"
                    | "associatedtype_declaration" => head(member),
                    "subscript_declaration" => {
                        let body = named_children(member).into_iter().find(|c| c.kind() == "computed_property");
                        head_until(member, body)
                    }
                    "property_declaration" | "protocol_property_declaration" | "typealias_declaration" => {
                        let text = head_until(member, member.child_by_field_name("computed_value"));
                        cap_chars(text, MAX_ATTRIBUTE_CHARS)
                    }
                    "class_declaration" | "protocol_declaration" => format!("{} {{ ... }}", head(member)),
                    "enum_entry" => {
                        cases.push(one_line(&text_between(rope, member.start_byte(), member.end_byte()), "//"));
                        continue;
                    }
                    _ => continue,
                };
                lines.push(format!("    {line}"));
            }
            if !cases.is_empty() {
                lines.insert(1, format!("    {}", cap_chars(cases.join("; "), MAX_ATTRIBUTE_CHARS)));
            }
            lines.push("}".to_string());
            truncate_lines(&lines.join("\n"))
        }
        SymbolKind::Variable => match site.node.child_by_field_name("computed_value") {
            Some(body) => head_until(site.node, Some(body)),
            None => value_declaration(site, rope, "//"),
        },
        _ => truncate_lines(&text_between(rope, site.outer.start_byte(), site.outer.end_byte())),
    }
}

/// A multi-line declaration joined onto one line: `fn f(\n    a: u32,\n) -> T` becomes
/// `fn f(a: u32) -> T`. Kept as written when a line comment would swallow the rest.
pub(crate) fn one_line(text: &str, comment: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.len() <= 1 {
        return text.trim().to_string();
    }
    if lines.iter().any(|l| l.contains(comment)) {
        return text.trim().to_string();
    }
    let mut out = String::new();
    for line in lines {
        if line.starts_with([')', ']', '>', '}']) {
            // A trailing comma before a closer exists only to please formatters.
            if out.ends_with(',') {
                out.pop();
            }
        } else if !out.is_empty() && !out.ends_with(['(', '[', '<', '{']) {
            out.push(' ');
        }
        out.push_str(line);
    }
    // A `where` clause's trailing comma, left before the body that was cut off.
    out.trim_end_matches(',').to_string()
}

/// A Rust struct without its private fields, which other modules can neither read nor set
/// (the index serves other files; a model shown `url: Url` writes `req.url`): each goes with
/// its doc comments and attributes, and `/* private fields */` stands where the first was, as
/// rustdoc writes it. `None` when every field is public (or it has no named fields).
fn public_fields_only(site: &Site<'_>, rope: &Rope) -> Option<String> {
    let body = site.node.child_by_field_name("body").filter(|b| b.kind() == "field_declaration_list")?;
    let line_start = |byte: usize| rope.line_to_byte(rope.byte_to_line(byte));
    let mut cuts: Vec<std::ops::Range<usize>> = Vec::new();
    let mut cursor = body.walk();
    let mut leading: Option<usize> = None;
    for child in body.named_children(&mut cursor) {
        match child.kind() {
            "line_comment" | "block_comment" | "attribute_item" => {
                leading.get_or_insert(child.start_byte());
            }
            "field_declaration" => {
                let start = leading.take().unwrap_or(child.start_byte());
                let public =
                    (0..child.child_count()).filter_map(|i| child.child(i)).any(|c| c.kind() == "visibility_modifier");
                if !public {
                    // To the end of the field's line: its comma and a trailing comment go too.
                    let end_line = rope.byte_to_line(child.end_byte());
                    let end = rope.line_to_byte((end_line + 1).min(rope.len_lines()));
                    // Fields that share a line with the braces or with each other: shown whole.
                    if line_start(start) <= body.start_byte() || end > line_start(body.end_byte()) {
                        return None;
                    }
                    if cuts.last().is_some_and(|last| last.end > line_start(start)) {
                        return None;
                    }
                    cuts.push(line_start(start)..end);
                }
            }
            _ => leading = None,
        }
    }
    if cuts.is_empty() {
        return None;
    }
    let (outer_start, outer_end) = (site.outer.start_byte(), site.outer.end_byte());
    let mut text = String::new();
    let mut at = outer_start;
    for (i, cut) in cuts.iter().enumerate() {
        text.push_str(&text_between(rope, at, cut.start));
        if i == 0 {
            let indent = text_between(rope, cut.start, cut.end);
            let indent = &indent[..indent.len() - indent.trim_start().len()];
            text.push_str(&format!("{indent}/* private fields */\n"));
        }
        at = cut.end;
    }
    text.push_str(&text_between(rope, at, outer_end));
    Some(text)
}

/// Keeps at most [`MAX_DEFINITION_LINES`] lines; a cut definition keeps its last line when that
/// line closes it (`}`), with an indented `...` standing for what was left out.
pub(crate) fn truncate_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() <= MAX_DEFINITION_LINES {
        return text.trim_end().to_string();
    }
    // Blank lines that separated doc-commented fields (the comments are gone) would take the
    // places of the fields after them.
    lines.retain(|line| !line.trim().is_empty());
    if lines.len() <= MAX_DEFINITION_LINES {
        return lines.join("\n");
    }
    let last = lines[lines.len() - 1];
    let closes = matches!(last.trim(), "}" | "};" | ")" | "]" | "end");
    let keep = MAX_DEFINITION_LINES - if closes { 2 } else { 1 };
    let mut out: Vec<&str> = lines[..keep].to_vec();
    out.push("    ...");
    if closes {
        out.push(last);
    }
    out.join("\n")
}

fn cap_chars(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{} ...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use expect_test::{expect, Expect};

    use super::*;
    use crate::text::syntax;

    /// Lists every recorded definition: kind, name, owner, line, then the signature indented.
    fn check(language: Language, source: &str, expect: Expect) {
        let rope = Rope::from_str(source);
        let tree = syntax::parse(language, &rope, None).expect("parsed");
        let mut out = String::new();
        visit(language, tree.root_node(), &rope, &mut |site| {
            let name = text_between(&rope, site.name.start_byte(), site.name.end_byte());
            let owner = container_name(language, &site, &rope).map(|c| format!(" in {c}")).unwrap_or_default();
            let line = rope.byte_to_line(site.name.start_byte());
            writeln!(out, "{:?} {name}{owner} @{line}", site.kind).unwrap();
            for l in signature(language, &site, &rope).lines() {
                writeln!(out, "    {l}").unwrap();
            }
        });
        expect.assert_eq(&out);
    }

    #[test]
    fn rust_definitions() {
        check(
            Language::Rust,
            r#"use std::fmt;

/// Parses.
pub fn parse<'a>(
    input: &'a str,
    options: Options,
) -> Result<Ast<'a>, Error>
where
    Options: Clone,
{
    todo!()
}

#[derive(Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Options { pub strict: bool, pub depth: u32 }

pub enum Token { Ident(String), Number(f64) }

pub trait Visitor: Sized {
    type Output;
    fn visit(&mut self, node: &Node) -> Self::Output;
    fn done(&self) -> bool { true }
}

impl<T: Clone> Parser<T> {
    pub fn new(source: &str) -> Self { todo!() }
    fn helper(&self) {}
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { Ok(()) }
}

pub const MAX_DEPTH: usize = 64;
static NAMES: [&str; 2] = [
    "a",
    "b",
];
pub type Result<T> = std::result::Result<T, Error>;
macro_rules! bail { ($e:expr) => { return Err($e) }; }

pub mod nested { pub fn inner() -> u8 { 1 } }

#[cfg(test)]
mod checks { fn hidden() {} }

mod tests { fn also_hidden() {} }
"#,
            expect![[r#"
                Function parse @3
                    pub fn parse<'a>(input: &'a str, options: Options) -> Result<Ast<'a>, Error> where Options: Clone
                Class Options @15
                    #[derive(Debug, Clone)]
                    pub struct Options { pub strict: bool, pub depth: u32 }
                Enum Token @17
                    pub enum Token { Ident(String), Number(f64) }
                Interface Visitor @19
                    pub trait Visitor: Sized {
                        type Output;
                        fn visit(&mut self, node: &Node) -> Self::Output;
                        fn done(&self) -> bool;
                    }
                Method visit in Visitor @21
                    pub trait Visitor: Sized { fn visit(&mut self, node: &Node) -> Self::Output; }
                Method done in Visitor @22
                    pub trait Visitor: Sized { fn done(&self) -> bool; }
                Method new in Parser @26
                    impl<T: Clone> Parser<T> { pub fn new(source: &str) -> Self; }
                Method helper in Parser @27
                    impl<T: Clone> Parser<T> { fn helper(&self); }
                Constant MAX_DEPTH @34
                    pub const MAX_DEPTH: usize = 64;
                Constant NAMES @35
                    static NAMES: [&str; 2] = ...
                Type Result @39
                    pub type Result<T> = std::result::Result<T, Error>;
                Macro bail @40
                    macro_rules! bail { ($e:expr) => { return Err($e) }; }
                Function inner @42
                    pub fn inner() -> u8
            "#]],
        );
    }

    #[test]
    fn python_definitions() {
        check(
            Language::Python,
            r#"from dataclasses import dataclass
import os

MAX_RETRIES = 3
default_name: str = "x"

def load(path: str,
         *, strict: bool = False) -> "Config":
    """Loads."""
    return Config()

@dataclass(frozen=True)
class Point(Base):
    """A point."""
    x: int = 0
    y: int = 0

    def norm(self) -> float:
        return 0.0

    @staticmethod
    def origin() -> "Point":
        return Point()

class Empty:
    pass

async def fetch(url):  # comment
    pass

if __name__ == "__main__":
    main()
"#,
            expect![[r#"
                Constant MAX_RETRIES @3
                    MAX_RETRIES = 3
                Variable default_name @4
                    default_name: str = "x"
                Function load @6
                    def load(path: str, *, strict: bool = False) -> "Config": ...
                Class Point @12
                    @dataclass(frozen=True)
                    class Point(Base):
                        x: int = 0
                        y: int = 0
                        def norm(self) -> float: ...
                        @staticmethod
                        def origin() -> "Point": ...
                Method norm in Point @17
                    class Point(Base):
                        def norm(self) -> float: ...
                Method origin in Point @21
                    class Point(Base):
                        @staticmethod
                        def origin() -> "Point": ...
                Class Empty @24
                    class Empty:
                        ...
                Function fetch @27
                    async def fetch(url): ...
            "#]],
        );
    }

    #[test]
    fn typescript_definitions() {
        check(
            Language::TypeScript,
            r#"import { a } from "./a";
const fs = require("fs");
export interface Props {
  name: string;
  onClick?: () => void;
}
export type Id = string | number;
export const handler = async (req: Request): Promise<Response> => {
  return new Response();
};
export const LIMIT = 10;
let counter = 0;
export default class Store<T> extends Base implements Disposable {
  private items: T[] = [];
  constructor(private readonly name: string) { super(); }
  get(id: Id): T | undefined { return undefined; }
  static create(): Store<unknown> { return new Store("x"); }
}
export function render(
  props: Props,
): string {
  return "";
}
enum Color { Red, Green }
declare function external(x: number): void;
namespace Util { export function helper(): void {} }
"#,
            expect![[r#"
                Interface Props @2
                    export interface Props {
                      name: string;
                      onClick?: () => void;
                    }
                Type Id @6
                    export type Id = string | number;
                Function handler @7
                    export const handler = async (req: Request): Promise<Response> =>
                Constant LIMIT @10
                    export const LIMIT = 10;
                Variable counter @11
                    let counter = 0;
                Class Store @12
                    export default class Store<T> extends Base implements Disposable {
                        constructor(private readonly name: string);
                        get(id: Id): T | undefined;
                        static create(): Store<unknown>;
                    }
                Method get in Store @15
                    export default class Store<T> extends Base implements Disposable { get(id: Id): T | undefined; }
                Method create in Store @16
                    export default class Store<T> extends Base implements Disposable { static create(): Store<unknown>; }
                Function render @18
                    export function render(props: Props): string
                Enum Color @23
                    enum Color { Red, Green }
                Function external @24
                    declare function external(x: number): void
                Function helper @25
                    export function helper(): void
            "#]],
        );
    }

    #[test]
    fn go_definitions() {
        check(
            Language::Go,
            r#"package store

import "fmt"

// Item is stored.
type Item struct {
	ID   int
	Name string
}

type Getter interface {
	Get(id int) (*Item, error)
}

type (
	ID    int
	Alias = Item
)

const Limit = 10

var (
	cache = map[int]*Item{}
	hits  int
)

func New(name string) *Store { return &Store{} }

func (s *Store) Get(id int) (*Item, error) {
	return nil, fmt.Errorf("none")
}

func (s Store[T]) Len() int { return 0 }
"#,
            expect![[r#"
                Class Item @5
                    type Item struct {
                    	ID   int
                    	Name string
                    }
                Interface Getter @10
                    type Getter interface {
                    	Get(id int) (*Item, error)
                    }
                Method Get in Getter @11
                    type Getter interface { Get(id int) (*Item, error); }
                Type ID @15
                    type ID    int
                Type Alias @16
                    type Alias = Item
                Constant Limit @19
                    const Limit = 10
                Variable cache @22
                    var cache = map[int]*Item{}
                Variable hits @23
                    var hits  int
                Function New @26
                    func New(name string) *Store
                Method Get in Store @28
                    func (s *Store) Get(id int) (*Item, error)
                Method Len in Store @32
                    func (s Store[T]) Len() int
            "#]],
        );
    }

    #[test]
    fn java_definitions() {
        check(
            Language::Java,
            r#"package com.acme.users;

import java.util.Optional;

/** Users, by id. */
@Repository
public class UserRepository extends BaseRepository<User>
        implements Repository<User, Long> {
    private final Map<Long, User> cache = new HashMap<>();
    public static final int PAGE_SIZE = 50;
    protected Clock clock;

    public UserRepository(DataSource source) {
        super(source);
    }

    /** Finds one. */
    @Override
    public Optional<User> findUser(long id) throws SQLException {
        return Optional.ofNullable(cache.get(id));
    }

    List<User> findAll() { return List.of(); }

    private void evict(long id) { cache.remove(id); }

    public static class Page { public int number() { return 0; } }
}

interface Repository<T, K> {
    Optional<T> findUser(K id) throws SQLException;
    int MAX = 3;
}

public enum Role {
    ADMIN, MEMBER;
    public boolean canWrite() { return this == ADMIN; }
}

public record UserId(long value) implements Comparable<UserId> {
    public UserId { if (value < 0) throw new IllegalArgumentException(); }
    public int compareTo(UserId o) { return Long.compare(value, o.value); }
}
"#,
            expect![[r#"
                Class UserRepository @6
                    @Repository public class UserRepository extends BaseRepository<User> implements Repository<User, Long> {
                        public static final int PAGE_SIZE = 50;
                        protected Clock clock;
                        public UserRepository(DataSource source);
                        @Override public Optional<User> findUser(long id) throws SQLException;
                        List<User> findAll();
                    }
                Method findUser in UserRepository @18
                    @Repository public class UserRepository extends BaseRepository<User> implements Repository<User, Long> { @Override public Optional<User> findUser(long id) throws SQLException; }
                Method findAll in UserRepository @22
                    @Repository public class UserRepository extends BaseRepository<User> implements Repository<User, Long> { List<User> findAll(); }
                Class Page @26
                    public static class Page {
                        public int number();
                    }
                Method number in Page @26
                    public static class Page { public int number(); }
                Interface Repository @29
                    interface Repository<T, K> {
                        Optional<T> findUser(K id) throws SQLException;
                        int MAX = 3;
                    }
                Method findUser in Repository @30
                    interface Repository<T, K> { Optional<T> findUser(K id) throws SQLException; }
                Enum Role @34
                    public enum Role {
                        ADMIN, MEMBER;
                        public boolean canWrite();
                    }
                Method canWrite in Role @36
                    public enum Role { public boolean canWrite(); }
                Class UserId @39
                    public record UserId(long value) implements Comparable<UserId> {
                        public int compareTo(UserId o);
                    }
                Method compareTo in UserId @41
                    public record UserId(long value) implements Comparable<UserId> { public int compareTo(UserId o); }
            "#]],
        );
    }

    #[test]
    fn c_header_definitions() {
        check(
            Language::C,
            r#"#ifndef LIST_H
#define LIST_H

#include <stddef.h>

#define LIST_MAX 64
#define LIST_FOREACH(it, list) \
    for ((it) = (list)->head; (it); (it) = (it)->next)

/** A node. */
struct node {
    int value;
    struct node *next;
};

typedef struct {
    struct node *head;
    size_t len;
} list_t;

enum color { RED, GREEN = 2 };

typedef int (*compare_fn)(const void *, const void *);

extern int list_verbose;
static const int LIST_MIN = 1;

list_t *list_new(void);
int list_push(list_t *list,
              int value);
void list_sort(list_t *list, compare_fn cmp), list_free(list_t *list);
struct node;

size_t list_len(const list_t *list) {
    return list->len;
}

#endif
"#,
            expect![[r#"
                Constant LIST_MAX @5
                    #define LIST_MAX 64
                Macro LIST_FOREACH @6
                    #define LIST_FOREACH(it, list) ...
                Class node @10
                    struct node {
                        int value;
                        struct node *next;
                    }
                Class list_t @18
                    typedef struct {
                        struct node *head;
                        size_t len;
                    } list_t;
                Enum color @20
                    enum color { RED, GREEN = 2 }
                Type compare_fn @22
                    typedef int (*compare_fn)(const void *, const void *);
                Variable list_verbose @24
                    extern int list_verbose;
                Constant LIST_MIN @25
                    static const int LIST_MIN = 1;
                Function list_new @27
                    list_t *list_new(void)
                Function list_push @28
                    int list_push(list_t *list, int value)
                Function list_sort @30
                    void list_sort(list_t *list, compare_fn cmp), list_free(list_t *list)
                Function list_free @30
                    void list_sort(list_t *list, compare_fn cmp), list_free(list_t *list)
                Function list_len @33
                    size_t list_len(const list_t *list)
            "#]],
        );
    }

    #[test]
    fn csharp_definitions() {
        check(
            Language::CSharp,
            r#"using System;
using System.Collections.Generic;

namespace Shop.Users
{
    /// <summary>Users, by id.</summary>
    [Serializable]
    public class UserService : IUserService
    {
        private readonly Dictionary<long, User> cache = new();
        public const int PageSize = 50;
        public string Name { get; private set; }
        public int Count => cache.Count;
        public event EventHandler Changed;

        public UserService(IClock clock) { }

        public User FindUser(long id)
        {
            return cache[id];
        }

        public int Twice(int x) => x * 2;
        void Evict(long id) { }
        internal static UserService Create() => new(null);
    }

    public interface IUserService
    {
        User FindUser(long id);
        string Name { get; }
    }

    public enum Role { Admin, Member }
    public record Person(string First, string Last);
    public struct Point { public int X; public int Y; }
    public delegate void Changed(object sender);
}
"#,
            expect![[r#"
                Class UserService @7
                    [Serializable] public class UserService : IUserService {
                        public const int PageSize = 50;
                        public string Name { get; private set; }
                        public int Count { get; }
                        public event EventHandler Changed;
                        public UserService(IClock clock);
                        public User FindUser(long id);
                        public int Twice(int x);
                        internal static UserService Create();
                    }
                Method FindUser in UserService @17
                    [Serializable] public class UserService : IUserService { public User FindUser(long id); }
                Method Twice in UserService @22
                    [Serializable] public class UserService : IUserService { public int Twice(int x); }
                Method Create in UserService @24
                    [Serializable] public class UserService : IUserService { internal static UserService Create(); }
                Interface IUserService @27
                    public interface IUserService {
                        User FindUser(long id);
                        string Name { get; }
                    }
                Method FindUser in IUserService @29
                    public interface IUserService { User FindUser(long id); }
                Enum Role @33
                    public enum Role { Admin, Member }
                Class Person @34
                    public record Person(string First, string Last);
                Class Point @35
                    public struct Point {
                        public int X;
                        public int Y;
                    }
                Type Changed @36
                    public delegate void Changed(object sender);
            "#]],
        );
    }

    #[test]
    fn csharp_file_scoped_namespace_and_nested_types() {
        check(
            Language::CSharp,
            "namespace Shop;\n\nusing System;\n\npublic class Cart\n{\n    public void Add(Item item) { }\n    public class Line { public decimal Total() => 0; }\n}\n",
            expect![[r#"
                Class Cart @4
                    public class Cart {
                        public void Add(Item item);
                    }
                Method Add in Cart @6
                    public class Cart { public void Add(Item item); }
                Class Line @7
                    public class Line {
                        public decimal Total();
                    }
                Method Total in Line @7
                    public class Line { public decimal Total(); }
            "#]],
        );
    }

    #[test]
    fn cpp_header_and_source_definitions() {
        check(
            Language::Cpp,
            r#"#pragma once
#include <string>

namespace ui {

class Widget : public Base {
public:
    explicit Widget(int w);
    virtual ~Widget();
    void resize(int w, int h);
    int width() const { return w_; }
    static Widget *create(const std::string &name);
    bool operator==(const Widget &other) const;

private:
    int w_ = 0;
};

struct Point { int x; int y; };

template <typename T>
T clamp(T v, T lo, T hi);

using Id = unsigned long;
enum class Mode { Fast, Slow };

}  // namespace ui

extern "C" int c_entry(void);

ui::Widget::Widget(int w) : w_(w) {}

void ui::Widget::resize(int w, int h) {
    w_ = w;
}

template <typename T>
void Box<T>::put(T item) {}

int Widget::count = 0;
"#,
            expect![[r#"
                Class Widget @5
                    class Widget : public Base {
                    public:
                        explicit Widget(int w);
                        virtual ~Widget();
                        void resize(int w, int h);
                        int width() const;
                        static Widget *create(const std::string &name);
                        bool operator==(const Widget &other) const;
                    private:
                        int w_ = 0;
                    };
                Method resize in Widget @9
                    class Widget : public Base { void resize(int w, int h); }
                Method width in Widget @10
                    class Widget : public Base { int width() const; }
                Method create in Widget @11
                    class Widget : public Base { static Widget *create(const std::string &name); }
                Class Point @18
                    struct Point { int x; int y; }
                Function clamp @21
                    template <typename T> T clamp(T v, T lo, T hi)
                Type Id @23
                    using Id = unsigned long;
                Enum Mode @24
                    enum class Mode { Fast, Slow }
                Function c_entry @28
                    int c_entry(void)
                Method resize in Widget @32
                    void ui::Widget::resize(int w, int h)
                Method put in Box @37
                    template <typename T> void Box<T>::put(T item)
            "#]],
        );
    }

    #[test]
    fn a_class_too_big_to_list_whole_lists_each_method_once() {
        // Twelve `sort` overloads would fill the lines before `fill` and `copyOf`.
        let sorts: String =
            ["int", "long", "short", "char", "byte", "float"].iter().map(|t| format!("    public static void sort({t}[] a) {{}}\n    public static void sort({t}[] a, int from, int to) {{}}\n")).collect();
        let source = format!(
            "public final class Arrays {{\n{sorts}    public static void fill(long[] a, long v) {{}}\n    public static int[] copyOf(int[] a, int n) {{ return a; }}\n    private static void check(int n) {{}}\n}}\n"
        );
        let rope = Rope::from_str(&source);
        let tree = syntax::parse(Language::Java, &rope, None).unwrap();
        let mut summary = None;
        visit(Language::Java, tree.root_node(), &rope, &mut |site| {
            if site.kind == SymbolKind::Class {
                summary = Some(signature(Language::Java, &site, &rope));
            }
        });
        expect![[r#"
            public final class Arrays {
                public static void sort(int[] a);
                public static void fill(long[] a, long v);
                public static int[] copyOf(int[] a, int n);
            }"#]]
        .assert_eq(&summary.unwrap());
    }

    #[test]
    fn a_python_class_summary_shows_what_other_files_use() {
        // `_run` and `_cache` are the class's own by convention; `__init__` says how to build
        // it, `__call__` how to call it, `__repr__` and `__eq__` nothing a caller writes; a
        // tuple written over lines reads as one.
        check(
            Language::Python,
            "class Handle:\n    kinds = ('timer',\n             'io')\n    _cache = {}\n\n    def __init__(self, callback, loop=None):\n        self._callback = callback\n\n    def __repr__(self):\n        return 'Handle'\n\n    def __eq__(self, other):\n        return False\n\n    def __call__(self, *args):\n        pass\n\n    def cancel(self):\n        pass\n\n    def _run(self):\n        pass\n",
            expect![[r#"
                Class Handle @0
                    class Handle:
                        kinds = ('timer', 'io')
                        def __init__(self, callback, loop=None): ...
                        def __call__(self, *args): ...
                        def cancel(self): ...
                Method __init__ in Handle @5
                    class Handle:
                        def __init__(self, callback, loop=None): ...
                Method __repr__ in Handle @8
                    class Handle:
                        def __repr__(self): ...
                Method __eq__ in Handle @11
                    class Handle:
                        def __eq__(self, other): ...
                Method __call__ in Handle @14
                    class Handle:
                        def __call__(self, *args): ...
                Method cancel in Handle @17
                    class Handle:
                        def cancel(self): ...
                Method _run in Handle @20
                    class Handle:
                        def _run(self): ...
            "#]],
        );
    }

    #[test]
    fn long_types_keep_their_first_lines_and_their_end() {
        let fields: String = (0..30).map(|i| format!("    pub f{i}: u32,\n")).collect();
        let source = format!("pub struct Wide {{\n{fields}}}\n");
        let rope = Rope::from_str(&source);
        let tree = syntax::parse(Language::Rust, &rope, None).unwrap();
        let mut signatures = Vec::new();
        visit(Language::Rust, tree.root_node(), &rope, &mut |site| {
            signatures.push(signature(Language::Rust, &site, &rope));
        });
        expect![[r#"
            pub struct Wide {
                pub f0: u32,
                pub f1: u32,
                pub f2: u32,
                pub f3: u32,
                pub f4: u32,
                pub f5: u32,
                pub f6: u32,
                pub f7: u32,
                pub f8: u32,
                pub f9: u32,
                pub f10: u32,
                pub f11: u32,
                ...
            }"#]]
        .assert_eq(&signatures.join("\n---\n"));
    }

    /// A type too long to show whole loses the comments on lines of their own first, so that
    /// what is left lists members; one that fits keeps its documentation.
    #[test]
    fn long_types_drop_their_members_doc_comments_before_their_members() {
        check(
            Language::TypeScript,
            r#"export type PopupRequest = Partial<BaseRequest> & {
    /**
     * Authority to send the request to.
     */
    authority?: string;
    /**
     * Where the main window goes afterwards.
     */
    redirectUri?: string; // absolute
    // Size and position.
    popupWindowAttributes?: PopupWindowAttributes;
    /** The window that opens the popup. */
    popupWindowParent?: Window;
    /** Whether to wait for the popup to close. */
    wait?: boolean;
};

/** Small: kept whole. */
interface Point {
    /** Across. */
    x: number;
    y: number; /* down */
}
"#,
            expect![[r#"
                Type PopupRequest @0
                    export type PopupRequest = Partial<BaseRequest> & {
                        authority?: string;
                        redirectUri?: string; // absolute
                        popupWindowAttributes?: PopupWindowAttributes;
                        popupWindowParent?: Window;
                        wait?: boolean;
                    };
                Interface Point @18
                    interface Point {
                        /** Across. */
                        x: number;
                        y: number; /* down */
                    }
            "#]],
        );
        let docs: String = (0..10).map(|i| format!("    /// Field {i}.\n    pub f{i}: u32,\n")).collect();
        check(
            Language::Rust,
            &format!("pub struct Documented {{\n{docs}}}\n"),
            expect![[r#"
                Class Documented @0
                    pub struct Documented {
                        pub f0: u32,
                        pub f1: u32,
                        pub f2: u32,
                        pub f3: u32,
                        pub f4: u32,
                        pub f5: u32,
                        pub f6: u32,
                        pub f7: u32,
                        pub f8: u32,
                        pub f9: u32,
                    }
            "#]],
        );
        // Blank lines between the documented fields take no field's place.
        let spaced: String = (0..12).map(|i| format!("    /// Field {i}.\n    pub f{i}: u32,\n\n")).collect();
        check(
            Language::Rust,
            &format!("pub struct Spaced {{\n{spaced}}}\n"),
            expect![[r#"
                Class Spaced @0
                    pub struct Spaced {
                        pub f0: u32,
                        pub f1: u32,
                        pub f2: u32,
                        pub f3: u32,
                        pub f4: u32,
                        pub f5: u32,
                        pub f6: u32,
                        pub f7: u32,
                        pub f8: u32,
                        pub f9: u32,
                        pub f10: u32,
                        pub f11: u32,
                    }
            "#]],
        );
    }

    #[test]
    fn a_rust_structs_private_fields_are_not_shown_to_other_files() {
        check(
            Language::Rust,
            "/// A request.\npub struct Request {\n    /// The method.\n    #[allow(dead_code)]\n    method: Method,\n    pub url: Url,\n    headers: HeaderMap, // all of them\n    pub(crate) body: Option<Body>,\n}\n\npub struct Opaque {\n    inner: Inner,\n}\n\npub struct Point { x: i32, pub y: i32 }\n",
            expect![[r#"
                Class Request @1
                    pub struct Request {
                        /* private fields */
                        pub url: Url,
                        pub(crate) body: Option<Body>,
                    }
                Class Opaque @10
                    pub struct Opaque {
                        /* private fields */
                    }
                Class Point @14
                    pub struct Point { x: i32, pub y: i32 }
            "#]],
        );
    }

    #[test]
    fn broken_files_still_yield_their_definitions() {
        check(
            Language::Rust,
            "pub fn complete(a: u32) -> u32 { a }\nfn broken( {\npub struct After { x: u8 }\n",
            expect![[r#"
                Function complete @0
                    pub fn complete(a: u32) -> u32
                Class After @2
                    pub struct After { x: u8 }
            "#]],
        );
    }

    #[test]
    fn kotlin_companion_members_and_enum_entries() {
        // A companion object's members are the class's, shown inside their companion; an enum's
        // entries are its constants, by name and arguments (not the bodies they override in).
        check(
            Language::Kotlin,
            "class Repo(val db: Db) {\n    fun find(id: Int): User? = null\n\n    companion object Factory {\n        const val LIMIT = 50\n        fun connect(url: String): Repo = Repo(Db(url))\n        private fun pool() = 5\n    }\n}\n\nenum class Color(val rgb: Int) {\n    RED(0xFF0000),\n    GREEN(0x00FF00) {\n        override fun label() = \"green\"\n    };\n\n    open fun label() = name\n}\n",
            expect![[r#"
                Class Repo @0
                    class Repo(val db: Db) {
                        fun find(id: Int): User?
                        companion object Factory {
                            const val LIMIT = 50
                            fun connect(url: String): Repo
                        }
                    }
                Method find in Repo @1
                    class Repo(val db: Db) { fun find(id: Int): User? }
                Constant LIMIT in Repo @4
                    class Repo(val db: Db) { companion object Factory { const val LIMIT = 50 } }
                Method connect in Repo @5
                    class Repo(val db: Db) { companion object Factory { fun connect(url: String): Repo } }
                Enum Color @10
                    enum class Color(val rgb: Int) {
                        RED(0xFF0000), GREEN(0x00FF00)
                        open fun label()
                    }
                Constant RED in Color @11
                    enum class Color(val rgb: Int) { RED(0xFF0000) }
                Constant GREEN in Color @12
                    enum class Color(val rgb: Int) { GREEN(0x00FF00) }
                Method label in Color @16
                    enum class Color(val rgb: Int) { open fun label() }
            "#]],
        );
    }

    #[test]
    fn ruby_methods_made_private_by_name_are_not_recorded() {
        // `private :name` after the definition, with one name or several, hides it as a bare
        // `private` section and `private def` do; a later `public :name` shows it again.
        check(
            Language::Ruby,
            "class Repo\n  def find(id) = nil\n  def cache_key(id) = id\n  def load(id) = nil\n  def dump = nil\n  def shown = nil\n  private :cache_key\n  private :load, :dump, :shown\n  public :shown\n  private def secret = nil\n  def after = nil\n  private\n  def hidden = nil\nend\n",
            expect![[r#"
                Class Repo @0
                    class Repo
                      def find(id) = ... end
                      def shown = ... end
                      def after = ... end
                    end
                Method find in Repo @1
                    class Repo
                      def find(id) = ... end
                    end
                Method shown in Repo @5
                    class Repo
                      def shown = ... end
                    end
                Method after in Repo @10
                    class Repo
                      def after = ... end
                    end
            "#]],
        );
    }

    #[test]
    fn ruby_class_methods_made_private_by_private_class_method_are_not_recorded() {
        // `private_class_method :name` after the definition (one name or several) and
        // `private_class_method def self.name` hide a class method from other files, in the
        // class's summary too; a later `public_class_method :name` shows it again, and a plain
        // `private` section never hid class methods.
        check(
            Language::Ruby,
            "class Repo\n  def self.connect(url) = new\n  def self.build = new\n  private_class_method :build\n  def self.pool = nil\n  def self.cache = nil\n  def self.shown = nil\n  private_class_method :pool, :cache, :shown\n  public_class_method :shown\n  private_class_method def self.secret = nil\n  private\n  def self.open = new\nend\n",
            expect![[r#"
                Class Repo @0
                    class Repo
                      def self.connect(url) = ... end
                      def self.shown = ... end
                      def self.open = ... end
                    end
                Method connect in Repo @1
                    class Repo
                      def self.connect(url) = ... end
                    end
                Method shown in Repo @6
                    class Repo
                      def self.shown = ... end
                    end
                Method open in Repo @11
                    class Repo
                      def self.open = ... end
                    end
            "#]],
        );
    }

    #[test]
    fn ruby_private_class_method_hides_a_class_self_blocks_method() {
        // `private_class_method :build` in the class's body hides the `build` its `class << self`
        // block defines, from other files and from the class's summary; `public_class_method
        // :pool` shows again the one the block's own `private` hid, and an instance method of
        // the same name is no class method.
        check(
            Language::Ruby,
            "class Repo\n  class << self\n    def build = new\n    def open(url) = new\n    private\n    def pool = nil\n  end\n  def build = nil\n  private_class_method :build\n  public_class_method :pool\nend\n",
            expect![[r#"
                Class Repo @0
                    class Repo
                      class << self
                        def open(url) = ... end
                        def pool = ... end
                      end
                      def build = ... end
                    end
                Method open in Repo @3
                    class Repo
                      class << self
                        def open(url) = ... end
                      end
                    end
                Method pool in Repo @5
                    class Repo
                      class << self
                        def pool = ... end
                      end
                    end
                Method build in Repo @7
                    class Repo
                      def build = ... end
                    end
            "#]],
        );
    }

    #[test]
    fn ruby_class_methods_in_a_class_self_block_are_recorded_unless_private() {
        // `class << self` defines class methods: those before its `private` are other files'
        // to call (and shown in the class's summary, inside the block), those after it or named
        // by its `private :name` are not.
        check(
            Language::Ruby,
            "class Repo\n  class << self\n    def build = new\n    def pool = nil\n    private :pool\n    private\n    def helper = nil\n  end\n  def find(id) = nil\nend\n",
            expect![[r#"
                Class Repo @0
                    class Repo
                      class << self
                        def build = ... end
                      end
                      def find(id) = ... end
                    end
                Method build in Repo @2
                    class Repo
                      class << self
                        def build = ... end
                      end
                    end
                Method find in Repo @8
                    class Repo
                      def find(id) = ... end
                    end
            "#]],
        );
    }
}
