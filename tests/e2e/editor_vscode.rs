//! End-to-end: the VS Code extension (editors/vscode) in the real VS Code workbench.
//!
//! Two proofs: the extension type-checks, bundles and lints clean (`npm run compile`,
//! `npm run lint`); and, in code-server (VS Code in a browser) driven by Chromium through
//! playwright-core (tests/editors/vscode/browser-test.mjs), the packaged .vsix starts kimi-lsp,
//! typing shows the stand-in's completion as ghost text, Tab accepts it into the buffer (in a file and in a Jupyter notebook's cell), a Kimi
//! code action picked from the Quick Fix menu (Ctrl+., the lightbulb's menu) edits the function, and the
//! chat view streams an answer rendered as Markdown whose code block's Insert button edits the file.
//! Screenshots land in target/editor-artifacts/vscode/.
//!
//! Install the tools first: `bash tests/editors/vscode/setup.sh` (tests/run does).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kimi_test_support::{Reply, Standin};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const NODE_VERSION: &str = "24.21.0";
const CODE_SERVER_VERSION: &str = "4.139.1";
const KEY: &str = "sk-vscode-browser-test";

/// The file the browser types in, and what it types at its end.
const FILE: &str = "calc.py";
const FILE_TEXT: &str = "def add(a, b):\n";
const TYPED: &str = "    return ";
/// A notebook whose last code cell the browser completes in; the first cell's name must reach
/// the model.
const NOTEBOOK: &str = "analysis.ipynb";
const NOTEBOOK_MARK: &str = "SALES_FROM_FIRST_CELL";
const NOTEBOOK_TYPED: &str = "avg = ";
/// The stand-in's completion: a name no editor or model would come up with by itself.
const GHOST: &str = "sum_from_standin(a, b)";
/// The chat answer, in pieces streamed half a second apart.
const CHAT_PIECES: [&str; 4] = [
    "`add` returns the **sum** of its arguments. ",
    "Call it like this:\n\n",
    "```python\nprint(add(2, 3))\n```\n\n",
    "That prints 5, the end of the stand-in's answer.",
];
const CHAT_CODE: &str = "print(add(2, 3))";
/// The code action picked from the Quick Fix menu, and the docstring the stand-in writes for it.
const ACTION: &str = "Kimi: Document `add`";
const DOCSTRING: &str = r#""""Add two numbers, as the stand-in documents them.""""#;
const QUESTION: &str = "What does add do?";
/// The chat model the browser sets in the Settings editor while VS Code runs.
const SETTINGS_MODEL: &str = "kimi-k2-0905-preview";

/// npm and the browser test share target/ and 2 cores; one at a time keeps both predictable.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn editors_dir() -> PathBuf {
    std::env::var_os("KIMI_EDITORS_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target/editors"))
}

fn node_bin() -> PathBuf {
    editors_dir().join(format!("node-{NODE_VERSION}/bin"))
}

/// PATH with Node 24 first: code-server 4.139 and the extension's tooling need it.
fn path_env() -> String {
    format!("{}:{}", node_bin().display(), std::env::var("PATH").unwrap_or_default())
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing ({}); install it with `bash tests/editors/vscode/setup.sh`",
        path.display()
    );
}

/// Runs a command in editors/vscode with Node 24; returns (success, stdout + stderr).
fn npm(args: &[&str], dir: &Path) -> (bool, String) {
    require(&node_bin().join("node"), "Node 24");
    require(&dir.join("node_modules"), "the extension's npm packages");
    // npm itself is the system one; it runs on whichever `node` comes first on PATH.
    let out = std::process::Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("PATH", path_env())
        .env("npm_config_update_notifier", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("npm runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn extension_compiles_and_lints_clean() {
    let _serial = SERIAL.blocking_lock();
    let ext = repo().join("editors/vscode");
    let (ok, out) = npm(&["run", "compile"], &ext);
    assert!(ok, "`npm run compile` failed:\n{out}");
    // tsc prints nothing when the types check; esbuild (logLevel "warning") nothing without warnings.
    let noise: Vec<&str> = out
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            // npm's own notes about the machine's npmrc are not problems of the extension.
            (l.contains("error") || l.contains("warning") || l.contains("▲")) && !l.starts_with("npm warn")
        })
        .collect();
    assert!(noise.is_empty(), "`npm run compile` reported problems:\n{out}");
    for bundle in ["out/extension.js", "out/chat.js"] {
        let meta = std::fs::metadata(ext.join(bundle)).unwrap_or_else(|e| panic!("{bundle} was not built: {e}"));
        assert!(meta.len() > 10_000, "{bundle} is suspiciously small ({} bytes)", meta.len());
    }

    // `--max-warnings 0` makes eslint fail on a warning as well as on an error.
    let (ok, out) = npm(&["run", "lint"], &ext);
    assert!(ok, "`npm run lint` found problems:\n{out}");
    assert!(!out.contains("problem"), "`npm run lint` reported problems:\n{out}");
}

