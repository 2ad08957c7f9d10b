//! The completion request, built from a [`CompletionContext`] by a pure function.
//!
//! Kimi's chat API has no fill-in-the-middle endpoint, so completions use partial mode: the
//! last message is the assistant's turn pre-filled with the text before the cursor on the
//! current line, and the model continues it (its reply does not repeat the pre-fill). The code
//! after the cursor is shown in the user message, where the cursor is marked.
//!
//! Layout, for Moonshot's automatic prefix cache (hits are counted in 256-token blocks from the
//! start of the prompt, so what changes between two requests must come as late as possible):
//! 1. system: fixed instructions, byte-identical for every request in one language;
//! 2. user: definitions from other files (sorted by path, so that their order does not follow
//!    the cursor around), recent edits in other files (unchanged while the user types in this
//!    one), code like the code above the cursor (unchanged while the user types on one line),
//!    the file's path, imports and enclosing scope, then the code before the cursor, the
//!    marker, the code after it, and what to produce (one line or a block);
//! 3. assistant (partial): the start of the current line.
//!
//! While the user types, only the current line changes, so consecutive requests share
//! everything up to it.

use std::collections::BTreeMap;

use crate::context::{CompletionContext, Snippet};
use crate::providers::Message;

/// Marks the cursor in the code shown to the model.
pub const CURSOR_MARKER: &str = "<CURSOR>";
const CODE_OPEN: &str = "<code_window>";
const CODE_CLOSE: &str = "</code_window>";

/// Messages and stop strings of one completion request.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionPrompt {
    pub messages: Vec<Message>,
    /// At most 5 strings of at most 32 bytes each (Moonshot's limits).
    pub stop: Vec<String>,
}

/// The request for `ctx`. See the module documentation for the layout.
///
/// The pre-fill is the current line up to the cursor. Moonshot rejects an assistant message
/// with empty content, and a pre-fill of bare indentation gives the model nothing to hold on
/// to, so when the line holds nothing but whitespace before the cursor the pre-fill reaches
/// back to the start of the last line with code (it still ends exactly at the cursor, so the
/// reply is still exactly the text to insert). When nothing but whitespace precedes the cursor
/// in the whole window (an empty file), there is no pre-fill and the user message is last.
pub fn completion_prompt(ctx: &CompletionContext) -> CompletionPrompt {
    let mut messages = vec![Message::system(system_instructions(&ctx.language_name)), Message::user(user_message(ctx))];
    if let Some(prefill) = prefill(ctx) {
        messages.push(Message::assistant_partial(prefill));
    }
    CompletionPrompt { messages, stop: stop_strings(ctx.multiline) }
}

/// The system message: the same bytes for every request in a language (`language` is its
/// name).
pub fn system_instructions(language: &str) -> String {
    format!(
        "You are a code completion engine for {lang}. You are shown {a_file} with the \
cursor marked {CURSOR_MARKER}, and definitions from other files of the project. You write the \
code to insert at the cursor.

Rules:
1. Continue exactly from the cursor: your reply is inserted at {CURSOR_MARKER} character for \
character. When your turn has already begun, it holds the text just before the cursor: continue \
it without repeating it.
2. Output only the code to insert. No markdown fences, no explanations, no comments addressed \
to the user.
3. The text after {CURSOR_MARKER} is already in the file. Never write it again: stop where \
your insertion meets it.
4. When asked for the rest of the line, stop at the end of that line. When asked for a block, \
write the whole block with the file's indentation and stop at its end.
5. Use the names the file, its imports and the definitions show, in the file's style. \
Similar code, where shown, is how this project writes such code.
6. If nothing sensible fits, reply with nothing.",
        lang = language,
        a_file = crate::text::naming::a_file_of(language)
    )
}

