//! Every request's usage and cost lands in the ledger, read from where Moonshot puts it
//! (`choices[0].usage` of the last chunk, `cached_tokens` flat), priced from the price table —
//! also for requests that fail or are dropped early.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kimi_lsp::config::{Config, ConfigLayers, Source};
use kimi_lsp::ledger::{Feature, Ledger, Outcome, TimeRange};
use kimi_lsp::providers::{ChatRequest, Message, StreamEvent};
use kimi_lsp::router::{RouteHint, Router};
use kimi_test_support::{ApiError, Reply, Standin};
use serde_json::json;

fn config(base_url: &str) -> Config {
    let mut layers = ConfigLayers::default();
    layers.set(Source::Editor, json!({"apiKey": "sk-usage", "baseUrl": base_url}));
    layers.resolve().0
}

fn request(model: &str) -> ChatRequest {
    ChatRequest::new(model, vec![Message::user("hello")])
}

async fn settle(ledger: &Ledger, rows: u64) -> kimi_lsp::ledger::Totals {
    for _ in 0..100 {
        let totals = ledger.totals(TimeRange::AllTime).unwrap();
        if totals.requests >= rows {
            return totals;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the ledger never reached {rows} rows");
}

#[tokio::test]
async fn streamed_usage_and_cost_are_recorded() {
    let standin = Standin::start().await;
    standin.push(Reply::text("hi there").usage(1_000_000, 100_000, 250_000));
    let ledger = Arc::new(Ledger::open_in_memory().unwrap());
    let config = config(&standin.base_url());
    let router = Router::new(&config, Some(ledger.clone()));
    let answer = router.chat(&config, Feature::Chat, request("kimi-k2-0905-preview")).await.unwrap();
    assert_eq!(answer.content, "hi there");

    let totals = settle(&ledger, 1).await;
    assert_eq!(totals.prompt_tokens, 1_000_000);
    assert_eq!(totals.completion_tokens, 100_000);
    assert_eq!(totals.cached_tokens, 250_000);
    // 250k cache hits at 0.15, 750k misses at 0.60, 100k output at 2.50 (USD per million).
    let expected = 0.25 * 0.15 + 0.75 * 0.60 + 0.1 * 2.50;
    assert!((totals.cost - expected).abs() < 1e-9, "cost {} != {expected}", totals.cost);
    assert_eq!(totals.by_feature[0].0, Feature::Chat);
}

#[tokio::test]
async fn failures_and_early_drops_are_recorded_too() {
    let standin = Standin::start().await;
    // An action retries an overload twice (router.rs): three failed attempts, three rows.
    for _ in 0..3 {
        standin.push(Reply::error(ApiError::Overloaded));
    }
    standin.push(Reply::text("a long answer that nobody reads to the end").chunk_delay(Duration::from_millis(50)));
    let ledger = Arc::new(Ledger::open_in_memory().unwrap());
    let config = config(&standin.base_url());
    let router = Router::new(&config, Some(ledger.clone()));

    let err = router.stream(&config, Feature::Action, request("kimi-k2.5")).await.unwrap_err();
    assert_eq!(err.kind(), "overloaded");

    let mut stream = router.stream(&config, Feature::Completion, request("kimi-k2-turbo-preview")).await.unwrap();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Content(_) = event.unwrap() {
            break;
        }
    }
    drop(stream);
    standin.wait_for_dropped_streams(1, Duration::from_secs(5)).await;

    let totals = settle(&ledger, 4).await;
    assert_eq!(totals.requests, 4);
    assert_eq!(totals.errors, 3);
    let by_feature: Vec<_> = totals.by_feature.iter().map(|(f, s)| (*f, s.requests)).collect();
    assert!(by_feature.contains(&(Feature::Action, 3)), "{by_feature:?}");
    assert!(by_feature.contains(&(Feature::Completion, 1)), "{by_feature:?}");
    let _ = Outcome::Cancelled; // the dropped one is stored as cancelled (see router.rs)
}

#[tokio::test]
async fn a_model_with_a_fixed_temperature_is_retried_without_one() {
    let standin = Standin::start().await;
    let ledger = Arc::new(Ledger::open_in_memory().unwrap());
    let config = config(&standin.base_url());
    let router = Router::new(&config, Some(ledger));
    let mut req = request("kimi-k2.5");
    req.temperature = Some(0.2);
    let answer = router.chat(&config, Feature::Chat, req.clone()).await.unwrap();
    assert_eq!(answer.content, "ok");
    let bodies = standin.chat_requests();
    assert_eq!(bodies.len(), 2, "one refused, one retried");
    assert!(bodies[1].get("temperature").is_none(), "{}", bodies[1]);
    // Learned: the next request goes without a temperature straight away.
    router.chat(&config, Feature::Chat, req).await.unwrap();
    assert_eq!(standin.chat_requests().len(), 3);
}

/// A completion readies its request (route, body) during its debounce and sends it when the
/// wait ends: what goes out is exactly what a direct call sends.
#[tokio::test]
async fn a_readied_request_goes_out_as_a_direct_one_would() {
    let standin = Standin::start().await;
    let config = config(&standin.base_url());
    let router = Router::new(&config, None);
    let mut req = request("kimi-k2-turbo-preview");
    req.temperature = Some(0.2);
    req.max_tokens = Some(64);
    req.stop = vec!["\n\n".into()];
    router.chat(&config, Feature::Completion, req.clone()).await.unwrap();
    let ready = router.ready(&config, Feature::Completion, &RouteHint::default(), req).await.unwrap();
    router.send_ready(&config, ready).await.unwrap().collect().await.unwrap();
    let bodies = standin.chat_requests();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1]["temperature"], json!(0.2));
}

/// A request readied before the router learned that its model fixes the temperature is sent
/// the way the router now knows it must be: without one, and not refused first.
#[tokio::test]
async fn a_readied_request_follows_what_was_learned_while_it_waited() {
    let standin = Standin::start().await;
    let config = config(&standin.base_url());
    let router = Router::new(&config, None);
    let mut req = request("kimi-k2.5");
    req.temperature = Some(0.2);
    let ready = router.ready(&config, Feature::Completion, &RouteHint::default(), req.clone()).await.unwrap();
    router.chat(&config, Feature::Chat, req).await.unwrap();
    assert_eq!(standin.chat_requests().len(), 2, "one refused, one retried");
    let answer = router.send_ready(&config, ready).await.unwrap().collect().await.unwrap();
    assert_eq!(answer.content, "ok");
    let bodies = standin.chat_requests();
    assert_eq!(bodies.len(), 3, "sent once, without the refused temperature");
    assert!(bodies[2].get("temperature").is_none(), "{}", bodies[2]);
}
