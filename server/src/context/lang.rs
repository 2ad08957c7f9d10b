//! What the context gatherer needs to know about each grammar, as tables of node kinds. The
//! grammars differ in names only; the algorithms in the sibling modules are shared.

use crate::text::Language;

pub(crate) struct Spec {
    /// Nodes whose children are statements, items or members: a line that starts one of their
    /// children starts a whole syntactic unit, so cutting the text there splits nothing.
    pub containers: &'static [&'static str],
    /// Scopes whose header is shown when the text before the cursor starts inside them.
    pub scopes: &'static [&'static str],
    /// Scopes that bound the window of identifiers the cross-file context is looked up for.
    pub functions: &'static [&'static str],
    /// Top-level import statements (and the Go package clause, which frames the imports).
    pub imports: &'static [&'static str],
    /// Leaves that name a value or a type that may be defined in another file.
    pub identifiers: &'static [&'static str],
    /// Leaves that name a member (`x.field`, `obj.method()`): looked up too, but weigh less.
    pub members: &'static [&'static str],
    /// Leaves and nodes inside which text is not code: no cut, no block suggestion.
    pub opaque: &'static [&'static str],
    /// Nodes owning the `:` that opens an indented block (Python).
    pub colon_headers: &'static [&'static str],
    /// Definitions whose `name` child names something this file defines.
    pub definitions: &'static [&'static str],
}

const RUST: Spec = Spec {
    containers: &[
        "source_file",
        "block",
        "declaration_list",
        "field_declaration_list",
        "enum_variant_list",
        "match_block",
    ],
    scopes: &["function_item", "impl_item", "trait_item", "mod_item"],
    functions: &["function_item", "closure_expression"],
    imports: &["use_declaration", "extern_crate_declaration"],
    identifiers: &["identifier", "type_identifier"],
    members: &["field_identifier"],
    opaque: &["string_literal", "raw_string_literal", "char_literal", "line_comment", "block_comment"],
    colon_headers: &[],
    definitions: &[
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
        "enum_variant",
        // A field declared here is this type's: `pub timeout: u64` is no call of a `timeout()`.
        "field_declaration",
    ],
};

const PYTHON: Spec = Spec {
    containers: &["module", "block"],
    scopes: &["function_definition", "class_definition"],
    functions: &["function_definition", "lambda"],
    imports: &["import_statement", "import_from_statement", "future_import_statement"],
    identifiers: &["identifier"],
    members: &[],
    opaque: &["string", "comment", "concatenated_string"],
    colon_headers: &[
        "function_definition",
        "class_definition",
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "with_statement",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "match_statement",
        "case_clause",
    ],
    definitions: &["function_definition", "class_definition"],
};

const TYPESCRIPT: Spec = Spec {
    containers: &[
        "program",
        "statement_block",
        "class_body",
        "interface_body",
        "object_type",
        "enum_body",
        "switch_body",
        "switch_case",
        "switch_default",
    ],
    scopes: &[
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "class",
        "interface_declaration",
        "method_definition",
        "arrow_function",
        "function_expression",
        "generator_function",
        "internal_module",
    ],
    functions: &[
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "arrow_function",
        "function_expression",
        "generator_function",
    ],
    imports: &["import_statement"],
    identifiers: &["identifier", "type_identifier"],
    members: &["property_identifier", "shorthand_property_identifier"],
    opaque: &["string", "template_string", "comment", "regex", "html_comment", "jsx_text"],
    colon_headers: &[],
    definitions: &[
        "function_declaration",
        "generator_function_declaration",
        "function_signature",
        "class_declaration",
        "abstract_class_declaration",
        "class",
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
        "method_definition",
        "internal_module",
        // Members declared here: an interface's `list: Item[]` is no other class's `list()`.
        "property_signature",
        "method_signature",
        "abstract_method_signature",
        "public_field_definition",
    ],
};

const GO: Spec = Spec {
    containers: &[
        "source_file",
        "block",
        "statement_list",
        "field_declaration_list",
        "interface_type",
        "expression_case",
        "type_case",
        "communication_case",
        "default_case",
        "import_spec_list",
        "const_declaration",
        "var_spec_list",
    ],
    scopes: &["function_declaration", "method_declaration", "func_literal"],
    functions: &["function_declaration", "method_declaration", "func_literal"],
    imports: &["package_clause", "import_declaration"],
    identifiers: &["identifier", "type_identifier"],
    members: &["field_identifier"],
    opaque: &["interpreted_string_literal", "raw_string_literal", "rune_literal", "comment"],
    colon_headers: &[],
    definitions: &["function_declaration", "method_declaration", "type_spec", "type_alias", "field_declaration"],
};

