//! The cross-file context: names used near the cursor that the current file does not define,
//! looked up in the workspace, ranked and cut to a budget.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};
use tree_sitter::Node;

use super::chain::{fields_need_no_receiver, held, value_chain, Chain, Held, Lookups, Root, Step, MAP, SEQ};
use super::lang::Spec;
use super::symbols::named_children;
use super::window::{goto_child_ending_after, Source};
use super::{Snippet, SnippetKind, SymbolDef, SymbolKind};
use crate::text::{Language, Rename, TopImports};

/// How many distinct names are looked up at most: the nearest and most frequent ones.
const MAX_LOOKUPS: usize = 40;
/// How many definitions of one name are kept: more means the name is ambiguous, and the
/// budget is better spent on other names.
const MAX_DEFS_PER_NAME: usize = 2;
/// A call whose function the workspace defines more often than this says nothing of its type.
pub(crate) const MAX_DEFS_PER_CALL: usize = 8;
/// Up to how many definitions of a name [`base_counts`] compares with each other.
const MAX_BASE_SCAN: usize = 16;
/// What a snippet costs beyond its text in the prompt (its tags and path), in chars.
pub(crate) const SNIPPET_OVERHEAD: usize = 24;

/// How a name is used in the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Use {
    pub count: u32,
    /// Lines between the cursor and the nearest use.
    pub distance: u32,
    /// Seen only after a `.` (a field or method): weaker evidence than a bare name or a type.
    pub member_only: bool,
    /// Seen only as a field, never called (`list.length`, `Config { observer: None }`), in a
    /// language where a method is only ever called: a function of that name is something else.
    pub field_only: bool,
    /// Seen only as the qualifier of a Rust path (`error::url_bad_scheme`, `Entry::Vacant`):
    /// a module or a type, never a function or a value of that name.
    pub path_only: bool,
    /// Seen only in a Rust `use` item: what it imports is a free item, a type or a module,
    /// never a method of an impl or a trait (`use crate::client::send` is no `Conn::send`).
    pub imported_only: bool,
    /// What qualifies every use of the name with a type or a module (`Math.max`, `Vec::new`).
    pub qualifier: Qualifier,
    /// The name of the value every use is a member of (`client` of `client.send()` and of
    /// `this.client.send()`): see [`Names::hints`].
    pub receiver_word: ReceiverWord,
}

/// Where [`Use::receiver_word`] is in the source, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReceiverWord {
    /// Some use is no member, or a member of something other than a name.
    None,
    /// Byte range of the name.
    At(u32, u32),
    /// Uses are members of values of different names.
    Mixed,
}

/// The qualifiers a name was seen with. A method of one type is not what `Other::name` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Qualifier {
    /// Every use is qualified by the same type or module; its name's [`name_hash`]. A hash keeps
    /// [`Use`] a plain copyable value; two names that collide only let a definition through.
    By(u64),
    /// Every use is qualified by the same Rust module (`error::url_bad_scheme`,
    /// `std::io::Error`): the hash of the module's name. Only a free item of a file that module
    /// names (a directory or the file itself) can be meant: `io::Error` is not the crate's own
    /// `Error` in `src/error.rs`.
    Module(u64),
    /// Every use is a member of the same plain name (`np.array`, `vscode.window`, `fmt.Println`)
    /// in TypeScript, JavaScript, Python or Go: its hash. [`Names::bind_modules`] turns it into
    /// [`Qualifier::Module`] when an import binds that name to a module, else into
    /// [`Qualifier::Any`] (a value's member: its type is unknown).
    Receiver(u64),
    /// Every use is a member of a name a Python `from pkg import name` binds, which is a module
    /// as often as a definition: the hash of the name imported. Where the workspace defines the
    /// member in files that name stands for (`from app import helpers; helpers.clean()`), those
    /// are meant; elsewhere it is a value's member, as [`Qualifier::Any`].
    PreferModule(u64),
    /// Every use is a member of a local whose declaration gives its type (`client: &Client`,
    /// `HttpClient client`, `req: Request`): the type's name hash. The type's own members and
    /// its bases' are meant where the workspace has any; else (a trait's method, a library
    /// type's) any, as [`Qualifier::Any`].
    Typed(u64),
    /// Every use is through the object itself (`this.name`, `self.name`, a Go method's
    /// receiver): a member of the class around the cursor or of one of its bases.
    OwnClass,
    /// Every use is a member of the same field of the object itself (`this.repo.find()`,
    /// `self.client.send()`, a Go receiver's `s.store.Get()`), or in Java, C# and C++ of the
    /// same plain name that no local binds and may be a field (`repo.find()`): the field's name
    /// hash (its name in [`Names::fields`]). [`Names::bind_fields`] makes it [`Qualifier::Typed`]
    /// where the class around the cursor, or one of its bases, declares the field's type, else
    /// [`Qualifier::Any`].
    SelfField(u64),
    /// Every use is a member of the same value reached through calls or fields
    /// (`self.client.get(url).send()`, `repo.open()?.read()`): the hash of its [`Chain`] in
    /// [`Names::chains`]. [`Names::bind_chains`] makes it [`Qualifier::Typed`] where the
    /// workspace's declarations say what the value is, else [`Qualifier::Any`].
    Chain(u64),
    /// Some use is unqualified, qualified by a value (`list.len()`), or by another type.
    Any,
}

impl Qualifier {
    fn and(self, other: Qualifier) -> Qualifier {
        if self == other {
            self
        } else {
            Qualifier::Any
        }
    }

    /// Keeps the definitions among `defs` this qualifier can mean and returns the others.
    /// Definitions outside any type always can, but for [`Qualifier::OwnClass`] and the module
    /// qualifiers: `React.useState` names a module's function, and `Foo::bar` can name a free
    /// function in module `Foo`, but `this.render()` never a free `render`. `lineage` is the
    /// class around the cursor and its bases ([`Lineage`]); unknown (`None`), anything goes.
    pub(crate) fn narrow(self, defs: &mut Vec<SymbolDef>, lineage: Option<&Lineage>) -> Vec<SymbolDef> {
        let in_module = |d: &SymbolDef, hash: u64| {
            let inline = d.module.as_deref().into_iter().flat_map(|m| m.split('/'));
            d.container.is_none() && module_names(&d.path).chain(inline).any(|m| name_hash(m) == hash)
        };
        let in_lineage = |d: &SymbolDef, lineage: &Lineage| d.container.as_deref().is_some_and(|c| lineage.contains(c));
        let keep: &dyn Fn(&SymbolDef) -> bool = match (self, lineage) {
            (Qualifier::By(hash), _) => &move |d| d.container.as_deref().is_none_or(|c| name_hash(c) == hash),
            (Qualifier::Module(hash), _) => &move |d| in_module(d, hash),
            (Qualifier::PreferModule(hash), _) if defs.iter().any(|d| in_module(d, hash)) => {
                &move |d| in_module(d, hash)
            }
            (Qualifier::OwnClass, Some(lineage)) if lineage.strict || defs.iter().any(|d| in_lineage(d, lineage)) => {
                &move |d| in_lineage(d, lineage)
            }
            _ => return Vec::new(),
        };
        let (kept, rejected) = std::mem::take(defs).into_iter().partition(|d| keep(d));
        *defs = kept;
        rejected
    }
}

/// The class around the cursor and the classes (or traits) it builds on, as far as the
/// workspace knows them: what `this.x` and `self.x` can reach.
#[derive(Debug, Default)]
pub(crate) struct Lineage {
    pub names: HashSet<String>,
    /// The class itself, among `names`: the type of a Rust `impl` or a Go method's receiver,
    /// none for a trait.
    pub own: Option<String>,
    /// The names hold every place a member can come from. Not so in Rust, where a method may
    /// come from any trait the type implements anywhere, nor in Go, where an embedded type may
    /// be a library's, which the workspace does not know: there, a member found in none of
    /// them may still be meant.
    pub strict: bool,
}

impl Lineage {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// The Rust modules a file's path can stand for: its directories and its stem (`src/async_impl/
/// body.rs`: `src`, `async_impl`, `body`). A re-export (`pub use body::Body` in `async_impl`)
/// is reached through a directory.
fn module_names(path: &str) -> impl Iterator<Item = &str> {
    let mut parts = path.split(['/', '\\']).peekable();
    std::iter::from_fn(move || {
        let part = parts.next()?;
        let last = parts.peek().is_none();
        Some(if last { part.rsplit_once('.').map_or(part, |(stem, _)| stem) } else { part })
    })
}

/// A stable hash of a name, for [`Qualifier`].
pub(crate) fn name_hash(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    name.hash(&mut hasher);
    hasher.finish()
}

/// Names used and names bound in the window. The maps hash with Fx, not SipHash: they are
/// hashed for every name of the window, and their keys are the user's own names.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub used: FxHashMap<String, Use>,
    /// Parameters, `let` bindings, assignments: locals that shadow anything of the same name.
    pub bound: FxHashSet<String>,
    /// The names behind the hashes of [`Qualifier::By`], for a type's bases to be looked up
    /// when none of its own members is the one used (`Sub.parentStatic()`).
    pub types: FxHashMap<u64, String>,
    /// Locals whose declaration gives their type: the local's name hash → the type's (its name
    /// in `types`).
    pub local_types: FxHashMap<u64, u64>,
    /// For a name whose every use is a member of a value of one name, that name in lower case
    /// (`send` → `client`): values are mostly named after their types, so of several types
    /// defining `send`, [`select`] ranks one [`named_after`] it first.
    pub hints: FxHashMap<String, String>,
    /// Locals whose value is a call or a member (`let repo = open_repo()?`, `let b =
    /// self.client.get(url)`), its type not written: the local's name hash → the value's
    /// chain. See [`Names::bind_calls`].
    pub local_chains: FxHashMap<u64, Chain>,
    /// The chains behind the hashes of [`Qualifier::Chain`].
    pub chains: FxHashMap<u64, Chain>,
    /// For a name used as a member of values reached by different chains, the chains beside
    /// the one its [`Qualifier::Chain`] holds: the use is typed only if they all agree.
    pub more_chains: FxHashMap<String, Vec<u64>>,
    /// The names behind the hashes of [`Qualifier::SelfField`] and, in Java, C# and C++, of
    /// [`Qualifier::Receiver`]: fields whose declared type [`Names::bind_fields`] looks up.
    pub fields: FxHashMap<u64, String>,
    /// This file's imports under another name, alias → the definition's own name (see
    /// [`Names::bind_renames`]): a type the file's declarations write by its alias (a field's
    /// `HttpClient`) is the definition's.
    pub renames: FxHashMap<String, String>,
}

impl Names {
    /// `ty` by the name its definition has, where this file imports it under another.
    /// The type named `ty` counts as used right at the cursor: see [`Names::receiver_type`].
    pub(crate) fn use_type_at_cursor(&mut self, ty: String) {
        if self.bound.contains(&ty) {
            return;
        }
        let usage = self.used.entry(ty).or_insert(Use {
            count: 0,
            distance: 0,
            member_only: false,
            field_only: false,
            path_only: false,
            imported_only: false,
            qualifier: Qualifier::Any,
            receiver_word: ReceiverWord::None,
        });
        usage.count += 1;
        usage.distance = 0;
        usage.member_only = false;
        usage.field_only = false;
        usage.imported_only = false;
    }

    pub(crate) fn unaliased(&self, ty: String) -> String {
        unaliased(&self.renames, ty)
    }

    /// The parameters of a function around the cursor that starts above the window: in a long
    /// method, a closure's body near the cursor uses the method's parameters
    /// (`server.onChange(…)` in a constructor taking `server`), which the window's walk never
    /// sees bound.
    fn bind_parameters(&mut self, language: Language, spec: &Spec, source: Source<'_>, function: Node<'_>) {
        // Swift's parameters are the function's own children, in no list.
        if language == Language::Swift {
            let parameters: Vec<Node<'_>> =
                named_children(function).into_iter().filter(|c| c.kind() == "parameter").collect();
            if let (Some(first), Some(last)) = (parameters.first(), parameters.last()) {
                let range = first.start_byte()..last.end_byte();
                self.bind_from(collect_bindings(language, spec, source, function, range));
            }
            return;
        }
        for field in ["parameters", "parameter", "receiver"] {
            let list = match function.child_by_field_name(field) {
                Some(list) => list,
                // C and C++ keep them in the function's declarator (`int *f(int x)`).
                None if field == "parameters" && matches!(language, Language::C | Language::Cpp) => {
                    let Some(list) = c_parameters(function) else { continue };
                    list
                }
                // Kotlin's parameter lists have no field.
                None if field == "parameters" && language == Language::Kotlin => {
                    let kinds = ["function_value_parameters", "lambda_parameters"];
                    let Some(list) = named_children(function).into_iter().find(|c| kinds.contains(&c.kind())) else {
                        continue;
                    };
                    list
                }
                None => continue,
            };
            if field == "parameters" && language.kind_of(list) == "identifier" {
                // Java's `x -> …`: the lone parameter is the field's own leaf.
                self.bound.insert(source.text(list.start_byte(), list.end_byte()).into_owned());
                continue;
            }
            let range = list.start_byte()..list.end_byte();
            // A single parameter is its own node: walk from the function, over its range.
            let root = if field == "parameter" { function } else { list };
            self.bind_from(collect_bindings(language, spec, source, root, range));
        }
    }

