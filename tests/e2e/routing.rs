//! Routing across providers, end to end: the real binary (and the router as a library) against
//! two stand-ins at once — the Moonshot stand-in as the OpenAI-style provider and the Anthropic
//! stand-in as the Anthropic one. Each task goes to its routed model; an overload moves to the
//! next model and the ledger shows every attempt; a 401 does not move and says what to do;
//! rules pick routes by prompt size, images and "think harder"; a custom action names its own
//! model; a retired model is replaced from `/models`.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kimi_lsp::config::{Config, ConfigLayers, Source};
use kimi_lsp::ledger::{Feature, Ledger, Outcome, TimeRange};
use kimi_lsp::providers::{ChatRequest, ContentPart, Message};
use kimi_lsp::router::{RouteHint, Router, UsageEvent, UsageObserver};
use kimi_test_support::{file_uri, AnthropicStandin, ApiError, LspClient, Reply, Standin};
use serde_json::{json, Value};

const MOONSHOT_KEY: &str = "sk-routing-moonshot";
const ANTHROPIC_KEY: &str = "sk-ant-routing";
/// The variable the Anthropic provider's key is read from.
const ANTHROPIC_ENV: &str = "KIMI_TEST_ANTHROPIC_KEY";

const SOURCE: &str = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// Two providers: the built-in `moonshot` (the Moonshot stand-in) and `claude` (the Anthropic
/// stand-in, key from [`ANTHROPIC_ENV`]).
fn providers(anthropic: &AnthropicStandin) -> Value {
    json!({"claude": {"kind": "anthropic", "baseUrl": anthropic.base_url(), "apiKeyEnv": ANTHROPIC_ENV}})
}

struct Setup {
    moonshot: Standin,
    anthropic: AnthropicStandin,
    client: LspClient,
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
}

async fn setup(settings: impl FnOnce(&AnthropicStandin) -> Value) -> Setup {
    setup_with_key(ANTHROPIC_KEY, settings).await
}

async fn setup_with_key(anthropic_key: &str, settings: impl FnOnce(&AnthropicStandin) -> Value) -> Setup {
    let moonshot = Standin::start().await;
    moonshot.require_key(MOONSHOT_KEY);
    let anthropic = AnthropicStandin::start().await;
    anthropic.require_key(ANTHROPIC_KEY);
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let options = settings(&anthropic);
    let mut client = LspClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")),
        &[],
        &[
            ("MOONSHOT_API_KEY", MOONSHOT_KEY),
            ("MOONSHOT_BASE_URL", &moonshot.base_url()),
            (ANTHROPIC_ENV, anthropic_key),
            ("KIMI_LSP_DATA_DIR", data.path().to_str().unwrap()),
        ],
        None,
    );
    client.set_timeout(Duration::from_secs(15));
    client.initialize(json!({}), options, Some(dir.path())).await;
    Setup { moonshot, anthropic, client, dir, data }
}

impl Setup {
    fn open(&mut self, name: &str, text: &str) -> String {
        let uri = file_uri(&self.dir.path().join(name));
        self.client.did_open(&uri, "rust", 1, text);
        uri
    }

    /// The command of the code action whose title starts with `title` over `add`'s body.
    async fn action(&mut self, uri: &str, title: &str) -> Value {
        let actions = self
            .client
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 9}}, "context": {"diagnostics": []}}),
            )
            .await
            .unwrap();
        actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"].as_str().unwrap_or("").starts_with(title))
            .unwrap_or_else(|| panic!("no {title} action in {actions}"))["command"]
            .clone()
    }

    /// Runs an action that answers with text (Explain, a showText custom action).
    async fn run_text_action(&mut self, command: &Value) -> Result<Value, kimi_test_support::ResponseError> {
        self.client
            .request(
                "workspace/executeCommand",
                json!({"command": command["command"], "arguments": command["arguments"]}),
            )
            .await
    }

    /// Waits for `n` metered requests (one `kimi/usageChanged` each, sent after its ledger row
    /// is written) and returns them.
    /// An explicit inline completion request.
    async fn inline(&mut self, uri: &str, position: Value) -> Value {
        let params = json!({"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}});
        self.client.request("textDocument/inlineCompletion", params).await.unwrap()
    }

    async fn metered(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.client.expect_notification("kimi/usageChanged").await["lastRequest"].clone());
        }
        out
    }

    fn usage_json(&self) -> Value {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
            .args(["usage", "--json"])
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("KIMI_LSP_DATA_DIR", self.data.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON from `kimi-lsp usage --json`")
    }

    async fn finish(mut self) {
        let _ = self.client.take_unread();
        assert!(self.client.shutdown().await.success());
    }
}

