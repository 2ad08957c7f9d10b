//! The Neovim plugin (`editors/neovim`) in real, headless Neovim against the stand-in: Neovim
//! 0.7.2 (Debian's package), where the plugin draws ghost text with overlay extmarks; Neovim 0.10
//! (Debian trixie's packages), where it draws them as inline virtual text, in the middle of a line
//! too; and Neovim 0.12 (Debian sid's), where it enables the built-in `vim.lsp.inline_completion`.
//! The trixie and sid packages are unpacked by `tests/editors/neovim/setup.sh`.
//!
//! Each phase is one Neovim process running `tests/editors/neovim/init.lua`, which installs the
//! plugin from its directory as a plain runtimepath plugin, drives it like a user (typed keys,
//! commands, the code-action menu), waits for what should appear (polling, 20 s at most) and
//! writes what it saw as JSON; this file judges what was seen. Each phase has a stand-in of its
//! own whose default reply is the phase's answer, so that however many model calls the typing
//! makes (the server debounces and supersedes), each gets the answer the phase expects.
//!
//! Run: `bash tests/editors/neovim/setup.sh && cargo test -p kimi-lsp-tests --features editors --test editor_neovim`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kimi_test_support::{Reply, Standin};
use serde_json::{json, Value};

const KEY: &str = "sk-neovim-test";
const ADD_EMPTY: &str = "fn add(a: i32, b: i32) -> i32 {\n    \n}\n";
const ADD: &str = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";
/// A Neovim that hangs (a wait in the script has its own 20 s limit) is killed after this.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn editors_dir() -> PathBuf {
    std::env::var_os("KIMI_EDITORS_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target/editors"))
}

struct Editor {
    program: PathBuf,
    /// Expected `ghost_backend` of the plugin on this version.
    backend: &'static str,
    /// How the plugin's extmark places ghost text at the end of a line (`virt_text_pos` as Neovim
    /// reports it: an overlay at `virt_text_win_col` reads "win_col"), where the plugin draws it.
    ghost_pos: Option<&'static str>,
    version_prefix: &'static str,
}

fn neovim_07() -> Editor {
    let program = PathBuf::from("/usr/bin/nvim");
    assert!(
        program.exists(),
        "Neovim 0.7 is not installed: run `bash tests/editors/neovim/setup.sh` (tests/run does) first"
    );
    Editor { program, backend: "extmark", ghost_pos: Some("win_col"), version_prefix: "NVIM v0.7." }
}

/// The `run-nvim` of a Debian release unpacked by setup.sh, or why it is not there.
fn unpacked_neovim(release: &str) -> Result<PathBuf, String> {
    let dir = editors_dir().join(format!("nvim-{release}"));
    if let Ok(reason) = std::fs::read_to_string(dir.join("UNAVAILABLE")) {
        return Err(reason.trim().to_string());
    }
    let program = dir.join("run-nvim");
    assert!(
        program.exists(),
        "{} is missing: run `bash tests/editors/neovim/setup.sh` (tests/run does) first",
        program.display()
    );
    Ok(program)
}

/// Neovim 0.10 from Debian trixie.
fn neovim_010() -> Result<Editor, String> {
    let program = unpacked_neovim("trixie")?;
    Ok(Editor { program, backend: "extmark", ghost_pos: Some("inline"), version_prefix: "NVIM v0.10." })
}

/// Neovim 0.12+ from Debian sid.
fn neovim_012() -> Result<Editor, String> {
    let program = unpacked_neovim("sid")?;
    Ok(Editor { program, backend: "builtin", ghost_pos: None, version_prefix: "NVIM v0.1" })
}

/// A workspace, a home and a data directory of their own for every phase's Neovim and server.
struct Phase {
    dir: tempfile::TempDir,
    /// The file Neovim opens, inside `ws/`.
    file: String,
}