    /// Locals declared above the window, in the functions around the cursor: their parameters
    /// ([`Names::bind_parameters`]), the statements of the blocks around the cursor (`let client
    /// = Client::new();` fifty lines up), and the headers of the loops, arms and conditions
    /// around it (`for item in items`, `Some(v) =>`).
    /// Without them, a local's name is looked up as a free name (an unrelated `request()` for a
    /// local `request`), and its declared type is unknown. Only declarations are read from the
    /// blocks, and never an earlier branch's or arm's body, whose locals are out of scope: the
    /// cost follows the statements above, not the nodes.
    pub(crate) fn bind_outer_locals(
        &mut self,
        language: Language,
        spec: &Spec,
        source: Source<'_>,
        chain: &[Node<'_>],
        window_start: usize,
    ) {
        let Some(outermost) =
            chain.iter().position(|n| n.start_byte() < window_start && spec.functions.contains(&language.kind_of(n)))
        else {
            return;
        };
        // A Ruby line after a body's last statement is past the `body_statement`, still in its
        // method (or block): the statements above it are the body's.
        let mut chain = std::borrow::Cow::Borrowed(chain);
        if language == Language::Ruby {
            if let Some(body) = chain.last().and_then(|n| n.child_by_field_name("body")) {
                chain.to_mut().push(body);
            }
        }
        for (i, &node) in chain.iter().enumerate().skip(outermost) {
            // Where the part of `node` the cursor is in starts.
            let next = chain.get(i + 1).map_or(usize::MAX, |n| n.start_byte());
            if node.start_byte() >= window_start {
                break;
            }
            if spec.functions.contains(&language.kind_of(node)) {
                self.bind_parameters(language, spec, source, node);
                continue;
            }
            let block = BLOCKS.contains(&language.kind_of(node));
            if !block && !HEADERS.contains(&language.kind_of(node)) {
                continue;
            }
            let mut cursor = node.walk();
            if !cursor.goto_first_child() {
                continue;
            }
            // Python's `if isinstance(repo, Repo):` and TypeScript's `if (repo instanceof Repo)`
            // narrow `repo` in the body only, not in an `elif` or `else` after it.
            if matches!(language, Language::Python | Language::TypeScript | Language::Tsx | Language::JavaScript)
                && language.kind_of(node) == "if_statement"
                && match next {
                    // The cursor past the last block, in no child of its own: the last branch's.
                    usize::MAX => node.child_by_field_name("alternative").is_some(),
                    next => node.child_by_field_name("consequence").is_none_or(|c| c.start_byte() != next),
                }
            {
                continue;
            }
            if !block {
                // A header (`for item in items`, `Some(v) =>`, `catch (e)`), up to the first
                // block: an earlier branch's body is out of scope.
                let mut end = next.min(window_start).min(node.start_byte() + MAX_BINDING_BYTES);
                loop {
                    let child = cursor.node();
                    if child.start_byte() >= end {
                        break;
                    }
                    if BLOCKS.contains(&language.kind_of(child)) {
                        end = child.start_byte();
                        break;
                    }
                    if !cursor.goto_next_sibling() {
                        break;
                    }
                }
                self.bind_from(collect_bindings(language, spec, source, node, node.start_byte()..end));
                continue;
            }
            loop {
                let child = cursor.node();
                // Go's block holds its statements in a list, which the chain can skip (a cursor
                // after the last statement).
                if language.kind_of(child) == "statement_list" && child.start_byte() < next.min(window_start) {
                    if cursor.goto_first_child() {
                        continue;
                    }
                    break;
                }
                if child.start_byte() >= next || child.end_byte() > window_start {
                    break;
                }
                if declares(language, child) {
                    // What it binds comes before its value, whose names are not needed (its
                    // type is read from the declaration, not from the walk).
                    let end = value_start(language, child).unwrap_or(child.end_byte());
                    let range = child.start_byte()..end.min(child.start_byte() + MAX_BINDING_BYTES);
                    self.bind_from(collect_bindings(language, spec, source, child, range));
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }

    /// Takes the locals `found` binds, and what their declarations say of their types.
    fn bind_from(&mut self, found: Names) {
        self.bound.extend(found.bound);
        self.local_types.extend(found.local_types);
        self.local_chains.extend(found.local_chains);
        for (hash, name) in found.types {
            self.types.entry(hash).or_insert(name);
        }
    }

    /// A name an import binds under another name (`use crate::proxy::Matcher as ProxyMatcher`,
    /// `import { Client as HttpClient }`) is looked up, and stands for a type, by the name its
    /// definition has: no definition is named `ProxyMatcher`. A local of the alias's name
    /// shadows the import. Call before anything types a chain (`ProxyMatcher::new()`).
    pub(crate) fn bind_renames(&mut self, renames: &[Rename]) {
        for Rename { alias, name, module } in renames {
            if self.bound.contains(alias) {
                continue;
            }
            self.renames.insert(alias.clone(), name.clone());
            if let Some(mut usage) = self.used.remove(alias) {
                // Two imports may rename two definitions of one name (`AccountInfo as
                // NaaAccountInfo`, `AccountInfo as MsalAccountInfo`): the module's is meant.
                if let (Qualifier::Any, Some(module)) = (usage.qualifier, module) {
                    usage.qualifier = Qualifier::PreferModule(name_hash(module));
                }
                match self.used.get_mut(name) {
                    Some(known) => {
                        known.count += usage.count;
                        known.distance = known.distance.min(usage.distance);
                        // The import's own `{ AccountInfo as … }` is a use of the name too.
                        if let (Qualifier::Any, Qualifier::PreferModule(_)) = (known.qualifier, usage.qualifier) {
                            known.qualifier = usage.qualifier;
                        }
                    }
                    None => {
                        self.used.insert(name.clone(), usage);
                    }
                }
            }
            let (from, to) = (name_hash(alias), name_hash(name));
            if let Some(ty) = self.types.get_mut(&from) {
                name.clone_into(ty);
            }
            // `ProxyMatcher::new()`: a static member is matched by its container's name.
            if self.used.values().any(|u| u.qualifier == Qualifier::By(from)) {
                self.types.entry(to).or_insert_with(|| name.clone());
                for usage in self.used.values_mut() {
                    if usage.qualifier == Qualifier::By(from) {
                        usage.qualifier = Qualifier::By(to);
                    }
                }
            }
            for chain in self.chains.values_mut().chain(self.local_chains.values_mut()) {
                if let Root::Type(root) | Root::Call(root) = &mut chain.root {
                    if root == alias {
                        name.clone_into(root);
                    }
                }
            }
        }
    }

    /// Names the file's imports bind to whole modules are locals too: see
    /// `scope::module_names`.
    /// A member of a module an import names whole is that module's (see [`Qualifier::Receiver`]):
    /// `np.array` is numpy's, not the workspace's `array`; `S.User` and `Events.emit` with
    /// `import * as S from "./schema"` and `import * as Events from "./events"` are the `User`
    /// of a `schema` file and the `emit` of an `events` file (a capitalised alias reads as a
    /// class until here). A member of a name `from pkg import name` binds becomes
    /// [`Qualifier::PreferModule`]. A member of a local whose type is declared is that type's
    /// ([`Qualifier::Typed`]): a local shadows a module of its name.
    pub(crate) fn bind_modules(&mut self, top: &TopImports) {
        for (alias, _) in &top.modules {
            if self.used.contains_key(alias) && !self.bound.contains(alias) {
                self.bound.insert(alias.clone());
            }
        }
        let by_alias: HashMap<u64, u64> =
            top.modules.iter().map(|(alias, module)| (name_hash(alias), name_hash(module))).collect();
        let maybe: HashMap<u64, u64> =
            top.maybe_modules.iter().map(|(alias, name)| (name_hash(alias), name_hash(name))).collect();
        for usage in self.used.values_mut() {
            usage.qualifier = match usage.qualifier {
                Qualifier::Receiver(receiver) if self.local_types.contains_key(&receiver) => {
                    typed_qualifier(&self.types, self.local_types[&receiver])
                }
                Qualifier::Receiver(receiver) => match (by_alias.get(&receiver), maybe.get(&receiver)) {
                    (Some(module), _) => Qualifier::Module(*module),
                    (None, Some(name)) => Qualifier::PreferModule(*name),
                    // Java's, C#'s and C++'s fields need no `this.`: left for `bind_fields`.
                    (None, None) if self.fields.get(&receiver).is_some_and(|name| !self.bound.contains(name)) => {
                        Qualifier::SelfField(receiver)
                    }
                    (None, None) => Qualifier::Any,
                },
                Qualifier::By(alias) if by_alias.contains_key(&alias) => Qualifier::Module(by_alias[&alias]),
                other => other,
            };
        }
    }
}

impl Names {
    /// Gives each [`Qualifier::SelfField`] the type the field is declared with in the class
    /// around the cursor (`lineage`'s own) or, failing that, in one of its bases, as the index
    /// knows them: [`Qualifier::Typed`]. A field no class declares a type for, or with no class
    /// around the cursor, is [`Qualifier::Any`], where the value's name still ranks.
    pub(crate) fn bind_fields(&mut self, lookups: &Lookups<'_>) {
        if !self.used.values().any(|u| matches!(u.qualifier, Qualifier::SelfField(_))) {
            return;
        }
        let classes = lookups.own_classes();
        let mut known: FxHashMap<u64, Option<u64>> = FxHashMap::default();
        for usage in self.used.values_mut() {
            let Qualifier::SelfField(field) = usage.qualifier else { continue };
            let typed = *known.entry(field).or_insert_with(|| {
                let name = self.fields.get(&field)?;
                let ty = classes.iter().find_map(|class| lookups.symbols.field_type(class, name, lookups.family))?;
                let ty = unaliased(&self.renames, ty);
                let hash = name_hash(&ty);
                self.types.entry(hash).or_insert(ty);
                Some(hash)
            });
            usage.qualifier = typed.map_or(Qualifier::Any, |hash| typed_qualifier(&self.types, hash));
        }
    }
}

/// See [`Names::unaliased`].
fn unaliased(renames: &FxHashMap<String, String>, ty: String) -> String {
    if renames.is_empty() {
        return ty;
    }
    // `[]HttpClient`: a collection of the definition's.
    let (holds, element) = held(&ty);
    match (renames.get(element), holds) {
        (None, _) => ty,
        (Some(name), Held::One) => name.clone(),
        (Some(name), Held::Seq) => format!("{SEQ}{name}"),
        (Some(name), Held::Map) => format!("{MAP}{name}"),
    }
}

/// [`Qualifier::Typed`] for the type `types` holds under `hash`; [`Qualifier::Any`] for a
/// collection (`[]Client`): `clients.push(c)` is the library's, which the workspace does not
/// define, and a member of that name elsewhere must not be ruled out.
pub(crate) fn typed_qualifier(types: &FxHashMap<u64, String>, hash: u64) -> Qualifier {
    match types.get(&hash).map(|ty| held(ty).0) {
        Some(Held::One) => Qualifier::Typed(hash),
        _ => Qualifier::Any,
    }
}

/// The kinds whose children are statements (or arms, or cases): in scope at the cursor are
/// only the declarations among them.
const BLOCKS: &[&str] = &[
    "block",
    "statement_block",
    "compound_statement",
    "statement_list",
    "match_block",
    "switch_body",
    "switch_block",
    "expression_switch_statement",
    "type_switch_statement",
    "switch_section",
    // Java's `case Repo repo: …` statements.
    "switch_block_statement_group",
    "else_clause",
    "declaration_list",
    "class_body",
    // Ruby's method body.
    "body_statement",
    // Swift's blocks.
    "statements",
];

/// The nodes whose header (the part before their first block) binds locals for what follows
/// it: loops, conditions that bind (`if let`, `while let`, Go's `if x := …;`), match arms, handlers,
/// `with`/`using` statements, switches on a type.
const HEADERS: &[&str] = &[
    "for_expression",
    "while_expression",
    "if_expression",
    "match_arm",
    "for_statement",
    "for_in_statement",
    "enhanced_for_statement",
    "foreach_statement",
    "for_range_loop",
    "if_statement",
    // Swift's `while let line = reader.next()`.
    "while_statement",
    "catch_clause",
    "except_clause",
    "with_statement",
    "using_statement",
    "try_with_resources_statement",
    // Java's `case Repo repo -> { … }`.
    "switch_rule",
    // Python's `elif isinstance(repo, Repo):`.
    "elif_clause",
];

/// How much of a declaration or a header is read for its bindings: they come first, and a
/// long initializer (a builder chain over a hundred lines) would cost a walk of every node.
const MAX_BINDING_BYTES: usize = 200;

/// Where the value of a declaration binding one name starts: `let x = …`, `const x = …`,
/// `Repo r = …`, `x := …`, Python's `x = …`.
fn value_start(language: Language, statement: Node<'_>) -> Option<usize> {
    let value = match language.kind_of(statement) {
        "let_declaration" => child(language, statement, GrammarField::Value),
        "short_var_declaration" => child(language, statement, GrammarField::Right),
        "expression_statement" => child(language, statement.named_child(0)?, GrammarField::Right),
        "assignment" if language == Language::Ruby => child(language, statement, GrammarField::Right),
        "property_declaration" if language == Language::Kotlin => kotlin_initializer(statement),
        "property_declaration" if language == Language::Swift => child(language, statement, GrammarField::Value),
        // A `guard`'s bindings are its conditions': its `else` block binds nothing outside it.
        "guard_statement" => named_children(statement).into_iter().find(|c| language.kind_of(c) == "else"),
        "lexical_declaration" | "variable_declaration" | "local_variable_declaration"
            if statement.named_child_count() <= 2 =>
        {
            let declarator = statement.named_child(statement.named_child_count() - 1)?;
            child(language, declarator, GrammarField::Value)
        }
        _ => None,
    }?;
    Some(value.start_byte())
}

/// The value after a Kotlin declaration's `=` (`val repo = UserRepository(db)`): the grammar
/// gives it no field.
pub(crate) fn kotlin_initializer(declaration: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = declaration.walk();
    let mut children = declaration.children(&mut cursor);
    children.find(|c| c.kind() == "=")?;
    children.find(|c| c.is_named())
}

/// A Kotlin declaration's written type (`repo: UserRepository?` of a parameter, a property
/// or a constructor's property), which the grammar gives no field: its first child of a type's
/// kind.
pub(crate) fn kotlin_type(declaration: Node<'_>) -> Option<Node<'_>> {
    named_children(declaration).into_iter().find(|c| KOTLIN_TYPES.contains(&c.kind()))
}

/// The kinds of Kotlin's types (its `type` is a supertype, never a node of its own).
pub(crate) const KOTLIN_TYPES: &[&str] =
    &["user_type", "nullable_type", "non_nullable_type", "parenthesized_type", "function_type"];

/// Whether a statement declares locals: `let`, `const`/`let`/`var`, Java's and C#'s local
/// declarations, Go's `:=` and `var`, C's declarations, Python's, Ruby's and PHP's assignments.
fn declares(language: Language, statement: Node<'_>) -> bool {
    match language.kind_of(statement) {
        "let_declaration"
        | "lexical_declaration"
        | "variable_declaration"
        | "local_variable_declaration"
        | "local_declaration_statement"
        | "short_var_declaration"
        | "var_declaration" => true,
        "declaration" => matches!(language, Language::C | Language::Cpp),
        "expression_statement" => match language {
            Language::Python => statement.named_child(0).is_some_and(|c| language.kind_of(c) == "assignment"),
            Language::Php => statement.named_child(0).is_some_and(|c| language.kind_of(c) == "assignment_expression"),
            _ => false,
        },
        // Ruby's statements are not wrapped.
        "assignment" => language == Language::Ruby,
        // Kotlin's `val repo = …`, Swift's `let repo = …` (a local is a property declaration).
        "property_declaration" => matches!(language, Language::Kotlin | Language::Swift),
        // Swift's `guard let repo = … else { return }` binds `repo` for the rest of the block.
        "guard_statement" => language == Language::Swift,
        // C#'s `case Repo repo:`, `case Repo { Open: true } repo:`: a switch section's label binds
        // for its statements.
        "declaration_pattern" | "recursive_pattern" => language == Language::CSharp,
        // Java's `case Repo repo:` of a switch's statement group.
        "switch_label" => language == Language::Java,
        // Python's `assert isinstance(repo, Repo)` narrows `repo` for the rest of the block.
        "assert_statement" => language == Language::Python,
        _ => false,
    }
}

/// The parameter list of a C or C++ function definition, inside its (pointer, reference)
/// declarators.
fn c_parameters(function: Node<'_>) -> Option<Node<'_>> {
    let mut node = function.child_by_field_name("declarator")?;
    for _ in 0..4 {
        if node.kind() == "function_declarator" {
            return node.child_by_field_name("parameters");
        }
        node = node.child_by_field_name("declarator")?;
    }
    None
}

/// The tree-sitter row of `byte`, given the nodes around it ([`super::window::ancestors_at`]).
/// Rows are compared with the rows of the window's nodes, which tree-sitter gives for free:
/// looking each node's line up in the rope would cost more than the rest of the walk. (Rows
/// count `\n` only; in a file with lone `\r` line breaks, distances come out too small, which
/// only blurs the ranking.)
pub(crate) fn tree_row(chain: &[Node<'_>], source: Source<'_>, byte: usize) -> usize {
    let Some(node) = chain.last() else {
        return 0;
    };
    let start = node.start_byte().min(byte);
    // The deepest node can start far above (a function body around a blank line): count fast.
    node.start_position().row + source.newlines(start, byte)
}

/// Names that are never worth a lookup.
const IGNORED: &[&str] = &["self", "cls", "this", "super", "_"];

/// Collects the identifiers of the leaves that overlap `window` (bytes), skipping the one the
/// cursor touches: it is still being typed, and looking up a half-typed name would change the
/// cross-file part of the prompt at every keystroke.
///
/// Walks down from the root only into nodes that overlap the window, so the cost follows the
/// window, not the file.
pub(crate) fn collect(
    language: Language,
    spec: &Spec,
    source: Source<'_>,
    root: Node<'_>,
    window: Range<usize>,
    cursor_byte: usize,
    cursor_row: usize,
) -> Names {
    collect_walk::<true, true>(language, spec, source, root, window, cursor_byte, cursor_row)
}

/// [`collect`]'s locals only (`bound`, `local_types`, `types`): for the parts of the functions
/// around the cursor above the window, whose uses are not wanted, and cost a record each.
fn collect_bindings(language: Language, spec: &Spec, source: Source<'_>, root: Node<'_>, range: Range<usize>) -> Names {
    collect_walk::<true, false>(language, spec, source, root, range, usize::MAX, 0)
}

/// [`collect`]; `SKIP_CLOSED`: comments and plain string literals are stepped over, not into
/// (they hold no names, and a doc comment's markers and text cost a descent and two sibling
/// steps per line). Tests compare the walk with and without it.
#[allow(clippy::too_many_arguments)]
fn collect_walk<const SKIP_CLOSED: bool, const USES: bool>(
    language: Language,
    spec: &Spec,
    source: Source<'_>,
    root: Node<'_>,
    window: Range<usize>,
    cursor_byte: usize,
    cursor_row: usize,
) -> Names {
    let kinds = kind_classes(language, spec);
    let class = |node: Node<'_>| kinds.get(usize::from(node.kind_id())).copied().unwrap_or(KindClass::Other);
    let mut names = Names::default();
    let mut cursor = root.walk();
    // The ancestors of the cursor's node, root first, with their field where a rule needs it.
    let mut stack: Vec<(Node<'_>, Option<&'static str>)> = Vec::new();
    'walk: loop {
        let node = cursor.node();
        let overlaps = node.end_byte() > window.start && node.start_byte() < window.end;
        if node.start_byte() >= window.end {
            // Siblings that follow start later still, and so do the ancestors' next siblings.
            break;
        }
        let skipped = match class(node) {
            KindClass::Closed => SKIP_CLOSED,
            KindClass::Attribute => true,
            _ => false,
        };
        if overlaps && node.child_count() > 0 && !skipped {
            // Only Go's and PHP's rules look at the parent's field (PHP's: a `$name`'s, to tell
            // a parameter or an assignment); finding a field costs a scan of the parent's field
            // table, so the others skip it.
            let field = if matches!(language, Language::Go | Language::Php) { cursor.field_name() } else { None };
            stack.push((node, field));
            if goto_child_ending_after(&mut cursor, window.start) {
                continue;
            }
            stack.pop();
        } else if overlaps {
            let touches_cursor = node.start_byte() <= cursor_byte && cursor_byte <= node.end_byte();
            if !touches_cursor && class(node) == KindClass::Name {
                record(language, spec, source, &mut names, node, cursor.field_name(), &stack, cursor_row, USES);
            }
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
            stack.pop();
        }
    }
    for (name, usage) in &names.used {
        if let ReceiverWord::At(start, end) = usage.receiver_word {
            names.hints.insert(name.clone(), source.text(start as usize, end as usize).to_lowercase());
        }
    }
    names
}

#[allow(clippy::too_many_arguments)]
fn record(
    language: Language,
    spec: &Spec,
    source: Source<'_>,
    names: &mut Names,
    leaf: Node<'_>,
    field: Option<&str>,
    stack: &[(Node<'_>, Option<&'static str>)],
    cursor_row: usize,
    uses: bool,
) {
    let kind = language.kind_of(leaf);
    let member_kind = spec.members.contains(&kind);
    let text = source.text(leaf.start_byte(), leaf.end_byte());
    if IGNORED.contains(&text.as_ref()) {
        return;
    }
    // A one-letter name is never worth a lookup, but as a local its declared type still says
    // what `c.Do()` and `w->resize()` are.
    let short = text.chars().nth(1).is_none();
    let parent = stack.last().map(|(node, field)| (language.kind_of(node), *field));
    let grandparent_field = parent.and_then(|p| p.1);
    // A name being defined here (an item, a nested function, a local class) is this file's own.
    let defined = field == Some("name") && parent.is_some_and(|(p, _)| spec.definitions.contains(&p))
        || matches!(language, Language::C | Language::Cpp) && c_family_defines(field, stack);
    let binds = defined
        || is_binding_kind(kind)
        || is_binding(language, field, parent.map(|p| p.0), grandparent_field)
        || is_swift_loop_pair(language, field, stack)
        // Java's `case Repo repo ->`: the pattern's name, not its type, has no field.
        || language == Language::Java && kind == "identifier" && parent.is_some_and(|(p, _)| p == "type_pattern");
    // Python's `isinstance(repo, Repo)` and TypeScript's `repo instanceof Repo` bind no name: `repo`
    // stays what it was (a parameter, most often), of a type now known.
    if kind == "identifier" {
        let narrowed = match language {
            Language::Python => python_narrowed(source, leaf, stack),
            Language::TypeScript | Language::Tsx | Language::JavaScript if field == Some("left") => {
                instanceof_narrowed(language, source, stack)
            }
            _ => None,
        };
        if let Some(ty) = narrowed {
            let hash = name_hash(&ty);
            names.types.entry(hash).or_insert_with(|| ty.into_owned());
            names.local_types.insert(name_hash(&text), hash);
        }
    }
    if binds && !is_swift_shorthand_binding(language, leaf, parent.map(|p| p.0)) {
        match local_type(language, source, leaf, stack) {
            Some(LocalType::Named(ty)) => {
                let hash = name_hash(&ty);
                names.types.entry(hash).or_insert_with(|| ty.into_owned());
                names.local_types.insert(name_hash(&text), hash);
            }
            Some(LocalType::Chain(chain)) => {
                names.local_chains.insert(name_hash(&text), chain);
            }
            None => {}
        }
        // PHP's `$repo` is a variable, never a function or class named `repo`: nothing to keep
        // from being looked up.
        if !short && language != Language::Php && !names.bound.contains(text.as_ref()) {
            names.bound.insert(text.into_owned());
        }
        return;
    }
    if short || !uses {
        return;
    }
    // `$repo` names a variable, never a definition another file makes.
    if language == Language::Php && parent.is_some_and(|(p, _)| p == "variable_name") {
        return;
    }
    // Swift's argument labels (`find(id: 1)`, `func f(for id: Int)`) name no definition.
    if language == Language::Swift
        && (field == Some("external_name") || parent.is_some_and(|(p, _)| p == "value_argument_label"))
    {
        return;
    }
    // Python, Java and C# spell `obj.attr` with plain identifiers: the field says it is a member.
    let member = member_kind
        || match language {
            Language::Python => field == Some("attribute"),
            // `repo.findUser(id)`, `user.name`; a bare `findUser(id)` is a call like any other.
            Language::Java => match (parent.map(|p| p.0), field) {
                (Some("method_invocation"), Some("name")) => {
                    stack.last().is_some_and(|(call, _)| call.child_by_field_name("object").is_some())
                }
                (Some("field_access"), Some("field")) => true,
                _ => false,
            },
            Language::CSharp => parent.map(|p| p.0) == Some("member_access_expression") && field == Some("name"),
            // `repo.find(id)`, `user.name`; a bare `find(id)` is a call like any other.
            Language::Ruby => {
                parent.map(|p| p.0) == Some("call")
                    && field == Some("method")
                    && stack.last().is_some_and(|(call, _)| call.child_by_field_name("receiver").is_some())
            }
            // `repo.find(id)`, `user?.name`: the name after the dot, which has no field.
            Language::Kotlin => {
                parent.map(|p| p.0) == Some("navigation_expression")
                    && stack.last().is_some_and(|(nav, _)| nav.named_child(0) != Some(leaf))
            }
            // `repo.find(id: 1)`, `user?.name`: the name in the suffix after the dot.
            Language::Swift => field == Some("suffix") && parent.map(|p| p.0) == Some("navigation_suffix"),
            // `$repo->find($id)`, `$user?->name`, `User::find($id)`.
            Language::Php => {
                field == Some("name")
                    && parent.is_some_and(|(p, _)| {
                        matches!(
                            p,
                            "member_call_expression"
                                | "member_access_expression"
                                | "nullsafe_member_call_expression"
                                | "nullsafe_member_access_expression"
                                | "scoped_call_expression"
                        )
                    })
            }
            _ => false,
        };
    let distance = leaf.start_position().row.abs_diff(cursor_row) as u32;
    let parent_node = stack.last().map(|(node, _)| *node);
    let grandparent = stack.len().checked_sub(2).map(|i| stack[i].0);
    let field_only = member && parent_node.is_some_and(|p| is_uncalled_field(language, p, grandparent));
    let path_only = language == Language::Rust
        && field == Some("path")
        && parent.is_some_and(|(p, _)| matches!(p, "scoped_identifier" | "scoped_type_identifier"));
    let imported_only =
        language == Language::Rust && stack.iter().rev().any(|(n, _)| language.kind_of(*n) == "use_declaration");
    // Found once: three rules read it.
    let object = parent_node.filter(|_| member).and_then(|p| member_object(language, p, field));
    let qualifier = match parent_node {
        Some(p) if through_self(language, source, p, object, stack) => Qualifier::OwnClass,
        Some(p) => static_qualifier(language, source, p, field, object, &mut names.types)
            .or_else(|| receiver(language, source, p, field, object))
            .or_else(|| {
                let name = self_field(language, source, object?, stack)?;
                let name = source.text(name.start_byte(), name.end_byte());
                let hash = name_hash(&name);
                names.fields.entry(hash).or_insert_with(|| name.into_owned());
                Some(Qualifier::SelfField(hash))
            })
            .or_else(|| {
                // Worth a walk only for a value reached through a call or a field.
                let object = object.filter(|o| !matches!(language.kind_of(o), "identifier" | "this" | "self"))?;
                let chain = value_chain(language, source, object, stack)?;
                let key = chain.hash_key();
                names.chains.entry(key).or_insert(chain);
                Some(Qualifier::Chain(key))
            })
            .unwrap_or(Qualifier::Any),
        None => Qualifier::Any,
    };
    if let (Qualifier::Receiver(hash), Some(object)) = (qualifier, object) {
        if fields_need_no_receiver(language.family()) {
            names
                .fields
                .entry(hash)
                .or_insert_with(|| source.text(object.start_byte(), object.end_byte()).into_owned());
        }
    }
    let word = match object.and_then(|o| receiver_word(language, o)) {
        Some(node) => ReceiverWord::At(node.start_byte() as u32, node.end_byte() as u32),
        None => ReceiverWord::None,
    };
    match names.used.get_mut(text.as_ref()) {
        Some(entry) => {
            entry.count += 1;
            entry.distance = entry.distance.min(distance);
            entry.member_only &= member;
            entry.field_only &= field_only;
            entry.path_only &= path_only;
            entry.imported_only &= imported_only;
            entry.qualifier = match (entry.qualifier, qualifier) {
                // Two ways to one value (`_repo.Find(id)`, `this._repo.Find(id)`): whether they
                // agree is known once their types are.
                (Qualifier::Chain(first), Qualifier::Chain(other)) if first != other => {
                    let others = names.more_chains.entry(text.into_owned()).or_default();
                    if !others.contains(&other) {
                        others.push(other);
                    }
                    Qualifier::Chain(first)
                }
                (mine, other) => mine.and(other),
            };
            entry.receiver_word = match (entry.receiver_word, word) {
                (ReceiverWord::At(a, b), ReceiverWord::At(c, d))
                    if source
                        .text(a as usize, b as usize)
                        .eq_ignore_ascii_case(&source.text(c as usize, d as usize)) =>
                {
                    entry.receiver_word
                }
                (ReceiverWord::None, ReceiverWord::None) => ReceiverWord::None,
                _ => ReceiverWord::Mixed,
            };
        }
        None => {
            let usage = Use {
                count: 1,
                distance,
                member_only: member,
                field_only,
                path_only,
                imported_only,
                qualifier,
                receiver_word: word,
            };
            names.used.insert(text.into_owned(), usage);
        }
    }
}

/// The grammar fields the rules of [`record`] read on every member and binding, by their index
/// in [`FIELD_NAMES`].
#[derive(Clone, Copy)]
pub(crate) enum GrammarField {
    Type,
    Value,
    Object,
    Operand,
    Argument,
    Expression,
    Property,
    Attribute,
    Field,
    Name,
    TypeArguments,
    Right,
    Function,
    Path,
    Constructor,
}

const FIELD_NAMES: [&str; 15] = [
    "type",
    "value",
    "object",
    "operand",
    "argument",
    "expression",
    "property",
    "attribute",
    "field",
    "name",
    "type_arguments",
    "right",
    "function",
    "path",
    "constructor",
];

/// `node`'s child in `field`: `child_by_field_name` without tree-sitter's search through the
/// grammar's field names (a string comparison per field, per call), whose ids are looked up
/// once per grammar.
pub(crate) fn child<'t>(language: Language, node: Node<'t>, field: GrammarField) -> Option<Node<'t>> {
    const LANGUAGES: usize = Language::PlainText as usize + 1;
    static TABLES: [OnceLock<[u16; FIELD_NAMES.len()]>; LANGUAGES] = [const { OnceLock::new() }; LANGUAGES];
    let ids = TABLES.get(language as usize)?.get_or_init(|| {
        let grammar = language.grammar();
        FIELD_NAMES.map(|name| grammar.as_ref().and_then(|g| g.field_id_for_name(name)).map_or(0, |id| id.get()))
    });
    match ids[field as usize] {
        0 => None,
        id => node.child_by_field_id(id),
    }
}

/// The object a member name (`field` of `parent`) is reached through, in each grammar's terms.
fn member_object<'t>(language: Language, parent: Node<'t>, field: Option<&str>) -> Option<Node<'t>> {
    match (language, language.kind_of(parent), field) {
        (Language::TypeScript | Language::Tsx | Language::JavaScript, "member_expression", Some("property")) => {
            child(language, parent, GrammarField::Object)
        }
        (Language::Python, "attribute", Some("attribute")) => child(language, parent, GrammarField::Object),
        (Language::Go, "selector_expression", Some("field")) => child(language, parent, GrammarField::Operand),
        (Language::Rust, "field_expression", Some("field")) => child(language, parent, GrammarField::Value),
        (Language::Java, "method_invocation" | "field_access", Some("name" | "field")) => {
            child(language, parent, GrammarField::Object)
        }
        (Language::CSharp, "member_access_expression", Some("name")) => {
            child(language, parent, GrammarField::Expression)
        }
        (Language::C | Language::Cpp, "field_expression", Some("field")) => {
            child(language, parent, GrammarField::Argument)
        }
        (Language::Ruby, "call", Some("method")) => parent.child_by_field_name("receiver"),
        (Language::Kotlin, "navigation_expression", None) => parent.named_child(0),
        // The suffix is the dot and the name; the object is the target of the expression around it.
        (Language::Swift, "navigation_suffix", Some("suffix")) => parent.parent()?.child_by_field_name("target"),
        (
            Language::Php,
            "member_call_expression"
            | "member_access_expression"
            | "nullsafe_member_call_expression"
            | "nullsafe_member_access_expression",
            Some("name"),
        ) => child(language, parent, GrammarField::Object),
        (Language::Php, "scoped_call_expression", Some("name")) => parent.child_by_field_name("scope"),
        _ => None,
    }
}

/// The name of the value a member is reached through: `client` of `client.send()`, and of
/// `this.client.send()`, `self.client.send()` and `app.client.send()` (the last field's name).
fn receiver_word<'t>(language: Language, object: Node<'t>) -> Option<Node<'t>> {
    match language.kind_of(object) {
        "identifier" => Some(object),
        "member_expression" => child(language, object, GrammarField::Property),
        "attribute" => child(language, object, GrammarField::Attribute),
        "selector_expression" | "field_expression" | "field_access" => child(language, object, GrammarField::Field),
        "member_access_expression" | "nullsafe_member_access_expression" => child(language, object, GrammarField::Name),
        // PHP's `$client`, Ruby's `@client`: the name after the sigil.
        "variable_name" => object.named_child(0),
        "instance_variable" => Some(object),
        // Kotlin's `app.client`: the name after the last dot; Swift's is in that dot's suffix.
        "navigation_expression" => {
            let last = object.named_child(object.named_child_count().checked_sub(1)?)?;
            match language.kind_of(last) {
                "navigation_suffix" => last.child_by_field_name("suffix"),
                _ => Some(last),
            }
        }
        "simple_identifier" if language == Language::Swift => Some(object),
        _ => None,
    }
}

