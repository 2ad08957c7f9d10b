//! `kimi-lsp prompt` and `kimi-lsp complete`: one completion from the terminal, through the
//! same code the server runs, so what they show is what an editor would get.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::config::ConfigLayers;
use crate::context::{SimilarIndex, WorkspaceIndex};
use crate::features::completion::{declined, prepare_request, CompletionEngine, Query, Trigger};
use crate::providers::RetryPolicy;
use crate::router::Router;
use crate::text::{Document, LineCol, PositionEncoding};

/// `path:LINE:COL`, 1-based, the column in characters (what compilers and editors print).
pub fn parse_location(location: &str) -> Result<(PathBuf, u32, u32), String> {
    let mut parts = location.rsplitn(3, ':');
    let col = parts.next();
    let line = parts.next();
    let path = parts.next();
    let (Some(path), Some(line), Some(col)) = (path, line, col) else {
        return Err(format!("`{location}` is not FILE:LINE:COL (for example src/main.rs:12:5)"));
    };
    let number = |s: &str, what: &str| -> Result<u32, String> {
        // Digits only: `parse` would also take `+3`.
        match s.parse::<u32>() {
            Ok(n) if n >= 1 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(format!("{what} `{s}` in `{location}` must be a number from 1")),
        }
    };
    Ok((PathBuf::from(path), number(line, "the line")?, number(col, "the column")?))
}

struct Loaded {
    document: Document,
    cursor: usize,
    path: PathBuf,
    index: WorkspaceIndex,
}

fn load(location: &str) -> Result<Loaded, String> {
    let (path, line, col) = parse_location(location)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let uri = url::Url::from_file_path(&path).map(|u| u.to_string()).unwrap_or_else(|_| path.display().to_string());
    let document = Document::new(&uri, language_id(&path), 0, &text);
    let snapshot = document.snapshot();
    // An editor's position past the end is clamped; one typed in a terminal is a mistake.
    let lines = snapshot.len_lines();
    if line as usize > lines {
        return Err(format!("line {line} is past the end of {} ({lines} lines)", path.display()));
    }
    let length = snapshot.line(line as usize - 1).chars().count();
    if col as usize > length + 1 {
        return Err(format!(
            "column {col} is past the end of line {line} ({length} characters; the column after the last is {})",
            length + 1
        ));
    }
    let cursor = snapshot.char_index(LineCol { line: line - 1, col: col - 1 }, PositionEncoding::Utf32);
    let index = WorkspaceIndex::new();
    index.build(&[workspace_root(&path)]);
    Ok(Loaded { document, cursor, path, index })
}

/// The language id an editor would give the file, by its extension, as VS Code names
/// languages: `completion.languages` is keyed by such ids. Empty for an extension not listed.
fn language_id(path: &Path) -> &'static str {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "typescriptreact",
        "js" | "mjs" | "cjs" => "javascript",
        "jsx" => "javascriptreact",
        "go" => "go",
        "java" => "java",
        "cs" | "csx" => "csharp",
        "c" => "c",
        "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        "md" | "markdown" => "markdown",
        "txt" => "plaintext",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "html" | "htm" => "html",
        "css" => "css",
        "sh" | "bash" => "shellscript",
        "rb" => "ruby",
        "lua" => "lua",
        "sql" => "sql",
        _ => "",
    }
}

/// Files that mark a project's root, for a file outside any git repository.
const PROJECT_MARKERS: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "go.mod",
    "pyproject.toml",
    "setup.py",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
    "CMakeLists.txt",
    "compile_commands.json",
    "Makefile",
];

/// What the terminal commands index, as an editor's workspace folder would be: the nearest
/// ancestor with a `.git`; outside git, the nearest with a project's build file (a Java file
/// sits several package folders below its `pom.xml`, and its package's folder alone would
/// miss the rest of the project); else the file's folder.
fn workspace_root(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("."));
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .or_else(|| dir.ancestors().find(|d| has_project_marker(d)))
        .unwrap_or(dir)
        .to_path_buf()
}

fn has_project_marker(dir: &Path) -> bool {
    PROJECT_MARKERS.iter().any(|m| dir.join(m).is_file())
        || std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".sln") || name.ends_with(".csproj")
            })
        })
}

/// The settings, with what is wrong with them said on stderr: a setting the command ignores
/// would otherwise change what it does without a word.
fn settings(layers: &ConfigLayers, command: &str) -> crate::config::Config {
    let (config, problems) = layers.resolve();
    for problem in &problems {
        eprintln!("kimi-lsp {command}: settings: {problem}");
    }
    config
}

