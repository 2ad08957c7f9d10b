//! AI code actions end to end: the real binary over stdio against the stand-in.

use std::path::Path;
use std::time::Duration;

use kimi_test_support::{file_uri, LspClient, Reply, Standin};
use serde_json::{json, Value};

const RUST: &str = "fn total(xs: &[u32]) -> u32 {\n    // kimi: use iter().sum()\n    let mut t = 0;\n    for x in xs {\n        t += x;\n    }\n    t\n}\n";

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
}

async fn setup(capabilities: Value, options: Value) -> Setup {
    setup_with_env(capabilities, options, &[]).await
}

async fn setup_with_env(capabilities: Value, options: Value, env: &[(&str, &str)]) -> Setup {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = standin.base_url();
    let mut vars = vec![("MOONSHOT_API_KEY", "sk-actions-test"), ("MOONSHOT_BASE_URL", base.as_str())];
    vars.extend_from_slice(env);
    let mut client = LspClient::spawn(Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")), &[], &vars, None);
    client.initialize(capabilities, options, Some(dir.path())).await;
    Setup { standin, client, dir }
}

/// What VS Code and Neovim announce for workspace edits: versioned `documentChanges` and file
/// creation.
fn edit_caps() -> Value {
    json!({"applyEdit": true, "workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"]}})
}

/// A client that applies edits through `workspace/applyEdit` (no resolve), as Helix does.
fn command_caps() -> Value {
    json!({"workspace": edit_caps()})
}

fn resolve_caps() -> Value {
    json!({
        "workspace": edit_caps(),
        "textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]}, "dataSupport": true}},
    })
}

impl Setup {
    fn open(&mut self, name: &str, lang: &str, text: &str) -> String {
        let uri = file_uri(&self.dir.path().join(name));
        self.client.did_open(&uri, lang, 1, text);
        uri
    }

    async fn list(&mut self, uri: &str, range: Value, diagnostics: Value) -> Vec<Value> {
        let result = self
            .client
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": diagnostics}}),
            )
            .await
            .unwrap();
        result.as_array().cloned().unwrap_or_default()
    }
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

fn titled<'a>(actions: &'a [Value], prefix: &str) -> &'a Value {
    actions
        .iter()
        .find(|a| a["title"].as_str().unwrap_or("").starts_with(prefix))
        .unwrap_or_else(|| panic!("no action `{prefix}` in {actions:#?}"))
}

