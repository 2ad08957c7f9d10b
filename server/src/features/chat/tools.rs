//! The tools the chat model may call, executed by the server inside the workspace only.
//!
//! Every path goes through [`Workspace::resolve`]: canonicalised (so `..` and symlinks cannot
//! leave the root), refused when it looks secret or is ignored by the workspace's ignore files.
//! Reading tools return text for the model; `propose_edit` returns a [`Proposal`] that the LSP
//! layer turns into `workspace/applyEdit` — nothing is written here.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::diagnostics::{self, DiagnosticStore};
use crate::context::{SymbolLookup, WorkspaceIndex};
use crate::providers::ToolSpec;
use crate::text::{line_ending, DocumentSnapshot, Language, LineEnding};

/// A tool result longer than this is cut: one huge file must not push the conversation past the
/// model's context.
pub const MAX_RESULT_CHARS: usize = 40_000;
const MAX_LIST_ENTRIES: usize = 500;
const MAX_SEARCH_HITS: usize = 100;
const MAX_SEARCHED_FILE_BYTES: u64 = 1024 * 1024;
/// The largest file a tool reads from disk (an open document's text is the editor's, whatever
/// its size).
const MAX_READ_FILE_BYTES: u64 = 32 * 1024 * 1024;

pub type OpenDocuments = Arc<dyn Fn(&str) -> Option<DocumentSnapshot> + Send + Sync>;

/// An open notebook by its file's URI, as one script of its cells.
pub type OpenNotebooks = Arc<dyn Fn(&str) -> Option<crate::session::NotebookScript> + Send + Sync>;

/// What the model reads at the top of a notebook's script (`read_file`, the current file).
pub const NOTEBOOK_NOTE: &str = "a notebook open in the editor, shown as a script of its cells: a `%%` comment line starts each cell, markdown cells are comments; propose_edit changes one code cell at a time, quoting text inside it";

/// What the tools may see: the workspace roots, the editor's open documents (their unsaved text
/// wins over the disk), the symbol index, and the diagnostics the editor reported.
#[derive(Clone)]
pub struct Workspace {
    pub roots: Vec<PathBuf>,
    pub open_document: OpenDocuments,
    /// Notebooks open in the editor: read and edited as their cells, not as the file on disk.
    pub open_notebook: OpenNotebooks,
    pub index: Arc<WorkspaceIndex>,
    pub diagnostics: Arc<DiagnosticStore>,
    /// Whether the editor accepts edits that create a file; when it does not, `propose_edit`
    /// of a new file is refused with a message the model can pass on.
    pub creates_files: bool,
}

/// Why a tool call was not carried out. Shown to the model (so it can correct itself) and to
/// the user (status `refused`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse(message: impl Into<String>) -> Refusal {
    Refusal(message.into())
}

/// A change the model proposed, resolved against the file as the editor or the disk has it.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub path: PathBuf,
    pub uri: String,
    /// The document as it was when the proposal was computed; `None` for a new file.
    pub snapshot: Option<DocumentSnapshot>,
    /// Whether `snapshot` is the editor's open document (its version then pins the edit).
    pub open: bool,
    /// Char range in `snapshot` and its replacement (for a new file: the whole text).
    pub chars: std::ops::Range<usize>,
    pub text: String,
    pub summary: String,
}

pub enum ToolOutput {
    Text { text: String, summary: String },
    Edit(Proposal),
}

pub const READ_FILE: &str = "read_file";
pub const LIST_DIR: &str = "list_dir";
pub const SEARCH_SYMBOLS: &str = "search_symbols";
pub const SEARCH_TEXT: &str = "search_text";
pub const GET_DIAGNOSTICS: &str = "get_diagnostics";
pub const PROPOSE_EDIT: &str = "propose_edit";