fn by_name<'a>(lines: &'a Value, name: &str) -> &'a Value {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no line `{name}` in {lines}"))
}

#[tokio::test]
async fn each_task_goes_to_its_routed_model_and_usage_adds_up_across_providers() {
    let mut s = setup(|a| {
        json!({
            "providers": providers(a),
            "models": {"completion": "kimi-k2-turbo-preview", "action": "claude/claude-sonnet-4-5"},
            "routes": {"chat": {"model": "claude/claude-haiku-4-5"}}
        })
    })
    .await;
    s.moonshot.push(Reply::text("a + b").usage(1_200, 8, 1_000));
    s.anthropic.push(Reply::text("It adds its arguments.").usage(900, 40, 300));
    s.anthropic.push(Reply::text("Hello from Haiku.").usage(500, 20, 0));

    let uri = s.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n");
    let items = s.inline(&uri, json!({"line": 1, "character": 4})).await;
    assert_eq!(items["items"][0]["insertText"], "a + b", "{items}");
    let completion = s.metered(1).await;
    assert_eq!(completion[0]["model"], "kimi-k2-turbo-preview");

    let uri = s.open("add.rs", SOURCE);
    let explain = s.action(&uri, "Kimi: Explain").await;
    assert_eq!(s.run_text_action(&explain).await.unwrap()["text"], "It adds its arguments.");
    let action = s.metered(1).await;
    assert_eq!(
        (action[0]["feature"].as_str(), action[0]["model"].as_str()),
        (Some("action"), Some("claude/claude-sonnet-4-5"))
    );

    let answer = s.client.request("kimi/chat", json!({"message": "Say hello"})).await.unwrap();
    assert_eq!(answer["text"], "Hello from Haiku.");
    let chat = s.metered(1).await;
    assert_eq!(chat[0]["model"], "claude/claude-haiku-4-5");

    // Each provider saw exactly its own task, by its own id and with its own key.
    let sent = s.moonshot.chat_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "kimi-k2-turbo-preview");
    let sent = s.anthropic.message_requests();
    assert_eq!(
        sent.iter().map(|r| r["model"].as_str().unwrap()).collect::<Vec<_>>(),
        ["claude-sonnet-4-5", "claude-haiku-4-5"]
    );

    // `kimi-lsp usage` adds up exactly what the two stand-ins reported.
    let usage = s.usage_json();
    let today = &usage["today"];
    assert_eq!(today["requests"], 3, "{today}");
    assert_eq!(today["promptTokens"], 1_200 + 900 + 500);
    assert_eq!(today["cachedTokens"], 1_000 + 300);
    assert_eq!(today["completionTokens"], 8 + 40 + 20);
    assert_eq!(today["errors"], 0);
    for (model, prompt) in
        [("kimi-k2-turbo-preview", 1_200), ("claude/claude-sonnet-4-5", 900), ("claude/claude-haiku-4-5", 500)]
    {
        assert_eq!(by_name(&today["byModel"], model)["promptTokens"], prompt, "{model}");
    }
    let lsp = s.client.request("kimi/usage", Value::Null).await.unwrap();
    assert_eq!(lsp, usage, "the editor sees the same report");
    s.finish().await;
}