fn text_edits(edit: &Value) -> Vec<Value> {
    edit["documentChanges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["edits"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn listing_costs_nothing_and_a_command_rewrite_edits_only_changed_lines() {
    let mut s = setup(command_caps(), Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(2, 4, 2, 4), json!([])).await;
    assert!(s.standin.chat_requests().is_empty(), "listing called the model");
    let rewrite = titled(&actions, "Kimi: Rewrite — use iter().sum()");
    assert_eq!(rewrite["kind"], "refactor.rewrite");
    assert!(titled(&actions, "Kimi: Document `total`")["command"].is_object(), "no resolve support: a command");

    // Select the body under the comment and run it as Helix would.
    let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
    let command = titled(&actions, "Kimi: Rewrite")["command"].clone();
    s.standin.push(Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```"));
    let id = s.client.send_request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    let (req_id, params) = s.client.expect_server_request("workspace/applyEdit").await;
    s.client.reply(req_id, json!({"applied": true}));
    let result = s.client.response(id).await.unwrap();
    assert_eq!(result["applied"], true);
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["version"], 1);
    let edits = text_edits(&params["edit"]);
    assert_eq!(edits, vec![json!({"range": range(1, 0, 6, 0), "newText": "    let t = xs.iter().sum();\n"})]);
    let prompt = s.standin.chat_requests()[0].clone();
    assert_eq!(prompt["model"], "kimi-k2.5");
    let user = prompt["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Rewrite this code: use iter().sum()"), "{user}");
}

#[tokio::test]
async fn resolve_fills_in_the_edit_and_a_stale_version_is_refused() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let diag = json!([{"range": range(2, 12, 2, 13), "message": "value assigned is never read", "source": "rustc"}]);
    let actions = s.list(&uri, range(2, 12, 2, 12), diag).await;
    let fix = titled(&actions, "Kimi: Fix “value assigned is never read”").clone();
    assert_eq!(fix["kind"], "quickfix");
    assert!(fix["edit"].is_null() && fix["command"].is_null() && fix["data"].is_object());
    assert!(s.standin.chat_requests().is_empty());

    let fixed = RUST.replace("let mut t = 0;", "let mut t: u32 = 0;");
    s.standin.push(Reply::text(&format!("```rust\n{fixed}```")));
    let resolved = s.client.request("codeAction/resolve", fix.clone()).await.unwrap();
    assert_eq!(
        text_edits(&resolved["edit"]),
        vec![json!({"range": range(2, 0, 3, 0), "newText": "    let mut t: u32 = 0;\n"})]
    );
    let user = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(user.contains("- line 3: value assigned is never read (rustc)"), "{user}");

    // The user typed after listing: nothing is computed against the old text.
    s.client.did_change(&uri, 2, json!([{"text": format!("// edited\n{RUST}")}]));
    let err = s.client.request("codeAction/resolve", fix).await.unwrap_err();
    assert!(err.message.contains("document changed"), "{err:?}");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("nothing was changed"));
    assert_eq!(s.standin.chat_requests().len(), 1, "no model call for a stale action");
}

#[tokio::test]
async fn document_and_tests_and_explain() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(0, 4, 0, 4), json!([])).await;

    s.standin.push(Reply::text("```rust\n/// Sums the numbers.\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Document").clone()).await.unwrap();
    assert_eq!(
        text_edits(&resolved["edit"]),
        vec![json!({"range": range(0, 0, 0, 0), "newText": "/// Sums the numbers.\n"})]
    );

    s.standin.push(Reply::text("```rust\n#[test]\nfn sums() {\n    assert_eq!(total(&[1, 2]), 3);\n}\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Write tests").clone()).await.unwrap();
    let edits = text_edits(&resolved["edit"]);
    assert_eq!(edits[0]["range"], range(8, 0, 8, 0));
    assert!(edits[0]["newText"]
        .as_str()
        .unwrap()
        .contains("mod tests {\n    use super::*;\n\n    #[test]\n    fn sums()"));

    // Explain answers text: as the command's result, and as a message for this client.
    let explain = titled(&actions, "Kimi: Explain").clone();
    s.standin.push(Reply::text("It adds the numbers up."));
    let command = &explain["command"];
    let result = s
        .client
        .request("workspace/executeCommand", json!({"command": command["command"], "arguments": command["arguments"]}))
        .await
        .unwrap();
    assert_eq!(result["text"], "It adds the numbers up.");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("It adds the numbers up."));
}

#[tokio::test]
async fn go_tests_create_the_test_file_and_a_custom_action_inserts_below() {
    let options = json!({"actions": {"custom": [{"title": "Add a log line", "prompt": "Add a log line after this {language} code:\n{selection}", "target": "insertBelow"}]}});
    let mut s = setup(resolve_caps(), options).await;
    let go = "package sum\n\nfunc Sum(a, b int) int {\n\treturn a + b\n}\n";
    let uri = s.open("sum.go", "go", go);
    let actions = s.list(&uri, range(3, 2, 3, 2), json!([])).await;
    s.standin.push(Reply::text("```go\npackage sum\n\nimport \"testing\"\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Write tests").clone()).await.unwrap();
    let changes = resolved["edit"]["documentChanges"].as_array().unwrap();
    assert_eq!(changes[0]["kind"], "create");
    assert!(changes[0]["uri"].as_str().unwrap().ends_with("/sum_test.go"));
    assert_eq!(changes[1]["edits"][0]["newText"], "package sum\n\nimport \"testing\"\n");

    let actions = s.list(&uri, range(3, 0, 4, 0), json!([])).await;
    s.standin.push(Reply::text("```go\nlog.Println(a)\n```"));
    let resolved =
        s.client.request("codeAction/resolve", titled(&actions, "Kimi: Add a log line").clone()).await.unwrap();
    assert_eq!(
        text_edits(&resolved["edit"]),
        vec![json!({"range": range(4, 0, 4, 0), "newText": "\tlog.Println(a)\n"})]
    );
    let user = s.standin.chat_requests()[1]["messages"][1]["content"].as_str().unwrap().to_string();
    assert_eq!(user, "Add a log line after this Go code:\n\treturn a + b\n");
}

/// A test file open in the editor gets the new tests appended to the editor's copy, unsaved
/// edits included (and shown to the model), as a versioned edit: not to the disk's copy.
#[tokio::test]
async fn go_tests_go_into_the_open_test_file_as_the_editor_has_it() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    let go = "package sum\n\nfunc Sum(a, b int) int {\n\treturn a + b\n}\n";
    let uri = s.open("sum.go", "go", go);
    let on_disk = "package sum\n\nimport \"testing\"\n";
    std::fs::write(s.dir.path().join("sum_test.go"), on_disk).unwrap();
    let test_uri = s.open("sum_test.go", "go", on_disk);
    // Typed, not saved: the server has the edit, and its reparse is still due.
    let unsaved = "\nfunc TestZero(t *testing.T) {}\n";
    s.client.did_change(&test_uri, 2, json!([{"range": range(3, 0, 3, 0), "text": unsaved}]));
    let actions = s.list(&uri, range(3, 2, 3, 2), json!([])).await;
    s.standin.push(Reply::text("```go\nfunc TestSum(t *testing.T) {}\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Write tests").clone()).await.unwrap();
    let changes = resolved["edit"]["documentChanges"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["textDocument"], json!({"uri": test_uri, "version": 2}));
    assert_eq!(
        changes[0]["edits"],
        json!([{"range": range(5, 0, 5, 0), "newText": "\nfunc TestSum(t *testing.T) {}\n"}])
    );
    let prompt = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains("func TestZero"), "{prompt}");
}