fn user_message(ctx: &CompletionContext) -> String {
    let mut out = String::new();
    let definitions: Vec<&Snippet> = ctx.cross_file.iter().collect();
    push_snippets(&mut out, "definitions", definitions, true);
    push_snippets(&mut out, "recent_edits", ctx.recent_edits.iter().collect(), false);
    push_snippets(&mut out, "similar_code", ctx.similar.iter().collect(), false);
    out.push_str(&format!("<file path=\"{}\">\n", attribute(&ctx.path)));
    if !ctx.imports.is_empty() {
        push_section(&mut out, "imports", &ctx.imports);
    }
    if let Some(enclosing) = &ctx.enclosing {
        push_section(&mut out, "enclosing_scope", enclosing);
    }
    out.push_str(CODE_OPEN);
    out.push('\n');
    out.push_str(&ctx.prefix);
    out.push_str(CURSOR_MARKER);
    out.push_str(&ctx.suffix);
    if !ctx.suffix.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(CODE_CLOSE);
    out.push_str("\n</file>\n");
    if ctx.between_items {
        out.push_str(&format!(
            "Write the code that belongs at {CURSOR_MARKER}: complete the current line and the \
lines that follow it, up to the end of one definition (a function, a method, a type or a field), \
then stop."
        ));
    } else if ctx.multiline {
        out.push_str(&format!(
            "Write the code that belongs at {CURSOR_MARKER}: complete the current line and the \
lines that follow it, up to the end of the block the cursor is in, then stop."
        ));
    } else {
        out.push_str(&format!("Write the code that belongs at {CURSOR_MARKER}: only the rest of the current line."));
    }
    out
}