/// The tool declarations sent with every chat request.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec::function(
            READ_FILE,
            "Read a file of the workspace, optionally only some lines. Lines are numbered from 1 in the result.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root"},
                "start_line": {"type": "integer", "description": "First line to read (1-based)"},
                "end_line": {"type": "integer", "description": "Last line to read (inclusive)"}
            }, "required": ["path"]}),
        ),
        ToolSpec::function(
            LIST_DIR,
            "List a directory of the workspace (ignored and hidden files are left out). Directories end with '/'.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Directory relative to the workspace root; '.' for the root"}
            }, "required": ["path"]}),
        ),
        ToolSpec::function(
            SEARCH_SYMBOLS,
            "Find where a function, type, method or constant is defined in the workspace, by exact name.",
            json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "The symbol's name"}
            }, "required": ["name"]}),
        ),
        ToolSpec::function(
            SEARCH_TEXT,
            "Search the workspace's files for a literal text; returns path:line: text for each hit.",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "The literal text to find"},
                "path": {"type": "string", "description": "Only search under this directory"}
            }, "required": ["query"]}),
        ),
        ToolSpec::function(
            GET_DIAGNOSTICS,
            "Get the problems of a workspace file: the errors and warnings the editor's language servers reported (as far as the editor shared them) and the syntax errors found by parsing the file.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root"}
            }, "required": ["path"]}),
        ),
        ToolSpec::function(
            PROPOSE_EDIT,
            "Propose a change to a file. The user reviews it in the editor before it is applied. Replace `old_text` (which must occur exactly once in the file) by `new_text`; with an empty or absent `old_text` the file is created with `new_text`.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root"},
                "old_text": {"type": "string", "description": "The exact text to replace, enough of it to be unique"},
                "new_text": {"type": "string", "description": "The replacement"}
            }, "required": ["path", "new_text"]}),
        ),
    ]
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    start_line: Option<usize>,
    end_line: Option<usize>,
}

#[derive(Deserialize)]
struct PathArgs {
    path: String,
}

#[derive(Deserialize)]
struct NameArgs {
    name: String,
}

#[derive(Deserialize)]
struct SearchArgs {
    query: String,
    path: Option<String>,
}

#[derive(Deserialize)]
struct EditArgs {
    path: String,
    #[serde(default)]
    old_text: Option<String>,
    new_text: String,
}

fn args<T: for<'de> Deserialize<'de>>(tool: &str, raw: &str) -> Result<T, Refusal> {
    let raw = if raw.trim().is_empty() { "{}" } else { raw };
    serde_json::from_str(raw).map_err(|e| refuse(format!("the arguments of {tool} are not valid: {e}")))
}

/// Cuts `text` to [`MAX_RESULT_CHARS`], saying so.
pub fn cap(text: String) -> String {
    match text.char_indices().nth(MAX_RESULT_CHARS) {
        Some((at, _)) => format!("{}\n[… cut: the result was longer than {MAX_RESULT_CHARS} characters]", &text[..at]),
        None => text,
    }
}

impl Workspace {
    /// Runs one tool call. Synchronous (file system only): call it on a blocking thread.
    pub fn call(&self, name: &str, arguments: &str) -> Result<ToolOutput, Refusal> {
        match name {
            READ_FILE => {
                let a: ReadArgs = args(name, arguments)?;
                self.read_file(&a.path, a.start_line, a.end_line)
            }
            LIST_DIR => {
                let a: PathArgs = args(name, arguments)?;
                self.list_dir(&a.path)
            }
            SEARCH_SYMBOLS => {
                let a: NameArgs = args(name, arguments)?;
                Ok(self.search_symbols(&a.name))
            }
            SEARCH_TEXT => {
                let a: SearchArgs = args(name, arguments)?;
                self.search_text(&a.query, a.path.as_deref())
            }
            GET_DIAGNOSTICS => {
                let a: PathArgs = args(name, arguments)?;
                self.get_diagnostics(&a.path)
            }
            PROPOSE_EDIT => {
                let a: EditArgs = args(name, arguments)?;
                self.propose_edit(&a.path, a.old_text.as_deref().unwrap_or(""), &a.new_text).map(ToolOutput::Edit)
            }
            other => Err(refuse(format!("there is no tool `{other}`"))),
        }
    }

    fn root(&self) -> Result<&Path, Refusal> {
        self.roots
            .first()
            .map(PathBuf::as_path)
            .ok_or_else(|| refuse("the editor opened no workspace folder, so no files can be read"))
    }