/// Whether a type's name reads like `word`, a value's name in lower case: `client` for `Client`
/// and `HttpClient`, `conn` for `Connection`. Words shorter than three letters say too little.
pub(crate) fn named_after(container: &str, word: &str) -> bool {
    let word = word.trim_start_matches(['_', '@']);
    if word.len() < 3 || container.len() < word.len() {
        return false;
    }
    let starts = container.get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word));
    let ends = container.get(container.len() - word.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(word));
    starts || ends
}

/// Whether a member name (`parent` being its member access) is read or written as a field
/// rather than called, in a language where methods are only ever called. Python's properties,
/// and the method references JavaScript passes around (`promise.then(this.onDone)`), are
/// methods used without a call: there, a member's use says nothing.
fn is_uncalled_field(language: Language, parent: Node<'_>, grandparent: Option<Node<'_>>) -> bool {
    let called_through = |call: &str, function_field: &str| {
        grandparent
            .is_some_and(|g| language.kind_of(g) == call && g.child_by_field_name(function_field) == Some(parent))
    };
    match language {
        Language::Rust => match language.kind_of(parent) {
            "field_expression" => !called_through("call_expression", "function"),
            // `Config { observer: None }`, `let Config { observer, .. } = …`.
            "field_initializer" | "field_pattern" => true,
            _ => false,
        },
        Language::Go => {
            language.kind_of(parent) == "selector_expression" && !called_through("call_expression", "function")
        }
        Language::C | Language::Cpp => {
            language.kind_of(parent) == "field_expression" && !called_through("call_expression", "function")
        }
        Language::Java => language.kind_of(parent) == "field_access",
        // Kotlin's properties are read without a call; a method's call holds the access first.
        Language::Kotlin => {
            language.kind_of(parent) == "navigation_expression"
                && !grandparent
                    .is_some_and(|g| language.kind_of(g) == "call_expression" && g.named_child(0) == Some(parent))
        }
        // So are Swift's; `parent` is the suffix, `grandparent` the access a call holds first.
        Language::Swift => {
            language.kind_of(parent) == "navigation_suffix"
                && !grandparent.is_some_and(|g| {
                    g.parent().is_some_and(|c| language.kind_of(c) == "call_expression" && c.named_child(0) == Some(g))
                })
        }
        Language::Php => {
            matches!(language.kind_of(parent), "member_access_expression" | "nullsafe_member_access_expression")
        }
        Language::CSharp => {
            language.kind_of(parent) == "member_access_expression"
                && !called_through("invocation_expression", "function")
        }
        _ => false,
    }
}