pub fn prompt(layers: &ConfigLayers, location: &str) -> Result<String, String> {
    let config = settings(layers, "prompt");
    let loaded = load(location)?;
    if crate::secrets::looks_secret(&loaded.path) {
        return Err(format!("{} looks like a secret; kimi-lsp never sends it to a model", loaded.path.display()));
    }
    // Printed all the same, for a look at what would be sent were it on.
    if let Some(off) = declined(&config, &loaded.document.snapshot(), Some(&loaded.path), &loaded.index) {
        eprintln!("kimi-lsp prompt: note: {off}; an editor would send nothing here");
    }
    // Similar code from the file itself: the terminal has no other documents open.
    let snapshot = loaded.document.snapshot();
    let similar = SimilarIndex::new();
    similar.update(&snapshot);
    let mut prepared = prepare_request(&config, &snapshot, loaded.cursor, &loaded.index, &[], &similar);
    let first = config.route_models("completion").into_iter().next();
    if let Some((target, provider)) = first.and_then(|m| config.provider(&m.provider).map(|p| (m, p))) {
        // As the router sends it: the provider's own id, and its way of prefilling.
        prepared.request.model.clone_from(&target.model);
        prepared.request.prefill = crate::router::prefill_for(&provider, &target.model, None);
        if crate::router::prefill_needs_listing(&provider) {
            eprintln!(
                "kimi-lsp prompt: note: `{}` is not Moonshot's platform: before its first completion the server asks \
                 its /models, and a vLLM or SGLang server is sent `continue_final_message` instead of `partial` \
                 (`providers.{}.prefill` decides without asking)",
                provider.name, provider.name
            );
        }
    }
    let body = prepared.request.to_wire(true).map_err(|e| e.0)?;
    serde_json::to_string_pretty(&body).map_err(|e| e.to_string())
}

pub async fn complete(layers: &ConfigLayers, location: &str) -> Result<String, String> {
    let config = settings(layers, "complete");
    let loaded = load(location)?;
    let host = crate::providers::error::host_of(&config.base_url);
    if config.api_key.is_none() && crate::providers::error::Platform::of_host(&host).is_some() {
        return Err(format!(
            "no API key: set {} (a key from the platform of {host}); `kimi-lsp doctor` checks the setup",
            crate::config::API_KEY_ENV
        ));
    }
    let router = Router::new(&config, Router::open_ledger(&config));
    let engine = CompletionEngine::new();
    engine.similar().update(&loaded.document.snapshot());
    let query = Query {
        uri: loaded.document.uri().to_string(),
        path: Some(loaded.path.clone()),
        snapshot: loaded.document.snapshot(),
        cursor: loaded.cursor,
        trigger: Trigger::Invoked,
        // The terminal prints one suggestion.
        alternatives: false,
        reparse: None,
        speculative: false,
        // Nobody types on in a terminal to supersede this one answer: it is worth the retries
        // an editor's code action gets.
        retry: Some(RetryPolicy::default()),
    };
    let items = engine
        .complete(&router, &config, &loaded.index, query, CancellationToken::new())
        .await
        .map_err(|e| e.to_string())?;
    match items.into_iter().next() {
        Some(item) => Ok(item.text),
        None => Err("the model had no suggestion here".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_repository_then_the_project_then_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let java = root.join("shop/src/main/java/com/acme/App.java");
        std::fs::create_dir_all(java.parent().unwrap()).unwrap();
        std::fs::write(root.join("shop/pom.xml"), "<project/>").unwrap();
        assert_eq!(workspace_root(&java), root.join("shop"));
        let cs = root.join("Shop.Api/Controllers/Home.cs");
        std::fs::create_dir_all(cs.parent().unwrap()).unwrap();
        std::fs::write(root.join("Shop.Api/Shop.Api.csproj"), "<Project/>").unwrap();
        assert_eq!(workspace_root(&cs), root.join("Shop.Api"));
        let loose = root.join("notes/a/b.py");
        std::fs::create_dir_all(loose.parent().unwrap()).unwrap();
        // Only where nothing above the temporary folder looks like a project.
        if !root.ancestors().any(|d| d.join(".git").exists() || has_project_marker(d)) {
            assert_eq!(workspace_root(&loose), root.join("notes/a"));
        }
        std::fs::create_dir_all(root.join(".git")).unwrap();
        assert_eq!(workspace_root(&java), root);
    }

    #[test]
    fn locations() {
        assert_eq!(parse_location("src/a.rs:3:7").unwrap(), (PathBuf::from("src/a.rs"), 3, 7));
        assert_eq!(parse_location("C:/x/a.rs:3:7").unwrap().0, PathBuf::from("C:/x/a.rs"));
        assert!(parse_location("a.rs:0:1").unwrap_err().contains("from 1"));
        assert!(parse_location("a.rs:+3:1").unwrap_err().contains("from 1"));
        assert!(parse_location("a.rs").unwrap_err().contains("FILE:LINE:COL"));
    }
}