#[tokio::test]
async fn cancelling_the_progress_closes_the_upstream_stream() {
    let mut s = setup(json!({"window": {"workDoneProgress": true}}), Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(0, 4, 0, 4), json!([])).await;
    let command = titled(&actions, "Kimi: Document")["command"].clone();
    s.standin.push(
        Reply::text("```rust\n/// a\n/// b\n/// c\n```")
            .chunks(&["```rust\n", "/// a\n", "/// b\n", "/// c\n```"])
            .chunk_delay(Duration::from_secs(2)),
    );
    let id = s.client.send_request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    let (req_id, params) = s.client.expect_server_request("window/workDoneProgress/create").await;
    s.client.reply(req_id, Value::Null);
    let begin = s.client.expect_notification("$/progress").await;
    assert_eq!(begin["value"]["kind"], "begin");
    assert_eq!(begin["value"]["cancellable"], true);
    s.standin.wait_for_chat_requests(1, Duration::from_secs(5)).await;
    s.client.notify("window/workDoneProgress/cancel", json!({"token": params["token"]}));
    let err = s.client.response(id).await.unwrap_err();
    assert_eq!(err.code, -32800, "{err:?}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    let end = s.client.expect_notification("$/progress").await;
    assert_eq!(end["value"]["kind"], "end");
}

#[tokio::test]
async fn a_model_error_reaches_the_user() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(0, 4, 0, 4), json!([])).await;
    s.standin.push(Reply::error(kimi_test_support::ApiError::InsufficientBalance));
    let err = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Document").clone()).await.unwrap_err();
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 1);
    assert!(err.message.starts_with("kimi-lsp:"), "{err:?}");
}

