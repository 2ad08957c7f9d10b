//! Rule 4 and the streaming early stop: where a suggestion is complete. A single-line
//! suggestion ends with its line; a multi-line one with the block the cursor opened or is in.

use crate::text::Language;

use super::front::locate_body;
use super::lex::{Bracket, LexState, Lexer};
use super::repeat::loop_end;
use super::site::{indent_width, lines, Ctx};
use super::CompletionSite;

/// Where the suggestion in `content` (the body found by `locate_body`) ends: a byte offset in
/// `content`. With `complete` false, `None` means "not yet known".
pub(crate) fn block_end(content: &str, ctx: &Ctx, complete: bool) -> Option<usize> {
    if ctx.multiline {
        multi_line_end(content, ctx, complete)
    } else {
        single_line_end(content, ctx, complete)
    }
}

fn single_line_end(content: &str, ctx: &Ctx, complete: bool) -> Option<usize> {
    // With code after the cursor the suggestion must fit on the line; otherwise a model that
    // starts with a line break may be offering the next line.
    let code_follows = !ctx.line_suffix.trim().is_empty();
    let mut seen_content = false;
    for line in lines(content) {
        if !line.newline {
            break;
        }
        seen_content |= !content[line.start..line.end].trim().is_empty();
        if seen_content || code_follows {
            return Some(line.end);
        }
    }
    complete.then_some(content.len())
}

/// Python's and Ruby's clauses that continue a compound statement at the header's indentation.
fn is_clause(line: &str) -> bool {
    let t = line.trim_start();
    ["else", "elif", "except", "finally", "elsif", "when", "in", "rescue", "ensure", "then"]
        .iter()
        .any(|kw| t.strip_prefix(kw).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')))
}

/// Whether a Python line opens an indented block: it ends with `:` once a trailing comment is
/// removed (a `#` counts as a comment start when the quotes before it are balanced).
fn is_header(line: &str) -> bool {
    let mut code = line;
    if let Some(i) = line.rfind('#') {
        let head = &line[..i];
        if head.matches('"').count() % 2 == 0 && head.matches('\'').count() % 2 == 0 {
            code = head;
        }
    }
    code.trim_end().ends_with(':')
}

/// Whether a Ruby line opens a block that an `end` at its indentation closes: `def`, `class`,
/// `module`, `if`, `unless`, `while`, `until`, `case`, `begin`, `for` lines, and a line whose
/// call takes a `do` block. Not an endless method (`def full_name = …`), nor an `if` or `unless`
/// modifier (`return if done`), whose line starts with something else.
pub(crate) fn is_ruby_header(line: &str) -> bool {
    let code = match line.find(" #") {
        Some(i) if !line[..i].contains(['"', '\'']) => &line[..i],
        _ => line,
    };
    let code = code.trim();
    let first = code.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
    let opens = match first {
        "def" => !code.contains(") =") && code.split_whitespace().nth(2).is_none_or(|w| w != "="),
        "class" | "module" | "if" | "unless" | "while" | "until" | "case" | "begin" | "for" => true,
        _ => false,
    };
    let block = code.ends_with(" do")
        || code == "do"
        || code.ends_with('|') && code.rsplit_once(" do |").is_some_and(|(_, params)| !params.contains(['{', '}']));
    opens || block
}

/// Lines that close a block in languages the server does not parse, and Ruby's `end`.
const CLOSER_LINES: &[&str] = &[
    "end",
    "end;",
    "end)",
    "end,",
    "fi",
    "done",
    "esac",
    "}",
    "};",
    "});",
    "})",
    "},",
    "endif",
    "endfor",
    "endwhile",
    "endforeach",
    "endfunction",
    "endswitch",
];

fn multi_line_end(content: &str, ctx: &Ctx, complete: bool) -> Option<usize> {
    let language = ctx.language;
    // Ruby's blocks end with `end`, which brackets do not count: its indentation tells.
    let indented = matches!(language, Language::Python | Language::Ruby | Language::PlainText);
    let opens_block = |line: &str| match language {
        Language::Python => is_header(line),
        Language::Ruby => is_ruby_header(line),
        _ => false,
    };
    let lp = ctx.line_prefix.as_str();
    let mut lexer = Lexer::new(language, ctx.cursor_state);
    let mut depth: i32 = 0;
    let mut opens_first = false;
    // The cursor's line: its indentation and, in Python, whether it is a block header.
    let mut base = 0;
    let mut header = false;
    let mut top_level = false;
    let mut last_indent: Option<usize> = None;
    // The last non-blank line ended a top-level item (`use x;`, a closing `}`, `import os`).
    let mut item_done = false;

    for (i, line) in lines(content).enumerate() {
        let text = &content[line.start..line.end];
        let blank = text.trim().is_empty();
        let indent = if i > 0 {
            indent_width(text)
        } else if lp.trim().is_empty() {
            indent_width(lp) + indent_width(text)
        } else {
            indent_width(lp)
        };
        if i == 0 {
            base = indent;
            top_level = indent == 0;
            header = opens_block(&format!("{lp}{text}"));
        }
        let in_code = lexer.state == LexState::Code && depth <= 0;
        if indented && i > 0 && !blank && in_code {
            let dedented = if header {
                indent < base || (indent == base && !is_clause(text))
            } else {
                indent < base
                    || (language == Language::Python
                        && top_level
                        && indent == 0
                        && last_indent.is_some_and(|l| l > 0)
                        && !is_clause(text))
            };
            if dedented {
                if matches!(language, Language::PlainText | Language::Ruby) {
                    // Ruby and code the server does not parse close a block with a line of its
                    // own at the header's indentation (Ruby's and Lua's `end`, shell's `fi`, a
                    // `}`): that line belongs to the suggestion, as a closer does in a parsed
                    // language, and the suffix rule drops it when the document has it already.
                    let word = text.trim();
                    if line.newline || complete {
                        if CLOSER_LINES.contains(&word) {
                            return Some(line.end);
                        }
                    } else if CLOSER_LINES.iter().any(|c| c.starts_with(word)) {
                        // Still arriving: `en` may become `end`.
                        return None;
                    }
                }
                return Some(line.start);
            }
        }
        if !line.newline && !complete {
            return None;
        }
        // Within a block, a blank line separates its parts, also in code without a grammar
        // (only code asks for a block there: prose is completed a line at a time).
        if blank && in_code && item_done && top_level {
            return Some(line.start);
        }

        lexer.scan(&content[line.start..line.next], |_, bracket| match bracket {
            Bracket::Open(_) => depth += 1,
            Bracket::Close(_) => depth -= 1,
        });
        if blank {
            continue;
        }
        if depth < 0 {
            // The line closes the block the cursor is in. The closer belongs to the suggestion
            // (the text after the cursor may lack it; rules 3 and 5 drop it if not). A line
            // that dips and reopens, like `} else {`, continues the statement.
            return Some(line.end);
        }
        if i == 0 {
            opens_first = depth > 0;
        } else if opens_first && depth == 0 {
            if opens_block(text) {
                // `def f(\n    a,\n):` — the brackets closed, the block starts.
                opens_first = false;
                header = true;
            } else {
                return Some(line.end);
            }
        }
        last_indent = Some(indent);
        item_done = depth == 0 && indent == 0 && lexer.state == LexState::Code && !opens_block(text);
    }
    complete.then_some(content.len())
}

/// Streaming early stop: fed the accumulated raw output so far, it says where the suggestion
/// is complete, so that the caller can stop reading and close the HTTP stream.
///
/// Single-line: the first line end after some non-whitespace content. Multi-line: the end of
/// the syntactic block the cursor opened or is in — bracket depth back to the starting level
/// at a line end when the first line opened a bracket, a line ending below the starting level
/// (the enclosing block's closer), for Python a non-empty line that dedents below the block's
/// indentation — or a blank line after a complete top-level item. Fences,
/// chatter and echoes of the prefix are looked through, the way [`super::postprocess`] strips
/// them, and output that loops on the same lines stops as soon as that is visible.
/// Cloned for each further choice of an answer that has several.
#[derive(Clone)]
pub struct StopDetector {
    ctx: Ctx,
    /// How much of the output had been seen by the previous call.
    seen: usize,
    stop: Option<usize>,
    /// The parse check's unit, found with the tree ([`StopDetector::with_tree`]).
    ahead: Option<super::parse::Ahead>,
}

impl std::fmt::Debug for StopDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopDetector")
            .field("language", &self.ctx.language)
            .field("multiline", &self.ctx.multiline)
            .field("seen", &self.seen)
            .field("stop", &self.stop)
            .finish()
    }
}