/// Whether a member name is reached through the object itself: `this.x` in TypeScript,
/// JavaScript, Java, C# and C++ (`this->x`), `self.x` in Rust, `self.x` and `cls.x` in Python,
/// and in Go through the receiver of the method around it (`s.x` in `func (s *Server) …`), found
/// among the walk's `stack` of ancestors. `parent` is the member access, `object` what it is
/// reached through ([`member_object`]).
pub(crate) fn through_self(
    language: Language,
    source: Source<'_>,
    parent: Node<'_>,
    object: Option<Node<'_>>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> bool {
    let text = |node: Node<'_>| source.text(node.start_byte(), node.end_byte());
    match language {
        Language::Go => {
            let Some(operand) = object.filter(|o| language.kind_of(o) == "identifier") else {
                return false;
            };
            let method = stack
                .iter()
                .rev()
                .find(|(n, _)| matches!(language.kind_of(n), "method_declaration" | "function_declaration"));
            let receiver = method
                .and_then(|(m, _)| m.child_by_field_name("receiver"))
                .and_then(|list| list.named_child(0))
                .and_then(|declaration| declaration.child_by_field_name("name"));
            receiver.is_some_and(|r| text(r) == text(operand))
        }
        Language::Python => object
            .filter(|o| language.kind_of(o) == "identifier")
            .is_some_and(|o| matches!(text(o).as_ref(), "self" | "cls")),
        // C#'s `this` is an unnamed token before the dot.
        Language::CSharp => object.is_some() && parent.child(0).is_some_and(|o| language.kind_of(o) == "this"),
        // `$this->x`, `self::x()`, `static::x()`, `parent::x()`.
        Language::Php => object.is_some_and(|o| {
            language.kind_of(o) == "variable_name" && text(o) == "$this" || language.kind_of(o) == "relative_scope"
        }),
        // `self.x`, and a method called with no receiver in a class's (or module's) body: one of
        // its own or inherited, or else a top-level method (see `Lineage::strict`).
        Language::Ruby => match object {
            Some(o) => language.kind_of(o) == "self",
            None => {
                language.kind_of(parent) == "call"
                    && parent.child_by_field_name("receiver").is_none()
                    && stack.iter().any(|(n, _)| matches!(language.kind_of(n), "class" | "module"))
            }
        },
        // `this.x`, and a method called with no receiver in a class's (or object's) body, which
        // may also be a top-level function or an extension (see `Lineage::strict`); a
        // capitalised one is a class's constructor.
        Language::Kotlin => match object {
            Some(o) => language.kind_of(o) == "this_expression",
            None => {
                language.kind_of(parent) == "call_expression"
                    && parent
                        .named_child(0)
                        .is_some_and(|f| language.kind_of(f) == "identifier" && capitalised(source, f).is_none())
                    && stack.iter().any(|(n, _)| {
                        matches!(language.kind_of(n), "class_declaration" | "object_declaration" | "companion_object")
                    })
            }
        },
        // `self.x`, and a method called with no receiver in a type's (or extension's) body, as
        // in Kotlin.
        Language::Swift => match object {
            Some(o) => language.kind_of(o) == "self_expression",
            None => {
                language.kind_of(parent) == "call_expression"
                    && parent
                        .named_child(0)
                        .is_some_and(|f| language.kind_of(f) == "simple_identifier" && capitalised(source, f).is_none())
                    && stack
                        .iter()
                        .any(|(n, _)| matches!(language.kind_of(n), "class_declaration" | "protocol_declaration"))
            }
        },
        _ => object.is_some_and(|o| matches!(language.kind_of(o), "this" | "self")),
    }
}

/// The field of the object itself that `object` (a member's) reaches: `repo` of `this.repo`,
/// `self.client`, `this->conn`, and of `s.store` in a Go method with receiver `s`.
fn self_field<'t>(
    language: Language,
    source: Source<'_>,
    object: Node<'t>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<Node<'t>> {
    let inner = match language.kind_of(object) {
        "member_expression" | "attribute" | "field_access" => child(language, object, GrammarField::Object),
        "selector_expression" => child(language, object, GrammarField::Operand),
        "field_expression" if language == Language::Rust => child(language, object, GrammarField::Value),
        "field_expression" => child(language, object, GrammarField::Argument),
        "member_access_expression" | "nullsafe_member_access_expression" if language == Language::Php => {
            child(language, object, GrammarField::Object)
        }
        "member_access_expression" => child(language, object, GrammarField::Expression),
        // Ruby's `@repo` is the object's own field by its spelling.
        "instance_variable" => return Some(object),
        // Kotlin's `this.repo`: the dot's two sides have no fields.
        "navigation_expression" if language == Language::Kotlin => object.named_child(0),
        // Swift's `self.repo`.
        "navigation_expression" if language == Language::Swift => object.child_by_field_name("target"),
        _ => return None,
    };
    if !through_self(language, source, object, inner, stack) {
        return None;
    }
    receiver_word(language, object)
}

/// The type a local has, by name, when its declaration says: the type written
/// ([`written_type`]: `client: &Client`, `HttpClient client`, `Widget *w`), or else the type its
/// value constructs ([`constructed_type`]: `let c = Client::new()`, `var r = new Repo()`,
/// `c = Client()`, `c := &Client{}`). `leaf` is the binding, `stack` its ancestors; the
/// declaration is its parent, or its grandparent through a declarator or pattern (Go: the
/// `:=` of its name list). When the value is a call or a member (`let repo = open_repo()?`,
/// `let b = self.client.get(url)`), its chain, whose type [`Names::bind_calls`] works out
/// from the workspace's declarations. `None` when nothing says
/// (`let x = a + b`, `auto`), or for a library wrapper (`Option<T>`: its methods are the
/// library's).
fn local_type<'s>(
    language: Language,
    source: Source<'s>,
    leaf: Node<'_>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<LocalType<'s>> {
    let mut ancestors = stack.iter().rev().map(|(node, _)| *node);
    let parent = ancestors.next()?;
    // `for (i, c) in …`, `for name, c in ….items():`, `for (const [id, c] of …)`: the pair, and
    // the second of it. Swift's `for (i, user) in …` and Kotlin's `for ((i, user) in …)` wrap
    // each name in a pattern or declaration of its own.
    let pair = match (language, language.kind_of(parent)) {
        (_, "tuple_pattern" | "pattern_list" | "array_pattern") => Some((parent, leaf)),
        (Language::Swift, "pattern") | (Language::Kotlin, "variable_declaration") => {
            let tuple = ancestors.clone().next();
            let kind = if language == Language::Swift { "pattern" } else { "multi_variable_declaration" };
            tuple.filter(|t| language.kind_of(t) == kind).map(|t| (t, parent))
        }
        _ => None,
    };
    if let Some((tuple, second)) = pair {
        let mut outer = stack.iter().rev().map(|(node, _)| *node).skip_while(|n| n.id() != tuple.id()).skip(1);
        let loop_node = outer.next().filter(|d| LOOPS.contains(&language.kind_of(d)))?;
        let names = named_children(tuple);
        if names.len() != 2 || names[1].id() != second.id() {
            return None;
        }
        return pair_value(language, source, loop_node, stack).map(LocalType::Chain);
    }
    // Kinds are compared before any field is looked for: most bindings say nothing of a type.
    let through = |kind: &str| {
        matches!(
            kind,
            "variable_declarator" | "init_declarator" | "pointer_declarator" | "reference_declarator" | "mut_pattern"
        )
    };
    let declares = |kind: &str| TYPED_DECLARATIONS.contains(&kind) || LOOPS.contains(&kind);
    let declaration = match (language, language.kind_of(parent)) {
        (_, kind) if declares(kind) => parent,
        (_, kind) if through(kind) => ancestors.next().filter(|d| declares(language.kind_of(d)))?,
        (Language::Python | Language::Ruby, "assignment") => parent,
        // PHP's `Repo $repo`, `private Repo $repo` (promoted), `$repo = new Repo()`: the name
        // sits in a `variable_name`.
        (Language::Php, "variable_name") => ancestors.next().filter(|d| {
            matches!(language.kind_of(d), "simple_parameter" | "property_promotion_parameter" | "assignment_expression")
        })?,
        (Language::Go, "expression_list") => {
            ancestors.next().filter(|d| matches!(language.kind_of(d), "short_var_declaration" | "range_clause"))?
        }
        // `class A(private val repo: UserRepository)`: in the class's `init` blocks and property
        // initializers, a local like a function's parameter.
        (Language::Kotlin, "class_parameter") => parent,
        // Swift's `let repo = …`, `var repo: Repo`, `for user in users`: the name's pattern is
        // the declaration's (or the loop's).
        (Language::Swift, "pattern") => {
            ancestors.next().filter(|d| matches!(language.kind_of(d), "property_declaration" | "for_statement"))?
        }
        // Java's `x instanceof Repo repo`, `case Repo repo ->`.
        (Language::Java, "instanceof_expression") => {
            return written_type(language, source, parent.child_by_field_name("right")?).map(LocalType::Named)
        }
        (Language::Java, "type_pattern") => {
            return written_type(language, source, parent.named_child(0)?).map(LocalType::Named)
        }
        // Swift's `if let repo = open()`, `guard let repo = self.repo else`: the binding sits in
        // the statement itself, among the conditions.
        (Language::Swift, "if_statement" | "guard_statement" | "while_statement") => {
            let (written, value) = swift_condition_binding(leaf)?;
            if let Some(name) = written.and_then(|node| value_type(language, source, node)) {
                return Some(LocalType::Named(name));
            }
            let value = value?;
            if let Some(name) = constructed_type(language, source, value) {
                return Some(LocalType::Named(name));
            }
            return value_chain(language, source, value, stack).map(LocalType::Chain);
        }
        _ => return None,
    };
    let written = match child(language, declaration, GrammarField::Type) {
        Some(node) => Some(node),
        None if language == Language::Kotlin => kotlin_type(declaration),
        None if language == Language::Swift => {
            named_children(declaration).into_iter().find(|c| language.kind_of(c) == "type_annotation")
        }
        // Java's `variable_declarator` of `Repo repo = …` has its type one level up.
        None if through(language.kind_of(declaration)) => ancestors
            .next()
            .filter(|d| TYPED_DECLARATIONS.contains(&language.kind_of(d)))
            .and_then(|d| child(language, d, GrammarField::Type)),
        None => None,
    };
    if let Some(name) = written.and_then(|node| value_type(language, source, node)) {
        return Some(LocalType::Named(name));
    }
    let declaration_kind = language.kind_of(declaration);
    if LOOPS.contains(&declaration_kind) || declaration_kind == "range_clause" {
        return loop_element(language, source, leaf, parent, declaration, stack).map(LocalType::Chain);
    }
    // Kotlin's `for (user in users)`: the name's declaration sits in the loop.
    if language == Language::Kotlin && declaration_kind == "variable_declaration" {
        if let Some(loop_node) = ancestors.clone().next().filter(|d| language.kind_of(d) == "for_statement") {
            return loop_element(language, source, leaf, parent, loop_node, stack).map(LocalType::Chain);
        }
    }
    let value = match (language, declaration_kind) {
        (Language::Python | Language::Ruby | Language::Php, _) => child(language, declaration, GrammarField::Right),
        // `a, b := x, y`: the value in the name's place.
        (Language::Go, "short_var_declaration") => {
            let at = parent.named_children(&mut parent.walk()).position(|n| n.id() == leaf.id())?;
            child(language, declaration, GrammarField::Right)?.named_child(at)
        }
        // C#'s `var r = new Repo()`: the value is the declarator's last child.
        (Language::CSharp, _) => declaration.named_child(declaration.named_child_count().checked_sub(1)?),
        // Kotlin's `val repo = UserRepository(db)`: the value is the property declaration's.
        (Language::Kotlin, "variable_declaration") => {
            ancestors.next().filter(|d| language.kind_of(d) == "property_declaration").and_then(kotlin_initializer)
        }
        (Language::Kotlin, _) => None,
        _ => child(language, declaration, GrammarField::Value),
    }?;
    if let Some(name) = constructed_type(language, source, value) {
        return Some(LocalType::Named(name));
    }
    value_chain(language, source, value, stack).map(LocalType::Chain)
}

