//! Notebooks (LSP 3.17 notebook documents, Jupyter's in VS Code): which cells a notebook holds,
//! in order, and the one source file the completion context reads them as.
//!
//! Each cell is a text document of its own (the session keeps it like any other), but a cell
//! alone is a poor context: the imports, the data loaded and the functions defined are in the
//! cells above. [`view`] lays the cells out in jupytext's "percent" format (`# %%` before each
//! code cell, markdown cells as comments), a layout models know from notebooks turned into
//! scripts, with the cell being edited verbatim, so that its lines map to the view's by an
//! offset.

use super::Language;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    Code,
    Markup,
}

/// A notebook's cells, in order, by their text documents' URIs.
#[derive(Clone, Debug, Default)]
pub struct Notebook {
    pub cells: Vec<Cell>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub uri: String,
    pub kind: CellKind,
}

impl Notebook {
    /// Replaces `delete_count` cells from `start` with `cells`, as a structure change says,
    /// and returns the URIs of the cells that left. Out-of-range numbers are clamped: the
    /// editor's next change or reopening sets things right, and nothing panics meanwhile.
    pub fn splice(&mut self, start: usize, delete_count: usize, cells: Vec<Cell>) -> Vec<String> {
        let start = start.min(self.cells.len());
        let end = start.saturating_add(delete_count).min(self.cells.len());
        self.cells.splice(start..end, cells).map(|cell| cell.uri).collect()
    }

    /// A cell's kind changed (code ⇄ markdown).
    pub fn set_kind(&mut self, uri: &str, kind: CellKind) {
        if let Some(cell) = self.cells.iter_mut().find(|c| c.uri == uri) {
            cell.kind = kind;
        }
    }

    pub fn position(&self, uri: &str) -> Option<usize> {
        self.cells.iter().position(|c| c.uri == uri)
    }
}

/// One cell's text, as [`view`] reads it.
pub struct CellText<'a> {
    pub kind: CellKind,
    pub language_id: &'a str,
    pub text: &'a str,
}

/// The notebook as one source file, and where the cell being edited lies in it.
#[derive(Debug, PartialEq, Eq)]
pub struct View {
    pub text: String,
    /// The view's line on which the cell's first line is.
    pub first_line: u32,
    /// The view's char index at which the cell's text starts.
    pub start_char: usize,
}

/// The cells as one file of the edited cell's language: code cells of that language verbatim
/// after a `# %%` line, markdown cells as comments after `# %% [markdown]`, code cells of other
/// languages left out. In cells other than the edited one, IPython's magics and shell escapes
/// (`%matplotlib inline`, `!pip install x`) become comments, so that the file parses and the
/// suggestion's parse check still means something. `None` when the edited cell is markdown:
/// it is completed alone.
pub fn view(cells: &[CellText<'_>], at: usize) -> Option<View> {
    let current = cells.get(at)?;
    if current.kind != CellKind::Code {
        return None;
    }
    let (text, spans) = lay_out(cells, current.language_id, Some(at));
    let span = spans[at].clone()?;
    let first_line = text[..span.bytes.start].matches('\n').count() as u32;
    Some(View { first_line, start_char: span.chars.start, text })
}

/// The notebook as a chat shows it to the model and edits it: [`view`]'s layout for the cells
/// of `language_id`, with every code cell verbatim, magics included, so that a quote of a cell's
/// text is found in the cell.
#[derive(Debug, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    /// Where each cell's text is in `text`; `None` for a cell left out or shown as comments
    /// (markdown), which cannot be edited through the script.
    pub cells: Vec<Option<Span>>,
}

/// A cell's text in a laid-out notebook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub chars: std::ops::Range<usize>,
    pub bytes: std::ops::Range<usize>,
}

/// See [`Script`]. Pure.
pub fn script(cells: &[CellText<'_>], language_id: &str) -> Script {
    let (text, cells) = lay_out(cells, language_id, None);
    Script { text, cells }
}

/// The cell of `language_id` to show the script in, when a notebook is named rather than a cell:
/// the first code cell's.
pub fn main_language<'a>(cells: &[CellText<'a>]) -> Option<&'a str> {
    cells.iter().find(|c| c.kind == CellKind::Code).map(|c| c.language_id)
}

/// How the layout comments a line (the `%%` markers, markdown cells) in a notebook of
/// `language`.
pub fn comment(language: Language) -> &'static str {
    match language {
        Language::Rust
        | Language::TypeScript
        | Language::Tsx
        | Language::JavaScript
        | Language::Go
        | Language::Java
        | Language::CSharp
        | Language::C
        | Language::Cpp => "//",
        // Python, and R, Julia and shell kernels.
        _ => "#",
    }
}

