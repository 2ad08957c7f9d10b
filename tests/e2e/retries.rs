//! Retries end to end: the real binary against a stand-in scripted to fail first. What the user
//! waits for (code actions, chat) retries a transient error as `kimi-api.md` prescribes — an
//! "invalid state transition" once, a rate limit after its stated wait, overload after a
//! backoff — and never an empty balance or a rejected key; a cancelled request stops waiting at
//! once; inline completions are not retried. The terminal's `complete` is in cli_completion.rs.

use std::path::Path;
use std::time::{Duration, Instant};

use kimi_test_support::{file_uri, ApiError, LspClient, Reply, Standin};
use serde_json::{json, Value};

const RUST: &str = "fn total(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n";

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = standin.base_url();
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[("MOONSHOT_API_KEY", "sk-retries-test"), ("MOONSHOT_BASE_URL", &base)],
        None,
    );
    client.set_timeout(Duration::from_secs(15));
    client.initialize(json!({}), Value::Null, Some(dir.path())).await;
    Setup { standin, client, dir }
}

impl Setup {
    fn open(&mut self) -> String {
        let uri = file_uri(&self.dir.path().join("lib.rs"));
        self.client.did_open(&uri, "rust", 1, RUST);
        uri
    }

    /// Runs "Explain" over `total`: an action whose answer comes back as text.
    async fn explain(&mut self, uri: &str) -> Result<Value, kimi_test_support::ResponseError> {
        let range = json!({"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 8}});
        self.client.run_listed_action(uri, range, "Kimi: Explain").await
    }

    /// Takes the usage notification of every attempt (each is metered, failed ones too), then
    /// shuts down.
    async fn finish(mut self) {
        for _ in 0..self.standin.chat_requests().len() {
            self.client.expect_notification("kimi/usageChanged").await;
        }
        let _ = self.client.take_unread();
        assert!(self.client.shutdown().await.success());
    }
}

#[tokio::test]
async fn a_code_action_retries_an_invalid_state_transition_once() {
    let mut s = setup().await;
    let uri = s.open();
    s.standin.push(Reply::error(ApiError::UnexpectedOutput));
    s.standin.push(Reply::text("It sums the slice."));
    let answer = s.explain(&uri).await.expect("the retry answered");
    assert_eq!(answer["text"], "It sums the slice.");
    assert_eq!(s.standin.chat_requests().len(), 2);

    // Once means once: a second failure in a row reaches the user.
    s.standin.push(Reply::error(ApiError::UnexpectedOutput));
    s.standin.push(Reply::error(ApiError::UnexpectedOutput));
    s.standin.push(Reply::text("must not be fetched"));
    let err = s.explain(&uri).await.unwrap_err();
    assert!(err.message.contains("invalid state transition"), "{err:?}");
    assert_eq!(s.standin.chat_requests().len(), 4);
    s.finish().await;
}

#[tokio::test]
async fn chat_waits_out_a_rate_limit_and_backs_off_an_overload() {
    let mut s = setup().await;
    s.standin.push(Reply::error(ApiError::RateLimitRpm { seconds: 1 }));
    s.standin.push(Reply::text("after the wait"));
    let started = Instant::now();
    let answer = s.client.request("kimi/chat", json!({"message": "hi"})).await.unwrap();
    assert_eq!(answer["text"], "after the wait");
    assert!(started.elapsed() >= Duration::from_secs(1), "the stated wait was not honoured");
    assert_eq!(s.standin.chat_requests().len(), 2);

    s.standin.push(Reply::error(ApiError::Overloaded));
    s.standin.push(Reply::text("after a backoff"));
    let answer = s.client.request("kimi/chat", json!({"message": "again"})).await.unwrap();
    assert_eq!(answer["text"], "after a backoff");
    assert_eq!(s.standin.chat_requests().len(), 4);
    s.finish().await;
}

#[tokio::test]
async fn an_empty_balance_or_a_rejected_key_is_never_retried() {
    let mut s = setup().await;
    let uri = s.open();
    // What a retry would get.
    s.standin.set_default(Reply::text("must not be fetched"));
    for error in [ApiError::InsufficientBalance, ApiError::InvalidAuthentication] {
        let before = s.standin.chat_requests().len();
        s.standin.push(Reply::error(error));
        assert!(s.explain(&uri).await.is_err());
        assert_eq!(s.standin.chat_requests().len(), before + 1);
    }
    s.finish().await;
}

/// A rate limit that asks for a few seconds: cancelling the chat ends the wait at once, and the
/// request is never sent again.
#[tokio::test]
async fn a_cancelled_request_stops_waiting_at_once() {
    let mut s = setup().await;
    s.standin.push(Reply::error(ApiError::RateLimitRpm { seconds: 3 }));
    s.standin.push(Reply::text("must not be fetched"));
    let id = s.client.send_request("kimi/chat", json!({"message": "hi"}));
    s.standin.wait_for_chat_requests(1, Duration::from_secs(5)).await;
    // The server has the 429 and sleeps on it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancelled = Instant::now();
    s.client.cancel(id);
    let err = s.client.response(id).await.unwrap_err();
    assert_eq!(err.code, -32800, "{err:?}");
    assert!(cancelled.elapsed() < Duration::from_secs(1), "took {:?}", cancelled.elapsed());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(s.standin.chat_requests().len(), 1, "the retry was called off with the request");
    s.finish().await;
}

/// An inline completion is superseded by the next keystroke: a failure is reported, not retried.
#[tokio::test]
async fn inline_completions_are_not_retried() {
    let mut s = setup().await;
    let uri = s.open();
    s.standin.push(Reply::error(ApiError::UnexpectedOutput));
    s.standin.push(Reply::text("must not be fetched"));
    let result = s
        .client
        .request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}}),
        )
        .await
        .unwrap();
    assert!(result["items"].as_array().is_none_or(Vec::is_empty), "{result}");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert!(shown["message"].as_str().unwrap().contains("invalid state transition"), "{shown}");
    assert_eq!(s.standin.chat_requests().len(), 1);
    s.finish().await;
}
