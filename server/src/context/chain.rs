//! The types of values reached through calls and members: `self.client.get(url)` is a
//! `RequestBuilder` when `Client::get` says it returns one, so the `.send()` after it is
//! `RequestBuilder`'s, not whichever `send` is nearest. A [`Chain`] is read off the syntax where
//! the walk of [`super::nearby::collect`] meets a member of such a value, or a local assigned
//! one; [`Names::chain_type`] works its type out from the workspace's declarations: fields'
//! types ([`SymbolLookup::field_type`]) and functions' return types ([`SymbolDef::returns`]).

use std::hash::{Hash, Hasher};

use tree_sitter::Node;

use super::nearby::{
    child, constructed_type, name_hash, through_self, typed_qualifier, GrammarField, Lineage, Names, Qualifier,
    MAX_DEFS_PER_CALL,
};
use super::window::Source;
use super::{ancestors_of, SymbolDef, SymbolKind, SymbolLookup};
use crate::text::Language;

/// How many calls and member accesses a chain may have: a longer one (a builder over a hundred
/// lines) costs a lookup per step for a type that is rarely still known at its end.
const MAX_STEPS: usize = 10;
/// How many locals deep a local's type may come from another's (`let a = x.open(); let b =
/// a.reader();`).
const MAX_DEPTH: usize = 3;

/// A value reached from a root through calls and member accesses: `self.client.get(url)` is
/// [`Root::Own`] with the steps `client` (a field) and `get` (a call).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Chain {
    pub root: Root,
    pub steps: Vec<Step>,
}

/// Where a [`Chain`] starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Root {
    /// The object itself: `self`, `this`, a Go method's receiver.
    Own,
    /// A type: named statically (`Client::builder()`, `UserRepo.open(url)`, `Self::new()`), or
    /// a value the syntax plainly constructs (`Client::new()`, `new Repo()`, `Repo()`).
    Type(String),
    /// A name: a local (or a parameter); in Java, C# and C++, where fields need no `this`, a
    /// field when no local has that name.
    Name(String),
    /// A free function's call: `open_repo()`, a module's `db::open()`.
    Call(String),
}

/// One step of a [`Chain`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    /// A field: `.client`.
    Field(String),
    /// A method's call: `.get(url)`.
    Call(String),
    /// An element taken by index or key: `[i]`.
    Index,
    /// One element of an iteration: what `for c in …` binds `c` to.
    Each,
    /// The value of each `(key, value)` pair a map's iteration gives: `v` of `for (k, v) in
    /// &map`.
    Value,
}

impl Chain {
    /// The hash [`Qualifier::Chain`] carries, under which [`Names::chains`] keeps the chain.
    pub(crate) fn hash_key(&self) -> u64 {
        let mut hasher = rustc_hash::FxHasher::default();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// `self.client.get()`, `<Client>.builder().build()` (a type's static member, or a value of
/// that type): for tests and logs.
impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.root {
            Root::Own => write!(f, "self")?,
            Root::Type(name) => write!(f, "<{name}>")?,
            Root::Name(name) => write!(f, "{name}")?,
            Root::Call(name) => write!(f, "{name}()")?,
        }
        for step in &self.steps {
            match step {
                Step::Field(name) => write!(f, ".{name}")?,
                Step::Call(name) => write!(f, ".{name}()")?,
                Step::Index => write!(f, "[]")?,
                Step::Each => write!(f, "[..]")?,
                Step::Value => write!(f, "{{..}}")?,
            }
        }
        Ok(())
    }
}

/// A type string that names a collection of the type after it: `[]Client`, what
/// [`super::nearby::value_type`] makes of `Vec<Client>` or `Client[]`.
pub(crate) const SEQ: &str = "[]";
/// A type string that names a map to the type after it: `{}Client` of `HashMap<K, Client>`.
pub(crate) const MAP: &str = "{}";

/// How a type string holds its named type (see [`SEQ`], [`MAP`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    One,
    Seq,
    Map,
}

/// `ty`'s [`Held`] and the named type.
pub(crate) fn held(ty: &str) -> (Held, &str) {
    if let Some(element) = ty.strip_prefix(SEQ) {
        (Held::Seq, element)
    } else if let Some(element) = ty.strip_prefix(MAP) {
        (Held::Map, element)
    } else {
        (Held::One, ty)
    }
}