    /// The canonical path of `requested` (relative to the first root, or absolute inside a
    /// root) and the root it is in. `must_exist: false` allows a new file whose parent exists.
    pub fn resolve(&self, requested: &str, must_exist: bool) -> Result<(PathBuf, PathBuf), Refusal> {
        let requested = requested.trim();
        let requested = requested.strip_prefix("file://").unwrap_or(requested);
        let given = Path::new(if requested.is_empty() { "." } else { requested });
        let joined = if given.is_absolute() { given.to_path_buf() } else { self.root()?.join(given) };
        let outside = || refuse(format!("`{requested}` is outside the workspace"));
        let canonical = match std::fs::canonicalize(&joined) {
            Ok(p) => p,
            Err(_) if !must_exist => {
                // A new file: its directory must exist and be inside; its name must be plain.
                let name = joined.file_name().ok_or_else(outside)?;
                if matches!(Path::new(name).components().next(), Some(Component::ParentDir)) {
                    return Err(outside());
                }
                let parent = joined.parent().ok_or_else(outside)?;
                std::fs::canonicalize(parent)
                    .map_err(|_| refuse(format!("the directory of `{requested}` does not exist")))?
                    .join(name)
            }
            Err(_) if self.roots.iter().any(|r| lexically_inside(r, &joined)) => {
                return Err(refuse(format!("`{requested}` does not exist in the workspace")))
            }
            Err(_) => return Err(outside()),
        };
        let root = self
            .roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .find(|r| canonical.starts_with(r))
            .ok_or_else(outside)?;
        let relative = canonical.strip_prefix(&root).unwrap_or(&canonical);
        if crate::secrets::looks_secret(relative) {
            return Err(refuse(format!("`{requested}` looks like it holds secrets; it is never sent to a model")));
        }
        if relative.components().any(|c| c.as_os_str() == ".git") || is_ignored(&root, &canonical) {
            return Err(refuse(format!("`{requested}` is ignored by the workspace's ignore files")));
        }
        Ok((canonical, root))
    }

    fn display(&self, root: &Path, path: &Path) -> String {
        let rel = path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        if rel.is_empty() {
            ".".into()
        } else {
            rel
        }
    }