impl Phase {
    fn new(file: &str, text: &str) -> Phase {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("Cargo.toml"), "[package]\nname = \"w\"\nversion = \"0.1.0\"\n").unwrap();
        std::fs::write(ws.join(file), text).unwrap();
        for sub in ["home", "config", "data", "state", "cache", "kimi-data"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Phase { dir, file: file.to_string() }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.path(name)).unwrap_or_default();
        let server = read("server.log");
        let server_tail: Vec<&str> = server.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        format!(
            "--- neovim stdout/stderr:\n{}{}\n--- last lines of the server log:\n{}",
            read("nvim.out"),
            read("nvim.err"),
            server_tail.join("\n")
        )
    }

    /// Runs `tests/editors/neovim/init.lua` for `phase` and returns what it saw.
    async fn run(&self, editor: &Editor, standin: &Standin, phase: &str, env: &[(&str, &str)]) -> Value {
        let result_path = self.path("result.json");
        let mut cmd = tokio::process::Command::new(&editor.program);
        cmd.args(["--headless", "-u"])
            .arg(repo().join("tests/editors/neovim/init.lua"))
            .current_dir(self.path("ws"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.path("nvim.out")).unwrap())
            .stderr(std::fs::File::create(self.path("nvim.err")).unwrap())
            .kill_on_drop(true);
        for var in
            ["MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_LSP_CONFIG", "KIMI_LSP_LOG", "VIMINIT", "NVIM_APPNAME"]
        {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("KIMI_LSP_DATA_DIR", self.path("kimi-data"))
            .env("KIMI_LSP_LOG_FILE", self.path("server.log"))
            .env("KIMI_LSP_LOG", "kimi_lsp=debug")
            .env("MOONSHOT_API_KEY", KEY)
            .env("MOONSHOT_BASE_URL", standin.base_url())
            .env("KIMI_PLUGIN_DIR", repo().join("editors/neovim"))
            .env("KIMI_TEST_SERVER", env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
            .env("KIMI_TEST_FILE", self.path("ws").join(&self.file))
            .env("KIMI_TEST_PHASE", phase)
            .env("KIMI_TEST_RESULT", &result_path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", editor.program.display()));
        match tokio::time::timeout(PROCESS_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status.unwrap();
                assert!(status.success(), "Neovim exited with {status} in phase {phase}\n{}", self.logs());
            }
            Err(_) => {
                let _ = child.kill().await;
                panic!("Neovim did not finish phase {phase} within {PROCESS_TIMEOUT:?}\n{}", self.logs());
            }
        }
        // Headless Neovim prints errors raised in callbacks (handlers, autocmds, timers) to stderr.
        let stderr = std::fs::read_to_string(self.path("nvim.err")).unwrap_or_default();
        assert!(
            !["Error", "stack traceback", "E5108", "E5113"].iter().any(|e| stderr.contains(e)),
            "Neovim reported an error in phase {phase}\n{}",
            self.logs()
        );
        let text = std::fs::read_to_string(&result_path)
            .unwrap_or_else(|e| panic!("phase {phase} wrote no result ({e})\n{}", self.logs()));
        let seen: Value = serde_json::from_str(&text).unwrap();
        if let Some(error) = seen["error"].as_str() {
            panic!("phase {phase} on {}: {error}\nseen: {seen:#}\n{}", seen["version"], self.logs());
        }
        assert!(
            seen["version"].as_str().unwrap_or("").starts_with(editor.version_prefix),
            "ran {} instead of {}",
            seen["version"],
            editor.version_prefix
        );
        if phase == "roots" {
            return seen;
        }
        assert_eq!(seen["ghost_backend"], editor.backend, "{seen:#}");
        if phase != "missing" {
            assert_eq!(seen["server_started"], true, "{seen:#}");
        }
        seen
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// One ghost-text scenario: what is in the file, the normal-mode keys that start insert mode on
/// its second line, what is typed, what the model answers, and what the user must see.
struct GhostCase {
    file: &'static str,
    text: &'static str,
    insert: &'static str,
    typed: &'static str,
    reply: &'static str,
    /// What a second choice says when the user asks for the next suggestion (extmark ghost text:
    /// Neovim 0.12's built-in inline completion cycles only what it has).
    next: Option<&'static str>,
    /// A mapping of <Tab> the user had before the plugin: the plugin's <Tab> falls back to it.
    user_tab: Option<&'static str>,
    line_after_plain_tab: &'static str,
    ghost: &'static str,
    ghost_at: (u64, u64),
    /// The cursor line on the screen while the ghost text is shown (where the plugin draws it).
    screen_line: &'static str,
    after_accept: &'static str,
    cursor_after_accept: [u64; 2],
}

/// One line, in Rust: the suggestion continues what was typed.
const GHOST_ONE_LINE: GhostCase = GhostCase {
    file: "add.rs",
    text: ADD_EMPTY,
    insert: "A",
    typed: "a",
    reply: " + b",
    next: Some(" - b"),
    user_tab: None,
    // Rust's ftplugin indents with spaces: <Tab> did what it does without the plugin.
    line_after_plain_tab: "        x",
    ghost: " + b",
    ghost_at: (1, 5),
    screen_line: "    a + b",
    after_accept: "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}",
    cursor_after_accept: [2, 9],
};

/// Several lines, in Python, with the user's own <Tab> mapping: the rest of the line at the
/// cursor (empty here), the other lines below it.
const GHOST_LINES: GhostCase = GhostCase {
    file: "pick.py",
    text: "def pick(a, b):\n    \n",
    insert: "A",
    typed: "if a > b:",
    reply: "\n        return a\n    return b\n",
    next: None,
    user_tab: Some("->"),
    line_after_plain_tab: "    ->x",
    ghost: "\n        return a",
    ghost_at: (1, 13),
    screen_line: "    if a > b:",
    after_accept: "def pick(a, b):\n    if a > b:\n        return a",
    cursor_after_accept: [3, 16],
};

/// In the middle of a line, before a closing parenthesis: on Neovim 0.10+ the suggestion is drawn
/// inline, pushing the `)` to the right as the accepted text will.
const GHOST_MID_LINE: GhostCase = GhostCase {
    file: "show.py",
    text: "def show(a, b):\n    print()\n",
    // `$` is on the `)`: insert before it.
    insert: "$i",
    typed: "a",
    reply: " + b",
    next: None,
    user_tab: None,
    line_after_plain_tab: "    print() x",
    ghost: " + b",
    ghost_at: (1, 11),
    screen_line: "    print(a + b)",
    after_accept: "def show(a, b):\n    print(a + b)",
    cursor_after_accept: [2, 15],
};

/// Ruby, which the server completes without a grammar: the plugin attaches to it by default.
const GHOST_RUBY: GhostCase = GhostCase {
    file: "greet.rb",
    text: "def greet(name)\n  \nend\n",
    insert: "A",
    typed: "puts",
    reply: " \"Hello, #{name}\"",
    next: None,
    user_tab: None,
    line_after_plain_tab: "    x",
    ghost: " \"Hello, #{name}\"",
    ghost_at: (1, 6),
    screen_line: "  puts \"Hello, #{name}\"",
    after_accept: "def greet(name)\n  puts \"Hello, #{name}\"\nend",
    cursor_after_accept: [2, 23],
};

/// Typing brings the stand-in's suggestion as ghost text, the accept key inserts it and the
/// server counts it accepted; without a suggestion the key does what it did before; <Esc> hides
/// the ghost text.
async fn ghost_text(editor: &Editor, case: &GhostCase) {
    let standin = Standin::start().await;
    standin.require_key(KEY);
    // Typing asks for one suggestion; only an explicit request gets the alternatives.
    standin.set_default(Reply::text(case.reply).alternatives(&case.next.into_iter().collect::<Vec<_>>()));
    let phase = Phase::new(case.file, case.text);
    let mut env = vec![("KIMI_TEST_TYPE", case.typed), ("KIMI_TEST_INSERT", case.insert)];
    if case.next.is_some() {
        env.push(("KIMI_TEST_NEXT", "1"));
    }
    if let Some(tab) = case.user_tab {
        env.push(("KIMI_TEST_USER_TAB", tab));
    }
    let seen = phase.run(editor, &standin, "ghost", &env).await;

    assert_eq!(seen["line_after_plain_tab"], case.line_after_plain_tab, "{seen:#}");

    let ghost = seen["ghost"].as_array().unwrap();
    assert_eq!(ghost.len(), 1, "one ghost-text extmark: {seen:#}");
    assert_eq!(ghost[0]["text"], case.ghost, "the stand-in's answer, after what was typed: {seen:#}");
    assert_eq!(
        (ghost[0]["row"].as_u64().unwrap(), ghost[0]["col"].as_u64().unwrap()),
        case.ghost_at,
        "at the cursor: {seen:#}"
    );
    assert_eq!(seen["mode_while_shown"], "i");
    match case.next {
        Some(next) if editor.backend == "extmark" => {
            // The two distinct suggestions of three choices (the third repeats the first), counted.
            let next_shown = format!("{next} (2/2)");
            let first_again = format!("{} (1/2)", case.ghost);
            assert_eq!(seen["ghost_after_next"][0]["text"], next_shown.as_str(), "the next suggestion: {seen:#}");
            assert_eq!(seen["ghost_after_prev"][0]["text"], first_again.as_str(), "back to the first: {seen:#}");
            let asked: Vec<Value> = standin.chat_requests().iter().map(|r| r["n"].clone()).collect();
            assert!(asked.contains(&json!(3)), "<M-]> asked for several: {asked:?}");
        }
        _ => assert_eq!(seen.get("ghost_after_next"), None, "{seen:#}"),
    }
    if let Some(pos) = editor.ghost_pos {
        assert_eq!(ghost[0]["pos"], pos, "drawn as {pos} virtual text: {seen:#}");
        assert_eq!(seen["screen_line_while_shown"], case.screen_line, "what the screen shows: {seen:#}");
    }

    assert_eq!(str_of(&seen["text_after_accept"]), case.after_accept, "{seen:#}");
    assert_eq!(
        seen["cursor_after_accept"],
        serde_json::json!(case.cursor_after_accept),
        "cursor after the insertion: {seen:#}"
    );
    assert!(seen["accepted_completions"].as_u64().unwrap() >= 1, "{seen:#}");
    assert_eq!(seen["ghost_after_esc"], serde_json::json!([]), "<Esc> leaves no ghost text: {seen:#}");
    assert!(str_of(&seen["statusline"]).starts_with("Kimi"), "{seen:#}");

    let requests = standin.chat_requests();
    assert!(!requests.is_empty());
    assert_eq!(requests[0]["model"], "kimi-k2-turbo-preview", "a completion request reached the stand-in");
    if case.file.ends_with(".rb") {
        let system = str_of(&requests[0]["messages"][0]["content"]);
        assert!(system.starts_with("You are a code completion engine for Ruby."), "{system}");
    }
}

/// `<M-Right>` inserts the suggestion's next word and `<M-C-Right>` its next line, and what is
/// left stays shown, also when the accepted part ends a line below; the last part accepts it.
/// No part costs another model call: the server answers the rest from memory.
async fn partial_accept(editor: &Editor) {
    let standin = Standin::start().await;
    standin.require_key(KEY);
    standin.push(Reply::text("\n        return a + b;\n    }"));
    // Once the whole suggestion is in, the next one is asked for: none comes.
    standin.set_default(Reply::text(""));
    let phase = Phase::new("add.rs", ADD_EMPTY);
    let keys = "<M-Right> <M-C-Right> <M-C-Right>";
    let seen = phase
        .run(editor, &standin, "partial", &[("KIMI_TEST_TYPE", "if a > b {"), ("KIMI_TEST_PARTIAL_KEYS", keys)])
        .await;
    assert_eq!(seen["ghost"][0]["text"], "\n        return a + b;\n    }", "{seen:#}");
    let steps = seen["steps"].as_array().unwrap();
    let step = |i: usize| (str_of(&steps[i]["text"]).to_string(), steps[i]["ghost"].clone());
    let head = "fn add(a: i32, b: i32) -> i32 {\n    if a > b {\n";
    // A word at the end of a line is the next line's first.
    assert_eq!(step(0), (format!("{head}        return\n}}"), json!(" a + b;\n    }")), "{seen:#}");
    assert_eq!(step(1), (format!("{head}        return a + b;\n}}"), json!("\n    }")), "{seen:#}");
    assert_eq!(step(2), (format!("{head}        return a + b;\n    }}\n}}"), Value::Null), "{seen:#}");
    assert_eq!(steps[2]["cursor"], json!([4, 5]), "{seen:#}");
    assert!(seen["accepted_completions"].as_u64().unwrap() >= 1, "{seen:#}");
    // :KimiUsage tells how long kimi-lsp itself took, and how long the model made the user wait.
    let usage = str_of(&seen["usage"]);
    assert!(usage.contains("kimi-lsp's own time per completion (the model's left out): "), "{usage}");
    assert!(usage.lines().any(|l| l.trim_start().starts_with("completion") && l.contains("median wait ")), "{usage}");
    // The parts came from memory: any later model call is for after the accepted suggestion.
    let requests = standin.chat_requests();
    for later in &requests[1..] {
        assert!(later.to_string().contains("return a + b;\\n    }"), "a call for a part: {later}");
        // ... and none while :KimiToggle had suggestions off, everywhere or for Rust.
        assert!(!later.to_string().contains("//off"), "a model call while off: {later}");
        assert!(!later.to_string().contains("//ft"), "a model call while off for rust: {later}");
    }
    assert!(str_of(&seen["status_off"]).starts_with("Kimi off"), "{seen:#}");
    assert_eq!(seen["ghost_while_off"], json!([]), "{seen:#}");
    assert!(str_of(&seen["status_on"]).starts_with("Kimi") && !str_of(&seen["status_on"]).starts_with("Kimi off"));
    assert_eq!(seen["languages_off"], json!({"rust": false}), "{seen:#}");
    assert!(str_of(&seen["status_filetype_off"]).starts_with("Kimi off here"), "{seen:#}");
    assert!(!str_of(&seen["status_filetype_on"]).contains("off"), "{seen:#}");
    assert_eq!(seen["ghost_while_filetype_off"], json!([]), "{seen:#}");
    assert_eq!(seen["languages_on"], json!({"rust": true}), "{seen:#}");
}

/// One server per repository: a crate of a Cargo workspace in git shares the repository's root;
/// outside a repository the nearest build file decides (C#'s `*.csproj` too); a file without
/// any marker above it is its own directory's.
async fn workspace_roots(editor: &Editor) {
    let standin = Standin::start().await;
    let phase = Phase::new("seed.py", "x = 1\n");
    // Nothing above the projects marks a root.
    std::fs::remove_file(phase.path("ws/Cargo.toml")).unwrap();
    let files = ["repo/crates/parser/src/lib.rs", "plain/src/main.rs", "dotnet/Models/User.cs", "loose/notes.py"];
    for dir in ["repo/.git", "repo/crates/parser/src", "plain/src", "dotnet/Models", "loose"] {
        std::fs::create_dir_all(phase.path("ws").join(dir)).unwrap();
    }
    for marker in ["repo/Cargo.toml", "repo/crates/parser/Cargo.toml", "plain/Cargo.toml", "dotnet/App.csproj"] {
        std::fs::write(phase.path("ws").join(marker), "").unwrap();
    }
    for file in files {
        std::fs::write(phase.path("ws").join(file), "\n").unwrap();
    }
    let seen = phase.run(editor, &standin, "roots", &[("KIMI_TEST_ROOT_FILES", &files.join(","))]).await;
    let ws = phase.path("ws").canonicalize().unwrap();
    let root = |file: &str| {
        let got = PathBuf::from(str_of(&seen["roots"][file]));
        got.canonicalize().unwrap_or(got).strip_prefix(&ws).map(|p| p.display().to_string()).unwrap_or_default()
    };
    assert_eq!(root("repo/crates/parser/src/lib.rs"), "repo", "{seen:#}");
    assert_eq!(root("plain/src/main.rs"), "plain", "{seen:#}");
    assert_eq!(root("dotnet/Models/User.cs"), "dotnet", "{seen:#}");
    assert_eq!(root("loose/notes.py"), "loose", "{seen:#}");
}

/// The code-action menu offers "Document `add`"; picking it applies the model's doc comment.
async fn code_action(editor: &Editor) {
    let standin = Standin::start().await;
    standin.set_default(Reply::text("```rust\n/// Adds two numbers.\n```"));
    let phase = Phase::new("add.rs", ADD);
    let seen = phase
        .run(
            editor,
            &standin,
            "action",
            &[("KIMI_TEST_ACTION", "Document `add`"), ("KIMI_TEST_ORIGINAL", ADD.trim_end())],
        )
        .await;
    let offered: Vec<&str> = seen["actions_offered"].as_array().unwrap().iter().map(str_of).collect();
    assert!(offered.contains(&"Kimi: Document `add`"), "{offered:?}");
    assert_eq!(str_of(&seen["text_after_action"]), format!("/// Adds two numbers.\n{}", ADD.trim_end()), "{seen:#}");
    let requests = standin.chat_requests();
    assert_eq!(requests.len(), 1, "one model call, when the action was picked");
    assert_eq!(requests[0]["model"], "kimi-k2.5");
}

/// :KimiChat on selected lines streams the answer, tool activity included, into the chat buffer; a
/// second :KimiChat continues the session; :KimiUsage and :checkhealth report.
async fn chat(editor: &Editor) {
    let standin = Standin::start().await;
    standin.push(Reply::tool_call("read_file", r#"{"path":"add.rs"}"#));
    standin.push(Reply::text("").chunks(&["It adds ", "the two ", "numbers."]).chunk_delay(Duration::from_millis(300)));
    standin.push(Reply::text("Then it returns the sum."));
    standin.set_default(Reply::text("(no more answers were scripted)"));
    let phase = Phase::new("add.rs", ADD);
    let seen = phase
        .run(
            editor,
            &standin,
            "chat",
            &[
                ("KIMI_TEST_RANGE", "1,2"),
                ("KIMI_TEST_QUESTION", "What does add do?"),
                ("KIMI_TEST_FOLLOWUP", "And then?"),
            ],
        )
        .await;

    let states: Vec<&str> = seen["answer_states"].as_array().unwrap().iter().map(str_of).collect();
    let tools = "> tool `read_file` started\n> tool `read_file` done: read add.rs (3 lines)\n\n";
    assert_eq!(states.last().copied(), Some(format!("{tools}It adds the two numbers.").as_str()), "{seen:#}");
    assert!(
        states.iter().any(|s| s.ends_with("It adds") || s.ends_with("It adds the two")),
        "the answer appeared piece by piece, not all at once: {states:?}"
    );
    assert_eq!(
        str_of(&seen["chat_buffer_after_followup"]),
        format!(
            "## You\n\nWhat does add do?\n\n_(with add.rs, lines 1–2)_\n\n## Kimi\n\n{tools}It adds the two numbers.\n\n\
             ## You\n\nAnd then?\n\n## Kimi\n\nThen it returns the sum.\n\n## You\n\n"
        ),
        "{seen:#}"
    );
    assert_eq!(seen["chat_filetype"], "markdown");
    assert!(!str_of(&seen["session_id"]).is_empty());
    assert_eq!(seen["session_id"], seen["session_id_after_followup"], "the follow-up continued the session");
    // :KimiChatOpen shows the conversation as the server keeps it: what was asked and answered,
    // without the tool lines and the attachment note this window added.
    let reopened = "## You\n\nWhat does add do?\n\n## Kimi\n\nIt adds the two numbers.\n\n\
                    ## You\n\nAnd then?\n\n## Kimi\n\nThen it returns the sum.\n\n## You\n\n";
    assert_eq!(str_of(&seen["reopened_buffer"]), reopened, "{seen:#}");
    assert_eq!(str_of(&seen["reopened_by_id"]), reopened, "{seen:#}");
    let offered = seen["sessions_offered"].as_array().unwrap();
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert!(str_of(&offered[0]).starts_with("What does add do?  (2 turns, "), "{offered:?}");
    assert_eq!(seen["session_id_after_open"], seen["session_id"], "the next question continues it");
    assert_eq!(seen["ids_completed"], json!([seen["session_id"]]), "{seen:#}");

    // :KimiUsage shows the three chat requests (two answers, one after a tool round); :checkhealth finds everything and never shows the key.
    let usage = str_of(&seen["usage"]);
    assert!(usage.lines().any(|l| l.trim_start().starts_with("chat") && l.contains(" 3 requests")), "{usage}");
    // ... and how long they made the user wait.
    assert!(
        usage.lines().any(|l| l.trim_start().starts_with("chat") && l.contains("median wait ") && l.ends_with(" ms")),
        "{usage}"
    );
    assert!(usage.contains("This server: kimi-lsp "), "{usage}");
    let health = str_of(&seen["health"]);
    for expected in
        ["kimi-lsp 0.1.0 (", "MOONSHOT_API_KEY is set", "running for add.rs (root ", "the server has an API key"]
    {
        assert!(health.contains(expected), "no `{expected}` in the health check:\n{health}");
    }
    assert!(!health.contains(KEY) && !usage.contains(KEY), "the API key was shown");

    let requests = standin.chat_requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let first = serde_json::to_string(&requests[0]["messages"]).unwrap();
    assert!(
        first.contains("What does add do?")
            && first.contains("fn add(a: i32, b: i32)")
            && first.contains("(lines 1-2)"),
        "the file and the selected lines went along: {first}"
    );
    let second = serde_json::to_string(&requests[2]["messages"]).unwrap();
    assert!(
        second.contains("What does add do?")
            && second.contains("It adds the two numbers.")
            && second.contains("And then?"),
        "the follow-up carried the first turn: {second}"
    );
}

/// Without the server binary the user gets one message saying how to install it, not an error per file.
async fn missing_binary(editor: &Editor) {
    let standin = Standin::start().await;
    let phase = Phase::new("add.rs", ADD);
    std::fs::write(phase.path("ws/other.rs"), "fn other() {}\n").unwrap();
    let seen = phase.run(editor, &standin, "missing", &[("KIMI_TEST_SERVER", "/nonexistent/kimi-lsp")]).await;
    assert_eq!(seen["clients"], 0);
    let notes = seen["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let message = str_of(&notes[0]["message"]);
    assert!(
        message.contains("`/nonexistent/kimi-lsp` was not found")
            && message.contains("cargo install --locked --path server"),
        "{message}"
    );
    assert_eq!(notes[0]["level"], 4, "an error (vim.log.levels.ERROR)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neovim_0_7_ghost_text_code_action_and_chat() {
    let editor = neovim_07();
    workspace_roots(&editor).await;
    ghost_text(&editor, &GHOST_ONE_LINE).await;
    ghost_text(&editor, &GHOST_LINES).await;
    partial_accept(&editor).await;
    code_action(&editor).await;
    chat(&editor).await;
    missing_binary(&editor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neovim_0_10_inline_ghost_text_code_action_and_chat() {
    let editor = match neovim_010() {
        Ok(e) => e,
        Err(reason) => {
            eprintln!("skipped: Neovim 0.10 is not available here: {reason}");
            return;
        }
    };
    ghost_text(&editor, &GHOST_ONE_LINE).await;
    ghost_text(&editor, &GHOST_LINES).await;
    ghost_text(&editor, &GHOST_MID_LINE).await;
    ghost_text(&editor, &GHOST_RUBY).await;
    partial_accept(&editor).await;
    code_action(&editor).await;
    chat(&editor).await;
    missing_binary(&editor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neovim_0_12_builtin_inline_completion_code_action_and_chat() {
    let editor = match neovim_012() {
        Ok(e) => e,
        Err(reason) => {
            eprintln!("skipped: Neovim 0.12 is not available here: {reason}");
            return;
        }
    };
    ghost_text(&editor, &GHOST_ONE_LINE).await;
    ghost_text(&editor, &GHOST_LINES).await;
    partial_accept(&editor).await;
    code_action(&editor).await;
    chat(&editor).await;
    missing_binary(&editor).await;
}

/// The plugin and this test's driver lint clean (editors/neovim/.luacheckrc: LuaJIT, 120 columns).
#[test]
fn the_plugin_lints_clean() {
    let plugin = repo().join("editors/neovim");
    let out = std::process::Command::new("luacheck")
        .args(["--no-color", "--config", ".luacheckrc", "lua"])
        .arg(repo().join("tests/editors/neovim/init.lua"))
        .current_dir(&plugin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run luacheck ({e}): run `bash tests/editors/neovim/setup.sh` first"));
    assert!(
        out.status.success(),
        "luacheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