#[tokio::test]
async fn an_overloaded_model_falls_back_to_the_next_and_the_ledger_shows_both_attempts() {
    let mut s = setup(|a| {
        json!({
            "providers": providers(a),
            "routes": {
                "action": {"model": "kimi-k2.5", "fallback": ["claude/claude-sonnet-4-5"]},
                "chat": {"model": "claude/claude-opus-4-1", "fallback": ["kimi-k2.5"]}
            }
        })
    })
    .await;
    // Moonshot's 429 engine_overloaded on the action: Claude answers.
    s.moonshot.push(Reply::error(ApiError::Overloaded));
    s.anthropic.push(Reply::text("It adds.").usage(700, 10, 0));
    let uri = s.open("add.rs", SOURCE);
    let explain = s.action(&uri, "Kimi: Explain").await;
    assert_eq!(s.run_text_action(&explain).await.unwrap()["text"], "It adds.");
    assert_eq!(
        attempts_by_outcome(s.metered(2).await),
        pairs(&[("kimi-k2.5", "error"), ("claude/claude-sonnet-4-5", "ok")])
    );

    // Anthropic's 529 overloaded_error on chat: Kimi answers.
    s.anthropic.push(Reply::error(ApiError::Overloaded));
    s.moonshot.push(Reply::text("Kimi here.").usage(300, 5, 0));
    let answer = s.client.request("kimi/chat", json!({"message": "Who answers?"})).await.unwrap();
    assert_eq!(answer["text"], "Kimi here.");
    assert_eq!(
        attempts_by_outcome(s.metered(2).await),
        pairs(&[("claude/claude-opus-4-1", "error"), ("kimi-k2.5", "ok")])
    );

    let usage = s.usage_json();
    let today = &usage["today"];
    assert_eq!(today["requests"], 4, "every attempt is a row: {today}");
    assert_eq!(today["errors"], 2);
    let kimi = by_name(&today["byModel"], "kimi-k2.5");
    assert_eq!((kimi["requests"].as_u64(), kimi["errors"].as_u64()), (Some(2), Some(1)), "{kimi}");
    let sonnet = by_name(&today["byModel"], "claude/claude-sonnet-4-5");
    assert_eq!((sonnet["requests"].as_u64(), sonnet["errors"].as_u64()), (Some(1), Some(0)));
    assert_eq!(sonnet["promptTokens"], 700);
    let opus = by_name(&today["byModel"], "claude/claude-opus-4-1");
    assert_eq!((opus["requests"].as_u64(), opus["errors"].as_u64()), (Some(1), Some(1)));
    s.finish().await;
}

/// An overload on the route's last model, after its fallback was tried: the message names both
/// models and does not advise configuring the fallback the user already has.
#[tokio::test]
async fn an_overload_after_the_fallback_names_both_models_and_advises_no_fallback() {
    let mut s = setup(|a| {
        json!({
            "providers": providers(a),
            "routes": {"completion": {"model": "kimi-k2-turbo-preview", "fallback": ["claude/claude-haiku-4-5"]}}
        })
    })
    .await;
    s.moonshot.push(Reply::error(ApiError::Overloaded));
    s.anthropic.push(Reply::error(ApiError::Overloaded));
    let uri = s.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n");
    let items = s.inline(&uri, json!({"line": 1, "character": 4})).await;
    assert!(items["items"].as_array().is_none_or(|i| i.is_empty()), "{items}");
    let shown = s.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(!message.contains("configure a fallback"), "the fallback is configured: {message}");
    assert!(message.contains("kimi-k2-turbo-preview (overloaded)"), "{message}");
    assert!(message.contains("claude-haiku-4-5 (overloaded"), "{message}");
    assert!(message.contains("Try again in a moment"), "{message}");
    assert_eq!(attempts_by_outcome(s.metered(2).await).len(), 2);

    // Without a fallback, configuring one is the advice.
    let mut alone = setup(|_| json!({})).await;
    alone.moonshot.push(Reply::error(ApiError::Overloaded));
    let uri = alone.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n");
    alone.inline(&uri, json!({"line": 1, "character": 4})).await;
    let shown = alone.client.expect_notification("window/showMessage").await;
    let message = shown["message"].as_str().unwrap();
    assert!(message.contains("overloaded right now (model kimi-k2"), "{message}");
    assert!(message.contains("or configure a fallback model"), "{message}");
    alone.metered(1).await;
    alone.finish().await;
    s.finish().await;
}