/// Runs `command` (a listed action's) as a client without resolve does.
fn run_command(s: &mut Setup, command: &Value) -> i64 {
    s.client.send_request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    )
}

/// A model answer cut off at its length limit would replace the whole function with its first
/// lines: it is never applied, and the user is told what happened and what to do.
#[tokio::test]
async fn a_cut_off_answer_is_never_applied_and_the_user_is_told_why() {
    let mut s = setup(command_caps(), json!({"actions": {"maxTokens": 1000}})).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
    let command = titled(&actions, "Kimi: Rewrite")["command"].clone();
    s.standin.push(
        Reply::reasoning_then_text("Let me think about this for a long while", "```rust\nlet t = xs\n    .iter()\n")
            .finish_reason("length"),
    );
    let id = run_command(&mut s, &command);
    let err = s.client.response(id).await.unwrap_err();
    assert!(err.message.contains("cut off") && err.message.contains("nothing was changed"), "{err:?}");
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("1000 tokens") && message.contains("raise `actions.maxTokens`"), "{message}");
    assert!(message.contains("select less code"), "{message}");
    assert!(!s.client.take_unread().iter().any(|m| m["method"] == "workspace/applyEdit"), "no edit was sent");
    assert_eq!(s.standin.chat_requests()[0]["max_tokens"], 1000);
}

/// Edits of a `\r\n` document use `\r\n`, and touch only the lines that change, as in an `\n`
/// one.
#[tokio::test]
async fn edits_in_a_crlf_document_use_its_line_breaks() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    let crlf = RUST.replace('\n', "\r\n");
    let uri = s.open("lib.rs", "rust", &crlf);
    let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
    s.standin.push(Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Rewrite").clone()).await.unwrap();
    assert_eq!(
        text_edits(&resolved["edit"]),
        vec![json!({"range": range(1, 0, 6, 0), "newText": "    let t = xs.iter().sum();\r\n"})]
    );

    let actions = s.list(&uri, range(0, 4, 0, 4), json!([])).await;
    s.standin.push(Reply::text("```rust\n/// Sums the numbers.\n///\n/// Zero for none.\n```"));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Document").clone()).await.unwrap();
    assert_eq!(
        text_edits(&resolved["edit"]),
        vec![json!({"range": range(0, 0, 0, 0), "newText": "/// Sums the numbers.\r\n///\r\n/// Zero for none.\r\n"})]
    );
}

