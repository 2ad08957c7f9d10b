//! What declarations say of types, read when the index records them. A class's fields
//! (`private repo: UserStore`, `constructor(private client: HttpClient)`, `self.client =
//! Client()` in `__init__`, a Rust or Go struct's fields, the types a Go struct embeds):
//! `this.repo.find()` near the cursor is then `UserStore`'s `find` (see
//! [`super::nearby::Qualifier::SelfField`]). A function's return type (`-> Result<Repo>`):
//! `let repo = open()?; repo.find()` is then `Repo`'s (see [`super::nearby::Names::bind_calls`]).

use tree_sitter::Node;

use super::nearby::{constructed_type, kotlin_initializer, kotlin_type, value_type, written_type, KOTLIN_TYPES};
use super::symbols::{declared_variable, kotlin_body, named_children};
use super::window::Source;
use crate::text::Language;

/// How many fields of one class are recorded at most: a generated class with thousands says
/// nothing the first ones do not, and each costs the index memory.
const MAX_FIELDS: usize = 64;

/// The fields of the class, struct or record `node` (a definition the index records) whose
/// declaration names a workspace type, as (field, type name) pairs in the order declared. A
/// field's type is the one written, else the one its initial value plainly constructs; in a
/// Python `__init__`, also the written type of the parameter assigned to it (`self.repo =
/// repo` with `repo: UserStore`). Fields of library wrapper types (`Option<T>`, `List<T>`) are
/// left out. Go's embedded types (`*Router` in a struct, `io.Reader` in an interface), PHP's
/// traits a class `use`s and Ruby's modules a class `include`s or `extend`s come as fields named
/// after their type, marked `embedded`: their members are the class's too.
pub(crate) fn class_fields(language: Language, node: Node<'_>, source: Source<'_>) -> Vec<ClassField> {
    let mut fields = Fields { language, source, found: Vec::new() };
    let body = match node.kind() {
        // Go: `type A struct { … }`; an interface's elements are its own body.
        "type_spec" => node.child_by_field_name("type").and_then(|t| match t.kind() {
            "struct_type" => {
                let mut cursor = t.walk();
                let list = t.named_children(&mut cursor).find(|c| c.kind() == "field_declaration_list");
                list
            }
            "interface_type" => Some(t),
            _ => None,
        }),
        _ if language == Language::Kotlin => kotlin_body(node),
        _ => node.child_by_field_name("body"),
    };
    if language == Language::Kotlin {
        // `class A(private val repo: UserRepository)`: a parameter with `val` or `var` is a
        // property.
        let list = named_children(node).into_iter().find(|c| c.kind() == "primary_constructor");
        let list = list.and_then(|c| named_children(c).into_iter().find(|c| c.kind() == "class_parameters"));
        for parameter in list.map(named_children).unwrap_or_default() {
            let mut cursor = parameter.walk();
            let property = parameter.children(&mut cursor).any(|c| matches!(c.kind(), "val" | "var"));
            if property {
                let name = named_children(parameter).into_iter().find(|c| c.kind() == "identifier");
                fields.typed(name, kotlin_type(parameter));
            }
        }
    }
    if language == Language::Java && node.kind() == "record_declaration" {
        // `record Point(Repo repo)`: the components are fields.
        if let Some(parameters) = node.child_by_field_name("parameters") {
            for parameter in named_children(parameters) {
                fields.typed(parameter.child_by_field_name("name"), parameter.child_by_field_name("type"));
            }
        }
    }
    if language == Language::CSharp {
        // A record's positional parameters, a class's primary constructor: `record P(Repo Repo)`.
        if let Some(parameters) = named_children(node).into_iter().find(|c| c.kind() == "parameter_list") {
            for parameter in named_children(parameters) {
                fields.typed(parameter.child_by_field_name("name"), parameter.child_by_field_name("type"));
            }
        }
    }
    let Some(body) = body else {
        return fields.found;
    };
    for member in named_children(body) {
        if fields.found.len() >= MAX_FIELDS {
            break;
        }
        fields.member(member);
    }
    // Attributes first assigned outside the constructor (`setUp`, `connection_made`, an
    // `init()`) count too, after the constructor's, which are the surer.
    if matches!(language, Language::Python | Language::TypeScript | Language::Tsx | Language::JavaScript) {
        for member in named_children(body) {
            if fields.found.len() >= MAX_FIELDS {
                break;
            }
            fields.assigned_elsewhere(member);
        }
    }
    fields.found.truncate(MAX_FIELDS);
    fields.found
}