/// A free port on 127.0.0.1 (bound and released; code-server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child in its own process group, killed with the whole group when dropped: code-server
/// starts the extension host, which starts kimi-lsp; playwright starts Chromium.
struct Group {
    name: &'static str,
    child: Child,
}

impl Group {
    fn spawn(name: &'static str, mut cmd: Command) -> Group {
        cmd.process_group(0).kill_on_drop(true);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Group { name, child }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            for signal in ["-TERM", "-KILL"] {
                let _ = std::process::Command::new("kill")
                    .args([signal, "--", &format!("-{pid}")])
                    .stderr(Stdio::null())
                    .status();
                if signal == "-TERM" {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            eprintln!("stopped {} (process group {pid})", self.name);
        }
    }
}

/// Waits until the stand-in has had no request for a second and a half.
async fn wait_until_quiet(standin: &Standin) {
    let mut seen = standin.requests().len();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = standin.requests().len();
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ghost_text_and_chat_in_code_server() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let code_server = editors_dir().join(format!("code-server-{CODE_SERVER_VERSION}/node_modules/.bin/code-server"));
    let playwright_dir = repo().join("tests/editors/vscode");
    let chromium = PathBuf::from(std::env::var("KIMI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    require(&code_server, "code-server");
    require(&playwright_dir.join("node_modules/playwright-core"), "playwright-core");
    require(&chromium, "Chromium");
    let artifacts = repo().join("target/editor-artifacts/vscode");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    // The .vsix of the sources as they are now (`vscode:prepublish` compiles them first).
    let tmp = tempfile::tempdir().unwrap();
    let vsix = tmp.path().join("kimi-lsp.vsix");
    let (ok, out) = npm(&["run", "package", "--", "--out", vsix.to_str().unwrap()], &repo().join("editors/vscode"));
    assert!(ok, "packaging the extension failed:\n{out}");

    let standin = Standin::start().await;
    standin.require_key(KEY);
    standin.set_default(Reply::text(GHOST));

    let workspace = tmp.path().join("workspace");
    let home = tmp.path().join("home");
    let user_data = tmp.path().join("user-data");
    let extensions = tmp.path().join("extensions");
    for d in [&workspace, &home, &user_data.join("User"), &extensions] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(workspace.join(FILE), FILE_TEXT).unwrap();
    let notebook = json!({
        "cells": [
            {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
             "source": ["import statistics\n", format!("{NOTEBOOK_MARK} = [3, 5, 8]")]},
            {"cell_type": "markdown", "metadata": {}, "source": ["The average sale"]},
            {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
             "source": [format!("count = len({NOTEBOOK_MARK})")]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    std::fs::write(workspace.join(NOTEBOOK), serde_json::to_string_pretty(&notebook).unwrap()).unwrap();
    let settings = json!({
        "security.workspace.trust.enabled": false,
        "workbench.startupEditor": "none",
        "update.mode": "none",
        "telemetry.telemetryLevel": "off",
        "extensions.autoUpdate": false,
        "workbench.tips.enabled": false,
        "editor.inlineSuggest.enabled": true,
        "editor.quickSuggestions": { "other": false, "comments": false, "strings": false },
        "files.autoSave": "off",
        // A server setting, to see it reach kimi-lsp (the default is 0.2).
        "kimi.completion.temperature": 0.5,
    });
    let settings_file = user_data.join("User/settings.json");
    std::fs::write(&settings_file, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
    // `kimi.serverPath` is machine-scoped (a path differs per machine), and code-server's
    // extension host is remote: such settings come from the machine's settings, not the user's.
    std::fs::create_dir_all(user_data.join("Machine")).unwrap();
    let machine = json!({ "kimi.serverPath": env!("CARGO_BIN_EXE_kimi-lsp-under-test") });
    std::fs::write(user_data.join("Machine/settings.json"), machine.to_string()).unwrap();

    let env = |cmd: &mut Command| {
        cmd.env("PATH", path_env())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("KIMI_LSP_DATA_DIR", tmp.path().join("kimi-data"))
            .env("KIMI_LSP_LOG_FILE", artifacts.join("kimi-lsp.log"))
            .env("KIMI_LSP_LOG", "kimi_lsp=debug")
            .env("MOONSHOT_API_KEY", KEY)
            .env("MOONSHOT_BASE_URL", standin.base_url())
            .env_remove("KIMI_LSP_CONFIG");
    };

    let mut install = Command::new(&code_server);
    env(&mut install);
    install
        .arg("--extensions-dir")
        .arg(&extensions)
        .arg("--user-data-dir")
        .arg(&user_data)
        .arg("--install-extension")
        .arg(&vsix)
        .stdin(Stdio::null());
    let out = tokio::time::timeout(Duration::from_secs(180), install.output())
        .await
        .expect("installing the .vsix took over 3 minutes")
        .expect("code-server runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && text.contains("was successfully installed"),
        "installing the .vsix failed:\n{text}"
    );

    let port = free_port();
    let cs_log = std::fs::File::create(artifacts.join("code-server.log")).unwrap();
    let mut serve = Command::new(&code_server);
    env(&mut serve);
    serve
        .args(["--auth", "none", "--bind-addr", &format!("127.0.0.1:{port}")])
        .args(["--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"])
        .arg("--extensions-dir")
        .arg(&extensions)
        .arg("--user-data-dir")
        .arg(&user_data)
        .arg(&workspace)
        .stdin(Stdio::null())
        .stdout(cs_log.try_clone().unwrap())
        .stderr(cs_log);
    let server = Group::spawn("code-server", serve);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if reqwest::get(format!("{url}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "code-server did not answer on {url} within 2 minutes; see {}",
            artifacts.join("code-server.log").display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut drive = Command::new(node_bin().join("node"));
    env(&mut drive);
    drive
        .arg(playwright_dir.join("browser-test.mjs"))
        .current_dir(&playwright_dir)
        .env("KIMI_CS_URL", &url)
        .env("KIMI_WORKSPACE", &workspace)
        .env("KIMI_FILE", FILE)
        .env("KIMI_TYPE", TYPED)
        .env("KIMI_GHOST", GHOST)
        .env("KIMI_CHAT_QUESTION", QUESTION)
        .env("KIMI_CHAT_ANSWER_START", "returns the sum")
        .env("KIMI_CHAT_ANSWER_END", "end of the stand-in's answer")
        .env("KIMI_CHAT_CODE", CHAT_CODE)
        .env("KIMI_NOTEBOOK", NOTEBOOK)
        .env("KIMI_NOTEBOOK_TYPE", NOTEBOOK_TYPED)
        .env("KIMI_ACTION", ACTION)
        .env("KIMI_ACTION_EDIT", DOCSTRING)
        .env("KIMI_SETTINGS_MODEL", SETTINGS_MODEL)
        .env("KIMI_USER_SETTINGS", &settings_file)
        .env("KIMI_CHROMIUM", &chromium)
        .env("KIMI_ARTIFACTS", &artifacts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut browser = Group::spawn("the playwright script", drive);
    let mut stdin = browser.child.stdin.take().unwrap();
    let mut lines = BufReader::new(browser.child.stdout.take().unwrap()).lines();
    let mut transcript = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("browser: {line}");
            if line == "PHASE action" {
                // The action's model call gets the docstring (and so would a completion request
                // that moving the cursor brings; nothing accepts it).
                wait_until_quiet(&standin).await;
                standin.set_default(Reply::text(&format!("```python\n{DOCSTRING}\n```")));
                stdin.write_all(b"go\n").await.unwrap();
                stdin.flush().await.unwrap();
            } else if line == "PHASE chat" {
                // The completion is done; from here on the model answers the chat: first a tool
                // call, then the answer. Queued replies go to whichever request comes first, so
                // wait until no completion request is under way (VS Code may ask again after Tab).
                wait_until_quiet(&standin).await;
                standin.push(Reply::tool_call("read_file", r#"{"path":"calc.py"}"#));
                standin.set_default(Reply::text("").chunks(&CHAT_PIECES).chunk_delay(Duration::from_millis(700)));
                stdin.write_all(b"go\n").await.unwrap();
                stdin.flush().await.unwrap();
            } else if line == "PHASE stop" {
                // An answer slow enough to be stopped half-way.
                let pieces: Vec<String> = (1..=20).map(|i| format!("Part {i} of a long story. ")).collect();
                let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
                standin.set_default(Reply::text("").chunks(&pieces).chunk_delay(Duration::from_secs(2)));
                stdin.write_all(b"go\n").await.unwrap();
                stdin.flush().await.unwrap();
            }
            transcript.push(line);
        }
        browser.child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(600), run).await.unwrap_or_else(|_| {
        panic!("the browser test did not finish within 10 minutes; screenshots in {}", artifacts.display())
    });
    // VS Code's own logs (the extension host's, the "Kimi" output channel) for a failure's autopsy.
    let _ = std::process::Command::new("cp")
        .arg("-r")
        .arg(user_data.join("logs"))
        .arg(artifacts.join("vscode-logs"))
        .status();
    let transcript = transcript.join("\n");
    assert!(
        status.success(),
        "the browser test failed ({status}); screenshots in {}, logs code-server.log and kimi-lsp.log there:\n{transcript}",
        artifacts.display()
    );

    // What the browser saw is backed by what reached the disk and the model.
    let saved = std::fs::read_to_string(workspace.join(FILE)).unwrap();
    assert!(saved.contains(&format!("{TYPED}{GHOST}")), "the saved file lacks the accepted completion:\n{saved}");
    assert!(
        saved.starts_with(&format!("def add(a, b):\n    {DOCSTRING}\n")),
        "the saved file lacks the code action's docstring inside the function:\n{saved}"
    );
    // The Settings editor wrote the user's settings.json.
    let written = std::fs::read_to_string(&settings_file).unwrap();
    assert!(written.contains(SETTINGS_MODEL), "the Settings editor did not save kimi.models.chat:\n{written}");
    // Toggle Completions for This Language wrote Python's entry.
    let settings: Value = serde_json::from_str(&written).unwrap_or_else(|e| panic!("settings.json: {e}:\n{written}"));
    assert_eq!(settings["kimi.completion.languages"], json!({"python": false}), "{written}");
    let requests = standin.chat_requests();
    let completion = requests
        .iter()
        .find(|r| r["model"] == "kimi-k2-turbo-preview")
        .unwrap_or_else(|| panic!("no completion request reached the stand-in: {requests:#?}"));
    assert!(completion.to_string().contains("def add(a, b)"), "the completion prompt lacks the file: {completion}");
    assert_eq!(completion["temperature"], 0.5, "the user's kimi.completion.temperature did not reach kimi-lsp");
    // The notebook cell's completion read the cells above it, as VS Code synced them.
    let in_notebook = requests
        .iter()
        .find(|r| r["model"] == "kimi-k2-turbo-preview" && r["messages"].to_string().contains(NOTEBOOK))
        .unwrap_or_else(|| panic!("no completion request from the notebook: {requests:#?}"));
    let prompt = in_notebook["messages"].to_string();
    assert!(prompt.contains(&format!("{NOTEBOOK_MARK} = [3, 5, 8]")), "the first cell is not in the prompt: {prompt}");
    assert!(prompt.contains("# %% [markdown]"), "the markdown cell is not in the prompt: {prompt}");
    let saved_notebook = std::fs::read_to_string(workspace.join(NOTEBOOK)).unwrap();
    assert!(
        saved_notebook.contains(&format!("{NOTEBOOK_TYPED}{GHOST}")),
        "the saved notebook lacks the accepted completion:\n{saved_notebook}"
    );
    // The code action and the chat both use kimi-k2.5; the action's prompt asks for the docstring.
    let (action, chat): (Vec<&Value>, Vec<&Value>) = requests
        .iter()
        .filter(|r| r["model"] == "kimi-k2.5")
        .partition(|r| r["messages"].to_string().contains("Write the documentation for `add`"));
    assert_eq!(action.len(), 1, "one model call for the code action, when it was picked: {action:#?}");
    assert_eq!(chat.len(), 3, "two chat questions, one with a tool round: three chat requests: {chat:#?}");
    let chat_text = chat[0]["messages"].to_string();
    assert!(chat_text.contains(QUESTION), "the chat request lacks the question: {chat_text}");
    assert!(chat_text.contains("def add(a, b)"), "the current file was not attached to the chat: {chat_text}");

    // Stop closed the model's stream rather than letting it run on.
    standin.wait_for_dropped_streams(1, Duration::from_secs(30)).await;
    // Tab ran the item's command, so the ledger counts the suggestion as accepted.
    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
        .args(["usage", "--json"])
        .env("KIMI_LSP_DATA_DIR", tmp.path().join("kimi-data"))
        .env("HOME", &home)
        .output()
        .unwrap();
    let usage: Value = serde_json::from_slice(&usage.stdout)
        .unwrap_or_else(|e| panic!("`kimi-lsp usage --json`: {e}: {}", String::from_utf8_lossy(&usage.stderr)));
    assert!(
        usage["allTime"]["acceptedCompletions"].as_u64() >= Some(1),
        "the accepted completion is not in the ledger: {usage:#}"
    );

    drop(browser);
    drop(server);
    eprintln!("the browser test took {:.0?} (packaging included)", started.elapsed());
}
