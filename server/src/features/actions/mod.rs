//! AI code actions: fix a diagnostic, explain, document, write tests, rewrite with an
//! instruction, and the user's own actions from the settings.
//!
//! Listing ([`offers`]) is a pure look at the syntax tree and costs no model call; the model
//! runs only when the user picks an action ([`run`]). Results are minimal edits: the model's
//! code is diffed against what it replaces and only changed lines are sent (see `edit.rs`).
//! Whether the document changed in the meantime is the LSP layer's check, since it holds the
//! versions.

pub mod edit;
pub mod prompts;
pub mod shown;
pub mod syntax;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::{ActionTarget, Config, CustomAction};
use crate::context::{self, Budget, SymbolLookup};
use crate::ledger::Feature;
use crate::providers::{ChatRequest, FinishReason, Message, ProviderError, StreamEvent};
use crate::router::{Fit, Router, Shrink};
use crate::text::{Document, DocumentSnapshot, Language, LanguageName, LineEnding};
use edit::LineEdit;
use prompts::PromptInput;

/// Code an action sends is cut at this many lines; larger functions are rare and would make
/// a slow, expensive request.
const MAX_REGION_LINES: usize = 400;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Fix,
    Explain,
    Document,
    WriteTests,
    Refactor,
    /// The n-th custom action of the settings, with its title (checked on use, so that a
    /// settings change in between cannot run a different action than the one picked).
    Custom(usize, String),
}

impl Action {
    pub fn id(&self) -> String {
        match self {
            Action::Fix => "fix".into(),
            Action::Explain => "explain".into(),
            Action::Document => "document".into(),
            Action::WriteTests => "tests".into(),
            Action::Refactor => "refactor".into(),
            Action::Custom(n, _) => format!("custom:{n}"),
        }
    }

    pub fn parse(id: &str, title: &str) -> Option<Action> {
        Some(match id {
            "fix" => Action::Fix,
            "explain" => Action::Explain,
            "document" => Action::Document,
            "tests" => Action::WriteTests,
            "refactor" => Action::Refactor,
            other => Action::Custom(other.strip_prefix("custom:")?.parse().ok()?, title.to_string()),
        })
    }
}

/// How editors group an action (LSP code action kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferKind {
    QuickFix,
    /// Adds code without changing behaviour (documentation, tests).
    Refactor,
    RefactorRewrite,
    /// The answer is text for the user, not an edit.
    Info,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub action: Action,
    pub title: String,
    pub kind: OfferKind,
}

/// A diagnostic the editor sent with the request (from any server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Char range in the document.
    pub chars: Range<usize>,
    pub message: String,
    pub source: Option<String>,
    pub code: Option<String>,
}

/// An instruction comment: its line and its text.
type Instruction = (usize, String);

/// Where the user asked for actions.
#[derive(Clone, Debug)]
pub struct Site {
    pub snapshot: DocumentSnapshot,
    pub path: Option<PathBuf>,
    /// Char range of the selection (empty: the cursor).
    pub selection: Range<usize>,
    pub diagnostics: Vec<Diag>,
    /// The notebook when the document is one of its code cells.
    pub notebook: Option<NotebookSite>,
}

/// A notebook cell's notebook, read as one file: the cells above hold what the cell uses (the
/// imports, the data loaded, the functions defined), which the cell alone never shows.
#[derive(Clone, Debug)]
pub struct NotebookSite {
    /// The notebook's URI.
    pub uri: String,
    /// The cells as one parsed file (`crate::text::notebook::view`).
    pub view: DocumentSnapshot,
    /// The view's char index at which the cell's text starts.
    pub start_char: usize,
    /// The cell's place among the notebook's cells, from 1.
    pub cell: usize,
}

/// How much of a notebook's cells above the edited one an action sends, in chars: the nearest
/// cells are kept.
const NOTEBOOK_ABOVE_CHARS: usize = 8_000;

impl Site {
    fn selected_lines(&self) -> Option<Range<usize>> {
        if self.selection.is_empty() {
            return None;
        }
        let rope = self.snapshot.rope();
        let len = rope.len_chars();
        let (a, b) = (self.selection.start.min(len), self.selection.end.min(len));
        let start = rope.char_to_line(a);
        let mut end = rope.char_to_line(b);
        // A selection of whole lines ends at the start of the next one.
        if end > start && rope.line_to_char(end) == b {
            end -= 1;
        }
        Some(start..end + 1)
    }

    fn cursor(&self) -> usize {
        self.selection.start
    }

    fn line_of(&self, char_idx: usize) -> usize {
        self.snapshot.rope().char_to_line(char_idx.min(self.snapshot.len_chars()))
    }

