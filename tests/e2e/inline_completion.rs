//! Inline completions end to end: the real binary over stdio against the stand-in.

use std::path::Path;
use std::time::Duration;

use kimi_test_support::{file_uri, Fixture, LspClient, Reply, Standin};
use serde_json::{json, Value};

const KEY: &str = "sk-completion-test";

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
    /// `kimi/usageChanged` notifications taken so far.
    usage_seen: u64,
}

async fn setup(files: &[(&str, &str)]) -> Setup {
    setup_with(files, Value::Null).await
}

/// With these initialization options (the `kimi` settings).
async fn setup_with(files: &[(&str, &str)], options: Value) -> Setup {
    setup_as(files, json!({"general": {"positionEncodings": ["utf-16"]}}), options).await
}

/// As a client with these capabilities.
async fn setup_as(files: &[(&str, &str)], capabilities: Value, options: Value) -> Setup {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let base = standin.base_url();
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)],
        None,
    );
    client.initialize(capabilities, options, Some(dir.path())).await;
    // Cross-file context comes from the workspace index, built in the background.
    for _ in 0..200 {
        let status = client.request("kimi/status", json!({})).await.unwrap();
        if status["indexing"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Setup { standin, client, dir, usage_seen: 0 }
}

impl Setup {
    /// Opens `a.rs` with the cursor in `main`'s body and asks for a suggestion the stand-in
    /// starts answering (with `reply`) only after 5 s: the request is upstream, waiting, when
    /// this returns its id, the document's URI and the cursor.
    async fn inline_in_flight(&mut self, reply: &str) -> (i64, String, Value) {
        self.standin.push(Reply::text(reply).first_byte_delay(Duration::from_secs(5)));
        let pos = self.open("a.rs", "rust", "fn main() {\n    $0\n}\n");
        let uri = self.uri("a.rs");
        let id = self.client.send_request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 1}}),
        );
        self.standin.wait_for_chat_requests(1, Duration::from_secs(5)).await;
        (id, uri, pos)
    }

    fn uri(&self, name: &str) -> String {
        file_uri(&self.dir.path().join(name))
    }

    /// Opens `name` with the fixture's text; returns the cursor position.
    fn open(&mut self, name: &str, language: &str, fixture: &str) -> Value {
        let f = Fixture::parse(fixture);
        let uri = self.uri(name);
        self.client.did_open(&uri, language, 1, &f.text);
        f.position()
    }

    /// Takes the `kimi/usageChanged` notification of every request metered so far, so that
    /// shutdown finds no unread message. The server writes a usage record just after the LSP
    /// response, so `kimi/status` may not count the last request yet; every call that reached
    /// the stand-in is metered, which bounds the count from below.
    async fn take_usage(&mut self) -> Vec<Value> {
        let mut taken = Vec::new();
        loop {
            let reached = self.standin.chat_requests().len() as u64;
            let status = self.client.request("kimi/status", json!({})).await.unwrap();
            let metered = status["sessionRequests"].as_u64().unwrap().max(reached);
            if self.usage_seen >= metered {
                return taken;
            }
            while self.usage_seen < metered {
                let changed = self.client.expect_notification("kimi/usageChanged").await;
                assert_eq!(changed["lastRequest"]["feature"], "completion", "{changed}");
                taken.push(changed);
                self.usage_seen += 1;
            }
        }
    }

    /// An explicit (invoked) inline request.
    async fn inline(&mut self, name: &str, position: Value) -> Value {
        self.inline_as(name, position, 1).await
    }

    /// An automatic inline request, as an editor sends while the user types.
    async fn typed(&mut self, name: &str, position: Value) -> Value {
        self.inline_as(name, position, 2).await
    }

    async fn inline_as(&mut self, name: &str, position: Value, trigger_kind: u8) -> Value {
        let uri = self.uri(name);
        self.client
            .request(
                "textDocument/inlineCompletion",
                json!({"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": trigger_kind}}),
            )
            .await
            .unwrap_or_else(|e| panic!("inlineCompletion failed: {e}"))
    }
}

fn items(result: &Value) -> Vec<Value> {
    result["items"].as_array().cloned().unwrap_or_default()
}

/// Each item's text, without trailing whitespace.
fn texts(result: &Value) -> Vec<String> {
    items(result).iter().map(|i| i["insertText"].as_str().unwrap().trim_end().to_string()).collect()
}

/// A model's answer that goes on past the block the cursor calls for.
const PAST_THE_BLOCK: &[&str] = &[
    "if x > 0 {\n",
    "        return x;\n",
    "    }\n",
    "    let unrelated = 1;\n",
    "    let more = 2;\n",
    "    let even_more = 3;\n",
];