    /// The editor's text when the file is open there, else the disk's.
    fn text_of(&self, path: &Path) -> Result<(String, Option<DocumentSnapshot>), Refusal> {
        let uri = url::Url::from_file_path(path).map(String::from).unwrap_or_default();
        if let Some(snapshot) = (self.open_document)(&uri) {
            if snapshot.is_binary() {
                return Err(refuse("the file is binary"));
            }
            return Ok((snapshot.text(), Some(snapshot)));
        }
        // Looked at before reading: a named pipe would block the tool's thread (and the
        // answer) until someone wrote to it, and a data file of gigabytes would be read into
        // memory whole.
        let meta = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read the file: {e}")))?;
        if !meta.is_file() {
            return Err(refuse("it is not a regular file (a pipe, socket or device)"));
        }
        if meta.len() > MAX_READ_FILE_BYTES {
            return Err(refuse(format!(
                "the file is {} MiB, more than the {} MiB kimi-lsp reads; it is data rather than code, use search_text or ask the user",
                meta.len() / (1024 * 1024),
                MAX_READ_FILE_BYTES / (1024 * 1024)
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| refuse(format!("cannot read the file: {e}")))?;
        if bytes.contains(&0) {
            return Err(refuse("the file is binary"));
        }
        String::from_utf8(bytes).map(|t| (t, None)).map_err(|_| refuse("the file is not UTF-8 text"))
    }

    /// The notebook open in the editor at `path`, if one is.
    fn notebook_at(&self, path: &Path) -> Option<crate::session::NotebookScript> {
        let uri = url::Url::from_file_path(path).ok()?;
        (self.open_notebook)(uri.as_str())
    }

    /// The editor's text when the file is open there (a notebook's: its cells), else the disk's.
    fn read_file(&self, path: &str, start: Option<usize>, end: Option<usize>) -> Result<ToolOutput, Refusal> {
        let (canonical, root) = self.resolve(path, true)?;
        if canonical.is_dir() {
            return Err(refuse(format!("`{path}` is a directory; use list_dir")));
        }
        let notebook = self.notebook_at(&canonical);
        let text = match &notebook {
            Some(nb) => nb.text.clone(),
            None => self.text_of(&canonical)?.0,
        };
        let total = text.lines().count();
        let first = start.unwrap_or(1).max(1);
        let last = end.unwrap_or(total).min(total);
        let shown = self.display(&root, &canonical);
        // The model is told how to read and edit a notebook; the user's summary stays short.
        let header = match notebook {
            Some(_) => format!("{shown} ({NOTEBOOK_NOTE})"),
            None => shown.clone(),
        };
        if first > last && total > 0 {
            return Err(refuse(format!("`{shown}` has {total} lines; lines {first}-{last} do not exist")));
        }
        let body: String = text
            .lines()
            .enumerate()
            .skip(first - 1)
            .take(last + 1 - first)
            .map(|(n, l)| format!("{:>5}  {l}\n", n + 1))
            .collect();
        let summary = if start.is_some() || end.is_some() {
            format!("read {shown}:{first}-{last}")
        } else {
            format!("read {shown} ({total} lines)")
        };
        Ok(ToolOutput::Text { text: cap(format!("{header} (lines {first}-{last} of {total}):\n{body}")), summary })
    }

    fn list_dir(&self, path: &str) -> Result<ToolOutput, Refusal> {
        let (dir, root) = self.resolve(path, true)?;
        if !dir.is_dir() {
            return Err(refuse(format!("`{path}` is not a directory")));
        }
        let mut entries: Vec<String> = ignore::WalkBuilder::new(&dir)
            .max_depth(Some(1))
            .require_git(false)
            .build()
            .filter_map(Result::ok)
            .filter(|e| e.depth() == 1 && !crate::secrets::looks_secret(e.path()))
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type().is_some_and(|t| t.is_dir()) {
                    format!("{name}/")
                } else {
                    name
                }
            })
            .collect();
        entries.sort();
        let shown = self.display(&root, &dir);
        let count = entries.len();
        entries.truncate(MAX_LIST_ENTRIES);
        let mut text = format!("{shown}:\n{}", entries.join("\n"));
        if count > MAX_LIST_ENTRIES {
            text.push_str(&format!("\n[… {} more]", count - MAX_LIST_ENTRIES));
        }
        Ok(ToolOutput::Text { text, summary: format!("listed {shown} ({count} entries)") })
    }

    fn search_symbols(&self, name: &str) -> ToolOutput {
        let defs = self.index.lookup(name.trim());
        let text = if defs.is_empty() {
            format!("no definition of `{name}` in the workspace index")
        } else {
            defs.iter().map(|d| format!("{}:{}: {}", d.path, d.line + 1, d.signature)).collect::<Vec<_>>().join("\n")
        };
        ToolOutput::Text { text: cap(text), summary: format!("searched symbols for `{name}` ({} found)", defs.len()) }
    }

    fn search_text(&self, query: &str, under: Option<&str>) -> Result<ToolOutput, Refusal> {
        if query.is_empty() {
            return Err(refuse("search_text needs a non-empty query"));
        }
        let (dir, root) = self.resolve(under.unwrap_or("."), true)?;
        let mut hits = Vec::new();
        let walker = ignore::WalkBuilder::new(&dir).require_git(false).build();
        'files: for entry in walker.filter_map(Result::ok) {
            let path = entry.path();
            if !entry.file_type().is_some_and(|t| t.is_file())
                || crate::secrets::looks_secret(path.strip_prefix(&root).unwrap_or(path))
                || entry.metadata().map_or(true, |m| m.len() > MAX_SEARCHED_FILE_BYTES)
            {
                continue;
            }
            let Ok((text, _)) = self.text_of(path) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                if line.contains(query) {
                    let line: String = line.trim().chars().take(200).collect();
                    hits.push(format!("{}:{}: {line}", self.display(&root, path), n + 1));
                    if hits.len() >= MAX_SEARCH_HITS {
                        hits.push(format!("[stopped after {MAX_SEARCH_HITS} hits]"));
                        break 'files;
                    }
                }
            }
        }
        let found = hits.len().min(MAX_SEARCH_HITS);
        let text = if hits.is_empty() { format!("`{query}` was not found") } else { hits.join("\n") };
        Ok(ToolOutput::Text { text: cap(text), summary: format!("searched for `{query}` ({found} hits)") })
    }

    fn get_diagnostics(&self, path: &str) -> Result<ToolOutput, Refusal> {
        let (canonical, root) = self.resolve(path, true)?;
        let shown = self.display(&root, &canonical);
        if canonical.is_dir() {
            return Err(refuse(format!("`{shown}` is a directory; get_diagnostics takes a file")));
        }
        let (text, open) = self.text_of(&canonical)?;
        let language = match &open {
            Some(snapshot) => snapshot.language(),
            None => Language::detect("", &canonical.to_string_lossy()),
        };
        // The open document's tree when it is current; otherwise (a file on disk, or an open
        // document whose reparse is due) the text is parsed here, bounded by the parser's time
        // budget.
        let rope = match &open {
            Some(snapshot) => snapshot.rope().clone(),
            None => ropey::Rope::from_str(&text),
        };
        let parsed;
        let tree = match open.as_ref().and_then(|s| s.tree()) {
            Some(tree) => Some(tree),
            None => {
                parsed = crate::text::syntax::parse(language, &rope, None);
                parsed.as_ref()
            }
        };
        let syntax = tree.map(|t| diagnostics::syntax_errors(t, &rope, diagnostics::MAX_SYNTAX_ERRORS));
        let editor = self.diagnostics.get(&canonical);
        let body = diagnostics::report(&editor, open.as_ref().map(|s| s.version()), syntax.as_deref(), language.name());
        let summary = format!(
            "diagnostics of {shown} ({} from the editor, {})",
            editor.len(),
            match &syntax {
                Some(errors) if errors.len() == 1 => "1 syntax error".to_string(),
                Some(errors) => format!("{} syntax errors", errors.len()),
                None => "no syntax check".to_string(),
            }
        );
        Ok(ToolOutput::Text { text: cap(format!("Diagnostics of {shown}:\n{body}")), summary })
    }

    fn propose_edit(&self, path: &str, old_text: &str, new_text: &str) -> Result<Proposal, Refusal> {
        let (canonical, root) = self.resolve(path, false)?;
        let shown = self.display(&root, &canonical);
        let uri = url::Url::from_file_path(&canonical)
            .map(String::from)
            .map_err(|_| refuse(format!("`{shown}` cannot be named as a URI")))?;
        if !canonical.exists() {
            if !old_text.is_empty() {
                return Err(refuse(format!("`{shown}` does not exist, so `old_text` cannot be found in it")));
            }
            if !self.creates_files {
                return Err(refuse(format!(
                    "`{shown}` does not exist, and the user's editor does not let kimi-lsp create files: ask the user to create it (empty), then propose the edit again"
                )));
            }
            return Ok(Proposal {
                path: canonical,
                uri,
                snapshot: None,
                open: false,
                chars: 0..0,
                text: new_text.to_string(),
                summary: format!("proposed creating {shown}"),
            });
        }
        if canonical.is_dir() {
            return Err(refuse(format!("`{shown}` is a directory")));
        }
        if let Some(notebook) = self.notebook_at(&canonical) {
            return notebook_edit(canonical, &shown, &notebook, old_text, new_text);
        }
        let (text, open) = self.text_of(&canonical)?;
        let snapshot = open.clone().unwrap_or_else(|| crate::text::Document::new(&uri, "", 0, &text).snapshot());
        let byte_range = if old_text.is_empty() {
            if !text.is_empty() {
                return Err(refuse(format!("`{shown}` exists: give `old_text` to say what to replace")));
            }
            0..0
        } else {
            // `read_file` shows lines, not their breaks: a quote of a `\r\n` file has `\n`.
            let found = line_ending::find_ignoring_line_endings(&text, old_text);
            match &found[..] {
                [one] => one.clone(),
                [] => {
                    return Err(refuse(format!(
                        "`old_text` was not found in `{shown}`; read the file and quote it exactly"
                    )))
                }
                _ => return Err(refuse(format!("`old_text` occurs more than once in `{shown}`; quote more of it"))),
            }
        };
        let start = text[..byte_range.start].chars().count();
        let len = text[byte_range.clone()].chars().count();
        // The model writes `\n`; the file keeps its own line breaks.
        let ending = LineEnding::of(&text);
        Ok(Proposal {
            path: canonical,
            uri,
            open: open.is_some(),
            snapshot: Some(snapshot),
            chars: start..start + len,
            text: ending.apply(new_text).into_owned(),
            summary: format!("proposed an edit of {shown}"),
        })
    }
}