/// Methods that take one element out of a collection (`first()`, `get(i)`, `pop()`), across
/// the languages' libraries.
const ELEMENT_CALLS: &[&str] = &[
    "first",
    "last",
    "get",
    "get_mut",
    "pop",
    "pop_front",
    "pop_back",
    "front",
    "back",
    "next",
    "next_back",
    "peek",
    "remove",
    "swap_remove",
    "at",
    "find",
    "shift",
    "getFirst",
    "getLast",
    "poll",
    "First",
    "Last",
    "FirstOrDefault",
    "LastOrDefault",
    "Single",
    "SingleOrDefault",
    "ElementAt",
    "Find",
];

/// Methods that hand back a view or a subset of a collection's elements (`iter()`,
/// `filter(…)`, `values()` of a map).
const COLLECTION_CALLS: &[&str] = &[
    "iter",
    "iter_mut",
    "into_iter",
    "drain",
    "rev",
    "skip",
    "take",
    "filter",
    "peekable",
    "as_slice",
    "to_vec",
    "slice",
    "values",
    "values_mut",
    "into_values",
    "stream",
    "Where",
    "OrderBy",
    "ToList",
    "ToArray",
    "AsEnumerable",
];

/// Java's, C#'s, C++'s, Kotlin's and Swift's fields are named without `this` (`self`): a plain
/// name may be one.
pub(crate) fn fields_need_no_receiver(family: Language) -> bool {
    matches!(family, Language::Java | Language::CSharp | Language::Cpp | Language::Kotlin | Language::Swift)
}

/// Methods that hand back the value they are called on, or a guard, reference or copy of it,
/// when the type's own declarations do not say otherwise: `self.inner.lock().unwrap()` is the
/// `Inner` of `inner: Arc<Mutex<Inner>>`.
const PASS_THROUGH: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or_default",
    "clone",
    "cloned",
    "to_owned",
    "as_ref",
    "as_mut",
    "borrow",
    "borrow_mut",
    "lock",
    "read",
    "write",
    "deref",
    "deref_mut",
    "get_ref",
    "get_mut",
    "orElseThrow",
];