/// The layout of [`view`] and [`script`]: magics commented out in the code cells other than
/// `verbatim` when one is given (a view), in none when it is `None` (a script).
fn lay_out(cells: &[CellText<'_>], language_id: &str, verbatim: Option<usize>) -> (String, Vec<Option<Span>>) {
    let language = Language::detect(language_id, "");
    let comment = comment(language);
    let mut text = String::new();
    let mut chars = 0;
    let mut spans = Vec::with_capacity(cells.len());
    let mut push = |text: &mut String, s: &str| {
        chars += s.chars().count();
        text.push_str(s);
        chars
    };
    for (i, cell) in cells.iter().enumerate() {
        let mut span = None;
        match cell.kind {
            CellKind::Code if cell.language_id != language_id => {
                spans.push(None);
                continue;
            }
            CellKind::Code => {
                push(&mut text, comment);
                let start = (push(&mut text, " %%\n"), text.len());
                if verbatim.is_none_or(|v| v == i) {
                    let end = push(&mut text, cell.text);
                    span = Some(Span { chars: start.0..end, bytes: start.1..text.len() });
                } else {
                    for line in cell.text.lines() {
                        let magic = language == Language::Python && line.trim_start().starts_with(['%', '!']);
                        if magic {
                            push(&mut text, comment);
                            push(&mut text, " ");
                        }
                        push(&mut text, line);
                        push(&mut text, "\n");
                    }
                }
            }
            CellKind::Markup => {
                push(&mut text, comment);
                push(&mut text, " %% [markdown]\n");
                for line in cell.text.lines() {
                    push(&mut text, comment);
                    if !line.is_empty() {
                        push(&mut text, " ");
                        push(&mut text, line);
                    }
                    push(&mut text, "\n");
                }
            }
        }
        if !text.ends_with('\n') {
            push(&mut text, "\n");
        }
        push(&mut text, "\n");
        spans.push(span);
    }
    (text, spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn cell<'a>(kind: CellKind, language_id: &'a str, text: &'a str) -> CellText<'a> {
        CellText { kind, language_id, text }
    }

    #[test]
    fn a_python_notebook_reads_as_a_percent_script_with_the_edited_cell_verbatim() {
        let cells = [
            cell(CellKind::Code, "python", "%matplotlib inline\nimport pandas as pd\n!pip install x"),
            cell(CellKind::Markup, "markdown", "# Load\n\nThe sales data."),
            cell(CellKind::Code, "python", "df = pd.read_csv(\"sales.csv\")\n"),
            cell(CellKind::Code, "python", "%time total = df.\n"),
            cell(CellKind::Code, "sql", "SELECT 1"),
            cell(CellKind::Code, "python", "print(total)"),
        ];
        let view = view(&cells, 3).unwrap();
        expect![[r#"
            # %%
            # %matplotlib inline
            import pandas as pd
            # !pip install x

            # %% [markdown]
            # # Load
            #
            # The sales data.

            # %%
            df = pd.read_csv("sales.csv")

            # %%
            %time total = df.

            # %%
            print(total)

        "#]]
        .assert_eq(&view.text);
        // The edited cell's lines are the view's from `first_line` on, unchanged (its magic too).
        let lines: Vec<&str> = view.text.lines().collect();
        assert_eq!(lines[view.first_line as usize], "%time total = df.");
        assert_eq!(view.text.chars().skip(view.start_char).take(5).collect::<String>(), "%time");
    }

    #[test]
    fn a_script_keeps_every_code_cell_verbatim_and_says_where_each_is() {
        let cells = [
            cell(CellKind::Code, "python", "%matplotlib inline\nimport pandas as pd"),
            cell(CellKind::Markup, "markdown", "# Load"),
            cell(CellKind::Code, "sql", "SELECT 1"),
            cell(CellKind::Code, "python", "df = pd.read_csv(\"sales.csv\")\n"),
        ];
        assert_eq!(main_language(&cells), Some("python"));
        let script = script(&cells, "python");
        assert_eq!(
            script.text,
            "# %%\n%matplotlib inline\nimport pandas as pd\n\n# %% [markdown]\n# # Load\n\n# %%\ndf = pd.read_csv(\"sales.csv\")\n\n"
        );
        let text = |i: usize| script.cells[i].as_ref().map(|s| script.text[s.bytes.clone()].to_string());
        assert_eq!(text(0).unwrap(), cells[0].text);
        assert_eq!((text(1), text(2)), (None, None));
        assert_eq!(text(3).unwrap(), cells[3].text);
        let span = script.cells[3].clone().unwrap();
        assert_eq!(
            script.text.chars().skip(span.chars.start).take(span.chars.len()).collect::<String>(),
            cells[3].text
        );
    }

    #[test]
    fn a_typescript_cell_gets_slash_comments_and_a_markdown_cell_no_view() {
        let cells = [cell(CellKind::Markup, "markdown", "Intro"), cell(CellKind::Code, "typescript", "const x = 1;")];
        let ts = view(&cells, 1).unwrap();
        assert_eq!(ts.text, "// %% [markdown]\n// Intro\n\n// %%\nconst x = 1;\n\n");
        assert_eq!((ts.first_line, ts.start_char), (4, "// %% [markdown]\n// Intro\n\n// %%\n".len()));
        assert_eq!(view(&cells, 0), None);
        assert_eq!(view(&cells, 2), None);
    }

    #[test]
    fn structure_changes_splice_the_cells_and_clamp_what_is_out_of_range() {
        let cell = |uri: &str| Cell { uri: uri.into(), kind: CellKind::Code };
        let mut notebook = Notebook { cells: vec![cell("a"), cell("b"), cell("c")] };
        assert_eq!(notebook.splice(1, 1, vec![cell("x"), cell("y")]), ["b"]);
        let uris = |n: &Notebook| n.cells.iter().map(|c| c.uri.clone()).collect::<Vec<_>>();
        assert_eq!(uris(&notebook), ["a", "x", "y", "c"]);
        assert_eq!(notebook.splice(3, 10, vec![]), ["c"]);
        assert_eq!(notebook.splice(99, 1, vec![cell("z")]), Vec::<String>::new());
        assert_eq!(uris(&notebook), ["a", "x", "y", "z"]);
        notebook.set_kind("x", CellKind::Markup);
        assert_eq!(notebook.cells[1].kind, CellKind::Markup);
        assert_eq!(notebook.position("y"), Some(2));
    }
}