/// The workspace type a function or method returns, by name, as its declaration writes it:
/// `Repo` of `-> Result<Repo, E>`, `: Promise<Repo>`, `-> Optional[Repo]`, `(*Repo, error)`,
/// `Task<Repo>`. A wrapper whose methods are the library's is seen through to what it holds
/// (`Result`, `Option`, `Promise`, `Task`, `Box`, …); `Self` (PHP's `self` and `static`) is
/// `container`. `None` when no return type is written, or for library types (`Vec<Repo>`,
/// `string`).
pub(crate) fn returned_type(
    language: Language,
    function: Node<'_>,
    source: Source<'_>,
    container: Option<&str>,
) -> Option<String> {
    let function = match function.kind() {
        "variable_declarator" => function.child_by_field_name("value")?,
        _ => function,
    };
    // Kotlin's `fun open(): Repo?`: the type after the parameters, which has no field (one
    // before the name is an extension's receiver).
    if language == Language::Kotlin {
        let mut cursor = function.walk();
        let mut children = function.named_children(&mut cursor);
        children.find(|c| c.kind() == "function_value_parameters")?;
        let ty = children.next().filter(|c| KOTLIN_TYPES.contains(&c.kind()))?;
        return value_type(language, source, ty).map(|t| t.into_owned());
    }
    let fields: &[&str] = match language {
        Language::Go => &["result"],
        Language::Java | Language::C | Language::Cpp => &["type"],
        Language::CSharp => &["returns", "type"],
        _ => &["return_type"],
    };
    let mut node = fields.iter().find_map(|f| function.child_by_field_name(f))?;
    let text = |n: Node<'_>| source.text(n.start_byte(), n.end_byte());
    for _ in 0..6 {
        let next = match node.kind() {
            "type_annotation" | "type" => node.named_child(0),
            // `Repo | undefined`
            "union_type" => node.named_child(0),
            // Go's `(*Repo, error)`: the first result.
            "parameter_list" => node.named_child(0).and_then(|p| p.child_by_field_name("type")),
            "generic_type" | "generic_name" => {
                let base = node
                    .child_by_field_name("type")
                    .or_else(|| node.child_by_field_name("name"))
                    .or_else(|| node.named_child(0))?;
                let base = match base.kind() {
                    "scoped_type_identifier" | "nested_type_identifier" => base.child_by_field_name("name")?,
                    _ => base,
                };
                let wrapper = matches!(
                    text(base).as_ref(),
                    "Result" | "Option" | "Optional" | "Promise" | "Task" | "ValueTask" | "Box" | "Arc" | "Rc"
                );
                if !wrapper {
                    break;
                }
                // The first argument: Rust's and TypeScript's `type_arguments`, C#'s
                // `type_argument_list`, Python's `type_parameter`.
                let arguments = (0..node.named_child_count())
                    .filter_map(|i| node.named_child(i))
                    .find(|c| matches!(c.kind(), "type_arguments" | "type_argument_list" | "type_parameter"))?;
                arguments.named_child(0)
            }
            "string" if language == Language::Python => {
                // `-> "Repo"`, a forward reference.
                let name = text(node);
                let name = name.trim_matches(|c| c == '"' || c == '\'');
                let plain = name.chars().all(|c| c.is_alphanumeric() || c == '_');
                return (plain && name.starts_with(char::is_uppercase)).then(|| name.to_string());
            }
            _ => break,
        };
        node = next?;
    }
    if text(node) == "Self" {
        return container.map(str::to_string);
    }
    // PHP's `: self`, `: static` and `: ?self` (a fluent setter, a named constructor): the
    // declaring class, as far as the index can tell (`static` may be a subclass).
    if language == Language::Php {
        let plain = if node.kind() == "optional_type" { node.named_child(0)? } else { node };
        let plain = if plain.kind() == "named_type" { plain.named_child(0)? } else { plain };
        if matches!(plain.kind(), "name" | "primitive_type" | "relative_scope")
            && matches!(text(plain).to_ascii_lowercase().as_str(), "self" | "static")
        {
            return container.map(str::to_string);
        }
    }
    value_type(language, source, node).map(|t| t.into_owned())
}