/// The loops that bind a name to each element of what they iterate, with no type written or
/// one that says nothing (`var`, `auto`): Rust's `for c in &self.clients`, Python's `for c in
/// self.clients:` (and a comprehension's `for`), TypeScript's `for (const c of this.clients)`,
/// Java's `for (var c : clients)`, C#'s `foreach (var c in _clients)`, C++'s `for (auto& c :
/// clients_)`. Go's `range_clause` binds through a name list, and is handled apart.
const LOOPS: &[&str] = &[
    "for_expression",
    "for_statement",
    "for_in_clause",
    "for_in_statement",
    "enhanced_for_statement",
    "foreach_statement",
    "for_range_loop",
];

/// The chain of the second name of a pair a loop binds (see [`LOOPS`]): the element of
/// `enumerate()` (Rust's method, Python's function, TypeScript's `entries()`, Swift's
/// `enumerated()`, Kotlin's `withIndex()`), or the value of a map's `(key, value)` pairs (`&map`,
/// `map.iter()`, Python's `items()`, a TypeScript `Map`, a Kotlin `Map`).
fn pair_value(
    language: Language,
    source: Source<'_>,
    loop_node: Node<'_>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<Chain> {
    let value = match language {
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            if language.kind_of(loop_node.child_by_field_name("operator")?) != "of" {
                return None;
            }
            child(language, loop_node, GrammarField::Right)?
        }
        Language::Rust => child(language, loop_node, GrammarField::Value)?,
        Language::Python => child(language, loop_node, GrammarField::Right)?,
        Language::Swift => loop_node.child_by_field_name("collection")?,
        // Kotlin's loop has no fields: what it iterates follows the names.
        Language::Kotlin => {
            let names = named_children(loop_node);
            let at = names.iter().position(|n| language.kind_of(n) == "multi_variable_declaration")?;
            *names.get(at + 1)?
        }
        _ => return None,
    };
    // Python's `enumerate(self.clients)`: the elements of its first argument.
    if language == Language::Python && language.kind_of(value) == "call" {
        let function = child(language, value, GrammarField::Function)?;
        if source.text(function.start_byte(), function.end_byte()) == "enumerate" {
            let argument = value.child_by_field_name("arguments")?.named_child(0)?;
            let mut chain = value_chain(language, source, argument, stack)?;
            chain.steps.push(Step::Each);
            return Some(chain);
        }
    }
    let mut chain = value_chain(language, source, value, stack)?;
    let last = match chain.steps.last() {
        Some(Step::Call(name)) => Some(name.as_str()),
        _ => None,
    };
    let step = match last {
        // Swift's `enumerated()`, Kotlin's `withIndex()`: an index and an element.
        Some("enumerate" | "entries" | "enumerated" | "withIndex") => Step::Each,
        Some("iter" | "iter_mut" | "into_iter" | "items") | None => Step::Value,
        Some(_) => return None,
    };
    if last.is_some() {
        chain.steps.pop();
    }
    chain.steps.push(step);
    Some(chain)
}

/// The chain of the element a loop binds `leaf` to (see [`LOOPS`]): the iterated value's chain
/// and one [`Step::Each`]. `parent` is `leaf`'s parent, `declaration` the loop (or Go's
/// `range_clause`).
fn loop_element(
    language: Language,
    source: Source<'_>,
    leaf: Node<'_>,
    parent: Node<'_>,
    declaration: Node<'_>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<Chain> {
    let (value, step) = match language {
        // `for (k in obj)` iterates keys.
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            let operator = declaration.child_by_field_name("operator")?;
            if language.kind_of(operator) != "of" {
                return None;
            }
            (child(language, declaration, GrammarField::Right)?, Step::Each)
        }
        // `for i, c := range s.clients`: the second name is the element, or the map's value;
        // a lone name is the index or key.
        Language::Go => {
            let at = parent.named_children(&mut parent.walk()).position(|n| n.id() == leaf.id())?;
            if at != 1 {
                return None;
            }
            (child(language, declaration, GrammarField::Right)?, Step::Index)
        }
        Language::Rust | Language::Java => (child(language, declaration, GrammarField::Value)?, Step::Each),
        Language::Swift => (declaration.child_by_field_name("collection")?, Step::Each),
        // Kotlin's loop has no fields: what it iterates follows the declaration.
        Language::Kotlin => {
            let names = named_children(declaration);
            let at = names.iter().position(|n| language.kind_of(n) == "variable_declaration")?;
            (*names.get(at + 1)?, Step::Each)
        }
        _ => (child(language, declaration, GrammarField::Right)?, Step::Each),
    };
    let mut chain = value_chain(language, source, value, stack)?;
    chain.steps.push(step);
    Some(chain)
}

/// The written type and the value of the Swift optional binding `name` in an `if`, `guard` or
/// `while` (`if let repo: Repo = x`, `guard let repo = self.repo`), which the grammar lays out
/// flat among the statement's conditions: what follows the name, up to the next condition.
/// `None` for the shorthand `if let repo`, which is no new value but the outer `repo` itself
/// (see [`is_swift_shorthand_binding`]).
fn swift_condition_binding(name: Node<'_>) -> Option<(Option<Node<'_>>, Option<Node<'_>>)> {
    let mut written = None;
    let mut next = name.next_sibling();
    while let Some(node) = next {
        match node.kind() {
            "type_annotation" => written = Some(node),
            "=" => return Some((written, node.next_named_sibling())),
            _ => break,
        }
        next = node.next_sibling();
    }
    written.map(|w| (Some(w), None))
}

/// Whether a Swift name bound in an `if`, `guard` or `while` condition is the shorthand `if let
/// repo` (Swift 5.7): the outer `repo` unwrapped, so a use of it, typed as it is, rather than a
/// new local.
fn is_swift_shorthand_binding(language: Language, leaf: Node<'_>, parent: Option<&str>) -> bool {
    language == Language::Swift
        && matches!(parent, Some("if_statement" | "guard_statement" | "while_statement"))
        && swift_condition_binding(leaf).is_none()
}

/// Whether a Swift name is one of a loop's pair (`for (i, user) in users.enumerated()`), whose
/// names sit in patterns of their own with no `bound_identifier` field.
fn is_swift_loop_pair(language: Language, field: Option<&str>, stack: &[(Node<'_>, Option<&'static str>)]) -> bool {
    language == Language::Swift
        && field.is_none()
        && matches!(stack, [.., (l, _), (tuple, _), (name, _)]
            if l.kind() == "for_statement" && tuple.kind() == "pattern" && name.kind() == "pattern"
                && l.child_by_field_name("item").is_some_and(|item| item.id() == tuple.id()))
}

/// What [`local_type`] finds a local's type to be.
enum LocalType<'s> {
    /// A type, by name.
    Named(std::borrow::Cow<'s, str>),
    /// Whatever the value's chain reaches (`open_repo()?`, `Client::builder()`,
    /// `self.pool.get()`): see [`Names::bind_calls`].
    Chain(Chain),
}

/// The declarations whose `type` field gives the type of the names they bind.
const TYPED_DECLARATIONS: &[&str] = &[
    // Rust, C#
    "parameter",
    "let_declaration",
    // TypeScript
    "required_parameter",
    "optional_parameter",
    "variable_declarator",
    "public_field_definition",
    // Java
    "formal_parameter",
    "local_variable_declaration",
    "field_declaration",
    // C#; `declaration_pattern`: `x is Repo repo`; `recursive_pattern`: `x is Repo { Open: true }
    // repo`.
    "variable_declaration",
    "declaration_pattern",
    "recursive_pattern",
    // Go, C, C++
    "parameter_declaration",
    "var_spec",
    "declaration",
    // Python
    "typed_parameter",
    "typed_default_parameter",
];

/// The name of the type a written type names: `Client` of `&mut Client`, `Arc<Client>`,
/// `*pkg.Client`, `api.Client`, `Repo<T>`. `None` for what is not a plain named type, and for
/// library types whose methods are the library's (collections included: see [`value_type`]).
pub(crate) fn written_type<'s>(
    language: Language,
    source: Source<'s>,
    node: Node<'_>,
) -> Option<std::borrow::Cow<'s, str>> {
    match written(language, source, node, false)? {
        (name, Held::One) => Some(name),
        _ => None,
    }
}

/// [`written_type`], and for a collection of a named type, the collection as
/// [`super::chain::Held`] spells it: `[]Client` of `Vec<Client>`, `&[Client]`, `Client[]`,
/// `list[Client]`, `[]*Client`, `std::vector<Client>`; `{}Client` of a map to clients
/// (`HashMap<K, Client>`, `map[K]*Client`, `Dictionary<K, Client>`). What a value of the type
/// holds is then known where it is indexed, iterated, or taken out (`first()`, `get(i)`).
pub(crate) fn value_type<'s>(
    language: Language,
    source: Source<'s>,
    node: Node<'_>,
) -> Option<std::borrow::Cow<'s, str>> {
    Some(match written(language, source, node, true)? {
        (name, Held::One) => name,
        (name, Held::Seq) => format!("{SEQ}{name}").into(),
        (name, Held::Map) => format!("{MAP}{name}").into(),
    })
}

/// The library collections whose elements are their first type argument.
const SEQUENCES: &[&str] = &[
    // Rust
    "Vec",
    "VecDeque",
    "HashSet",
    "BTreeSet",
    "IndexSet",
    "BinaryHeap",
    "LinkedList",
    // TypeScript, Python, Java, C#
    "Array",
    "ReadonlyArray",
    "Set",
    "ReadonlySet",
    "list",
    "List",
    "Sequence",
    "MutableSequence",
    "Iterable",
    "Iterator",
    "Collection",
    "set",
    "frozenset",
    "FrozenSet",
    "deque",
    "Deque",
    "ArrayList",
    "Queue",
    "ArrayDeque",
    "IList",
    "IEnumerable",
    "ICollection",
    "IReadOnlyList",
    "IReadOnlyCollection",
    "ISet",
    // Kotlin
    "MutableList",
    "MutableSet",
    "MutableCollection",
    // C++
    "vector",
    "unordered_set",
    "array",
    "span",
];

/// The library maps, whose elements are their last type argument.
const MAPS: &[&str] = &[
    "HashMap",
    "BTreeMap",
    "IndexMap",
    "Map",
    "ReadonlyMap",
    "Record",
    "dict",
    "Dict",
    "Mapping",
    "MutableMapping",
    "DefaultDict",
    "defaultdict",
    "OrderedDict",
    "TreeMap",
    "LinkedHashMap",
    "ConcurrentHashMap",
    "Dictionary",
    "IDictionary",
    "IReadOnlyDictionary",
    "ConcurrentDictionary",
    // Kotlin
    "MutableMap",
    "map",
    "unordered_map",
];

