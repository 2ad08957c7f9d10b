//! Several writers on one ledger file — threads with their own or a shared connection, and
//! separate kimi-lsp processes — lose no rows and add costs up exactly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use kimi_lsp::ledger::{Feature, Ledger, Outcome, TimeRange, UsageRecord};

const ROWS: u64 = 500;
/// Every fifth completion gets accepted, so updates contend with inserts too.
const ACCEPT_EVERY: u64 = 5;

const ENV_PATH: &str = "KIMI_LSP_TEST_LEDGER_PATH";
const ENV_NAME: &str = "KIMI_LSP_TEST_LEDGER_WRITER";
const ENV_GO: &str = "KIMI_LSP_TEST_LEDGER_GO";

/// Cost of row `i` in millionths: varied, and in decimal amounts a float sum would round.
fn cost_micros(i: u64) -> u64 {
    1 + i % 10
}

fn expected_micros(writers: u64) -> u64 {
    writers * (0..ROWS).map(cost_micros).sum::<u64>()
}

fn record_for(writer: &str, i: u64) -> UsageRecord {
    UsageRecord {
        at_unix_ms: 1_700_000_000_000 + i as i64,
        feature: Feature::Completion,
        provider: writer.to_string(),
        model: format!("model-{writer}"),
        prompt_tokens: 1000 + i,
        completion_tokens: 10,
        cached_tokens: 256,
        cost: Some(cost_micros(i) as f64 / 1e6),
        latency_ms: 5,
        outcome: Outcome::Shown,
        error: None,
    }
}

/// Inserts ROWS rows as `writer` and returns their ids.
fn write_rows(ledger: &Ledger, writer: &str) -> Vec<i64> {
    (0..ROWS)
        .map(|i| {
            let id = ledger.record(&record_for(writer, i)).unwrap_or_else(|e| panic!("{writer} row {i}: {e}"));
            if i % ACCEPT_EVERY == 0 {
                ledger.set_outcome(id, Outcome::Accepted).unwrap_or_else(|e| panic!("{writer} accept {i}: {e}"));
            }
            id
        })
        .collect()
}

fn check_ledger(path: &Path, writers: &[&str]) {
    let ledger = Ledger::open(path).unwrap();
    let n = writers.len() as u64;
    let totals = ledger.totals(TimeRange::AllTime).unwrap();
    assert_eq!(totals.requests, n * ROWS, "rows lost");
    assert_eq!(totals.prompt_tokens, n * (0..ROWS).map(|i| 1000 + i).sum::<u64>());
    assert_eq!(totals.cached_tokens, n * ROWS * 256);
    let expected_cost = expected_micros(n) as f64 / 1e6;
    assert_eq!(totals.cost, expected_cost);
    assert_eq!(ledger.spent(TimeRange::AllTime).unwrap(), expected_cost);
    assert_eq!(totals.shown_completions, n * ROWS);
    assert_eq!(totals.accepted_completions, n * ROWS / ACCEPT_EVERY);
    let mut models: Vec<(String, u64)> = totals.by_model.iter().map(|(m, s)| (m.clone(), s.requests)).collect();
    models.sort();
    let mut expected: Vec<(String, u64)> = writers.iter().map(|w| (format!("model-{w}"), ROWS)).collect();
    expected.sort();
    assert_eq!(models, expected, "every writer's rows are all there");
}

#[test]
fn threads_with_own_and_shared_connections_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let shared = Arc::new(Ledger::open(&path).unwrap());
    let writers = ["shared-a", "shared-b", "own-a", "own-b"];
    let barrier = Arc::new(Barrier::new(writers.len()));
    let handles: Vec<_> = writers
        .iter()
        .map(|&writer| {
            let barrier = Arc::clone(&barrier);
            let shared = Arc::clone(&shared);
            let path = path.clone();
            std::thread::spawn(move || {
                let own;
                let ledger: &Ledger = if writer.starts_with("own") {
                    own = Ledger::open(&path).unwrap();
                    &own
                } else {
                    &shared
                };
                barrier.wait();
                write_rows(ledger, writer)
            })
        })
        .collect();
    let mut ids: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, writers.len() as u64 * ROWS, "ids are unique");

    // The shared handle's session saw exactly its two writers' rows.
    let session = shared.session();
    assert_eq!(session.requests, 2 * ROWS);
    assert_eq!(session.cost, expected_micros(2) as f64 / 1e6);
    assert_eq!(session.accepted_completions, 2 * ROWS / ACCEPT_EVERY);
    drop(shared);
    check_ledger(&path, &writers);
}

#[test]
fn separate_processes_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    // The file does not exist yet: the writers also race to create it.
    let path = dir.path().join("nested").join("usage.sqlite3");
    let go = dir.path().join("go");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["proc-a", "proc-b"]
        .into_iter()
        .map(|writer| {
            let child = Command::new(&exe)
                .args(["--exact", "ledger_writer_process", "--ignored", "--nocapture", "--test-threads=1"])
                .env(ENV_PATH, &path)
                .env(ENV_NAME, writer)
                .env(ENV_GO, &go)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (writer, child)
        })
        .collect();

    // This process writes too, starting with the children.
    let parent_path = path.clone();
    let go_signal = go.clone();
    let parent = std::thread::spawn(move || {
        let ledger = Ledger::open(&parent_path).unwrap();
        std::fs::write(&go_signal, b"go").unwrap();
        write_rows(&ledger, "parent")
    });

    for (writer, child) in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "writer {writer} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(parent.join().unwrap().len() as u64, ROWS);
    check_ledger(&path, &["proc-a", "proc-b", "parent"]);
}

/// The body of one writer process; run by `separate_processes_lose_no_rows`.
#[test]
#[ignore = "a child process of separate_processes_lose_no_rows"]
fn ledger_writer_process() {
    let path = PathBuf::from(std::env::var_os(ENV_PATH).expect("run by the parent test"));
    let writer = std::env::var(ENV_NAME).unwrap();
    let go = PathBuf::from(std::env::var_os(ENV_GO).unwrap());
    let ledger = Ledger::open(&path).unwrap_or_else(|e| panic!("{writer} open: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "{writer}: no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let ids = write_rows(&ledger, &writer);
    assert_eq!(ids.len() as u64, ROWS);
    assert_eq!(ledger.session().requests, ROWS);
}
