//! Usage visible everywhere and budgets that hold, end to end: the real binary over stdio and
//! from a terminal, against the stand-in.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kimi_test_support::{file_uri, LspClient, Reply, Standin};
use serde_json::{json, Value};

const KEY: &str = "sk-usage-budget-test";

/// One dollar per million prompt tokens and nothing else, so a request's cost is its prompt
/// tokens over a million.
fn flat_prices() -> Value {
    json!({"kimi-k2-turbo-preview": {"cacheHit": 1.0, "cacheMiss": 1.0, "output": 0.0},
           "kimi-k2.5": {"cacheHit": 1.0, "cacheMiss": 1.0, "output": 0.0}})
}

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
}

async fn setup(options: Value) -> Setup {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let base = standin.base_url();
    let data_dir = data.path().to_str().unwrap().to_string();
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base), ("KIMI_LSP_DATA_DIR", &data_dir)],
        None,
    );
    client.initialize(json!({}), options, Some(dir.path())).await;
    Setup { standin, client, dir, data }
}

impl Setup {
    fn open(&mut self, name: &str, text: &str) -> String {
        let uri = file_uri(&self.dir.path().join(name));
        self.client.did_open(&uri, "rust", 1, text);
        uri
    }

    async fn inline(&mut self, uri: &str, line: u32, character: u32) -> Vec<Value> {
        let result = self
            .client
            .request(
                "textDocument/inlineCompletion",
                json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}}),
            )
            .await
            .unwrap_or_else(|e| panic!("inlineCompletion failed: {e}"));
        result["items"].as_array().cloned().unwrap_or_default()
    }

    /// `kimi-lsp usage` against this server's ledger.
    fn cli_usage(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"));
        cmd.arg("usage")
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("KIMI_LSP_DATA_DIR", self.data.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// Files with one statement to complete each, so every completion is a fresh model call.
fn source(n: usize) -> String {
    format!("fn f{n}(a: i32, b: i32) -> i32 {{\n    let total = \n}}\n")
}

#[tokio::test]
async fn a_spent_budget_refuses_without_an_upstream_call_and_says_which_limit() {
    let mut s = setup(json!({"prices": flat_prices(), "budget": {"daily": 0.001}})).await;
    // 1,500 prompt tokens at $1/M: $0.0015, past the $0.001 limit.
    s.standin.push(Reply::text("a + b;").usage(1_500, 5, 0));
    let first = s.open("one.rs", &source(1));
    assert_eq!(s.inline(&first, 1, 16).await.len(), 1, "the first request is under the budget");
    let changed = s.client.expect_notification("kimi/usageChanged").await;
    assert_eq!(changed["lastRequest"]["promptTokens"], 1_500);
    assert_eq!(s.standin.chat_requests().len(), 1);

    // A completion: no items, no upstream call, and the user is told which limit and how to raise it.
    let second = s.open("two.rs", &source(2));
    assert!(s.inline(&second, 1, 16).await.is_empty(), "the budget must refuse");
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("daily budget"), "{message}");
    assert!(message.contains("0.0015 spent today"), "{message}");
    assert!(message.contains("`budget.daily`"), "{message}");
    assert_eq!(s.standin.chat_requests().len(), 1, "nothing was sent upstream");

    // A code action: the request fails with the same message.
    let actions = s
        .client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": second}, "range": {"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 3}}, "context": {"diagnostics": []}}),
        )
        .await
        .unwrap();
    let document = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap_or("").starts_with("Kimi: Document"))
        .unwrap_or_else(|| panic!("no Document action in {actions}"))
        .clone();
    let err = s
        .client
        .request("workspace/executeCommand", document["command"].clone())
        .await
        .expect_err("the budget refuses the action");
    assert!(err.message.contains("`budget.daily`"), "{err}");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("`budget.daily`"), "{shown}");
    assert_eq!(s.standin.chat_requests().len(), 1, "nothing was sent upstream");
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn at_eighty_percent_the_user_is_warned_once() {
    let mut s = setup(json!({"prices": flat_prices(), "budget": {"daily": 0.001}})).await;
    for prompt_tokens in [850, 10, 10] {
        s.standin.push(Reply::text("a + b;").usage(prompt_tokens, 5, 0));
    }
    let first = s.open("one.rs", &source(1));
    assert_eq!(s.inline(&first, 1, 16).await.len(), 1);
    s.client.expect_notification("kimi/usageChanged").await;
    let unread = s.client.take_unread();
    assert!(unread.is_empty(), "no warning below 80 %: {unread:?}");

    // $0.00085 of $0.001 spent: the next request goes out, with a warning.
    let second = s.open("two.rs", &source(2));
    assert_eq!(s.inline(&second, 1, 16).await.len(), 1, "80 % still allows requests");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 2, "a warning: {shown}");
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("85 % of the daily budget"), "{message}");
    assert!(message.contains("`budget.daily`"), "{message}");
    s.client.expect_notification("kimi/usageChanged").await;
    assert_eq!(s.standin.chat_requests().len(), 2);

    // Once a day per limit: the next request, still under the limit, comes without one. Warnings
    // and usage notifications leave in order, so a second warning would be read by now.
    let third = s.open("three.rs", &source(3));
    assert_eq!(s.inline(&third, 1, 16).await.len(), 1);
    let changed = s.client.expect_notification("kimi/usageChanged").await;
    assert_eq!(changed["sessionRequests"], 3);
    let unread = s.client.take_unread();
    assert!(unread.is_empty(), "the 80 % warning came twice: {unread:?}");
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn usage_totals_equal_what_the_standin_reported_in_the_terminal_and_over_lsp() {
    let mut s = setup(Value::Null).await;
    let reported = [(1_200u64, 30u64, 400u64), (800, 20, 0), (2_000, 50, 1_000)];
    for (prompt, output, cached) in reported {
        s.standin.push(Reply::text("a + b;").usage(prompt as u32, output as u32, cached as u32));
    }
    let mut expected_session_cost = 0.0;
    for (n, (prompt, output, cached)) in reported.into_iter().enumerate() {
        let uri = s.open(&format!("f{n}.rs"), &source(n));
        assert_eq!(s.inline(&uri, 1, 16).await.len(), 1);
        // The notification carries this request and the running session totals.
        let changed = s.client.expect_notification("kimi/usageChanged").await;
        let last = &changed["lastRequest"];
        assert_eq!(last["feature"], "completion");
        assert_eq!(last["model"], "kimi-k2-turbo-preview");
        assert_eq!(last["outcome"], "shown");
        assert_eq!(
            (last["promptTokens"].as_u64(), last["completionTokens"].as_u64(), last["cachedTokens"].as_u64()),
            (Some(prompt), Some(output), Some(cached))
        );
        // Default turbo prices (USD per million): 0.15 cache hit, 1.15 cache miss, 8.00 output.
        let cost = (cached as f64 * 0.15 + (prompt - cached) as f64 * 1.15 + output as f64 * 8.0) / 1e6;
        assert!((last["cost"].as_f64().unwrap() - cost).abs() < 1e-9, "{changed}");
        expected_session_cost += cost;
        assert_eq!(changed["sessionRequests"], n as u64 + 1);
        assert!((changed["sessionCost"].as_f64().unwrap() - expected_session_cost).abs() < 1e-9, "{changed}");
    }

    let out = s.cli_usage(&["--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).expect("JSON from `kimi-lsp usage --json`");
    let sum = |i: usize| reported.iter().map(|r| [r.0, r.1, r.2][i]).sum::<u64>();
    for period in ["today", "thisWeek", "allTime"] {
        let p = &cli[period];
        assert_eq!(p["requests"], 3, "{period}: {p}");
        assert_eq!(p["promptTokens"], sum(0), "{period}");
        assert_eq!(p["completionTokens"], sum(1), "{period}");
        assert_eq!(p["cachedTokens"], sum(2), "{period}");
        assert!((p["cost"].as_f64().unwrap() - expected_session_cost).abs() < 1e-9, "{period}: {p}");
        assert_eq!(p["byFeature"][0]["name"], "completion");
        assert_eq!(p["byModel"][0]["name"], "kimi-k2-turbo-preview");
        assert_eq!(p["shownCompletions"], 3);
        assert_eq!(p["acceptanceRate"].as_f64(), Some(0.0));
        assert_eq!(p["costPerAcceptedCompletion"], Value::Null, "nothing accepted yet");
        assert!((p["cacheHitRatio"].as_f64().unwrap() - 1_400.0 / 4_000.0).abs() < 1e-12);
    }

    // The editor shims get exactly the same report.
    let lsp = s.client.request("kimi/usage", Value::Null).await.unwrap();
    assert_eq!(lsp, cli);

    // The table for people.
    let out = s.cli_usage(&[], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("Today "), "{table}");
    assert!(table.contains("    kimi-k2-turbo-preview"), "{table}");
    assert!(table.contains("4,000"), "the summed prompt tokens: {table}");
    assert!(table.contains("cache hits: 35.0 % of prompt tokens"), "{table}");
    assert!(table.contains("completions: 0 accepted of 3 shown (0.0 %)"), "{table}");
    assert!(s.client.shutdown().await.success());
}

#[test]
fn usage_before_anything_was_recorded_is_empty_and_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("kimi-data");
    let out = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
        .arg("usage")
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("KIMI_LSP_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("Today: no requests"), "{table}");
    assert!(table.contains("All time: no requests"), "{table}");
    assert!(table.contains("daily    no limit (`budget.daily`)"), "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing recorded yet"));
    assert!(!data.exists(), "looking at usage must not create the ledger");
}

#[tokio::test]
async fn the_balance_is_checked_at_start_when_asked() {
    let standin = Standin::start().await;
    standin.set_balance(Some(0.0));
    let base = standin.base_url();
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)],
        None,
    );
    client.set_timeout(Duration::from_secs(10));
    client.initialize(json!({}), json!({"budget": {"checkBalance": true}}), None).await;
    let shown = client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 1, "{shown}");
    assert!(shown["message"].as_str().unwrap().contains("balance is 0.0000"), "{shown}");
    assert!(client.shutdown().await.success());
}