/// An edit of a notebook open in the editor, `shown` as named to the model: `old_text` is
/// looked for in its script and must lie inside one code cell, which the edit is made in (the
/// file on disk is the editor's to save).
fn notebook_edit(
    path: PathBuf,
    shown: &str,
    notebook: &crate::session::NotebookScript,
    old_text: &str,
    new_text: &str,
) -> Result<Proposal, Refusal> {
    if old_text.is_empty() {
        return Err(refuse(format!(
            "`{shown}` is a notebook open in the editor: quote the text of the code cell to change in `old_text` (kimi-lsp adds no cells)"
        )));
    }
    let found = line_ending::find_ignoring_line_endings(&notebook.text, old_text);
    let bytes = match &found[..] {
        [one] => one.clone(),
        [] => return Err(refuse(format!("`old_text` was not found in `{shown}`; read the file and quote it exactly"))),
        _ => return Err(refuse(format!("`old_text` occurs more than once in `{shown}`; quote more of it"))),
    };
    let start = notebook.text[..bytes.start].chars().count();
    let chars = start..start + notebook.text[bytes].chars().count();
    let cell = notebook.cell_holding(&chars).ok_or_else(|| {
        refuse(format!(
            "`old_text` is not inside one code cell of `{shown}`; change one cell at a time, quoting text inside it"
        ))
    })?;
    let offset = cell.span.chars.start;
    let ending = LineEnding::of(&cell.snapshot.text());
    Ok(Proposal {
        path,
        uri: cell.uri.clone(),
        open: true,
        snapshot: Some(cell.snapshot.clone()),
        chars: chars.start - offset..chars.end - offset,
        text: ending.apply(new_text).into_owned(),
        summary: format!("proposed an edit of {shown}, cell {}", cell.number),
    })
}