    /// The instruction comment above the selection (or the cursor's line).
    fn instruction(&self) -> Option<(usize, String)> {
        let first = self.selected_lines().map_or(self.line_of(self.cursor()), |l| l.start);
        // With nothing selected, the cursor may sit on the comment itself.
        if self.selection.is_empty() {
            if let Some(i) = syntax::instruction_on(&self.snapshot, first) {
                return Some((first, i));
            }
        }
        let above = first.checked_sub(1)?;
        syntax::instruction_on(&self.snapshot, above).map(|i| (above, i))
    }

    /// The lines a rewrite replaces, with the instruction comment's line when there is one.
    fn rewrite_lines(&self) -> Option<(Range<usize>, Option<Instruction>)> {
        let instruction = self.instruction();
        let lines = match (self.selected_lines(), &instruction) {
            (Some(lines), _) => lines,
            (None, Some((comment, _))) => syntax::construct_starting_at(&self.snapshot, comment + 1)?,
            (None, None) => return None,
        };
        Some((lines, instruction))
    }

    /// The selection, else the enclosing function.
    fn subject_lines(&self) -> Option<Range<usize>> {
        self.selected_lines().or_else(|| syntax::enclosing_function(&self.snapshot, self.cursor()).map(|(l, _)| l))
    }

    fn lines_text(&self, lines: &Range<usize>) -> String {
        let rope = self.snapshot.rope();
        let end = lines.end.min(rope.len_lines());
        let start = lines.start.min(end);
        String::from(rope.slice(rope.line_to_char(start)..rope.line_to_char(end)))
    }
}

fn short(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The actions that make sense at `site`. Pure and cheap: no model call, no I/O.
pub fn offers(site: &Site, custom: &[CustomAction]) -> Vec<Offer> {
    let snap = &site.snapshot;
    if snap.is_binary()
        || site.path.as_deref().is_some_and(crate::secrets::looks_secret)
        || crate::secrets::uri_looks_secret(snap.uri())
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(d) = site.diagnostics.first() {
        let title = if site.diagnostics.len() == 1 {
            format!("Kimi: Fix “{}”", short(&d.message, 60))
        } else {
            format!("Kimi: Fix {} diagnostics", site.diagnostics.len())
        };
        out.push(Offer { action: Action::Fix, title, kind: OfferKind::QuickFix });
    }
    if let Some((_, instruction)) = site.rewrite_lines() {
        let title = match instruction {
            Some((_, i)) => format!("Kimi: Rewrite — {}", short(&i, 60)),
            None => "Kimi: Rewrite selection".to_string(),
        };
        out.push(Offer { action: Action::Refactor, title, kind: OfferKind::RefactorRewrite });
    }
    if let Some(d) = syntax::documentable(snap, site.cursor()) {
        out.push(Offer {
            action: Action::Document,
            title: format!("Kimi: Document `{}`", d.name),
            kind: OfferKind::Refactor,
        });
    }
    if let Some((_, name)) = syntax::enclosing_function(snap, site.cursor()) {
        let tests_possible = snap.language() == Language::Rust
            || site.path.as_deref().and_then(|p| edit::test_file_path(p, snap.language())).is_some();
        if tests_possible {
            out.push(Offer {
                action: Action::WriteTests,
                title: format!("Kimi: Write tests for `{name}`"),
                kind: OfferKind::Refactor,
            });
        }
    }
    if site.subject_lines().is_some() {
        let title = if site.selection.is_empty() { "Kimi: Explain this function" } else { "Kimi: Explain selection" };
        out.push(Offer { action: Action::Explain, title: title.into(), kind: OfferKind::Info });
    }
    for (n, c) in custom.iter().enumerate() {
        let applies = match c.target {
            ActionTarget::ShowText => true,
            ActionTarget::ReplaceSelection | ActionTarget::InsertBelow => site.subject_lines().is_some(),
        };
        if applies {
            let kind = match c.target {
                ActionTarget::ReplaceSelection => OfferKind::RefactorRewrite,
                ActionTarget::InsertBelow => OfferKind::Refactor,
                ActionTarget::ShowText => OfferKind::Info,
            };
            out.push(Offer { action: Action::Custom(n, c.title.clone()), title: format!("Kimi: {}", c.title), kind });
        }
    }
    out
}

/// Where the answer goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// The code replaces these lines (diffed, so only changed lines are edited).
    Replace {
        lines: Range<usize>,
        indent: String,
    },
    /// The code goes in before this line.
    Insert {
        line: usize,
        indent: String,
    },
    /// New tests for a Rust file: into `mod tests` (before its closing line), or a new module
    /// at the end of the file.
    RustTests {
        before_line: Option<usize>,
        indent: String,
    },
    /// Tests in another file: appended to it when it exists (filled when it is empty), else the
    /// file is created.
    TestFile {
        uri: String,
        existing: Option<(DocumentSnapshot, bool)>,
    },
    Text {
        title: String,
    },
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub messages: Vec<Message>,
    pub target: Target,
    /// How the messages are made smaller when the model finds them too long.
    pub shrink: ActionShrink,
}

