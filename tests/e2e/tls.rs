//! HTTPS as the real API is reached: a certificate the server does not trust is reported as
//! such and a root named in the settings (or in the system's store) is trusted; over HTTP/2 a
//! cancelled completion resets its stream and keeps the connection, where HTTP/1.1 must close it,
//! and a request the provider refuses without processing it goes once more.

use std::path::Path;
use std::time::Duration;

use h2::Reason;
use kimi_test_support::lsp_client::{file_uri, Fixture, LspClient};
use kimi_test_support::{Protocols, Refusal, Reply, Standin};
use serde_json::{json, Value};

const KEY: &str = "sk-tls-test-key";

struct Setup {
    standin: Standin,
    client: LspClient,
    dir: tempfile::TempDir,
    ca: String,
}

/// A server talking to an HTTPS stand-in whose certificate authority is in `dir/standin-ca.pem`;
/// `trust` says how the server is told about it, if at all.
async fn setup(protocols: Protocols, trust: Trust) -> Setup {
    let standin = Standin::start_tls(protocols).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = standin.write_ca(dir.path()).to_str().unwrap().to_string();
    let base = standin.base_url();
    assert!(base.starts_with("https://localhost:"), "{base}");
    let mut env = vec![("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", base.as_str())];
    if let Trust::SystemStore = trust {
        env.push(("SSL_CERT_FILE", ca.as_str()));
    }
    let mut client = LspClient::spawn(Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")), &[], &env, None);
    let options = match trust {
        Trust::Setting => json!({"tls": {"caCertificates": [ca]}}),
        _ => Value::Null,
    };
    client.initialize(json!({"general": {"positionEncodings": ["utf-16"]}}), options, Some(dir.path())).await;
    Setup { standin, client, dir, ca }
}

enum Trust {
    Nothing,
    Setting,
    SystemStore,
}

impl Setup {
    fn open(&mut self, fixture: &str) -> (String, Value) {
        let f = Fixture::parse(fixture);
        let uri = file_uri(&self.dir.path().join("a.rs"));
        self.client.did_open(&uri, "rust", 1, &f.text);
        (uri, f.position())
    }

    async fn inline(&mut self, uri: &str, position: &Value) -> Vec<String> {
        let result = self
            .client
            .request(
                "textDocument/inlineCompletion",
                json!({"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}}),
            )
            .await
            .unwrap();
        let items = result["items"].as_array().cloned().unwrap_or_default();
        items.iter().map(|i| i["insertText"].as_str().unwrap().to_string()).collect()
    }

    /// Takes the usage notification of each answered request, so shutdown finds nothing unread.
    async fn take_usage(&mut self, answered: usize) {
        for _ in 0..answered {
            self.client.expect_notification("kimi/usageChanged").await;
        }
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_reported_as_such_and_a_root_named_live_is_trusted_at_once() {
    let mut s = setup(Protocols::Http2, Trust::Nothing).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");

    assert!(s.inline(&uri, &pos).await.is_empty());
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert_eq!(shown["type"], 1, "an error: {shown}");
    let host = format!("localhost:{}", s.standin.port());
    let untrusted = format!("{host}'s TLS certificate is signed by an authority this computer does not trust");
    assert!(message.starts_with(&format!("kimi-lsp: {untrusted}")), "{message}");
    assert!(message.contains("install its root certificate") && message.contains("`tls.caCertificates`"), "{message}");
    assert!(!message.contains("unreachable"), "{message}");
    assert!(s.standin.chat_requests().is_empty(), "no request got through the handshake");

    // Named in the settings, the root is trusted from the next request on: no restart.
    let ca = s.ca.clone();
    s.client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": {"tls": {"caCertificates": [ca]}}}}));
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    let recorded = s.standin.requests();
    let chat = recorded.iter().find(|r| r.path == "/v1/chat/completions").unwrap();
    assert_eq!(chat.version, "HTTP/2.0", "HTTP/2 is offered and taken");
    // The refused attempt is in the ledger too, as an error that cost nothing.
    s.take_usage(2).await;
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_root_in_the_system_store_is_trusted_with_no_setting() {
    // SSL_CERT_FILE stands for the system's store here, as it does on Linux.
    let mut s = setup(Protocols::Http2, Trust::SystemStore).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    s.take_usage(1).await;
    assert!(s.client.shutdown().await.success());
}

/// A completion cancelled while the model is still silent, then one answered; returns how many
/// connections the two came over.
async fn cancel_then_answer(protocols: Protocols) -> usize {
    let mut s = setup(protocols, Trust::Setting).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");
    s.standin.push(Reply::text("slow_answer()").first_byte_delay(Duration::from_secs(5)));
    let id = s.client.send_request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 1}}),
    );
    s.standin.wait_for_chat_requests(1, Duration::from_secs(5)).await;
    s.client.cancel(id);
    let err = s.client.response(id).await.expect_err("cancelled");
    assert_eq!(err.code, -32800, "{err}");
    // The model is told to stop either way: the stand-in sees its reply abandoned.
    assert_eq!(s.standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await, 1);
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    s.take_usage(2).await;
    assert!(s.client.shutdown().await.success());
    s.standin.connections()
}

#[tokio::test]
async fn over_http2_a_cancelled_completion_resets_its_stream_and_keeps_the_connection() {
    assert_eq!(cancel_then_answer(Protocols::Http2).await, 1);
}

#[tokio::test]
async fn over_http1_a_cancelled_completion_closes_its_connection() {
    assert_eq!(cancel_then_answer(Protocols::Http1Only).await, 2);
}

/// The error shown for a completion that failed, once its ledger row is taken.
async fn shown_error(s: &mut Setup) -> String {
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 1, "an error: {shown}");
    s.take_usage(1).await;
    shown["message"].as_str().unwrap().to_string()
}

/// A stream the provider resets with REFUSED_STREAM was not processed (RFC 9113 §8.7): the
/// completion goes once more and is answered. A provider that refuses every time is reported
/// after that one retry, not asked a third time.
#[tokio::test]
async fn a_refused_http2_stream_is_sent_once_more_and_a_second_refusal_is_reported() {
    let mut s = setup(Protocols::Http2, Trust::Setting).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");
    s.standin.refuse(&[Refusal::Reset(Reason::REFUSED_STREAM)]);
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    assert_eq!((s.standin.refused(), s.standin.chat_requests().len()), (1, 1));
    s.take_usage(1).await;

    s.standin.refuse(&[Refusal::Reset(Reason::REFUSED_STREAM); 4]);
    assert!(s.inline(&uri, &pos).await.is_empty());
    assert_eq!(s.standin.refused(), 1 + 2, "one retry, not more");
    let message = shown_error(&mut s).await;
    let host = format!("localhost:{}", s.standin.port());
    assert!(message.starts_with(&format!("kimi-lsp: {host} did not take up the request")), "{message}");
    assert!(message.contains("refused stream"), "{message}");
    assert_eq!(s.standin.chat_requests().len(), 1);
    assert!(s.client.shutdown().await.success());
}

/// A provider retiring a kept HTTP/2 connection (an idle timeout, a deploy) sends a GOAWAY whose
/// last stream id is below the completion's: the completion was not processed (RFC 9113 §6.8),
/// whatever the GOAWAY's error code, and is answered over a new connection.
#[tokio::test]
async fn a_completion_left_out_of_a_goaway_goes_again_on_a_new_connection() {
    let mut s = setup(Protocols::Http2, Trust::Setting).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    s.take_usage(1).await;
    for (n, reason) in [Reason::NO_ERROR, Reason::ENHANCE_YOUR_CALM].into_iter().enumerate() {
        s.standin.refuse(&[Refusal::GoAway(reason)]);
        assert_eq!(s.inline(&uri, &pos).await, ["ok"], "after a GOAWAY with {reason:?}");
        s.take_usage(1).await;
        assert_eq!(s.standin.refused(), n + 1);
    }
    assert_eq!(s.standin.chat_requests().len(), 3);
    assert_eq!(s.standin.connections(), 3, "each GOAWAY closed its connection");
    assert!(s.client.shutdown().await.success());
}

/// A stream reset with any other code may have been processed (a model that began and failed):
/// the completion is not sent twice, and the connection serves the next one.
#[tokio::test]
async fn a_stream_reset_after_processing_may_have_begun_is_not_sent_twice() {
    let mut s = setup(Protocols::Http2, Trust::Setting).await;
    let (uri, pos) = s.open("fn main() {\n    $0\n}\n");
    s.standin.refuse(&[Refusal::Reset(Reason::INTERNAL_ERROR)]);
    assert!(s.inline(&uri, &pos).await.is_empty());
    let message = shown_error(&mut s).await;
    assert!(message.contains("internal error"), "{message}");
    // Sent again, it would have reached the stand-in and been answered.
    assert_eq!((s.standin.refused(), s.standin.chat_requests().len()), (1, 0), "sent once");
    assert_eq!(s.inline(&uri, &pos).await, ["ok"]);
    s.take_usage(1).await;
    assert_eq!(s.standin.connections(), 1);
    assert!(s.client.shutdown().await.success());
}

/// A provider that refuses every request, for what the user waits on: the transport's one resend
/// is the only one. Were the router to retry the refusal as a dropped connection, each try would
/// be resent again (four sends). Retries of other kinds are in retries.rs.
#[tokio::test]
async fn a_chat_turn_and_a_code_action_a_provider_keeps_refusing_are_sent_twice_and_reported() {
    let mut s = setup(Protocols::Http2, Trust::Setting).await;
    let host = format!("localhost:{}", s.standin.port());
    let uri = file_uri(&s.dir.path().join("lib.rs"));
    s.client.did_open(&uri, "rust", 1, "fn total(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n");
    let refused_twice = |message: &str| {
        assert!(message.contains(&format!("{host} did not take up the request")), "{message}");
        assert!(message.contains("refused stream") && message.contains("try again"), "{message}");
    };

    s.standin.refuse(&[Refusal::Reset(Reason::REFUSED_STREAM); 8]);
    let id = s.client.send_request("kimi/chat", json!({"message": "What does total do?"}));
    let err = s.client.response(id).await.expect_err("refused");
    assert_eq!(s.standin.refused(), 2, "one chat turn, sent twice");
    refused_twice(&err.message);
    let done = s.client.expect_notification("kimi/chatDone").await;
    refused_twice(done["error"].as_str().unwrap());
    let usage = s.client.expect_notification("kimi/usageChanged").await;
    assert_eq!(usage["sessionRequests"], 1, "one attempt in the ledger: {usage}");

    let range = json!({"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 8}});
    let err = s.client.run_listed_action(&uri, range, "Kimi: Explain").await.expect_err("refused");
    assert_eq!(s.standin.refused(), 2 + 2, "one code action, sent twice");
    refused_twice(&err.message);
    let shown = s.client.expect_notification("window/showMessage").await;
    refused_twice(shown["message"].as_str().unwrap());
    let usage = s.client.expect_notification("kimi/usageChanged").await;
    assert_eq!(usage["sessionRequests"], 2, "{usage}");
    assert!(s.standin.chat_requests().is_empty());
    assert!(s.client.shutdown().await.success());
}