/// `path` stays under `root` once `.` and `..` are applied (without touching the disk).
fn lexically_inside(root: &Path, path: &Path) -> bool {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect::<PathBuf>().starts_with(root)
}

/// Whether the workspace's ignore files (`.gitignore` and `.ignore` from the root down to the
/// file, and `.git/info/exclude`) exclude `path`. The deepest file that matches decides, as git
/// does.
fn is_ignored(root: &Path, path: &Path) -> bool {
    use ignore::gitignore::Gitignore;
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let is_dir = path.is_dir();
    let mut verdict = None;
    let mut check = |matcher: Gitignore| {
        let m = matcher.matched_path_or_any_parents(path, is_dir);
        if m.is_ignore() {
            verdict = Some(true);
        } else if m.is_whitelist() {
            verdict = Some(false);
        }
    };
    let (exclude, _) = Gitignore::new(root.join(".git/info/exclude"));
    check(exclude);
    let mut dir = root.to_path_buf();
    let parents: Vec<_> = relative.parent().map(|p| p.components().collect()).unwrap_or_default();
    for next in std::iter::once(None).chain(parents.into_iter().map(Some)) {
        if let Some(c) = next {
            dir.push(c);
        }
        for name in [".gitignore", ".ignore"] {
            let file = dir.join(name);
            if file.is_file() {
                // `Gitignore::new` takes the file's directory as the root of its patterns.
                let (matcher, _) = Gitignore::new(&file);
                check(matcher);
            }
        }
    }
    verdict.unwrap_or(false)
}