/// The walk behind [`written_type`] and [`value_type`]; `collections`: whether one collection
/// (or map) may be seen through to its elements.
fn written<'s>(
    language: Language,
    source: Source<'s>,
    mut node: Node<'_>,
    collections: bool,
) -> Option<(std::borrow::Cow<'s, str>, Held)> {
    let mut held = Held::One;
    // Only one level: a collection of collections says nothing of a member's owner.
    let mut enter = |kind: Held| {
        if !collections || !matches!(held, Held::One) {
            return false;
        }
        held = kind;
        true
    };
    for _ in 0..8 {
        let next = match language.kind_of(node) {
            // Swift's `: Repo`, `: Repo!` (the `!` is no part of the name).
            "type_annotation" if language == Language::Swift => node.child_by_field_name("name"),
            // TypeScript's `: T`, Python's `type` wrapper, TypeScript's `readonly T[]`.
            "type_annotation" | "type" | "readonly_type" => node.named_child(0),
            // Kotlin's `Repo?` (after any annotations).
            "nullable_type" if language == Language::Kotlin => kotlin_type(node),
            // Swift's `Repo?`.
            "optional_type" if language == Language::Swift => node.child_by_field_name("wrapped"),
            // Swift's `[String: Repo]`.
            "dictionary_type" if language == Language::Swift => {
                if !enter(Held::Map) {
                    return None;
                }
                node.child_by_field_name("value")
            }
            // Kotlin's and Swift's `Repo`, `api.Repo`, `List<Repo>`: names and type arguments, no
            // fields.
            "user_type" if matches!(language, Language::Kotlin | Language::Swift) => {
                let parts = named_children(node);
                let base = parts
                    .iter()
                    .rev()
                    .find(|c| matches!(language.kind_of(*c), "identifier" | "type_identifier"))
                    .copied()?;
                let arguments = parts.iter().find(|c| language.kind_of(*c) == "type_arguments");
                let base_name = source.text(base.start_byte(), base.end_byte());
                let map = MAPS.contains(&base_name.as_ref());
                match arguments {
                    Some(arguments) if map || SEQUENCES.contains(&base_name.as_ref()) => {
                        if !enter(if map { Held::Map } else { Held::Seq }) {
                            return None;
                        }
                        let count = arguments.named_child_count();
                        arguments.named_child(if map { count.checked_sub(1)? } else { 0 })
                    }
                    _ => Some(base),
                }
            }
            // Kotlin's `out Repo` of a type argument.
            "type_projection" => node.named_child(node.named_child_count().checked_sub(1)?),
            "reference_type" | "nullable_type" => child(language, node, GrammarField::Type),
            // PHP's `Repo`, `?Repo` (a `Repo` wherever a member is used).
            "named_type" | "optional_type" if language == Language::Php => node.named_child(0),
            // PHP's `\App\Repo`: the last name.
            "qualified_name" if language == Language::Php => node.named_child(node.named_child_count().checked_sub(1)?),
            "pointer_type" => node.named_child(0),
            "scoped_type_identifier" | "qualified_type" | "qualified_name" | "qualified_identifier" => {
                child(language, node, GrammarField::Name)
            }
            "nested_type_identifier" => child(language, node, GrammarField::Name),
            "attribute" => child(language, node, GrammarField::Attribute),
            // `[Client]`, `[Client; 4]` (Rust), `Client[]` (TypeScript, Java, C#), `[]Client`,
            // `[4]Client` (Go).
            "array_type" | "slice_type" => {
                if !enter(Held::Seq) {
                    return None;
                }
                match language {
                    Language::TypeScript | Language::Tsx | Language::JavaScript => node.named_child(0),
                    Language::CSharp => child(language, node, GrammarField::Type),
                    _ => node.child_by_field_name("element"),
                }
            }
            "map_type" => {
                if !enter(Held::Map) {
                    return None;
                }
                child(language, node, GrammarField::Value)
            }
            "generic_type" | "generic_name" | "template_type" => {
                let base = child(language, node, GrammarField::Type)
                    .or_else(|| child(language, node, GrammarField::Name))
                    .or_else(|| node.named_child(0))?;
                let base_name = source.text(base.start_byte(), base.end_byte());
                // Methods go through these to what they hold (`Arc<Client>`: `Client`'s); a
                // Python `Optional[Repo]` is a `Repo` wherever a member is used.
                let holder = match language {
                    // A lock's or a cell's value is reached through a guard (`lock().unwrap()`).
                    Language::Rust => {
                        matches!(base_name.as_ref(), "Arc" | "Rc" | "Box" | "Mutex" | "RwLock" | "RefCell")
                    }
                    Language::Cpp => matches!(base_name.as_ref(), "unique_ptr" | "shared_ptr" | "weak_ptr"),
                    Language::Python => base_name == "Optional",
                    _ => false,
                };
                let argument = |last: bool| {
                    let arguments = match language {
                        Language::Cpp => node.child_by_field_name("arguments")?,
                        Language::Python => node.named_child(1)?,
                        Language::Rust | Language::TypeScript | Language::Tsx => {
                            child(language, node, GrammarField::TypeArguments)?
                        }
                        // Java's `type_arguments`, C#'s `type_argument_list`.
                        _ => named_children(node)
                            .into_iter()
                            .find(|c| matches!(language.kind_of(c), "type_arguments" | "type_argument_list"))?,
                    };
                    let count = arguments.named_child_count();
                    arguments.named_child(if last { count.checked_sub(1)? } else { 0 })
                };
                let map = MAPS.contains(&base_name.as_ref());
                if holder {
                    argument(false)
                } else if map || SEQUENCES.contains(&base_name.as_ref()) {
                    // A library collection's own methods are the library's.
                    if !enter(if map { Held::Map } else { Held::Seq }) {
                        return None;
                    }
                    argument(map)
                } else {
                    Some(base)
                }
            }
            // C++'s template argument, Python's type parameter.
            "type_descriptor" => child(language, node, GrammarField::Type),
            // `Repo | null`, `Repo | undefined` (TypeScript), `Repo | None` (Python): a `Repo`
            // wherever a member is used.
            "union_type" | "binary_operator" => {
                let nothing = |n: &Node<'_>| {
                    matches!(language.kind_of(n), "literal_type" | "none" | "undefined" | "null")
                        // PHP's `Repo|null`.
                        || language.kind_of(n) == "primitive_type"
                            && source.text(n.start_byte(), n.end_byte()).eq_ignore_ascii_case("null")
                };
                let mut members = named_children(node).into_iter().filter(|n| !nothing(n));
                let first = members.next();
                if members.next().is_some() {
                    return None;
                }
                first
            }
            "type_identifier" | "identifier" => break,
            "name" if language == Language::Php => break,
            _ => return None,
        };
        node = next?;
    }
    let plain = matches!(language.kind_of(node), "type_identifier" | "identifier")
        || language == Language::Php && language.kind_of(node) == "name";
    if !plain {
        return None;
    }
    plain_type_name(source.text(node.start_byte(), node.end_byte())).map(|name| (name, held))
}

/// The workspace type a declared type names, if any: `store.ProductStore`, `models::User`,
/// `*Client`, `Arc<Client>`'s `Client`... as the last name of its path, without pointers and
/// references, and not a standard library type ([`plain_type_name`]).
pub(crate) fn named_type(ty: &str) -> Option<String> {
    let ty = ty.trim().trim_start_matches(['*', '&']).trim_start_matches("mut ").trim();
    // A smart pointer's or a reference's target: `Arc<Client>`, `Rc<RefCell<Client>>`.
    let inner = ty.rsplit('<').next().unwrap_or(ty).trim_end_matches(['>', ' ']);
    let name = inner.rsplit(['.', ':']).next().unwrap_or(inner).trim();
    let name = name.trim_end_matches(['?', '[', ']']);
    let plain = name.chars().all(|c| c.is_alphanumeric() || c == '_') && name.starts_with(|c: char| c.is_alphabetic());
    if !plain {
        return None;
    }
    plain_type_name(std::borrow::Cow::Borrowed(name)).map(|n| n.into_owned())
}

/// `name` unless it says nothing of which workspace type is meant: a one-letter generic, `Self`,
/// `var`/`auto`, or a standard library type whose methods are the library's.
fn plain_type_name(name: std::borrow::Cow<'_, str>) -> Option<std::borrow::Cow<'_, str>> {
    let said = !matches!(
        name.as_ref(),
        "Self"
            | "var"
            | "auto"
            | "Option"
            | "Result"
            | "Vec"
            | "String"
            | "str"
            | "HashMap"
            | "Map"
            | "Set"
            | "List"
            | "Array"
            | "vector"
            | "string"
            | "map"
            | "unordered_map"
            | "Promise"
            // PHP's `self`, `static` and `parent` as types.
            | "self"
            | "static"
            | "parent"
    );
    (said && name.chars().nth(1).is_some()).then_some(name)
}

/// The type a value plainly constructs: `Client::new(…)`, `Client::default()`,
/// `Client::with_config(…)`, `Client { … }` (Rust), `new HttpClient(…)` (TypeScript, Java, C#),
/// `Client(…)` with a class's capitalised name (Python), `&Client{…}` (Go). Other Rust
/// associated functions may return anything (`Client::builder()`), so they say nothing.
pub(crate) fn constructed_type<'s>(
    language: Language,
    source: Source<'s>,
    value: Node<'_>,
) -> Option<std::borrow::Cow<'s, str>> {
    let name = match (language, language.kind_of(value)) {
        (Language::Rust, "call_expression") => {
            let function = child(language, value, GrammarField::Function)?;
            if language.kind_of(function) != "scoped_identifier" {
                return None;
            }
            let method = child(language, function, GrammarField::Name)?;
            let method = source.text(method.start_byte(), method.end_byte());
            if !(method == "new" || method == "default" || method.starts_with("with_") || method.starts_with("from_")) {
                return None;
            }
            let path = child(language, function, GrammarField::Path)?;
            match language.kind_of(path) {
                "scoped_identifier" => child(language, path, GrammarField::Name)?,
                "identifier" | "type_identifier" => path,
                // `Vec::<T>::new()` and the like: a library's.
                _ => return None,
            }
        }
        (Language::Rust, "struct_expression") => {
            let name = child(language, value, GrammarField::Name)?;
            return written_type(language, source, name);
        }
        (Language::TypeScript | Language::Tsx | Language::JavaScript, "new_expression") => {
            let constructor = child(language, value, GrammarField::Constructor)?;
            match language.kind_of(constructor) {
                "identifier" => constructor,
                "member_expression" => child(language, constructor, GrammarField::Property)?,
                _ => return None,
            }
        }
        (Language::Java | Language::CSharp, "object_creation_expression") => {
            return written_type(language, source, child(language, value, GrammarField::Type)?);
        }
        // `cast(Repo, x)`, `typing.cast(Repo, x)`: the type it names.
        (Language::Python, "call") if python_cast(source, value) => {
            let arguments = value.child_by_field_name("arguments")?;
            return written_type(language, source, arguments.named_child(0)?);
        }
        (Language::Python, "call") => {
            let function = child(language, value, GrammarField::Function)?;
            let name = match language.kind_of(function) {
                "attribute" => child(language, function, GrammarField::Attribute)?,
                _ => function,
            };
            capitalised(source, name)?
        }
        (Language::Go, "unary_expression") => {
            return constructed_type(language, source, child(language, value, GrammarField::Operand)?);
        }
        (Language::Go, "composite_literal") => {
            return written_type(language, source, child(language, value, GrammarField::Type)?);
        }
        // PHP's `new Repo(…)`, `new \App\Repo(…)`.
        (Language::Php, "object_creation_expression") => {
            let class = value.named_child(0)?;
            match language.kind_of(class) {
                "name" => class,
                "qualified_name" => class.named_child(class.named_child_count().checked_sub(1)?)?,
                _ => return None,
            }
        }
        // Swift's `[Repo]()`, `[String: Repo]()`: a collection of the type (see [`value_type`]).
        (Language::Swift, "call_expression")
            if value.named_child(0).is_some_and(|c| language.kind_of(c).ends_with("_literal")) =>
        {
            return swift_empty_collection(source, value.named_child(0)?)
        }
        // Kotlin's `UserRepository(db)`, Swift's `UserRepository(db: db)`: a call of a class's
        // capitalised name, as in Python.
        (Language::Kotlin | Language::Swift, "call_expression") => capitalised(source, value.named_child(0)?)?,
        // Kotlin's `x as Repo`, `x as? Repo`, Swift's `x as? Repo`, `x as! Repo`: the cast's type.
        (Language::Kotlin, "as_expression") => {
            return written_type(language, source, value.child_by_field_name("right")?)
        }
        (Language::Swift, "as_expression") => {
            return written_type(language, source, value.child_by_field_name("name")?)
        }
        // TypeScript's `x as Repo` (`as const` has no type), `<Repo>x` (not in TSX, where it
        // would be an element).
        (Language::TypeScript | Language::Tsx, "as_expression") => {
            return written_type(language, source, value.named_child(1)?)
        }
        (Language::TypeScript, "type_assertion") => {
            return written_type(language, source, value.named_child(0)?.named_child(0)?)
        }
        // `x satisfies Repo` checks `x` against a type and leaves it `x`'s own.
        (Language::TypeScript | Language::Tsx, "satisfies_expression") => {
            return constructed_type(language, source, value.named_child(0)?)
        }
        // C#'s `x as Repo`.
        (Language::CSharp, "as_expression") => {
            return written_type(language, source, value.child_by_field_name("right")?)
        }
        // C#'s and Java's `(Repo)x`.
        (Language::CSharp | Language::Java, "cast_expression") => {
            return written_type(language, source, value.child_by_field_name("type")?)
        }
        // Ruby's `Repo.new(…)`, `Db::Repo.new(…)`.
        (Language::Ruby, "call") => {
            let method = value.child_by_field_name("method")?;
            if source.text(method.start_byte(), method.end_byte()) != "new" {
                return None;
            }
            let class = value.child_by_field_name("receiver")?;
            match language.kind_of(class) {
                "constant" => class,
                "scope_resolution" => class.child_by_field_name("name")?,
                _ => return None,
            }
        }
        _ => return None,
    };
    if !matches!(
        language.kind_of(name),
        "identifier" | "type_identifier" | "property_identifier" | "name" | "constant" | "simple_identifier"
    ) {
        return None;
    }
    plain_type_name(source.text(name.start_byte(), name.end_byte()))
}

/// Whether a Python call is `typing`'s `cast(Repo, x)` (also `typing.cast`, `t.cast`).
fn python_cast(source: Source<'_>, call: Node<'_>) -> bool {
    let Some(function) = child(Language::Python, call, GrammarField::Function) else { return false };
    let name = match function.kind() {
        "attribute" => child(Language::Python, function, GrammarField::Attribute),
        _ => Some(function),
    };
    name.is_some_and(|n| n.kind() == "identifier" && source.text(n.start_byte(), n.end_byte()) == "cast")
}

/// The type `isinstance(repo, Repo)` narrows `repo` to, when `leaf` is that `repo` and the call is what a condition or an `assert` tests (alone, or a term of an `and`):
/// `if isinstance(repo, Repo):` holds a `Repo` in its body, as does the block after an `assert`.
fn python_narrowed<'s>(
    source: Source<'s>,
    leaf: Node<'_>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<std::borrow::Cow<'s, str>> {
    let [.., (outer, _), (call, _), (arguments, _)] = stack else { return None };
    if call.kind() != "call" || arguments.kind() != "argument_list" || arguments.named_child_count() != 2 {
        return None;
    }
    if arguments.named_child(0)?.id() != leaf.id() {
        return None;
    }
    let function = child(Language::Python, *call, GrammarField::Function)?;
    if function.kind() != "identifier" || source.text(function.start_byte(), function.end_byte()) != "isinstance" {
        return None;
    }
    let tested = match outer.kind() {
        "if_statement" | "elif_clause" | "while_statement" => {
            outer.child_by_field_name("condition").is_some_and(|c| c.id() == call.id())
        }
        "assert_statement" => outer.named_child(0).is_some_and(|c| c.id() == call.id()),
        "boolean_operator" => outer.child_by_field_name("operator").is_some_and(|o| o.kind() == "and"),
        _ => false,
    };
    if !tested {
        return None;
    }
    written_type(Language::Python, source, arguments.named_child(1)?)
}

/// The type TypeScript's (or JavaScript's) `repo instanceof Repo` narrows `repo` to, the left of
/// the test whose ancestors `stack` holds, when it is what an `if` or a `while` tests (alone, or
/// a term of an `&&`).
fn instanceof_narrowed<'s>(
    language: Language,
    source: Source<'s>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<std::borrow::Cow<'s, str>> {
    let [.., (grandparent, _), (parent, _), (test, _)] = stack else { return None };
    let operator = |n: &Node<'_>| n.child_by_field_name("operator").map(|o| o.kind());
    if test.kind() != "binary_expression" || operator(test) != Some("instanceof") {
        return None;
    }
    let tested = match parent.kind() {
        "binary_expression" => operator(parent) == Some("&&"),
        "parenthesized_expression" => matches!(grandparent.kind(), "if_statement" | "while_statement"),
        _ => false,
    };
    if !tested {
        return None;
    }
    written_type(language, source, test.child_by_field_name("right")?)
}