#[tokio::test]
async fn a_rejected_key_does_not_fall_back_and_the_user_is_told_what_to_set() {
    let mut s = setup_with_key("sk-ant-wrong", |a| {
        json!({
            "providers": providers(a),
            "routes": {"action": {"model": "claude/claude-sonnet-4-5", "fallback": ["kimi-k2.5"]}}
        })
    })
    .await;
    let uri = s.open("add.rs", SOURCE);
    let explain = s.action(&uri, "Kimi: Explain").await;
    let err = s.run_text_action(&explain).await.expect_err("a 401 fails the action");
    assert!(err.message.contains(ANTHROPIC_ENV), "the message names the variable to fix: {err}");
    assert!(!err.message.contains("sk-ant-wrong"), "{err}");
    let shown = s.client.expect_notification("window/showMessage").await;
    assert_eq!(shown["type"], 1, "{shown}");
    assert!(shown["message"].as_str().unwrap().contains(ANTHROPIC_ENV), "{shown}");
    let attempts = s.metered(1).await;
    assert_eq!(attempts[0]["outcome"], "error");
    assert!(s.moonshot.chat_requests().is_empty(), "no silent switch to another provider");
    s.finish().await;
}

#[tokio::test]
async fn think_harder_and_a_custom_action_model_pick_their_routes() {
    let mut s = setup(|a| {
        json!({
            "providers": providers(a),
            "routes": {"strong": {"model": "claude/claude-opus-4-1"}},
            "rules": [{"thinkHarder": true, "tasks": ["action", "chat"], "route": "strong"}],
            "actions": {"custom": [
                {"title": "Review", "prompt": "Review:\n{selection}", "target": "showText", "model": "claude/claude-haiku-4-5"}
            ]}
        })
    })
    .await;
    // Chat: the same message goes to the chat route, then with thinkHarder to the strong one.
    s.client.request("kimi/chat", json!({"message": "Plain"})).await.unwrap();
    s.metered(1).await;
    s.anthropic.push(Reply::text("Thought hard."));
    let answer = s.client.request("kimi/chat", json!({"message": "Hard", "thinkHarder": true})).await.unwrap();
    assert_eq!(answer["text"], "Thought hard.");
    assert_eq!(s.metered(1).await[0]["model"], "claude/claude-opus-4-1");

    // An action with thinkHarder in its data.
    let uri = s.open("add.rs", SOURCE);
    let mut explain = s.action(&uri, "Kimi: Explain").await;
    explain["arguments"][0]["thinkHarder"] = json!(true);
    s.anthropic.push(Reply::text("Deeply explained."));
    assert_eq!(s.run_text_action(&explain).await.unwrap()["text"], "Deeply explained.");
    assert_eq!(s.metered(1).await[0]["model"], "claude/claude-opus-4-1");

    // The custom action's own model.
    let review = s.action(&uri, "Kimi: Review").await;
    s.anthropic.push(Reply::text("Looks fine."));
    assert_eq!(s.run_text_action(&review).await.unwrap()["text"], "Looks fine.");
    assert_eq!(s.metered(1).await[0]["model"], "claude/claude-haiku-4-5");

    assert_eq!(s.moonshot.chat_requests().len(), 1, "only the plain chat went to the chat route");
    let models: Vec<String> =
        s.anthropic.message_requests().iter().map(|r| r["model"].as_str().unwrap().to_string()).collect();
    assert_eq!(models, ["claude-opus-4-1", "claude-opus-4-1", "claude-haiku-4-5"]);
    s.finish().await;
}

// ---------------------------------------------------------------------------------------------
// The router as a library: rules on what a request carries, 404 replacement, cancellation.

fn config(settings: Value) -> Config {
    let mut layers = ConfigLayers::default();
    layers.set(Source::Editor, settings);
    let (config, problems) = layers.resolve();
    assert!(problems.is_empty(), "{problems:?}");
    config
}

fn events() -> (UsageObserver, Arc<Mutex<Vec<UsageEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (UsageObserver::new(move |e| sink.lock().unwrap().push(e)), seen)
}

/// Each metered attempt's model and outcome, errors first: a request's attempts are written off
/// the async threads, so their notifications arrive in no fixed order.
fn attempts_by_outcome(attempts: Vec<Value>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = attempts
        .iter()
        .map(|a| (a["model"].as_str().unwrap().to_string(), a["outcome"].as_str().unwrap().to_string()))
        .collect();
    pairs.sort_by_key(|(_, outcome)| outcome != "error");
    pairs
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(m, o)| (m.to_string(), o.to_string())).collect()
}