/// Snippets grouped by file. `sorted`: files and, within a file, snippets in a fixed order
/// rather than by rank, so that a new nearby name adds one entry instead of reshuffling all.
fn push_snippets(out: &mut String, tag: &str, snippets: Vec<&Snippet>, sorted: bool) {
    if snippets.is_empty() {
        return;
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    if sorted {
        let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in snippets {
            by_path.entry(&s.path).or_default().push(&s.text);
        }
        for (path, mut texts) in by_path {
            // Members of one class sort next to each other (their text starts with its header).
            texts.sort_unstable();
            groups.push((path, merge_members(&texts)));
        }
    } else {
        for s in snippets {
            match groups.iter_mut().find(|(p, _)| *p == s.path) {
                Some((_, texts)) => texts.push(s.text.clone()),
                None => groups.push((&s.path, vec![s.text.clone()])),
            }
        }
    }
    out.push_str(&format!("<{tag}>\n"));
    for (path, texts) in groups {
        out.push_str(&format!("<snippet path=\"{}\">\n", attribute(path)));
        out.push_str(&texts.join("\n\n"));
        out.push_str("\n</snippet>\n");
    }
    out.push_str(&format!("</{tag}>\n"));
}

/// Joins neighbouring member snippets of one class into one, so that the class's header is
/// written once: `class A { f(); }` and `class A { g(); }` become `class A { f(); g(); }`, and
/// Python's `class A:` over an indented `def f…` and one over `def g…` one `class A:` over both.
fn merge_members(texts: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for &text in texts {
        if let Some(merged) = out.last().and_then(|last| merge_two(last, text)) {
            *out.last_mut().expect("checked") = merged;
        } else {
            out.push(text.to_string());
        }
    }
    out
}

/// `a` and `b` as one snippet when they are members of the same class, in either form the
/// index writes a member (see `context::symbols::signature`).
fn merge_two(a: &str, b: &str) -> Option<String> {
    if let (Some((head_a, _)), Some((head_b, member_b))) = (braced_member(a), braced_member(b)) {
        if head_a == head_b {
            let without_end = a.strip_suffix(" }")?;
            return Some(format!("{without_end} {member_b}; }}"));
        }
        return None;
    }
    // Indented: a header line ending in `:` over the member's own lines.
    let (head_a, _) = a.split_once('\n')?;
    let (head_b, body_b) = b.split_once('\n')?;
    let python_class = head_a.trim_start().starts_with("class ") && head_a.ends_with(':');
    (python_class && head_a == head_b && body_b.starts_with([' ', '\t'])).then(|| format!("{a}\n{body_b}"))
}

/// A braced member snippet, `<head> { <member>; }` on one line (the head being the class's up to
/// its body), as its head and member.
fn braced_member(text: &str) -> Option<(&str, &str)> {
    if text.contains('\n') {
        return None;
    }
    let (head, rest) = text.split_once(" { ")?;
    let member = rest.strip_suffix("; }")?;
    // A head cut inside brackets (`class A<T extends { x: 1 }>`) is not the whole head.
    let balanced = [('(', ')'), ('<', '>'), ('[', ']'), ('{', '}')]
        .iter()
        .all(|&(open, close)| head.matches(open).count() == head.matches(close).count());
    balanced.then_some((head, member))
}

fn push_section(out: &mut String, tag: &str, body: &str) {
    out.push_str(&format!("<{tag}>\n{body}\n</{tag}>\n"));
}

/// A path as an attribute value: a `"` in a file name would end the attribute early.
fn attribute(value: &str) -> String {
    value.replace('"', "&quot;")
}

/// What the assistant's turn is pre-filled with (see [`completion_prompt`]).
fn prefill(ctx: &CompletionContext) -> Option<String> {
    if !ctx.line_prefix.trim().is_empty() {
        return Some(ctx.line_prefix.clone());
    }
    let prefix = ctx.prefix.as_str();
    let before_blank_tail = prefix.trim_end();
    if before_blank_tail.is_empty() {
        return None;
    }
    let line_start = before_blank_tail.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    Some(prefix[line_start..].to_string())
}

/// Stop strings: the markers of the prompt (a model that writes one has left the code), and
/// the end of the line for one-line completions or two blank lines for blocks. A single `\n`
/// must not stop a block.
fn stop_strings(multiline: bool) -> Vec<String> {
    let end = if multiline { "\n\n\n" } else { "\n" };
    vec![end.to_string(), CURSOR_MARKER.to_string(), CODE_CLOSE.to_string()]
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    use expect_test::{expect, Expect};

    use super::*;
    use crate::context::{gather, Budget, SimilarIndex, SnippetKind, WorkspaceIndex};
    use crate::providers::types::{Content, Role, MAX_STOP_BYTES, MAX_STOP_SEQUENCES};
    use crate::text::Language;
    use crate::text::{Document, PositionEncoding, TextChange, TextRange};

    /// Files after `//- path` lines; the one with `$0` is the document, the others the
    /// workspace (rooted at /ws).
    fn setup(fixture: &str) -> (WorkspaceIndex, Document, usize) {
        let index = WorkspaceIndex::new();
        index.build(&[PathBuf::from("/ws")]);
        let mut current = None;
        for file in fixture.split("//- ").filter(|f| !f.trim().is_empty()) {
            let (path, body) = file.split_once('\n').unwrap();
            let full = format!("/ws/{path}");
            match body.find("$0") {
                Some(at) => {
                    let text = body.replacen("$0", "", 1);
                    let doc = Document::new(&format!("file://{full}"), "", 1, &text);
                    current = Some((doc, text[..at].chars().count()));
                }
                None => index.update_file(&full, Language::detect("", path), body),
            }
        }
        let (doc, cursor) = current.expect("a $0");
        (index, doc, cursor)
    }

    fn prompt_for(fixture: &str, recent: &[Snippet]) -> CompletionPrompt {
        let (index, doc, cursor) = setup(fixture);
        let ctx = gather(&doc.snapshot(), cursor, &index, recent, &Budget::default());
        completion_prompt(&ctx)
    }

    fn render(prompt: &CompletionPrompt) -> String {
        let mut out = String::new();
        for m in &prompt.messages {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant if m.partial => "assistant (partial)",
                _ => "other",
            };
            let Content::Text(text) = &m.content else {
                panic!("text content");
            };
            writeln!(out, "=== {role}\n{text}").unwrap();
        }
        writeln!(out, "=== stop {:?}", prompt.stop).unwrap();
        out
    }

    fn check(fixture: &str, expect: Expect) {
        expect.assert_eq(&render(&prompt_for(fixture, &[])));
    }

    #[test]
    fn rust_prompt() {
        check(
            r#"//- src/token.rs
pub enum Token { Ident(String), Number(f64), Eof }
//- src/lexer.rs
use crate::token::Token;
pub struct Lexer<'a> { src: &'a str, pos: usize }
impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self { Lexer { src, pos: 0 } }
    pub fn next_token(&mut self) -> Token { Token::Eof }
}
//- src/main.rs
use crate::lexer::Lexer;
use crate::token::Token;

fn count_numbers(src: &str) -> usize {
    let mut lexer = Lexer::new(src);
    let mut n = 0;
    loop {
        match lexer.next_token() {
            Token::Number(_) => n += 1,
            Token::Eof => $0
            _ => {}
        }
    }
}
"#,
            expect![[r#"
                === system
                You are a code completion engine for Rust. You are shown a Rust file with the cursor marked <CURSOR>, and definitions from other files of the project. You write the code to insert at the cursor.

                Rules:
                1. Continue exactly from the cursor: your reply is inserted at <CURSOR> character for character. When your turn has already begun, it holds the text just before the cursor: continue it without repeating it.
                2. Output only the code to insert. No markdown fences, no explanations, no comments addressed to the user.
                3. The text after <CURSOR> is already in the file. Never write it again: stop where your insertion meets it.
                4. When asked for the rest of the line, stop at the end of that line. When asked for a block, write the whole block with the file's indentation and stop at its end.
                5. Use the names the file, its imports and the definitions show, in the file's style. Similar code, where shown, is how this project writes such code.
                6. If nothing sensible fits, reply with nothing.
                === user
                <definitions>
                <snippet path="src/lexer.rs">
                impl<'a> Lexer<'a> { pub fn new(src: &'a str) -> Self; pub fn next_token(&mut self) -> Token; }

                pub struct Lexer<'a> { src: &'a str, pos: usize }
                </snippet>
                <snippet path="src/token.rs">
                pub enum Token { Ident(String), Number(f64), Eof }
                </snippet>
                </definitions>
                <file path="src/main.rs">
                <code_window>
                use crate::lexer::Lexer;
                use crate::token::Token;

                fn count_numbers(src: &str) -> usize {
                    let mut lexer = Lexer::new(src);
                    let mut n = 0;
                    loop {
                        match lexer.next_token() {
                            Token::Number(_) => n += 1,
                            Token::Eof => <CURSOR>
                            _ => {}
                        }
                    }
                }
                </code_window>
                </file>
                Write the code that belongs at <CURSOR>: only the rest of the current line.
                === assistant (partial)
                            Token::Eof => 
                === stop ["\n", "<CURSOR>", "</code_window>"]
            "#]],
        );
    }

    #[test]
    fn python_prompt_for_a_block() {
        check(
            r#"//- app/models.py
from dataclasses import dataclass

@dataclass
class User:
    id: int
    email: str

    def domain(self) -> str:
        return self.email.split("@")[1]
//- app/report.py
from collections import Counter
from app.models import User


def count_domains(users: list[User]) -> Counter:
    counts = Counter()
    for user in users:
$0
    return counts
"#,
            expect![[r#"
                === system
                You are a code completion engine for Python. You are shown a Python file with the cursor marked <CURSOR>, and definitions from other files of the project. You write the code to insert at the cursor.

                Rules:
                1. Continue exactly from the cursor: your reply is inserted at <CURSOR> character for character. When your turn has already begun, it holds the text just before the cursor: continue it without repeating it.
                2. Output only the code to insert. No markdown fences, no explanations, no comments addressed to the user.
                3. The text after <CURSOR> is already in the file. Never write it again: stop where your insertion meets it.
                4. When asked for the rest of the line, stop at the end of that line. When asked for a block, write the whole block with the file's indentation and stop at its end.
                5. Use the names the file, its imports and the definitions show, in the file's style. Similar code, where shown, is how this project writes such code.
                6. If nothing sensible fits, reply with nothing.
                === user
                <definitions>
                <snippet path="app/models.py">
                @dataclass
                class User:
                    id: int
                    email: str
                    def domain(self) -> str: ...
                </snippet>
                </definitions>
                <file path="app/report.py">
                <code_window>
                from collections import Counter
                from app.models import User


                def count_domains(users: list[User]) -> Counter:
                    counts = Counter()
                    for user in users:
                <CURSOR>
                    return counts
                </code_window>
                </file>
                Write the code that belongs at <CURSOR>: complete the current line and the lines that follow it, up to the end of the block the cursor is in, then stop.
                === assistant (partial)
                    for user in users:

                === stop ["\n\n\n", "<CURSOR>", "</code_window>"]
            "#]],
        );
    }

    #[test]
    fn typescript_prompt_with_a_recent_edit() {
        let recent = [Snippet {
            path: "src/api.ts".to_string(),
            text: "export async function getJson<T>(url: string): Promise<T> {\n  const res = await fetch(url);\n  return res.json() as Promise<T>;\n}".to_string(),
            why: SnippetKind::RecentEdit,
        }];
        let fixture = r#"//- src/types.ts
export interface Todo {
  id: number;
  title: string;
  done: boolean;
}
//- src/todos.ts
import { Todo } from "./types";
import { getJson } from "./api";

export async function openTodos(): Promise<Todo[]> {
  const todos = await getJson<Todo[]>("/todos");
  return todos.filter((t) => $0);
}
"#;
        expect![[r#"
            === system
            You are a code completion engine for TypeScript. You are shown a TypeScript file with the cursor marked <CURSOR>, and definitions from other files of the project. You write the code to insert at the cursor.

            Rules:
            1. Continue exactly from the cursor: your reply is inserted at <CURSOR> character for character. When your turn has already begun, it holds the text just before the cursor: continue it without repeating it.
            2. Output only the code to insert. No markdown fences, no explanations, no comments addressed to the user.
            3. The text after <CURSOR> is already in the file. Never write it again: stop where your insertion meets it.
            4. When asked for the rest of the line, stop at the end of that line. When asked for a block, write the whole block with the file's indentation and stop at its end.
            5. Use the names the file, its imports and the definitions show, in the file's style. Similar code, where shown, is how this project writes such code.
            6. If nothing sensible fits, reply with nothing.
            === user
            <definitions>
            <snippet path="src/types.ts">
            export interface Todo {
              id: number;
              title: string;
              done: boolean;
            }
            </snippet>
            </definitions>
            <recent_edits>
            <snippet path="src/api.ts">
            export async function getJson<T>(url: string): Promise<T> {
              const res = await fetch(url);
              return res.json() as Promise<T>;
            }
            </snippet>
            </recent_edits>
            <file path="src/todos.ts">
            <code_window>
            import { Todo } from "./types";
            import { getJson } from "./api";

            export async function openTodos(): Promise<Todo[]> {
              const todos = await getJson<Todo[]>("/todos");
              return todos.filter((t) => <CURSOR>);
            }
            </code_window>
            </file>
            Write the code that belongs at <CURSOR>: only the rest of the current line.
            === assistant (partial)
              return todos.filter((t) => 
            === stop ["\n", "<CURSOR>", "</code_window>"]
        "#]]
        .assert_eq(&render(&prompt_for(fixture, &recent)));
    }

    /// [`prompt_for`] with every file of the fixture open, for similar code.
    fn prompt_with_open_documents(fixture: &str) -> CompletionPrompt {
        let (index, doc, cursor) = setup(fixture);
        let similar = SimilarIndex::new();
        for file in fixture.split("//- ").filter(|f| !f.trim().is_empty() && !f.contains("$0")) {
            let (path, body) = file.split_once('\n').unwrap();
            similar.update(&Document::unparsed(&format!("file:///ws/{path}"), "", 1, body).snapshot());
        }
        similar.update(&doc.snapshot());
        let budget = Budget::default();
        let snapshot = doc.snapshot();
        let mut ctx = gather(&snapshot, cursor, &index, &[], &budget);
        crate::context::similar_code(&mut ctx, &snapshot, cursor, &similar, &|_| true, &index, &budget);
        completion_prompt(&ctx)
    }

    #[test]
    fn python_prompt_with_similar_code_from_an_open_document() {
        let fixture = r#"//- app/handlers/users.py
def create_user(request, db):
    payload = request.json()
    user = User(name=payload["name"], email=payload["email"])
    db.add(user)
    db.commit()
    return JsonResponse({"id": user.id}, status=201)
//- app/handlers/teams.py
def create_team(request, db):
    payload = request.json()
    team = Team(name=payload["name"], owner=payload["owner"])
    db.add(team)
    db.$0
"#;
        expect![[r#"
            === system
            You are a code completion engine for Python. You are shown a Python file with the cursor marked <CURSOR>, and definitions from other files of the project. You write the code to insert at the cursor.

            Rules:
            1. Continue exactly from the cursor: your reply is inserted at <CURSOR> character for character. When your turn has already begun, it holds the text just before the cursor: continue it without repeating it.
            2. Output only the code to insert. No markdown fences, no explanations, no comments addressed to the user.
            3. The text after <CURSOR> is already in the file. Never write it again: stop where your insertion meets it.
            4. When asked for the rest of the line, stop at the end of that line. When asked for a block, write the whole block with the file's indentation and stop at its end.
            5. Use the names the file, its imports and the definitions show, in the file's style. Similar code, where shown, is how this project writes such code.
            6. If nothing sensible fits, reply with nothing.
            === user
            <similar_code>
            <snippet path="app/handlers/users.py">
            def create_user(request, db):
                payload = request.json()
                user = User(name=payload["name"], email=payload["email"])
                db.add(user)
                db.commit()
                return JsonResponse({"id": user.id}, status=201)
            </snippet>
            </similar_code>
            <file path="app/handlers/teams.py">
            <code_window>
            def create_team(request, db):
                payload = request.json()
                team = Team(name=payload["name"], owner=payload["owner"])
                db.add(team)
                db.<CURSOR>
            </code_window>
            </file>
            Write the code that belongs at <CURSOR>: only the rest of the current line.
            === assistant (partial)
                db.
            === stop ["\n", "<CURSOR>", "</code_window>"]
        "#]].assert_eq(&render(&prompt_with_open_documents(fixture)));
    }

    #[test]
    fn ruby_prompt_names_ruby_and_shows_similar_ruby_code_not_python_or_prose() {
        // Ruby is not parsed: the prompt still names it, and open Ruby files are its similar
        // code. The Python and Markdown files share as many names, and are left out.
        let fixture = r#"//- app/models/user.rb
def create_user(params, repo)
  payload = params.require(:user)
  user = User.new(name: payload[:name], email: payload[:email])
  repo.save(user)
  notify(user, :created)
end
//- app/models/user.py
def create_user(params, repo):
    payload = params.require(user)
    user = User.new(name=payload.name, email=payload.email)
    repo.save(user)
//- docs/users.md
To create a user, the handler reads the payload from params, makes a User with name and
email from the payload, then calls repo save with the user and notify with the user.
//- app/models/team.rb
def create_team(params, repo)
  payload = params.require(:team)
  team = Team.new(name: payload[:name], owner: payload[:owner])
  repo.save(team)
  notify($0
"#;
        expect![[r#"
            === system
            You are a code completion engine for Ruby. You are shown a Ruby file with the cursor marked <CURSOR>, and definitions from other files of the project. You write the code to insert at the cursor.

            Rules:
            1. Continue exactly from the cursor: your reply is inserted at <CURSOR> character for character. When your turn has already begun, it holds the text just before the cursor: continue it without repeating it.
            2. Output only the code to insert. No markdown fences, no explanations, no comments addressed to the user.
            3. The text after <CURSOR> is already in the file. Never write it again: stop where your insertion meets it.
            4. When asked for the rest of the line, stop at the end of that line. When asked for a block, write the whole block with the file's indentation and stop at its end.
            5. Use the names the file, its imports and the definitions show, in the file's style. Similar code, where shown, is how this project writes such code.
            6. If nothing sensible fits, reply with nothing.
            === user
            <similar_code>
            <snippet path="app/models/user.rb">
            def create_user(params, repo)
              payload = params.require(:user)
              user = User.new(name: payload[:name], email: payload[:email])
              repo.save(user)
              notify(user, :created)
            end
            </snippet>
            </similar_code>
            <file path="app/models/team.rb">
            <code_window>
            def create_team(params, repo)
              payload = params.require(:team)
              team = Team.new(name: payload[:name], owner: payload[:owner])
              repo.save(team)
              notify(<CURSOR>
            </code_window>
            </file>
            Write the code that belongs at <CURSOR>: only the rest of the current line.
            === assistant (partial)
              notify(
            === stop ["\n", "<CURSOR>", "</code_window>"]
        "#]].assert_eq(&render(&prompt_with_open_documents(fixture)));
    }

    /// The bytes two requests share from the start, over the shorter one's length.
    fn shared_fraction(a: &CompletionPrompt, b: &CompletionPrompt) -> f64 {
        let a = serde_json::to_string(&a.messages).unwrap();
        let b = serde_json::to_string(&b.messages).unwrap();
        let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        common as f64 / a.len().min(b.len()) as f64
    }

    #[test]
    fn typing_keeps_a_long_byte_identical_prompt_prefix() {
        let helpers: String = (0..30)
            .map(|i| {
                format!("pub fn helper_{i}(input: &str, limit: usize) -> Result<Vec<String>, Error> {{ todo!() }}\n")
            })
            .collect();
        let body: String = (0..150).map(|i| format!("    let step_{i} = helper_{}(&text, {i})?;\n", i % 30)).collect();
        let fixture = format!(
            "//- src/helpers.rs\n{helpers}//- src/main.rs\nuse crate::helpers::*;\n\nfn run(text: String) -> Result<(), Error> {{\n{body}    let last = $0\n    Ok(())\n}}\n\nfn tail() {{\n{}}}\n",
            "    println!(\"after the cursor\");\n".repeat(80)
        );
        let (index, mut doc, cursor) = setup(&fixture);
        let before = completion_prompt(&gather(&doc.snapshot(), cursor, &index, &[], &Budget::default()));
        let at = doc.snapshot().line_col(cursor, PositionEncoding::Utf16);
        doc.apply_changes(2, &[TextChange::replace(TextRange::at(at), "hel")], PositionEncoding::Utf16);
        let after = completion_prompt(&gather(&doc.snapshot(), cursor + 3, &index, &[], &Budget::default()));
        assert_ne!(before, after);
        let fraction = shared_fraction(&before, &after);
        assert!(fraction >= 0.8, "only {:.1}% shared", fraction * 100.0);
    }

    #[test]
    fn the_system_message_depends_on_the_language_only() {
        let a = prompt_for("//- a.rs\nfn a() { $0 }\n", &[]);
        let b = prompt_for("//- b/c.rs\nstruct S;\nimpl S {\n    $0\n}\n", &[]);
        let c = prompt_for("//- a.py\ndef a():\n    $0\n", &[]);
        assert_eq!(a.messages[0], b.messages[0]);
        assert_ne!(a.messages[0], c.messages[0]);
    }

    #[test]
    fn a_blank_line_prefix_reaches_back_to_the_last_line_with_code() {
        let p = prompt_for("//- a.py\ndef f(x):\n    y = x * 2\n\n    $0\n", &[]);
        let last = p.messages.last().unwrap();
        assert!(last.partial);
        assert_eq!(last.content, Content::Text("    y = x * 2\n\n    ".to_string()));
        let p = prompt_for("//- a.rs\n$0\n", &[]);
        assert_eq!(p.messages.len(), 2, "no partial message when nothing precedes the cursor");
        assert_eq!(p.messages[1].role, Role::User);
        let p = prompt_for("//- a.rs\n\n   \n$0fn main() {}\n", &[]);
        assert_eq!(p.messages.len(), 2);
    }

    #[test]
    fn stop_strings_fit_moonshots_limits_and_blocks_are_not_stopped_by_a_newline() {
        let line = prompt_for("//- a.rs\nfn a() { let x = $0 }\n", &[]);
        let block = prompt_for("//- a.rs\nfn a() {\n    $0\n}\n", &[]);
        for p in [&line, &block] {
            assert!(p.stop.len() <= MAX_STOP_SEQUENCES);
            assert!(p.stop.iter().all(|s| !s.is_empty() && s.len() <= MAX_STOP_BYTES));
            assert!(p.stop.iter().any(|s| s == CURSOR_MARKER));
        }
        assert!(line.stop.contains(&"\n".to_string()));
        assert!(!block.stop.contains(&"\n".to_string()));
        assert!(block.stop.contains(&"\n\n\n".to_string()));
    }

    #[test]
    fn paths_cannot_break_out_of_their_attribute() {
        let p = prompt_for("//- we\"ird.rs\nfn a() { $0 }\n", &[]);
        let Content::Text(user) = &p.messages[1].content else { panic!() };
        assert!(user.contains("<file path=\"we&quot;ird.rs\">"), "{user}");
    }

    #[test]
    fn definitions_are_listed_in_a_fixed_order_whatever_their_rank() {
        let snippet = |path: &str, text: &str| Snippet {
            path: path.into(),
            text: text.into(),
            why: SnippetKind::Definition { symbol: "x".into() },
        };
        let (index, doc, cursor) = setup("//- z.rs\nfn z() { $0 }\n");
        let mut ctx = gather(&doc.snapshot(), cursor, &index, &[], &Budget::default());
        ctx.cross_file = vec![snippet("b.rs", "fn b2()"), snippet("a.rs", "fn a()"), snippet("b.rs", "fn b1()")];
        let first = completion_prompt(&ctx);
        ctx.cross_file.reverse();
        assert_eq!(first, completion_prompt(&ctx));
        let Content::Text(user) = &first.messages[1].content else { panic!() };
        assert!(user.starts_with("<definitions>\n<snippet path=\"a.rs\">\nfn a()\n</snippet>\n<snippet path=\"b.rs\">\nfn b1()\n\nfn b2()\n</snippet>\n</definitions>\n"), "{user}");
    }

    #[test]
    fn members_of_one_class_share_its_header() {
        let merged = merge_members(&[
            "class AbstractEventLoop:\n    def call_soon(self, callback, *args): ...",
            "class AbstractEventLoop:\n    def call_soon_threadsafe(self, callback, *args): ...",
            "class Handle:\n    def cancel(self): ...",
            "export class Store { get(key: string): Item; }",
            "export class Store { put(key: string, item: Item): void; }",
            "export class Store<T extends { id: 1 }> { a(); }",
            "export class Store<T extends { id: 1 }> { b(); }",
            "fn free() -> u8",
        ]);
        expect![[r#"
            class AbstractEventLoop:
                def call_soon(self, callback, *args): ...
                def call_soon_threadsafe(self, callback, *args): ...
            ---
            class Handle:
                def cancel(self): ...
            ---
            export class Store { get(key: string): Item; put(key: string, item: Item): void; }
            ---
            export class Store<T extends { id: 1 }> { a(); }
            ---
            export class Store<T extends { id: 1 }> { b(); }
            ---
            fn free() -> u8"#]]
        .assert_eq(&merged.join("\n---\n"));
    }
}
