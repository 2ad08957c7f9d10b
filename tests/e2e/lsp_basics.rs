//! The foundation over real stdio: initialize and encoding negotiation, document sync with
//! emoji, CJK and CRLF in every encoding, out-of-range positions, bad input, settings problems
//! reaching the user, and the shutdown/exit codes.

use std::path::Path;

use kimi_test_support::{LspClient, Reply, Standin};
use serde_json::{json, Value};

const KEY: &str = "sk-e2e-secret-0123456789";

fn server(env: &[(&str, &str)]) -> LspClient {
    LspClient::spawn(Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")), &[], env, None)
}

fn with_key() -> LspClient {
    // A base URL nobody listens on: nothing here may need the network.
    server(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", "http://127.0.0.1:9/v1"), ("KIMI_LSP_LOG", "debug")])
}

fn encodings(offered: &[&str]) -> Value {
    json!({"general": {"positionEncodings": offered}})
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

async fn state(client: &mut LspClient, uri: &str) -> Value {
    client
        .request("kimi/documentState", json!({"textDocument": {"uri": uri}}))
        .await
        .unwrap_or_else(|e| panic!("documentState failed: {e}"))
}

async fn text_of(client: &mut LspClient, uri: &str) -> String {
    state(client, uri).await["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn initialize_negotiates_the_encoding_and_announces_incremental_sync() {
    for (offered, chosen) in [
        (vec!["utf-16"], "utf-16"),
        (vec!["utf-16", "utf-8"], "utf-8"),
        (vec!["utf-32", "utf-16"], "utf-32"),
        (vec![], "utf-16"),
    ] {
        let mut client = with_key();
        let result = client.initialize(encodings(&offered), Value::Null, None).await;
        assert_eq!(result["capabilities"]["positionEncoding"], chosen, "offered {offered:?}");
        assert_eq!(result["capabilities"]["textDocumentSync"]["change"], 2);
        assert_eq!(result["capabilities"]["textDocumentSync"]["openClose"], true);
        assert_eq!(result["serverInfo"]["name"], "kimi-lsp");
        assert!(client.shutdown().await.success());
    }
}

#[tokio::test]
async fn a_client_without_position_encodings_gets_utf16() {
    let mut client = with_key();
    let result = client.initialize(json!({}), Value::Null, None).await;
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    let uri = "file:///w/a.py";
    client.did_open(uri, "python", 1, "s = '😀x'\n");
    // UTF-16: the emoji is two code units, so 'x' sits at column 7.
    client.did_change(uri, 2, json!({"range": range(0, 7, 0, 8), "text": "y"}));
    assert_eq!(text_of(&mut client, uri).await, "s = '😀y'\n");
    assert!(client.shutdown().await.success());
}

/// The same logical edit — replace the character after an emoji and a CJK character on a CRLF
/// line — expressed in each encoding's own columns.
#[tokio::test]
async fn edits_land_on_the_same_characters_in_every_encoding() {
    let text = "fn main() {\r\n    let s = \"😀中x\";\r\n}\r\n";
    let expected = "fn main() {\r\n    let s = \"😀中y\";\r\n}\r\n";
    // Column of 'x' on line 1: `    let s = "` is 13 units, then 😀 and 中.
    for (enc, col) in [("utf-8", 13 + 4 + 3), ("utf-16", 13 + 2 + 1), ("utf-32", 13 + 1 + 1)] {
        let mut client = with_key();
        let result = client.initialize(encodings(&[enc]), Value::Null, None).await;
        assert_eq!(result["capabilities"]["positionEncoding"], enc);
        let uri = "file:///w/main.rs";
        client.did_open(uri, "rust", 1, text);
        client.did_change(uri, 2, json!({"range": range(1, col, 1, col + 1), "text": "y"}));
        let s = state(&mut client, uri).await;
        assert_eq!(s["text"], expected, "{enc}");
        assert_eq!(s["version"], 2);
        assert_eq!(s["language"], "Rust");
        assert_eq!(s["parsed"], true);
        assert_eq!(s["syntaxErrors"], false, "{enc}: the tree should follow the edit");
        assert!(client.shutdown().await.success());
    }
}

#[tokio::test]
async fn a_batch_of_changes_applies_in_order_and_keeps_the_tree_in_step() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    let uri = "file:///w/lib.rs";
    client.did_open(uri, "rust", 1, "fn a() {}\n");
    client.did_change(
        uri,
        2,
        json!([
            {"range": range(1, 0, 1, 0), "text": "fn b( {}\n"},
            {"range": range(1, 5, 1, 5), "text": ")"},
            {"range": range(0, 3, 0, 4), "text": "alpha"},
        ]),
    );
    let s = state(&mut client, uri).await;
    assert_eq!(s["text"], "fn alpha() {}\nfn b() {}\n");
    assert_eq!(s["syntaxErrors"], false);
    // Break the syntax below the first line: the tree must notice.
    client.did_change(uri, 3, json!({"range": range(1, 8, 1, 9), "text": ""}));
    let s = state(&mut client, uri).await;
    assert_eq!(s["text"], "fn alpha() {}\nfn b() {\n");
    assert_eq!(s["syntaxErrors"], true);
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn out_of_range_positions_are_clamped_and_nothing_is_lost() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    let uri = "file:///w/notes.txt";
    client.did_open(uri, "plaintext", 1, "ab\r\ncd");
    // A column far past the end of line 0 lands before its CRLF.
    client.did_change(uri, 2, json!({"range": range(0, 99, 0, 99), "text": "!"}));
    assert_eq!(text_of(&mut client, uri).await, "ab!\r\ncd");
    // A line past the end lands at the end of the document.
    client.did_change(uri, 3, json!({"range": range(42, 0, 42, 7), "text": "?"}));
    assert_eq!(text_of(&mut client, uri).await, "ab!\r\ncd?");
    // A column inside the emoji's surrogate pair snaps to the emoji's start.
    client.did_change(uri, 4, json!({"range": range(1, 3, 1, 3), "text": "😀"}));
    client.did_change(uri, 5, json!({"range": range(1, 4, 1, 4), "text": "<"}));
    assert_eq!(text_of(&mut client, uri).await, "ab!\r\ncd?<😀");
    // A reversed range is read start-to-end rather than refused.
    client.did_change(uri, 6, json!({"range": range(0, 3, 0, 0), "text": "AB"}));
    assert_eq!(text_of(&mut client, uri).await, "AB\r\ncd?<😀");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn full_text_changes_and_close_drop_the_document() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-8"]), Value::Null, None).await;
    let uri = "file:///w/x.go";
    client.did_open(uri, "go", 1, "package main\n");
    client.did_change(uri, 2, json!({"text": "package other\n\nfunc F() {}\n"}));
    let s = state(&mut client, uri).await;
    assert_eq!(s["text"], "package other\n\nfunc F() {}\n");
    assert_eq!(s["language"], "Go");
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    let err = client
        .request("kimi/documentState", json!({"textDocument": {"uri": uri}}))
        .await
        .expect_err("a closed document is gone");
    assert!(err.message.contains("not open"), "{err}");
    // A change for a document that is not open loses nothing and breaks nothing.
    client.did_change(uri, 3, json!({"text": "x"}));
    client.did_open(uri, "go", 4, "package again\n");
    assert_eq!(text_of(&mut client, uri).await, "package again\n");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn binary_and_unknown_languages_are_kept_as_text() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    client.did_open("file:///w/blob.bin", "", 1, "\u{0}\u{1}ELF");
    let s = state(&mut client, "file:///w/blob.bin").await;
    assert_eq!(s["binary"], true);
    assert_eq!(s["parsed"], false);
    client.did_open("file:///w/README.md", "markdown", 1, "# hi\n");
    let s = state(&mut client, "file:///w/README.md").await;
    assert_eq!(s["language"], "plain text");
    assert_eq!(s["parsed"], false);
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_the_server_stays_up() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    // Not JSON at all.
    let body = b"{this is not json";
    client.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    client.send_raw(body);
    // A well-framed request with params of the wrong shape.
    let err = client.request("kimi/documentState", json!({"textDocument": 7})).await.expect_err("wrong params");
    assert_eq!(err.code, -32602, "{err}");
    // A method nobody implements.
    let err = client.request("kimi/noSuchMethod", json!({})).await.expect_err("unknown method");
    assert_eq!(err.code, -32601, "{err}");
    // The parse error arrives as a response with a null id.
    let unread = client.take_unread();
    assert!(
        unread.iter().any(|m| m["id"].is_null() && m["error"]["code"] == -32700),
        "expected a parse error response: {unread:?}"
    );
    client.did_open("file:///w/ok.rs", "rust", 1, "fn ok() {}\n");
    assert_eq!(text_of(&mut client, "file:///w/ok.rs").await, "fn ok() {}\n");
    assert!(client.shutdown().await.success());
}

/// Stray output in the pipe (a plugin's print, with or without a line break) and a frame without
/// Content-Length cost at most that one message: every request after them is answered, each
/// request whose id can be read gets exactly one response with its id, and shutdown still works.
#[tokio::test]
async fn stray_bytes_and_broken_frames_never_make_the_server_deaf() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    let status = |id: &str| {
        let body = format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"kimi/status","params":null}}"#);
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    client.send_raw(b"junk");
    client.send_raw(status("after-junk").as_bytes());
    client.send_raw(b"junk\n");
    client.send_raw(status("after-junk-line").as_bytes());
    client.send_raw(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n");
    client.send_raw(br#"{"jsonrpc":"2.0","id":"no-length","method":"kimi/status"}"#);
    client.send_raw(status("after-no-length").as_bytes());
    let ids = ["after-junk", "after-junk-line", "no-length", "after-no-length"];
    let mut responses = Vec::new();
    for _ in 0..200 {
        responses.extend(client.take_unread());
        if ids.iter().all(|id| responses.iter().any(|m| m["id"] == *id)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    for id in ids {
        let answers: Vec<_> = responses.iter().filter(|m| m["id"] == id).collect();
        assert_eq!(answers.len(), 1, "{id}: {responses:?}");
        if id == "no-length" {
            assert_eq!(answers[0]["error"]["code"], -32700, "{answers:?}");
        } else {
            assert!(answers[0]["result"]["version"].is_string(), "{id} was answered: {answers:?}");
        }
    }
    assert!(responses.iter().all(|m| !m["id"].is_null()), "nothing went to id null: {responses:?}");
    client.did_open("file:///w/ok.rs", "rust", 1, "fn ok() {}\n");
    assert_eq!(text_of(&mut client, "file:///w/ok.rs").await, "fn ok() {}\n");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn missing_key_is_announced_with_what_to_do() {
    let mut client = server(&[]);
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    let msg = client.expect_notification("window/showMessage").await;
    assert_eq!(msg["type"], 2, "a warning");
    let text = msg["message"].as_str().unwrap();
    assert!(text.contains("MOONSHOT_API_KEY"), "{text}");
    assert!(text.contains("kimi-lsp doctor"), "{text}");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn a_key_from_initialization_options_counts_and_bad_settings_are_named() {
    let mut client = server(&[]);
    client
        .initialize(
            encodings(&["utf-16"]),
            json!({"apiKey": KEY, "timeouts": {"connectMs": "soon"}, "modles": {}}),
            None,
        )
        .await;
    // The whole initializationOptions layer is skipped for the bad value, so the key in it does
    // not count either: the user hears about both.
    let mut messages = Vec::new();
    for _ in 0..2 {
        messages.push(client.expect_notification("window/showMessage").await["message"].as_str().unwrap().to_string());
    }
    assert!(messages.iter().any(|m| m.contains("timeouts.connectMs")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("MOONSHOT_API_KEY")), "{messages:?}");
    assert!(messages.iter().all(|m| !m.contains(KEY)), "{messages:?}");

    // Live settings: an unknown key is named; a valid layer is accepted silently.
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"baseUrll": "x"}}}));
    let msg = client.expect_notification("window/showMessage").await;
    assert!(msg["message"].as_str().unwrap().contains("baseUrll"), "{msg}");
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"apiKey": KEY}}}));
    // Document state still round-trips after the settings traffic.
    client.did_open("file:///w/a.ts", "typescript", 1, "let a = 1;\n");
    assert_eq!(state(&mut client, "file:///w/a.ts").await["language"], "TypeScript");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), json!({"apiKey": KEY}), None).await;
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"apiKey": KEY, "models": 3}}));
    let _ = client.expect_notification("window/showMessage").await;
    client.did_open("file:///w/a.rs", "rust", 1, "fn a() {}\n");
    let _ = state(&mut client, "file:///w/a.rs").await;
    let stderr = client.stderr_text();
    assert!(client.shutdown().await.success());
    assert!(stderr.contains("initialize"), "debug logging is on: {stderr}");
    assert!(!stderr.contains("e2e-secret"), "the key leaked into the log: {stderr}");
}