async fn recorded(seen: &Mutex<Vec<UsageEvent>>, n: usize) -> Vec<kimi_lsp::ledger::UsageRecord> {
    for _ in 0..250 {
        let records: Vec<_> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                UsageEvent::Recorded { record, .. } => Some(record.clone()),
                _ => None,
            })
            .collect();
        if records.len() >= n {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} requests were recorded");
}

#[tokio::test]
async fn long_prompts_and_images_take_their_routes() {
    let moonshot = Standin::start().await;
    let anthropic = AnthropicStandin::start().await;
    let config = config(json!({
        "apiKey": MOONSHOT_KEY,
        "baseUrl": moonshot.base_url(),
        "providers": {"claude": {"kind": "anthropic", "baseUrl": anthropic.base_url()}},
        "routes": {"long": {"model": "claude/claude-sonnet-4-5"}, "vision": {"model": "kimi-k2.5"}},
        "rules": [{"promptTokensAbove": 1000, "route": "long"}, {"images": true, "route": "vision"}]
    }));
    let router = Router::new(&config, Some(Arc::new(Ledger::open_in_memory().unwrap())));
    let chat = |messages| ChatRequest::new(config.models.chat.clone(), messages);

    router.chat(&config, Feature::Chat, chat(vec![Message::user("short")])).await.unwrap();
    // 4,004 characters: about 1,001 tokens, above the threshold.
    router.chat(&config, Feature::Chat, chat(vec![Message::user("x".repeat(4_004))])).await.unwrap();
    let picture = ContentPart::image("image/png", b"\x89PNG\r\n\x1a\n");
    let with_image = chat(vec![Message::user_parts(vec![ContentPart::text("what is this?"), picture])]);
    let mut completion = with_image.clone();
    completion.model = config.models.completion.clone();
    router.chat(&config, Feature::Completion, completion).await.unwrap();

    let moonshot_models: Vec<String> =
        moonshot.chat_requests().iter().map(|r| r["model"].as_str().unwrap().to_string()).collect();
    assert_eq!(moonshot_models, ["kimi-k2.5", "kimi-k2.5"], "short chat, then the image on the vision route");
    assert_eq!(anthropic.message_requests().len(), 1, "the long prompt");
    assert_eq!(anthropic.message_requests()[0]["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn a_retired_model_is_replaced_by_a_listed_one_once_and_the_user_is_told_once() {
    let moonshot = Standin::start().await;
    let config = config(json!({
        "apiKey": MOONSHOT_KEY,
        "baseUrl": moonshot.base_url(),
        "models": {"completion": "kimi-k2-0711-preview"}
    }));
    let (observer, seen) = events();
    let ledger = Arc::new(Ledger::open_in_memory().unwrap());
    let router = Router::new(&config, Some(ledger.clone())).with_observer(observer);
    let request = || ChatRequest::new(config.models.completion.clone(), vec![Message::user("1 + 1 =")]);
    assert_eq!(router.chat(&config, Feature::Completion, request()).await.unwrap().content, "ok");
    router.chat(&config, Feature::Completion, request()).await.unwrap();

    let models: Vec<String> =
        moonshot.chat_requests().iter().map(|r| r["model"].as_str().unwrap().to_string()).collect();
    assert_eq!(models, ["kimi-k2-0711-preview", "kimi-k2-0905-preview", "kimi-k2-0905-preview"]);
    // Rows are written off the async threads, so they are reported in no fixed order.
    let records = recorded(&seen, 3).await;
    let mut rows: Vec<(&str, Option<&str>)> = records.iter().map(|r| (r.model.as_str(), r.error.as_deref())).collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("kimi-k2-0711-preview", Some("model_not_found")),
            ("kimi-k2-0905-preview", None),
            ("kimi-k2-0905-preview", None)
        ]
    );
    let told: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            UsageEvent::ModelReplaced { feature, from, to, host } => {
                Some(UsageEvent::replacement_message(*feature, from, to, host))
            }
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("`kimi-k2-0711-preview`") && told[0].contains("`kimi-k2-0905-preview`"), "{told:?}");
    assert_eq!(router.route_model(&config, Feature::Completion, &RouteHint::default(), false), "kimi-k2-0905-preview");
}