impl StopDetector {
    pub fn new(site: &CompletionSite) -> Self {
        StopDetector { ctx: Ctx::new(site), seen: 0, stop: None, ahead: None }
    }

    /// [`StopDetector::new`], also finding the parse check's unit around the cursor in `tree`,
    /// the tree of `site.document`. Made while the model is answering, it leaves less to do
    /// once the answer is in.
    pub fn with_tree(site: &CompletionSite, tree: Option<&tree_sitter::Tree>) -> Self {
        StopDetector { ahead: super::parse::Ahead::find(site, tree), ..StopDetector::new(site) }
    }

    pub(crate) fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub(crate) fn ahead(&self) -> Option<&super::parse::Ahead> {
        self.ahead.as_ref()
    }

    /// `accumulated` is all the output so far (each call extends the previous one). Returns the
    /// number of bytes of it to keep once the suggestion is complete; the same answer again if
    /// called after that.
    pub fn feed(&mut self, accumulated: &str) -> Option<usize> {
        if let Some(stop) = self.stop.filter(|&s| s <= accumulated.len()) {
            return Some(stop);
        }
        // Every decision but a dedent in an indentation language needs a line end: skip the
        // work while a line is still arriving.
        let from = self.seen.min(accumulated.len());
        let from = (0..=from).rev().find(|&i| accumulated.is_char_boundary(i)).unwrap_or(0);
        let new_line_end = accumulated[from..].contains('\n');
        self.seen = accumulated.len();
        let early_dedent =
            self.ctx.multiline && matches!(self.ctx.language, Language::Python | Language::Ruby | Language::PlainText);
        if !new_line_end && !early_dedent {
            return None;
        }
        let body = locate_body(accumulated, &self.ctx, false)?;
        let content = &accumulated[body.start..body.end];
        let stop = block_end(content, &self.ctx, body.closed).or_else(|| loop_end(content)).map(|cut| body.start + cut);
        self.stop = stop;
        stop
    }
}
