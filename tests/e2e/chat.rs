//! Chat end to end: the real binary over stdio against the stand-in.

use std::path::Path;
use std::time::Duration;

use kimi_test_support::{file_uri, LspClient, Reply, Standin};
use serde_json::{json, Value};

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
}

/// What VS Code and Neovim announce for workspace edits: versioned `documentChanges` and file
/// creation.
fn editor_caps() -> Value {
    json!({"workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"]}}})
}

async fn start(standin: Standin, dir: tempfile::TempDir, data: tempfile::TempDir, options: Value) -> Setup {
    start_with(standin, dir, data, editor_caps(), options).await
}

async fn start_with(
    standin: Standin,
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
    capabilities: Value,
    options: Value,
) -> Setup {
    let base = standin.base_url();
    let data_dir = data.path().to_string_lossy().into_owned();
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", "sk-chat-test"), ("MOONSHOT_BASE_URL", &base), ("KIMI_LSP_DATA_DIR", &data_dir)],
        None,
    );
    client.initialize(capabilities, options, Some(dir.path())).await;
    Setup { standin, client, dir, data }
}

async fn setup(options: Value) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "pub fn answer() -> u32 {\n    41\n}\n").unwrap();
    start(Standin::start().await, dir, tempfile::tempdir().unwrap(), options).await
}

fn of_method<'a>(messages: &'a [Value], method: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["method"] == method).map(|m| &m["params"]).collect()
}

impl Setup {
    /// Sends `kimi/chat` and returns its response and every notification up to `kimi/chatDone`
    /// (notifications and responses travel on separate queues inside the server, so the
    /// response may overtake `chatDone`, but never the deltas, which are sent while the model
    /// is still streaming).
    async fn chat(&mut self, params: Value) -> (Vec<Value>, Result<Value, kimi_test_support::ResponseError>) {
        let calls = self.standin.chat_requests().len();
        let id = self.client.send_request("kimi/chat", params);
        let result = self.client.response(id).await;
        let done = self.client.expect_notification("kimi/chatDone").await;
        // A model call is metered and announced: take that, so shutdown finds nothing unread.
        if self.standin.chat_requests().len() > calls {
            self.client.expect_notification("kimi/usageChanged").await;
        }
        let mut before = self.client.take_unread();
        before.push(json!({"method": "kimi/chatDone", "params": done}));
        (before, result)
    }
}

#[tokio::test]
async fn answers_stream_before_the_response_and_the_second_turn_carries_the_first() {
    let mut s = setup(Value::Null).await;
    s.standin.push(
        Reply::text("unused").chunks(&["The answer ", "is 41,\n", "not 42."]).chunk_delay(Duration::from_millis(150)),
    );
    let id = s.client.send_request("kimi/chat", json!({"message": "What does answer return?", "requestId": "r1"}));
    let first = s.client.expect_notification("kimi/chatDelta").await;
    let early = s.client.take_unread();
    assert!(!early.iter().any(|m| m["id"] == json!(id)), "the answer was not streamed: {early:?}");
    let result = s.client.response(id).await.unwrap();
    s.client.expect_notification("kimi/chatDone").await;
    s.client.expect_notification("kimi/usageChanged").await;
    let mut before = vec![json!({"method": "kimi/chatDelta", "params": first})];
    before.extend(s.client.take_unread());
    let deltas = of_method(&before, "kimi/chatDelta");
    assert_eq!(deltas.iter().map(|d| d["text"].as_str().unwrap()).collect::<String>(), "The answer is 41,\nnot 42.");
    assert!(deltas.len() >= 3, "one notification per chunk: {deltas:?}");
    let session = result["sessionId"].as_str().unwrap().to_string();
    assert!(deltas.iter().all(|d| d["sessionId"] == session.as_str() && d["requestId"] == "r1"));
    assert_eq!(result["text"], "The answer is 41,\nnot 42.");
    assert!(result["usage"]["totalTokens"].as_u64().unwrap() > 0, "{result}");

    s.standin.push(Reply::text("Because it is off by one."));
    let (_, second) = s.chat(json!({"message": "Why?", "sessionId": session})).await;
    assert_eq!(second.unwrap()["sessionId"], session.as_str());
    let sent = &s.standin.chat_requests()[1]["messages"];
    let texts: Vec<(&str, &str)> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        texts,
        vec![("user", "What does answer return?"), ("assistant", "The answer is 41,\nnot 42."), ("user", "Why?")]
    );

    let sessions = s.client.request("kimi/chatSessions", Value::Null).await.unwrap();
    assert_eq!(sessions["sessions"][0]["id"], session.as_str());
    assert_eq!(sessions["sessions"][0]["turns"], 2);
    assert_eq!(sessions["sessions"][0]["title"], "What does answer return?");

    // A new server on the same data directory still has the conversation, and gives it to a
    // client reopening the session.
    let Setup { standin, client, dir, data } = s;
    client.shutdown().await;
    let mut s = start(standin, dir, data, Value::Null).await;
    let reopened = s.client.request("kimi/chatSession", json!({"sessionId": session})).await.unwrap();
    assert_eq!(reopened["sessionId"], session.as_str());
    assert_eq!(reopened["title"], "What does answer return?");
    let turns: Vec<(&str, &str)> = reopened["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["role"].as_str().unwrap(), t["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        vec![
            ("user", "What does answer return?"),
            ("assistant", "The answer is 41,\nnot 42."),
            ("user", "Why?"),
            ("assistant", "Because it is off by one."),
        ]
    );
    assert!(reopened["updatedUnixMs"].as_i64().unwrap() >= reopened["createdUnixMs"].as_i64().unwrap());
    let unknown = s.client.request("kimi/chatSession", json!({"sessionId": "no-such-session"})).await.unwrap_err();
    assert_eq!(unknown.code, -32602);
    assert!(unknown.message.contains("no chat session `no-such-session`"), "{unknown:?}");
    let bad = s.client.request("kimi/chatSession", json!({"sessionId": "../secrets"})).await.unwrap_err();
    assert!(bad.message.contains("is not a session id"), "{bad:?}");
    s.standin.push(Reply::text("Still here."));
    let (_, third) = s.chat(json!({"message": "Recap?", "sessionId": session})).await;
    third.unwrap();
    let sent = s.standin.chat_requests().last().unwrap()["messages"].clone();
    assert_eq!(sent.as_array().unwrap().len(), 6, "system + two turns + the question: {sent}");
}

/// A `sessionId` the server has no session for (its file deleted, another data directory) is
/// refused as the contract says, with nothing sent: answered as a new conversation, it left the
/// user believing the model remembered the earlier turns.
#[tokio::test]
async fn a_session_the_server_does_not_have_is_refused_before_anything_is_sent() {
    let mut s = setup(Value::Null).await;
    let id = s.client.send_request("kimi/chat", json!({"message": "And then?", "sessionId": "19a0-1f2-0"}));
    let err = s.client.response(id).await.unwrap_err();
    assert_eq!(err.code, -32602, "{err:?}");
    assert!(err.message.contains("no chat session `19a0-1f2-0`"), "{err:?}");
    assert!(err.message.contains("without `sessionId` starts a new one"), "{err:?}");
    assert!(s.standin.chat_requests().is_empty(), "nothing may be sent for it");
    let sessions = s.client.request("kimi/chatSessions", Value::Null).await.unwrap();
    assert_eq!(sessions["sessions"], json!([]), "no session was made up for it");
    // Left out, the chat starts a new session, which the next request continues.
    s.standin.push(Reply::text("A new start."));
    let (_, first) = s.chat(json!({"message": "Hello?"})).await;
    let session = first.unwrap()["sessionId"].as_str().unwrap().to_string();
    s.standin.push(Reply::text("Still here."));
    let (_, second) = s.chat(json!({"message": "And then?", "sessionId": session})).await;
    assert_eq!(second.unwrap()["text"], "Still here.");
    assert!(s.client.shutdown().await.success());
}