#[tokio::test]
async fn a_request_cancelled_before_its_first_byte_is_metered_as_cancelled() {
    let moonshot = Standin::start().await;
    moonshot.push(Reply::text("late").first_byte_delay(Duration::from_secs(5)));
    let config = config(json!({"apiKey": MOONSHOT_KEY, "baseUrl": moonshot.base_url()}));
    let (observer, seen) = events();
    let ledger = Arc::new(Ledger::open_in_memory().unwrap());
    let router = Router::new(&config, Some(ledger.clone())).with_observer(observer);
    let request = ChatRequest::new("kimi-k2.5", vec![Message::user("x".repeat(400))]);
    let waited = tokio::time::timeout(Duration::from_millis(300), router.stream(&config, Feature::Chat, request)).await;
    assert!(waited.is_err(), "the answer had not started");
    let records = recorded(&seen, 1).await;
    assert_eq!(records[0].outcome, Outcome::Cancelled);
    assert_eq!(records[0].prompt_tokens, 100, "estimated at four characters a token");
    assert!(records[0].cost.unwrap() > 0.0);
    assert_eq!(ledger.totals(TimeRange::AllTime).unwrap().requests, 1);
}

#[tokio::test]
async fn a_model_that_fixes_its_sampling_goes_without_it_and_the_next_model_gets_it_back() {
    let moonshot = Standin::start().await;
    let config = config(json!({
        "apiKey": MOONSHOT_KEY,
        "baseUrl": moonshot.base_url(),
        "routes": {"chat": {"model": "kimi-k2.5", "fallback": ["kimi-k2-turbo-preview"]}}
    }));
    let router = Router::new(&config, Some(Arc::new(Ledger::open_in_memory().unwrap())));
    let request = || ChatRequest {
        temperature: Some(0.3),
        top_p: Some(0.9),
        ..ChatRequest::new("kimi-k2.5", vec![Message::user("hi")])
    };
    // K2.5 refuses the temperature, then is overloaded without it: the fallback gets the
    // request as the caller built it.
    moonshot.push(Reply::error(ApiError::Overloaded));
    moonshot.push(Reply::text("from turbo"));
    assert_eq!(router.chat(&config, Feature::Chat, request()).await.unwrap().content, "from turbo");
    // Learned: K2.5 gets no sampling settings from the start.
    moonshot.push(Reply::text("from k2.5"));
    assert_eq!(router.chat(&config, Feature::Chat, request()).await.unwrap().content, "from k2.5");

    let sent: Vec<(Value, Value, Value)> = moonshot
        .chat_requests()
        .iter()
        .map(|r| {
            (
                r["model"].clone(),
                r.get("temperature").cloned().unwrap_or(Value::Null),
                r.get("top_p").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (json!("kimi-k2.5"), json!(0.3), json!(0.9)),
            (json!("kimi-k2.5"), Value::Null, Value::Null),
            (json!("kimi-k2-turbo-preview"), json!(0.3), json!(0.9)),
            (json!("kimi-k2.5"), Value::Null, Value::Null),
        ]
    );
}

/// A model with a fallback after it moves on at once (the user configured it to answer rather
/// than wait); the route's last model is retried, as `kimi-api.md` prescribes for the error.
#[tokio::test]
async fn fallback_comes_first_and_the_last_model_is_retried() {
    let moonshot = Standin::start().await;
    let config = config(json!({
        "apiKey": MOONSHOT_KEY,
        "baseUrl": moonshot.base_url(),
        "routes": {"action": {"model": "kimi-k2.5", "fallback": ["kimi-k2-turbo-preview"]}}
    }));
    let router = Router::new(&config, None);
    moonshot.push(Reply::error(ApiError::UnexpectedOutput));
    moonshot.push(Reply::error(ApiError::UnexpectedOutput));
    moonshot.push(Reply::text("from turbo, second try"));
    let request = ChatRequest::new("kimi-k2.5", vec![Message::user("hi")]);
    let answer = router.chat(&config, Feature::Action, request).await.unwrap();
    assert_eq!(answer.content, "from turbo, second try");
    let models: Vec<Value> = moonshot.chat_requests().iter().map(|r| r["model"].clone()).collect();
    assert_eq!(models, [json!("kimi-k2.5"), json!("kimi-k2-turbo-preview"), json!("kimi-k2-turbo-preview")]);
}

#[tokio::test]
async fn bodies_are_sent_as_json_unless_the_settings_name_another_content_type() {
    let moonshot = Standin::start().await;
    let content_types = |moonshot: &Standin| -> Vec<Vec<String>> {
        moonshot
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .map(|r| r.headers.iter().filter(|(n, _)| n == "content-type").map(|(_, v)| v.clone()).collect())
            .collect()
    };
    let plain = config(json!({"apiKey": MOONSHOT_KEY, "baseUrl": moonshot.base_url()}));
    let router = Router::new(&plain, None);
    let request = || ChatRequest::new("kimi-k2-turbo-preview", vec![Message::user("hi")]);
    router.chat(&plain, Feature::Completion, request()).await.unwrap();
    assert_eq!(content_types(&moonshot), [vec!["application/json".to_string()]]);

    let named = config(json!({
        "apiKey": MOONSHOT_KEY,
        "baseUrl": moonshot.base_url(),
        "providers": {"moonshot": {"headers": {"Content-Type": "application/json; charset=utf-8"}}}
    }));
    router.chat(&named, Feature::Completion, request()).await.unwrap();
    assert_eq!(content_types(&moonshot)[1], ["application/json; charset=utf-8"], "one value, the configured one");
}

#[tokio::test]
async fn an_invoked_completion_asks_an_anthropic_model_for_one_suggestion() {
    // The Anthropic wire has no `n`: the request goes out without it instead of failing.
    let mut s =
        setup(|a| json!({"providers": providers(a), "models": {"completion": "claude/claude-haiku-4-5"}})).await;
    s.anthropic.push(Reply::text("a + b"));
    let uri = s.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n");
    let items = s.inline(&uri, json!({"line": 1, "character": 4})).await;
    assert_eq!(items["items"].as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items["items"][0]["insertText"], "a + b", "{items}");
    assert_eq!(s.anthropic.message_requests().len(), 1);
    assert_eq!(s.metered(1).await[0]["outcome"], "shown");
    assert!(s.client.shutdown().await.success());
}

#[tokio::test]
async fn a_model_is_asked_for_one_choice_from_then_on_only_when_one_is_what_it_accepts() {
    let moonshot = Standin::start().await;
    let settings = config(json!({"apiKey": MOONSHOT_KEY, "baseUrl": moonshot.base_url()}));
    let router = Router::new(&settings, None);
    let asking_for =
        |n| ChatRequest { n: Some(n), ..ChatRequest::new("kimi-k2-turbo-preview", vec![Message::user("hi")]) };
    let sent_n = |moonshot: &Standin| -> Vec<Value> {
        moonshot.chat_requests().iter().map(|b| b.get("n").cloned().unwrap_or(json!(1))).collect()
    };

    // Refused for another reason, with several choices and with one: nothing is learned.
    let other = r#"{"error":{"message":"Invalid request: something else is wrong","type":"invalid_request_error"}}"#;
    moonshot.push(Reply::raw(400, other));
    moonshot.push(Reply::raw(400, other));
    let err = router.chat(&settings, Feature::Completion, asking_for(3)).await.unwrap_err();
    assert!(err.to_string().contains("something else is wrong"), "{err}");
    assert_eq!(sent_n(&moonshot), [json!(3), json!(1)]);
    let answer = router.chat(&settings, Feature::Completion, asking_for(3)).await.unwrap();
    assert_eq!(answer.alternatives.len(), 2, "three choices: {answer:?}");
    assert_eq!(sent_n(&moonshot)[2], 3, "still asked for several");

    // Refused only with several: learned, and the next request asks for one at once.
    moonshot.push(Reply::raw(400, other));
    router.chat(&settings, Feature::Completion, asking_for(3)).await.unwrap();
    router.chat(&settings, Feature::Completion, asking_for(3)).await.unwrap();
    assert_eq!(sent_n(&moonshot)[3..], [json!(3), json!(1), json!(1)]);
}

#[tokio::test]
async fn a_vllm_server_is_told_to_continue_the_text_before_the_cursor_rather_than_answer_it() {
    // vLLM and SGLang end a trailing assistant message and open an answer of their own unless the
    // request says `continue_final_message`; they ignore Moonshot's `partial`. Their `/models`
    // names them, so a provider set up as in docs/providers.md needs no setting for it.
    let vllm = Standin::start().await;
    vllm.set_owned_by("vllm");
    vllm.set_models(&["moonshotai/Kimi-K2-Instruct"]);
    let local = |prefill: Option<&str>| {
        let mut provider = json!({"kind": "openai", "baseUrl": vllm.base_url()});
        if let Some(prefill) = prefill {
            provider["prefill"] = json!(prefill);
        }
        json!({"providers": {"local": provider}, "models": {"completion": "local/moonshotai/Kimi-K2-Instruct"}})
    };
    let mut s = setup(|_| local(None)).await;
    let uri = s.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    let sum = \n}\n");
    let models_asked = |vllm: &Standin| vllm.requests().iter().filter(|r| r.path.ends_with("/models")).count();

    for _ in 0..2 {
        vllm.push(Reply::text("a + b;"));
        let items = s.inline(&uri, json!({"line": 1, "character": 14})).await;
        assert_eq!(items["items"][0]["insertText"], "a + b;", "{items}");
    }
    let sent = vllm.chat_requests();
    assert_eq!(sent.len(), 2);
    for body in &sent {
        assert_eq!(body["continue_final_message"], true, "{body}");
        assert_eq!(body["add_generation_prompt"], false, "{body}");
        let last = body["messages"].as_array().unwrap().last().unwrap();
        assert_eq!((&last["role"], &last["content"]), (&json!("assistant"), &json!("    let sum = ")), "{body}");
        assert!(last.get("partial").is_none(), "vLLM would ignore it: {body}");
    }
    assert_eq!(models_asked(&vllm), 1, "asked once, before the first completion");

    // The setting overrides what `/models` says.
    s.client.notify("workspace/didChangeConfiguration", json!({"settings": {"kimi": local(Some("partial"))}}));
    vllm.push(Reply::text("a + b;"));
    let items = s.inline(&uri, json!({"line": 1, "character": 14})).await;
    assert_eq!(items["items"][0]["insertText"], "a + b;", "{items}");
    let body = vllm.chat_requests().pop().unwrap();
    assert!(body.get("continue_final_message").is_none() && body.get("add_generation_prompt").is_none(), "{body}");
    assert_eq!(body["messages"].as_array().unwrap().last().unwrap()["partial"], true, "{body}");
    assert_eq!(s.metered(3).await.len(), 3);
    s.finish().await;
}