/// The chain a value's syntax spells, from its root: `node` is the value (a member's object,
/// a local's initializer). `None` for anything else: an index, an operator, a literal, a
/// closure, or a chain longer than [`MAX_STEPS`]. `stack` holds `node`'s ancestors (for a Go
/// method's receiver).
pub(crate) fn value_chain(
    language: Language,
    source: Source<'_>,
    mut node: Node<'_>,
    stack: &[(Node<'_>, Option<&'static str>)],
) -> Option<Chain> {
    let text = |n: Node<'_>| source.text(n.start_byte(), n.end_byte());
    let mut steps = Vec::new();
    // Each turn takes a step or peels a wrapper: twice the steps bounds both.
    let mut turns = 0;
    let root = loop {
        turns += 1;
        if turns > 2 * MAX_STEPS || steps.len() > MAX_STEPS {
            return None;
        }
        match language.kind_of(node) {
            // What leaves the value's type as it is, as far as its members go.
            // TypeScript's `x satisfies Repo` is `x`, of `x`'s own type.
            "try_expression"
            | "await_expression"
            | "await"
            | "parenthesized_expression"
            | "non_null_expression"
            | "satisfies_expression" => {
                node = node.named_child(0)?;
            }
            // Swift's `(x as? Repo)`: parentheses around one unlabelled value.
            "tuple_expression" if language == Language::Swift => {
                if node.named_child_count() != 1 || node.child_by_field_name("name").is_some() {
                    return None;
                }
                node = node.child_by_field_name("value")?;
            }
            // Kotlin's `repo!!`: the not-null assertion keeps the type, as `repo?.` does.
            "unary_expression" if language == Language::Kotlin => {
                if node.child_by_field_name("operator").is_none_or(|o| o.kind() != "!!") {
                    return None;
                }
                node = node.child_by_field_name("argument")?;
            }
            // Rust's `&self.clients`, `&mut v`.
            "reference_expression" => node = child(language, node, GrammarField::Value)?,
            // `self.clients[0]`, `clients[id]`.
            "index_expression"
            | "subscript_expression"
            | "subscript"
            | "array_access"
            | "element_access_expression" => {
                // A slice (`v[1..]`, `items[1:]`) is still the collection.
                let slice = match language {
                    Language::Rust => node.named_child(1).is_some_and(|i| language.kind_of(i) == "range_expression"),
                    Language::Python => {
                        node.child_by_field_name("subscript").is_some_and(|i| language.kind_of(i) == "slice")
                    }
                    _ => false,
                };
                if !slice {
                    steps.push(Step::Index);
                }
                node = match language {
                    Language::Rust => node.named_child(0),
                    Language::Go => child(language, node, GrammarField::Operand),
                    Language::Python => child(language, node, GrammarField::Value),
                    Language::Java => node.child_by_field_name("array"),
                    Language::CSharp => child(language, node, GrammarField::Expression),
                    Language::Cpp | Language::C => child(language, node, GrammarField::Argument),
                    _ => child(language, node, GrammarField::Object),
                }?;
            }
            // Casts too: `(x as Repo).find()`, `(<Repo>x).find()`, C#'s `((Repo)x).Find()`.
            "new_expression"
            | "object_creation_expression"
            | "composite_literal"
            | "unary_expression"
            | "struct_expression"
            | "as_expression"
            | "type_assertion"
            | "cast_expression" => {
                break Root::Type(constructed_type(language, source, node)?.into_owned());
            }
            // Kotlin's `open()`, `repo.find()`, `UserRepository(db)` and Swift's `open()`,
            // `repo.find(id: 1)`, `UserRepository(db: db)`: the callee is the call's first child,
            // and a member access is shaped differently in each (see `navigation`).
            "call_expression" if matches!(language, Language::Kotlin | Language::Swift) => {
                if let Some(ty) = constructed_type(language, source, node) {
                    break Root::Type(ty.into_owned());
                }
                // Swift's `byName[key]`: a call whose arguments are in brackets.
                if language == Language::Swift && is_swift_subscript(node) {
                    steps.push(Step::Index);
                    node = node.named_child(0)?;
                    continue;
                }
                let function = node.named_child(0)?;
                match language.kind_of(function) {
                    "navigation_expression" => {
                        let (object, name) = navigation(language, function)?;
                        steps.push(Step::Call(text(name).into_owned()));
                        node = object;
                    }
                    kind if kind == plain_name(language) => break Root::Call(text(function).into_owned()),
                    _ => return None,
                }
            }
            "navigation_expression" if matches!(language, Language::Kotlin | Language::Swift) => {
                let (object, name) = navigation(language, node)?;
                steps.push(Step::Field(text(name).into_owned()));
                node = object;
            }
            "simple_identifier" if language == Language::Swift => {
                let name = text(node);
                let mut chars = name.chars();
                let is_type = chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase);
                break if is_type { Root::Type(name.into_owned()) } else { Root::Name(name.into_owned()) };
            }
            "this_expression" | "self_expression" => break Root::Own,
            "call_expression" | "call" | "invocation_expression" => {
                if let Some(ty) = constructed_type(language, source, node) {
                    break Root::Type(ty.into_owned());
                }
                let mut function = child(language, node, GrammarField::Function)?;
                if language.kind_of(function) == "generic_function" {
                    // `iter.collect::<Vec<_>>()`.
                    function = child(language, function, GrammarField::Function)?;
                }
                match language.kind_of(function) {
                    "identifier" => break Root::Call(text(function).into_owned()),
                    // `Client::builder()`, `db::open()`; C++'s `Pool::instance()`.
                    "scoped_identifier" | "qualified_identifier" => {
                        let name = child(language, function, GrammarField::Name)?;
                        if !matches!(language.kind_of(name), "identifier" | "field_identifier") {
                            return None;
                        }
                        let name = text(name).into_owned();
                        let path = match language {
                            Language::Rust => child(language, function, GrammarField::Path),
                            _ => function.child_by_field_name("scope"),
                        };
                        let Some(path) = path else { break Root::Call(name) };
                        let path_text = text(path);
                        let is_type = match language.kind_of(path) {
                            "type_identifier" => true,
                            "identifier" => path_text.starts_with(char::is_uppercase),
                            "self" => path_text == "Self",
                            _ => false,
                        };
                        if !is_type {
                            // A module's function, or a path the chain does not follow.
                            if matches!(
                                language.kind_of(path),
                                "identifier" | "namespace_identifier" | "scoped_identifier"
                            ) {
                                break Root::Call(name);
                            }
                            return None;
                        }
                        steps.push(Step::Call(name));
                        break Root::Type(path_text.into_owned());
                    }
                    _ => {
                        let (object, name) = member_parts(language, function)?;
                        steps.push(Step::Call(text(name).into_owned()));
                        match object {
                            Some(object) => node = object,
                            None => break Root::Own,
                        }
                    }
                }
            }
            // Java's call carries its object itself; without one it is a call of the class's own.
            "method_invocation" => {
                steps.push(Step::Call(text(child(language, node, GrammarField::Name)?).into_owned()));
                match child(language, node, GrammarField::Object) {
                    Some(object) => node = object,
                    None => break Root::Own,
                }
            }
            // PHP's `$this`, `$repo`.
            "variable_name" if language == Language::Php => {
                let name = text(node.named_child(0)?);
                break if name == "this" { Root::Own } else { Root::Name(name.into_owned()) };
            }
            // PHP's `$a->find()`, `$a?->find()`, `$a->repo`, `Repo::open()`, `self::open()`.
            "member_call_expression"
            | "nullsafe_member_call_expression"
            | "member_access_expression"
            | "nullsafe_member_access_expression"
            | "scoped_call_expression"
                if language == Language::Php =>
            {
                let name = child(language, node, GrammarField::Name).filter(|n| language.kind_of(n) == "name")?;
                let name = text(name).into_owned();
                let kind = language.kind_of(node);
                steps.push(if kind.ends_with("access_expression") { Step::Field(name) } else { Step::Call(name) });
                if kind != "scoped_call_expression" {
                    node = child(language, node, GrammarField::Object)?;
                    continue;
                }
                let scope = node.child_by_field_name("scope")?;
                break match language.kind_of(scope) {
                    "relative_scope" => Root::Own,
                    "name" => Root::Type(text(scope).into_owned()),
                    "qualified_name" => {
                        Root::Type(text(scope.named_child(scope.named_child_count().checked_sub(1)?)?).into_owned())
                    }
                    _ => return None,
                };
            }
            // PHP's `open_repo()`, `\App\open_repo()`.
            "function_call_expression" if language == Language::Php => {
                let function = child(language, node, GrammarField::Function)?;
                let function = match language.kind_of(function) {
                    "name" => function,
                    "qualified_name" => function.named_child(function.named_child_count().checked_sub(1)?)?,
                    _ => return None,
                };
                break Root::Call(text(function).into_owned());
            }
            "this" | "self" => break Root::Own,
            "identifier" | "type_identifier" => {
                let name = text(node);
                let is_self = match language {
                    Language::Python => matches!(name.as_ref(), "self" | "cls"),
                    Language::Go => through_self(language, source, node, Some(node), stack),
                    _ => false,
                };
                if is_self {
                    break Root::Own;
                }
                let is_type = match language {
                    Language::Rust => name == "Self",
                    // By those languages' conventions a capitalised name is a class (see
                    // `static_qualifier`); C#'s properties are capitalised too.
                    Language::Java
                    | Language::TypeScript
                    | Language::Tsx
                    | Language::JavaScript
                    | Language::Python
                    | Language::Kotlin => {
                        let mut chars = name.chars();
                        chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase)
                    }
                    _ => false,
                };
                break if is_type { Root::Type(name.into_owned()) } else { Root::Name(name.into_owned()) };
            }
            _ => {
                let (object, name) = member_parts(language, node)?;
                steps.push(Step::Field(text(name).into_owned()));
                match object {
                    Some(object) => node = object,
                    // C#'s `this.repo`: `this` is no child of its own.
                    None => break Root::Own,
                }
            }
        }
    };
    steps.reverse();
    Some(Chain { root, steps })
}