/// `--log trace` turns on everything, the LSP library's raw message trace included, which
/// would print `initializationOptions`, live settings and the answers to `workspace/configuration`
/// whole. The key rides in all of them here, and in a request to the API.
#[tokio::test]
async fn the_key_never_reaches_the_logs_even_at_trace() {
    const SECRET: &str = "sk-trace-secret-0123456789";
    let standin = Standin::start().await;
    standin.push(Reply::text("1;"));
    let base = standin.base_url();
    // A log file, read once the process is gone: it then holds everything that was logged.
    let logs = tempfile::tempdir().unwrap();
    let log_file = logs.path().join("kimi-lsp.log");
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &["--log", "trace", "--log-file", log_file.to_str().unwrap()],
        &[("MOONSHOT_BASE_URL", &base)],
        None,
    );
    let capabilities = json!({"general": {"positionEncodings": ["utf-16"]}, "workspace": {"configuration": true}});
    client.initialize(capabilities, json!({"apiKey": SECRET}), None).await;
    // A live layer with the key pasted into a field of the wrong type: its problem is logged
    // and shown, and serde quotes the value it refused.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"apiKey": SECRET, "budget": {"daily": SECRET}}}),
    );
    let shown = client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("budget.daily"), "{shown}");
    // `null` settings: the server asks for the `kimi` section, and the answer carries the key.
    client.notify("workspace/didChangeConfiguration", json!({"settings": null}));
    let (id, _) = client.expect_server_request("workspace/configuration").await;
    client.reply(id, json!([{"apiKey": SECRET}]));
    client.did_open("file:///w/a.rs", "rust", 1, "fn a() -> i32 {\n    \n}\n");
    let answer = client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": "file:///w/a.rs"}, "position": {"line": 1, "character": 4},
                   "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    assert!(answer["items"].as_array().is_some_and(|i| !i.is_empty()), "{answer}");
    let sent = standin.requests()[0].header("authorization").map(str::to_string);
    assert_eq!(sent, Some(format!("Bearer {SECRET}")), "the key was in use");
    client.expect_notification("kimi/usageChanged").await;
    assert!(client.shutdown().await.success());
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("TRACE"), "trace logging is on: {log}");
    assert!(!log.contains("trace-secret"), "the key leaked into the log: {log}");
}