impl Plan {
    /// A plan whose messages hold `context` (imports and other files' definitions, in the order
    /// they matter), which may be left out, piece by piece from the last, when the request is
    /// too long for the model.
    fn with_context(context: Vec<String>, rebuild: Rebuild, target: Target) -> Plan {
        let messages = rebuild(&context.concat());
        Plan { messages, target, shrink: ActionShrink { context, rebuild: Some(rebuild), advice: String::new() } }
    }

    /// A plan with nothing that may be left out.
    fn fixed(messages: Vec<Message>, target: Target) -> Plan {
        Plan { messages, target, shrink: ActionShrink { context: Vec::new(), rebuild: None, advice: String::new() } }
    }
}

/// An action's messages for any context text.
type Rebuild = Arc<dyn Fn(&str) -> Vec<Message> + Send + Sync>;

/// `make` over owned copies of the prompt's parts, for any context text.
fn rebuildable(
    language: LanguageName,
    path: &str,
    code: &str,
    make: impl Fn(&PromptInput<'_>) -> Vec<Message> + Send + Sync + 'static,
) -> Rebuild {
    let (path, code) = (path.to_string(), code.to_string());
    Arc::new(move |context: &str| make(&PromptInput { language: language.clone(), path: &path, code: &code, context }))
}

/// What an action leaves out of a request too long for the model: the surrounding context,
/// never the code the action is about. With nothing left to leave out, the request is not sent
/// again and the user reads the advice.
#[derive(Clone)]
pub struct ActionShrink {
    context: Vec<String>,
    rebuild: Option<Rebuild>,
    advice: String,
}

impl std::fmt::Debug for ActionShrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionShrink").field("context", &self.context).field("advice", &self.advice).finish()
    }
}

/// The characters the context's heading and fence take in a prompt.
const CONTEXT_FRAME_CHARS: usize = 64;

impl Shrink for ActionShrink {
    fn shrink(&self, _sent: &[Message], fit: &Fit) -> Option<Vec<Message>> {
        let rebuild = self.rebuild.as_ref().filter(|_| !self.context.is_empty())?;
        let bare: usize = rebuild("").iter().map(Message::text_len).sum();
        let room = fit.chars.checked_sub(bare + CONTEXT_FRAME_CHARS)?;
        Some(rebuild(&keep_pieces(&self.context, room)))
    }

    fn advice(&self) -> String {
        self.advice.clone()
    }
}

/// The pieces that fit in `room` characters, in their order; a piece too long for what is left
/// is skipped, and a shorter one after it may still fit. Pure.
pub fn keep_pieces(pieces: &[String], room: usize) -> String {
    let mut kept = String::new();
    let mut used = 0;
    for piece in pieces {
        let len = piece.chars().count();
        if used + len <= room {
            kept.push_str(piece);
            used += len;
        }
    }
    kept
}

/// What the user can do about an action too long for the model.
fn too_long_advice(action: &Action) -> String {
    match action {
        Action::Custom(..) => {
            "Shorten the custom action's prompt or what it takes in ({file}, {selection}), or give the \
            action a `model` with a longer context."
                .to_string()
        }
        _ => "Select less code, or set `models.action` to a model with a longer context (a rule with \
            `promptTokensAbove` can send only long prompts to one; docs/providers.md)."
            .to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    NotApplicable(String),
    #[error("the model's answer held no code to apply")]
    NoCode,
    #[error("the model returned the code unchanged: nothing to apply")]
    Unchanged,
    /// The answer reached its length limit: its code is incomplete, and applying it would
    /// replace the user's code with part of it.
    #[error(
        "the model's answer was cut off at the length limit ({max_tokens} tokens, `actions.maxTokens`), so nothing was changed; select less code, or raise `actions.maxTokens`"
    )]
    CutOff { max_tokens: u32 },
    #[error("the provider's content filter stopped the model's answer part way, so nothing was changed")]
    Filtered,
    /// The answer ended inside its code block without saying it was cut off (a server that
    /// names no finish reason, or a model that forgot the fence): the code may be incomplete.
    #[error("the model's answer ended inside its code block, so its code may be incomplete and nothing was changed; run the action again")]
    Unclosed,
}