/// A Kotlin or Swift `a.b`'s (or `a?.b`'s) object and member name. Kotlin's navigation has no
/// fields (object, then the member's identifier); Swift's keeps the member two `suffix`es deep.
fn navigation(language: Language, node: Node<'_>) -> Option<(Node<'_>, Node<'_>)> {
    let (object, name) = if language == Language::Kotlin {
        let count = node.named_child_count();
        (count == 2).then_some(())?;
        (node.named_child(0)?, node.named_child(count - 1)?)
    } else {
        (node.child_by_field_name("target")?, node.child_by_field_name("suffix")?.child_by_field_name("suffix")?)
    };
    (name.kind() == plain_name(language)).then_some((object, name))
}

/// Whether a Swift `call_expression` is a subscript (`byName[key]`), whose arguments the grammar
/// lays out as a call's, in brackets.
fn is_swift_subscript(call: Node<'_>) -> bool {
    let arguments = call.named_child(1).filter(|s| s.kind() == "call_suffix").and_then(|s| s.named_child(0));
    arguments.is_some_and(|a| a.kind() == "value_arguments" && a.child(0).is_some_and(|b| b.kind() == "["))
}

/// The node kind of a plain name in Kotlin's and Swift's grammars.
fn plain_name(language: Language) -> &'static str {
    if language == Language::Kotlin {
        "identifier"
    } else {
        "simple_identifier"
    }
}