#[tokio::test]
async fn exit_without_shutdown_exits_with_1() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    client.notify("exit", Value::Null);
    let status = client.wait_exit().await;
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn status_answers_with_or_without_params() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), json!({"models": {"completion": "my-fast-model"}}), None).await;
    let status = client.request("kimi/status", json!({})).await.unwrap();
    assert_eq!(status["completionModel"], "my-fast-model");
    assert_eq!(status["apiKeySet"], true);
    assert_eq!(status["baseUrl"], "http://127.0.0.1:9/v1");
    // A request with no params member at all, as some clients send it.
    let body = br#"{"jsonrpc":"2.0","id":"no-params","method":"kimi/status"}"#;
    client.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    client.send_raw(body);
    client.did_open("file:///w/a.rs", "rust", 1, "fn a() {}\n");
    let again = client.request("kimi/status", Value::Null).await.unwrap();
    assert_eq!(again["openDocuments"], 1);
    let unread = client.take_unread();
    assert!(unread.iter().any(|m| m["id"] == "no-params" && m["result"]["version"].is_string()), "{unread:?}");
    assert!(client.shutdown().await.success());
}

/// Values that would otherwise be taken silently and fail far from the setting: each is named,
/// and the settings before it stay.
#[tokio::test]
async fn an_empty_model_name_and_an_unclosed_exclude_class_are_named() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), json!({"models": {"completion": "my-fast-model"}}), None).await;
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"models": {"completion": ""}}}}));
    let shown = client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("`models.completion`: the model name is empty"), "{message}");
    let status = client.request("kimi/status", json!({})).await.unwrap();
    assert_eq!(status["completionModel"], "my-fast-model");

    client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"completion": {"exclude": ["["]}}}}));
    let shown = client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("`completion.exclude`") && message.contains("`[` is not a valid pattern"), "{message}");
    assert!(client.shutdown().await.success());
}

#[tokio::test]
async fn text_a_grammar_chokes_on_does_not_hang_the_server() {
    let mut client = with_key();
    client.initialize(encodings(&["utf-16"]), Value::Null, None).await;
    // tree-sitter-typescript loops forever on this without a parse budget.
    client.did_open("file:///w/x.ts", "typescript", 1, "([[e)/*i}r#*/");
    let s = state(&mut client, "file:///w/x.ts").await;
    assert_eq!(s["text"], "([[e)/*i}r#*/");
    client.did_change("file:///w/x.ts", 2, json!({"text": "let fine = 1;\n"}));
    let s = state(&mut client, "file:///w/x.ts").await;
    assert_eq!(s["parsed"], true, "a whole new text is parsed again");
    assert!(client.shutdown().await.success());
}
