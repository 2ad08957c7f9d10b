//! `kimi-bench`: issue 3's inline-completion benchmark, measured the way a user feels it.
//!
//! The real server binary runs as a child process and is driven over stdio with Content-Length
//! framing; the Moonshot stand-in runs in this process on 127.0.0.1, so that the client's and
//! the stand-in's clocks are one clock. Six measures (BENCHMARKS.md explains each):
//! 1. the server's own share of one inline request, on a 3,000–5,000-line real Rust file with
//!    300 other real files open: (upstream request received − request written) + (response read
//!    − upstream reply finished);
//! 2. one keystroke: `Document::edit` (what `didChange` does on the message loop), in-process,
//!    and apart from it the deferred incremental reparse, as if one followed every keystroke;
//! 3. a Helix-style burst: 40 keystrokes 40 ms apart, an automatic request after each, the
//!    model's first byte 300 ms after it is asked;
//! 4. resident memory with the files open, after one completion;
//! 5. the server's own steps of an inline request (context and prompt, the request body,
//!    post-processing), in-process at the share's cursors, and two floors under the share: an
//!    LSP round trip doing no work, and the same upstream call made by a bare HTTP client;
//! 6. accepting a suggestion after reading it, then the next suggestion at its end, without and
//!    with `completion.speculate`: how soon the next one is there.
//!
//! Exits non-zero only when the run itself is broken (the server died, a request failed or went
//! unanswered where every request must be answered, timings that cannot be matched up). A missed
//! target is reported in the table, not in the exit code.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use kimi_lsp::config::Config;
use kimi_lsp::context::{SimilarIndex, WorkspaceIndex};
use kimi_lsp::features::completion::prepare_request;
use kimi_lsp::postprocess::{postprocess_streamed, CompletionSite, Ended, StopDetector};
use kimi_lsp::text::{Document, Language, LineCol, PositionEncoding, TextChange, TextRange};
use kimi_test_support::{file_uri, Reply, Standin};
use serde_json::{json, Value};