fn last_message(body: &Value) -> Value {
    body["messages"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test]
async fn ghost_text_comes_back_with_a_range_and_an_accept_command() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("a + b\n}"));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let result = s.inline("add.rs", pos.clone()).await;
    let items = items(&result);
    assert_eq!(items.len(), 1, "{result}");
    assert_eq!(items[0]["insertText"], "a + b");
    assert_eq!(items[0]["range"]["start"], pos);
    assert_eq!(items[0]["command"]["command"], "kimi.acceptCompletion");

    let body = &s.standin.chat_requests()[0];
    assert_eq!(body["model"], "kimi-k2-turbo-preview");
    assert_eq!(body["stream"], true);
    let last = last_message(body);
    assert_eq!(last["role"], "assistant");
    assert_eq!(last["partial"], true, "partial mode pre-fills the line: {last}");

    // The editor hears what the request used.
    let usage = s.take_usage().await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0]["lastRequest"]["outcome"], "shown");
    assert_eq!(usage[0]["sessionRequests"], 1);

    // Accepting is a command the server knows.
    let id = items[0]["command"]["arguments"][0].clone();
    s.client
        .request("workspace/executeCommand", json!({"command": "kimi.acceptCompletion", "arguments": [id]}))
        .await
        .unwrap();
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn the_completion_list_carries_the_suggestion_for_editors_without_ghost_text() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("ult = compute(x)"));
    let pos = s.open("m.py", "python", "def f(x):\n    res$0\n");
    let uri = s.uri("m.py");
    let result = s
        .client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(result["isIncomplete"], true);
    let item = &result["items"][0];
    assert_eq!(item["label"], "result = compute(x)");
    assert_eq!(item["textEdit"]["newText"], "result = compute(x)");
    // The edit starts at the word being typed, so the editor's filter ("res") matches.
    assert_eq!(item["textEdit"]["range"]["start"], json!({"line": 1, "character": 4}));
    assert!(item["filterText"].as_str().unwrap().starts_with("res"));
    assert!(item["documentation"]["value"].as_str().unwrap().contains("result = compute(x)"));
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn signatures_from_other_files_reach_the_prompt() {
    let mut s = setup(&[(
        "src/billing.rs",
        "pub struct Invoice { pub total: u64 }\n\npub fn compute_total(items: &[LineItem], discount: Discount) -> Invoice {\n    todo!()\n}\n",
    )])
    .await;
    s.standin.push(Reply::text("compute_total(&items, Discount::None);"));
    let pos = s.open(
        "src/main.rs",
        "rust",
        "fn main() {\n    let invoice = compute_total(&items, Discount::None);\n    let again = $0\n}\n",
    );
    let _ = s.inline("src/main.rs", pos).await;
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(
        prompt.contains("pub fn compute_total(items: &[LineItem], discount: Discount) -> Invoice"),
        "the signature from src/billing.rs is missing: {prompt}"
    );
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// `kimi/status` once the workspace has been walked `scans` times (within 5 s).
async fn status_after_scans(client: &mut LspClient, scans: u64) -> Value {
    for _ in 0..500 {
        let status = client.request("kimi/status", json!({})).await.unwrap();
        if status["indexScans"].as_u64().unwrap() >= scans && status["indexing"] == false {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the workspace was not walked {scans} times in 5 s");
}

const COMPUTE_TOTAL: &str = "pub fn compute_total(items: &[LineItem], discount: Discount) -> Invoice";

#[tokio::test]
async fn files_changed_on_disk_outside_the_editor_reach_the_prompt() {
    let caps = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    let files = [
        ("src/lib.rs", "pub mod billing;\n"),
        ("Cargo.toml", "[package]\nname = \"billing\"\n"),
        // What cargo writes into its target directory, which the walk leaves out for it.
        ("target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"),
    ];
    let mut s = setup_as(&files, caps, Value::Null).await;
    let (id, params) = s.client.expect_server_request("client/registerCapability").await;
    let registration = &params["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles", "{params}");
    assert_eq!(registration["registerOptions"]["watchers"], json!([{"globPattern": "**/*"}]), "{params}");
    s.client.reply(id, Value::Null);
    status_after_scans(&mut s.client, 1).await;

    // A build writes generated sources into target/: no rescan (it would find nothing).
    let generated = s.dir.path().join("target/debug/build/billing-1/out/gen.rs");
    std::fs::create_dir_all(generated.parent().unwrap()).unwrap();
    std::fs::write(&generated, "pub fn generated() {}\n").unwrap();
    s.client.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": file_uri(&generated), "type": 1}]}));
    // Past the rescanner's 300 ms of quiet.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = s.client.request("kimi/status", json!({})).await.unwrap();
    assert_eq!(status["indexScans"], 1, "{status}");

    // A branch switch in a terminal brings a file the editor never opened.
    let billing = s.dir.path().join("src/billing.rs");
    std::fs::write(&billing, format!("{COMPUTE_TOTAL} {{\n    todo!()\n}}\n")).unwrap();
    s.client.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": file_uri(&billing), "type": 1}]}));
    status_after_scans(&mut s.client, 2).await;
    s.standin.push(Reply::text("compute_total(&items, Discount::None);"));
    let use_it = "fn main() {\n    let invoice = compute_total(&items, Discount::None);\n    let again = $0\n}\n";
    let pos = s.open("src/main.rs", "rust", use_it);
    let _ = s.inline("src/main.rs", pos).await;
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains(COMPUTE_TOTAL), "the signature from the new src/billing.rs is missing: {prompt}");

    // Switched back: the file is gone, and so is its definition.
    std::fs::remove_file(&billing).unwrap();
    s.client.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": file_uri(&billing), "type": 3}]}));
    status_after_scans(&mut s.client, 3).await;
    s.standin.push(Reply::text("compute_total(&items, Discount::None);"));
    let pos = s.open("src/other.rs", "rust", use_it);
    let _ = s.inline("src/other.rs", pos).await;
    let prompt = s.standin.chat_requests()[1]["messages"].to_string();
    assert!(!prompt.contains(COMPUTE_TOTAL), "the deleted file's signature is still sent: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_workspace_folder_added_later_is_indexed() {
    let mut s = setup(&[("app/main.rs", "fn main() {}\n")]).await;
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("billing.rs"), format!("{COMPUTE_TOTAL} {{\n    todo!()\n}}\n")).unwrap();
    let scans = s.client.request("kimi/status", json!({})).await.unwrap()["indexScans"].as_u64().unwrap();
    let added = json!([{"uri": file_uri(other.path()), "name": "billing"}]);
    s.client.notify("workspace/didChangeWorkspaceFolders", json!({"event": {"added": added, "removed": []}}));
    let status = status_after_scans(&mut s.client, scans + 1).await;
    assert_eq!(status["indexedFiles"], 2, "{status}");
    s.standin.push(Reply::text("compute_total(&items, Discount::None);"));
    let use_it = "fn main() {\n    let invoice = compute_total(&items, Discount::None);\n    let again = $0\n}\n";
    let pos = s.open("app/main.rs", "rust", use_it);
    let _ = s.inline("app/main.rs", pos).await;
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains(COMPUTE_TOTAL), "the signature from the added folder is missing: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// `kimi/status`'s `similarDocuments` once it is `expected`, or after 5 s what it is then: the
/// windows are made when the reindexer picks the documents up, off the message loop.
async fn similar_documents_once(s: &mut Setup, expected: u64) -> u64 {
    let mut similar = 0;
    for _ in 0..100 {
        similar = s.client.request("kimi/status", json!({})).await.unwrap()["similarDocuments"].as_u64().unwrap();
        if similar == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    similar
}

#[tokio::test]
async fn code_like_the_cursors_from_other_open_documents_reaches_the_prompt() {
    let mut s = setup(&[]).await;
    let users = s.uri("app/users.py");
    s.client.did_open(
        &users,
        "python",
        1,
        "def create_user(request, db):\n    payload = request.json()\n    user = User(name=payload[\"name\"], email=payload[\"email\"])\n    db.add(user)\n    db.commit()\n    return JsonResponse({\"id\": user.id}, status=201)\n",
    );
    // As like, but a secret: never shown.
    let secrets = s.uri("app/secrets.py");
    s.client.did_open(
        &secrets,
        "python",
        1,
        "def create_account(request, db):\n    payload = request.json()\n    account = Account(name=payload[\"name\"], token=\"sk-live-4242\")\n    db.add(account)\n    db.commit()\n",
    );
    let pos = s.open(
        "app/teams.py",
        "python",
        "def create_team(request, db):\n    payload = request.json()\n    team = Team(name=payload[\"name\"], owner=payload[\"owner\"])\n    db.add(team)\n    $0\n",
    );
    assert_eq!(similar_documents_once(&mut s, 2).await, 2, "users.py and teams.py, never secrets.py");
    s.standin.push(Reply::text("db.commit()"));
    let result = s.inline("app/teams.py", pos.clone()).await;
    assert_eq!(texts(&result), ["db.commit()"]);
    let (body, _) = last_request(&s);
    let user = body["messages"][1]["content"].as_str().unwrap().to_string();
    let expected = "<similar_code>\n<snippet path=\"app/users.py\">\ndef create_user(request, db):\n    payload = request.json()\n";
    assert!(user.contains(expected), "{user}");
    assert!(user.find("</similar_code>") < user.find("<file path=\"app/teams.py\">"), "before the file: {user}");
    assert!(!user.contains("sk-live-4242") && !user.contains("create_account"), "a secret reached the prompt: {user}");

    // Closed, it is no one's neighbour any more.
    s.client.notify("textDocument/didClose", json!({"textDocument": {"uri": users}}));
    s.client.did_change(
        &s.uri("app/teams.py"),
        2,
        json!([{"range": {"start": pos, "end": pos}, "text": "db.flush()\n    "}]),
    );
    s.standin.push(Reply::text("db.commit()"));
    let mut after = pos.clone();
    after["line"] = json!(pos["line"].as_u64().unwrap() + 1);
    let _ = s.inline("app/teams.py", after).await;
    let (body, _) = last_request(&s);
    assert!(!body["messages"][1]["content"].as_str().unwrap().contains("create_user"), "{body}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_language_the_server_does_not_parse_is_named_and_compared_with_its_own_kind() {
    // Ruby has no grammar here: the prompt still says Ruby, not plain text, and the other open
    // Ruby file is its similar code. A Markdown file saying the same words is not code.
    let mut s = setup(&[]).await;
    let user = s.uri("app/models/user.rb");
    s.client.did_open(
        &user,
        "ruby",
        1,
        "def create_user(params, repo)\n  payload = params.require(:user)\n  user = User.new(name: payload[:name], email: payload[:email])\n  repo.save(user)\n  notify(user, :created)\nend\n",
    );
    let notes = s.uri("docs/users.md");
    s.client.did_open(
        &notes,
        "markdown",
        1,
        "To create_user, the handler reads the payload from params with require, makes a User new with name and email from the payload, repo save, notify created.\n",
    );
    let pos = s.open(
        "app/models/team.rb",
        "ruby",
        "def create_team(params, repo)\n  payload = params.require(:team)\n  team = Team.new(name: payload[:name], owner: payload[:owner])\n  repo.save(team)\n  notify($0\n",
    );
    assert_eq!(similar_documents_once(&mut s, 2).await, 2, "the two Ruby files, not the Markdown one");
    s.standin.push(Reply::text("team, :created)"));
    let result = s
        .client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": s.uri("app/models/team.rb")}, "position": pos, "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    let item = &result["items"][0];
    assert_eq!(item["textEdit"]["newText"], "team, :created)");
    // The documentation's code block is highlighted as Ruby.
    assert_eq!(item["documentation"]["value"], "```ruby\nteam, :created)\n```");
    let (body, _) = last_request(&s);
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are a code completion engine for Ruby. You are shown a Ruby file"), "{system}");
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    let expected = "<similar_code>\n<snippet path=\"app/models/user.rb\">\ndef create_user(params, repo)\n";
    assert!(prompt.contains(expected), "{prompt}");
    assert!(!prompt.contains("docs/users.md"), "prose as similar code: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_block_in_a_language_without_a_grammar_ends_with_its_closing_line() {
    let mut s = setup(&[]).await;
    let pos = s.open("lib/greeter.rb", "ruby", "class Greeter\n  def greet(name)\n    $0\n\n  def other\n  end\nend\n");
    s.standin.push(Reply::text("message = \"Hello, #{name}\"\n    puts message\n  end\n\n  def other\n  end\nend\n"));
    let result = s.inline("lib/greeter.rb", pos).await;
    assert_eq!(texts(&result), ["message = \"Hello, #{name}\"\n    puts message\n  end"]);
    let (body, _) = last_request(&s);
    assert_eq!(body["max_tokens"], 256, "a block's budget: {body}");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.ends_with("up to the end of the block the cursor is in, then stop."), "{user}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// Suggestions that the model finishes itself leave the upstream connection open for the next
/// request: on the real service a new one costs a TCP and TLS handshake, two round trips before
/// the model sees the request.
#[tokio::test]
async fn finished_suggestions_keep_the_upstream_connection_for_the_next_request() {
    let mut s = setup(&[]).await;
    s.standin.set_default(Reply::text("value + 1"));
    let pos = s.open("a.rs", "rust", "fn next(value: u32) -> u32 {\n    $0\n}\n");
    for _ in 0..3 {
        assert_eq!(texts(&s.inline("a.rs", pos.clone()).await), ["value + 1"]);
        // Typing the next characters takes longer than reading the answer's last bytes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.standin.chat_requests().len(), 3);
    let peers: std::collections::HashSet<_> =
        s.standin.requests().iter().filter(|r| r.path.ends_with("/chat/completions")).map(|r| r.peer).collect();
    assert_eq!(peers.len(), 1, "{peers:?}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn cancelling_closes_the_upstream_stream() {
    let mut s = setup(&[]).await;
    let (id, _, _) = s.inline_in_flight("slow_answer()").await;
    s.client.cancel(id);
    let err = s.client.response(id).await.expect_err("cancelled");
    assert_eq!(err.code, -32800, "{err}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_newer_edit_aborts_the_model_call_and_the_old_request_still_gets_its_answer() {
    let mut s = setup(&[]).await;
    let (id, uri, pos) = s.inline_in_flight("never_shown()").await;
    s.client.did_change(&uri, 2, json!({"range": {"start": pos, "end": pos}, "text": "x"}));
    let result = s.client.response(id).await.unwrap();
    assert!(items(&result).is_empty(), "a stale suggestion was returned: {result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A second `didOpen` of an open document replaces its text (an editor reloading a file changed
/// on disk): a suggestion worked out for the text before must not come back for the new one,
/// whose line 1 is something else. The request still gets its one answer, with no items.
#[tokio::test]
async fn a_document_opened_again_while_its_suggestion_is_coming_gets_no_stale_suggestion() {
    let mut s = setup(&[]).await;
    let (id, uri, _) = s.inline_in_flight("never_shown()").await;
    s.client.did_open(&uri, "rust", 1, "// reloaded from disk\nfn other() {}\n");
    let result = s.client.response(id).await.unwrap();
    assert!(items(&result).is_empty(), "a suggestion for the replaced text came back: {result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1, "the model call stopped");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_typing_burst_costs_few_calls_and_every_request_is_answered() {
    let mut s = setup(&[]).await;
    s.standin.set_default(Reply::text("value").first_byte_delay(Duration::from_millis(100)));
    let uri = s.uri("burst.rs");
    s.client.did_open(&uri, "rust", 1, "fn main() {\n    let \n}\n");
    let word = "abcdefghijklmnopqrst";
    let mut ids = Vec::new();
    for (i, ch) in word.chars().enumerate() {
        let col = 8 + i as u32;
        let at = json!({"line": 1, "character": col});
        s.client.did_change(&uri, 2 + i as i32, json!({"range": {"start": at, "end": at}, "text": ch.to_string()}));
        let after = json!({"line": 1, "character": col + 1});
        ids.push(s.client.send_request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": after, "context": {"triggerKind": 2}}),
        ));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut answered_with_items = 0;
    for id in ids {
        let result = s.client.response(id).await.expect("every request is answered");
        answered_with_items += usize::from(!items(&result).is_empty());
    }
    let calls = s.standin.chat_requests().len();
    assert!(calls <= 3, "{calls} upstream calls for one burst");
    for body in s.standin.chat_requests() {
        assert_eq!(body.get("n"), None, "an automatic request asks for one suggestion: {body}");
    }
    assert!(answered_with_items >= 1, "the last request should get the suggestion");
    // Superseded calls are metered as they are dropped, off the async threads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn typing_through_a_suggestion_is_answered_from_memory() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("println!(\"hello\");"));
    let pos = s.open("a.rs", "rust", "fn main() {\n    $0\n}\n");
    let first = s.inline("a.rs", pos).await;
    assert_eq!(items(&first)[0]["insertText"], "println!(\"hello\");");
    let uri = s.uri("a.rs");
    s.client.did_change(
        &uri,
        2,
        json!({"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}, "text": "print"}),
    );
    // Typing asks on its own (automatic); an explicit request would want more suggestions.
    let second = s.typed("a.rs", json!({"line": 1, "character": 9})).await;
    assert_eq!(items(&second)[0]["insertText"], "ln!(\"hello\");");
    assert_eq!(s.standin.chat_requests().len(), 1, "type-through must not call the model");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A multi-line suggestion accepted in parts (a line, then a word of the next line, as Neovim's
/// and VS Code's partial accepts insert it) leaves the cursor lines below where it was shown:
/// the rest still comes from memory.
#[tokio::test]
async fn typing_through_a_suggestion_across_lines_is_answered_from_memory() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("let total = a + b;\n    total * 2"));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let first = s.inline("add.rs", pos).await;
    assert_eq!(items(&first)[0]["insertText"], "let total = a + b;\n    total * 2");
    let uri = s.uri("add.rs");
    let at = json!({"line": 1, "character": 4});
    s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": "let total = a + b;\n    total"}));
    let rest = s.typed("add.rs", json!({"line": 2, "character": 9})).await;
    assert_eq!(items(&rest)[0]["insertText"], " * 2");
    // Typed text that leaves the suggestion is not answered from it.
    let at = json!({"line": 2, "character": 9});
    s.standin.push(Reply::text(" + 1"));
    s.client.did_change(&uri, 3, json!({"range": {"start": at, "end": at}, "text": " /"}));
    let other = s.typed("add.rs", json!({"line": 2, "character": 11})).await;
    assert_eq!(items(&other)[0]["insertText"], " + 1");
    assert_eq!(s.standin.chat_requests().len(), 2, "only the text off the suggestion called the model");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// The same in a CRLF file, whose suggestions (and the lines the editor inserts) break lines
/// with `\r\n`.
#[tokio::test]
async fn typing_through_a_suggestion_across_lines_of_a_crlf_file_is_answered_from_memory() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("let total = a + b;\n    total * 2"));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\r\n    $0\r\n}\r\n");
    let first = s.inline("add.rs", pos).await;
    assert_eq!(items(&first)[0]["insertText"], "let total = a + b;\r\n    total * 2");
    let uri = s.uri("add.rs");
    let at = json!({"line": 1, "character": 4});
    s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": "let total = a + b;\r\n    total"}));
    let rest = s.typed("add.rs", json!({"line": 2, "character": 9})).await;
    assert_eq!(items(&rest)[0]["insertText"], " * 2");
    assert_eq!(s.standin.chat_requests().len(), 1, "type-through must not call the model");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A classic Mac file breaks lines with a lone `\r`, which LSP counts as a line break: the
/// suggestion's lines break with `\r` at the right place, and typing through it across lines
/// is answered from memory.
#[tokio::test]
async fn a_lone_cr_file_gets_lone_cr_suggestions_at_the_right_line() {
    let mut s = setup(&[]).await;
    // The model answers with `\n` and goes on past the block.
    s.standin.push(Reply::text("let total = a + b;\n    total * 2\n}\n\nfn other() {}\n"));
    let pos = s.open("add.rs", "rust", "// Sums.\rfn add(a: i32, b: i32) -> i32 {\r    $0\r}\r");
    assert_eq!(pos, json!({"line": 2, "character": 4}));
    let first = s.inline("add.rs", pos.clone()).await;
    let item = &items(&first)[0];
    assert_eq!(item["insertText"], "let total = a + b;\r    total * 2", "{first}");
    assert_eq!(item["range"]["start"], pos, "{first}");
    let uri = s.uri("add.rs");
    s.client.did_change(&uri, 2, json!({"range": {"start": pos, "end": pos}, "text": "let total = a + b;\r    total"}));
    let rest = s.typed("add.rs", json!({"line": 3, "character": 9})).await;
    assert_eq!(items(&rest)[0]["insertText"], " * 2");
    assert_eq!(s.standin.chat_requests().len(), 1, "type-through must not call the model");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A file whose first line break is a stray `\n` and all the others `\r\n` is a CRLF file,
/// also right below that stray break.
#[tokio::test]
async fn a_mostly_crlf_file_gets_crlf_suggestions_even_next_to_a_stray_lf() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("let total = a + b;\n    total * 2"));
    let pos =
        s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\r\n}\r\n\r\nfn one() {}\r\nfn two() {}\r\n");
    let first = s.inline("add.rs", pos).await;
    assert_eq!(items(&first)[0]["insertText"], "let total = a + b;\r\n    total * 2", "{first}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// The model ran out of tokens (`finish_reason: "length"`): a half-written last line is never
/// shown, in any choice, and a one-line suggestion cut mid-line is not shown at all.
#[tokio::test]
async fn a_suggestion_cut_short_by_the_token_limit_keeps_only_its_complete_lines() {
    let mut s = setup(&[]).await;
    s.standin.push(
        Reply::text("y = x * 2\n    total = compute_tot")
            .alternatives(&["y = x + 1\n    total = other_to"])
            .finish_reason("length"),
    );
    let pos = s.open("f.py", "python", "def f(x):\n    $0\n");
    let result = s.inline("f.py", pos).await;
    assert_eq!(texts(&result), ["y = x * 2", "y = x + 1"], "{result}");

    s.standin.push(Reply::text("compute_tot").finish_reason("length"));
    let pos = s.open("g.py", "python", "def g(x):\n    total = $0\n");
    let result = s.inline("g.py", pos.clone()).await;
    assert!(items(&result).is_empty(), "{result}");
    // The model's own stop is no cut.
    s.standin.push(Reply::text("compute_tot"));
    let result = s.inline("g.py", pos).await;
    assert_eq!(texts(&result), ["compute_tot"], "{result}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// Right after the user accepts a suggestion the editor asks again, and nobody is typing: that
/// automatic request skips the debounce, so the next suggestion comes as soon as the model's
/// does. Every other automatic request still waits out its debounce, which a slow typing rhythm
/// makes 250 ms long.
#[tokio::test]
async fn the_request_after_an_accept_is_not_debounced() {
    let mut s = setup(&[]).await;
    s.standin.set_default(Reply::text(" // checked"));
    let uri = s.uri("calc.rs");
    let lines: String = (0..8).map(|i| format!("    let v{i} = {i};\n")).collect();
    s.client.did_open(&uri, "rust", 1, &format!("fn calc() -> i32 {{\n{lines}}}\n"));
    let end_of = |line: u64| json!({"line": line, "character": 15});
    // A slow rhythm: requests about 230 ms apart make the debounce its longest.
    for line in 1..=3 {
        s.typed("calc.rs", end_of(line)).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let started = std::time::Instant::now();
    let result = s.typed("calc.rs", end_of(4)).await;
    let debounced = started.elapsed();
    assert!(debounced >= Duration::from_millis(250), "an automatic request waits out its debounce: {debounced:?}");

    // The user accepts the suggestion: the editor inserts it, runs its command and asks again.
    accept(&mut s, "calc.rs", 2, end_of(4), &items(&result)[0]).await;
    let started = std::time::Instant::now();
    let next = s.typed("calc.rs", json!({"line": 4, "character": 26})).await;
    let after_accept = started.elapsed();
    assert_eq!(items(&next)[0]["insertText"], " // checked", "{next}");
    assert!(after_accept < Duration::from_millis(250), "no debounce after an accept: {after_accept:?}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn the_status_reports_the_servers_own_time_without_the_models() {
    let mut s = setup(&[]).await;
    let status = s.client.request("kimi/status", json!({})).await.unwrap();
    assert_eq!(status["completionOwnTime"], Value::Null, "no completion yet: {status}");
    // The model takes 300 ms before its first byte and 100 ms between its two chunks.
    s.standin.push(
        Reply::text("")
            .chunks(&["let total = ", "a + b;"])
            .first_byte_delay(Duration::from_millis(300))
            .chunk_delay(Duration::from_millis(100)),
    );
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let result = s.inline("add.rs", pos).await;
    assert_eq!(items(&result)[0]["insertText"], "let total = a + b;");
    let status = s.client.request("kimi/status", json!({})).await.unwrap();
    let own = &status["completionOwnTime"];
    assert_eq!(own["completions"], 1, "{status}");
    let p50 = own["p50Ms"].as_f64().unwrap();
    // Counting any of the model's 400 ms would put it far above; a debug build's own work
    // stays well below.
    assert!(p50 > 0.0 && p50 < 250.0, "{own}");
    assert_eq!(own["p99Ms"], own["p50Ms"], "one completion: {own}");
    // The phases of that one completion: each took some time, and together they are the total.
    let phases: Vec<f64> = ["prepare", "send", "finish"].iter().map(|p| own[p]["p50Ms"].as_f64().unwrap()).collect();
    assert!(phases.iter().all(|&ms| ms > 0.0 && ms < 250.0), "{own}");
    assert!((phases.iter().sum::<f64>() - p50).abs() <= 0.003, "phases {phases:?} against the total {p50}: {own}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// An automatic request prepares (the reparse after an edit, the context, the prompt) while it
/// waits out its debounce, so none of that delays the model call: the server's own clock counts
/// no preparation beyond the debounce, only sending and finishing.
#[tokio::test]
async fn an_automatic_request_prepares_during_its_debounce() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("a + b"));
    let uri = s.uri("sum.rs");
    let body: String = (0..200).map(|i| format!("fn f{i}(a: u32) -> u32 {{\n    a + {i}\n}}\n\n")).collect();
    s.client.did_open(&uri, "rust", 1, &format!("{body}fn sum(a: u32, b: u32) -> u32 {{\n    \n}}\n"));
    // An edit leaves a reparse due, which the request then needs.
    let line = 200 * 4 + 1;
    let at = json!({"line": line, "character": 4});
    s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": "let s = "}));
    let after = json!({"line": line, "character": 12});
    let result = s
        .client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": after, "context": {"triggerKind": 2}}),
        )
        .await
        .unwrap();
    assert_eq!(items(&result)[0]["insertText"], "a + b");
    let status = s.client.request("kimi/status", json!({})).await.unwrap();
    let own = &status["completionOwnTime"];
    assert_eq!(own["completions"], 1, "{status}");
    assert_eq!(own["prepare"]["p50Ms"], 0.0, "the preparation should fit in the debounce: {own}");
    let (send, finish) = (own["send"]["p50Ms"].as_f64().unwrap(), own["finish"]["p50Ms"].as_f64().unwrap());
    assert!((send + finish - own["p50Ms"].as_f64().unwrap()).abs() <= 0.002, "{own}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn text_the_document_already_has_after_the_cursor_is_not_suggested_again() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("a, b)"));
    let pos = s.open("a.rs", "rust", "fn main() {\n    call($0)\n}\n");
    let result = s.inline("a.rs", pos.clone()).await;
    let item = &items(&result)[0];
    // Either the closing paren is cut from the text, or the item replaces the one in the
    // document; both leave exactly one `)`.
    let text = item["insertText"].as_str().unwrap();
    let replaced = item["range"]["end"]["character"].as_u64().unwrap() - pos["character"].as_u64().unwrap();
    let line_after = format!("    call({text}{}", &")"[replaced as usize..]);
    assert_eq!(line_after, "    call(a, b)", "{item}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_multi_line_suggestion_stops_at_the_end_of_its_block() {
    let mut s = setup(&[]).await;
    s.standin.push(
        Reply::text("")
            .chunks(PAST_THE_BLOCK)
            // Each choice of an invoked request stops at its own block's end.
            .alternatives(&["if x < 0 {\n        return -x;\n    }\n    let unrelated = 1;\n    let more = 2;\n"])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open("a.rs", "rust", "fn f(x: i32) -> i32 {\n    $0\n    0\n}\n");
    let result = s.inline("a.rs", pos).await;
    assert_eq!(
        texts(&result),
        ["if x > 0 {\n        return x;\n    }", "if x < 0 {\n        return -x;\n    }"],
        "{result}"
    );
    // It stopped reading once the block closed: the stand-in saw the stream dropped early.
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

const WIDGET_HPP: &str = "#pragma once\n\nnamespace ui {\n\nint clamp_size(int value, int max);\n\nclass Widget {\npublic:\n    void resize(int w, int h);\n    int area() const;\n\nprivate:\n    int w_ = 0;\n    int h_ = 0;\n};\n\n}  // namespace ui\n";

#[tokio::test]
async fn a_cpp_file_gets_its_headers_declarations_and_a_suggestion_cut_at_its_block() {
    let mut s = setup(&[("include/widget.hpp", WIDGET_HPP)]).await;
    let header = s.uri("include/widget.hpp");
    s.client.did_open(&header, "cpp", 1, WIDGET_HPP);
    s.standin.push(
        Reply::text("")
            .chunks(&[
                "if (w > 0) {\n",
                "        return w * h_;\n",
                "    }\n",
                "    int unrelated = 1;\n",
                "    int more = 2;\n",
                "    int even_more = 3;\n",
            ])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open(
        "src/widget.cpp",
        "cpp",
        "#include \"widget.hpp\"\n\nnamespace ui {\n\nint Widget::area() const {\n    int w = clamp_size(w_, 4096);\n    $0\n    return 0;\n}\n\n}  // namespace ui\n",
    );
    let result = s.typed("src/widget.cpp", pos).await;
    assert_eq!(texts(&result), ["if (w > 0) {\n        return w * h_;\n    }"], "{result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains("int clamp_size(int value, int max)"), "the header's prototype is missing: {prompt}");
    assert!(prompt.contains("class Widget {"), "the header's class is missing: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

const USER_REPOSITORY_PHP: &str = "<?php\n\nnamespace App\\Repository;\n\nclass UserRepository\n{\n    public function findUser(int $id): ?User\n    {\n        return null;\n    }\n\n    private function load(int $id): array\n    {\n        return [];\n    }\n}\n";

#[tokio::test]
async fn php_and_ruby_definitions_from_workspace_files_reach_the_prompt_and_a_ruby_block_stops_at_its_end() {
    // Only on disk: the workspace index walks .php and .rb files.
    let mut s = setup(&[
        ("src/Repository/UserRepository.php", USER_REPOSITORY_PHP),
        (
            "lib/billing.rb",
            "module Billing\n  def self.invoice_total(items, tax: 0.2)\n    items.sum * (1 + tax)\n  end\nend\n",
        ),
    ])
    .await;
    s.standin.push(Reply::text("return $user?->name ?? '';"));
    let pos = s.open(
        "src/Controller/ShowUser.php",
        "php",
        "<?php\n\nuse App\\Repository\\UserRepository;\n\nfunction show(UserRepository $repo, int $id): string\n{\n    $user = $repo->findUser($id);\n    $0\n}\n",
    );
    let result = s.typed("src/Controller/ShowUser.php", pos).await;
    assert_eq!(texts(&result), ["return $user?->name ?? '';"], "{result}");
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains("public function findUser(int $id): ?User;"), "the PHP method is missing: {prompt}");
    assert!(!prompt.contains("function load"), "a private method reached the prompt: {prompt}");
    s.standin.push(
        Reply::text("")
            .chunks(&[
                "total = subtotal.round(2)\n",
                "    total.to_s\n",
                "  end\n",
                "\n",
                "  def unrelated\n",
                "  end\n",
            ])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open(
        "app/cart.rb",
        "ruby",
        "class Cart\n  def total(items)\n    subtotal = Billing.invoice_total(items)\n    $0\n  end\nend\n",
    );
    let result = s.typed("app/cart.rb", pos).await;
    assert_eq!(texts(&result), ["total = subtotal.round(2)\n    total.to_s"], "{result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    let prompt = s.standin.chat_requests()[1]["messages"].to_string();
    assert!(prompt.contains("def self.invoice_total(items, tax: 0.2) ... end"), "the Ruby method is missing: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

const USER_REPOSITORY_KT: &str = "package com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun findUser(id: Int): User? = db.load(id)\n\n    private fun cacheKey(id: Int): String {\n        return \"user:$id\"\n    }\n}\n";

#[tokio::test]
async fn kotlin_definitions_from_workspace_files_reach_the_prompt_and_a_kotlin_block_stops_at_its_brace() {
    // Only on disk: the workspace index walks .kt files.
    let mut s = setup(&[("src/main/kotlin/com/acme/users/UserRepository.kt", USER_REPOSITORY_KT)]).await;
    s.standin.push(
        Reply::text("")
            .chunks(&["return user?.name ?: \"\"\n", "    }\n", "\n", "    fun unrelated() = 0\n"])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open(
        "src/main/kotlin/com/acme/web/ShowUser.kt",
        "kotlin",
        "package com.acme.web\n\nimport com.acme.users.UserRepository\n\nclass ShowUser(private val repo: UserRepository) {\n    fun show(id: Int): String {\n        val user = repo.findUser(id)\n        repo.cacheKey(id)\n        $0\n    }\n}\n",
    );
    let result = s.typed("src/main/kotlin/com/acme/web/ShowUser.kt", pos).await;
    assert_eq!(texts(&result), ["return user?.name ?: \"\""], "{result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains("fun findUser(id: Int): User?"), "the Kotlin method is missing: {prompt}");
    assert!(!prompt.contains("fun cacheKey"), "a private method reached the prompt: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

const USER_REPOSITORY_SWIFT: &str = "import Foundation\n\nfinal class UserRepository {\n    private let db: Database\n\n    init(db: Database) {\n        self.db = db\n    }\n\n    func findUser(id: Int) -> User? {\n        return db.load(id)\n    }\n\n    private func cacheKey(_ id: Int) -> String {\n        return \"user:\\(id)\"\n    }\n}\n\nextension UserRepository {\n    func findAll(ids: [Int]) -> [User] {\n        ids.compactMap { findUser(id: $0) }\n    }\n}\n";

#[tokio::test]
async fn swift_definitions_from_workspace_files_reach_the_prompt_and_private_ones_do_not() {
    // Only on disk: the workspace index walks .swift files.
    let mut s = setup(&[("Sources/Users/UserRepository.swift", USER_REPOSITORY_SWIFT)]).await;
    s.standin.push(Reply::text("return user?.name ?? \"\""));
    let pos = s.open(
        "Sources/Web/ShowUser.swift",
        "swift",
        "import Users\n\nstruct ShowUser {\n    let repo: UserRepository\n\n    func show(id: Int) -> String {\n        let user = repo.findUser(id: id)\n        let all = repo.findAll(ids: [id])\n        repo.cacheKey(id)\n        $0\n    }\n}\n",
    );
    let result = s.typed("Sources/Web/ShowUser.swift", pos).await;
    assert_eq!(texts(&result), ["return user?.name ?? \"\""], "{result}");
    let prompt = s.standin.chat_requests()[0]["messages"].to_string();
    assert!(prompt.contains("func findUser(id: Int) -> User?"), "the Swift method is missing: {prompt}");
    assert!(
        prompt.contains("extension UserRepository { func findAll(ids: [Int]) -> [User] }"),
        "the extension's method is missing: {prompt}"
    );
    assert!(!prompt.contains("func cacheKey"), "a private method reached the prompt: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_swift_block_stops_at_its_brace_and_not_at_one_in_an_interpolations_string() {
    let mut s = setup(&[]).await;
    s.standin.push(
        Reply::text("")
            .chunks(&[
                "let names = users.map { \"\\($0.first ?? \"}\") \\($0.last)\" }\n",
                "        return names.joined()\n",
                "    }\n",
                "\n",
                "    func unrelated() -> Int { 0 }\n",
            ])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open(
        "Sources/Web/Names.swift",
        "swift",
        "struct Names {\n    func all(users: [User]) -> String {\n        $0\n    }\n}\n",
    );
    let result = s.typed("Sources/Web/Names.swift", pos).await;
    assert_eq!(
        texts(&result),
        ["let names = users.map { \"\\($0.first ?? \"}\") \\($0.last)\" }\n        return names.joined()"],
        "{result}"
    );
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn unsaved_definitions_and_recent_edits_in_other_open_files_reach_the_prompt() {
    let mut s = setup(&[]).await;
    s.standin.set_default(Reply::text("frobnicate_widget(&w);"));
    let other = s.uri("src/widgets.rs");
    // Never saved to disk: only the editor has it.
    s.client.did_open(
        &other,
        "rust",
        1,
        "pub struct Gadget;\n\npub fn frobnicate_widget(w: &Widget) -> Gadget {\n    Gadget\n}\n",
    );
    s.client.did_change(
        &other,
        2,
        json!({"range": {"start": {"line": 4, "character": 1}, "end": {"line": 4, "character": 1}}, "text": "\n\npub const WIDGET_LIMIT: usize = 42;"}),
    );
    let pos = s.open("src/main.rs", "rust", "fn main() {\n    let g = frobnicate_widget(&w);\n    let h = $0\n}\n");
    let mut prompt = String::new();
    for _ in 0..50 {
        let _ = s.inline("src/main.rs", pos.clone()).await;
        prompt = s.standin.chat_requests().last().unwrap()["messages"].to_string();
        if prompt.contains("pub fn frobnicate_widget(w: &Widget) -> Gadget") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(prompt.contains("pub fn frobnicate_widget(w: &Widget) -> Gadget"), "definition missing: {prompt}");
    assert!(prompt.contains("WIDGET_LIMIT: usize = 42"), "recent edit missing: {prompt}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// Edits of files that are never sent to a model (secrets, binary files) or that
/// `completion.exclude` keeps out are no recent edits in other files' prompts; an edit of a
/// line of minified code is shown cut.
#[tokio::test]
async fn edits_of_files_kept_from_the_model_stay_out_of_other_prompts() {
    let mut s = setup_with(&[], json!({"completion": {"exclude": ["vendor/"]}})).await;
    s.standin.set_default(Reply::text("ok"));
    let edit = |s: &mut Setup, name: &str, language: &str, text: &str, typed: &str| {
        let uri = s.uri(name);
        s.client.did_open(&uri, language, 1, text);
        let at = json!({"line": 0, "character": 0});
        s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": typed}));
    };
    edit(&mut s, "vendor/lib.rs", "rust", "fn vendored() {}\n", "// VENDORED_EDIT\n");
    edit(&mut s, "blob.rs", "rust", "\0\0binary\n", "BINARY_EDIT ");
    edit(&mut s, "config/prod.env", "plaintext", "KEY=1\n", "TOKEN=SECRET_EDIT\n");
    let minified = format!("var a={};\n", "1+".repeat(20_000) + "1");
    edit(&mut s, "app.min.js", "javascript", &minified, "MINIFIED_EDIT;");
    edit(&mut s, "src/util.rs", "rust", "pub fn util() {}\n", "// PLAIN_EDIT\n");
    let pos = s.open("src/main.rs", "rust", "fn main() {\n    $0\n}\n");
    let _ = s.inline("src/main.rs", pos).await;
    let prompt = s.standin.chat_requests().last().unwrap()["messages"].to_string();
    assert!(prompt.contains("PLAIN_EDIT"), "an ordinary file's edit is context: {prompt}");
    for kept_out in ["VENDORED_EDIT", "BINARY_EDIT", "SECRET_EDIT"] {
        assert!(!prompt.contains(kept_out), "{kept_out} reached the model: {prompt}");
    }
    let minified_line = prompt.split("MINIFIED_EDIT").nth(1).and_then(|rest| rest.split("\\n").next()).unwrap_or("");
    assert!(minified_line.len() < 400 && minified_line.ends_with('…'), "the long line is cut: {minified_line}");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A 429 is the provider's text, and the wait in it a number the server reads: one too large
/// for a `Duration` (the live message's own wording around it) panicked on the message loop
/// and took the server down with every request in flight. It is read as the longest wait the
/// server believes (a day), the user is told, and the server keeps answering.
#[tokio::test]
async fn a_rate_limit_naming_an_absurd_wait_is_reported_and_the_server_stays_up() {
    let mut s = setup(&[]).await;
    let message = "Your account org-0b5c<ak-f1c8> request reached TPD rate limit,current:1500512, limit:1500000, \
                   please try again after 99999999999999999999999 seconds";
    let body = json!({"error": {"message": message, "type": "rate_limit_reached_error"}});
    s.standin.push(Reply::raw(429, &body.to_string()));
    let pos = s.open("a.rs", "rust", "fn main() {\n    $0\n}\n");
    let result = s.inline("a.rs", pos.clone()).await;
    assert!(items(&result).is_empty(), "{result}");
    let shown = s.client.expect_notification("window/showMessage").await;
    let text = shown["message"].as_str().unwrap();
    assert!(text.contains("Rate limit reached") && text.contains("wait 86400 s"), "{text}");
    s.take_usage().await;
    // Still serving: an explicit request after it goes out and is answered.
    s.standin.push(Reply::text("ok()"));
    let result = s.inline("a.rs", pos).await;
    assert_eq!(texts(&result), ["ok()"]);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn completions_can_be_switched_off_live() {
    let mut s = setup(&[]).await;
    s.client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"completion": {"enabled": false}}}}));
    let pos = s.open("a.rs", "rust", "fn main() {\n    $0\n}\n");
    let result = s.inline("a.rs", pos.clone()).await;
    assert!(items(&result).is_empty());
    assert!(s.standin.chat_requests().is_empty(), "switched off must cost nothing");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["message"], "kimi-lsp: completions are off (`completion.enabled` is false)");
    s.client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"completion": {"enabled": true}}}}));
    let result = s.inline("a.rs", pos).await;
    assert_eq!(items(&result)[0]["insertText"], "ok");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn completions_can_be_off_by_language_or_path_and_an_explicit_request_says_why() {
    let settings = json!({"completion": {"languages": {"markdown": false}, "exclude": ["vendor/", "*.min.js"]}});
    let mut s = setup_with(&[], settings).await;
    let notes = s.open("README.md", "markdown", "# Notes\n\nThe parser $0\n");
    let vendored = s.open("vendor/left-pad/lib.rs", "rust", "pub fn pad() {\n    $0\n}\n");

    // Typing in them asks for nothing and says nothing.
    assert!(items(&s.typed("README.md", notes.clone()).await).is_empty());
    assert!(items(&s.typed("vendor/left-pad/lib.rs", vendored.clone()).await).is_empty());
    // Asking explicitly gets nothing either, and a note saying which setting turned it off.
    assert!(items(&s.inline("README.md", notes.clone()).await).is_empty());
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 3, "information, not an error: {shown}");
    assert_eq!(shown["message"], "kimi-lsp: completions are off for markdown files (`completion.languages`)");
    assert!(items(&s.inline("vendor/left-pad/lib.rs", vendored.clone()).await).is_empty());
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("matches `vendor/` in `completion.exclude`"), "{shown}");
    // Once in a while: asking again in the same file does not repeat the note (an unread
    // message would fail the shutdown below).
    assert!(items(&s.inline("vendor/left-pad/lib.rs", vendored.clone()).await).is_empty());

    // The completion list is complete, so that the editor stops asking at every key.
    let list = s
        .client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": s.uri("README.md")}, "position": notes, "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(list["isIncomplete"], false, "{list}");
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");

    // The document's state says why, and which language id the settings see; a status bar
    // asks without the text.
    let state = s
        .client
        .request(
            "kimi/documentState",
            json!({"textDocument": {"uri": s.uri("vendor/left-pad/lib.rs")}, "withText": false}),
        )
        .await
        .unwrap();
    assert_eq!(state.get("text"), None, "{state}");
    assert_eq!(state["languageId"], "rust");
    assert!(state["completionsOff"].as_str().unwrap().contains("`vendor/`"), "{state}");

    // Files that are never sent get the same answer, with their own reason.
    let secret = s.open(".env", "dotenv", "API_TOKEN=$0\n");
    assert!(items(&s.inline(".env", secret).await).is_empty());
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("looks like a secret"), "{shown}");
    let binary = s.open("blob.rs", "rust", "fn f() {}\n\u{0}\u{1}$0\n");
    assert!(items(&s.inline("blob.rs", binary).await).is_empty());
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("binary data"), "{shown}");
    assert!(s.standin.chat_requests().is_empty(), "nothing was sent for them");

    // Everywhere else it works, and a live change of the settings takes markdown back.
    let code = s.open("src/main.rs", "rust", "fn main() {\n    $0\n}\n");
    assert_eq!(texts(&s.inline("src/main.rs", code).await), ["ok"]);
    s.client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"kimi": {"completion": {"languages": {"markdown": true}}}}}),
    );
    let state =
        s.client.request("kimi/documentState", json!({"textDocument": {"uri": s.uri("README.md")}})).await.unwrap();
    assert_eq!(state["completionsOff"], Value::Null, "{state}");
    assert_eq!(texts(&s.inline("README.md", json!({"line": 2, "character": 11})).await), ["ok"]);
    assert_eq!(s.standin.chat_requests().len(), 2);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn an_invoked_request_offers_several_suggestions_each_typed_through_from_memory() {
    let mut s = setup(&[]).await;
    // Choice 2 says what choice 0 says: shown once.
    s.standin.push(Reply::text("a + b").alternatives(&["a.wrapping_add(b)", "a + b"]));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let result = s.inline("add.rs", pos).await;
    assert_eq!(texts(&result), ["a + b", "a.wrapping_add(b)"], "{result}");
    let ids: Vec<Value> = items(&result).iter().map(|i| i["command"]["arguments"][0].clone()).collect();
    assert_ne!(ids[0], ids[1], "each suggestion is accepted on its own");
    assert_eq!(s.standin.chat_requests()[0]["n"], 3, "one request asks for the default three");

    // The user picked the second one and types it.
    let uri = s.uri("add.rs");
    let at = json!({"line": 1, "character": 4});
    s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": "a.wr"}));
    let typed = s.typed("add.rs", json!({"line": 1, "character": 8})).await;
    assert_eq!(items(&typed)[0]["insertText"], "apping_add(b)", "{typed}");
    assert_eq!(s.standin.chat_requests().len(), 1, "type-through must not call the model");

    // Accepting the second counts the request's suggestion as accepted.
    s.client
        .request("workspace/executeCommand", json!({"command": "kimi.acceptCompletion", "arguments": [ids[1]]}))
        .await
        .unwrap();
    let mut accepted = Value::Null;
    for _ in 0..100 {
        accepted = s.client.request("kimi/status", json!({})).await.unwrap()["acceptedCompletions"].clone();
        if accepted == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(accepted, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn the_number_of_invoked_suggestions_is_a_setting_and_lists_get_one() {
    let mut s = setup_with(&[], json!({"completion": {"invokedChoices": 1}})).await;
    s.standin.set_default(Reply::text("a + b").alternatives(&["a - b"]));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let result = s.inline("add.rs", pos.clone()).await;
    assert_eq!(items(&result).len(), 1, "{result}");
    assert_eq!(s.standin.chat_requests()[0].get("n"), None);

    // A completion list is opened by the editor as the user types, "invoked" or not: one.
    let uri = s.uri("add.rs");
    let at = json!({"line": 1, "character": 4});
    s.client.did_change(&uri, 2, json!({"range": {"start": at, "end": at}, "text": "x"}));
    let list = s
        .client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 5}, "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(s.standin.chat_requests()[1].get("n"), None);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_model_that_gives_one_suggestion_is_asked_for_one_from_then_on() {
    // K2.5 fixes both its temperature and `n`: the first request learns both, one at a time.
    let mut s = setup_with(&[], json!({"models": {"completion": "kimi-k2.5"}})).await;
    s.standin.set_default(Reply::text("a + b"));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");
    let first = s.inline("add.rs", pos.clone()).await;
    assert_eq!(items(&first)[0]["insertText"], "a + b", "{first}");
    let asked: Vec<(bool, Value)> = s
        .standin
        .chat_requests()
        .iter()
        .map(|b| (b.get("temperature").is_some(), b.get("n").cloned().unwrap_or(json!(1))))
        .collect();
    assert_eq!(asked, [(true, json!(3)), (false, json!(3)), (false, json!(1))]);

    // Somewhere the suggestion shown cannot be typed through.
    let uri = s.uri("add.rs");
    s.client.did_change(&uri, 2, json!({"range": {"start": pos, "end": pos}, "text": "x"}));
    let again = s.inline("add.rs", json!({"line": 1, "character": 5})).await;
    assert_eq!(items(&again)[0]["insertText"], "a + b", "{again}");
    let bodies = s.standin.chat_requests();
    assert_eq!(bodies.len(), 4, "the second request goes out right the first time");
    assert_eq!(bodies[3].get("n"), None);
    // Each completion is metered once, its retries included.
    for _ in 0..2 {
        s.client.expect_notification("kimi/usageChanged").await;
    }
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn asking_for_the_next_suggestion_fetches_several_once_then_remembers_them() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("a + b"));
    s.standin.push(Reply::text("a + b").alternatives(&["a.saturating_add(b)", "b + a"]));
    let pos = s.open("add.rs", "rust", "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n");

    // Typing shows one suggestion.
    let shown = s.typed("add.rs", pos.clone()).await;
    assert_eq!(items(&shown).len(), 1, "{shown}");
    assert_eq!(s.standin.chat_requests()[0].get("n"), None);

    // "Next suggestion" asks explicitly at the same place: one remembered suggestion is not
    // what the user asked for, so the model is asked for three.
    let more = s.inline("add.rs", pos.clone()).await;
    assert_eq!(texts(&more), ["a + b", "a.saturating_add(b)", "b + a"], "{more}");
    assert_eq!(s.standin.chat_requests()[1]["n"], 3);

    // Asked again, or while typing, memory has them all.
    let again = s.inline("add.rs", pos.clone()).await;
    assert_eq!(texts(&again), texts(&more));
    let typing = s.typed("add.rs", pos).await;
    assert_eq!(texts(&typing), texts(&more));
    assert_eq!(s.standin.chat_requests().len(), 2, "no model call for what is remembered");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_server_that_ignores_n_still_has_its_stream_closed_at_the_block_end() {
    let mut s = setup(&[]).await;
    s.standin.push(Reply::text("").chunks(PAST_THE_BLOCK).chunk_delay(Duration::from_millis(200)).one_choice());
    let pos = s.open("a.rs", "rust", "fn f(x: i32) -> i32 {\n    $0\n    0\n}\n");
    let result = s.inline("a.rs", pos).await;
    assert_eq!(s.standin.chat_requests()[0]["n"], 3);
    assert_eq!(texts(&result), ["if x > 0 {\n        return x;\n    }"], "{result}");
    // Closed at the block's end rather than waiting for choices that never come.
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    assert_eq!(s.standin.completed_streams(), 0);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn java_gets_class_signatures_from_other_files_and_block_sized_suggestions() {
    let mut s = setup(&[]).await;
    s.standin.set_default(Reply::text("return user.map(User::name).orElse(\"\");"));
    // Open in the editor, never saved: only the editor's text has the method.
    let repository = s.uri("src/main/java/com/acme/UserRepository.java");
    s.client.did_open(
        &repository,
        "java",
        1,
        "package com.acme;\n\npublic class UserRepository {\n    private final Map<Long, User> cache = new HashMap<>();\n\n    public Optional<User> findUser(long id) {\n        return Optional.ofNullable(cache.get(id));\n    }\n\n    private void evict(long id) {\n        cache.remove(id);\n    }\n}\n",
    );
    let pos = s.open(
        "src/main/java/com/acme/Greeter.java",
        "java",
        "package com.acme;\n\npublic class Greeter {\n    private final UserRepository repo;\n\n    public String greet(long id) {\n        Optional<User> user = repo.findUser(id);\n        $0\n    }\n}\n",
    );
    // Inside the class's summary, which lists its public members.
    let signature = "public Optional<User> findUser(long id);";
    let mut prompt = String::new();
    for _ in 0..50 {
        let _ = s.inline("src/main/java/com/acme/Greeter.java", pos.clone()).await;
        prompt = s.standin.chat_requests().last().unwrap()["messages"].to_string();
        if prompt.contains(signature) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(prompt.contains(signature), "findUser's signature is missing: {prompt}");
    // The class's surface, without what other files cannot call (the open file's code itself
    // may show as similar code).
    let definitions = prompt.split("</definitions>").next().unwrap();
    assert!(!definitions.contains("evict"), "a private method reached the definitions: {prompt}");

    s.standin.push(
        Reply::text("")
            .chunks(&[
                "if (user == null) {\n",
                "            return \"\";\n",
                "        }\n",
                "        String unrelated = \"}\";\n",
                "        int more = 2;\n",
                "        int evenMore = 3;\n",
            ])
            .chunk_delay(Duration::from_millis(30)),
    );
    let pos = s.open(
        "src/main/java/com/acme/Report.java",
        "java",
        "package com.acme;\n\nclass Report {\n    String render(User user) {\n        $0\n        return user.name();\n    }\n}\n",
    );
    let result = s.inline("src/main/java/com/acme/Report.java", pos).await;
    assert_eq!(texts(&result), ["if (user == null) {\n            return \"\";\n        }"], "{result}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// Accepts the suggestion `item` shown at `at` in `name` as an editor does: inserts its text,
/// runs its command.
async fn accept(s: &mut Setup, name: &str, version: i32, at: Value, item: &Value) {
    let uri = s.uri(name);
    s.client.did_change(&uri, version, json!({"range": {"start": at, "end": at}, "text": item["insertText"]}));
    s.client
        .request(
            "workspace/executeCommand",
            json!({"command": "kimi.acceptCompletion", "arguments": [item["command"]["arguments"][0]]}),
        )
        .await
        .unwrap();
}

/// A server with `completion.speculate` on, showing `let v = compute(1);` in `a.rs`, whose
/// model answers `ahead` for the place that suggestion ends: its place and the answer, once the
/// request worked out ahead has reached the stand-in.
async fn shown_with_speculation(ahead: Reply) -> (Setup, Value, Value) {
    let mut s = setup_with(&[], json!({"completion": {"speculate": true}})).await;
    s.standin.push(Reply::text("let v = compute(1);"));
    s.standin.push(ahead);
    let pos = s.open("a.rs", "rust", "fn main() {\n    $0\n}\n");
    let first = s.inline("a.rs", pos.clone()).await;
    assert_eq!(texts(&first), ["let v = compute(1);"]);
    s.standin.wait_for_chat_requests(2, Duration::from_secs(5)).await;
    (s, pos, first)
}

/// Accepts the suggestion [`shown_with_speculation`] showed, as an editor does, and asks at its
/// end: that answer is the one worked out ahead, and the one after it is asked for next.
async fn accept_then_next(s: &mut Setup, pos: Value, first: &Value) {
    accept(s, "a.rs", 2, pos, &items(first)[0]).await;
    let next = s.typed("a.rs", json!({"line": 1, "character": 23})).await;
    assert_eq!(items(&next)[0]["insertText"], " // computed", "{next}");
    // No request asked for it again: the third is already for the place after it.
    let requests = s.standin.wait_for_chat_requests(3, Duration::from_secs(5)).await;
    assert_eq!(last_message(&requests[2])["content"], "    let v = compute(1); // computed");
}

/// With `completion.speculate`, the suggestion after the one on screen is asked for while the
/// user reads it, on the text as it will be once accepted; accepting then shows it from memory.
#[tokio::test]
async fn the_suggestion_after_the_one_on_screen_is_ready_when_it_is_accepted() {
    let (mut s, pos, first) = shown_with_speculation(Reply::text(" // computed")).await;
    // The second request is for the end of the suggestion, in the text as if accepted.
    let ahead = last_message(&s.standin.chat_requests()[1]);
    assert_eq!(ahead["content"], "    let v = compute(1);", "{ahead}");
    s.take_usage().await;
    accept_then_next(&mut s, pos, &first).await;
    s.take_usage().await;
    // Two suggestions reached the screen, one was accepted; the one worked out ahead of the
    // next accept is not counted as shown.
    let mut usage = Value::Null;
    for _ in 0..100 {
        usage = s.client.request("kimi/usage", json!({})).await.unwrap();
        if usage["today"]["shownCompletions"] == 2 && usage["today"]["acceptanceRate"] == 0.5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(usage["today"]["shownCompletions"], 2, "{usage}");
    assert_eq!(usage["today"]["acceptanceRate"], 0.5, "{usage}");
    assert!(s.client.shutdown().await.success());
}

/// Accepted before the suggestion after it is in: the editor's next request waits for it
/// instead of asking the model again.
#[tokio::test]
async fn a_request_where_a_suggestion_is_coming_waits_for_it() {
    let ahead = Reply::text(" // computed").first_byte_delay(Duration::from_millis(700));
    let (mut s, pos, first) = shown_with_speculation(ahead).await;
    accept_then_next(&mut s, pos, &first).await;
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// Typing something else instead calls the speculation off (its stream is closed), and the
/// request for what was typed asks the model itself.
#[tokio::test]
async fn typing_something_else_calls_the_speculation_off() {
    let ahead = Reply::text(" // never shown").first_byte_delay(Duration::from_secs(5));
    let (mut s, pos, _) = shown_with_speculation(ahead).await;
    s.standin.push(Reply::text("(2);"));
    let uri = s.uri("a.rs");
    s.client.did_change(&uri, 2, json!({"range": {"start": pos, "end": pos}, "text": "other"}));
    let typed = s.typed("a.rs", json!({"line": 1, "character": 9})).await;
    assert_eq!(texts(&typed), ["(2);"], "{typed}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    // Settled: the request's answer is not worked on ahead while it is still streaming.
    let requests = s.standin.wait_for_chat_requests(4, Duration::from_secs(5)).await;
    assert_eq!(last_message(&requests[3])["content"], "    other(2);");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A request waiting for the suggestion worked out ahead, when the user types on: it answers
/// empty (its text is gone), and the newer request gets its own answer.
#[tokio::test]
async fn a_request_waiting_for_a_speculation_yields_to_newer_typing() {
    let ahead = Reply::text(" // never shown").first_byte_delay(Duration::from_secs(5));
    let (mut s, pos, first) = shown_with_speculation(ahead).await;
    s.standin.push(Reply::text(" // typed on"));
    accept(&mut s, "a.rs", 2, pos, &items(&first)[0]).await;
    let uri = s.uri("a.rs");
    let end = json!({"line": 1, "character": 23});
    let waiting = s.client.send_request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": uri}, "position": end, "context": {"triggerKind": 2}}),
    );
    s.client.did_change(&uri, 3, json!({"range": {"start": end, "end": end}, "text": ";"}));
    let newer = s.typed("a.rs", json!({"line": 1, "character": 24})).await;
    assert_eq!(items(&newer)[0]["insertText"], " // typed on", "{newer}");
    let stale = s.client.response(waiting).await.unwrap();
    assert!(items(&stale).is_empty(), "a stale suggestion was returned: {stale}");
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    // The newer suggestion, shown, has the one after it asked for at once: that fourth call's
    // usage must have been metered before the test reads them all (it once arrived after).
    s.standin.wait_for_chat_requests(4, Duration::from_secs(5)).await;
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// A notebook as VS Code opens one (LSP 3.17 notebook sync): its URI and its cells' URIs.
fn open_notebook(s: &mut Setup, cells: &[(u8, &str, &str)]) -> (String, Vec<String>) {
    let notebook = s.uri("analysis.ipynb");
    let uris = s.client.open_notebook(&notebook, cells);
    (notebook, uris)
}

/// The last upstream request, and all its messages' contents as one string.
fn last_request(s: &Setup) -> (Value, String) {
    let body = s.standin.chat_requests().last().unwrap().clone();
    let prompt = body["messages"].as_array().unwrap().iter().map(|m| m["content"].to_string()).collect();
    (body, prompt)
}

#[tokio::test]
async fn a_notebook_cell_is_completed_with_the_cells_around_it() {
    let mut s = setup(&[]).await;
    let (notebook, cells) = open_notebook(
        &mut s,
        &[
            (2, "python", "import pandas as pd\n%matplotlib inline\nsales = pd.read_csv(\"sales.csv\")\n"),
            (1, "markdown", "## Totals by region"),
            (2, "python", "by_region = sales."),
        ],
    );
    let ask = |s: &mut Setup, uri: &str, line: u32, character: u32, kind: u8| {
        let params = json!({
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": kind},
        });
        s.client.send_request("textDocument/inlineCompletion", params)
    };
    s.standin.push(Reply::text("groupby(\"region\").sum()"));
    let id = ask(&mut s, &cells[2], 0, 18, 1);
    let result = s.client.response(id).await.unwrap();
    assert_eq!(texts(&result), ["groupby(\"region\").sum()"]);
    // In the cell's own lines, not the notebook's.
    assert_eq!(items(&result)[0]["range"]["start"], json!({"line": 0, "character": 18}), "{result}");
    // The model saw the cells above, the markdown as a comment, the magic commented out.
    let (body, prompt) = last_request(&s);
    for seen in
        ["import pandas as pd", "# %matplotlib inline", "# %% [markdown]\\n# ## Totals by region", "analysis.ipynb"]
    {
        assert!(prompt.contains(seen), "{seen:?} not in {prompt}");
    }
    assert_eq!(last_message(&body)["content"], "by_region = sales.", "the partial-mode prefill is the cell's line");

    // A cell inserted above, its text typed into, and a request further down the same cell.
    s.client.notify(
        "notebookDocument/didChange",
        json!({
            "notebookDocument": {"uri": notebook, "version": 1},
            "change": {"cells": {
                "structure": {
                    "array": {"start": 0, "deleteCount": 0, "cells": [{"kind": 2, "document": format!("{}new", cells[0])}]},
                    "didOpen": [{"uri": format!("{}new", cells[0]), "languageId": "python", "version": 1, "text": "import numpy as np"}],
                },
                "textContent": [{
                    "document": {"uri": cells[2], "version": 2},
                    "changes": [{"range": {"start": {"line": 0, "character": 18}, "end": {"line": 0, "character": 18}}, "text": "sum()\ntop = by_region."}],
                }],
            }},
        }),
    );
    s.standin.push(Reply::text("nlargest(3)"));
    let id = ask(&mut s, &cells[2], 1, 16, 1);
    let result = s.client.response(id).await.unwrap();
    assert_eq!(texts(&result), ["nlargest(3)"]);
    assert_eq!(items(&result)[0]["range"]["start"], json!({"line": 1, "character": 16}), "{result}");
    let (_, prompt) = last_request(&s);
    assert!(prompt.contains("import numpy as np"), "the inserted cell is read: {prompt}");
    assert!(prompt.contains("by_region = sales.sum()"), "the cell's edit is read: {prompt}");
    assert!(!prompt.contains("<recent_edits>"), "the notebook's own edit is not repeated as a recent edit: {prompt}");
    // Another file's completion sees the cell's edit as a recent edit of the notebook.
    s.standin.push(Reply::text("load()"));
    let pos = s.open("report.py", "python", "data = $0\n");
    assert_eq!(texts(&s.inline("report.py", pos).await), ["load()"]);
    let (_, prompt) = last_request(&s);
    assert!(prompt.contains("top = by_region."), "the notebook's edit is not among the recent edits: {prompt}");

    // Closed with its notebook: a late request for the cell is answered, with nothing.
    s.client.notify(
        "notebookDocument/didClose",
        json!({"notebookDocument": {"uri": notebook}, "cellTextDocuments": cells.iter().map(|c| json!({"uri": c})).collect::<Vec<_>>()}),
    );
    let id = ask(&mut s, &cells[2], 1, 16, 1);
    assert_eq!(texts(&s.client.response(id).await.unwrap()), Vec::<String>::new());
    assert_eq!(s.standin.chat_requests().len(), 3, "no model call for a closed cell");
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}

/// LSP 3.17: closing a notebook closes its cells. A client that goes on using a cell's URI
/// (a request in flight at the close, a late edit, late requests of every kind) gets what any
/// document that is not open gets: no items, no model call, nothing left hanging; and a cell
/// the client opens again as a text document of its own is completed like one.
#[tokio::test]
async fn a_cell_closed_with_its_notebook_is_answered_like_a_document_that_is_not_open() {
    let mut s = setup(&[]).await;
    let (notebook, cells) = open_notebook(&mut s, &[(2, "python", "import os\n"), (2, "python", "path = os.")]);
    let request = |s: &mut Setup, method: &str, kind: u8| {
        let at = json!({"line": 0, "character": 10});
        let params = match method {
            "textDocument/codeAction" => json!({
                "textDocument": {"uri": cells[1]},
                "range": {"start": at, "end": at},
                "context": {"diagnostics": []},
            }),
            _ => json!({"textDocument": {"uri": cells[1]}, "position": at, "context": {"triggerKind": kind}}),
        };
        s.client.send_request(method, params)
    };
    // In flight when the notebook closes: answered, empty, and the model call stops.
    s.standin.push(Reply::text("never_shown()").first_byte_delay(Duration::from_secs(5)));
    let in_flight = request(&mut s, "textDocument/inlineCompletion", 1);
    s.standin.wait_for_chat_requests(1, Duration::from_secs(5)).await;
    s.client.notify(
        "notebookDocument/didClose",
        json!({"notebookDocument": {"uri": notebook}, "cellTextDocuments": cells.iter().map(|c| json!({"uri": c})).collect::<Vec<_>>()}),
    );
    assert_eq!(items(&s.client.response(in_flight).await.unwrap()), Vec::<Value>::new());
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1, "the model call stopped");

    // The client still believes the cell open: it edits it and asks again, in every way.
    s.client.did_change(&cells[1], 2, json!([{"text": "path = os.getcwd"}]));
    for kind in [1, 2] {
        let id = request(&mut s, "textDocument/inlineCompletion", kind);
        assert_eq!(s.client.response(id).await.unwrap(), json!({"items": []}), "trigger kind {kind}");
    }
    let id = request(&mut s, "textDocument/completion", 1);
    assert_eq!(s.client.response(id).await.unwrap(), Value::Null);
    let id = request(&mut s, "textDocument/codeAction", 0);
    assert_eq!(s.client.response(id).await.unwrap(), Value::Null);
    let err = s.client.request("kimi/documentState", json!({"textDocument": {"uri": cells[1]}})).await.unwrap_err();
    assert!(err.message.contains("is not open"), "{err:?}");
    assert_eq!(s.standin.chat_requests().len(), 1, "no model call for a closed cell");

    // Opened again as a text document of its own: completed like any other.
    s.client.did_open(&cells[1], "python", 1, "path = os.");
    s.standin.push(Reply::text("getcwd()"));
    let id = request(&mut s, "textDocument/inlineCompletion", 1);
    assert_eq!(texts(&s.client.response(id).await.unwrap()), ["getcwd()"]);
    s.take_usage().await;
    assert!(s.client.shutdown().await.success());
}