const JAVA: Spec = Spec {
    containers: &[
        "program",
        "block",
        "class_body",
        "interface_body",
        "enum_body",
        "enum_body_declarations",
        "annotation_type_body",
        "constructor_body",
        "switch_block",
        "switch_block_statement_group",
    ],
    scopes: &[
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
        "method_declaration",
        "constructor_declaration",
        "compact_constructor_declaration",
        "lambda_expression",
    ],
    functions: &[
        "method_declaration",
        "constructor_declaration",
        "compact_constructor_declaration",
        "lambda_expression",
    ],
    // The package frames the imports: it says which classes need none.
    imports: &["package_declaration", "import_declaration"],
    identifiers: &["identifier", "type_identifier"],
    // Java names members with plain identifiers: the parent's field tells them apart (nearby.rs).
    members: &[],
    opaque: &["string_literal", "character_literal", "line_comment", "block_comment"],
    colon_headers: &[],
    definitions: &[
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
        "method_declaration",
        "constructor_declaration",
        "enum_constant",
    ],
};

const CSHARP: Spec = Spec {
    containers: &[
        "compilation_unit",
        "declaration_list",
        "block",
        "enum_member_declaration_list",
        "switch_body",
        "switch_section",
    ],
    scopes: &[
        "namespace_declaration",
        "class_declaration",
        "struct_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "method_declaration",
        "constructor_declaration",
        "local_function_statement",
        "lambda_expression",
    ],
    functions: &[
        "method_declaration",
        "constructor_declaration",
        "local_function_statement",
        "lambda_expression",
        "accessor_declaration",
    ],
    // A file-scoped namespace frames the usings as Go's package clause does.
    imports: &["using_directive", "file_scoped_namespace_declaration"],
    identifiers: &["identifier"],
    members: &[],
    opaque: &[
        "string_literal",
        "verbatim_string_literal",
        "raw_string_literal",
        "interpolated_string_expression",
        "character_literal",
        "comment",
    ],
    colon_headers: &[],
    definitions: &[
        "namespace_declaration",
        "class_declaration",
        "struct_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "delegate_declaration",
        "method_declaration",
        "constructor_declaration",
        "local_function_statement",
        "property_declaration",
        "enum_member_declaration",
    ],
};

const C: Spec = Spec {
    containers: &[
        "translation_unit",
        "compound_statement",
        "field_declaration_list",
        "enumerator_list",
        "case_statement",
        // `extern "C" { ... }`.
        "declaration_list",
        // A header's include guard wraps all of it: its lines are still top-level items.
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
    ],
    scopes: &["function_definition", "struct_specifier", "union_specifier", "enum_specifier", "linkage_specification"],
    functions: &["function_definition"],
    imports: &["preproc_include"],
    identifiers: &["identifier", "type_identifier"],
    members: &["field_identifier"],
    opaque: &["string_literal", "char_literal", "system_lib_string", "comment"],
    colon_headers: &[],
    // Only kinds whose `name` always defines: a `struct_specifier`'s name is as often a use
    // (`struct point *p`), see `nearby::record`.
    definitions: &["enumerator", "preproc_def", "preproc_function_def"],
};

const CPP: Spec = Spec {
    containers: &[
        "translation_unit",
        "compound_statement",
        "field_declaration_list",
        "enumerator_list",
        "case_statement",
        // Namespace and `extern "C"` bodies.
        "declaration_list",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
    ],
    scopes: &[
        "function_definition",
        "struct_specifier",
        "class_specifier",
        "union_specifier",
        "enum_specifier",
        "namespace_definition",
        "linkage_specification",
        "lambda_expression",
    ],
    functions: &["function_definition", "lambda_expression"],
    // `using namespace std;` and `using std::string;` say where the names below come from, as
    // much as the includes do.
    imports: &["preproc_include", "using_declaration", "namespace_alias_definition"],
    identifiers: &["identifier", "type_identifier", "namespace_identifier"],
    members: &["field_identifier"],
    opaque: &["string_literal", "raw_string_literal", "char_literal", "system_lib_string", "comment"],
    colon_headers: &[],
    definitions: &[
        "enumerator",
        "preproc_def",
        "preproc_function_def",
        "namespace_definition",
        "alias_declaration",
        "concept_definition",
    ],
};

const RUBY: Spec = Spec {
    // A blank line at the end of a body is past its `body_statement` but still inside the
    // method, class or block whose `end` follows: those hold statements too.
    containers: &[
        "program",
        "body_statement",
        "then",
        "else",
        "do",
        "block_body",
        "begin",
        "ensure",
        "method",
        "singleton_method",
        "class",
        "module",
        "singleton_class",
        "do_block",
    ],
    scopes: &["class", "module", "singleton_class", "method", "singleton_method", "do_block", "block", "lambda"],
    functions: &["method", "singleton_method", "do_block", "block", "lambda"],
    // `require`/`require_relative` are calls like any other: `scope::is_import` tells them.
    imports: &[],
    identifiers: &["identifier", "constant"],
    // Ruby names methods with plain identifiers: the call's `method` field tells them (nearby.rs).
    members: &[],
    opaque: &["string", "heredoc_body", "regex", "character", "comment"],
    colon_headers: &[],
    definitions: &["method", "singleton_method", "class", "module"],
};