/// A text edit in a document, in chars of `snapshot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharEdit {
    pub chars: Range<usize>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub enum Change {
    /// Edits of a document as `snapshot` has it. `versioned`: the document is open in the
    /// editor and the edit must apply to exactly `snapshot.version()`.
    Edit {
        snapshot: DocumentSnapshot,
        versioned: bool,
        edits: Vec<CharEdit>,
    },
    Create {
        uri: String,
        text: String,
    },
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Edits(Vec<Change>),
    Text { title: String, markdown: String },
}

/// The imports and cross-file definitions the code at `char_idx` uses, for the prompt: one piece
/// each, in the order the context ranks them, so that the least useful can be left out first.
/// In a notebook's cell, the cells above come first (imports included), and the workspace is
/// asked only for what no cell defines.
fn context_pieces(site: &Site, char_idx: usize, symbols: &dyn SymbolLookup) -> Vec<String> {
    let (doc, at) = match &site.notebook {
        Some(nb) => (&nb.view, nb.start_char + char_idx),
        None => (&site.snapshot, char_idx),
    };
    let mut out = Vec::new();
    if let Some(nb) = &site.notebook {
        let comment = crate::text::notebook::comment(nb.view.language());
        out.extend(cells_above(&nb.view.text(), nb.start_char, comment));
    }
    if doc.tree().is_none() {
        return out;
    }
    let budget = Budget { prefix_chars: 0, suffix_chars: 0, recent_edit_chars: 0, ..Budget::default() };
    let ctx = context::gather(doc, at, symbols, &[], &budget);
    if site.notebook.is_none() && !ctx.imports.trim().is_empty() {
        out.push(format!("{}\n", ctx.imports));
    }
    let comment = context::symbols::comment_marker(doc.language());
    for s in &ctx.cross_file {
        out.push(format!("{comment} from {}\n{}\n", s.path, s.text.trim_end()));
    }
    out
}

/// The notebook's cells above the one at `start_char` of its view, as the view lays them out
/// (its lines commented with `comment`), for the prompt; the nearest [`NOTEBOOK_ABOVE_CHARS`]
/// when they are longer, cut at a line. `None` for the first cell. Pure.
fn cells_above(view: &str, start_char: usize, comment: &str) -> Option<String> {
    let end = view.char_indices().nth(start_char).map_or(view.len(), |(i, _)| i);
    // The cell's own `# %%` line ends the text above it.
    let above = view[..end].trim_end();
    let above = above.rsplit_once('\n').map_or("", |(before, _)| before).trim_end();
    if above.is_empty() {
        return None;
    }
    let mut text = above;
    let mut cut = false;
    if let Some((at, _)) = above.char_indices().rev().nth(NOTEBOOK_ABOVE_CHARS) {
        cut = true;
        text = &above[at..];
        text = text.split_once('\n').map_or("", |(_, rest)| rest);
    }
    let note = if cut { format!("{comment} (earlier cells left out)\n") } else { String::new() };
    Some(format!("{comment} The notebook's cells above this one:\n{note}{text}\n\n"))
}