const USAGE: &str = "usage: kimi-bench [--file PATH] [--others N] [--requests N] [--warmup N] \
[--keystrokes N] [--gap-ms N] [--choices N] [--server PATH] [--registry DIR] [--stdio pipes|sockets] \
[--slowest N]

  --file PATH      the big Rust file (default: a 3,000-5,000-line file of a dependency in
                   Cargo.lock, from the cargo registry sources)
  --others N       other real Rust files open at the same time (default 300)
  --requests N     measured inline requests (default 500)
  --warmup N       inline requests before measuring (default 50)
  --keystrokes N   single-character edits for the per-keystroke measure (default 5000)
  --gap-ms N       pause between measured inline requests (default 20)
  --choices N      suggestions an invoked request asks for, the server's completion.invokedChoices
                   (default 1: one suggestion, as an automatic request asks for)
  --server PATH    the server binary (default: kimi-lsp-under-test next to this binary)
  --registry DIR   where crate sources are (default: $CARGO_HOME/registry/src/*)
  --stdio KIND     what the server's stdin and stdout are: pipes (default; Helix, Emacs, Zed) or
                   sockets (a stream socket pair each, as libuv gives them: VS Code, Neovim)
  --slowest N      print the N slowest cursors of the in-process steps, with each step's time
                   (default 0: none), to find what a tail is made of";

const KEY: &str = "sk-kimi-bench";
/// The suggestion of the share measure: a trailing comment parses after any line, so every
/// request takes the whole path, the post-processing's parse check included.
const SHARE_REPLY: &str = " // keeps the handle alive until the request ends";
/// The burst types this (40 characters) on a fresh line inside a function body…
const BURST_TYPED: &str = "let total: u64 = items.iter().map(|item|";
/// …and the model completes the statement.
const BURST_REPLY: &str = " item.price).sum();";
const BURST_KEYS: usize = 40;
const BURST_GAP: Duration = Duration::from_millis(40);
const BURST_FIRST_BYTE: Duration = Duration::from_millis(300);
/// What a keystroke of the in-process measure types (then deletes again, key by key).
const TYPED_AT_SITE: &str = "let value = compute(&items, 3);";
/// Crates whose sources are generated bindings, not code anyone edits.
const GENERATED: &[&str] = &["windows", "linux-raw-sys", "libc", "web-sys", "js-sys"];

const TARGET_SHARE_P50_MS: f64 = 0.3;
const TARGET_SHARE_P99_MS: f64 = 1.5;
const TARGET_KEY_P99_MS: f64 = 0.5;
const TARGET_BURST_CALLS: usize = 3;
const TARGET_BURST_LAST_MS: f64 = 450.0;
const TARGET_RSS_MIB: f64 = 40.0;

// ---------------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, PartialEq)]
struct Args {
    file: Option<PathBuf>,
    others: usize,
    requests: usize,
    warmup: usize,
    keystrokes: usize,
    gap: Duration,
    choices: usize,
    server: Option<PathBuf>,
    registry: Option<PathBuf>,
    stdio: StdioKind,
    slowest: usize,
}

/// How the server's stdin and stdout are connected: the server reads them differently.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StdioKind {
    Pipes,
    Sockets,
}

impl StdioKind {
    fn name(self) -> &'static str {
        match self {
            StdioKind::Pipes => "pipes",
            StdioKind::Sockets => "sockets",
        }
    }
}

impl Default for Args {
    fn default() -> Args {
        Args {
            file: None,
            others: 300,
            requests: 500,
            warmup: 50,
            keystrokes: 5000,
            gap: Duration::from_millis(20),
            choices: 1,
            server: None,
            registry: None,
            stdio: StdioKind::Pipes,
            slowest: 0,
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        let number = |name: &str, v: String| {
            v.parse::<usize>().map_err(|_| format!("{name} {v:?} is not a whole number\n{USAGE}"))
        };
        match flag.as_str() {
            "--file" => out.file = Some(PathBuf::from(value("--file")?)),
            "--others" => out.others = number("--others", value("--others")?)?,
            "--requests" => out.requests = number("--requests", value("--requests")?)?,
            "--warmup" => out.warmup = number("--warmup", value("--warmup")?)?,
            "--keystrokes" => out.keystrokes = number("--keystrokes", value("--keystrokes")?)?,
            "--gap-ms" => out.gap = Duration::from_millis(number("--gap-ms", value("--gap-ms")?)? as u64),
            "--choices" => out.choices = number("--choices", value("--choices")?)?,
            "--slowest" => out.slowest = number("--slowest", value("--slowest")?)?,
            "--server" => out.server = Some(PathBuf::from(value("--server")?)),
            "--registry" => out.registry = Some(PathBuf::from(value("--registry")?)),
            "--stdio" => {
                out.stdio = match value("--stdio")?.as_str() {
                    "pipes" => StdioKind::Pipes,
                    "sockets" => StdioKind::Sockets,
                    other => return Err(format!("--stdio {other:?} is neither pipes nor sockets\n{USAGE}")),
                }
            }
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if out.requests == 0 {
        return Err(format!("--requests must be at least 1\n{USAGE}"));
    }
    if out.keystrokes == 0 {
        return Err(format!("--keystrokes must be at least 1\n{USAGE}"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Nearest-rank percentile of sorted samples: the smallest sample with at least `p` of all
/// samples at or below it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Summary {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn summarize(samples: &[Duration]) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort();
    Summary {
        n: sorted.len(),
        p50: percentile(&sorted, 0.50),
        p90: percentile(&sorted, 0.90),
        p99: percentile(&sorted, 0.99),
        max: sorted.last().copied().unwrap_or_default(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

// ---------------------------------------------------------------------------------------------
// Choosing real files

/// `name-version` of every package in a Cargo.lock, as the registry names their directories.
fn locked_packages(lock: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut name: Option<&str> = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"'));
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(n) = name.take() {
                out.insert(format!("{n}-{}", v.trim_matches('"')));
            }
        }
    }
    out
}

fn is_generated(crate_dir: &str) -> bool {
    GENERATED.iter().any(|g| crate_dir.starts_with(g))
}

/// The registry source directories: `DIR` itself when it holds crates, else its children.
fn registry_roots(explicit: Option<&Path>) -> Vec<PathBuf> {
    let base = match explicit {
        Some(dir) => dir.to_path_buf(),
        None => {
            let cargo_home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
            match cargo_home {
                Some(home) => home.join("registry").join("src"),
                None => return Vec::new(),
            }
        }
    };
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    let children: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    // `registry/src` holds one directory per index, each holding crates; a crate directory
    // given directly holds `Cargo.toml` files one level down.
    if children.iter().any(|c| c.join("Cargo.toml").is_file()) {
        vec![base]
    } else {
        children
    }
}

/// A real Rust file and what the bench shows of it.
#[derive(Clone, Debug)]
struct SourceFile {
    path: PathBuf,
    /// `crate-version/path/in/crate.rs`: where it goes in the bench's workspace.
    shown: String,
    lines: usize,
}

fn rust_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(kind) = e.file_type() else { continue };
        let path = e.path();
        if kind.is_dir() && e.file_name() != "target" {
            rust_files_under(&path, out);
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Every Rust file of the locked, hand-written crates, sorted by path, with its line count.
fn registry_sources(roots: &[PathBuf], locked: Option<&HashSet<String>>) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        let mut crates: Vec<_> = entries.filter_map(Result::ok).collect();
        crates.sort_by_key(|e| e.file_name());
        for krate in crates {
            let name = krate.file_name().to_string_lossy().into_owned();
            if is_generated(&name) || locked.is_some_and(|l| !l.contains(&name)) {
                continue;
            }
            let mut files = Vec::new();
            rust_files_under(&krate.path(), &mut files);
            for path in files {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let rel = path.strip_prefix(krate.path()).unwrap_or(&path);
                out.push(SourceFile {
                    shown: format!("{name}/{}", rel.to_string_lossy()),
                    lines: text.lines().count(),
                    path,
                });
            }
        }
    }
    out
}

/// The default big file: reqwest's async client (hand-written, 3,000+ lines) when it is there,
/// else the first file of 3,000–5,000 lines by path.
fn pick_big(sources: &[SourceFile]) -> Option<&SourceFile> {
    let in_range = |f: &&SourceFile| (3000..=5000).contains(&f.lines);
    sources
        .iter()
        .filter(in_range)
        .find(|f| f.shown.starts_with("reqwest-") && f.shown.ends_with("src/async_impl/client.rs"))
        .or_else(|| sources.iter().find(in_range))
}

/// `n` files of 50–3,000 lines other than `big`, spread evenly over the sorted list so that
/// many crates are represented.
fn pick_others<'a>(sources: &'a [SourceFile], big: &Path, n: usize) -> Vec<&'a SourceFile> {
    let pool: Vec<&SourceFile> = sources.iter().filter(|f| (50..=3000).contains(&f.lines) && f.path != big).collect();
    if pool.len() <= n {
        return pool;
    }
    (0..n).map(|i| pool[i * pool.len() / n]).collect()
}

// ---------------------------------------------------------------------------------------------
// Positions in the big file

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// The file's lines without their line breaks.
fn plain_lines(text: &str) -> Vec<&str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect()
}

/// Lines of code (not blank, not comments or attributes) where the cursor goes at the end.
fn code_lines(lines: &[&str]) -> Vec<u32> {
    (0..lines.len().saturating_sub(1))
        .filter(|&i| {
            let t = lines[i].trim();
            !t.is_empty() && !t.starts_with("//") && !t.starts_with('#')
        })
        .map(|i| i as u32)
        .collect()
}

/// `count` lines from `pool`, in a fixed scattered order, each used once before any repeats:
/// consecutive requests never share a line, so type-through never answers one.
fn scattered(pool: &[u32], count: usize) -> Vec<u32> {
    if pool.is_empty() {
        return Vec::new();
    }
    let n = pool.len();
    let mut step = (n as f64 * 0.618_034) as usize | 1;
    while gcd(step, n) != 1 {
        step += 2;
    }
    (0..count).map(|i| pool[(i * step) % n]).collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

// ---------------------------------------------------------------------------------------------
// The LSP connection: timestamps taken as close to the pipe as possible

/// One message from the server and the instant its last byte was read.
struct Incoming {
    msg: Value,
    at: Instant,
}

/// Reads one Content-Length frame; `Ok(None)` at a clean end of stream.
fn read_frame(r: &mut impl BufRead) -> io::Result<Option<(Vec<u8>, Instant)>> {
    let mut length = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            if first {
                return Ok(None);
            }
            return Err(io::Error::other("stdout ended inside a frame's headers"));
        }
        first = false;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| io::Error::other("a frame without a valid Content-Length"))?;
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(Some((body, Instant::now())))
}

fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

struct Server {
    child: Child,
    stdin: Arc<Mutex<Box<dyn Write + Send>>>,
    inbox: Receiver<Incoming>,
    /// Responses that arrived while waiting for another one.
    early: HashMap<i64, Incoming>,
    stderr: Arc<Mutex<String>>,
    /// `window/showMessage` texts of type Error or Warning: a broken setup shows up here.
    complaints: Arc<Mutex<Vec<String>>>,
    next_id: i64,
    _home: tempfile::TempDir,
}

impl Server {
    fn spawn(bin: &Path, base_url: &str, stdio: StdioKind) -> Result<Server, String> {
        let home = tempfile::tempdir().map_err(|e| format!("no temporary HOME: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.env_clear().stderr(Stdio::piped());
        // Our ends of the sockets, when the server gets sockets.
        let mut socket_ends = None;
        match stdio {
            StdioKind::Pipes => {
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
            }
            StdioKind::Sockets => {
                let pair = || UnixStream::pair().map_err(|e| format!("no socket pair: {e}"));
                let ((ours_in, theirs_in), (ours_out, theirs_out)) = (pair()?, pair()?);
                cmd.stdin(Stdio::from(OwnedFd::from(theirs_in))).stdout(Stdio::from(OwnedFd::from(theirs_out)));
                socket_ends = Some((ours_in, ours_out));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        // A fresh HOME: the user's settings and usage ledger are neither read nor written.
        for (var, sub) in [
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_STATE_HOME", ".local/state"),
            ("XDG_CACHE_HOME", ".cache"),
        ] {
            let dir = home.path().join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            cmd.env(var, dir);
        }
        cmd.env("HOME", home.path()).env("MOONSHOT_API_KEY", KEY).env("MOONSHOT_BASE_URL", base_url);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        // The server's ends are closed here when `cmd` goes, so its exit shows as EOF.
        drop(cmd);
        let (stdin, stdout): (Box<dyn Write + Send>, Box<dyn Read + Send>) = match socket_ends {
            None => (
                Box::new(child.stdin.take().expect("stdin is piped")),
                Box::new(child.stdout.take().expect("stdout is piped")),
            ),
            Some((ours_in, ours_out)) => (Box::new(ours_in), Box::new(ours_out)),
        };
        let stdin = Arc::new(Mutex::new(stdin));
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let complaints = Arc::new(Mutex::new(Vec::new()));
        let (tx, inbox) = mpsc::channel();
        let replies = stdin.clone();
        let heard = complaints.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Ok(Some((body, at))) = read_frame(&mut reader) {
                let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
                    break;
                };
                match (msg.get("id"), msg.get("method").and_then(Value::as_str)) {
                    // A request from the server (progress tokens, say): any answer will do.
                    (Some(id), Some(_)) => {
                        let reply = json!({"jsonrpc": "2.0", "id": id, "result": null});
                        let mut w = replies.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(&frame(&reply)).and_then(|_| w.flush());
                    }
                    (None, Some("window/showMessage")) if msg["params"]["type"].as_u64().is_some_and(|t| t <= 2) => {
                        heard
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(msg["params"]["message"].as_str().unwrap_or("").to_string());
                    }
                    (Some(_), None) => {
                        let Ok(()) = tx.send(Incoming { msg, at }) else {
                            break;
                        };
                    }
                    _ => {}
                }
            }
        });

        Ok(Server { child, stdin, inbox, early: HashMap::new(), stderr, complaints, next_id: 1, _home: home })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one message; returns the instant just before its first byte went out.
    fn write(&mut self, msg: &Value) -> Result<Instant, String> {
        let bytes = frame(msg);
        let mut w = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let at = Instant::now();
        w.write_all(&bytes)
            .and_then(|_| w.flush())
            .map_err(|e| format!("the server's stdin is closed ({e}); {}", self.tail()))?;
        Ok(at)
    }

    fn send_request(&mut self, method: &str, params: Value) -> Result<(i64, Instant), String> {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        Ok((id, at))
    }

    fn notify(&mut self, method: &str, params: Value) -> Result<Instant, String> {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// The response to `id`, or `None` when it did not come before `deadline`.
    fn response_by(&mut self, id: i64, deadline: Instant) -> Result<Option<Incoming>, String> {
        if let Some(r) = self.early.remove(&id) {
            return Ok(Some(r));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(r) if r.msg["id"] == json!(id) => return Ok(Some(r)),
                Ok(r) => {
                    if let Some(other) = r.msg["id"].as_i64() {
                        self.early.insert(other, r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the server closed its stdout; {}", self.tail()))
                }
            }
        }
    }

    /// The result of `id`; an error response or a timeout breaks the run.
    fn result(&mut self, id: i64, timeout: Duration) -> Result<(Value, Instant), String> {
        match self.response_by(id, Instant::now() + timeout)? {
            None => Err(format!("no response to request {id} within {timeout:?}; {}", self.tail())),
            Some(r) => match r.msg.get("error") {
                Some(e) => Err(format!("request {id} failed: {e}")),
                None => Ok((r.msg.get("result").cloned().unwrap_or(Value::Null), r.at)),
            },
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let (id, _) = self.send_request(method, params)?;
        Ok(self.result(id, Duration::from_secs(30))?.0)
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The end of the server's stderr, for error messages.
    fn tail(&self) -> String {
        let text = self.stderr_text();
        let start = text.len().saturating_sub(2000);
        let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        format!("server stderr ends with:\n{}", &text[start..])
    }

    fn complaints(&self) -> Vec<String> {
        self.complaints.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `VmRSS` and `VmHWM` (the peak) in MiB, from /proc.
    fn memory_mib(&self) -> Result<(f64, f64), String> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .ok_or_else(|| format!("{path} has no {name}"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    fn shutdown(mut self) {
        if self.request("shutdown", Value::Null).is_ok() {
            let _ = self.notify("exit", Value::Null);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A session: the workspace, the stand-in, the server with every file open

struct Workspace {
    dir: tempfile::TempDir,
    big: SourceFile,
    big_text: String,
    others: Vec<SourceFile>,
}

impl Workspace {
    /// Copies the files into a fresh directory, as a project the editor has open.
    fn create(big: &SourceFile, others: &[&SourceFile]) -> Result<Workspace, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary workspace: {e}"))?;
        let big_text =
            std::fs::read_to_string(&big.path).map_err(|e| format!("cannot read {}: {e}", big.path.display()))?;
        let mut copied = Vec::new();
        for f in std::iter::once(big).chain(others.iter().copied()) {
            let to = dir.path().join(&f.shown);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::copy(&f.path, &to).map_err(|e| format!("copying {}: {e}", f.path.display()))?;
            copied.push(SourceFile { path: to, shown: f.shown.clone(), lines: f.lines });
        }
        let big = copied.remove(0);
        Ok(Workspace { dir, big, big_text, others: copied })
    }

    fn big_uri(&self) -> String {
        file_uri(&self.big.path)
    }
}

struct Session {
    standin: Standin,
    server: Server,
    big_uri: String,
    version: i32,
}

impl Session {
    /// Starts a stand-in and a server, opens every file of the workspace, and waits until the
    /// workspace index is built and the re-indexing of the opened files has had its turn.
    fn start(rt: &tokio::runtime::Runtime, bin: &Path, args: &Args, ws: &Workspace) -> Result<Session, String> {
        Session::start_with(rt, bin, args, ws, false)
    }

    /// [`Session::start`], with `completion.speculate` set as given.
    fn start_with(
        rt: &tokio::runtime::Runtime,
        bin: &Path,
        args: &Args,
        ws: &Workspace,
        speculate: bool,
    ) -> Result<Session, String> {
        let standin = rt.block_on(Standin::start());
        let mut server = Server::spawn(bin, &standin.base_url(), args.stdio)?;
        let root = file_uri(ws.dir.path());
        server.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": {"name": "kimi-bench", "version": "0.1.0"},
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "bench"}],
                "capabilities": {
                    "general": {"positionEncodings": ["utf-16"]},
                    "textDocument": {"inlineCompletion": {}}
                },
                "initializationOptions": {"completion": {"invokedChoices": args.choices, "speculate": speculate}},
            }),
        )?;
        server.notify("initialized", json!({}))?;
        let big_uri = ws.big_uri();
        for f in std::iter::once(&ws.big).chain(ws.others.iter()) {
            let text =
                std::fs::read_to_string(&f.path).map_err(|e| format!("cannot read {}: {e}", f.path.display()))?;
            server.notify(
                "textDocument/didOpen",
                json!({"textDocument": {"uri": file_uri(&f.path), "languageId": "rust", "version": 1, "text": text}}),
            )?;
        }
        // Handled in arrival order: once this answers, every didOpen has been applied.
        let state = server.request("kimi/documentState", json!({"textDocument": {"uri": big_uri}}))?;
        if state["parsed"] != json!(true) {
            return Err(format!("the big file was not parsed: {state}"));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.stderr_text().contains("workspace indexed") {
            if Instant::now() >= deadline {
                eprintln!("kimi-bench: the server never logged \"workspace indexed\"; measuring anyway");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Opened documents are re-indexed from their trees every 750 ms: let that pass too.
        std::thread::sleep(Duration::from_millis(2000));
        Ok(Session { standin, server, big_uri, version: 1 })
    }

    fn inline_params(&self, line: u32, character: u32, trigger: u8) -> Value {
        json!({
            "textDocument": {"uri": self.big_uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": trigger},
        })
    }

    /// Inserts `text` at `at` in the big file; returns the instant it was written.
    fn type_text(&mut self, at: (u32, u32), text: &str) -> Result<Instant, String> {
        self.version += 1;
        let pos = json!({"line": at.0, "character": at.1});
        let params = json!({
            "textDocument": {"uri": self.big_uri, "version": self.version},
            "contentChanges": [{"range": {"start": pos, "end": pos}, "text": text}],
        });
        self.server.notify("textDocument/didChange", params)
    }
}

// ---------------------------------------------------------------------------------------------
// The measures

struct ShareResult {
    total: Summary,
    inbound: Summary,
    outbound: Summary,
    /// An inline request for a document that is not open: framing, dispatch and the answer,
    /// with no work in between. The floor under `total`.
    round_trip: Summary,
    /// The same upstream call made by a bare HTTP client in this process, timed the same way
    /// (request sent -> stand-in received, plus reply end -> reply read): the part of the share
    /// that the loopback hop and the stand-in take whatever the server does.
    upstream_hop: Summary,
    /// The same bare call's send, timed as the server's own clock times its send phase: the
    /// floor under that phase.
    bare_send: Summary,
    /// The server's own clock (`kimi/status`'s `completionOwnTime`) over its last completions:
    /// how many, then p50, p90 and p99 in ms, in all and for its phases.
    own_clock: Option<(u64, [OwnRow; 4])>,
    with_items: usize,
    /// Mean size of the upstream request body, the prompt included.
    request_kib: f64,
    /// How many connections the inline requests' upstream calls came over: one when the server
    /// keeps its connection between answers.
    connections: usize,
    rss_after_one: (f64, f64),
    rss_after_all: (f64, f64),
}

/// A row of the server's own clock: its name, then p50, p90 and p99 in ms.
type OwnRow = (&'static str, [f64; 3]);

/// `kimi/status`'s `completionOwnTime`: how many completions, then the total and its phases.
fn own_clock(status: &Value) -> Option<(u64, [OwnRow; 4])> {
    let own = &status["completionOwnTime"];
    let at = |v: &Value| ["p50Ms", "p90Ms", "p99Ms"].map(|k| v[k].as_f64().unwrap_or(f64::NAN));
    own["completions"].as_u64().map(|n| {
        (
            n,
            [
                ("by the server's own clock (kimi/status)", at(own)),
                ("  prepare: received -> request ready", at(&own["prepare"])),
                ("  send: ready -> request written", at(&own["send"])),
                ("  finish: stream end -> answer ready", at(&own["finish"])),
            ],
        )
    })
}

/// While typing: at scattered line ends of the big file, a space is typed and an automatic
/// request follows, as an editor sends them. Each request finds a reparse due and waits out
/// its adaptive debounce, during which the server prepares it. Measured by the server's own
/// clock only: from outside, the debounce cannot be told apart from the server's work.
fn measure_typing(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    ws: &Workspace,
    args: &Args,
) -> Result<TypingResult, String> {
    let mut s = Session::start(rt, bin, args, ws)?;
    s.standin.set_default(Reply::text(SHARE_REPLY));
    let lines = plain_lines(&ws.big_text);
    let requests = (args.requests / 5).max(1);
    let cursors = scattered(&code_lines(&lines), requests);
    let mut with_items = 0;
    for &line in &cursors {
        let end = utf16_len(lines[line as usize]);
        s.type_text((line, end), " ")?;
        let (id, _) = s.server.send_request("textDocument/inlineCompletion", s.inline_params(line, end + 1, 2))?;
        let (result, _) = s.server.result(id, Duration::from_secs(30))?;
        with_items += usize::from(items(&result) > 0);
        std::thread::sleep(args.gap);
    }
    let (id, _) = s.server.send_request("kimi/status", json!({}))?;
    let (status, _) = s.server.result(id, Duration::from_secs(30))?;
    let complaints = s.server.complaints();
    if !complaints.is_empty() {
        return Err(format!("the server reported problems: {complaints:?}"));
    }
    s.server.shutdown();
    Ok(TypingResult { requests: cursors.len(), with_items, own_clock: own_clock(&status) })
}

struct TypingResult {
    requests: usize,
    with_items: usize,
    own_clock: Option<(u64, [OwnRow; 4])>,
}

/// The bare upstream call's timings.
struct Hop {
    /// Request sent -> stand-in received, plus reply end -> reply read.
    hop: Summary,
    /// Request sent -> written to the connection, as the server's own clock times its send phase.
    send: Summary,
}

/// Posts `body` to the stand-in `args.requests` times from a one-thread runtime of its own, as
/// the server's, with a keep-alive connection; the stand-in answers with the share's reply.
fn measure_upstream_hop(standin: &Standin, body: Value, args: &Args) -> Result<Hop, String> {
    let url = format!("{}/chat/completions", standin.base_url().trim_end_matches('/'));
    let before = standin.requests().len();
    let count = args.requests;
    let gap = args.gap;
    let timings = std::thread::spawn(move || -> Result<Vec<(Instant, Instant, Instant)>, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let client = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
            let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let sent = Instant::now();
                let mut sending = std::pin::pin!(client
                    .post(&url)
                    .bearer_auth(KEY)
                    .header("content-type", "application/json")
                    .body(bytes.clone())
                    .send());
                // Timed as the server times its send phase: the first poll hands the request
                // to the connection task, which writes it during the yield.
                let first = std::future::poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await;
                if first.is_pending() {
                    tokio::task::yield_now().await;
                }
                let written = Instant::now();
                let reply = match first {
                    Poll::Ready(reply) => reply,
                    Poll::Pending => sending.await,
                }
                .map_err(|e| format!("the bare upstream call failed: {e}"))?;
                reply.bytes().await.map_err(|e| format!("the bare upstream reply broke off: {e}"))?;
                out.push((sent, written, Instant::now()));
                tokio::time::sleep(gap).await;
            }
            Ok(out)
        })
    })
    .join()
    .map_err(|_| "the bare upstream client panicked".to_string())??;
    let recorded: Vec<_> = standin.requests().into_iter().skip(before).collect();
    if recorded.len() != timings.len() {
        return Err(format!("{} bare upstream calls reached the stand-in {} times", timings.len(), recorded.len()));
    }
    let mut hop = Vec::with_capacity(timings.len());
    for ((sent, _, read), r) in timings.iter().zip(&recorded) {
        let finished = r.reply_finished_at.ok_or("a bare upstream reply was not written to its end")?;
        hop.push((r.received_at - *sent) + (*read - finished));
    }
    let send: Vec<Duration> = timings.iter().map(|(sent, written, _)| *written - *sent).collect();
    Ok(Hop { hop: summarize(&hop), send: summarize(&send) })
}

fn items(result: &Value) -> usize {
    result["items"].as_array().map_or(0, Vec::len)
}

/// Measure 1 (and 4, whose "one completion" is the first warm-up request).
fn measure_share(rt: &tokio::runtime::Runtime, bin: &Path, ws: &Workspace, args: &Args) -> Result<ShareResult, String> {
    let mut s = Session::start(rt, bin, args, ws)?;
    s.standin.set_default(Reply::text(SHARE_REPLY));
    let lines = plain_lines(&ws.big_text);
    let cursors = scattered(&code_lines(&lines), args.warmup.max(1) + args.requests);
    if cursors.is_empty() {
        return Err(format!("{} has no line of code to complete", ws.big.shown));
    }

    let mut sent = Vec::with_capacity(cursors.len());
    let mut with_items = 0;
    let mut rss_after_one = (0.0, 0.0);
    for (i, &line) in cursors.iter().enumerate() {
        let params = s.inline_params(line, utf16_len(lines[line as usize]), 1);
        let (id, at) = s.server.send_request("textDocument/inlineCompletion", params)?;
        let (result, answered) = s.server.result(id, Duration::from_secs(30))?;
        sent.push((at, answered));
        if i == 0 {
            rss_after_one = s.server.memory_mib()?;
        }
        if i >= args.warmup.max(1) {
            with_items += usize::from(items(&result) > 0);
        }
        std::thread::sleep(args.gap);
    }
    let rss_after_all = s.server.memory_mib()?;
    let (id, _) = s.server.send_request("kimi/status", json!({}))?;
    let (status, _) = s.server.result(id, Duration::from_secs(30))?;
    let own_clock = own_clock(&status);
    let mut round_trip = Vec::with_capacity(args.requests);
    let nowhere = json!({
        "textDocument": {"uri": "file:///kimi-bench/not-open.rs"},
        "position": {"line": 0, "character": 0},
        "context": {"triggerKind": 1},
    });
    for _ in 0..args.requests {
        let (id, at) = s.server.send_request("textDocument/inlineCompletion", nowhere.clone())?;
        let (_, answered) = s.server.result(id, Duration::from_secs(30))?;
        round_trip.push(answered - at);
        std::thread::sleep(args.gap);
    }

    // Requests are sequential, so the n-th chat request belongs to the n-th inline request;
    // the ordering checks below catch any request that skipped the model or called it twice.
    let chats: Vec<_> =
        s.standin.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/v1/chat/completions").collect();
    if chats.len() != sent.len() {
        return Err(format!(
            "{} inline requests made {} upstream calls; each should make exactly one",
            sent.len(),
            chats.len()
        ));
    }
    let complaints = s.server.complaints();
    if !complaints.is_empty() {
        return Err(format!("the server reported problems: {complaints:?}"));
    }
    let (mut total, mut inbound, mut outbound) = (Vec::new(), Vec::new(), Vec::new());
    for (k, ((written, read), chat)) in sent.iter().zip(&chats).enumerate() {
        let Some(finished) = chat.reply_finished_at else {
            return Err(format!("the reply to upstream call {k} was not read to its end"));
        };
        if !(*written <= chat.received_at && chat.received_at <= finished && finished <= *read) {
            return Err(format!(
                "the timings of request {k} do not line up: write, upstream, reply end, read are out of order"
            ));
        }
        if k < args.warmup.max(1) {
            continue;
        }
        let inn = chat.received_at - *written;
        let out = *read - finished;
        inbound.push(inn);
        outbound.push(out);
        total.push(inn + out);
    }
    let request_kib = chats.iter().map(|c| c.body.to_string().len() as f64 / 1024.0).sum::<f64>() / chats.len() as f64;
    let connections = chats.iter().filter_map(|c| c.peer).collect::<std::collections::HashSet<_>>().len();
    let bare = measure_upstream_hop(&s.standin, chats.last().map(|c| c.body.clone()).unwrap_or_default(), args)?;
    s.server.shutdown();
    Ok(ShareResult {
        total: summarize(&total),
        inbound: summarize(&inbound),
        outbound: summarize(&outbound),
        round_trip: summarize(&round_trip),
        upstream_hop: bare.hop,
        bare_send: bare.send,
        own_clock,
        with_items,
        request_kib,
        connections,
        rss_after_one,
        rss_after_all,
    })
}

struct KeystrokeResult {
    /// `Document::edit`: rope edit and tree edit, what the message loop pays per keystroke.
    apply: Summary,
    /// `Document::ensure_tree` right after each edit: the deferred reparse at its most frequent
    /// (a request after every key that survives the debounce), run off the message loop.
    reparse: Summary,
    full_parse: Duration,
}

/// Measure 2: at scattered line ends, type a statement key by key, then delete it key by key.
/// Whole sites only, so at least `keystrokes` edits and the file ends as it began.
fn measure_keystrokes(ws: &Workspace, keystrokes: usize) -> Result<KeystrokeResult, String> {
    let uri = ws.big_uri();
    let started = Instant::now();
    let mut doc = Document::new(&uri, "rust", 1, &ws.big_text);
    let full_parse = started.elapsed();
    if doc.tree().is_none() {
        return Err(format!("{} did not parse", ws.big.shown));
    }
    let lines = plain_lines(&ws.big_text);
    let typed: Vec<char> = TYPED_AT_SITE.chars().collect();
    let per_site = 2 * typed.len();
    let sites = scattered(&code_lines(&lines), keystrokes.div_ceil(per_site));
    let enc = PositionEncoding::Utf16;
    let mut version = 1;
    let mut samples = Vec::with_capacity(keystrokes);
    let mut reparses = Vec::with_capacity(keystrokes);
    for line in sites {
        let col = utf16_len(lines[line as usize]);
        let mut edits = Vec::with_capacity(per_site);
        for (i, ch) in typed.iter().enumerate() {
            let at = LineCol::new(line, col + i as u32);
            edits.push(TextChange::replace(TextRange::at(at), ch.to_string()));
        }
        for i in (0..typed.len()).rev() {
            let range = TextRange::new(LineCol::new(line, col + i as u32), LineCol::new(line, col + i as u32 + 1));
            edits.push(TextChange::replace(range, ""));
        }
        for edit in edits {
            version += 1;
            let t = Instant::now();
            doc.edit(version, std::slice::from_ref(&edit), enc);
            samples.push(t.elapsed());
            let t = Instant::now();
            doc.ensure_tree();
            reparses.push(t.elapsed());
            if doc.tree().is_none() {
                return Err(format!("{} lost its tree while typing", ws.big.shown));
            }
        }
    }
    if doc.text() != ws.big_text {
        return Err("typing and deleting the same characters did not give the file back".to_string());
    }
    Ok(KeystrokeResult { apply: summarize(&samples), reparse: summarize(&reparses), full_parse })
}

/// Measure 5: the server's own steps of one inline request, in-process, at the share measure's
/// cursors: where the share's time goes, without the transport, HTTP and the stand-in.
struct StepsResult {
    /// `prepare_request`: context gathering and the prompt.
    prepare: Summary,
    /// The upstream request body as JSON bytes.
    body: Summary,
    /// What post-processing works out while the model answers (`StopDetector::with_tree`: the
    /// cursor's surroundings and the parse check's unit).
    ahead: Summary,
    /// `postprocess_streamed` of the share's reply, the parse check included: the server's
    /// work between the answer's end and the response.
    postprocess: Summary,
    /// The four, one after the other.
    total: Summary,
}

/// The workspace index's walks over the bench's workspace, in-process: the first (every file
/// read and parsed), and the rescans the server makes after files change on disk or, without a
/// file watcher, once a minute, which read only the files whose stamp changed.
struct IndexResult {
    files: usize,
    first: Duration,
    unchanged: Summary,
    one_changed: Summary,
}

fn measure_index(ws: &Workspace) -> Result<IndexResult, String> {
    let index = WorkspaceIndex::new();
    let roots = [ws.dir.path().to_path_buf()];
    let started = Instant::now();
    index.build(&roots);
    let first = started.elapsed();
    let (mut unchanged, mut one_changed) = (Vec::new(), Vec::new());
    let changed = &ws.others[0].path;
    let original = std::fs::read_to_string(changed).map_err(|e| format!("cannot read {}: {e}", changed.display()))?;
    for round in 0..20 {
        let started = Instant::now();
        let walked = index.build(&roots);
        unchanged.push(started.elapsed());
        if walked.parsed != 0 {
            return Err(format!("a rescan with nothing changed parsed {} files", walked.parsed));
        }
        let text = format!("{original}{}", "\n".repeat(round % 2 + 1));
        std::fs::write(changed, text).map_err(|e| format!("cannot write {}: {e}", changed.display()))?;
        let started = Instant::now();
        let walked = index.build(&roots);
        one_changed.push(started.elapsed());
        if walked.parsed != 1 {
            return Err(format!("a rescan after one file changed parsed {} files", walked.parsed));
        }
    }
    std::fs::write(changed, original).map_err(|e| format!("cannot write {}: {e}", changed.display()))?;
    Ok(IndexResult {
        files: index.file_count(),
        first,
        unchanged: summarize(&unchanged),
        one_changed: summarize(&one_changed),
    })
}

fn measure_steps(ws: &Workspace, requests: usize, gap: Duration, slowest: usize) -> Result<StepsResult, String> {
    let uri = ws.big_uri();
    let mut doc = Document::new(&uri, "rust", 1, &ws.big_text);
    doc.ensure_tree();
    let snap = doc.snapshot();
    if snap.tree().is_none() {
        return Err(format!("{} did not parse", ws.big.shown));
    }
    let index = WorkspaceIndex::new();
    // The open documents' windows for similar code, as the server makes them as they open.
    let similar = SimilarIndex::new();
    for f in std::iter::once(&ws.big).chain(ws.others.iter()) {
        let text = std::fs::read_to_string(&f.path).map_err(|e| format!("cannot read {}: {e}", f.path.display()))?;
        index.update_file(&file_uri(&f.path), Language::Rust, &text);
        similar.update(&Document::unparsed(&file_uri(&f.path), "rust", 1, &text).snapshot());
    }
    let config = Config::default();
    let lines = plain_lines(&ws.big_text);
    let cursors = scattered(&code_lines(&lines), requests);
    let document = ws.big_text.as_str();
    let tree = snap.tree();
    let original_parses = tree.map(|t| !t.root_node().has_error());
    let (mut prepare, mut body, mut ahead, mut post, mut total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut by_line = Vec::new();
    for line in cursors {
        // Paced like the share's requests: after a pause the caches are cold, as they are for
        // a user's request (back to back, every step takes about half as long).
        std::thread::sleep(gap);
        let cursor = snap.char_index(LineCol::new(line, utf16_len(lines[line as usize])), PositionEncoding::Utf16);
        let t0 = Instant::now();
        similar.touch(&uri);
        let prepared = prepare_request(&config, &snap, cursor, &index, &[], &similar);
        let t1 = Instant::now();
        let bytes = prepared.request.wire_body(true).map_err(|e| format!("unsendable request: {}", e.0))?;
        let t2 = Instant::now();
        let (before, after) = document.split_at(snap.rope().char_to_byte(cursor));
        let site = CompletionSite {
            language: Language::Rust,
            before,
            after,
            multiline: prepared.multiline,
            original_parses,
            document: Some(document),
            line_ending: snap.line_ending(),
        };
        let detector = StopDetector::with_tree(&site, tree);
        let t3 = Instant::now();
        let kept = postprocess_streamed(SHARE_REPLY, &site, &detector, tree, Ended::Complete).is_ok();
        let t4 = Instant::now();
        if !kept || bytes.is_empty() {
            return Err(format!("the share's reply was rejected at line {}", line + 1));
        }
        prepare.push(t1 - t0);
        body.push(t2 - t1);
        ahead.push(t3 - t2);
        post.push(t4 - t3);
        total.push(t4 - t0);
        by_line.push((t4 - t0, line, [t1 - t0, t2 - t1, t3 - t2, t4 - t3]));
    }
    by_line.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    for (total, line, [prepare, body, ahead, post]) in by_line.into_iter().take(slowest) {
        eprintln!(
            "slow: line {:>5}: total {:.3} ms = prepare {:.3} + body {:.3} + ahead {:.3} + post {:.3} | {}",
            line + 1,
            ms(total),
            ms(prepare),
            ms(body),
            ms(ahead),
            ms(post),
            lines[line as usize].trim().chars().take(80).collect::<String>()
        );
    }
    Ok(StepsResult {
        prepare: summarize(&prepare),
        body: summarize(&body),
        ahead: summarize(&ahead),
        postprocess: summarize(&post),
        total: summarize(&total),
    })
}

struct BurstResult {
    answered: usize,
    with_items: usize,
    upstream_calls: usize,
    last_answer_after_last_key: Option<Duration>,
}

/// Where the burst types: a fresh line after the `let` statement nearest the middle of the file
/// that sits directly in a block, with that statement's indentation.
fn burst_site(text: &str) -> Option<(u32, String)> {
    let doc = Document::new("file:///burst.rs", "rust", 1, text);
    let tree = doc.tree()?;
    let middle = text.lines().count() / 2;
    let mut best: Option<(usize, usize)> = None;
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.kind() == "let_declaration"
            && node.parent().is_some_and(|p| p.kind() == "block")
            && node.start_position().row == node.end_position().row
        {
            let row = node.end_position().row;
            if best.is_none_or(|(_, d)| row.abs_diff(middle) < d) {
                best = Some((row, row.abs_diff(middle)));
            }
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    let (row, _) = best?;
    let line = plain_lines(text)[row];
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    Some((row as u32, indent))
}

/// Measure 3, in a fresh server so that the typing rhythm it learns is the burst's own.
fn measure_burst(rt: &tokio::runtime::Runtime, bin: &Path, ws: &Workspace, args: &Args) -> Result<BurstResult, String> {
    let (row, indent) =
        burst_site(&ws.big_text).ok_or_else(|| format!("{} has no `let` statement to type after", ws.big.shown))?;
    let lines = plain_lines(&ws.big_text);
    let mut s = Session::start(rt, bin, args, ws)?;
    s.standin.set_default(Reply::text(BURST_REPLY).first_byte_delay(BURST_FIRST_BYTE));
    s.type_text((row, utf16_len(lines[row as usize])), &format!("\n{indent}"))?;
    // A pause longer than a second is thinking, not typing rhythm.
    std::thread::sleep(Duration::from_millis(1500));

    let line = row + 1;
    let col0 = utf16_len(&indent);
    let typed: Vec<char> = BURST_TYPED.chars().take(BURST_KEYS).collect();
    let start = Instant::now();
    let mut ids = Vec::with_capacity(typed.len());
    let mut last_key = start;
    for (i, ch) in typed.iter().enumerate() {
        let due = start + BURST_GAP * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let col = col0 + i as u32;
        last_key = s.type_text((line, col), &ch.to_string())?;
        let (id, _) = s.server.send_request("textDocument/inlineCompletion", s.inline_params(line, col + 1, 2))?;
        ids.push(id);
    }
    let deadline = last_key + Duration::from_secs(10);
    let (mut answered, mut with_items, mut last_answer) = (0, 0, None);
    for id in ids {
        if let Some(r) = s.server.response_by(id, deadline)? {
            if let Some(e) = r.msg.get("error") {
                return Err(format!("a burst request failed: {e}"));
            }
            answered += 1;
            with_items += usize::from(items(&r.msg["result"]) > 0);
            last_answer = Some(last_answer.map_or(r.at, |t: Instant| t.max(r.at)));
        }
    }
    let upstream_calls =
        s.standin.requests().iter().filter(|r| r.method == "POST" && r.path == "/v1/chat/completions").count();
    s.server.shutdown();
    Ok(BurstResult {
        answered,
        with_items,
        upstream_calls,
        last_answer_after_last_key: last_answer.map(|t| t.saturating_duration_since(last_key)),
    })
}

/// Accepts per server in the accept measure.
const ACCEPT_ROUNDS: usize = 10;
/// How long the user looks at a suggestion before accepting it.
const ACCEPT_READING: Duration = Duration::from_millis(800);
/// The suggestion the stand-in gives in the accept measure: a trailing comment parses after any
/// line, and after itself.
const ACCEPT_REPLY: &str = " // ok";

struct AcceptResult {
    /// From the accept (the insertion written) to the next suggestion read, per round.
    next_after_accept: Vec<Duration>,
    with_items: usize,
    upstream_calls: usize,
}

/// Measure 4: the user reads a suggestion for [`ACCEPT_READING`], accepts it (the editor inserts
/// it and runs its command), and the editor asks again at its end: how soon is the next
/// suggestion there? The stand-in's first byte comes after [`BURST_FIRST_BYTE`], as a model's
/// would. In a fresh server, with `completion.speculate` as given, at [`ACCEPT_ROUNDS`]
/// scattered line ends of the big file.
fn measure_accepts(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    ws: &Workspace,
    args: &Args,
    speculate: bool,
) -> Result<AcceptResult, String> {
    let lines = plain_lines(&ws.big_text);
    let sites = scattered(&code_lines(&lines), ACCEPT_ROUNDS);
    let mut s = Session::start_with(rt, bin, args, ws, speculate)?;
    s.standin.set_default(Reply::text(ACCEPT_REPLY).first_byte_delay(BURST_FIRST_BYTE));
    let (mut next_after_accept, mut with_items) = (Vec::new(), 0);
    for line in sites {
        let col = utf16_len(lines[line as usize]);
        let shown = s.server.request("textDocument/inlineCompletion", s.inline_params(line, col, 1))?;
        let Some(item) = shown["items"].get(0).cloned() else {
            return Err(format!("no suggestion at line {line} to accept: {shown}"));
        };
        std::thread::sleep(ACCEPT_READING);
        let text = item["insertText"].as_str().unwrap_or_default().to_string();
        let accepted = s.type_text((line, col), &text)?;
        s.server.request(
            "workspace/executeCommand",
            json!({"command": "kimi.acceptCompletion", "arguments": [item["command"]["arguments"][0]]}),
        )?;
        let (id, _) =
            s.server.send_request("textDocument/inlineCompletion", s.inline_params(line, col + utf16_len(&text), 2))?;
        let (next, at) = s.server.result(id, Duration::from_secs(10))?;
        with_items += usize::from(items(&next) > 0);
        next_after_accept.push(at.saturating_duration_since(accepted));
    }
    let upstream_calls =
        s.standin.requests().iter().filter(|r| r.method == "POST" && r.path == "/v1/chat/completions").count();
    s.server.shutdown();
    Ok(AcceptResult { next_after_accept, with_items, upstream_calls })
}

// ---------------------------------------------------------------------------------------------
// The report

fn row(out: &mut String, what: &str, s: &Summary, target: &str, met: Option<bool>) {
    let _ = writeln!(
        out,
        "{what:<44} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {target:<22} {}",
        s.n,
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        met.map_or("", verdict)
    );
}

/// The 1-minute load average: other work on the machine shows up in the tails.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

struct Measures {
    share: ShareResult,
    steps: StepsResult,
    keys: KeystrokeResult,
    burst: BurstResult,
    typing: TypingResult,
    /// Without and with `completion.speculate`.
    accepts: [AcceptResult; 2],
    index: IndexResult,
}

fn report(args: &Args, load: (&str, &str), bin: &Path, ws: &Workspace, measures: &Measures) -> String {
    let Measures { share, steps, keys, burst, typing, accepts, index } = measures;
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let other_lines: usize = ws.others.iter().map(|f| f.lines).sum();
    let other_bytes: u64 = ws.others.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
    let _ = writeln!(
        out,
        "kimi-bench: {cores} cores, load average {} at the start, {} at the end; server {} over {}",
        load.0,
        load.1,
        bin.display(),
        args.stdio.name()
    );
    let _ = writeln!(
        out,
        "file: {} ({} lines, {:.0} KiB); {} other files open ({} lines, {:.1} MiB)",
        ws.big.shown,
        ws.big.lines,
        ws.big_text.len() as f64 / 1024.0,
        ws.others.len(),
        other_lines,
        other_bytes as f64 / (1024.0 * 1024.0)
    );
    let _ = writeln!(
        out,
        "{} warm-up + {} measured inline requests (triggerKind 1, {} suggestion{} asked for), {} ms apart; times in ms\n",
        args.warmup.max(1),
        args.requests,
        args.choices,
        if args.choices == 1 { "" } else { "s" },
        args.gap.as_millis()
    );
    let _ = writeln!(
        out,
        "{:<44} {:>5} {:>9} {:>9} {:>9} {:>9}  {:<22} verdict",
        "measure", "n", "p50", "p90", "p99", "max", "target"
    );
    let share_met = ms(share.total.p50) <= TARGET_SHARE_P50_MS && ms(share.total.p99) <= TARGET_SHARE_P99_MS;
    row(&mut out, "server's share of one inline request", &share.total, "p50 <= 0.3, p99 <= 1.5", Some(share_met));
    row(&mut out, "  request written -> upstream received", &share.inbound, "", None);
    row(&mut out, "  upstream reply end -> response read", &share.outbound, "", None);
    row(&mut out, "  (floor: LSP round trip doing no work)", &share.round_trip, "", None);
    row(&mut out, "  (floor: the upstream hop alone)", &share.upstream_hop, "", None);
    if let Some((n, rows)) = share.own_clock {
        for (name, [p50, p90, p99]) in rows {
            let _ = writeln!(out, "{:<44} {n:>5} {p50:>9.3} {p90:>9.3} {p99:>9.3} {:>9}", format!("  {name}"), "-");
        }
    }
    row(&mut out, "    (floor: a bare client's send)", &share.bare_send, "", None);
    row(&mut out, "  steps in-process: all four", &steps.total, "", None);
    row(&mut out, "    context and prompt", &steps.prepare, "", None);
    row(&mut out, "    request body to JSON", &steps.body, "", None);
    row(&mut out, "    post-processing, while the model answers", &steps.ahead, "", None);
    row(&mut out, "    post-processing, after the answer", &steps.postprocess, "", None);
    let key_met = ms(keys.apply.p99) <= TARGET_KEY_P99_MS;
    row(&mut out, "keystroke: Document::edit (in-proc)", &keys.apply, "p99 <= 0.5", Some(key_met));
    row(&mut out, "  deferred reparse, if after every key", &keys.reparse, "", None);
    let _ = writeln!(
        out,
        "\nmeasured requests answered with a suggestion: {}/{}; upstream request body {:.1} KiB on average; \
         the {} upstream calls came over {} connection(s)",
        share.with_items,
        args.requests,
        share.request_kib,
        args.warmup.max(1) + args.requests,
        share.connections
    );
    let _ = writeln!(out, "full parse of the big file (for scale): {:.2} ms", ms(keys.full_parse));
    let _ = writeln!(
        out,
        "workspace index (in-process, {} files): first walk {:.1} ms; rescan, nothing changed: p50 {:.2} / max {:.2} ms; \
         one file changed: p50 {:.2} / max {:.2} ms",
        index.files,
        ms(index.first),
        ms(index.unchanged.p50),
        ms(index.unchanged.max),
        ms(index.one_changed.p50),
        ms(index.one_changed.max)
    );

    let _ = writeln!(
        out,
        "\nwhile typing: a space typed at {} line ends, an automatic request after each ({} answered with a suggestion)",
        typing.requests, typing.with_items
    );
    if let Some((n, rows)) = typing.own_clock {
        for (name, [p50, p90, p99]) in rows {
            let _ = writeln!(out, "{:<44} {n:>5} {p50:>9.3} {p90:>9.3} {p99:>9.3}", format!("  {name}"));
        }
    }

    let burst_met = burst.answered == BURST_KEYS
        && burst.upstream_calls <= TARGET_BURST_CALLS
        && burst.last_answer_after_last_key.is_some_and(|d| ms(d) <= TARGET_BURST_LAST_MS);
    let _ = writeln!(
        out,
        "\nburst: {BURST_KEYS} keystrokes {} ms apart, automatic request after each, model first byte at {} ms",
        BURST_GAP.as_millis(),
        BURST_FIRST_BYTE.as_millis()
    );
    let _ =
        writeln!(out, "  answered                         {:>3}/{BURST_KEYS}   (must be {BURST_KEYS})", burst.answered);
    let _ = writeln!(out, "  answered with a suggestion       {:>3}", burst.with_items);
    let _ = writeln!(
        out,
        "  upstream calls                   {:>3}      (target <= {TARGET_BURST_CALLS})",
        burst.upstream_calls
    );
    let _ = writeln!(
        out,
        "  last keystroke -> last answer    {}  (target <= {TARGET_BURST_LAST_MS:.0} ms)   {}",
        burst.last_answer_after_last_key.map_or("none".to_string(), |d| format!("{:.1} ms", ms(d))),
        verdict(burst_met)
    );

    let _ = writeln!(
        out,
        "\naccept, then the next suggestion: {ACCEPT_ROUNDS} suggestions each read for {} ms and accepted, model first byte at {} ms",
        ACCEPT_READING.as_millis(),
        BURST_FIRST_BYTE.as_millis()
    );
    for (name, result) in [("completion.speculate off", &accepts[0]), ("completion.speculate on", &accepts[1])] {
        let summary = summarize(&result.next_after_accept);
        row(&mut out, &format!("  {name}: accept -> next"), &summary, "", None);
        let _ = writeln!(
            out,
            "    next suggestions {}/{ACCEPT_ROUNDS}, upstream calls {} for {ACCEPT_ROUNDS} shown + {ACCEPT_ROUNDS} next",
            result.with_items, result.upstream_calls
        );
    }

    let rss_met = share.rss_after_one.0 <= TARGET_RSS_MIB;
    let _ = writeln!(
        out,
        "\nresident memory, {} files open, after one completion: VmRSS {:.1} MiB (peak {:.1})  (target <= {TARGET_RSS_MIB:.0} MiB)   {}",
        ws.others.len() + 1,
        share.rss_after_one.0,
        share.rss_after_one.1,
        verdict(rss_met)
    );
    let _ = writeln!(
        out,
        "resident memory after all {} requests: VmRSS {:.1} MiB (peak {:.1})",
        args.warmup.max(1) + args.requests,
        share.rss_after_all.0,
        share.rss_after_all.1
    );
    out
}

fn default_server() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    ["kimi-lsp-under-test", "kimi-lsp"]
        .iter()
        .map(|name| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.is_file())
}

fn run(args: &Args) -> Result<String, String> {
    let bin = match &args.server {
        Some(p) => p.clone(),
        None => default_server().ok_or(
            "no server binary next to kimi-bench: build it with `cargo build --release -p kimi-lsp-tests --bins` or pass --server",
        )?,
    };
    let roots = registry_roots(args.registry.as_deref());
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let locked = std::fs::read_to_string(&lock).ok().map(|t| locked_packages(&t));
    let sources = registry_sources(&roots, locked.as_ref());
    let big = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            SourceFile {
                path: path.clone(),
                shown: format!("big/{}", path.file_name().map_or("file.rs".into(), |n| n.to_string_lossy())),
                lines: text.lines().count(),
            }
        }
        None => pick_big(&sources).cloned().ok_or_else(|| {
            format!(
                "found no Rust file of 3,000-5,000 lines under {:?}; pass --file PATH (and --registry DIR for the other files)",
                roots
            )
        })?,
    };
    let others = pick_others(&sources, &big.path, args.others);
    if others.len() < args.others {
        return Err(format!(
            "found only {} other Rust files of 50-3,000 lines under {roots:?}; pass --others {} or --registry DIR",
            others.len(),
            others.len()
        ));
    }
    let ws = Workspace::create(&big, &others)?;
    let load_before = load_average();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("no async runtime for the stand-in: {e}"))?;

    eprintln!("kimi-bench: keystrokes (in-process)…");
    let keys = measure_keystrokes(&ws, args.keystrokes)?;
    eprintln!("kimi-bench: steps of a request (in-process)…");
    let steps = measure_steps(&ws, args.requests, args.gap, args.slowest)?;
    eprintln!("kimi-bench: workspace index walks (in-process)…");
    let index = measure_index(&ws)?;
    eprintln!("kimi-bench: inline requests and memory…");
    let share = measure_share(&rt, &bin, &ws, args)?;
    eprintln!("kimi-bench: automatic requests while typing…");
    let typing = measure_typing(&rt, &bin, &ws, args)?;
    eprintln!("kimi-bench: Helix-style burst…");
    let burst = measure_burst(&rt, &bin, &ws, args)?;
    eprintln!("kimi-bench: accepts, without and with speculation…");
    let accepts = [measure_accepts(&rt, &bin, &ws, args, false)?, measure_accepts(&rt, &bin, &ws, args, true)?];
    let load_after = load_average();
    let measures = Measures { share, steps, keys, burst, typing, accepts, index };
    Ok(report(args, (&load_before, &load_after), &bin, &ws, &measures))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kimi-bench: the run is broken: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = summarize(&ms_list(&[5, 1, 4, 2, 3, 6, 7, 8, 9, 10]));
        assert_eq!(
            (s.n, s.p50, s.p90, s.p99, s.max),
            (
                10,
                Duration::from_millis(5),
                Duration::from_millis(9),
                Duration::from_millis(10),
                Duration::from_millis(10)
            )
        );
        let hundred: Vec<u64> = (1..=100).collect();
        let s = summarize(&ms_list(&hundred));
        assert_eq!((s.p50, s.p99), (Duration::from_millis(50), Duration::from_millis(99)));
        assert_eq!(summarize(&[]).p99, Duration::ZERO);
    }

    #[test]
    fn cargo_lock_packages_are_named_as_registry_directories() {
        let lock = "version = 4\n\n[[package]]\nname = \"ropey\"\nversion = \"1.6.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"kimi-lsp\"\nversion = \"0.1.0\"\ndependencies = [\n \"ropey\",\n]\n";
        let got = locked_packages(lock);
        assert_eq!(got, HashSet::from(["ropey-1.6.1".to_string(), "kimi-lsp-0.1.0".to_string()]));
    }

    #[test]
    fn cursor_lines_skip_blanks_comments_attributes_and_the_last_line() {
        let text = "use a;\n\n// note\n#[derive(Debug)]\nstruct S;\n  fn f() {}\nlast";
        assert_eq!(code_lines(&plain_lines(text)), vec![0, 4, 5]);
        assert_eq!(plain_lines("a\r\nb\n"), vec!["a", "b", ""]);
    }

    #[test]
    fn scattered_lines_use_every_line_once_before_repeating() {
        let pool: Vec<u32> = (0..10).collect();
        let got = scattered(&pool, 10);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, pool);
        assert!(got.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(scattered(&pool, 12)[10..], got[..2]);
        assert!(scattered(&[], 3).is_empty());
    }

    #[test]
    fn other_files_are_spread_and_exclude_the_big_one() {
        let files: Vec<SourceFile> = (0..10)
            .map(|i| SourceFile {
                path: PathBuf::from(format!("/r/c{i}.rs")),
                shown: format!("c{i}.rs"),
                lines: if i == 3 { 10 } else { 100 },
            })
            .collect();
        let picked: Vec<String> =
            pick_others(&files, Path::new("/r/c0.rs"), 4).iter().map(|f| f.shown.clone()).collect();
        assert_eq!(picked, ["c1.rs", "c4.rs", "c6.rs", "c8.rs"]);
    }

    #[test]
    fn the_burst_types_after_a_let_statement_directly_in_a_block() {
        let text = "fn f() {\n    let a = 1;\n    if a > 0 {\n        let b = 2;\n    }\n}\n";
        assert_eq!(burst_site(text), Some((3, "        ".to_string())));
        assert_eq!(burst_site("struct S;\n"), None);
    }

    #[test]
    fn arguments_parse_and_mistakes_say_what_is_wrong() {
        let parse = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(parse(&[]), Ok(Args::default()));
        let a = parse(&["--file", "x.rs", "--others", "10", "--gap-ms", "5"]).unwrap();
        assert_eq!((a.file, a.others, a.gap), (Some(PathBuf::from("x.rs")), 10, Duration::from_millis(5)));
        assert!(parse(&["--others", "many"]).unwrap_err().starts_with("--others \"many\" is not a whole number"));
        assert!(parse(&["--requests", "0"]).unwrap_err().starts_with("--requests must be at least 1"));
        assert!(parse(&["--fast"]).unwrap_err().starts_with("unknown argument \"--fast\""));
        assert_eq!(parse(&["--stdio", "sockets"]).unwrap().stdio, StdioKind::Sockets);
        assert!(parse(&["--stdio", "tty"]).unwrap_err().starts_with("--stdio \"tty\" is neither pipes nor sockets"));
    }
}