/// A member access's object and member name: `(a, b)` of `a.b`, `a->b`, `a?.b`. The object is
/// `None` for C#'s `this.b`. `None` for any other node.
fn member_parts<'t>(language: Language, node: Node<'t>) -> Option<(Option<Node<'t>>, Node<'t>)> {
    let (object, name) = match language.kind_of(node) {
        "member_expression" => (GrammarField::Object, GrammarField::Property),
        "attribute" => (GrammarField::Object, GrammarField::Attribute),
        "selector_expression" => (GrammarField::Operand, GrammarField::Field),
        "field_access" => (GrammarField::Object, GrammarField::Field),
        "field_expression" if language == Language::Rust => (GrammarField::Value, GrammarField::Field),
        "field_expression" => (GrammarField::Argument, GrammarField::Field),
        "member_access_expression" => (GrammarField::Expression, GrammarField::Name),
        _ => return None,
    };
    let name = child(language, node, name)?;
    if !matches!(language.kind_of(name), "identifier" | "property_identifier" | "field_identifier") {
        return None;
    }
    let object = child(language, node, object);
    if object.is_none()
        && !(language == Language::CSharp && node.child(0).is_some_and(|c| language.kind_of(c) == "this"))
    {
        return None;
    }
    Some((object, name))
}

/// What [`Names::chain_type`] looks things up in.
pub(crate) struct Lookups<'a> {
    pub family: Language,
    pub symbols: &'a dyn SymbolLookup,
    /// The class around the cursor and its bases: found only when a chain needs it, since that
    /// costs a lookup per base.
    pub lineage: &'a dyn Fn() -> Option<&'a Lineage>,
}

impl Lookups<'_> {
    /// The classes a field of the object itself may be declared in: its own class first, then
    /// its bases in a fixed order (a set's order is random; the prompt must not be).
    pub(crate) fn own_classes(&self) -> Vec<&str> {
        let Some(lineage) = (self.lineage)() else { return Vec::new() };
        let mut others: Vec<&str> =
            lineage.names.iter().map(String::as_str).filter(|n| Some(*n) != lineage.own.as_deref()).collect();
        others.sort_unstable();
        lineage.own.as_deref().into_iter().chain(others).collect()
    }

    /// The type of field `name` of a value of type `ty`, as `ty` or one of its bases declares it.
    fn field_of(&self, ty: &str, name: &str) -> Option<String> {
        if let Some(found) = self.symbols.field_type(ty, name, self.family) {
            return Some(found);
        }
        let mut bases: Vec<String> = ancestors_of(ty, self.family, self.symbols).into_iter().collect();
        bases.sort_unstable();
        bases.iter().find_map(|base| self.symbols.field_type(base, name, self.family))
    }

    /// What calling method (or function) `name` on a value of type `ty` returns: what `ty`'s own
    /// definitions of it, or else its bases', agree on. A method `ty` does not have is one of
    /// [`PASS_THROUGH`], which keeps the type, or else whatever the workspace's definitions of
    /// that name agree on, as when the value's type is unknown.
    fn call_of(&self, ty: Option<&str>, name: &str) -> Option<String> {
        let mut defs = self.symbols.lookup(name);
        defs.retain(|d| {
            d.language.family() == self.family && matches!(d.kind, SymbolKind::Function | SymbolKind::Method)
        });
        if let Some(ty) = ty {
            let own: Vec<&SymbolDef> = defs.iter().filter(|d| d.container.as_deref() == Some(ty)).collect();
            if !own.is_empty() {
                return agreed(own);
            }
            // The bases cost lookups: only when some type defines the method at all.
            if defs.iter().any(|d| d.container.is_some()) {
                let bases = ancestors_of(ty, self.family, self.symbols);
                let inherited: Vec<&SymbolDef> =
                    defs.iter().filter(|d| d.container.as_deref().is_some_and(|c| bases.contains(c))).collect();
                if !inherited.is_empty() {
                    return agreed(inherited);
                }
            }
            if PASS_THROUGH.contains(&name) {
                return Some(ty.to_string());
            }
        }
        agreed(defs.iter().collect())
    }
}