fn diagnostics_text(site: &Site) -> String {
    site.diagnostics
        .iter()
        .map(|d| {
            let line = site.line_of(d.chars.start) + 1;
            let origin = match (&d.source, &d.code) {
                (Some(s), Some(c)) => format!(" ({s} {c})"),
                (Some(s), None) => format!(" ({s})"),
                (None, Some(c)) => format!(" ({c})"),
                (None, None) => String::new(),
            };
            format!("- line {line}: {}{origin}", d.message.trim())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn capped(lines: Range<usize>) -> Result<Range<usize>, ActionError> {
    if lines.len() > MAX_REGION_LINES {
        return Err(ActionError::NotApplicable(format!(
            "the code is {} lines long; select at most {MAX_REGION_LINES} lines",
            lines.len()
        )));
    }
    Ok(lines)
}

/// What to send and where the answer goes. `open_document` gives the editor's copy of another
/// document when it is open (for test files); files on disk are read otherwise.
/// `creates_files`: whether the editor accepts edits that create a file; when it does not, an
/// action that would create one is refused here, before the model is paid for an answer the
/// editor cannot take.
pub fn plan(
    site: &Site,
    action: &Action,
    instruction: Option<&str>,
    config: &Config,
    symbols: &dyn SymbolLookup,
    open_document: &dyn Fn(&str) -> Option<DocumentSnapshot>,
    creates_files: bool,
) -> Result<Plan, ActionError> {
    let snap = &site.snapshot;
    let language = snap.language_name();
    let path = match &site.notebook {
        Some(nb) => format!("{}, cell {}", symbols.display_path(&nb.uri), nb.cell),
        None => symbols.display_path(snap.uri()),
    };
    let not_here = |what: &str| ActionError::NotApplicable(format!("{what} (the document may have changed)"));
    match action {
        Action::Fix => {
            let first = site.diagnostics.first().ok_or_else(|| not_here("no diagnostics to fix"))?;
            let first_line = site.line_of(first.chars.start);
            let last_line = site.diagnostics.iter().map(|d| site.line_of(d.chars.end)).max().unwrap_or(first_line);
            let lines = match syntax::enclosing_function(snap, first.chars.start) {
                Some((f, _)) if f.end > last_line && f.len() <= MAX_REGION_LINES => f,
                _ => first_line.saturating_sub(3)..(last_line + 4).min(snap.len_lines()),
            };
            let code = site.lines_text(&lines);
            let context = context_pieces(site, first.chars.start, symbols);
            let diagnostics = diagnostics_text(site);
            let rebuild = rebuildable(language, &path, &code, move |input| prompts::fix(input, &diagnostics));
            Ok(Plan::with_context(context, rebuild, Target::Replace { indent: edit::common_indent(&code), lines }))
        }
        Action::Refactor => {
            let (lines, comment) = site.rewrite_lines().ok_or_else(|| not_here("nothing is selected"))?;
            let lines = capped(lines)?;
            let instruction = instruction
                .map(str::to_string)
                .filter(|i| !i.trim().is_empty())
                .or(comment.as_ref().map(|(_, i)| i.clone()))
                .ok_or_else(|| {
                    ActionError::NotApplicable(
                        "say what to change: put a comment like `// kimi: make this iterative` directly above the selection, or pass the instruction as the command's argument".into(),
                    )
                })?;
            let code = site.lines_text(&lines);
            let context = context_pieces(site, snap.rope().line_to_char(lines.start), symbols);
            let rebuild = rebuildable(language, &path, &code, move |input| prompts::refactor(input, &instruction));
            // The instruction comment has been carried out: it goes with the rewrite.
            let replaced = match comment {
                Some((line, _)) if line + 1 == lines.start => line..lines.end,
                _ => lines,
            };
            let target = Target::Replace { indent: edit::common_indent(&code), lines: replaced };
            Ok(Plan::with_context(context, rebuild, target))
        }
        Action::Explain => {
            let lines = capped(site.subject_lines().ok_or_else(|| not_here("no selection or function here"))?)?;
            let code = site.lines_text(&lines);
            let context = context_pieces(site, snap.rope().line_to_char(lines.start), symbols);
            let title = format!("Explanation of {path}:{}-{}", lines.start + 1, lines.end);
            let rebuild = rebuildable(language, &path, &code, prompts::explain);
            Ok(Plan::with_context(context, rebuild, Target::Text { title }))
        }
        Action::Document => {
            let d = syntax::documentable(snap, site.cursor()).ok_or_else(|| not_here("no function or type here"))?;
            let code = site.lines_text(&capped(d.lines.clone())?);
            let input = PromptInput { language: language.clone(), path: &path, code: &code, context: "" };
            let messages = prompts::document(&input, &d.name);
            Ok(Plan::fixed(messages, Target::Replace { lines: d.doc_lines, indent: d.indent }))
        }
        Action::WriteTests => {
            let (lines, name) =
                syntax::enclosing_function(snap, site.cursor()).ok_or_else(|| not_here("no function here"))?;
            let code = site.lines_text(&capped(lines.clone())?);
            let context = context_pieces(site, snap.rope().line_to_char(lines.start), symbols);
            if snap.language() == Language::Rust {
                let before_line = syntax::rust_tests_module_end(snap);
                let indent = match before_line {
                    Some(l) => format!("{}    ", syntax::leading_ws(&snap.line(l))),
                    None => "    ".into(),
                };
                let place = "Return only the test functions (each with #[test]), without a `mod tests` wrapper or `use` lines: they go into the file's `#[cfg(test)] mod tests`, which has `use super::*;`.";
                let rebuild =
                    rebuildable(language, &path, &code, move |input| prompts::tests(input, &name, place, None));
                return Ok(Plan::with_context(context, rebuild, Target::RustTests { before_line, indent }));
            }
            let source = site.path.as_deref().ok_or_else(|| not_here("the document is not a file on disk"))?;
            let test_path = edit::test_file_path(source, snap.language())
                .ok_or_else(|| not_here("no test file convention for this language"))?;
            let uri = url::Url::from_file_path(&test_path)
                .map(String::from)
                .map_err(|_| not_here("the test file's path cannot be a URI"))?;
            let existing = open_document(&uri).map(|s| (s, true)).or_else(|| {
                let text = std::fs::read_to_string(&test_path).ok()?;
                Some((Document::new(&uri, "", 0, &text).snapshot(), false))
            });
            let file_name = test_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if existing.is_none() && !creates_files {
                return Err(ActionError::NotApplicable(format!(
                    "the tests go into a new file, `{}`, and this editor does not let a language server create files; create it (empty is fine) and run the action again",
                    test_path.display()
                )));
            }
            // An empty test file (made by the user for an editor that cannot create files) is
            // filled like a new one: package line, imports and all.
            let head = existing.as_ref().filter(|(e, _)| !is_blank(e)).map(|(e, _)| {
                let rope = e.rope();
                String::from(rope.slice(..rope.line_to_char(rope.len_lines().min(40))))
            });
            let into_class = head.is_some() && existing.as_ref().and_then(|(e, _)| syntax::test_class_end(e)).is_some();
            let place = match &head {
                Some(_) if into_class => "Return only the new test methods, to be added to that test class.".to_string(),
                Some(_) => "Return only the new tests, to be appended to that file.".to_string(),
                None => format!("Return the complete new test file `{file_name}`, with its package/imports, importing the code under test from its module."),
            };
            let rebuild =
                rebuildable(language, &path, &code, move |input| prompts::tests(input, &name, &place, head.as_deref()));
            Ok(Plan::with_context(context, rebuild, Target::TestFile { uri, existing }))
        }
        Action::Custom(n, title) => {
            let c = config.actions.custom.get(*n).filter(|c| c.title == *title).ok_or_else(|| {
                ActionError::NotApplicable(format!("the custom action “{title}” is no longer in the settings"))
            })?;
            let selection = site.subject_lines();
            let function =
                syntax::enclosing_function(snap, site.cursor()).map(|(l, _)| site.lines_text(&l)).unwrap_or_default();
            let selection_text = selection.as_ref().map(|l| site.lines_text(l)).unwrap_or_default();
            let context = context_pieces(site, site.cursor(), symbols).concat();
            let diagnostics = diagnostics_text(site);
            let file = snap.text();
            let rendered = crate::template::render(&c.prompt, &|name| match name {
                "selection" => selection_text.clone(),
                "function" => function.clone(),
                "file" => file.clone(),
                "path" => path.clone(),
                "language" => snap.language_name().name.into_owned(),
                "diagnostics" => diagnostics.clone(),
                "context" => context.clone(),
                _ => String::new(),
            });
            let input = PromptInput { language: language.clone(), path: &path, code: &selection_text, context: "" };
            let messages = prompts::custom(&input, &rendered, c.target != ActionTarget::ShowText);
            let target = match (c.target, selection) {
                (ActionTarget::ShowText, _) => Target::Text { title: c.title.clone() },
                (ActionTarget::ReplaceSelection, Some(lines)) => {
                    Target::Replace { indent: edit::common_indent(&selection_text), lines: capped(lines)? }
                }
                (ActionTarget::InsertBelow, Some(lines)) => {
                    Target::Insert { line: lines.end, indent: edit::common_indent(&selection_text) }
                }
                (_, None) => return Err(not_here("no selection or function here")),
            };
            Ok(Plan::fixed(messages, target))
        }
    }
}

/// A document with nothing but whitespace in it.
fn is_blank(snap: &DocumentSnapshot) -> bool {
    snap.rope().chars().all(char::is_whitespace)
}

fn line_start(snap: &DocumentSnapshot, line: usize) -> usize {
    let rope = snap.rope();
    rope.line_to_char(line.min(rope.len_lines()))
}

/// Inserts whole lines at the end of a document, starting a new line when it lacks a final
/// line break.
fn append(snap: &DocumentSnapshot, text: &str) -> CharEdit {
    let end = snap.len_chars();
    let needs_break = end > 0 && snap.rope().char(end - 1) != '\n';
    CharEdit { chars: end..end, text: if needs_break { format!("\n{text}") } else { text.to_string() } }
}

/// Turns line edits of `snap` into char edits; an insertion past a final line without a line
/// break starts a new line.
fn char_edits(snap: &DocumentSnapshot, edits: Vec<LineEdit>) -> Vec<CharEdit> {
    edits
        .into_iter()
        .map(|e| {
            let start = line_start(snap, e.lines.start);
            let end = line_start(snap, e.lines.end);
            let at_unterminated_end = end == snap.len_chars() && end > 0 && snap.rope().char(end - 1) != '\n';
            let text = if at_unterminated_end && start == end {
                format!("\n{}", e.text.strip_suffix('\n').unwrap_or(&e.text))
            } else if at_unterminated_end {
                e.text.strip_suffix('\n').unwrap_or(&e.text).to_string()
            } else {
                e.text
            };
            CharEdit { chars: start..end, text }
        })
        .collect()
}

/// The model's answer applied to the plan's target, each document's edits written with its
/// own line breaks (`\n`, `\r\n` or a lone `\r`; models write `\n`). Pure.
pub fn apply(site: &Site, target: Target, answer: &str) -> Result<Outcome, ActionError> {
    let outcome = apply_lf(site, target, answer)?;
    Ok(in_line_endings(outcome, site.snapshot.line_ending()))
}

/// `outcome`, worked out with `\n` breaks, in the line breaks of the documents it edits. A
/// document without a line break yet (a new or empty test file) is written as `source`, the
/// document the action ran in.
fn in_line_endings(outcome: Outcome, source: LineEnding) -> Outcome {
    let ending_of = |snapshot: &DocumentSnapshot| {
        if snapshot.len_lines() > 1 {
            snapshot.line_ending()
        } else {
            source
        }
    };
    let Outcome::Edits(changes) = outcome else {
        return outcome;
    };
    let changes = changes
        .into_iter()
        .map(|change| match change {
            Change::Edit { snapshot, versioned, edits } => {
                let ending = ending_of(&snapshot);
                let edits =
                    edits.into_iter().map(|e| CharEdit { text: ending.apply(&e.text).into_owned(), ..e }).collect();
                Change::Edit { snapshot, versioned, edits }
            }
            Change::Create { uri, text } => Change::Create { uri, text: source.apply(&text).into_owned() },
        })
        .collect();
    Outcome::Edits(changes)
}

/// [`apply`] with `\n` line breaks throughout: the code the answer replaces is compared with
/// the answer as `\n` text, so that only the lines the model changed are edited.
fn apply_lf(site: &Site, target: Target, answer: &str) -> Result<Outcome, ActionError> {
    let snap = &site.snapshot;
    let doc_edit =
        |edits: Vec<CharEdit>| Outcome::Edits(vec![Change::Edit { snapshot: snap.clone(), versioned: true, edits }]);
    if let Target::Text { title } = target {
        let markdown = answer.trim().to_string();
        if markdown.is_empty() {
            return Err(ActionError::NoCode);
        }
        return Ok(Outcome::Text { title, markdown });
    }
    let code = edit::extract_code(answer).map_err(|e| match e {
        edit::NoCode::Empty => ActionError::NoCode,
        edit::NoCode::Unclosed => ActionError::Unclosed,
    })?;
    match target {
        Target::Text { .. } => unreachable!("handled above"),
        Target::Replace { lines, indent } => {
            let original = site.lines_text(&lines).replace("\r\n", "\n");
            let new = edit::reindent(&code, &indent);
            let edits: Vec<LineEdit> = edit::line_edits(&original, &new)
                .into_iter()
                .map(|e| LineEdit { lines: e.lines.start + lines.start..e.lines.end + lines.start, text: e.text })
                .collect();
            if edits.is_empty() {
                return Err(ActionError::Unchanged);
            }
            Ok(doc_edit(char_edits(snap, edits)))
        }
        Target::Insert { line, indent } => {
            let text = edit::reindent(&code, &indent);
            Ok(doc_edit(char_edits(snap, vec![LineEdit { lines: line..line, text }])))
        }
        Target::RustTests { before_line: Some(line), indent } => {
            let text = format!("\n{}", edit::reindent(&code, &indent));
            Ok(doc_edit(char_edits(snap, vec![LineEdit { lines: line..line, text }])))
        }
        Target::RustTests { before_line: None, indent } => {
            let text = format!(
                "\n#[cfg(test)]\nmod tests {{\n{indent}use super::*;\n\n{}}}\n",
                edit::reindent(&code, &indent)
            );
            Ok(doc_edit(vec![append(snap, &text)]))
        }
        Target::TestFile { existing: Some((file, open)), .. } if is_blank(&file) => {
            let edit = CharEdit { chars: 0..file.len_chars(), text: code };
            Ok(Outcome::Edits(vec![Change::Edit { snapshot: file, versioned: open, edits: vec![edit] }]))
        }
        Target::TestFile { existing: Some((file, open)), .. } => {
            let edit = match syntax::test_class_end(&file) {
                Some(line) => {
                    let indent = format!("{}    ", syntax::leading_ws(&file.line(line)));
                    let at = line_start(&file, line);
                    CharEdit { chars: at..at, text: format!("\n{}", edit::reindent(&code, &indent)) }
                }
                None => append(&file, &format!("\n{code}")),
            };
            Ok(Outcome::Edits(vec![Change::Edit { snapshot: file, versioned: open, edits: vec![edit] }]))
        }
        Target::TestFile { uri, existing: None } => Ok(Outcome::Edits(vec![Change::Create { uri, text: code }])),
    }
}

#[allow(clippy::too_many_arguments)] // each is a distinct input; a struct would only rename them
/// Runs an action: plans it, asks the model (`config.models.action`, metered as
/// [`Feature::Action`]), and applies the answer unless the model did not finish it
/// ([`finished`]). Cancelling `cancel` drops the model stream, which closes the upstream
/// connection. `creates_files`: see [`plan`].
pub async fn run(
    router: &Router,
    config: &Config,
    site: &Site,
    action: &Action,
    instruction: Option<&str>,
    think_harder: bool,
    symbols: &(dyn SymbolLookup + Sync),
    open_document: &(dyn Fn(&str) -> Option<DocumentSnapshot> + Sync),
    creates_files: bool,
    cancel: CancellationToken,
) -> Result<Outcome, ActionError> {
    if site.snapshot.is_binary()
        || site.path.as_deref().is_some_and(crate::secrets::looks_secret)
        || crate::secrets::uri_looks_secret(site.snapshot.uri())
    {
        return Err(ActionError::NotApplicable("this file is never sent to a model".into()));
    }
    let plan = plan(site, action, instruction, config, symbols, open_document, creates_files)?;
    let mut request = ChatRequest::new(config.models.action.clone(), plan.messages);
    request.max_tokens = Some(config.actions.max_tokens);
    let hint = route_hint(config, action, think_harder);
    let shrink = Arc::new(ActionShrink { advice: too_long_advice(action), ..plan.shrink });
    let mut stream = tokio::select! {
        _ = cancel.cancelled() => return Err(ActionError::Cancelled),
        s = router.stream_shrinking(config, Feature::Action, &hint, request, shrink) => s?,
    };
    let mut answer = String::new();
    let finish = loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return Err(ActionError::Cancelled), // drops the stream
            e = stream.next() => e,
        };
        match event {
            Some(Ok(StreamEvent::Content(delta))) => answer.push_str(&delta),
            Some(Ok(StreamEvent::Done(response))) => break response.finish_reason,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            // The stream driver ends with `Done` or an error; an end without either is a drop.
            None => return Err(ProviderError::dropped().into()),
        }
    };
    drop(stream);
    finished(site, plan.target, &answer, &finish, config.actions.max_tokens)
}

/// The answer of a finished stream applied to `target`, unless the model did not finish it:
/// part of the code would replace all of it (a cut-off rewrite deletes the rest of the
/// function). A cut-off explanation is still worth reading, and is shown with a note that says
/// so. Pure.
pub fn finished(
    site: &Site,
    target: Target,
    answer: &str,
    finish: &FinishReason,
    max_tokens: u32,
) -> Result<Outcome, ActionError> {
    match (finish, target) {
        (FinishReason::Length, Target::Text { title }) => {
            let mut outcome = apply(site, Target::Text { title }, answer)?;
            if let Outcome::Text { markdown, .. } = &mut outcome {
                let note = format!("> **Cut off:** the answer reached the length limit ({max_tokens} tokens, `actions.maxTokens`) and stops here. Select less code, or raise `actions.maxTokens`.");
                let tail = edit::note_after(markdown, &note);
                markdown.push_str(tail.trim_end());
            }
            Ok(outcome)
        }
        (FinishReason::Length, _) => Err(ActionError::CutOff { max_tokens }),
        (FinishReason::ContentFilter, _) => Err(ActionError::Filtered),
        (_, target) => apply(site, target, answer),
    }
}

/// A custom action's own `model` (a route or a model), and the user's "think harder".
fn route_hint(config: &Config, action: &Action, think_harder: bool) -> crate::router::RouteHint {
    let model = match action {
        Action::Custom(n, title) => {
            config.actions.custom.get(*n).filter(|c| c.title == *title).and_then(|c| c.model.clone())
        }
        _ => None,
    };
    crate::router::RouteHint { think_harder, model }
}

#[cfg(test)]
mod tests;
