//! End-to-end: kimi-lsp in Emacs 28 + eglot, run as `emacs --batch` with
//! tests/editors/emacs/kimi-eglot-test.el against the in-process stand-in.
//!
//! The script evaluates the snippets in editors/emacs/README.md, completes a line with
//! `completion-at-point`, runs "Kimi: Rewrite" with `eglot-code-actions` and asks a question in a
//! chat file with the README's `kimi-ask`; this test checks what ended up in the buffers and what
//! the model was asked. Install Emacs first with
//! `bash tests/editors/emacs/setup.sh` (tests/run does).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kimi_test_support::{Reply, Standin};

/// Lines of the script's workspace: the completion happens after `res` on a line whose emoji
/// and CJK text make UTF-16 columns differ from character counts.
const CALC: &str = "def area(w, h):\n    label = \"面积 🦀\"; res\n    return label\n";
const TOTAL: &str =
    "def total(xs):\n    # kimi: use sum()\n    t = 0\n    for x in xs:\n        t += x\n    return t\n";

/// A chat file's question, with text whose UTF-16 columns differ from character counts (eglot
/// speaks UTF-16).
const NOTES: &str = "## You\n\nWhat does 合計 mean? 🦀\n";
const ANSWER: [&str; 4] = ["It means “total”.\n", "\n", "```rust\nlet 合計 = 1 + 2;\n```\n", "Emoji: 🦀"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Runs `cmd` to completion or kills it after `limit`; returns (exit code, stdout + stderr).
fn run_with_limit(mut cmd: Command, limit: Duration) -> (Option<i32>, String) {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file.reopen().unwrap())
        .stderr(out_file.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start emacs ({e}); install it with `bash tests/editors/emacs/setup.sh`"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(out_file.path()).unwrap_or_default();
    match status {
        Some(s) => (s.code(), output),
        None => panic!("emacs did not finish within {limit:?}; its output:\n{output}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eglot_gets_a_completion_item_applies_a_code_action_and_streams_a_chat_answer() {
    let standin = Standin::start().await;
    // Answers in the order the script asks: the completion, the rewrite, the chat question.
    standin.push(Reply::text("ult = w * h"));
    standin.push(Reply::text("2 * (w + h)"));
    standin.push(Reply::text("w * k").alternatives(&["k * w"]));
    standin.push(Reply::text("```python\nt = sum(xs)\n```"));
    standin.push(Reply::text("unused").chunks(&ANSWER).chunk_delay(Duration::from_millis(150)));

    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("calc.py"), CALC).unwrap();
    std::fs::write(workspace.path().join("total.py"), TOTAL).unwrap();
    std::fs::write(workspace.path().join("geometry.py"), "def perimeter(w, h):\n").unwrap();
    std::fs::write(workspace.path().join("notes.kimi.md"), NOTES).unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // The README's snippet starts `kimi-lsp` from PATH.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kimi-lsp-under-test"), bin.path().join("kimi-lsp")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());

    let mut cmd = Command::new("emacs");
    cmd.args(["--batch", "-q", "-l"])
        .arg(repo().join("tests/editors/emacs/kimi-eglot-test.el"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("LANG", "C.UTF-8")
        .env("MOONSHOT_API_KEY", "sk-emacs-test")
        .env("MOONSHOT_BASE_URL", standin.base_url())
        .env("KIMI_LSP_DATA_DIR", home.path().join("kimi-data"))
        .env("KIMI_TEST_README", repo().join("editors/emacs/README.md"))
        .env("KIMI_TEST_WORKSPACE", workspace.path())
        .env("KIMI_TEST_OUT", out.path());
    // Emacs blocks this thread; the stand-in answers from the runtime's other threads.
    let (code, output) =
        tokio::task::spawn_blocking(move || run_with_limit(cmd, Duration::from_secs(60))).await.unwrap();
    assert_eq!(code, Some(0), "the eglot script failed:\n{output}");
    assert!(output.contains("KIMI-TEST OK"), "{output}");

    let read = |name: &str| {
        std::fs::read_to_string(out.path().join(name))
            .unwrap_or_else(|e| panic!("{name} was not saved ({e}):\n{output}"))
    };
    assert_eq!(
        read("calc.py"),
        "def area(w, h):\n    label = \"面积 🦀\"; result = w * h\n    return label\n",
        "the completion item was not applied as the server sent it:\n{output}"
    );
    assert_eq!(
        read("ghost.txt"),
        "2 * (w + h)\n * (w + h)\nw * k\nk * w\nw * k\n",
        "the ghost text, what was left of it after accepting a word, then the suggestions asked for \
         at once: the first, the next (M-n) and the first again (M-p):\n{output}"
    );
    assert_eq!(
        read("geometry.py"),
        "def perimeter(w, h):\n    return 2 * (w + h)\ndef scale(w, k):\n    return ",
        "the accepted ghost text did not reach the buffer:\n{output}"
    );
    assert_eq!(
        read("total.py"),
        "def total(xs):\n    t = sum(xs)\n    return t\n",
        "the rewrite did not reach the buffer:\n{output}"
    );

    assert_eq!(
        read("notes.kimi.md"),
        format!("{NOTES}\n## Kimi\n\n{}\n\n## You\n\n", ANSWER.concat()),
        "the chat answer did not stream into the buffer whole, newlines kept:\n{output}"
    );

    let asked = standin.chat_requests();
    // The word accepted from the ghost text left the rest to memory: no call for it.
    assert_eq!(asked.len(), 5, "one model call per step: {asked:#?}");
    assert_eq!(asked[0]["model"], "kimi-k2-turbo-preview", "the completion model answers completions");
    assert!(asked[0]["messages"].to_string().contains("面积 🦀"), "the prompt lacks the line: {}", asked[0]);
    assert_eq!(asked[1]["model"], "kimi-k2-turbo-preview", "ghost text is a completion");
    assert!(asked[1]["messages"].to_string().contains("def perimeter"), "the ghost text's prompt: {}", asked[1]);
    assert_eq!(asked[1].get("n"), None, "typing asks for one suggestion: {}", asked[1]);
    assert_eq!(asked[2]["n"], 3, "kimi-complete asks for several: {}", asked[2]);
    assert_eq!(asked[3]["model"], "kimi-k2.5", "the action model answers code actions");
    let user = asked[3]["messages"][1]["content"].as_str().unwrap_or_default();
    assert!(user.contains("use sum()"), "the rewrite was not asked with the comment's instruction: {user}");
    assert_eq!(asked[4]["model"], "kimi-k2.5", "the chat model answers chat files");
    let last = asked[4]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], "What does 合計 mean? 🦀", "the chat file's question: {last}");
}

/// kimi.el byte-compiles with no warning (warnings are errors here), as package managers compile it.
#[test]
fn kimi_el_byte_compiles_clean() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kimi.el");
    std::fs::copy(repo().join("editors/emacs/kimi.el"), &copy).unwrap();
    let mut cmd = Command::new("emacs");
    cmd.args(["--batch", "-q", "--eval"])
        .arg("(progn (require 'package) (package-initialize) (setq byte-compile-error-on-warn t))")
        .args(["-f", "batch-byte-compile"])
        .arg(&copy)
        .env("HOME", dir.path());
    let (code, output) = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{output}");
    assert!(dir.path().join("kimi.elc").exists(), "no kimi.elc:\n{output}");
}