/// The collection Swift's `[Repo]()` or `[String: Repo]()` makes, as [`value_type`] spells it.
/// The grammar reads the type before the `()` as an array or dictionary literal (`literal`): one
/// element, or one pair, whose value is a class's capitalised name (`Repo`, `Api.Repo`).
fn swift_empty_collection<'s>(source: Source<'s>, literal: Node<'_>) -> Option<std::borrow::Cow<'s, str>> {
    let (held, element) = match (literal.kind(), literal.named_child_count()) {
        ("array_literal", 1) => (SEQ, literal.named_child(0)?),
        ("dictionary_literal", 2) => (MAP, literal.child_by_field_name("value")?),
        _ => return None,
    };
    let name = match element.kind() {
        "navigation_expression" => element.child_by_field_name("suffix")?.child_by_field_name("suffix")?,
        _ => element,
    };
    let name = capitalised(source, name)?;
    let name = plain_type_name(source.text(name.start_byte(), name.end_byte()))?;
    Some(format!("{held}{name}").into())
}

/// A member's receiver when it is a plain name (`np.array`, `client.send`):
/// [`Qualifier::Receiver`], which [`Names::bind_modules`] resolves to a module or a local's type.
/// `object` is the member's ([`member_object`]), when it is one.
fn receiver(
    language: Language,
    source: Source<'_>,
    parent: Node<'_>,
    field: Option<&str>,
    object: Option<Node<'_>>,
) -> Option<Qualifier> {
    let object = match (language, language.kind_of(parent), field) {
        // A type written through a namespace import: `const u: S.User`.
        (Language::TypeScript | Language::Tsx, "nested_type_identifier", Some("name")) => {
            parent.child_by_field_name("module")?
        }
        // PHP's `$repo`: the name after the sigil, as its binding records it.
        (Language::Php, _, _) => object.filter(|o| language.kind_of(o) == "variable_name")?.named_child(0)?,
        _ => object?,
    };
    let plain = match language.kind_of(object) {
        "identifier" | "name" => true,
        "simple_identifier" => language == Language::Swift,
        _ => false,
    };
    if !plain {
        return None;
    }
    Some(Qualifier::Receiver(name_hash(&source.text(object.start_byte(), object.end_byte()))))
}

/// The type or module that qualifies a name statically, when the syntax says it is one: a
/// path's qualifier in Rust and C++ (`Vec::new`, `std::max`), and in Java, TypeScript,
/// JavaScript, Python, Kotlin, Swift and Ruby a capitalised receiver (`Math.max`, `Date.now`),
/// which by those languages' conventions names a class. C# is left out: its properties are
/// capitalised too, so `Owner.Save()` may call a method of the property's type. `Self`, `super`
/// and the like name no type of their own. A Rust qualifier in lower case is a module
/// ([`Qualifier::Module`]). The qualifier's name is hashed where it is read, never copied.
fn static_qualifier(
    language: Language,
    source: Source<'_>,
    parent: Node<'_>,
    field: Option<&str>,
    object: Option<Node<'_>>,
    types: &mut FxHashMap<u64, String>,
) -> Option<Qualifier> {
    let qualifier = match (language, language.kind_of(parent), field) {
        (Language::Rust, "scoped_identifier" | "scoped_type_identifier", Some("name")) => {
            let path = parent.child_by_field_name("path")?;
            match language.kind_of(path) {
                "identifier" | "type_identifier" => path,
                "scoped_identifier" => path.child_by_field_name("name")?,
                _ => return None,
            }
        }
        (Language::Cpp, "qualified_identifier", Some("name")) => {
            let scope = parent.child_by_field_name("scope")?;
            if !matches!(language.kind_of(scope), "namespace_identifier" | "type_identifier") {
                return None;
            }
            scope
        }
        (Language::Java, "method_invocation" | "field_access", Some("name" | "field")) => {
            capitalised(source, parent.child_by_field_name("object")?)?
        }
        (Language::TypeScript | Language::Tsx | Language::JavaScript, "member_expression", Some("property")) => {
            capitalised(source, parent.child_by_field_name("object")?)?
        }
        (Language::Python, "attribute", Some("attribute")) => {
            capitalised(source, parent.child_by_field_name("object")?)?
        }
        // Kotlin's `Repo.connect(url)`: a companion object's member, or a nested type's. The
        // dot's two sides have no fields; `object` is the receiver only for the name after it.
        (Language::Kotlin, "navigation_expression", None) => capitalised(source, object?)?,
        // Swift's `Repo.connect(url: url)`: a static or class member, or a nested type's.
        (Language::Swift, "navigation_suffix", Some("suffix")) => capitalised(source, object?)?,
        // Ruby's `Repo.connect(url)`, `Repo::connect(url)`.
        (Language::Ruby, "call", Some("method")) => capitalised(source, parent.child_by_field_name("receiver")?)?,
        // PHP's `Repo::find($id)`, `\App\Repo::find($id)`: a class, whatever its case.
        (Language::Php, "scoped_call_expression", Some("name")) => {
            let scope = parent.child_by_field_name("scope")?;
            match language.kind_of(scope) {
                "name" => scope,
                "qualified_name" => scope.named_child(scope.named_child_count().checked_sub(1)?)?,
                _ => return None,
            }
        }
        _ => return None,
    };
    let name = source.text(qualifier.start_byte(), qualifier.end_byte());
    if matches!(name.as_ref(), "Self" | "self" | "super" | "crate") {
        return None;
    }
    let hash = name_hash(&name);
    if language == Language::Rust && name.starts_with(|c: char| c.is_lowercase()) {
        return Some(Qualifier::Module(hash));
    }
    types.entry(hash).or_insert_with(|| name.into_owned());
    Some(Qualifier::By(hash))
}

/// `node` when it is a plain identifier written like a class name: an upper-case first letter
/// and a lower-case letter after it (`MAX_SIZE.x` is a constant, not a type).
fn capitalised<'t>(source: Source<'_>, node: Node<'t>) -> Option<Node<'t>> {
    // Ruby's class names are `constant`s; Swift's names are `simple_identifier`s.
    if !matches!(node.kind(), "identifier" | "type_identifier" | "constant" | "simple_identifier") {
        return None;
    }
    let text = source.text(node.start_byte(), node.end_byte());
    let mut chars = text.chars();
    let first = chars.next()?;
    (first.is_uppercase() && chars.any(char::is_lowercase)).then_some(node)
}

/// What the walk of [`collect`] does with a node of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KindClass {
    /// A named leaf [`record`] looks at: an identifier, a member or a binding kind.
    Name,
    /// A comment or a string literal without interpolation: no names inside.
    Closed,
    /// A Rust attribute: `#[cfg(all(unix, test))]` names no function `all`, and a derive's
    /// traits are the compiler's business, not the completion's. Never walked into.
    Attribute,
    Other,
}

/// Per kind id, its [`KindClass`]. Comparing ids spares turning the kind of every node the walk
/// visits into a string. Per grammar, since TypeScript, TSX and JavaScript share a spec but not
/// their ids.
fn kind_classes(language: Language, spec: &Spec) -> &'static [KindClass] {
    // One per language; plain text stays the last variant.
    const LANGUAGES: usize = Language::PlainText as usize + 1;
    static TABLES: [OnceLock<Vec<KindClass>>; LANGUAGES] = [const { OnceLock::new() }; LANGUAGES];
    let Some(slot) = TABLES.get(language as usize) else {
        return &[];
    };
    // Strings that can hold code (template strings, f-strings) are not among these.
    let plain_strings: &[&str] = match language {
        Language::Rust => &["string_literal", "raw_string_literal", "char_literal"],
        Language::Go => &["interpreted_string_literal", "raw_string_literal", "rune_literal"],
        Language::TypeScript | Language::Tsx | Language::JavaScript => &["string", "regex"],
        // Java text blocks are string literals too; Java has no interpolation.
        Language::Java => &["string_literal", "character_literal"],
        // Not `interpolated_string_expression`: its holes hold code.
        Language::CSharp => &["string_literal", "verbatim_string_literal", "raw_string_literal", "character_literal"],
        Language::C => &["string_literal", "char_literal", "system_lib_string"],
        Language::Cpp => &["string_literal", "raw_string_literal", "char_literal", "system_lib_string"],
        _ => &[],
    };
    slot.get_or_init(|| {
        let Some(grammar) = language.grammar() else {
            return Vec::new();
        };
        (0..grammar.node_kind_count())
            .map(|id| {
                let id = id as u16;
                let Some(kind) = grammar.node_kind_for_id(id).filter(|_| grammar.node_kind_is_named(id)) else {
                    return KindClass::Other;
                };
                if spec.identifiers.contains(&kind) || spec.members.contains(&kind) || is_binding_kind(kind) {
                    KindClass::Name
                } else if kind.ends_with("comment") || plain_strings.contains(&kind) {
                    KindClass::Closed
                } else if language == Language::Rust && matches!(kind, "attribute_item" | "inner_attribute_item") {
                    KindClass::Attribute
                } else {
                    KindClass::Other
                }
            })
            .collect()
    })
}

fn is_binding_kind(kind: &str) -> bool {
    // TypeScript's `{ a }` pattern; C#'s `x` of `x => …`.
    matches!(kind, "shorthand_property_identifier_pattern" | "implicit_parameter")
}

/// Whether a C or C++ name defines something here: a `struct`, `class`, `union` or `enum` with a
/// body (`struct point *p` only uses the name). The `resize` of `void Widget::resize(…) {` is
/// not: its declaration in the class, in a header, is what the model should see, and a
/// constructor's `Widget::Widget` would hide the class.
fn c_family_defines(field: Option<&str>, stack: &[(Node<'_>, Option<&'static str>)]) -> bool {
    stack.last().is_some_and(|(parent, _)| {
        matches!(parent.kind(), "struct_specifier" | "class_specifier" | "union_specifier" | "enum_specifier")
            && field == Some("name")
            && parent.child_by_field_name("body").is_some()
    })
}

/// Whether an identifier in this position introduces a local name (a parameter, a `let`
/// pattern, an assignment target) rather than using one.
fn is_binding(language: Language, field: Option<&str>, parent: Option<&str>, parent_field: Option<&str>) -> bool {
    let Some(parent) = parent else {
        return false;
    };
    match language {
        Language::Rust => matches!(
            (parent, field),
            ("let_declaration" | "parameter" | "for_expression" | "let_condition", Some("pattern"))
                | ("field_pattern", Some("pattern"))
                | ("closure_parameters" | "tuple_pattern" | "mut_pattern" | "ref_pattern", _)
                // `Some(request)`, `Ok(n) =>`, a catch-all arm `other =>`; not `Some`, a `type`.
                | ("tuple_struct_pattern" | "match_pattern" | "slice_pattern", None)
        ),
        Language::Python => matches!(
            (parent, field),
            ("assignment" | "augmented_assignment" | "for_statement" | "for_in_clause", Some("left"))
                | ("default_parameter" | "typed_default_parameter" | "keyword_argument", Some("name"))
                | (
                    "parameters"
                        | "lambda_parameters"
                        | "pattern_list"
                        | "tuple_pattern"
                        | "as_pattern_target"
                        | "list_splat_pattern"
                        | "dictionary_splat_pattern",
                    _
                )
                | ("typed_parameter", None)
        ),
        Language::TypeScript | Language::Tsx | Language::JavaScript => matches!(
            (parent, field),
            ("variable_declarator", Some("name"))
                | ("required_parameter" | "optional_parameter", Some("pattern"))
                | ("arrow_function" | "catch_clause", Some("parameter"))
                | ("for_in_statement" | "assignment_pattern", Some("left"))
                | ("pair_pattern", Some("value"))
                | ("formal_parameters" | "array_pattern" | "rest_pattern", _)
        ),
        Language::Go => {
            matches!(
                (parent, field),
                ("parameter_declaration" | "variable_parameter_declaration", Some("name"))
                    | ("var_spec" | "const_spec", Some("name"))
                    | ("range_clause", Some("left"))
            ) || (parent == "expression_list" && parent_field == Some("left"))
        }
        Language::Java => matches!(
            (parent, field),
            ("variable_declarator" | "formal_parameter" | "catch_formal_parameter" | "resource", Some("name"))
                | ("enhanced_for_statement" | "spread_parameter", Some("name"))
                // `x instanceof Repo repo`.
                | ("instanceof_expression", Some("name"))
                | ("lambda_expression", Some("parameters"))
                | ("inferred_parameters", _)
        ),
        Language::CSharp => matches!(
            (parent, field),
            ("variable_declarator" | "parameter" | "catch_declaration" | "declaration_expression", Some("name"))
                | ("foreach_statement", Some("left"))
                // `x is Repo repo`, `x is Repo { Open: true } repo`, `case Repo repo:`.
                | ("declaration_pattern" | "recursive_pattern", Some("name"))
        ),
        // Whatever a declarator names is declared right there: a variable, a parameter, a field,
        // a function, a typedef. Its type and the names in an initializer are other fields.
        Language::C | Language::Cpp => {
            field == Some("declarator")
                || matches!(
                    parent,
                    "preproc_params"
                        // `const Panel &panel`: the name has no field of its own there.
                        | "reference_declarator"
                        | "structured_binding_declarator"
                        | "type_parameter_declaration"
                        | "variadic_type_parameter_declaration"
                        | "lambda_capture_specifier"
                ) && field.is_none()
                || matches!((parent, field), ("optional_type_parameter_declaration", Some("name")))
        }
        Language::Ruby => matches!(
            (parent, field),
            ("assignment" | "operator_assignment", Some("left"))
                | ("for", Some("pattern"))
                | (
                    "optional_parameter"
                        | "keyword_parameter"
                        | "splat_parameter"
                        | "hash_splat_parameter"
                        | "block_parameter",
                    Some("name")
                )
                | ("method_parameters" | "block_parameters" | "lambda_parameters" | "left_assignment_list", _)
        ),
        // PHP's locals are `$` variables, which `record` never looks up; a parameter's or an
        // assigned variable's name is bound for its type (`Repo $repo`, `$repo = new Repo()`).
        Language::Php => parent == "variable_name" && matches!(parent_field, Some("name" | "left")),
        // `val user`, `fun f(id: Int)`, `class A(val db: Db)`, `{ item -> }`, `catch (e: …)`,
        // an enum's `RED(…)`: the identifier sits right in the declaration, without a field;
        // its type is a `user_type` of its own.
        Language::Kotlin => {
            field.is_none()
                && matches!(
                    parent,
                    "variable_declaration"
                        | "parameter"
                        | "class_parameter"
                        | "catch_block"
                        | "type_parameter"
                        | "enum_entry"
                )
        }
        // `let user`, `for item in`, `if let u`, `catch let e`: the name pattern's `bound_identifier`
        // (an `if let`'s sits in the statement itself); `func f(id: Int)`, `{ (a: Int) in }`:
        // a parameter's `name`, whose type is a `user_type` of its own.
        Language::Swift => {
            field == Some("bound_identifier")
                || field == Some("name") && matches!(parent, "parameter" | "lambda_parameter")
        }
        Language::PlainText => false,
    }
}