#[tokio::test]
async fn moonshot_and_servers_that_do_not_name_vllm_or_sglang_get_partial_mode() {
    let other = Standin::start().await;
    other.set_owned_by("llamacpp");
    other.set_models(&["qwen2.5-coder"]);
    let mut s = setup(|_| {
        json!({"providers": {"local": {"kind": "openai", "baseUrl": other.base_url()}},
               "models": {"completion": "local/qwen2.5-coder"}})
    })
    .await;
    let uri = s.open("lib.rs", "fn add(a: i32, b: i32) -> i32 {\n    let sum = \n}\n");
    other.push(Reply::text("a + b;"));
    let items = s.inline(&uri, json!({"line": 1, "character": 14})).await;
    assert_eq!(items["items"][0]["insertText"], "a + b;", "{items}");
    let body = other.chat_requests().pop().unwrap();
    assert!(body.get("continue_final_message").is_none(), "{body}");
    assert_eq!(body["messages"].as_array().unwrap().last().unwrap()["partial"], true, "{body}");

    // The built-in provider on the stand-in (a Moonshot server at another address) too.
    s.client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"kimi": {"models": {"completion": "kimi-k2-turbo-preview"}}}}),
    );
    s.moonshot.push(Reply::text("a + b;"));
    let items = s.inline(&uri, json!({"line": 1, "character": 14})).await;
    assert_eq!(items["items"][0]["insertText"], "a + b;", "{items}");
    let body = s.moonshot.chat_requests().pop().unwrap();
    assert!(body.get("continue_final_message").is_none(), "{body}");
    assert_eq!(body["messages"].as_array().unwrap().last().unwrap()["partial"], true, "{body}");
    assert_eq!(s.metered(2).await.len(), 2);
    s.finish().await;
}