const PHP: Spec = Spec {
    containers: &[
        "program",
        "compound_statement",
        "declaration_list",
        "enum_declaration_list",
        "switch_block",
        "case_statement",
        "default_statement",
        "colon_block",
    ],
    scopes: &[
        "namespace_definition",
        "class_declaration",
        "interface_declaration",
        "trait_declaration",
        "enum_declaration",
        "function_definition",
        "method_declaration",
        "anonymous_function",
        "arrow_function",
    ],
    functions: &["function_definition", "method_declaration", "anonymous_function", "arrow_function"],
    // `namespace App;` frames the `use` lines as Go's package clause does; includes and a block
    // namespace's body are told by `scope::is_import`.
    imports: &["namespace_use_declaration"],
    // `$x` is a `variable_name` holding a `name`: nearby.rs looks up no variables.
    identifiers: &["name"],
    members: &[],
    // `text` is the HTML around `<?php … ?>`.
    opaque: &["string", "nowdoc", "comment", "text"],
    colon_headers: &[],
    definitions: &[
        "function_definition",
        "method_declaration",
        "class_declaration",
        "interface_declaration",
        "trait_declaration",
        "enum_declaration",
        "enum_case",
    ],
};

const KOTLIN: Spec = Spec {
    containers: &["source_file", "block", "class_body", "enum_class_body", "lambda_literal", "when_expression"],
    scopes: &[
        "class_declaration",
        "object_declaration",
        "companion_object",
        "function_declaration",
        "secondary_constructor",
        "anonymous_initializer",
    ],
    functions: &["function_declaration", "secondary_constructor", "anonymous_initializer", "lambda_literal"],
    // The package frames the imports as Java's does.
    imports: &["package_header", "import"],
    // Types are `user_type`s of identifiers; members are identifiers too (nearby.rs tells them).
    identifiers: &["identifier"],
    members: &[],
    opaque: &["string_literal", "multiline_string_literal", "character_literal", "line_comment", "block_comment"],
    colon_headers: &[],
    definitions: &["class_declaration", "object_declaration", "function_declaration"],
};

const SWIFT: Spec = Spec {
    // Blocks hold `statements`; a type's or an extension's body holds its members. An empty
    // block has no `statements`: its braces sit right in the function, closure or statement.
    containers: &[
        "source_file",
        "statements",
        "class_body",
        "enum_class_body",
        "protocol_body",
        "switch_statement",
        "switch_entry",
        "function_body",
        "computed_property",
        "computed_getter",
        "computed_setter",
        "lambda_literal",
        "if_statement",
        "guard_statement",
        "for_statement",
        "while_statement",
        "repeat_while_statement",
        "do_statement",
        "catch_block",
    ],
    scopes: &[
        "class_declaration",
        "protocol_declaration",
        "function_declaration",
        "init_declaration",
        "deinit_declaration",
    ],
    functions: &["function_declaration", "init_declaration", "deinit_declaration", "lambda_literal"],
    imports: &["import_declaration"],
    identifiers: &["simple_identifier", "type_identifier"],
    // Members are `simple_identifier`s after a dot (nearby.rs tells them).
    members: &[],
    opaque: &[
        "line_string_literal",
        "multi_line_string_literal",
        "raw_string_literal",
        "regex_literal",
        "comment",
        "multiline_comment",
    ],
    colon_headers: &[],
    definitions: &[
        "class_declaration",
        "protocol_declaration",
        "function_declaration",
        "protocol_function_declaration",
        "typealias_declaration",
        "enum_entry",
    ],
};

/// The tables for `language`; `None` for plain text.
pub(crate) fn spec(language: Language) -> Option<&'static Spec> {
    match language {
        Language::Rust => Some(&RUST),
        Language::Python => Some(&PYTHON),
        Language::TypeScript | Language::Tsx | Language::JavaScript => Some(&TYPESCRIPT),
        Language::Go => Some(&GO),
        Language::Java => Some(&JAVA),
        Language::CSharp => Some(&CSHARP),
        Language::C => Some(&C),
        Language::Cpp => Some(&CPP),
        Language::Ruby => Some(&RUBY),
        Language::Php => Some(&PHP),
        Language::Kotlin => Some(&KOTLIN),
        Language::Swift => Some(&SWIFT),
        Language::PlainText => None,
    }
}

impl Spec {
    pub fn is_container(&self, kind: &str) -> bool {
        // Broken code is the normal state of a file being typed in: tree-sitter then hangs the
        // statements of the unfinished scope under an ERROR node, which still lists them in order.
        kind == "ERROR" || self.containers.contains(&kind)
    }
}