/// A looked-up name: its use near the cursor and its definitions elsewhere.
pub(crate) struct Found {
    pub name: String,
    pub usage: Use,
    pub defs: Vec<SymbolDef>,
    /// The name of the value every use is a member of, when its type is unknown
    /// ([`Names::hints`]).
    pub hint: Option<String>,
}

/// Of the classes defining a member called on a value whose type is unknown, keeps the ones
/// that define every member called on that value (`repo.find(id); repo.save(u)`: the class
/// with both `find` and `save`, not another class's `save`). A member counts as the class's
/// when its class or a class one step up or down its hierarchy defines it (a header naming the
/// other). Where no class has them all, or several do and neither the value's name nor one
/// being the base of the others tells them apart, none of the member's classes is shown: a
/// wrong class's signature misleads more than none. A lone member says nothing of the others:
/// [`select`] picks among its classes as before.
pub(crate) fn agree_on_receivers(found: &mut Vec<Found>) {
    let in_class = |f: &Found| f.usage.member_only && f.defs.iter().any(|d| d.container.is_some());
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in found.iter().enumerate() {
        if let (Some(word), true) = (f.hint.as_deref(), in_class(f)) {
            groups.entry(word).or_default().push(i);
        }
    }
    let mut keep: Vec<(usize, Option<String>)> = Vec::new();
    for (word, members) in groups {
        if members.len() < 2 {
            continue;
        }
        // A class's header: the first line of its members' signatures.
        let mut headers: HashMap<&str, &str> = HashMap::new();
        for def in members.iter().flat_map(|&m| &found[m].defs) {
            if let Some(class) = def.container.as_deref() {
                headers.entry(class).or_insert_with(|| def.signature.lines().next().unwrap_or_default());
            }
        }
        let related = |a: &str, b: &str| {
            a == b
                || headers.get(a).is_some_and(|h| names_word(h, b))
                || headers.get(b).is_some_and(|h| names_word(h, a))
        };
        let defines = |class: &str, member: usize| {
            found[member].defs.iter().any(|d| d.container.as_deref().is_some_and(|c| related(class, c)))
        };
        for &m in &members {
            let mut classes: Vec<&str> = found[m].defs.iter().filter_map(|d| d.container.as_deref()).collect();
            classes.sort_unstable();
            classes.dedup();
            if classes.len() < 2 {
                continue;
            }
            let mut complete: Vec<&str> =
                classes.into_iter().filter(|c| members.iter().all(|&other| defines(c, other))).collect();
            if complete.len() > 1 {
                let named: Vec<&str> = complete.iter().copied().filter(|c| named_after(c, word)).collect();
                if !named.is_empty() {
                    complete = named;
                }
            }
            if complete.len() > 1 {
                // The base all the others build on stands for their overrides.
                let base = complete.iter().copied().find(|&base| {
                    complete.iter().all(|&c| c == base || headers.get(c).is_some_and(|h| names_word(h, base)))
                });
                complete = base.into_iter().collect();
            }
            keep.push((m, complete.first().map(|c| c.to_string())));
        }
    }
    for (m, class) in keep {
        found[m].defs.retain(|d| d.container.is_none() || d.container.as_deref() == class.as_deref());
    }
    found.retain(|f| !f.defs.is_empty());
}

/// The names worth a lookup, best first: used, not bound locally (but for members: a local
/// `body` is not what `req.body()` calls), at most [`MAX_LOOKUPS`].
pub(crate) fn lookup_order(names: &Names) -> Vec<(&str, Use)> {
    let mut order: Vec<(&str, Use)> = names
        .used
        .iter()
        .filter(|(name, usage)| usage.member_only || !names.bound.contains(*name))
        .map(|(name, usage)| (name.as_str(), *usage))
        .collect();
    order.sort_by(|a, b| use_score(&b.1).total_cmp(&use_score(&a.1)).then_with(|| a.0.cmp(b.0)));
    order.truncate(MAX_LOOKUPS);
    order
}

/// Closer to the cursor and more frequent first; members count for less.
fn use_score(usage: &Use) -> f64 {
    let proximity = 1.0 / (1.0 + f64::from(usage.distance) / 8.0);
    let frequency = 1.0 + f64::from(usage.count).ln();
    let member = if usage.member_only { 0.6 } else { 1.0 };
    proximity * frequency * member
}

fn kind_weight(kind: SymbolKind) -> f64 {
    match kind {
        SymbolKind::Class
        | SymbolKind::Enum
        | SymbolKind::Interface
        | SymbolKind::Type
        | SymbolKind::Function
        | SymbolKind::Method
        | SymbolKind::Macro => 1.0,
        SymbolKind::Constant => 0.6,
        SymbolKind::Variable => 0.4,
    }
}

/// For each definition, how many of the others live in a class whose header names its class as
/// a base (`class ReadPipe(protocols.Protocol)`, `extends StandardClient`, `: public Widget`):
/// of a method defined all down a hierarchy, the base's is what a caller through the base type
/// reaches, and it stands for the overrides. A header is the signature's first line.
fn base_counts(defs: &[&SymbolDef]) -> Vec<usize> {
    // Quadratic: a name defined everywhere (`new`, `len`) is left in its other order.
    if defs.len() > MAX_BASE_SCAN {
        return vec![0; defs.len()];
    }
    defs.iter()
        .map(|def| {
            let Some(class) = def.container.as_deref() else { return 0 };
            defs.iter()
                .filter(|other| other.container.as_deref().is_some_and(|c| c != class))
                .filter(|other| names_word(other.signature.lines().next().unwrap_or_default(), class))
                .count()
        })
        .collect()
}

/// Whether `word` occurs in `text` as a whole identifier.
fn names_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Number of leading directories `a` and `b` share: a definition next to the current file is
/// the likelier meaning of an ambiguous name.
fn shared_dirs(a: &str, b: &str) -> usize {
    // Called from a sort's comparisons: no allocation.
    dirs(a).zip(dirs(b)).take_while(|(x, y)| x == y).count()
}

/// The directories of a path, outermost first (the part after the last separator is the file).
fn dirs(path: &str) -> impl Iterator<Item = &str> {
    let parent = path.rfind(['/', '\\']).map(|i| &path[..i]);
    parent.into_iter().flat_map(|p| p.split(['/', '\\']))
}

/// Ranks the definitions found and keeps the best that fit in `budget` chars.
///
/// Types and functions rank above constants and variables; a method whose type is also named
/// near the cursor (`Parser::new`, `parser.parse` next to `Parser`) above one of another type.
pub(crate) fn select(found: Vec<Found>, current_path: &str, budget: usize) -> Vec<Snippet> {
    let used: HashSet<&str> = found.iter().map(|f| f.name.as_str()).collect();
    let mut scored: Vec<(f64, &str, &SymbolDef)> = Vec::new();
    for f in &found {
        let owner_near = |d: &SymbolDef| d.container.as_deref().is_some_and(|c| used.contains(c));
        // Values are mostly named after their types: of several types defining `send`, one
        // `client.send()` reads like (`Client`, `HttpClient`) is likelier than `Server`.
        let named = |d: &SymbolDef| match (&f.hint, d.container.as_deref()) {
            (Some(word), Some(container)) => named_after(container, word),
            _ => false,
        };
        let mut defs: Vec<&SymbolDef> = f.defs.iter().collect();
        // `Parser::new` next to `Parser`: the `new` of other types is noise.
        let near = defs.iter().any(|d| owner_near(d));
        if near {
            defs.retain(|d| d.container.is_none() || owner_near(d));
        }
        let bases = base_counts(&defs);
        let mut order: Vec<usize> = (0..defs.len()).collect();
        order.sort_by(|&i, &j| {
            let (a, b) = (defs[i], defs[j]);
            owner_near(b)
                .cmp(&owner_near(a))
                .then_with(|| named(b).cmp(&named(a)))
                .then_with(|| bases[j].cmp(&bases[i]))
                .then_with(|| shared_dirs(&b.path, current_path).cmp(&shared_dirs(&a.path, current_path)))
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.line.cmp(&b.line))
        });
        // `x.data_received(…)` on a receiver of unknown type, with the method in several
        // classes none of which is named nearby: which one is meant is anybody's guess, and
        // one signature shows its shape as well as two (the base class's, first by `bases`).
        let containers: HashSet<&str> = defs.iter().filter_map(|d| d.container.as_deref()).collect();
        // A macro defined one way per platform or configuration (`#ifdef`): one of them will do.
        let all_macros = defs.iter().all(|d| d.signature.starts_with("#define"));
        let ambiguous_member = f.usage.member_only && !near && containers.len() > 1;
        // Two `Body` types, one beside the current file and one in another module: the one in
        // the nearer directory is what an unqualified `Body` means here.
        let nearest_alone = order.len() > 1
            && shared_dirs(&defs[order[0]].path, current_path) > shared_dirs(&defs[order[1]].path, current_path);
        let keep = if ambiguous_member || all_macros || nearest_alone { 1 } else { MAX_DEFS_PER_NAME };
        for def in order.into_iter().take(keep).map(|i| defs[i]) {
            let owner = match (&def.container, owner_near(def)) {
                (Some(_), true) => 1.5,
                (Some(_), false) if def.kind == SymbolKind::Method => 0.7,
                _ => 1.0,
            };
            let score = use_score(&f.usage) * kind_weight(def.kind) * owner;
            scored.push((score, f.name.as_str(), def));
        }
    }
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| a.2.path.cmp(&b.2.path))
            .then_with(|| a.2.line.cmp(&b.2.line))
    });
    let mut left = budget;
    let mut chosen: Vec<(&str, &SymbolDef)> = Vec::new();
    // The same text from another file (a C prototype in a header and its definition in a
    // source file show the same signature) tells the model nothing new.
    let mut texts: HashSet<&str> = HashSet::new();
    for (_, name, def) in scored {
        if texts.contains(&*def.signature) {
            continue;
        }
        let cost = def.signature.chars().count() + def.path.chars().count() + SNIPPET_OVERHEAD;
        if cost > left {
            continue;
        }
        left -= cost;
        texts.insert(&def.signature);
        chosen.push((name, def));
    }
    // A class summary that lists a method's signature (Java, C#, C++ classes show their members)
    // makes the method's own snippet a repeat. A Rust struct lists fields, not methods: there,
    // both stay.
    let listed_in_summary = |def: &SymbolDef| {
        def.container.as_deref().is_some_and(|class| {
            chosen.iter().any(|(_, other)| {
                other.path == def.path
                    && other.container.is_none()
                    && &*other.name == class
                    && other.signature.contains(&format!("{}(", def.name))
            })
        })
    };
    chosen
        .iter()
        .filter(|(_, def)| !listed_in_summary(def))
        .map(|(name, def)| Snippet {
            path: def.path.to_string(),
            text: def.signature.to_string(),
            why: SnippetKind::Definition { symbol: name.to_string() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::lang;
    use crate::text::Document;

    /// Stepping over comments and plain strings finds every name the full walk finds, with the
    /// same counts and distances: windows all over real Rust files and over samples of the other
    /// languages whose strings can hold code (template strings, f-strings).
    #[test]
    fn stepping_over_comments_and_strings_loses_no_name() {
        let sources: [(&str, &str); 10] = [
            ("rust", include_str!("mod.rs")),
            ("rust", include_str!("../postprocess/nested.rs")),
            ("typescript", "// a note on Shape\nconst s: string = \"Shape\";\nconst t = `${render(shape)} and ${count}`;\n/* Block */\nfunction f(shape: Shape) { return /x/.test(s) ? t : draw(shape, 'q'); }\n"),
            ("javascript", "const a = require('a'); // req\nconst msg = `hi ${user.name}`;\nfunction g(x) { return helper(x, \"s\", `${other}`); }\n"),
            ("python", "import os  # os\ndef f(user):\n    \"\"\"Doc of f.\"\"\"\n    return f\"{user.name} {helper(user)}\" + 'x'\n"),
            ("go", "package main\n\n// Run runs.\nfunc Run(p Point) string {\n\treturn fmt.Sprintf(\"%v\", p.X) + `raw` + string('c')\n}\n"),
            ("java", "/** Runs {@link Point}. */\nclass R {\n    String run(Point p) {\n        String t = \"\"\"\n            Point\n            \"\"\";\n        return helper(p.x, 'c', \"s\") + t; // p\n    }\n}\n"),
            ("csharp", "/// <summary>Point.</summary>\nclass R\n{\n    string Run(Point p)\n    {\n        var v = @\"Point\";\n        return $\"{Helper(p.X)} {v}\" + \"\"\"raw\"\"\"; // p\n    }\n}\n"),
            ("c", "#include <stdio.h>\n/* Point */\nstruct point { int x; };\nint show(struct point *p) {\n    return printf(\"%d %c\", p->x, 'c') + helper(p); // helper\n}\n"),
            ("cpp", "#include \"widget.hpp\"\n// Widget\nvoid Widget::draw(Canvas &c) const {\n    c.text(R\"(Widget)\", name_, u8'x');\n    for (auto &[k, v] : items_) { render(k, v); }\n}\n"),
        ];
        for (language_id, text) in sources {
            let doc = Document::new("file:///t", language_id, 1, text);
            let snap = doc.snapshot();
            let (tree, spec) = (snap.tree().unwrap(), lang::spec(snap.language()).unwrap());
            let rope = snap.rope();
            let source = Source::of_rope(rope);
            let len = rope.len_bytes();
            let step = (len / 150).max(1);
            let mut names_seen = 0;
            for start in
                (0..len).step_by(step).filter(|&b| rope.try_byte_to_char(b).is_ok_and(|c| rope.char_to_byte(c) == b))
            {
                let window = start..(start + 1500).min(len);
                let cursor_byte = (start + 700).min(len);
                let row = rope.byte_to_line(cursor_byte);
                let walk = |skip| {
                    let args = (snap.language(), spec, source, tree.root_node(), window.clone(), cursor_byte, row);
                    if skip {
                        collect_walk::<true, true>(args.0, args.1, args.2, args.3, args.4, args.5, args.6)
                    } else {
                        collect_walk::<false, true>(args.0, args.1, args.2, args.3, args.4, args.5, args.6)
                    }
                };
                let (fast, full) = (walk(true), walk(false));
                assert_eq!((&fast.used, &fast.bound), (&full.used, &full.bound), "{language_id}: window {window:?}");
                names_seen += full.used.len();
            }
            assert!(names_seen > 0, "{language_id}: the sample has names");
        }
    }

    #[test]
    fn shared_directories_count_whole_directory_names_and_never_the_file() {
        assert_eq!(shared_dirs("src/parse/lexer.rs", "src/parse/token.rs"), 2);
        assert_eq!(shared_dirs("src/parse.rs", "src/parser/mod.rs"), 1);
        assert_eq!(shared_dirs("src/a.rs", "src/a.rs/b.rs"), 1);
        assert_eq!(shared_dirs("lib.rs", "lib.rs"), 0);
        assert_eq!(shared_dirs("crates\\core\\lib.rs", "crates/core/main.rs"), 2);
        assert_eq!(shared_dirs("/abs/x.rs", "/abs/y.rs"), 2);
    }
}