/// The return type every one of `defs` declares, when they agree and are few; else nothing is
/// known.
fn agreed(defs: Vec<&SymbolDef>) -> Option<String> {
    let first = defs.first()?.returns.as_deref()?;
    (defs.len() <= MAX_DEFS_PER_CALL && defs.iter().all(|d| d.returns.as_deref() == Some(first)))
        .then(|| first.to_string())
}

impl Names {
    /// The type of the value `chain` reaches, by the workspace's declarations, as far as they
    /// say: each field's declared type and each call's declared return type, from the root's
    /// type. A call on a value of unknown type is typed by what every definition of its name
    /// agrees on (`db.connect().await`), a field of one is unknown.
    pub(crate) fn chain_type(&self, chain: &Chain, lookups: &Lookups<'_>, depth: usize) -> Option<String> {
        let own = || (lookups.lineage)().and_then(|l| l.own.clone());
        let mut ty = match &chain.root {
            Root::Own => own(),
            Root::Type(name) if name == "Self" => own(),
            Root::Type(name) => Some(name.clone()),
            Root::Name(name) => self.name_type(name, lookups, depth),
            Root::Call(function) => lookups.call_of(None, function),
        }
        .map(|ty| self.unaliased(ty));
        for step in &chain.steps {
            let (holds, element) = match ty.as_deref() {
                Some(ty) => held(ty),
                None => (Held::One, ""),
            };
            ty = match (holds, step) {
                (Held::One, Step::Field(field)) => lookups.field_of(ty.as_deref()?, field),
                (Held::One, Step::Call(method)) => lookups.call_of(ty.as_deref(), method),
                (Held::One, Step::Index | Step::Each | Step::Value) => None,
                // A collection's own methods are the library's: only those that keep it or
                // take an element out say what comes back.
                (_, Step::Call(method)) if ELEMENT_CALLS.contains(&method.as_str()) => Some(element.to_string()),
                (_, Step::Call(method)) if PASS_THROUGH.contains(&method.as_str()) => ty,
                (Held::Seq, Step::Call(method)) if COLLECTION_CALLS.contains(&method.as_str()) => ty,
                (Held::Map, Step::Call(method)) if method.starts_with("values") || method == "into_values" => {
                    Some(format!("{SEQ}{element}"))
                }
                (_, Step::Index) => Some(element.to_string()),
                // Iterating a map gives pairs (or keys).
                (Held::Seq, Step::Each) | (Held::Map, Step::Value) => Some(element.to_string()),
                _ => None,
            }
            .map(|ty| self.unaliased(ty));
        }
        ty
    }

    /// The type of a plain name used as a value: a local's, when its declaration or its value
    /// says; in Java, C# and C++ a field's, when no local has that name.
    fn name_type(&self, name: &str, lookups: &Lookups<'_>, depth: usize) -> Option<String> {
        let hash = name_hash(name);
        if let Some(ty) = self.local_types.get(&hash) {
            return self.types.get(ty).cloned();
        }
        if let Some(chain) = self.local_chains.get(&hash) {
            return (depth < MAX_DEPTH).then(|| self.chain_type(chain, lookups, depth + 1)).flatten();
        }
        if self.bound.contains(name) || !fields_need_no_receiver(lookups.family) {
            return None;
        }
        lookups.own_classes().into_iter().find_map(|class| lookups.symbols.field_type(class, name, lookups.family))
    }