/// Parses a tool call's arguments for display (the raw text when it is not JSON).
pub fn arguments_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(root: &Path) -> Workspace {
        Workspace {
            roots: vec![root.to_path_buf()],
            open_document: Arc::new(|_| None),
            open_notebook: Arc::new(|_| None),
            index: Arc::new(WorkspaceIndex::new()),
            diagnostics: Arc::new(DiagnosticStore::default()),
            creates_files: true,
        }
    }

    fn text(out: Result<ToolOutput, Refusal>) -> String {
        match out {
            Ok(ToolOutput::Text { text, .. }) => text,
            Ok(ToolOutput::Edit(_)) => panic!("an edit"),
            Err(e) => panic!("refused: {e}"),
        }
    }

    fn refusal(out: Result<ToolOutput, Refusal>) -> String {
        match out {
            Err(e) => e.0,
            Ok(_) => panic!("not refused"),
        }
    }

    fn setup() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn a() {}\nfn b() {}\nfn c() {}\n").unwrap();
        std::fs::write(root.join(".env"), "TOKEN=x\n").unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join("target/out.rs"), "fn built() {}\n").unwrap();
        std::fs::write(root.join("debug.log"), "fn a() {}\n").unwrap();
        let ws = workspace(root);
        (dir, ws)
    }

    #[test]
    fn reads_a_file_or_a_line_range_with_line_numbers() {
        let (_d, ws) = setup();
        let all = text(ws.call(READ_FILE, r#"{"path":"src/lib.rs"}"#));
        assert!(all.contains("    1  fn a() {}\n    2  fn b() {}\n    3  fn c() {}\n"), "{all}");
        let some = text(ws.call(READ_FILE, r#"{"path":"src/lib.rs","start_line":2,"end_line":2}"#));
        assert!(some.contains("    2  fn b() {}") && !some.contains("fn a"), "{some}");
    }

    #[test]
    fn paths_outside_the_workspace_secrets_and_ignored_files_are_refused() {
        let (dir, ws) = setup();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.txt"), "secret plans").unwrap();
        let abs = outside.path().join("x.txt").to_string_lossy().into_owned();
        assert!(refusal(ws.call(READ_FILE, &json!({"path": abs}).to_string())).contains("outside the workspace"));
        assert!(refusal(ws.call(READ_FILE, r#"{"path":"../x.txt"}"#)).contains("outside"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
            assert!(refusal(ws.call(READ_FILE, r#"{"path":"link/x.txt"}"#)).contains("outside the workspace"));
        }
        assert!(refusal(ws.call(READ_FILE, r#"{"path":".env"}"#)).contains("secrets"));
        assert!(refusal(ws.call(READ_FILE, r#"{"path":"target/out.rs"}"#)).contains("ignored"));
        assert!(refusal(ws.call(READ_FILE, r#"{"path":"debug.log"}"#)).contains("ignored"));
        assert!(refusal(ws.call(READ_FILE, r#"{"path":3}"#)).contains("not valid"));
        assert!(refusal(ws.call("rm_rf", "{}")).contains("no tool"));
    }

    #[test]
    fn listing_and_text_search_leave_out_ignored_and_secret_files() {
        let (_d, ws) = setup();
        let listing = text(ws.call(LIST_DIR, r#"{"path":"."}"#));
        assert!(listing.contains("src/"), "{listing}");
        assert!(
            !listing.contains("target") && !listing.contains(".env") && !listing.contains("debug.log"),
            "{listing}"
        );
        let hits = text(ws.call(SEARCH_TEXT, r#"{"query":"fn a"}"#));
        assert_eq!(hits, "src/lib.rs:1: fn a() {}");
        assert!(text(ws.call(SEARCH_TEXT, r#"{"query":"TOKEN"}"#)).contains("not found"));
    }

    #[test]
    fn an_edit_proposal_must_name_unique_text_and_stay_inside() {
        let (_d, ws) = setup();
        let Ok(ToolOutput::Edit(p)) =
            ws.call(PROPOSE_EDIT, r#"{"path":"src/lib.rs","old_text":"fn b() {}","new_text":"fn b2() {}"}"#)
        else {
            panic!("no proposal")
        };
        assert_eq!(p.chars, 10..19);
        assert_eq!(p.text, "fn b2() {}");
        assert!(!p.open);
        assert!(refusal(ws.call(PROPOSE_EDIT, r#"{"path":"src/lib.rs","old_text":"fn","new_text":"x"}"#))
            .contains("more than once"));
        assert!(refusal(ws.call(PROPOSE_EDIT, r#"{"path":"src/lib.rs","old_text":"zzz","new_text":"x"}"#))
            .contains("not found"));
        assert!(refusal(ws.call(PROPOSE_EDIT, r#"{"path":"../evil.rs","new_text":"x"}"#)).contains("outside"));
        let Ok(ToolOutput::Edit(new)) = ws.call(PROPOSE_EDIT, r#"{"path":"src/new.rs","new_text":"fn n() {}\n"}"#)
        else {
            panic!("no proposal for a new file")
        };
        assert!(new.snapshot.is_none() && new.uri.ends_with("/src/new.rs"));
    }

    #[test]
    fn an_edit_of_a_crlf_file_matches_the_quote_read_from_it_and_keeps_crlf() {
        let (dir, ws) = setup();
        let file = "fn a() {\r\n    let x = 1;\r\n    let y = 2;\r\n}\r\n";
        std::fs::write(dir.path().join("src/crlf.rs"), file).unwrap();
        // The model quotes what read_file showed it: lines, joined with `\n`.
        let shown = text(ws.call(READ_FILE, r#"{"path":"src/crlf.rs"}"#));
        assert!(!shown.contains('\r'), "{shown:?}");
        let call = json!({"path": "src/crlf.rs", "old_text": "    let x = 1;\n    let y = 2;\n", "new_text": "    let x = 10;\n    let y = 20;\n"});
        let Ok(ToolOutput::Edit(p)) = ws.call(PROPOSE_EDIT, &call.to_string()) else { panic!("no proposal") };
        let start = file.find("    let x").unwrap();
        assert_eq!(p.chars, start..file.find('}').unwrap());
        assert_eq!(p.text, "    let x = 10;\r\n    let y = 20;\r\n");
        // One line, ending before its line break.
        let call = json!({"path": "src/crlf.rs", "old_text": "    let x = 1;", "new_text": "    let x = 10;\n    let z = 30;"});
        let Ok(ToolOutput::Edit(p)) = ws.call(PROPOSE_EDIT, &call.to_string()) else { panic!("no proposal") };
        assert_eq!(p.chars, start..start + "    let x = 1;".len());
        assert_eq!(p.text, "    let x = 10;\r\n    let z = 30;");
        let call = json!({"path": "src/crlf.rs", "old_text": "    let", "new_text": "x"});
        assert!(refusal(ws.call(PROPOSE_EDIT, &call.to_string())).contains("more than once"));
    }

    #[test]
    fn a_new_file_is_refused_when_the_editor_cannot_create_files() {
        let (_d, mut ws) = setup();
        ws.creates_files = false;
        let refused = refusal(ws.call(PROPOSE_EDIT, r#"{"path":"src/new.rs","new_text":"fn n() {}\n"}"#));
        assert!(
            refused.contains("does not let kimi-lsp create files") && refused.contains("ask the user"),
            "{refused}"
        );
        assert!(matches!(
            ws.call(PROPOSE_EDIT, r#"{"path":"src/lib.rs","old_text":"fn b() {}","new_text":"fn b2() {}"}"#),
            Ok(ToolOutput::Edit(_))
        ));
    }

    #[test]
    fn diagnostics_come_from_the_editor_and_the_parser_inside_the_workspace_only() {
        let (dir, ws) = setup();
        std::fs::write(dir.path().join("src/broken.rs"), "fn a() {\n    let x = 1\n    x\n}\n").unwrap();
        ws.diagnostics.replace_all(
            &dir.path().join("src/broken.rs"),
            vec![diagnostics::EditorDiagnostic {
                lines: (2, 2),
                severity: Some("warning"),
                message: "unused value".into(),
                source: Some("rust-analyzer".into()),
                code: None,
                version: None,
            }],
        );
        let out = ws.call(GET_DIAGNOSTICS, r#"{"path":"src/broken.rs"}"#);
        let Ok(ToolOutput::Text { text, summary }) = out else { panic!("no diagnostics") };
        assert_eq!(
            text,
            "Diagnostics of src/broken.rs:\nFrom the editor (its language servers):\n- line 3: warning: unused value (rust-analyzer)\nSyntax errors found by tree-sitter (Rust grammar):\n- line 2: missing `;`\n"
        );
        assert_eq!(summary, "diagnostics of src/broken.rs (1 from the editor, 1 syntax error)");
        let clean = text_of_call(&ws, r#"{"path":"src/lib.rs"}"#);
        assert!(clean.contains("From the editor: none reported") && clean.contains("(Rust grammar): none."), "{clean}");

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.rs"), "fn x( {}\n").unwrap();
        let abs = outside.path().join("x.rs").to_string_lossy().into_owned();
        assert!(refusal(ws.call(GET_DIAGNOSTICS, &json!({"path": abs}).to_string())).contains("outside the workspace"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
            assert!(refusal(ws.call(GET_DIAGNOSTICS, r#"{"path":"link/x.rs"}"#)).contains("outside the workspace"));
        }
        assert!(refusal(ws.call(GET_DIAGNOSTICS, r#"{"path":".env"}"#)).contains("secrets"));
        assert!(refusal(ws.call(GET_DIAGNOSTICS, r#"{"path":"target/out.rs"}"#)).contains("ignored"));
        assert!(refusal(ws.call(GET_DIAGNOSTICS, r#"{"path":"src"}"#)).contains("directory"));
    }

    fn text_of_call(ws: &Workspace, arguments: &str) -> String {
        text(ws.call(GET_DIAGNOSTICS, arguments))
    }
}