/// A client without `documentChanges` gets edits without a version, which it applies to whatever
/// text it has: one computed for the text before the user typed would land in the wrong place.
/// The user types while the model is answering: no edit goes out, for a command (Helix) and for
/// a resolved action alike, and the user reads what to do.
#[tokio::test]
async fn an_edit_for_text_the_user_changed_meanwhile_never_reaches_a_client_without_versions() {
    let unversioned = json!({"applyEdit": true, "workspaceEdit": {"documentChanges": false}});
    let resolving = json!({"resolveSupport": {"properties": ["edit"]}, "dataSupport": true});
    for resolve in [false, true] {
        let caps = match resolve {
            true => json!({"workspace": unversioned, "textDocument": {"codeAction": resolving}}),
            false => json!({"workspace": unversioned}),
        };
        let mut s = setup(caps, Value::Null).await;
        let uri = s.open("lib.rs", "rust", RUST);
        let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
        let rewrite = titled(&actions, "Kimi: Rewrite").clone();
        let answer = Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```");
        s.standin.push(answer.first_byte_delay(Duration::from_millis(600)));
        let id = match resolve {
            true => s.client.send_request("codeAction/resolve", rewrite),
            false => run_command(&mut s, &rewrite["command"]),
        };
        s.standin.wait_for_chat_requests(1, Duration::from_secs(10)).await;
        // A line typed above the lines being rewritten: the edit's lines would move down one.
        s.client.did_change(&uri, 2, json!({"range": range(0, 0, 0, 0), "text": "// typed meanwhile\n"}));
        refused_as_changed(&mut s, id, &format!("resolve {resolve}")).await;
    }
}

/// Request `id`'s action must fail because the document changed while the model answered: the
/// error and the message shown say so and what to do, and no edit was sent.
async fn refused_as_changed(s: &mut Setup, id: i64, case: &str) {
    let err = s.client.response(id).await.unwrap_err();
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("document changed") && message.contains("Run the action again"), "{case}: {message}");
    assert_eq!(err.message, message);
    let unread = s.client.take_unread();
    assert!(!unread.iter().any(|m| m["method"] == "workspace/applyEdit"), "{case}: {unread:?}");
}

/// An editor reloads a file changed on disk (`didClose`, then `didOpen` at version 1 again, the
/// version the action was listed for) while the model answers: the version alone cannot tell
/// the texts apart, and the edit's lines would land two lines too high in the new text. No
/// edit goes out, pinned to the version or not, and the user reads what to do.
#[tokio::test]
async fn an_edit_for_a_document_reopened_meanwhile_at_the_same_version_never_goes_out() {
    let unversioned = json!({"applyEdit": true, "workspaceEdit": {"documentChanges": false}});
    for caps in [json!({"workspace": unversioned}), command_caps()] {
        let mut s = setup(caps.clone(), Value::Null).await;
        let uri = s.open("lib.rs", "rust", RUST);
        let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
        let rewrite = titled(&actions, "Kimi: Rewrite").clone();
        let answer = Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```");
        s.standin.push(answer.first_byte_delay(Duration::from_millis(600)));
        let id = run_command(&mut s, &rewrite["command"]);
        s.standin.wait_for_chat_requests(1, Duration::from_secs(10)).await;
        s.client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
        s.client.did_open(&uri, "rust", 1, &format!("// a header added on disk\n// by someone else\n{RUST}"));
        refused_as_changed(&mut s, id, &caps.to_string()).await;
    }
}

/// A Rewrite listed for `lib.rs`, after which the document was closed; the action as listed.
async fn rewrite_listed_then_closed(caps: Value) -> (Setup, String, Value) {
    let mut s = setup(caps, Value::Null).await;
    let uri = s.open("lib.rs", "rust", RUST);
    let actions = s.list(&uri, range(2, 0, 7, 0), json!([])).await;
    let rewrite = titled(&actions, "Kimi: Rewrite").clone();
    s.client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    (s, uri, rewrite)
}

