//! What the model sees for an inline completion: the text around the cursor cut at syntax
//! boundaries, the file's imports, the headers of the scopes the cursor is in, the definitions
//! of names used near the cursor that live in other files, and recent edits elsewhere.
//!
//! Everything here is a pure function of a document snapshot and a [`SymbolLookup`]; only the
//! workspace index ([`WorkspaceIndex::build`]) reads files. The work per request is bounded by
//! the budgets and a window around the cursor, never by the size of the file: there is no walk
//! over the whole tree, only a descent from the root to the window and forward walks through it.

mod chain;
mod fields;
mod index;
mod lang;
mod nearby;
mod scope;
mod similar;
pub(crate) mod symbols;
mod window;

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ropey::Rope;
use serde_json::{json, Value};
use tree_sitter::Node;

pub use index::{WorkspaceIndex, MAX_FILES, MAX_FILE_BYTES};
pub use similar::SimilarIndex;
pub(crate) use symbols::declared_name;

use crate::secrets::looks_secret;
use crate::text::position::line_content_end;
use crate::text::{indent_width, DocumentSnapshot, Language};
use window::{ancestors_at, wants_block, Cutter};

/// How much of each kind of context a prompt carries, in chars (a token is about 3.5 chars of
/// code). The defaults make a completion prompt of about 3.5k tokens.
///
/// The text after the cursor gets a quarter of what the text before it gets: it matters less
/// to the model, and it follows the cursor in the prompt, where the prefix cache never reaches
/// (see `prompt.rs`), so every char of it is paid at the cache-miss price on every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Text before the cursor.
    pub prefix_chars: usize,
    /// Text after the cursor.
    pub suffix_chars: usize,
    /// Definitions from other files.
    pub cross_file_chars: usize,
    /// Recent edits in other files.
    pub recent_edit_chars: usize,
    /// The file's imports when they lie above the text shown before the cursor.
    pub imports_chars: usize,
    /// Code like the code above the cursor, from other open documents and from this file
    /// away from the cursor.
    pub similar_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            prefix_chars: 6000,
            suffix_chars: 1500,
            cross_file_chars: 2500,
            recent_edit_chars: 1000,
            imports_chars: 1500,
            similar_chars: 1500,
        }
    }
}

/// A piece of another file shown to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snippet {
    /// Workspace-relative when the file lies in the workspace.
    pub path: String,
    pub text: String,
    pub why: SnippetKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnippetKind {
    /// The definition (signature) of `symbol`, a name used near the cursor.
    Definition { symbol: String },
    /// A region the user edited recently.
    RecentEdit,
    /// A piece of code like the code above the cursor (see [`similar_code`]).
    Similar,
}

/// Everything a completion prompt is built from. See [`gather`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionContext {
    /// What the document is parsed as.
    pub language: Language,
    /// What prompts call the language: "Ruby" for a Ruby file, which is parsed as plain text.
    pub language_name: std::borrow::Cow<'static, str>,
    /// How prompts name the file: workspace-relative when the lookup knows the workspace.
    pub path: String,
    /// The text before the cursor, from the start of a line that starts a statement or an item
    /// (so the cut splits no token and, where the parse allows, no statement), within budget.
    pub prefix: String,
    /// The text after the cursor, up to the end of a line after which a statement, an item or
    /// a blank line follows, within budget.
    pub suffix: String,
    /// The current line up to the cursor: what partial mode pre-fills. Part of `prefix`.
    pub line_prefix: String,
    /// The rest of the current line after the cursor. Part of `suffix`.
    pub line_suffix: String,
    /// The file's import statements that lie above `prefix`, one per line; empty if none.
    pub imports: String,
    /// The headers of the enclosing functions, impls, classes, … whose start lies above
    /// `prefix`, outermost first, each ending with the opening of its body.
    pub enclosing: Option<String>,
    /// Definitions of names used near the cursor that are defined in other files, best first.
    pub cross_file: Vec<Snippet>,
    /// Recent edits in other files, in the order the caller gave them (most recent first).
    pub recent_edits: Vec<Snippet>,
    /// Code like the code above the cursor, best first (see [`similar_code`]).
    pub similar: Vec<Snippet>,
    /// The cursor calls for a block (several lines) rather than the rest of its line.
    pub multiline: bool,
    /// The block is a file's, a module's or a type's body, whose parts are definitions: what
    /// belongs at the cursor is one definition, not the rest of the file or the type.
    pub between_items: bool,
}

/// What a symbol lookup returns for a name. The strings are shared with the index: a common
/// name (`new`, `from`) has hundreds of definitions, and a lookup clones every one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolDef {
    pub name: Arc<str>,
    /// As [`SymbolLookup::display_path`] names the file.
    pub path: Arc<str>,
    pub kind: SymbolKind,
    /// The declaration without its body; small types whole (see the index's documentation).
    pub signature: Arc<str>,
    /// Zero-based line of the name in its file.
    pub line: u32,
    /// For methods: the type, trait or class they belong to (without generics).
    pub container: Option<Arc<str>>,
    /// Rust: the inline modules around it (`mod a { mod b { … } }`: `a/b`), which its path
    /// does not name.
    pub module: Option<Arc<str>>,
    pub reach: Reach,
    /// The language of the file it is in.
    pub language: Language,
    /// It is in a test's file (`is_test_path`).
    pub test: bool,
    /// For functions and methods: the workspace type they return, by name (`Repo` of
    /// `fn open() -> Result<Repo>`), where their declaration writes one.
    pub returns: Option<Arc<str>>,
}

/// From where a definition can be used, by its language's visibility rules. A definition
/// another file cannot use is not what that file's name means, however well it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// Exported, public, or in a language without such rules (Python, a JavaScript script).
    Anywhere,
    /// A Rust item without `pub`: its module and the modules inside it.
    Module,
    /// A Go name that starts in lower case: the files of its package (its directory).
    Package,
    /// A declaration an ES module does not export; a `private` or `#private` method; a C or
    /// C++ `static` function or variable, or one in an anonymous namespace.
    File,
}