    /// Types the locals whose value is a chain (see [`Names::local_chains`]: `let repo =
    /// open_repo()?`, `let b = self.client.get(url)`) by [`Names::chain_type`]. Only the locals
    /// whose members are used near the cursor are worked out here (a chain that starts at a
    /// local works it out itself). Call before [`Names::bind_modules`], which types members of
    /// typed locals.
    pub(crate) fn bind_calls(&mut self, lookups: &Lookups<'_>) {
        if self.local_chains.is_empty() {
            return;
        }
        let wanted: rustc_hash::FxHashSet<u64> = self
            .used
            .values()
            .filter_map(|u| match u.qualifier {
                Qualifier::Receiver(hash) => Some(hash),
                _ => None,
            })
            .collect();
        let mut typed: Vec<(u64, String)> = Vec::new();
        for (local, chain) in &self.local_chains {
            if self.local_types.contains_key(local) || !wanted.contains(local) {
                continue;
            }
            if let Some(ty) = self.chain_type(chain, lookups, 0) {
                typed.push((*local, ty));
            }
        }
        for (local, ty) in typed {
            let hash = name_hash(&ty);
            self.types.entry(hash).or_insert(ty);
            self.local_types.insert(local, hash);
        }
    }

    /// The type of the value the cursor is reaching into (`receiver` is the text before the
    /// `.` or `->` it follows: `repo`, `self.users`, `this.client`, a Go receiver's `h.store`),
    /// as the locals' declarations and the classes' fields say: a local's declared type, or the
    /// declared type of a field of `self`/`this` or of a typed local. Nothing for a collection
    /// (its members are the library's) or a longer chain.
    pub(crate) fn receiver_type(&self, receiver: &str, lookups: &Lookups<'_>) -> Option<String> {
        let (first, field) = match receiver.split_once('.') {
            Some((first, field)) => (first, Some(field)),
            None => (receiver, None),
        };
        let own = matches!(first, "self" | "this");
        let local = || {
            let hash = self.local_types.get(&name_hash(first))?;
            let (held, ty) = held(self.types.get(hash)?);
            (held == Held::One).then(|| ty.to_string())
        };
        let ty = match field {
            // The class around the cursor is this file's: nothing to bring.
            None if own => return None,
            None => local()?,
            Some(field) => {
                let classes: Vec<String> = if own {
                    lookups.own_classes().into_iter().map(str::to_string).collect()
                } else {
                    local().into_iter().collect()
                };
                let ty = classes.iter().find_map(|class| lookups.field_of(class, field))?;
                self.unaliased(ty)
            }
        };
        let (held, ty) = held(&ty);
        (held == Held::One).then(|| ty.to_string())
    }

    /// Gives each [`Qualifier::Chain`] the type its chain reaches ([`Qualifier::Typed`]), or
    /// [`Qualifier::Any`] where the workspace does not say.
    pub(crate) fn bind_chains(&mut self, lookups: &Lookups<'_>) {
        if self.chains.is_empty() {
            return;
        }
        let mut typed: rustc_hash::FxHashMap<u64, Option<String>> = rustc_hash::FxHashMap::default();
        let mut type_of = |key: u64| {
            typed
                .entry(key)
                .or_insert_with(|| self.chains.get(&key).and_then(|chain| self.chain_type(chain, lookups, 0)))
                .clone()
        };
        let mut found: Vec<(String, Option<String>)> = Vec::new();
        for (name, usage) in &self.used {
            let Qualifier::Chain(key) = usage.qualifier else { continue };
            let mut ty = type_of(key);
            for other in self.more_chains.get(name).into_iter().flatten() {
                if ty.is_some() && type_of(*other) != ty {
                    ty = None;
                }
            }
            found.push((name.clone(), ty));
        }
        for (name, ty) in found {
            let qualifier = match ty {
                Some(ty) => {
                    let hash = name_hash(&ty);
                    self.types.entry(hash).or_insert(ty);
                    typed_qualifier(&self.types, hash)
                }
                None => Qualifier::Any,
            };
            if let Some(usage) = self.used.get_mut(&name) {
                usage.qualifier = qualifier;
            }
        }
    }
}