/// Sessions are said to survive a restart: when they cannot be written (the data directory's
/// `chats` is not a directory here), the answer still arrives, and the user is told, once, that
/// the conversation will not survive and what to do; before, only the log said so.
#[tokio::test]
async fn a_session_that_cannot_be_saved_is_answered_and_the_user_is_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("chats"), "not a directory").unwrap();
    let mut s = start(Standin::start().await, dir, data, Value::Null).await;
    s.standin.push(Reply::text("Hello."));
    let (messages, first) = s.chat(json!({"message": "Hi?"})).await;
    let session = first.unwrap()["sessionId"].as_str().unwrap().to_string();
    let shown = of_method(&messages, "window/showMessage");
    assert_eq!(shown.len(), 1, "{messages:?}");
    assert_eq!(shown[0]["type"], 2, "a warning: {shown:?}");
    let message = shown[0]["message"].as_str().unwrap();
    assert!(message.contains("cannot be saved") && message.contains("will not survive a restart"), "{message}");
    assert!(message.contains("KIMI_LSP_DATA_DIR"), "{message}");
    // The conversation goes on in memory, without the same note at every answer.
    s.standin.push(Reply::text("Still here."));
    let (messages, second) = s.chat(json!({"message": "And?", "sessionId": session})).await;
    assert_eq!(second.unwrap()["text"], "Still here.");
    assert!(of_method(&messages, "window/showMessage").is_empty(), "{messages:?}");
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn the_model_reads_a_workspace_file_and_a_path_outside_is_refused() {
    let mut s = setup(Value::Null).await;
    s.standin.push(Reply::tool_calls(&[
        ("read_file", r#"{"path":"lib.rs"}"#),
        ("read_file", r#"{"path":"../../etc/passwd"}"#),
    ]));
    s.standin.push(Reply::text("It returns 41."));
    let (before, result) = s.chat(json!({"message": "What does lib.rs return?"})).await;
    assert_eq!(result.unwrap()["text"], "It returns 41.");
    let tools = of_method(&before, "kimi/chatTool");
    let statuses: Vec<(&str, &str)> =
        tools.iter().map(|t| (t["arguments"]["path"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(
        statuses,
        vec![
            ("lib.rs", "started"),
            ("lib.rs", "done"),
            ("../../etc/passwd", "started"),
            ("../../etc/passwd", "refused")
        ]
    );
    assert!(tools[3]["summary"].as_str().unwrap().contains("outside the workspace"), "{:?}", tools[3]);
    let second = &s.standin.chat_requests()[1]["messages"];
    let results: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(results[0].contains("    2      41"), "{results:?}");
    assert!(results[1].starts_with("refused:") && !results[1].contains("root:"), "{results:?}");
}

/// A model may name any file of the workspace. A named pipe blocked the tool (and the answer)
/// until something was written to it, and a data file of gigabytes was read into memory whole
/// (the size here is sparse: nothing is written). Both are refused at once, saying why.
#[tokio::test]
async fn a_pipe_or_a_huge_file_is_refused_to_the_model_without_reading_it() {
    let mut s = setup(Value::Null).await;
    let pipe = s.dir.path().join("events.log");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let huge = std::fs::File::create(s.dir.path().join("dump.sql")).unwrap();
    huge.set_len(33 * 1024 * 1024).unwrap();
    s.standin
        .push(Reply::tool_calls(&[("read_file", r#"{"path":"events.log"}"#), ("read_file", r#"{"path":"dump.sql"}"#)]));
    s.standin.push(Reply::text("Neither can be read."));
    let (before, result) = s.chat(json!({"message": "What do the logs say?"})).await;
    assert_eq!(result.unwrap()["text"], "Neither can be read.");
    let tools = of_method(&before, "kimi/chatTool");
    let refused: Vec<&str> =
        tools.iter().filter(|t| t["status"] == "refused").map(|t| t["summary"].as_str().unwrap()).collect();
    assert_eq!(refused.len(), 2, "{tools:?}");
    assert!(refused[0].contains("not a regular file"), "{refused:?}");
    assert!(refused[1].contains("33 MiB, more than the 32 MiB"), "{refused:?}");
}

#[tokio::test]
async fn propose_edit_asks_the_editor_to_apply_a_workspace_edit() {
    let mut s = setup(Value::Null).await;
    let uri = file_uri(&s.dir.path().join("lib.rs"));
    s.client.did_open(&uri, "rust", 3, "pub fn answer() -> u32 {\n    41\n}\n");
    s.standin.push(Reply::tool_call("propose_edit", r#"{"path":"lib.rs","old_text":"41","new_text":"42"}"#));
    s.standin.push(Reply::text("Fixed."));
    let id = s.client.send_request("kimi/chat", json!({"message": "Make it 42", "textDocument": {"uri": uri}}));
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["version"], 3, "pinned to the open version");
    assert_eq!(
        change["edits"][0],
        json!({"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 6}}, "newText": "42"})
    );
    s.client.reply(req, json!({"applied": true}));
    assert_eq!(s.client.response(id).await.unwrap()["text"], "Fixed.");
    let prompt = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains("The current file, `lib.rs` (3 lines):\n```rust\npub fn answer()"), "{prompt}");
    let tool_result =
        s.standin.chat_requests()[1]["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap()
            ["content"]
            .clone();
    assert_eq!(tool_result, "the editor applied the edit");
}

/// The model quotes a `\r\n` file with `\n` (its tools show lines); the edit is found anyway and
/// keeps the file's line breaks.
#[tokio::test]
async fn propose_edit_in_a_crlf_file_matches_the_quote_and_writes_crlf() {
    let mut s = setup(Value::Null).await;
    let text = "fn f() {\r\n    let x = 1;\r\n    let y = 2;\r\n}\r\n";
    std::fs::write(s.dir.path().join("crlf.rs"), text).unwrap();
    let uri = file_uri(&s.dir.path().join("crlf.rs"));
    s.client.did_open(&uri, "rust", 1, text);
    s.standin.push(Reply::tool_call("read_file", r#"{"path":"crlf.rs"}"#));
    s.standin.push(Reply::tool_call(
        "propose_edit",
        r#"{"path":"crlf.rs","old_text":"    let x = 1;\n    let y = 2;\n","new_text":"    let x = 10;\n    let y = 20;\n"}"#,
    ));
    s.standin.push(Reply::text("Done."));
    let id = s.client.send_request("kimi/chat", json!({"message": "Multiply by ten"}));
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(
        change["edits"][0],
        json!({"range": {"start": {"line": 1, "character": 0}, "end": {"line": 3, "character": 0}}, "newText": "    let x = 10;\r\n    let y = 20;\r\n"})
    );
    s.client.reply(req, json!({"applied": true}));
    assert_eq!(s.client.response(id).await.unwrap()["text"], "Done.");
}

/// An editor that takes no `documentChanges` gets plain `changes`; one that cannot create files
/// is never sent a new file: the model is told to ask the user to create it.
#[tokio::test]
async fn propose_edit_honours_what_the_editor_takes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "pub fn answer() -> u32 {\n    41\n}\n").unwrap();
    let caps = json!({"workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": false}}});
    let mut s = start_with(Standin::start().await, dir, tempfile::tempdir().unwrap(), caps, Value::Null).await;
    s.standin.push(Reply::tool_calls(&[
        ("propose_edit", r#"{"path":"new.rs","new_text":"fn n() {}\n"}"#),
        ("propose_edit", r#"{"path":"lib.rs","old_text":"41","new_text":"42"}"#),
    ]));
    s.standin.push(Reply::text("Fixed."));
    let id = s.client.send_request("kimi/chat", json!({"message": "Make it 42 and add new.rs"}));
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    let uri = file_uri(&s.dir.path().join("lib.rs"));
    assert!(params["edit"].get("documentChanges").is_none(), "{params}");
    assert_eq!(
        params["edit"]["changes"],
        json!({uri: [{"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 6}}, "newText": "42"}]})
    );
    s.client.reply(req, json!({"applied": true}));
    assert_eq!(s.client.response(id).await.unwrap()["text"], "Fixed.");
    let tools = tool_results(&s.standin.chat_requests()[1]);
    assert!(tools[0].contains("does not let kimi-lsp create files") && tools[0].contains("ask the user"), "{tools:?}");
    assert_eq!(tools[1], "the editor applied the edit");
    assert!(!s.dir.path().join("new.rs").exists());
}

/// Two edits of one open file in a row, for an editor without `documentChanges` that answers
/// `workspace/applyEdit` before it reports the change: the second edit is placed in the text the
/// first one made, never in the text before it (the editor would apply it there unchecked).
#[tokio::test]
async fn a_second_edit_waits_for_the_editor_to_report_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let text = "pub fn answer() -> u32 {\n    41\n}\n";
    std::fs::write(dir.path().join("lib.rs"), text).unwrap();
    let caps = json!({"workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": false}}});
    let mut s = start_with(Standin::start().await, dir, tempfile::tempdir().unwrap(), caps, Value::Null).await;
    let uri = file_uri(&s.dir.path().join("lib.rs"));
    s.client.did_open(&uri, "rust", 1, text);
    s.standin.push(Reply::tool_calls(&[
        ("propose_edit", r#"{"path":"lib.rs","old_text":"41","new_text":"40 + 1"}"#),
        ("propose_edit", r#"{"path":"lib.rs","old_text":"+ 1","new_text":"+ 2"}"#),
    ]));
    s.standin.push(Reply::text("Done."));
    let id = s.client.send_request("kimi/chat", json!({"message": "Make it 42, in two steps"}));
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    let line =
        |from: u32, to: u32| json!({"start": {"line": 1, "character": from}, "end": {"line": 1, "character": to}});
    assert_eq!(params["edit"]["changes"], json!({&uri: [{"range": line(4, 6), "newText": "40 + 1"}]}));
    s.client.reply(req, json!({"applied": true}));
    // The editor reports the change a moment after its reply: nothing may be sent meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = s.client.take_unread();
    assert!(!early.iter().any(|m| m["method"] == "workspace/applyEdit"), "{early:?}");
    s.client.did_change(&uri, 2, json!({"range": line(4, 6), "text": "40 + 1"}));
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    assert_eq!(params["edit"]["changes"], json!({&uri: [{"range": line(7, 10), "newText": "+ 2"}]}));
    s.client.reply(req, json!({"applied": true}));
    s.client.did_change(&uri, 3, json!({"range": line(7, 10), "text": "+ 2"}));
    assert_eq!(s.client.response(id).await.unwrap()["text"], "Done.");
    assert_eq!(
        tool_results(&s.standin.chat_requests()[1]),
        ["the editor applied the edit", "the editor applied the edit"]
    );
}

/// An editor that reports an applied edit at the version it already had: by reloading the
/// buffer (`didClose`, then `didOpen` of the edited text at the same version), or by a
/// `didChange` that repeats the version. The chat goes on as soon as the edit is reported, not
/// after the two seconds an editor that never reports it is given.
#[tokio::test]
async fn an_edit_reported_at_the_same_version_is_not_waited_for() {
    for reload in [true, false] {
        let mut s = setup(Value::Null).await;
        let uri = file_uri(&s.dir.path().join("lib.rs"));
        s.client.did_open(&uri, "rust", 3, "pub fn answer() -> u32 {\n    41\n}\n");
        s.standin.push(Reply::tool_call("propose_edit", r#"{"path":"lib.rs","old_text":"41","new_text":"42"}"#));
        s.standin.push(Reply::text("Fixed."));
        let id = s.client.send_request("kimi/chat", json!({"message": "Make it 42", "textDocument": {"uri": uri}}));
        let (req, _) = s.client.expect_server_request("workspace/applyEdit").await;
        let edited = "pub fn answer() -> u32 {\n    42\n}\n";
        match reload {
            true => {
                s.client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
                s.client.did_open(&uri, "rust", 3, edited);
            }
            false => s.client.did_change(&uri, 3, json!([{"text": edited}])),
        }
        let reported = std::time::Instant::now();
        s.client.reply(req, json!({"applied": true}));
        assert_eq!(s.client.response(id).await.unwrap()["text"], "Fixed.");
        let waited = reported.elapsed();
        assert!(waited < Duration::from_millis(1500), "reload {reload}: the answer came {waited:?} after the report");
        assert_eq!(tool_results(&s.standin.chat_requests()[1]), ["the editor applied the edit"]);
    }
}

/// An answer that reaches `chat.maxTokens` says so where the user reads it, after the code
/// block it was cut off in; tool calls cut off with it are not run.
#[tokio::test]
async fn an_answer_cut_off_at_its_length_limit_ends_with_a_note_saying_so() {
    let mut s = setup(json!({"chat": {"maxTokens": 300}})).await;
    s.standin.push(Reply::text("Like this:\n```rust\nfn half(x: u32) -> u32 {\n    x /").finish_reason("length"));
    let (before, result) = s.chat(json!({"message": "Write half"})).await;
    let text = result.unwrap()["text"].as_str().unwrap().to_string();
    let deltas: String = of_method(&before, "kimi/chatDelta").iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(deltas, text, "the note is streamed like the answer");
    assert_eq!(
        text,
        "Like this:\n```rust\nfn half(x: u32) -> u32 {\n    x /\n```\n\n> **Cut off:** the answer reached the length limit (300 tokens, `chat.maxTokens`) and stops here. Ask Kimi to continue, or raise `chat.maxTokens`.\n"
    );
    assert_eq!(s.standin.chat_requests()[0]["max_tokens"], 300);

    s.standin.push(Reply::tool_call("read_file", r#"{"path":"lib.rs"}"#).finish_reason("length"));
    let (before, result) = s.chat(json!({"message": "Read lib.rs"})).await;
    assert!(result.unwrap()["text"].as_str().unwrap().contains("**Cut off:**"));
    assert!(of_method(&before, "kimi/chatTool").is_empty(), "a cut-off tool call is not run: {before:?}");
    assert_eq!(s.standin.chat_requests().len(), 2, "and no second round");
}

#[tokio::test]
async fn cancelling_closes_the_upstream_stream() {
    let mut s = setup(Value::Null).await;
    s.standin.push(Reply::text("one two three four five six").chunk_delay(Duration::from_millis(400)));
    let id = s.client.send_request("kimi/chat", json!({"message": "Take your time"}));
    s.client.expect_notification("kimi/chatDelta").await;
    s.client.cancel(id);
    let err = s.client.response(id).await.unwrap_err();
    assert_eq!(err.code, -32800, "{err:?}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
}

#[tokio::test]
async fn images_go_upstream_as_image_parts_or_get_a_clear_error() {
    let mut s = setup(Value::Null).await;
    std::fs::write(s.dir.path().join("shot.png"), b"\x89PNG").unwrap();
    s.standin.push(Reply::text("A PNG header."));
    let (_, result) = s.chat(json!({"message": "What is this?", "images": ["shot.png"]})).await;
    result.unwrap();
    let user = &s.standin.chat_requests()[0]["messages"][1]["content"];
    assert_eq!(user[1], json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}));
    // A data URL whose data is not base64 is refused here, not sent for the provider to refuse.
    let (_, result) = s.chat(json!({"message": "What is this?", "images": ["data:image/png;base64,@@@"]})).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, -32602, "{err:?}");
    assert!(err.message.contains("not valid base64") && err.message.contains("`data:image/png;base64,`"), "{err:?}");
    assert_eq!(s.standin.chat_requests().len(), 1, "nothing more was sent");

    let mut s = setup(json!({"models": {"chat": "kimi-k2-turbo-preview"}})).await;
    std::fs::write(s.dir.path().join("shot.png"), b"\x89PNG").unwrap();
    let (_, result) = s.chat(json!({"message": "What is this?", "images": ["shot.png"]})).await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("`kimi-k2-turbo-preview` does not accept images") && err.message.contains("kimi-k2.5"),
        "{err:?}"
    );
    assert!(s.standin.chat_requests().is_empty());
}

/// Applies a `workspace/applyEdit` edit of one document to `text`, positions in UTF-8 bytes.
fn apply_utf8(text: &mut String, edit: &Value) {
    let offset = |pos: &Value| {
        let line = pos["line"].as_u64().unwrap() as usize;
        let col = pos["character"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        start + col
    };
    let (start, end) = (offset(&edit["range"]["start"]), offset(&edit["range"]["end"]));
    text.replace_range(start..end, edit["newText"].as_str().unwrap());
}

/// Reports edits the editor applied, as the next version of the document.
fn report_applied(client: &mut LspClient, uri: &str, version: &mut i32, edits: &[Value]) {
    *version += 1;
    let changes: Vec<Value> = edits.iter().map(|e| json!({"range": e["range"], "text": e["newText"]})).collect();
    client.did_change(uri, *version, json!(changes));
}

/// Plays Helix's part for one `workspace/applyEdit` to the chat file: applies it to the local
/// copy, replies, then reports the change (the reply first, the harder order for the server).
/// Returns its edits.
async fn apply_next(client: &mut LspClient, uri: &str, text: &mut String, version: &mut i32) -> Vec<Value> {
    let (id, params) = client.expect_server_request("workspace/applyEdit").await;
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], uri);
    assert_eq!(change["textDocument"]["version"], *version, "pinned to the version the editor has");
    let edits = change["edits"].as_array().unwrap().clone();
    for e in &edits {
        apply_utf8(text, e);
    }
    client.reply(id, json!({"applied": true}));
    report_applied(client, uri, version, &edits);
    edits
}

/// Applies the edits the server streams into the chat file until the next question's heading
/// has been added; returns each request's edits.
async fn stream_into(client: &mut LspClient, uri: &str, text: &mut String, version: &mut i32) -> Vec<Vec<Value>> {
    let questions = text.matches("## You").count();
    let mut requests = Vec::new();
    while !(text.matches("## You").count() > questions && text.ends_with("## You\n\n")) {
        requests.push(apply_next(client, uri, text, version).await);
    }
    requests
}

/// Runs "Ask Kimi" (`workspace/executeCommand` with `command`) as Helix does, handling
/// `workspace/applyEdit` while the command is open: the answer's `## Kimi` heading comes first,
/// and the command answers only after the editor replied to it (Emacs' jsonrpc would leave an
/// edit sent right behind the command's reply unread). Returns the command's result.
async fn ask_chat_file(
    client: &mut LspClient,
    command: Value,
    uri: &str,
    text: &mut String,
    version: &mut i32,
) -> Value {
    let run = client.send_request("workspace/executeCommand", command);
    let (id, params) = client.expect_server_request("workspace/applyEdit").await;
    let early = client.take_unread();
    assert!(
        !early.iter().any(|m| m["id"] == json!(run) && m.get("method").is_none()),
        "the command answered before its heading was applied: {early:?}"
    );
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], uri);
    assert_eq!(change["textDocument"]["version"], *version);
    let edits = change["edits"].as_array().unwrap().clone();
    for e in &edits {
        apply_utf8(text, e);
    }
    assert!(text.ends_with("## Kimi\n\n"), "the first edit is the heading: {text:?}");
    client.reply(id, json!({"applied": true}));
    let result = client.response(run).await.unwrap();
    report_applied(client, uri, version, &edits);
    result
}

/// The first code action listed at the start of `uri`.
async fn first_action(client: &mut LspClient, uri: &str) -> Value {
    let id = client.send_request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}),
    );
    client.response(id).await.unwrap()[0].clone()
}

/// Waits for the end of an answer: the action to ask again replaces the one to stop.
async fn wait_until_answered(client: &mut LspClient, uri: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let action = first_action(client, uri).await;
        if action["title"] == "Ask Kimi" {
            return;
        }
        assert_eq!(action["title"], "Stop Kimi's answer", "{action}");
        assert!(std::time::Instant::now() < deadline, "still answering");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client that asks what Helix asks for: UTF-8 positions first, workspace edits, code action
/// literals, and no inline completion or custom methods.
async fn helix(standin: &Standin, dir: &Path, data: &Path) -> (LspClient, Value) {
    helix_with(standin, dir, data, Value::Null).await
}

async fn helix_with(standin: &Standin, dir: &Path, data: &Path, options: Value) -> (LspClient, Value) {
    let (base, data_dir) = (standin.base_url(), data.to_string_lossy().into_owned());
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", "sk-chat-test"), ("MOONSHOT_BASE_URL", &base), ("KIMI_LSP_DATA_DIR", &data_dir)],
        None,
    );
    // What Helix sends: UTF-8 positions first, workspace edits, code action literals, and no
    // inline completion or custom methods.
    let caps = json!({
        "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
        "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}},
        "textDocument": {"codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": [
            "", "quickfix", "refactor", "refactor.extract", "refactor.inline", "refactor.rewrite", "source", "source.organizeImports"
        ]}}}},
    });
    let init = client.initialize(caps, options, Some(dir)).await;
    (client, init)
}

#[tokio::test]
async fn a_helix_like_editor_gets_the_answer_streamed_into_the_chat_file() {
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut client, init) = helix(&standin, dir.path(), data.path()).await;
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    assert!(init["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap()
        .contains(&json!("kimi.askChatFile")));

    let uri = file_uri(&dir.path().join("notes.kimi.md"));
    let mut text = "What is a monad?\n\n## Kimi\n\nA monoid in the category of endofunctors.\n\n## You\n\nAnd in Rust, café-style?\n".to_string();
    let mut version = 1;
    client.did_open(&uri, "markdown", version, &text);

    let rust_uri = file_uri(&dir.path().join("lib.rs"));
    client.did_open(&rust_uri, "rust", 1, "fn main() {}\n");
    let listed = |client: &mut LspClient, uri: &str| {
        client.send_request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}),
        )
    };
    let id = listed(&mut client, &rust_uri);
    let rust_actions = client.response(id).await.unwrap();
    assert!(!rust_actions.to_string().contains("kimi.askChatFile"), "only chat files are asked: {rust_actions}");

    let id = listed(&mut client, &uri);
    let actions = client.response(id).await.unwrap();
    let ask = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Ask Kimi")
        .unwrap_or_else(|| panic!("no Ask Kimi in {actions}"))
        .clone();
    assert_eq!(ask["kind"], "source.kimi");

    let answer = [
        "Use `Option` and `?`:\n",
        "\n",
        "\n```rust\nfn half(x: u32) -> Option<u32> {\n",
        "    (x % 2 == 0).then(|| x / 2)\n}\n```\n\n",
        "That is all — «voilà».",
    ];
    standin.push(Reply::text("unused").chunks(&answer).chunk_delay(Duration::from_millis(150)));
    let before = text.clone();
    let command = json!({"command": ask["command"]["command"], "arguments": ask["command"]["arguments"]});
    let result = ask_chat_file(&mut client, command, &uri, &mut text, &mut version).await;
    assert_eq!(result, Value::Null, "the command returns once the heading is in, before the answer");
    let requests = stream_into(&mut client, &uri, &mut text, &mut version).await;
    assert_eq!(
        text,
        format!("{before}\n## Kimi\n\n{}\n\n## You\n\n", answer.concat()),
        "every newline of the answer is kept"
    );
    let answer_edits = requests.len() - 1;
    assert!(answer_edits >= 2, "the answer was streamed, not sent whole: {requests:?}");
    assert!(answer_edits <= answer.len(), "{requests:?}");

    let sent = &standin.chat_requests()[0]["messages"];
    let turns: Vec<(&str, &str)> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        vec![
            ("user", "What is a monad?"),
            ("assistant", "A monoid in the category of endofunctors."),
            ("user", "And in Rust, café-style?"),
        ],
        "the last question, with the earlier turns as history"
    );

    wait_until_answered(&mut client, &uri).await;

    // The user types the next question; a fast stream arrives in a few batches, not one edit
    // per token.
    let end_line = text.matches('\n').count();
    version += 1;
    client.did_change(
        &uri,
        version,
        json!({"range": {"start": {"line": end_line, "character": 0}, "end": {"line": end_line, "character": 0}}, "text": "Count to forty.\n"}),
    );
    text.push_str("Count to forty.\n");
    let words: Vec<String> = (1..=40).map(|n| format!("{n}\n")).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    standin.push(Reply::text("unused").chunks(&words));
    let before = text.clone();
    let ask = json!({"command": "kimi.askChatFile", "arguments": [{"uri": uri}]});
    ask_chat_file(&mut client, ask, &uri, &mut text, &mut version).await;
    let requests = stream_into(&mut client, &uri, &mut text, &mut version).await;
    assert_eq!(text, format!("{before}\n## Kimi\n\n{}\n## You\n\n", words.concat()));
    assert!(requests.len() <= 6, "40 fast tokens in {} edits", requests.len());
    assert_eq!(
        standin.chat_requests()[1]["messages"].as_array().unwrap().len(),
        6,
        "system, two answered turns, the question"
    );
    wait_until_answered(&mut client, &uri).await;

    // Nothing left to answer: the user is told what to do, and the file is untouched.
    let run = client
        .send_request("workspace/executeCommand", json!({"command": "kimi.askChatFile", "arguments": [{"uri": uri}]}));
    let err = client.response(run).await.unwrap_err();
    assert!(err.message.contains("no question to answer"), "{err:?}");
    let shown = client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("under the last `## You` heading"), "{shown}");
    assert!(
        !client
            .take_unread()
            .iter()
            .any(|m| m["method"] == "workspace/applyEdit" || m["method"] == "window/showMessage"),
        "no edit and no other message"
    );
    assert_eq!(standin.chat_requests().len(), 2);
}

#[tokio::test]
async fn stopping_keeps_what_arrived_and_a_failure_leaves_the_question_to_ask_again() {
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut client, _) = helix(&standin, dir.path(), data.path()).await;
    let uri = file_uri(&dir.path().join("q.kimi.md"));
    let question = "## You\n\nWhy is the sky blue?";
    let mut text = question.to_string();
    let mut version = 1;
    client.did_open(&uri, "markdown", version, &text);

    standin.push(Reply::error(kimi_test_support::ApiError::InsufficientBalance));
    let ask = json!({"command": "kimi.askChatFile", "arguments": [{"uri": uri}]});
    let run = client.send_request("workspace/executeCommand", ask.clone());
    // The heading goes in at once, and comes out again when no answer follows; the command
    // answers in between.
    for expected in [format!("{question}\n\n## Kimi\n\n"), question.to_string()] {
        let (id, params) = client.expect_server_request("workspace/applyEdit").await;
        let change = &params["edit"]["documentChanges"][0];
        assert_eq!(change["textDocument"]["version"], version);
        for e in change["edits"].as_array().unwrap() {
            apply_utf8(&mut text, e);
            version += 1;
            client.did_change(&uri, version, json!({"range": e["range"], "text": e["newText"]}));
        }
        client.reply(id, json!({"applied": true}));
        assert_eq!(text, expected);
    }
    client.response(run).await.unwrap();
    let shown = client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 1, "an error: {shown}");
    assert!(shown["message"].as_str().unwrap().contains("no quota left"), "{shown}");
    wait_until_answered(&mut client, &uri).await;

    standin.push(
        Reply::text("unused")
            .chunks(&["Rayleigh scattering.\n", "Shorter ", "wavelengths ", "scatter ", "more."])
            .chunk_delay(Duration::from_millis(400)),
    );
    let run = client.send_request("workspace/executeCommand", ask);
    let mut edits = 0;
    while !text.contains("Rayleigh") {
        let (id, params) = client.expect_server_request("workspace/applyEdit").await;
        let e = &params["edit"]["documentChanges"][0]["edits"][0];
        apply_utf8(&mut text, e);
        client.reply(id, json!({"applied": true}));
        version += 1;
        client.did_change(&uri, version, json!({"range": e["range"], "text": e["newText"]}));
        edits += 1;
    }
    assert!(edits <= 2, "the heading, then the first line");
    client.response(run).await.unwrap();
    let stop = first_action(&mut client, &uri).await;
    assert_eq!(stop["title"], "Stop Kimi's answer");
    client
        .request(
            "workspace/executeCommand",
            json!({"command": stop["command"]["command"], "arguments": stop["command"]["arguments"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await,
        1,
        "stopping closes the model's stream"
    );
    let before = text.clone();
    stream_into(&mut client, &uri, &mut text, &mut version).await;
    assert!(text.starts_with(&before));
    assert!(text.ends_with("\n## You\n\n"), "{text:?}");
    assert!(!text.contains("more."), "the rest was not waited for: {text:?}");
    wait_until_answered(&mut client, &uri).await;
}

/// The text of the `tool` messages of an upstream request, in order.
fn tool_results(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn get_diagnostics_reports_the_editors_and_the_parsers_problems_inside_the_workspace_only() {
    let mut s = setup(Value::Null).await;
    let bad = "fn total(xs: &[u32]) -> u32 {\n    let sum = xs.iter().sum()\n    sum\n}\n";
    std::fs::write(s.dir.path().join("bad.rs"), bad).unwrap();
    std::fs::write(s.dir.path().join(".env"), "TOKEN=hunter2\n").unwrap();
    let uri = file_uri(&s.dir.path().join("bad.rs"));
    s.client.did_open(&uri, "rust", 4, bad);
    // Another server's diagnostic reaches kimi-lsp inside a code-action request.
    let unused = json!({"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 7}},
        "severity": 1, "source": "rustc", "code": "E0282", "message": "type annotations needed"});
    s.client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}},
                "context": {"diagnostics": [unused]}}),
        )
        .await
        .unwrap();

    s.standin.push(Reply::tool_calls(&[
        ("get_diagnostics", r#"{"path":"bad.rs"}"#),
        ("get_diagnostics", r#"{"path":"../../etc/hostname"}"#),
        ("get_diagnostics", r#"{"path":".env"}"#),
    ]));
    s.standin.push(Reply::text("Line 2 lacks a semicolon."));
    let (before, result) = s.chat(json!({"message": "What is wrong here?", "textDocument": {"uri": uri}})).await;
    assert_eq!(result.unwrap()["text"], "Line 2 lacks a semicolon.");

    // The chat prompt already names the file's problems, labelled by where they come from.
    let prompt = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(
        prompt.contains(
            "Diagnostics the editor reports for `bad.rs`:\n- line 3: error: type annotations needed (rustc E0282)\n\nSyntax errors tree-sitter finds in `bad.rs`:\n- line 2: missing `;`"
        ),
        "{prompt}"
    );
    let tools = of_method(&before, "kimi/chatTool");
    let statuses: Vec<(&str, &str)> =
        tools.iter().map(|t| (t["arguments"]["path"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(
        statuses,
        vec![
            ("bad.rs", "started"),
            ("bad.rs", "done"),
            ("../../etc/hostname", "started"),
            ("../../etc/hostname", "refused"),
            (".env", "started"),
            (".env", "refused"),
        ]
    );
    assert_eq!(tools[1]["summary"], "diagnostics of bad.rs (1 from the editor, 1 syntax error)");
    let results = tool_results(&s.standin.chat_requests()[1]);
    assert_eq!(
        results[0],
        "Diagnostics of bad.rs:\nFrom the editor (its language servers):\n- line 3: error: type annotations needed (rustc E0282)\nSyntax errors found by tree-sitter (Rust grammar):\n- line 2: missing `;`\n"
    );
    assert!(results[1].starts_with("refused:") && results[1].contains("outside the workspace"), "{results:?}");
    assert!(results[2].contains("secrets") && !results[2].contains("hunter2"), "{results:?}");
}

/// The tools see an open document as the editor has it, also right after an edit, before
/// anything reparsed it: the syntax errors are those of the unsaved text.
#[tokio::test]
async fn get_diagnostics_parses_the_unsaved_text_of_an_edited_document() {
    let mut s = setup(Value::Null).await;
    let good = "fn total(xs: &[u32]) -> u32 {\n    let sum = xs.iter().sum();\n    sum\n}\n";
    std::fs::write(s.dir.path().join("lib.rs"), good).unwrap();
    let uri = file_uri(&s.dir.path().join("lib.rs"));
    s.client.did_open(&uri, "rust", 1, good);
    // Delete the `;` of line 2.
    s.client.did_change(
        &uri,
        2,
        json!([{"range": {"start": {"line": 1, "character": 29}, "end": {"line": 1, "character": 30}}, "text": ""}]),
    );
    s.standin
        .push(Reply::tool_calls(&[("get_diagnostics", r#"{"path":"lib.rs"}"#), ("read_file", r#"{"path":"lib.rs"}"#)]));
    s.standin.push(Reply::text("Line 2 lacks a semicolon."));
    let (_, result) = s.chat(json!({"message": "Does lib.rs parse?"})).await;
    assert_eq!(result.unwrap()["text"], "Line 2 lacks a semicolon.");
    let results = tool_results(&s.standin.chat_requests()[1]);
    assert!(results[0].contains("- line 2: missing `;`"), "{results:?}");
    assert!(results[1].contains("let sum = xs.iter().sum()\n"), "{results:?}");
}

#[tokio::test]
async fn a_selection_in_a_large_file_sends_its_function_imports_and_the_definitions_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("src/ledger.rs"),
        "pub struct Ledger { entries: Vec<i64> }\n\nimpl Ledger {\n    pub fn balance(&self) -> i64 {\n        self.entries.iter().sum()\n    }\n}\n",
    )
    .unwrap();
    let filler: String = (0..400)
        .map(|i| format!("pub fn report_{i}(out: &mut String) {{\n    out.push_str(\"{i}\");\n}}\n\n"))
        .collect();
    let main = format!(
        "use crate::ledger::Ledger;\n\n{filler}pub fn overdrawn(ledger: &Ledger) -> bool {{\n    let b = ledger.balance();\n    b < 0\n}}\n"
    );
    std::fs::write(dir.path().join("src/main.rs"), &main).unwrap();
    let mut s = start(Standin::start().await, dir, tempfile::tempdir().unwrap(), Value::Null).await;
    s.client.wait_for_stderr("workspace indexed").await;
    let uri = file_uri(&s.dir.path().join("src/main.rs"));
    s.client.did_open(&uri, "rust", 1, &main);
    let line = main.lines().position(|l| l.contains("ledger.balance()")).unwrap() as u32;

    s.standin.push(Reply::text("Only when the entries sum below zero."));
    let (_, result) = s
        .chat(json!({"message": "When is this true?", "textDocument": {"uri": uri},
            "range": {"start": {"line": line, "character": 0}, "end": {"line": line + 1, "character": 9}}}))
        .await;
    result.unwrap();
    let prompt = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    let total_lines = main.lines().count();
    let expected = format!(
        "When is this true?\n\nSelected in `src/main.rs` (lines {a}-{b}):\n```rust\n    let b = ledger.balance();\n    b < 0\n```\n\n\
The current file, `src/main.rs`, has {total_lines} lines, too many to show whole; read_file reads any part of it.\n\n\
Its imports:\n```rust\nuse crate::ledger::Ledger;\n```\n\n\
The function around the selection (lines {f}-{g}):\n```rust\npub fn overdrawn(ledger: &Ledger) -> bool {{\n    let b = ledger.balance();\n    b < 0\n}}\n```\n\n\
Definitions it uses, from other files:\n```rust\n// src/ledger.rs\nimpl Ledger {{ pub fn balance(&self) -> i64; }}\n// src/ledger.rs\npub struct Ledger {{ entries: Vec<i64> }}\n```",
        a = line + 1,
        b = line + 2,
        f = line,
        g = line + 3,
    );
    assert_eq!(prompt, expected);
    assert!(!prompt.contains("report_17"), "the rest of the file stays out");
}

/// Applies `workspace/applyEdit` requests to `text` as Helix would, until `done(text)`.
async fn apply_until(
    client: &mut LspClient,
    uri: &str,
    text: &mut String,
    version: &mut i32,
    done: impl Fn(&str) -> bool,
) {
    while !done(text) {
        apply_next(client, uri, text, version).await;
    }
}

#[tokio::test]
async fn images_in_a_chat_file_reach_upstream_as_image_parts() {
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir_all(dir.path().join("notes/img")).unwrap();
    std::fs::write(dir.path().join("notes/img/screen.png"), b"\x89PNG").unwrap();
    std::fs::write(dir.path().join("logo.gif"), b"GIF8").unwrap();
    let (mut client, _) = helix(&standin, dir.path(), data.path()).await;
    let uri = file_uri(&dir.path().join("notes/bug.kimi.md"));
    let mut text = "## You\n\nWhy does ![the screen](img/screen.png) differ from ![logo](logo.gif) and ![pixel](data:image/png;base64,AAAA)?\n\n`![not an image](code.png)`\n".to_string();
    let mut version = 1;
    client.did_open(&uri, "markdown", version, &text);

    standin.push(Reply::text("The logo is a GIF."));
    let ask = json!({"command": "kimi.askChatFile", "arguments": [{"uri": uri}]});
    ask_chat_file(&mut client, ask, &uri, &mut text, &mut version).await;
    stream_into(&mut client, &uri, &mut text, &mut version).await;
    assert!(text.ends_with("## Kimi\n\nThe logo is a GIF.\n\n## You\n\n"), "{text}");
    let content = &standin.chat_requests()[0]["messages"][1]["content"];
    assert_eq!(
        content[0]["text"],
        "Why does ![the screen](img/screen.png) differ from ![logo](logo.gif) and ![pixel](image 3)?\n\n`![not an image](code.png)`",
        "the question, its data URL replaced by a name"
    );
    let urls: Vec<&str> =
        content.as_array().unwrap()[1..].iter().map(|p| p["image_url"]["url"].as_str().unwrap()).collect();
    assert_eq!(
        urls,
        vec!["data:image/png;base64,iVBORw==", "data:image/gif;base64,R0lGOA==", "data:image/png;base64,AAAA"],
        "next to the chat file, in the workspace, and inline"
    );
    wait_until_answered(&mut client, &uri).await;
}

#[tokio::test]
async fn a_chat_file_image_for_a_model_without_images_gets_a_note_naming_one_in_the_file() {
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(dir.path().join("shot.png"), b"\x89PNG").unwrap();
    let options = json!({"models": {"chat": "kimi-k2-turbo-preview"}});
    let (mut client, _) = helix_with(&standin, dir.path(), data.path(), options).await;
    let uri = file_uri(&dir.path().join("q.kimi.md"));
    let mut text = "What is in ![this](shot.png)?\n".to_string();
    let mut version = 1;
    client.did_open(&uri, "markdown", version, &text);
    let ask = json!({"command": "kimi.askChatFile", "arguments": [{"uri": uri}]});

    ask_chat_file(&mut client, ask.clone(), &uri, &mut text, &mut version).await;
    apply_until(&mut client, &uri, &mut text, &mut version, |t| t.contains("Fix this")).await;
    assert_eq!(
        text,
        "What is in ![this](shot.png)?\n\n## Kimi\n\n> **Not sent:** the chat model `kimi-k2-turbo-preview` does not accept images; set `models.chat` to a model that does, such as `kimi-k2.5` (or set `chat.images = true` if this one does).\n>\n> Fix this and ask again: the answer will replace this note.\n"
    );
    let shown = client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("was not sent"), "{shown}");
    assert!(standin.chat_requests().is_empty(), "nothing went upstream");
    wait_until_answered(&mut client, &uri).await;

    // The user asks without the image: the answer takes the note's place.
    let question_end = text.find("\n\n## Kimi").unwrap();
    text.replace_range(..question_end, "What is a PNG?");
    version += 1;
    client.did_change(&uri, version, json!({"text": text}));
    standin.push(Reply::text("An image format."));
    ask_chat_file(&mut client, ask, &uri, &mut text, &mut version).await;
    stream_into(&mut client, &uri, &mut text, &mut version).await;
    assert_eq!(text, "What is a PNG?\n\n## Kimi\n\nAn image format.\n\n## You\n\n");
    wait_until_answered(&mut client, &uri).await;
}

/// A conversation longer than the model takes (the model lists more context than it accepts
/// here, so the server's own trimming lets it through): the model's overflow 400 is answered by
/// sending the request once more without the oldest turns, and the user gets the answer. The
/// smaller request still has the system prompt and the latest message whole.
#[tokio::test]
async fn a_history_too_long_for_the_model_is_answered_after_one_shrink() {
    let mut s = setup(json!({"chat": {"maxTokens": 300}})).await;
    let long_answer = |n: u32| format!("Answer {n}: {}", "all about the answer function. ".repeat(250));
    s.standin.push(Reply::text(&long_answer(1)));
    let (_, first) = s.chat(json!({"message": "First question?"})).await;
    let session = first.unwrap()["sessionId"].as_str().unwrap().to_string();
    s.standin.push(Reply::text(&long_answer(2)));
    let (_, second) = s.chat(json!({"message": "Second question?", "sessionId": session})).await;
    second.unwrap();
    // The whole history no longer fits; the latest turn and the new message do.
    let second_tokens = kimi_test_support::estimate_tokens(&s.standin.chat_requests()[1]);
    s.standin.set_context_length("kimi-k2.5", second_tokens + 300 + 200);

    s.standin.push(Reply::text("Third answer."));
    let id = s.client.send_request("kimi/chat", json!({"message": "Third question?", "sessionId": session}));
    let third = s.client.response(id).await;
    assert_eq!(third.unwrap()["text"], "Third answer.");
    s.client.expect_notification("kimi/chatDone").await;
    // Each attempt is metered: the refused one spent nothing, the retry what the model reported.
    let metered = [
        s.client.expect_notification("kimi/usageChanged").await,
        s.client.expect_notification("kimi/usageChanged").await,
    ];
    let outcomes: Vec<&str> = metered.iter().map(|m| m["lastRequest"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["error", "ok"]);
    assert_eq!(metered[0]["lastRequest"]["promptTokens"], 0);
    assert_eq!(metered[0]["lastRequest"]["completionTokens"], 0);
    assert_eq!(metered[0]["lastRequest"]["cost"].as_f64().unwrap_or(0.0), 0.0);
    let requests = s.standin.chat_requests();
    assert_eq!(requests.len(), 4, "one refused request and one retry");
    let (refused, retried) = (&requests[2], &requests[3]);
    assert!(
        kimi_test_support::estimate_tokens(retried) < kimi_test_support::estimate_tokens(refused),
        "the retry is not smaller"
    );
    let messages = retried["messages"].as_array().unwrap();
    assert_eq!(messages[0], refused["messages"][0], "the system prompt is kept");
    assert_eq!(messages.last().unwrap()["content"], "Third question?");
    let texts: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap_or("")).collect();
    assert!(!texts.iter().any(|t| t.starts_with("Answer 1:")), "the oldest turn is still sent: {texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("1 earlier turns") || t.starts_with("2 earlier turns")),
        "no note on the turns left out: {texts:?}"
    );
    assert_eq!(retried["max_tokens"], 300);
    assert_eq!(metered[1]["lastRequest"]["promptTokens"], kimi_test_support::estimate_tokens(retried));

    // The session keeps every turn: only what was sent shrank.
    let sessions = s.client.request("kimi/chatSessions", Value::Null).await.unwrap();
    assert_eq!(sessions["sessions"][0]["turns"], 3);
}

/// Cancelling while the smaller request is being answered stops it like any other: the
/// response is the cancellation and the upstream stream is closed.
#[tokio::test]
async fn cancelling_during_the_retry_after_a_shrink_closes_the_upstream_stream() {
    let mut s = setup(json!({"chat": {"maxTokens": 300}})).await;
    std::fs::write(s.dir.path().join("big.txt"), "a line of the big file\n".repeat(1000)).unwrap();
    s.standin.push(Reply::text("Hello."));
    let (_, first) = s.chat(json!({"message": "hi"})).await;
    first.unwrap();
    let small = kimi_test_support::estimate_tokens(&s.standin.chat_requests()[0]);
    s.standin.set_context_length("kimi-k2.5", small + 300 + 1000);

    s.standin.push(Reply::text("slow").first_byte_delay(Duration::from_secs(10)));
    let id = s.client.send_request("kimi/chat", json!({"message": "What is in @big.txt?"}));
    let requests = s.standin.wait_for_chat_requests(3, Duration::from_secs(10)).await;
    let retried = requests[2]["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(retried.starts_with("What is in @big.txt?") && retried.contains("was left out"), "{retried}");
    s.client.cancel(id);
    let err = s.client.response(id).await.unwrap_err();
    assert_eq!(err.code, -32800, "{err:?}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    assert_eq!(s.standin.chat_requests().len(), 3, "nothing more was sent");
}

/// Asked from a notebook's cell, Kimi sees the whole notebook (the cell alone does not show
/// what it uses), is told which cell the user is in, and its edit lands in that cell, pinned to
/// the cell's version; a quote across two cells is refused to it.
#[tokio::test]
async fn a_chat_from_a_notebook_cell_sees_the_notebook_and_edits_the_cell() {
    let mut s = setup(Value::Null).await;
    std::fs::write(s.dir.path().join("analysis.ipynb"), "{\"cells\": [], \"nbformat\": 4}\n").unwrap();
    let notebook = file_uri(&s.dir.path().join("analysis.ipynb"));
    let cells = s.client.open_notebook(
        &notebook,
        &[
            (2, "python", "import pandas as pd\nsales = pd.read_csv(\"sales.csv\")\n"),
            (1, "markdown", "## Totals by region"),
            (2, "python", "def region_share(name):\n    return sales.groupby(\"region\").total.sum()[name] / totl\n"),
        ],
    );
    s.standin.push(Reply::tool_calls(&[
        ("read_file", r#"{"path":"analysis.ipynb","start_line":1,"end_line":3}"#),
        ("propose_edit", r#"{"path":"analysis.ipynb","old_text":"sales.csv\")\n\n# %% [markdown]","new_text":""}"#),
        ("propose_edit", r#"{"path":"analysis.ipynb","old_text":"/ totl","new_text":"/ sales.total.sum()"}"#),
    ]));
    s.standin.push(Reply::text("Fixed."));
    let id = s.client.send_request(
        "kimi/chat",
        json!({
            "message": "Why does this fail?",
            "textDocument": {"uri": cells[2]},
            "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 59}},
            "diagnostics": [{
                "range": {"start": {"line": 1, "character": 55}, "end": {"line": 1, "character": 59}},
                "message": "\"totl\" is not defined", "severity": 1, "source": "Pylance",
            }],
        }),
    );
    let (req, params) = s.client.expect_server_request("workspace/applyEdit").await;
    let change = &params["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"], json!({"uri": cells[2], "version": 1}), "the cell, at its version: {params}");
    assert_eq!(
        change["edits"][0],
        json!({"range": {"start": {"line": 1, "character": 53}, "end": {"line": 1, "character": 59}}, "newText": "/ sales.total.sum()"}),
        "in the cell's own lines"
    );
    s.client.reply(req, json!({"applied": true}));
    s.client.notify(
        "notebookDocument/didChange",
        json!({
            "notebookDocument": {"uri": notebook, "version": 1},
            "change": {"cells": {"textContent": [{
                "document": {"uri": cells[2], "version": 2},
                "changes": [{"range": {"start": {"line": 1, "character": 53}, "end": {"line": 1, "character": 59}}, "text": "/ sales.total.sum()"}],
            }]}},
        }),
    );
    assert_eq!(s.client.response(id).await.unwrap()["text"], "Fixed.");
    let unread = s.client.take_unread();
    let summaries: Vec<&str> =
        of_method(&unread, "kimi/chatTool").iter().filter_map(|t| t["summary"].as_str()).collect();
    assert!(summaries.contains(&"read analysis.ipynb:1-3"), "the user's summary stays short: {summaries:?}");

    let prompt = s.standin.chat_requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(
        prompt.contains("Selected in `analysis.ipynb` (lines 10-10):\n```python\nreturn sales.groupby")
            && prompt
                .contains("The current file, `analysis.ipynb` (11 lines):\n```python\n# %%\nimport pandas as pd\n"),
        "the notebook is the current file: {prompt}"
    );
    assert!(prompt.contains("The user is in cell 3, lines 9-10 of it."), "{prompt}");
    assert!(
        prompt.contains("- line 10: error: \"totl\" is not defined (Pylance)"),
        "the cell's diagnostic, in the notebook's lines: {prompt}"
    );
    assert_eq!(
        tool_results(&s.standin.chat_requests()[1]),
        [
            "analysis.ipynb (a notebook open in the editor, shown as a script of its cells: a `%%` comment line starts each cell, markdown cells are comments; propose_edit changes one code cell at a time, quoting text inside it) (lines 1-3 of 11):\n    1  # %%\n    2  import pandas as pd\n    3  sales = pd.read_csv(\"sales.csv\")\n",
            "refused: `old_text` is not inside one code cell of `analysis.ipynb`; change one cell at a time, quoting text inside it",
            "the editor applied the edit"
        ]
    );
}