impl Reach {
    /// Whether code in `from` can use a definition in `path` (both as the index names them).
    pub fn reaches(self, path: &str, from: &str) -> bool {
        fn dir(p: &str) -> &str {
            p.rfind(['/', '\\']).map_or("", |i| &p[..i])
        }
        match self {
            Reach::Anywhere => true,
            // A C or C++ header's file-local names are copied into every file including it.
            Reach::File => path == from || is_c_header(path),
            // Maven and Gradle keep a package's tests in the same package under another root.
            Reach::Package => package_dir(dir(path)) == package_dir(dir(from)),
            Reach::Module => {
                // `src/a.rs` and `src/a/mod.rs` are module `a`, whose children live in `src/a/`;
                // a crate root's (`lib.rs`, `main.rs`) are everything beside it.
                let file = path[dir(path).len()..].trim_start_matches(['/', '\\']);
                let module_dir = match file {
                    "lib.rs" | "main.rs" | "mod.rs" => dir(path),
                    _ => path.strip_suffix(".rs").unwrap_or(path),
                };
                path == from || from.strip_prefix(module_dir).is_some_and(|rest| rest.starts_with(['/', '\\']))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Function,
    Method,
    /// A struct, union or class.
    Class,
    Enum,
    /// A trait or interface.
    Interface,
    /// A type alias, or a Go type that is neither struct nor interface.
    Type,
    Constant,
    Variable,
    Macro,
}

impl SymbolKind {
    /// A class, struct, enum, interface, trait or type alias.
    pub fn is_type(self) -> bool {
        matches!(self, SymbolKind::Class | SymbolKind::Enum | SymbolKind::Interface | SymbolKind::Type)
    }
}

/// Where definitions of names come from: the workspace index, or a test's table.
pub trait SymbolLookup {
    /// Every known definition of `name`.
    fn lookup(&self, name: &str) -> Vec<SymbolDef>;

    /// The type's name a field of the class `class`, in a file of the language `family`,
    /// declares (`repo` of `class A { private repo: UserStore }`: `UserStore`), when a
    /// definition of the class says.
    fn field_type(&self, _class: &str, _field: &str, _family: Language) -> Option<String> {
        None
    }

    /// The types a Go struct or interface called `class` embeds (`*Router`, `io.Reader`), whose
    /// members are its own too.
    fn embedded(&self, _class: &str, _family: Language) -> Vec<String> {
        Vec::new()
    }

    /// How prompts and [`SymbolDef::path`] name the document at `uri`: workspace-relative when
    /// the lookup knows the workspace. The default shows a `file://` URI as a path.
    fn display_path(&self, uri: &str) -> String {
        uri_to_path(uri).to_string_lossy().into_owned()
    }

    /// `path` relative to the workspace folder holding it (the deepest, when folders nest);
    /// `None` outside every folder, or when the lookup knows no workspace.
    fn workspace_relative(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

/// A lookup that knows nothing: completions from the current file alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSymbols;

impl SymbolLookup for NoSymbols {
    fn lookup(&self, _name: &str) -> Vec<SymbolDef> {
        Vec::new()
    }
}

/// A `file://` URI as a path; anything else (a path, or a URI of another scheme) unchanged.
pub(crate) fn uri_to_path(uri: &str) -> PathBuf {
    if uri.starts_with("file:") {
        if let Some(path) = url::Url::parse(uri).ok().and_then(|u| u.to_file_path().ok()) {
            return path;
        }
    }
    PathBuf::from(uri)
}

/// Gathers the context for a completion at `cursor` (a char index, clamped to the document).
///
/// `recent` are recently edited regions, most recent first; those of this document and of
/// secret files are left out, the rest cut to the budget. Refusing binary, too-large and secret
/// documents is the caller's job: this function describes whatever it is given. Plain text (and
/// a document without a tree) gets line-based cuts and no imports, scopes or cross-file context.
pub fn gather(
    doc: &DocumentSnapshot,
    cursor: usize,
    symbols: &dyn SymbolLookup,
    recent: &[Snippet],
    budget: &Budget,
) -> CompletionContext {
    let rope = doc.rope();
    let language = doc.language();
    let path = symbols.display_path(doc.uri());
    let cursor = clamp_cursor(rope, cursor);
    let spec = lang::spec(language);
    let root = doc.tree().map(|t| t.root_node());
    let mut cutter = Cutter::new(rope, root.zip(spec), cursor, budget.prefix_chars, budget.suffix_chars);

    let cursor_byte = rope.char_to_byte(cursor);
    let start = cutter.prefix_start(cursor, budget.prefix_chars);
    // The nodes around the cursor, found once for everything below that needs them.
    let chain = cutter.chain_at(cursor_byte);
    // The code after the cursor, down to the next item's header: not the next items' docs. Its
    // pieces are whole lines within the budget, so the budget's clean cut (a walk of the lines
    // at its end, 8 % of the context's instructions) is needed only without them.
    let budget_limit = (cursor + budget.suffix_chars).min(rope.len_chars());
    let suffix_pieces = root.zip(spec).and_then(|(_, spec)| suffix_by_items(rope, spec, &chain, cursor, budget_limit));
    let end = match &suffix_pieces {
        Some(pieces) => pieces[0].end,
        None => cutter.suffix_end(cursor, budget.suffix_chars),
    };
    let line = rope.char_to_line(cursor);
    let line_begin = rope.line_to_char(line).max(start);
    let line_end = line_content_end(rope, line).min(end);
    let line_prefix = String::from(rope.slice(line_begin..cursor));
    let line_suffix = String::from(rope.slice(cursor..line_end));
    let language_name = doc.language_name();
    let multiline = if language == Language::PlainText {
        !language_name.prose && unparsed_wants_block(rope, line, &line_prefix, &line_suffix)
    } else {
        wants_block(&cutter, &chain, cursor, &line_prefix, &line_suffix)
    };

    let mut ctx = CompletionContext {
        language,
        language_name: language_name.name.clone(),
        prefix: String::from(rope.slice(start..cursor)),
        suffix: match &suffix_pieces {
            Some(pieces) => join_pieces(rope, pieces),
            None => String::from(rope.slice(cursor..end)),
        },
        line_prefix,
        line_suffix,
        imports: String::new(),
        enclosing: None,
        cross_file: Vec::new(),
        recent_edits: pick_recent(recent, &[&path, doc.uri()], budget.recent_edit_chars),
        similar: Vec::new(),
        multiline,
        between_items: false,
        path,
    };
    if root.is_none() && language == Language::PlainText && !language_name.prose {
        let window_line = rope.char_to_line(start);
        ctx.imports = scope::unparsed_imports(rope, &ctx.language_name, window_line, budget.imports_chars);
        let line_text = String::from(rope.line(line));
        let cursor_indent =
            if line_text.trim().is_empty() { indent_width(&ctx.line_prefix) } else { indent_width(&line_text) };
        ctx.enclosing = scope::unparsed_enclosing(rope, line, cursor_indent, window_line);
    }
    if let (Some(root), Some(spec)) = (root, spec) {
        let start_byte = rope.char_to_byte(start);
        ctx.imports = scope::imports(language, spec, rope, &chain, start_byte, budget.imports_chars, doc.top_imports());
        // What the cursor belongs to, which for Python the indentation may say better than the
        // tree; the cuts and the block decision above go by the tree.
        let indented = python_indent_chain(language, rope, &chain, cursor_byte);
        let chain = indented.as_deref().unwrap_or(&chain);
        ctx.enclosing = scope::enclosing(spec, rope, chain, start_byte);
        ctx.between_items = ctx.multiline && between_items(spec, chain);
        let window = identifier_window(rope, spec, chain, cursor_byte);
        let window_start = window.start;
        let cursor_row = nearby::tree_row(chain, cutter.source(), cursor_byte);
        let mut names = nearby::collect(language, spec, cutter.source(), root, window, cursor_byte, cursor_row);
        names.bind_outer_locals(language, spec, cutter.source(), chain, window_start);
        let top = scope::top_imports(language, spec, rope, root, doc.top_imports());
        names.bind_renames(&top.renames);
        // The class around the cursor and its bases cost a lookup per base: found only for
        // `this.x`, `self.x`, fields, and chains that start at them.
        let lineage_cell = std::cell::OnceCell::new();
        let lineage =
            || lineage_cell.get_or_init(|| class_lineage(language, rope, chain, cursor_byte, symbols)).as_ref();
        let lookups = chain::Lookups { family: language.family(), symbols, lineage: &lineage };
        names.bind_calls(&lookups);
        names.bind_modules(top);
        names.bind_fields(&lookups);
        names.bind_chains(&lookups);
        // The cursor reaching into a value (`repo.`, `self.users.fi`): the value's type is the
        // one whose members the model must choose from, used or not. A use of the type's name
        // next to the cursor brings its summary; it stays the same while the member is typed.
        if let Some(ty) = member_receiver(&ctx.line_prefix)
            .and_then(|receiver| names.receiver_type(receiver, &lookups))
            .and_then(|ty| nearby::named_type(&ty))
        {
            names.use_type_at_cursor(ty);
        }
        let through_self = names.used.values().any(|u| u.qualifier == nearby::Qualifier::OwnClass);
        let lineage = if through_self { lineage() } else { None };
        ctx.cross_file = cross_file(&names, &ctx.path, language, symbols, lineage, budget.cross_file_chars);
    }
    ctx
}

/// Fills `ctx.similar`: the pieces of code in the open documents `index` holds most like the
/// lines above the cursor, leaving out this document's lines that `ctx` already shows and the
/// documents `allowed` (given their URIs) turns down. Completes [`gather`]'s result.
pub fn similar_code(
    ctx: &mut CompletionContext,
    doc: &DocumentSnapshot,
    cursor: usize,
    index: &SimilarIndex,
    allowed: &dyn Fn(&str) -> bool,
    symbols: &dyn SymbolLookup,
    budget: &Budget,
) {
    let rope = doc.rope();
    let cursor_byte = rope.char_to_byte(clamp_cursor(rope, cursor));
    let line = rope.byte_to_line(cursor_byte);
    // The prefix and suffix are the rope's text either side of the cursor: their lines are
    // found from their lengths, where counting their line breaks cost 30,000 instructions.
    let first = rope.byte_to_line(cursor_byte.saturating_sub(ctx.prefix.len()));
    let last = rope.byte_to_line((cursor_byte + ctx.suffix.len()).min(rope.len_bytes()));
    let shown = first..last + 1;
    let Some(family) = similar::Family::of(&doc.language_name()) else { return };
    let query = similar::query(rope, line);
    let path_of = |uri: &str| symbols.display_path(uri);
    ctx.similar = index.find(&query, doc.uri(), family, shown, allowed, &path_of, budget.similar_chars);
}

/// Bodies whose parts are definitions (items, members), not statements.
const ITEM_BODIES: &[&str] = &[
    "source_file",
    "module",
    "program",
    "translation_unit",
    "compilation_unit",
    "declaration_list",
    "class_body",
    "interface_body",
    "enum_body",
    "enum_body_declarations",
    "annotation_type_body",
    "field_declaration_list",
    "object_type",
];

/// Whether `node` is a body of definitions: one of [`ITEM_BODIES`], or a Python class's block.
fn is_item_body(node: Node<'_>) -> bool {
    ITEM_BODIES.contains(&node.kind())
        || node.kind() == "block" && node.parent().is_some_and(|p| p.kind() == "class_definition")
}

/// Whether `node`, a part of a body of definitions, is a definition (a function, a method, a
/// type, an impl) rather than a statement of a script.
fn is_definition(spec: &lang::Spec, node: Node<'_>) -> bool {
    let kind = node.kind();
    spec.definitions.contains(&kind)
        || spec.scopes.contains(&kind)
        || spec.functions.contains(&kind)
        || matches!(kind, "decorated_definition" | "method_definition" | "impl_item")
        || kind == "export_statement" && node.child_by_field_name("declaration").is_some_and(|d| is_definition(spec, d))
}

/// What lies between definitions and is no code: comments (the next item's documentation)
/// and the attributes, decorators and annotations written before an item, where the grammar
/// makes them its siblings (Rust's attributes, decorators in a TypeScript class).
fn is_between_definitions(node: Node<'_>) -> bool {
    node.kind().contains("comment") || is_item_preamble(node)
}

/// An attribute, decorator or annotation: it belongs to the item it precedes, like that item's
/// documentation, whether the grammar makes it the item's sibling (Rust, a TypeScript class's
/// members) or its child (Python's `decorated_definition`, Java's and C#'s modifiers).
fn is_item_preamble(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "attribute_item"
            | "decorator"
            | "annotation"
            | "marker_annotation"
            | "attribute_list"
            | "attribute_declaration"
    )
}

/// Where a definition's own code starts: past the decorators, attributes, annotations and
/// comments at its start (also inside a modifier list, `@Override public`). `None` when
/// nothing but those is in `node`.
fn code_start(node: Node<'_>) -> Option<usize> {
    let mut walk = node.walk();
    let children: Vec<Node<'_>> = node.children(&mut walk).collect();
    if children.is_empty() {
        return Some(node.start_byte());
    }
    for child in children {
        if is_between_definitions(child) {
            continue;
        }
        let leads = child.child(0).is_some_and(is_between_definitions);
        match if leads { code_start(child) } else { Some(child.start_byte()) } {
            Some(start) => return Some(start),
            None => continue,
        }
    }
    None
}

/// The text after the cursor as char ranges of the document, when the cursor is in a
/// definition (or between definitions) that ends within `budget_end`: the rest of it, then the
/// next definition's header (its lines from its first line of code down to its name), leaving
/// out what belongs to it but is no code: its comments, attributes, decorators and annotations. What follows the block is worth its header to the model, to
/// see where the block ends and what comes next; the next items' documentation, which is what
/// a suffix cut by size alone mostly held between methods, is not. When the body of
/// definitions ends first, its closer (`}`) is kept and the next definition after its owner is
/// looked for. `None` where no such cut applies (a script's statements, no definition around
/// or after the cursor, a definition longer than the budget): the size cut stands.
fn suffix_by_items(
    rope: &Rope,
    spec: &lang::Spec,
    chain: &[Node<'_>],
    cursor: usize,
    budget_end: usize,
) -> Option<Vec<Range<usize>>> {
    let cursor_byte = rope.char_to_byte(cursor);
    let budget_byte = rope.char_to_byte(budget_end);
    // The innermost definition the cursor is in whose parent is a body of definitions; else,
    // between definitions, the body the cursor is in.
    let body_at = chain.iter().rposition(|n| is_item_body(*n))?;
    let (mut body, mut at) = match chain.get(body_at + 1) {
        Some(item) if item.start_byte() < cursor_byte && is_definition(spec, *item) => {
            (chain[body_at], item.end_byte())
        }
        Some(_) => return None,
        None => (chain[body_at], cursor_byte),
    };
    if at > budget_byte {
        return None;
    }
    let mut pieces: Vec<Range<usize>> = Vec::new();
    pieces.push(cursor_byte..at);
    let mut skipped = false;
    // The rest of a line a piece ends on (a `}` after the item, a trailing comment) stays on it.
    let extend = |pieces: &mut Vec<Range<usize>>, skipped: bool, start: usize, end: usize| {
        if skipped {
            pieces.push(start..end);
        } else if let Some(last) = pieces.last_mut() {
            last.end = end;
        }
    };
    loop {
        let next = named_children_from(body, at).find(|c| c.start_byte() >= at && !is_between_definitions(*c));
        skipped |= named_children_from(body, at).any(|c| {
            c.start_byte() >= at && next.is_none_or(|n| c.start_byte() < n.start_byte()) && is_between_definitions(c)
        });
        if let Some(next) = next {
            let name = header_name(next).unwrap_or(next);
            let header_end = rope.char_to_byte(line_content_end(rope, rope.byte_to_line(name.start_byte())));
            // A header line that opens a string or a comment (`const DOC: &str = "`) is cut
            // before, with the rest of the definition.
            let opens = next
                .descendant_for_byte_range(header_end, header_end)
                .into_iter()
                .flat_map(|n| std::iter::successors(Some(n), |n| n.parent()))
                .take_while(|n| n.id() != next.id())
                .any(|n| spec.opaque.contains(&n.kind()) && n.start_byte() < header_end && header_end < n.end_byte());
            if !opens {
                let start = window::line_start_byte(rope, code_start(next).unwrap_or(next.start_byte()));
                // Decorators or annotations on lines of their own before the header are left
                // out like the documentation (a line that holds code too stays whole).
                skipped |= start > window::line_start_byte(rope, next.start_byte());
                extend(&mut pieces, skipped && start >= at, start, header_end);
            }
            break;
        }
        // The body ends: its owner's closer, and what follows the owner (through `export`,
        // decorators).
        let mut owner = match body.parent() {
            Some(owner) => owner,
            None => break,
        };
        for _ in 0..3 {
            match owner.parent() {
                Some(parent) if !is_item_body(parent) => owner = parent,
                _ => break,
            }
        }
        let Some(outer) = owner.parent().filter(|p| is_item_body(*p)) else { break };
        let closer = window::line_start_byte(rope, body.end_byte().saturating_sub(1).max(at));
        extend(&mut pieces, skipped && closer >= at, closer, owner.end_byte());
        skipped = false;
        body = outer;
        at = owner.end_byte();
    }
    // Whole lines, within the budget; each piece after the first starts a line.
    let mut left = budget_end - cursor;
    let mut out = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let start = rope.byte_to_char(piece.start);
        let end = line_content_end(rope, rope.byte_to_line(piece.end.saturating_sub(1).max(piece.start)));
        let len = end - start + usize::from(i > 0);
        if len > left {
            break;
        }
        left -= len;
        out.push(start..end);
    }
    // Nothing but space to the end of the window (the file's last line break): it stays.
    if let Some(last) = out.last_mut() {
        if last.end < budget_end && rope.slice(last.end..budget_end).chars().all(char::is_whitespace) {
            last.end = budget_end;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `body`'s named children from the first one that ends after byte `at` (an empty one, a MISSING
/// node, at `at` is passed over), found by tree-sitter's search. A file's top level holds
/// hundreds of items: stepping through them from the first, for the item after the cursor, was
/// a third of the context's sibling steps.
fn named_children_from(body: Node<'_>, at: usize) -> impl Iterator<Item = Node<'_>> {
    let mut cursor = body.walk();
    let mut next = cursor.goto_first_child_for_byte(at).is_some();
    std::iter::from_fn(move || loop {
        if !next {
            return None;
        }
        let node = cursor.node();
        next = cursor.goto_next_sibling();
        if node.is_named() {
            return Some(node);
        }
    })
}

/// The node naming a definition (`name`, also through `export` and decorators), whose line
/// ends its header.
fn header_name(node: Node<'_>) -> Option<Node<'_>> {
    let inner = node.child_by_field_name("declaration").or_else(|| node.child_by_field_name("definition"));
    inner.unwrap_or(node).child_by_field_name("name")
}

/// The suffix's pieces as text: each after the first on a line of its own, after a blank line
/// where the document had one before what was left out.
fn join_pieces(rope: &Rope, pieces: &[Range<usize>]) -> String {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            let gap = rope.slice(pieces[i - 1].end..piece.start);
            let blank = gap.lines().skip(1).any(|l| l.chars().all(char::is_whitespace) && l.len_chars() > 0);
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.extend(rope.slice(piece.clone()).chunks());
    }
    out
}

/// Whether the innermost container around the cursor is one of [`ITEM_BODIES`], or a Python
/// class's block.
fn between_items(spec: &lang::Spec, chain: &[Node<'_>]) -> bool {
    // A function around the cursor below its container: Python's indentation can put the
    // cursor in a function whose block (in the tree) ended on a line above.
    let Some(i) = chain
        .iter()
        .rposition(|n| spec.is_container(n.kind()) && n.kind() != "ERROR" || spec.functions.contains(&n.kind()))
    else {
        return false;
    };
    let kind = chain[i].kind();
    ITEM_BODIES.contains(&kind) || kind == "block" && i > 0 && chain[i - 1].kind() == "class_definition"
}

/// The value the cursor's member access reaches into: the text before the `.`, `?.` or `->`
/// that the cursor (after any part of a member's name) follows, when it is a name or a name's
/// field (`repo`, `self.users`, `h.store`). A longer chain, a call or an index: none.
fn member_receiver(line_prefix: &str) -> Option<&str> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let before = line_prefix.trim_end_matches(is_name);
    let before = before
        .strip_suffix("?.")
        .or_else(|| before.strip_suffix("->"))
        .or_else(|| before.strip_suffix('.').filter(|b| !b.ends_with('.')))?;
    let start = before.trim_end_matches(|c: char| is_name(c) || c == '.').len();
    let receiver = &before[start..];
    let well_formed = !receiver.is_empty()
        && receiver.split('.').count() <= 2
        && receiver.split('.').all(|part| part.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$'));
    // `a.b.c.` is a longer chain; `f().x.` a call's.
    (well_formed && !before[..start].ends_with(['.', ')', ']', '>'])).then_some(receiver)
}

/// Whether the cursor starts a block in code the server does not parse (Ruby, Kotlin, Lua):
/// the rest of the line is empty (or only closers after a `{`), and the line ends in `{` or is
/// blank and indented deeper than the last line of code above it (the body an editor indents
/// after `def name`, `fun f() =` or `do`). A blank line at the indentation of the lines above
/// continues a run of statements one line at a time, as in a parsed language.
fn unparsed_wants_block(rope: &Rope, line: usize, line_prefix: &str, line_suffix: &str) -> bool {
    let before = line_prefix.trim_end();
    let after = line_suffix.trim();
    if before.ends_with('{') {
        return after.chars().all(|c| matches!(c, '}' | ')' | ']' | ';' | ','));
    }
    if !before.is_empty() || !after.is_empty() {
        return false;
    }
    let above = (0..line).rev().map(|l| rope.line(l)).find(|l| l.chars().any(|c| !c.is_whitespace()));
    above.is_some_and(|l| indent_width(line_prefix) > indent_width(&String::from(l)))
}

/// The cursor within the document and never between a `\r` and its `\n`.
fn clamp_cursor(rope: &Rope, cursor: usize) -> usize {
    let cursor = cursor.min(rope.len_chars());
    cursor.min(line_content_end(rope, rope.char_to_line(cursor)))
}

/// The bytes whose identifiers count as "near the cursor": the enclosing function (at most 40
/// lines above the cursor and 10 below) plus the 8 lines just above the cursor; at the top
/// level, 20 lines above and 3 below. Byte caps keep long lines from widening it.
fn identifier_window(rope: &Rope, spec: &lang::Spec, chain: &[Node<'_>], cursor_byte: usize) -> Range<usize> {
    let line = rope.byte_to_line(cursor_byte);
    let lines = rope.len_lines();
    let line_byte = |l: usize| rope.line_to_byte(l.min(lines));
    let len = rope.len_bytes();
    let near_start = line_byte(line.saturating_sub(8)).max(cursor_byte.saturating_sub(1000));
    match chain.iter().rev().find(|n| spec.functions.contains(&n.kind())) {
        Some(function) => {
            let bound_start = line_byte(line.saturating_sub(40)).max(cursor_byte.saturating_sub(4000));
            let bound_end = line_byte(line + 11).min(cursor_byte + 1500).min(len);
            let start = function.start_byte().max(bound_start).min(near_start);
            let end = function.end_byte().min(bound_end).max(cursor_byte);
            start..end
        }
        None => {
            let start = line_byte(line.saturating_sub(20)).max(cursor_byte.saturating_sub(2500));
            let end = line_byte(line + 4).min(cursor_byte + 600).min(len);
            start..end.max(cursor_byte)
        }
    }
}

/// Looks the nearby names up and keeps the definitions that live in other files.
///
/// What the current file defines outside the identifier window is known from the lookup: the
/// index holds the open documents too (the caller re-indexes them as edits settle), and a name
/// it places in this file is this file's own. Walking this file's definitions instead would
/// cost more than everything else here together: tree-sitter needs about 80 ns per top-level
/// node, so ~200 µs on a 5,000-line file.
///
/// Only definitions in files of the current language's family count: the index holds every
/// language of the workspace, and a common name (`insert`, `name`, `lock`) is defined in most of
/// them.
/// Outside tests, definitions in test files are left out too: code never calls into its tests,
/// and their helpers (`fn completion(…)` in an end-to-end test) share names with everything.
/// So is what the language keeps from this file ([`Reach`]).
fn cross_file(
    names: &nearby::Names,
    path: &str,
    language: Language,
    symbols: &dyn SymbolLookup,
    lineage: Option<&nearby::Lineage>,
    budget: usize,
) -> Vec<Snippet> {
    let family = language.family();
    let in_tests = is_test_path(path);
    let mut found = Vec::new();
    for (name, usage) in nearby::lookup_order(names) {
        let mut defs = symbols.lookup(name);
        defs.retain(|d| {
            d.language.family() == family
                && (in_tests || !d.test)
                && d.reach.reaches(&d.path, path)
                && !(usage.field_only && matches!(d.kind, SymbolKind::Function | SymbolKind::Method))
                && (!usage.path_only || d.kind.is_type())
                && !(usage.imported_only && d.container.is_some())
        });
        let rejected = usage.qualifier.narrow(&mut defs, lineage);
        match usage.qualifier {
            // `Sub.create()` with `create` defined by no `Sub`: one of its bases' (a static
            // method inherited). The bases are looked up only then.
            nearby::Qualifier::By(hash) if defs.is_empty() && !rejected.is_empty() => {
                if let Some(class) = names.types.get(&hash) {
                    let bases = ancestors_of(class, family, symbols);
                    defs = rejected.into_iter().filter(|d| member_of(d, &bases)).collect();
                }
            }
            // `client.send()` with `client: &Client`: `Client`'s `send`, or its bases', where the
            // workspace has one.
            nearby::Qualifier::Typed(hash) if defs.iter().any(|d| d.container.is_some()) => {
                if let Some(class) = names.types.get(&hash) {
                    let own = |d: &SymbolDef| d.container.as_deref() == Some(class.as_str());
                    if defs.iter().any(own) {
                        defs.retain(own);
                    } else {
                        // The bases cost lookups: only when the type itself has no such member.
                        let bases = ancestors_of(class, family, symbols);
                        if defs.iter().any(|d| member_of(d, &bases)) {
                            defs.retain(|d| member_of(d, &bases));
                        }
                    }
                }
            }
            _ => {}
        }
        // The index knows this file too (from disk or from an earlier edit): a name it places
        // here is this file's own.
        if defs.iter().any(|d| &*d.path == path) {
            continue;
        }
        if family == Language::Cpp {
            // A function a header declares is what the including file sees; its definition in a
            // source file says the same again, in other words.
            if defs.iter().any(|d| d.kind == SymbolKind::Function && is_c_header(&d.path)) {
                defs.retain(|d| d.kind != SymbolKind::Function || is_c_header(&d.path));
            }
            follow_typedef_tags(&mut defs, symbols, path);
        }
        if !defs.is_empty() {
            // `client.send()`, `this.client.send()` with nothing said of `client`'s type: the
            // ranking prefers a type the value is named after.
            let hint = match usage.qualifier {
                nearby::Qualifier::Any => names.hints.get(name).cloned(),
                _ => None,
            };
            found.push(nearby::Found { name: name.to_string(), usage, defs, hint });
        }
    }
    nearby::agree_on_receivers(&mut found);
    // The index never holds secret files; another lookup might.
    let mut chosen = nearby::select(found, path, budget);
    chosen.retain(|s| !looks_secret(Path::new(&s.path)));
    chosen
}

/// C's `typedef struct mi_heap_s mi_heap_t;` says nothing of what `heap->` reaches: the struct's
/// body, often in another header, does. For each such typedef among `defs`, the definition of
/// its tag with a body comes along (ranked with the typedef, under the typedef's name).
fn follow_typedef_tags(defs: &mut Vec<SymbolDef>, symbols: &dyn SymbolLookup, path: &str) {
    let tags: Vec<String> = defs
        .iter()
        .filter(|d| d.kind == SymbolKind::Type && !d.signature.contains('{'))
        .filter_map(|d| {
            let rest = d.signature.strip_prefix("typedef ")?;
            let rest = ["struct ", "union ", "enum "].iter().find_map(|k| rest.strip_prefix(k))?;
            let tag = rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
            (!tag.is_empty()).then(|| tag.to_string())
        })
        .collect();
    for tag in tags {
        let bodies = symbols.lookup(&tag).into_iter().filter(|d| {
            matches!(d.kind, SymbolKind::Class | SymbolKind::Enum)
                && d.container.is_none()
                && d.language.family() == Language::Cpp
                && d.signature.contains('{')
                && d.reach.reaches(&d.path, path)
                && &*d.path != path
        });
        for body in bodies {
            if !defs.contains(&body) {
                defs.push(body);
            }
        }
    }
}

/// How many generations of bases [`class_lineage`] follows: deeper hierarchies are rare, and
/// each generation costs a lookup per class.
const MAX_LINEAGE_DEPTH: usize = 4;
/// How many class names a lineage holds at most.
const MAX_LINEAGE: usize = 32;

/// The innermost class around the cursor and its bases, as far as the workspace knows them:
/// the names its header mentions (`class PopupClient extends StandardInteractionClient`), then
/// the names in the headers of those classes' own definitions, found through `symbols`. A
/// header's other names (generic arguments, `implements` lists, Python's `metaclass=`) come
/// along; they only let a few more definitions through. In Rust, the `impl` or `trait` around
/// the cursor stands for the class (`impl Display for Token`: `Display` and `Token`, then
/// `Token`'s own header and a trait's supertraits); in Go, the method's receiver type. `None`
/// outside a class.
fn class_lineage(
    language: Language,
    rope: &Rope,
    chain: &[Node<'_>],
    cursor_byte: usize,
    symbols: &dyn SymbolLookup,
) -> Option<nearby::Lineage> {
    let kinds: &[&str] = match language {
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            &["class_declaration", "abstract_class_declaration", "class"]
        }
        Language::Java => &["class_declaration", "enum_declaration", "record_declaration"],
        Language::CSharp => &["class_declaration", "struct_declaration", "record_declaration"],
        Language::Python => &["class_definition"],
        Language::Cpp => &["class_specifier", "struct_specifier"],
        Language::Rust => &["impl_item", "trait_item"],
        Language::Go => &["method_declaration"],
        Language::Php => &["class_declaration", "trait_declaration", "enum_declaration"],
        Language::Ruby => &["class", "module"],
        Language::Kotlin => &["class_declaration", "object_declaration"],
        // An extension's members are its type's (the index files them under it).
        Language::Swift => &["class_declaration", "protocol_declaration"],
        _ => return None,
    };
    let class = match chain.iter().rev().find(|n| kinds.contains(&n.kind())) {
        Some(class) => *class,
        None if language == Language::Python => python_class_by_indent(rope, chain.first()?, cursor_byte)?,
        // A method defined outside its class (`void Widget::resize(…) { … }`): the class its
        // name is qualified with, and that class's bases.
        None if language == Language::Cpp => {
            let function = chain.iter().rev().find(|n| n.kind() == "function_definition")?;
            let own = cpp_method_class(rope, *function)?;
            let names = lineage_from(vec![own.clone()], language.family(), symbols);
            // A class the workspace does not declare (its header elsewhere) says nothing.
            let strict = symbols.lookup(&own).iter().any(|d| d.kind == SymbolKind::Class);
            return Some(nearby::Lineage { names, own: Some(own), strict });
        }
        None => return None,
    };
    let source = window::Source::of_rope(rope);
    let (header, own) = if language == Language::Go {
        let receiver = class.child_by_field_name("receiver")?.named_child(0)?.child_by_field_name("type")?;
        let own = nearby::written_type(language, source, receiver);
        (window::text_between(rope, receiver.start_byte(), receiver.end_byte()), own)
    } else if language == Language::Kotlin {
        // The name and the supertypes after the `:` (`class A(private val repo: Repo) : Base(),
        // Iface`): the primary constructor's parameter types are no bases.
        symbols::kotlin_body(class)?;
        let name = class.child_by_field_name("name")?;
        let specifiers = class.children(&mut class.walk()).find(|c| c.kind() == "delegation_specifiers");
        let mut header = window::text_between(rope, name.start_byte(), name.end_byte());
        for specifier in specifiers.map(symbols::named_children).unwrap_or_default() {
            let ty = symbols::named_children(specifier).into_iter().find_map(|c| match c.kind() {
                "constructor_invocation" | "explicit_delegation" => c.named_child(0),
                "annotation" => None,
                _ => Some(c),
            });
            if let Some(base) = ty.and_then(|t| nearby::written_type(language, source, t)) {
                header.push(' ');
                header.push_str(&base);
            }
        }
        (header, Some(source.text(name.start_byte(), name.end_byte())))
    } else {
        let body = class.child_by_field_name("body")?;
        let own = match class.kind() {
            "impl_item" => class.child_by_field_name("type").and_then(|t| nearby::written_type(language, source, t)),
            "trait_item" => None,
            // Swift's `extension Outer.Repo`: its type's name.
            "class_declaration" if language == Language::Swift => {
                let name = class.child_by_field_name("name")?;
                match name.kind() {
                    "type_identifier" => Some(source.text(name.start_byte(), name.end_byte())),
                    _ => nearby::written_type(language, source, name),
                }
            }
            _ => class.child_by_field_name("name").map(|n| source.text(n.start_byte(), n.end_byte())),
        };
        (window::text_between(rope, class.start_byte(), body.start_byte()), own)
    };
    let mut frontier = header_names(&header);
    // The traits a PHP class `use`s and the modules a Ruby class `include`s: in its body.
    if matches!(language, Language::Php | Language::Ruby) {
        let fields = fields::class_fields(language, class, source);
        frontier.extend(fields.into_iter().filter(|f| f.embedded).map(|f| f.ty));
    }
    let names = lineage_from(frontier, language.family(), symbols);
    // Rust's traits and Go's embedded library types are not all known (see `Lineage::strict`),
    // nor are a PHP class's library traits and a Ruby class's library modules (`Comparable`);
    // a Ruby method called without a receiver may be a top-level one.
    // A Kotlin class's extension functions are declared anywhere, as are a Swift type's
    // extensions of its library protocols; a method called without a receiver may be a
    // top-level function.
    let strict = !matches!(
        language,
        Language::Rust | Language::Go | Language::Php | Language::Ruby | Language::Kotlin | Language::Swift
    );
    Some(nearby::Lineage { names, own: own.map(|o| o.into_owned()), strict })
}

/// The class a C++ method defined outside it belongs to: `Widget` of `void Widget::resize(…)`,
/// of `Widget *Widget::self()` and of `Box<T>::get`.
fn cpp_method_class(rope: &Rope, function: Node<'_>) -> Option<String> {
    let mut node = function.child_by_field_name("declarator")?;
    for _ in 0..8 {
        node = match node.kind() {
            "function_declarator" | "pointer_declarator" => node.child_by_field_name("declarator")?,
            "reference_declarator" => node.named_child(0)?,
            "qualified_identifier" => {
                let scope = node.child_by_field_name("scope")?;
                let scope = match scope.kind() {
                    "template_type" => scope.child_by_field_name("name")?,
                    _ => scope,
                };
                return (scope.kind() != "qualified_identifier")
                    .then(|| window::text_between(rope, scope.start_byte(), scope.end_byte()));
            }
            _ => return None,
        };
    }
    None
}

/// `frontier` and the names in their headers, through the workspace's classes, for up to
/// [`MAX_LINEAGE_DEPTH`] generations.
fn lineage_from(mut frontier: Vec<String>, family: Language, symbols: &dyn SymbolLookup) -> HashSet<String> {
    let mut lineage = HashSet::new();
    for _ in 0..MAX_LINEAGE_DEPTH {
        let mut next = Vec::new();
        for name in frontier {
            if lineage.len() >= MAX_LINEAGE || !lineage.insert(name.clone()) {
                continue;
            }
            next.extend(bases_of(&name, family, symbols));
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    lineage
}

/// The classes `class` builds on, as far as the workspace knows them (with `class` itself).
fn ancestors_of(class: &str, family: Language, symbols: &dyn SymbolLookup) -> HashSet<String> {
    lineage_from(bases_of(class, family, symbols), family, symbols)
}

/// Whether `def` is a member of one of `classes`.
fn member_of(def: &SymbolDef, classes: &HashSet<String>) -> bool {
    def.container.as_deref().is_some_and(|c| classes.contains(c))
}

/// The names in the headers of the workspace's classes (and interfaces, traits) called `name`.
fn bases_of(name: &str, family: Language, symbols: &dyn SymbolLookup) -> Vec<String> {
    let mut names = Vec::new();
    for def in symbols.lookup(name) {
        let is_class = matches!(def.kind, SymbolKind::Class | SymbolKind::Interface);
        if is_class && def.container.is_none() && def.language.family() == family {
            names.extend(header_names(def.signature.lines().next().unwrap_or_default()));
        }
    }
    // Go writes no bases in a header: what a struct or interface embeds is promoted into it;
    // so are the traits a PHP class uses and the modules a Ruby class includes, in its body.
    if matches!(family, Language::Go | Language::Php | Language::Ruby) {
        names.extend(symbols.embedded(name, family));
    }
    names
}

/// The nodes around a Python cursor by its indentation, when it sits on a blank line's indent
/// after a block's last statement: the tree puts that line outside the block, and so outside
/// its function (whose parameters then read as names to look up) and class, but indented under
/// them it is the block's next line, where typing a new line at a function's end lands. The
/// nodes around the code just before the cursor, as far as they start left of the cursor;
/// `None` where that is not deeper than what the tree says (`chain`).
fn python_indent_chain<'t>(
    language: Language,
    rope: &Rope,
    chain: &[Node<'t>],
    cursor_byte: usize,
) -> Option<Vec<Node<'t>>> {
    if language != Language::Python {
        return None;
    }
    let line_start = rope.line_to_byte(rope.byte_to_line(cursor_byte));
    let column = cursor_byte - line_start;
    if column == 0 || !rope.byte_slice(line_start..cursor_byte).bytes().all(|b| b == b' ' || b == b'\t') {
        return None;
    }
    let mut before = line_start.checked_sub(1)?;
    while rope.byte(before).is_ascii_whitespace() {
        before = before.checked_sub(1)?;
    }
    let scoped: Vec<Node<'t>> = ancestors_at(*chain.first()?, before)
        .into_iter()
        .enumerate()
        .take_while(|(depth, n)| *depth == 0 || n.start_position().column < column)
        .map(|(_, n)| n)
        .collect();
    (scoped.len() > chain.len()).then_some(scoped)
}

/// The class a Python cursor belongs to by its indentation, when the tree does not say: a blank
/// line after a method's last statement lies outside the method's block (and the class's), but
/// indented under them it is the next line of the method. The class of the code just before
/// the cursor, if it starts left of the cursor.
fn python_class_by_indent<'t>(rope: &Rope, root: &Node<'t>, cursor_byte: usize) -> Option<Node<'t>> {
    let line_start = rope.line_to_byte(rope.byte_to_line(cursor_byte));
    let column = cursor_byte - line_start;
    let mut before = cursor_byte.checked_sub(1)?;
    while rope.byte(before).is_ascii_whitespace() {
        before = before.checked_sub(1)?;
    }
    let chain = ancestors_at(*root, before);
    chain.into_iter().rev().find(|n| n.kind() == "class_definition" && n.start_position().column < column)
}

/// The identifiers a class header mentions, up to its body's opening (`{` or Python's `:`).
fn header_names(header: &str) -> Vec<String> {
    let header = header.split(['{']).next().unwrap_or(header);
    header
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$'))
        .map(str::to_string)
        .collect()
}

/// A directory as a package: Maven's and Gradle's `src/test/java/…` is the package of
/// `src/main/java/…` (and so for Kotlin sources).
fn package_dir(dir: &str) -> std::borrow::Cow<'_, str> {
    for test_root in ["src/test/java", "src/test/kotlin"] {
        if let Some(at) = dir.find(test_root) {
            let boundary = at == 0 || dir[..at].ends_with(['/', '\\']);
            let rest = &dir[at + test_root.len()..];
            if boundary && (rest.is_empty() || rest.starts_with(['/', '\\'])) {
                return format!("{}src/main/{}{rest}", &dir[..at], &test_root["src/test/".len()..]).into();
            }
        }
    }
    dir.into()
}

fn is_c_header(path: &str) -> bool {
    let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    matches!(ext, "h" | "hh" | "hpp" | "hxx" | "h++" | "inl" | "ipp" | "tpp")
}

/// Whether a path (workspace-relative or absolute) is a test's, by the conventions of the
/// languages with a grammar: a `test`, `tests`, `__tests__`, `spec` or `testdata` directory (and
/// .NET's `*.Tests` projects), and `*_test.go`, `test_*.py`, `*_test.py`, `conftest.py`,
/// `*.test.ts` and `*.spec.ts` (any JavaScript or TypeScript extension), `*Test.java`,
/// `*Tests.cs`, `*_test.cc` and `*_unittest.cc` (any C or C++ extension), and a Swift package's
/// `Tests/` and `*Tests.swift`. Names that merely contain "test" (`testing/`, `latest.rs`) are
/// not tests.
pub(crate) fn is_test_path(path: &str) -> bool {
    let (dirs, file) = path.rsplit_once(['/', '\\']).unwrap_or(("", path));
    let test_dir = |d: &str| {
        matches!(d, "test" | "tests" | "__tests__" | "spec" | "testdata")
            || d.ends_with(".Tests")
            || d.ends_with(".Test")
    };
    if dirs.split(['/', '\\']).any(test_dir) {
        return true;
    }
    let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    match ext {
        "go" => stem.ends_with("_test"),
        "py" | "pyi" => stem.starts_with("test_") || stem.ends_with("_test") || stem == "conftest",
        "ts" | "tsx" | "mts" | "cts" | "js" | "jsx" | "mjs" | "cjs" => {
            stem.ends_with(".test") || stem.ends_with(".spec")
        }
        "java" | "kt" => stem.len() > 4 && (stem.ends_with("Test") || stem.ends_with("Tests") || stem.ends_with("IT")),
        "cs" => stem.len() > 4 && (stem.ends_with("Test") || stem.ends_with("Tests")),
        "swift" => {
            stem.len() > 5 && (stem.ends_with("Tests") || stem.ends_with("Test"))
                || dirs.split(['/', '\\']).any(|d| d == "Tests")
        }
        "c" | "cc" | "cpp" | "cxx" | "c++" => {
            stem.ends_with("_test")
                || stem.ends_with("_tests")
                || stem.ends_with("_unittest")
                || stem.starts_with("test_")
        }
        _ => false,
    }
}

/// Recent edits of other, non-secret files, most recent first, within `budget` chars. An edit
/// that does not fit whole keeps its first lines when a useful part fits, and ends the list.
fn pick_recent(recent: &[Snippet], this_file: &[&str], budget: usize) -> Vec<Snippet> {
    let mut left = budget;
    let mut out = Vec::new();
    for snippet in recent {
        if this_file.contains(&snippet.path.as_str())
            || crate::secrets::uri_looks_secret(&snippet.path)
            || snippet.text.trim().is_empty()
        {
            continue;
        }
        let overhead = snippet.path.chars().count() + nearby::SNIPPET_OVERHEAD;
        let cost = snippet.text.chars().count() + overhead;
        if cost <= left {
            left -= cost;
            out.push(snippet.clone());
            continue;
        }
        let room = left.saturating_sub(overhead);
        let mut text = String::new();
        for line in snippet.text.lines() {
            if text.chars().count() + line.chars().count() + 1 > room {
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
        if text.trim().len() >= 40 {
            out.push(Snippet { text: text.trim_end().to_string(), ..snippet.clone() });
        }
        break;
    }
    out
}

/// The context as JSON, for `kimi-lsp prompt` and logs at debug level. Holds the document's
/// text: never log it at a level that is on by default.
pub fn context_to_debug_json(ctx: &CompletionContext) -> Value {
    let snippets = |list: &[Snippet]| -> Vec<Value> {
        list.iter()
            .map(|s| {
                let why = match &s.why {
                    SnippetKind::Definition { symbol } => json!({ "definition": symbol }),
                    SnippetKind::RecentEdit => json!("recent_edit"),
                    SnippetKind::Similar => json!("similar"),
                };
                json!({ "path": s.path, "why": why, "text": s.text })
            })
            .collect()
    };
    json!({
        "language": ctx.language_name,
        "path": ctx.path,
        "multiline": ctx.multiline,
        "betweenItems": ctx.between_items,
        "prefix": ctx.prefix,
        "suffix": ctx.suffix,
        "line_prefix": ctx.line_prefix,
        "line_suffix": ctx.line_suffix,
        "imports": ctx.imports,
        "enclosing": ctx.enclosing,
        "cross_file": snippets(&ctx.cross_file),
        "recent_edits": snippets(&ctx.recent_edits),
        "similar": snippets(&ctx.similar),
    })
}

/// The most bytes of a selection whose names [`definitions_used_in`] looks up: a selection of a
/// whole large file must not cost a walk of all of it.
pub const MAX_SELECTION_WINDOW_BYTES: usize = 20_000;

/// Definitions, from other files, of the names used in `chars` (a selection: char indices,
/// clamped to the document), best first, within `budget` chars. The same lookup and ranking as
/// the cross-file part of [`gather`], over the selection instead of a window around the cursor;
/// only its first [`MAX_SELECTION_WINDOW_BYTES`] count. Empty for plain text and documents
/// without a tree.
pub fn definitions_used_in(
    doc: &DocumentSnapshot,
    chars: Range<usize>,
    symbols: &dyn SymbolLookup,
    budget: usize,
) -> Vec<Snippet> {
    let (Some(tree), Some(spec)) = (doc.tree(), lang::spec(doc.language())) else {
        return Vec::new();
    };
    let rope = doc.rope();
    let end = chars.end.min(rope.len_chars());
    let start = chars.start.min(end);
    let start_byte = rope.char_to_byte(start);
    let end_byte = rope.char_to_byte(end).min(start_byte + MAX_SELECTION_WINDOW_BYTES);
    // `nearby::collect` leaves out the leaf the cursor touches (a name being typed). A selection
    // has no such name: the "cursor" goes just before it (or after it, at the file's start), where
    // a leaf it touches lies outside the selection or is a name the selection cuts in two.
    let cursor_byte = if start_byte > 0 { start_byte - 1 } else { end_byte + 1 };
    let root = tree.root_node();
    let source = window::Source::of_rope(rope);
    let cursor_row = nearby::tree_row(&ancestors_at(root, cursor_byte), source, cursor_byte);
    let mut names = nearby::collect(doc.language(), spec, source, root, start_byte..end_byte, cursor_byte, cursor_row);
    names.bind_modules(scope::top_imports(doc.language(), spec, rope, root, doc.top_imports()));
    let through_self = names.used.values().any(|u| u.qualifier == nearby::Qualifier::OwnClass);
    let lineage = through_self
        .then(|| class_lineage(doc.language(), rope, &ancestors_at(root, start_byte), start_byte, symbols))
        .flatten();
    cross_file(&names, &symbols.display_path(doc.uri()), doc.language(), symbols, lineage.as_ref(), budget)
}

#[cfg(test)]
mod tests;