/// The same reload between listing and running: the version is the listed one again, but the
/// selection it carries now covers other lines. Nothing is asked of the model, nothing is
/// edited, and the user reads at once what to do, for a resolved action and a command alike.
#[tokio::test]
async fn an_action_listed_before_the_document_was_reopened_at_its_version_is_not_run() {
    for caps in [resolve_caps(), command_caps()] {
        let (mut s, uri, rewrite) = rewrite_listed_then_closed(caps.clone()).await;
        s.client.did_open(&uri, "rust", 1, &format!("// a header added on disk\n// by someone else\n{RUST}"));
        // Were it run, this answer would replace the two lines of the header and what follows.
        s.standin.push(Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```"));
        let id = match rewrite["command"].is_object() {
            true => run_command(&mut s, &rewrite["command"]),
            false => s.client.send_request("codeAction/resolve", rewrite),
        };
        refused_as_changed(&mut s, id, &caps.to_string()).await;
        assert!(s.standin.chat_requests().is_empty(), "{caps}: the model was asked");
    }
}

/// The document was closed between listing and running: the user is told, in the words of
/// every other refusal, which file and what to do; the model is not asked.
#[tokio::test]
async fn an_action_for_a_document_closed_since_it_was_listed_tells_the_user_what_to_do() {
    for caps in [resolve_caps(), command_caps()] {
        let (mut s, _, rewrite) = rewrite_listed_then_closed(caps.clone()).await;
        let id = match rewrite["command"].is_object() {
            true => run_command(&mut s, &rewrite["command"]),
            false => s.client.send_request("codeAction/resolve", rewrite),
        };
        let err = s.client.response(id).await.unwrap_err();
        assert_eq!(err.code, -32803, "{caps}: {err:?}");
        let shown = s.client.expect_notification("window/showMessage").await;
        assert_eq!(shown["type"], 2, "a warning: {shown}");
        assert_eq!(
            shown["message"],
            "kimi-lsp: lib.rs is no longer open in the editor, so the action was not run; nothing was changed. \
             Open the file and ask for the action again."
        );
        assert_eq!(err.message, shown["message"].as_str().unwrap());
        assert!(s.standin.chat_requests().is_empty(), "{caps}: the model was asked");
    }
}

/// A client without `documentChanges` or file creation (its `workspace.workspaceEdit`
/// capabilities say so): no model call for tests it could not take, a message that says what
/// to do, and once the user made the file, plain `changes` that fill it.
#[tokio::test]
async fn write_tests_honours_an_editor_that_cannot_create_files() {
    let caps = json!({"workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": false}}});
    let mut s = setup(caps, Value::Null).await;
    let py = "def add(a, b):\n    return a + b\n";
    let uri = s.open("calc.py", "python", py);
    let actions = s.list(&uri, range(1, 4, 1, 4), json!([])).await;
    let command = titled(&actions, "Kimi: Write tests")["command"].clone();
    let id = run_command(&mut s, &command);
    let err = s.client.response(id).await.unwrap_err();
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("test_calc.py") && message.contains("create it (empty is fine)"), "{message}");
    assert_eq!(err.message, message);
    assert!(s.standin.chat_requests().is_empty(), "no model call for an edit the editor cannot take");

    std::fs::write(s.dir.path().join("test_calc.py"), "").unwrap();
    s.standin.push(Reply::text("```python\nfrom calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n```"));
    let id = run_command(&mut s, &command);
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    assert!(params["edit"].get("documentChanges").is_none(), "{params}");
    let test_uri = file_uri(&s.dir.path().join("test_calc.py"));
    assert_eq!(
        params["edit"]["changes"],
        json!({test_uri: [{"range": range(0, 0, 0, 0), "newText": "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"}]})
    );
    s.client.reply(req, json!({"applied": true}));
    assert_eq!(s.client.response(id).await.unwrap()["applied"], true);
    let user = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(user.contains("Return the complete new test file `test_calc.py`"), "{user}");
}

/// Explanations go to a file of their own, in a directory only the user can enter: two servers
/// never write the same file, and no one else can read it.
#[tokio::test]
async fn explain_writes_a_private_file_of_its_own_for_the_editor_to_show() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let tmp_dir = tmp.path().to_string_lossy().into_owned();
    let caps = json!({"window": {"showDocument": {"support": true}}});
    let mut shown = Vec::new();
    for answer in ["Explanation from editor A.", "Explanation from editor B."] {
        let mut s = setup_with_env(caps.clone(), Value::Null, &[("TMPDIR", &tmp_dir)]).await;
        let uri = s.open("lib.rs", "rust", RUST);
        let actions = s.list(&uri, range(0, 4, 0, 4), json!([])).await;
        s.standin.push(Reply::text(answer));
        let id = run_command(&mut s, &titled(&actions, "Kimi: Explain")["command"].clone());
        let (req, params) = s.client.expect_server_request("window/showDocument").await;
        s.client.reply(req, json!({"success": true}));
        assert_eq!(s.client.response(id).await.unwrap()["text"], answer);
        let path = params["uri"].as_str().unwrap().strip_prefix("file://").unwrap().to_string();
        shown.push(std::path::PathBuf::from(path));
    }
    let uid = std::fs::metadata(tmp.path()).unwrap().uid();
    let dir = tmp.path().join(format!("kimi-lsp-{uid}"));
    assert_ne!(shown[0], shown[1], "each server writes a file of its own");
    for (path, who) in shown.iter().zip(["A", "B"]) {
        assert_eq!(path.parent(), Some(dir.as_path()));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("# Explanation of ") && text.contains(&format!("from editor {who}.")), "{text}");
        assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o777, 0o600, "{}", path.display());
    }
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
}

/// A selection too long for the model's context on its own is not sent again after the model's
/// overflow 400 (there is no context to leave out that would make it fit): one upstream call,
/// and the user reads what to do, with the setting that picks another model.
#[tokio::test]
async fn a_selection_too_long_for_the_model_alone_is_told_after_one_call() {
    let mut s = setup(command_caps(), Value::Null).await;
    s.standin.set_context_length("kimi-k2.5", 2000);
    let body: String =
        (0..300).map(|i| format!("    let v{i} = {i} * 2 + 1; // a long line of code to select\n")).collect();
    let text = format!("fn big() {{\n{body}}}\n");
    let uri = s.open("big.rs", "rust", &text);
    let actions = s.list(&uri, range(0, 0, 302, 0), json!([])).await;
    let command = titled(&actions, "Kimi: Explain selection")["command"].clone();
    let id = run_command(&mut s, &command);
    let err = s.client.response(id).await.unwrap_err();
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    for said in ["too long for `kimi-k2.5`", "context limit is 2000", "Select less code", "`models.action`"] {
        assert!(message.contains(said), "{said:?} missing from {message}");
        assert!(err.message.contains(said), "{said:?} missing from {err:?}");
    }
    let calls = s.standin.chat_requests();
    assert_eq!(calls.len(), 1, "sent again: {calls:?}");
}

/// A notebook's cell alone does not show what it uses: the imports, the data loaded, the
/// helpers defined in the cells above. An action on a cell sends those cells, names the cell,
/// still asks the workspace only for what no cell defines, and edits the cell in its own lines.
#[tokio::test]
async fn an_action_on_a_notebook_cell_sees_the_cells_above_and_edits_the_cell() {
    let mut s = setup(resolve_caps(), Value::Null).await;
    s.open("cleaning.py", "python", "def drop_refunds(frame):\n    return frame[frame.total > 0]\n");
    let notebook = file_uri(&s.dir.path().join("analysis.ipynb"));
    let cells = s.client.open_notebook(
        &notebook,
        &[
            (2, "python", "import pandas as pd\nsales = pd.read_csv(\"sales.csv\")\n"),
            (1, "markdown", "## Totals by region"),
            (2, "python", "def region_share(name):\n    return drop_refunds(sales).groupby(\"region\").total.sum()[name] / totl\n"),
        ],
    );
    let diagnostic = json!({"range": range(1, 78, 1, 82), "message": "\"totl\" is not defined", "source": "Pylance"});
    let actions = s.list(&cells[2], range(1, 78, 1, 82), json!([diagnostic])).await;
    s.standin.push(Reply::text(
        "```python\ndef region_share(name):\n    return drop_refunds(sales).groupby(\"region\").total.sum()[name] / sales.total.sum()\n```",
    ));
    let resolved = s.client.request("codeAction/resolve", titled(&actions, "Kimi: Fix").clone()).await.unwrap();
    let user = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(user.contains("(from `analysis.ipynb, cell 3`)"), "the cell is named in its notebook: {user}");
    assert!(
        user.contains("# The notebook's cells above this one:\n# %%\nimport pandas as pd\nsales = pd.read_csv(\"sales.csv\")\n\n# %% [markdown]\n# ## Totals by region\n"),
        "the cells above are sent as the notebook lays them out: {user}"
    );
    assert!(
        user.contains("# from cleaning.py\ndef drop_refunds(frame): ..."),
        "what the workspace defines is still found, under a Python comment: {user}"
    );
    assert!(!user.contains("# %%\ndef region_share"), "the cell itself is sent once, as the code: {user}");
    let change = &resolved["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], cells[2], "the edit is the cell's: {resolved}");
    assert_eq!(change["edits"][0]["range"], range(1, 0, 2, 0), "in the cell's own lines: {resolved}");
}