/// A field whose type names a workspace type, as [`class_fields`] finds it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ClassField {
    pub name: String,
    /// The type's name (`UserStore` of `Arc<UserStore>`).
    pub ty: String,
    /// A Go embedded type, whose members are promoted to the struct (or interface).
    pub embedded: bool,
}

struct Fields<'s> {
    language: Language,
    source: Source<'s>,
    found: Vec<ClassField>,
}

impl Fields<'_> {
    fn text(&self, node: Node<'_>) -> String {
        self.source.text(node.start_byte(), node.end_byte()).into_owned()
    }

    fn push(&mut self, name: Node<'_>, ty: String) {
        let name = self.text(name);
        if !self.found.iter().any(|known| known.name == name) {
            self.found.push(ClassField { name, ty, embedded: false });
        }
    }

    /// A Go embedded type: `*Router`, `io.Reader`.
    fn embed(&mut self, ty: Option<Node<'_>>) {
        let Some(ty) = ty.and_then(|t| written_type(self.language, self.source, t)) else { return };
        let ty = ty.into_owned();
        if !self.found.iter().any(|known| known.name == ty) {
            self.found.push(ClassField { name: ty.clone(), ty, embedded: true });
        }
    }

    /// A PHP trait a class `use`s, a module a Ruby class `include`s, `extend`s or `prepend`s,
    /// by its last name (`Loggable` of `\\App\\Loggable`, `Finders` of `Admin::Finders`): its
    /// methods are the class's own, as a Go struct's embedded type's are.
    fn mixin(&mut self, name: Node<'_>) {
        let name = match name.kind() {
            "name" | "constant" => name,
            "qualified_name" => match name.named_child(name.named_child_count().saturating_sub(1)) {
                Some(last) => last,
                None => return,
            },
            "scope_resolution" => match name.child_by_field_name("name") {
                Some(last) => last,
                None => return,
            },
            _ => return,
        };
        let ty = self.text(name);
        if !self.found.iter().any(|known| known.name == ty) {
            self.found.push(ClassField { name: ty.clone(), ty, embedded: true });
        }
    }

    /// A field with its type written (`type`) or its initial value (`value`).
    fn declared(&mut self, name: Option<Node<'_>>, ty: Option<Node<'_>>, value: Option<Node<'_>>) {
        let Some(name) = name else { return };
        let written = ty.and_then(|t| value_type(self.language, self.source, t));
        let constructed = || value.and_then(|v| constructed_type(self.language, self.source, v));
        if let Some(ty) = written.or_else(constructed) {
            self.push(name, ty.into_owned());
        }
    }

    fn typed(&mut self, name: Option<Node<'_>>, ty: Option<Node<'_>>) {
        self.declared(name, ty, None);
    }

    fn member(&mut self, member: Node<'_>) {
        let field = |name: &str| member.child_by_field_name(name);
        match (self.language, member.kind()) {
            // Rust `client: Client`, Go `client, backup *Client` (an embedded field has no name).
            (Language::Rust | Language::Go, "field_declaration") => {
                let ty = field("type");
                let mut cursor = member.walk();
                let names: Vec<Node<'_>> = member.children_by_field_name("name", &mut cursor).collect();
                if names.is_empty() && self.language == Language::Go {
                    self.embed(ty);
                }
                for name in names {
                    self.typed(Some(name), ty);
                }
            }
            // An interface embedding another: `io.Reader`.
            (Language::Go, "type_elem") => self.embed(member.named_child(0)),
            // `private final Repo repo = …;`, `Repo a, b;`
            (Language::Java, "field_declaration") => {
                let ty = field("type");
                let mut cursor = member.walk();
                let declarators: Vec<Node<'_>> = member.children_by_field_name("declarator", &mut cursor).collect();
                for declarator in declarators {
                    let name = declarator.child_by_field_name("name");
                    self.declared(name, ty, declarator.child_by_field_name("value"));
                }
            }
            // `private readonly Repo _repo;` (its declarators sit in a variable declaration).
            (Language::CSharp, "field_declaration") => {
                let Some(declaration) = named_children(member).into_iter().find(|c| c.kind() == "variable_declaration")
                else {
                    return;
                };
                let ty = declaration.child_by_field_name("type");
                for declarator in named_children(declaration).into_iter().filter(|c| c.kind() == "variable_declarator")
                {
                    let name = declarator.child_by_field_name("name");
                    let value = declarator.named_child(declarator.named_child_count().saturating_sub(1));
                    self.declared(name, ty, value.filter(|v| Some(*v) != name));
                }
            }
            // `public Client Client { get; set; }`
            (Language::CSharp, "property_declaration") => self.typed(field("name"), field("type")),
            // `Repo *repo;`, `Conn &conn;` (not a method's declaration: `Repo *find(int id);`).
            (Language::Cpp, "field_declaration") => {
                let ty = field("type");
                let mut cursor = member.walk();
                let declarators: Vec<Node<'_>> = member.children_by_field_name("declarator", &mut cursor).collect();
                for declarator in declarators {
                    self.typed(declared_variable(declarator), ty);
                }
            }
            // `private repo: UserStore;`, `cache = new Cache();`
            (Language::TypeScript | Language::Tsx, "public_field_definition") => {
                self.declared(field("name"), field("type"), field("value"));
            }
            (Language::JavaScript, "field_definition") => self.declared(field("property"), None, field("value")),
            (Language::TypeScript | Language::Tsx | Language::JavaScript, "method_definition") => {
                let is_constructor = field("name").is_some_and(|n| self.text(n) == "constructor");
                if is_constructor {
                    self.constructor(member);
                }
            }
            // Class attributes: `repo: UserStore`, `cache = Cache()`.
            (Language::Python, "expression_statement") => {
                if let Some(assignment) = member.named_child(0).filter(|a| a.kind() == "assignment") {
                    let name = assignment.child_by_field_name("left").filter(|l| l.kind() == "identifier");
                    self.declared(
                        name,
                        assignment.child_by_field_name("type"),
                        assignment.child_by_field_name("right"),
                    );
                }
            }
            (Language::Python, "function_definition") => {
                let is_init = field("name").is_some_and(|n| self.text(n) == "__init__");
                if is_init {
                    self.python_assignments(member);
                }
            }
            // `private Repo $repo;`, `private ?Repo $a, $b = null;`: the name without its `$`,
            // as `$this->repo` spells it.
            (Language::Php, "property_declaration") => {
                let ty = field("type");
                for element in named_children(member).into_iter().filter(|c| c.kind() == "property_element") {
                    let name = element.child_by_field_name("name").and_then(|n| n.named_child(0));
                    self.declared(name, ty, element.child_by_field_name("default_value"));
                }
            }
            (Language::Php, "method_declaration") => {
                let is_constructor = field("name").is_some_and(|n| self.text(n).eq_ignore_ascii_case("__construct"));
                if is_constructor {
                    self.php_constructor(member);
                }
            }
            // `use Auditable, \\App\\Loggable;` (a `{ … }` of aliases after the names changes no
            // name).
            (Language::Php, "use_declaration") => {
                for name in named_children(member) {
                    self.mixin(name);
                }
            }
            // `include Comparable`, `extend Admin::Finders`: called without a receiver.
            (Language::Ruby, "call") if field("receiver").is_none() => {
                let word = field("method").map(|m| self.text(m)).unwrap_or_default();
                if matches!(word.as_str(), "include" | "extend" | "prepend") {
                    for name in field("arguments").map(named_children).unwrap_or_default() {
                        self.mixin(name);
                    }
                }
            }
            // `val repo: UserRepository`, `private val cache = StoreCache()`.
            (Language::Kotlin, "property_declaration") => {
                let Some(declaration) = named_children(member).into_iter().find(|c| c.kind() == "variable_declaration")
                else {
                    return;
                };
                let name = named_children(declaration).into_iter().find(|c| c.kind() == "identifier");
                self.declared(name, kotlin_type(declaration), kotlin_initializer(member));
            }
            // `let repo: UserRepository`, `var cache = StoreCache()`, `var repo: UserRepository!`.
            (Language::Swift, "property_declaration") => {
                let name = field("name").and_then(|p| p.child_by_field_name("bound_identifier"));
                let ty = named_children(member).into_iter().find(|c| c.kind() == "type_annotation");
                self.declared(name, ty, field("value"));
            }
            // `@repo = Repo.new` in `initialize`; Ruby declares no field otherwise.
            (Language::Ruby, "method") => {
                let is_initialize = field("name").is_some_and(|n| self.text(n) == "initialize");
                if is_initialize {
                    self.ruby_assignments(member);
                }
            }
            _ => {}
        }
    }

    /// TypeScript's parameter properties (`constructor(private client: HttpClient)`) and, in
    /// either language, `this.store = new Store()` among the constructor's statements.
    fn constructor(&mut self, method: Node<'_>) {
        if let Some(parameters) = method.child_by_field_name("parameters") {
            for parameter in named_children(parameters) {
                let property = (0..parameter.child_count())
                    .filter_map(|i| parameter.child(i))
                    .any(|c| matches!(c.kind(), "accessibility_modifier" | "readonly"));
                if property {
                    let name = parameter.child_by_field_name("pattern").filter(|p| p.kind() == "identifier");
                    self.typed(name, parameter.child_by_field_name("type"));
                }
            }
        }
        self.this_assignments(method);
    }

    /// `this.store = new Store()` among a method's statements.
    fn this_assignments(&mut self, method: Node<'_>) {
        for (left, assignment) in member_assignments(method, "assignment_expression", "member_expression") {
            if left.child_by_field_name("object").is_some_and(|o| o.kind() == "this") {
                self.declared(left.child_by_field_name("property"), None, assignment.child_by_field_name("right"));
            }
        }
    }

    /// PHP's promoted parameters (`public function __construct(private Repo $repo)`), and
    /// `$this->repo = new Repo()` or `$this->repo = $repo` (with `Repo $repo`) among the
    /// constructor's statements.
    fn php_constructor(&mut self, method: Node<'_>) {
        let mut parameters: Vec<(String, Node<'_>)> = Vec::new();
        if let Some(list) = method.child_by_field_name("parameters") {
            for parameter in named_children(list) {
                let name = parameter.child_by_field_name("name").and_then(|n| n.named_child(0));
                let (Some(name), Some(ty)) = (name, parameter.child_by_field_name("type")) else { continue };
                match parameter.kind() {
                    "property_promotion_parameter" => self.typed(Some(name), Some(ty)),
                    "simple_parameter" => parameters.push((self.text(name), ty)),
                    _ => {}
                }
            }
        }
        for (left, assignment) in member_assignments(method, "assignment_expression", "member_access_expression") {
            if left.child_by_field_name("object").is_none_or(|o| self.text(o) != "$this") {
                continue;
            }
            let name = left.child_by_field_name("name").filter(|n| n.kind() == "name");
            let right = assignment.child_by_field_name("right");
            let ty = right.filter(|r| r.kind() == "variable_name").and_then(|r| {
                let value = self.text(r.named_child(0)?);
                parameters.iter().find(|(p, _)| *p == value).map(|(_, ty)| *ty)
            });
            self.declared(name, ty, right);
        }
    }

    /// `@repo = Repo.new` among a Ruby method's statements (a body's statements are its
    /// children, not wrapped in statement nodes).
    fn ruby_assignments(&mut self, method: Node<'_>) {
        let Some(body) = method.child_by_field_name("body") else { return };
        for assignment in named_children(body).into_iter().filter(|s| s.kind() == "assignment") {
            let name = assignment.child_by_field_name("left").filter(|l| l.kind() == "instance_variable");
            self.declared(name, None, assignment.child_by_field_name("right"));
        }
    }

    /// The assignments to members in a method other than the constructor; a field the
    /// constructor types keeps that type.
    fn assigned_elsewhere(&mut self, member: Node<'_>) {
        let name = member.child_by_field_name("name").map(|n| self.text(n));
        match (self.language, member.kind()) {
            (Language::Python, "function_definition") if name.as_deref() != Some("__init__") => {
                self.python_assignments(member);
            }
            (Language::TypeScript | Language::Tsx | Language::JavaScript, "method_definition")
                if name.as_deref() != Some("constructor") =>
            {
                self.this_assignments(member);
            }
            _ => {}
        }
    }

    /// `self.x: T = …`, `self.x = Client()` and `self.x = x` with `x: T` among a method's
    /// statements.
    fn python_assignments(&mut self, function: Node<'_>) {
        let mut parameters: Vec<(String, Node<'_>)> = Vec::new();
        if let Some(list) = function.child_by_field_name("parameters") {
            for parameter in named_children(list) {
                if !matches!(parameter.kind(), "typed_parameter" | "typed_default_parameter") {
                    continue;
                }
                let name = parameter.child_by_field_name("name").or_else(|| parameter.named_child(0));
                if let (Some(name), Some(ty)) = (name, parameter.child_by_field_name("type")) {
                    parameters.push((self.text(name), ty));
                }
            }
        }
        for (left, assignment) in member_assignments(function, "assignment", "attribute") {
            let through_self = left.child_by_field_name("object").is_some_and(|o| self.text(o) == "self");
            if !through_self {
                continue;
            }
            let name = left.child_by_field_name("attribute");
            let right = assignment.child_by_field_name("right");
            let ty = assignment.child_by_field_name("type").or_else(|| {
                let value = right.filter(|r| r.kind() == "identifier")?;
                let value = self.text(value);
                parameters.iter().find(|(p, _)| *p == value).map(|(_, ty)| *ty)
            });
            self.declared(name, ty, right);
        }
    }
}

/// The statements of `function`'s body that assign (`assignment`, a kind) to a member
/// (`member`, a kind): the member and the assignment.
fn member_assignments<'t>(function: Node<'t>, assignment: &str, member: &str) -> Vec<(Node<'t>, Node<'t>)> {
    let Some(body) = function.child_by_field_name("body") else { return Vec::new() };
    let statements = named_children(body).into_iter().filter_map(|statement| statement.named_child(0));
    let assignments = statements.filter(|a| a.kind() == assignment);
    assignments.filter_map(|a| Some((a.child_by_field_name("left").filter(|l| l.kind() == member)?, a))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `f` on each node of one of `kinds` in `text` (a file at `path`), in document
    /// order, without looking inside those nodes.
    fn each(path: &str, text: &str, kinds: &[&str], f: &mut dyn FnMut(Language, Node<'_>, Source<'_>)) {
        let language = Language::detect("", path);
        let rope = ropey::Rope::from_str(text);
        let tree = crate::text::syntax::parse(language, &rope, None).expect("a grammar");
        let mut stack = vec![tree.root_node()];
        while let Some(node) = stack.pop() {
            if kinds.contains(&node.kind()) {
                f(language, node, Source::of_rope(&rope));
                continue;
            }
            let mut children = named_children(node);
            children.reverse();
            stack.extend(children);
        }
    }

    /// The fields the first class-like definition of `text` declares, as `field: Type`.
    fn fields(path: &str, text: &str) -> Vec<String> {
        let kinds = [
            "struct_item",
            "type_spec",
            "class_declaration",
            "record_declaration",
            "class_specifier",
            "struct_specifier",
            "class_definition",
        ];
        let mut classes = Vec::new();
        each(path, text, &kinds, &mut |language, node, source| {
            let found = class_fields(language, node, source);
            let shown =
                found.into_iter().map(|f| format!("{}{}: {}", if f.embedded { "embedded " } else { "" }, f.name, f.ty));
            classes.push(shown.collect::<Vec<_>>());
        });
        classes.into_iter().next().expect("a class")
    }

    #[test]
    fn fields_are_typed_by_what_their_declarations_write_or_construct() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "a.rs",
                "pub struct A<T> { client: Arc<Client>, pub repo: Repo<T>, name: String, tick: u64, next: Option<Node>, \
                 conns: Vec<Arc<Conn>>, by_id: HashMap<u64, Conn>, grid: Vec<Vec<Conn>>, ring: [Conn; 4] }",
                // A collection's (or a map's) elements, one level deep: `[]Conn`, `{}Conn`.
                &["client: Client", "repo: Repo", "conns: []Conn", "by_id: {}Conn", "ring: []Conn"],
            ),
            (
                "a.go",
                "type A struct {\n\tclient *Client\n\trepo, backup store.Repo\n\tEmbedded\n\t*Router\n\tn int\n\t\
                 conns []*Conn\n\tbyID map[string]Conn\n}\n",
                &[
                    "client: Client",
                    "repo: Repo",
                    "backup: Repo",
                    "embedded Embedded: Embedded",
                    "embedded Router: Router",
                    "n: int",
                    "conns: []Conn",
                    "byID: {}Conn",
                ],
            ),
            (
                "a.ts",
                "class A extends B {\n  private repo: UserStore;\n  cache = new Cache();\n  count = 0;\n  \
                 constructor(private readonly client: HttpClient, x: Other, public id: number) {\n    \
                 super();\n    this.store = new Store();\n  }\n  find(): Repo { return this.repo; }\n  \
                 init() {\n    this.store = new Other();\n    this.conn = new Conn();\n  }\n}\n",
                &["repo: UserStore", "cache: Cache", "client: HttpClient", "store: Store", "conn: Conn"],
            ),
            (
                "a.js",
                "class A {\n  cache = new Cache();\n  constructor() { this.store = new api.Store(); this.n = 1; }\n}\n",
                &["cache: Cache", "store: Store"],
            ),
            (
                "A.java",
                "class A {\n  private final Repo repo = null;\n  List<X> xs;\n  Conn a, b;\n  var v;\n  \
                 Repo find() { return repo; }\n}\n",
                &["repo: Repo", "a: Conn", "b: Conn"],
            ),
            ("P.java", "record P(Repo repo, int x) {}\n", &["repo: Repo"]),
            ("P.cs", "record P(Repo Repo, int Age);\n", &["Repo: Repo"]),
            ("B.cs", "class B(Conn conn) {\n  Cache cache;\n}\n", &["conn: Conn", "cache: Cache"]),
            (
                "a.hpp",
                "class A {\n  std::unique_ptr<Store> store;\n  std::shared_ptr<net::Conn> conn;\n  std::vector<Item> items;\n  \
                 std::map<int, Item*> byId;\n};\n",
                &["store: Store", "conn: Conn", "items: []Item", "byId: {}Item"],
            ),
            (
                "b.py",
                "class B:\n    repo: Optional[Repo]\n    conn: Conn | None\n    either: Repo | Conn\n    \
                 conns: list[Conn]\n    by_id: Dict[str, Conn]\n",
                &["repo: Repo", "conn: Conn", "conns: []Conn", "by_id: {}Conn"],
            ),
            (
                "b.ts",
                "class B {\n  repo: Repo | null;\n  conn?: Conn | undefined;\n  either: Repo | Conn;\n  \
                 conns: readonly Conn[];\n  byId: Map<string, Conn>;\n}\n",
                &["repo: Repo", "conn: Conn", "conns: []Conn", "byId: {}Conn"],
            ),
            (
                "i.go",
                "type ReadCloser interface {\n\tio.Reader\n\tCloser\n\tExtra(n int) error\n}\n",
                &["embedded Reader: Reader", "embedded Closer: Closer"],
            ),
            (
                "A.cs",
                "class A {\n  private readonly Repo _repo;\n  public Client Client { get; set; }\n  \
                 private Cache cache = new Cache();\n  Repo Find() => _repo;\n  List<Conn> _conns;\n  \
                 IReadOnlyDictionary<string, Conn> _byId;\n  Conn[] _all;\n}\n",
                &["_repo: Repo", "Client: Client", "cache: Cache", "_conns: []Conn", "_byId: {}Conn", "_all: []Conn"],
            ),
            (
                "a.cpp",
                "class A {\n  Repo *repo;\n  Client client;\n  Conn &conn;\n  Repo *find(int id);\n  int n;\n};\n",
                &["repo: Repo", "client: Client", "conn: Conn"],
            ),
            (
                "a.py",
                "class A(B):\n    repo: UserStore\n    cache = Cache()\n    limit = 10\n\n    \
                 def __init__(self, client: HttpClient, other):\n        self.client = client\n        \
                 self.other = other\n        self.store: Store = make()\n        self.pool = pools.Pool()\n\n    \
                 def set_up(self, conn: Conn):\n        self.late = Late()\n        self.pool = Other()\n        \
                 self.conn = conn\n",
                // Assigned elsewhere than in `__init__`: after its fields, never over them.
                &["repo: UserStore", "cache: Cache", "client: HttpClient", "store: Store", "pool: Pool", "late: Late", "conn: Conn"],
            ),
        ];
        for (path, text, expected) in cases {
            assert_eq!(fields(path, text), *expected, "{path}: {text}");
        }
    }

    #[test]
    fn return_types_are_read_through_the_wrappers_the_library_owns() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "a.rs",
                "fn a() -> Result<Repo, E> {}\nfn b() -> io::Result<Arc<Conn>> {}\nimpl X { fn c(&self) -> Self {} }\n\
                 fn d() -> Vec<Repo> {}\nfn e() {}\nfn f() -> &mut Client {}\n",
                &["Repo", "Conn", "X", "[]Repo", "-", "Client"],
            ),
            (
                "a.ts",
                "function a(): Promise<Repo> {}\nconst b = (): Repo | undefined => null;\nfunction c(): string {}\n",
                &["Repo", "Repo", "-"],
            ),
            (
                "a.py",
                "def a() -> Optional[Repo]: pass\ndef b() -> \"Conn\": pass\ndef c(): pass\ndef d() -> api.Client: pass\n",
                &["Repo", "Conn", "-", "Client"],
            ),
            ("a.go", "func a() (*Repo, error) {}\nfunc b() *db.Conn {}\nfunc c() error {}\n", &["Repo", "Conn", "error"]),
            ("A.java", "class A { Repo a() {} Optional<Conn> b() {} void c() {} }\n", &["Repo", "Conn", "-"]),
            ("A.cs", "class A { Repo A() {} Task<Conn> B() {} void C() {} }\n", &["Repo", "Conn", "-"]),
            // The class itself, whatever the case; not its base's `parent`.
            (
                "A.php",
                "<?php class A { function a(): self {} function b(): static {} function c(): ?Self {} function d(): Repo {} function e(): parent {} function f(): int {} }\n",
                &["X", "X", "X", "Repo", "-", "-"],
            ),
        ];
        let kinds = [
            "function_item",
            "function_declaration",
            "variable_declarator",
            "function_definition",
            "method_declaration",
        ];
        for (path, text, expected) in cases {
            let mut found = Vec::new();
            each(path, text, &kinds, &mut |language, node, source| {
                found.push(returned_type(language, node, source, Some("X")).unwrap_or_else(|| "-".into()));
            });
            assert_eq!(found, *expected, "{path}");
        }
    }

    #[test]
    fn a_class_with_too_many_fields_records_the_first_ones() {
        let body: String = (0..200).map(|i| format!("    f{i}: Client,\n")).collect();
        let found = fields("a.rs", &format!("struct Wide {{\n{body}}}\n"));
        assert_eq!(found.len(), MAX_FIELDS);
        assert_eq!(found[0], "f0: Client");
    }
}
