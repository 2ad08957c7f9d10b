//! An LSP client for end-to-end tests: it runs the server as a child process and speaks real
//! Content-Length framing over its stdin/stdout, as an editor does.
//!
//! Server output is parsed strictly: anything on stdout that is not a well-formed frame (a stray
//! `println!`, a missing `\r`) makes the next wait panic with what was read. Every wait has a
//! timeout (10 s unless [`LspClient::set_timeout`] says otherwise) and panics with everything sent
//! and received so far, and the server's stderr.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Environment variables the child keeps from ours; everything else (API keys, the user's config
/// locations) is cleared.
const PASSED_ENV: &[&str] = &["PATH", "RUST_BACKTRACE", "RUST_LOG", "LLVM_PROFILE_FILE", "TMPDIR", "LANG"];

/// The error half of a JSON-RPC response.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)?;
        if let Some(data) = &self.data {
            write!(f, " ({data})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResponseError {}

enum Incoming {
    Message(Value),
    Malformed(String),
    Closed,
}

pub struct LspClient {
    child: Child,
    to_writer: Option<std_mpsc::Sender<Vec<u8>>>,
    inbox: mpsc::UnboundedReceiver<Incoming>,
    unread: VecDeque<Value>,
    received: Vec<Value>,
    sent: Vec<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    next_id: i64,
    timeout: Duration,
    closed: bool,
    home: tempfile::TempDir,
}

impl LspClient {
    /// Starts `bin` with a cleared environment: PATH and a few debugging variables pass through;
    /// HOME and the XDG directories point into a fresh temporary directory (see [`LspClient::home`]),
    /// so the user's real configuration and ledger are never touched; then `env` is applied.
    pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> LspClient {
        let home = tempfile::tempdir().expect("could not create a temporary HOME");
        let mut cmd = Command::new(bin);
        cmd.args(args).env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for name in PASSED_ENV {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        for (var, sub) in [
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_STATE_HOME", ".local/state"),
            ("XDG_CACHE_HOME", ".cache"),
        ] {
            let dir = home.path().join(sub);
            std::fs::create_dir_all(&dir).expect("could not create the temporary XDG directories");
            cmd.env(var, dir);
        }
        cmd.env("HOME", home.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));

        let mut stdin = child.stdin.take().expect("stdin is piped");
        let (to_writer, from_client) = std_mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            // A write error means the server is gone; the waits report that, with context.
            for bytes in from_client {
                if stdin.write_all(&bytes).and_then(|_| stdin.flush()).is_err() {
                    break;
                }
            }
        });

        let stdout = child.stdout.take().expect("stdout is piped");
        let (to_client, inbox) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let incoming = match read_frame(&mut reader) {
                    Ok(Some(v)) => Incoming::Message(v),
                    Ok(None) => Incoming::Closed,
                    Err(e) => Incoming::Malformed(e),
                };
                let last = !matches!(incoming, Incoming::Message(_));
                if to_client.send(incoming).is_err() || last {
                    break;
                }
            }
        });

        let stderr_buf = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let sink = stderr_buf.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
            }
        });

        LspClient {
            child,
            to_writer: Some(to_writer),
            inbox,
            unread: VecDeque::new(),
            received: Vec::new(),
            sent: Vec::new(),
            stderr: stderr_buf,
            next_id: 1,
            timeout: Duration::from_secs(10),
            closed: false,
            home,
        }
    }

    /// How long each wait may take before it panics (10 s by default).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The temporary HOME given to the server (XDG directories are under it).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `initialize`, waits for its result, sends `initialized`, returns the result.
    pub async fn initialize(&mut self, capabilities: Value, init_options: Value, root: Option<&Path>) -> Value {
        let mut params = json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "kimi-test-client", "version": "0.1.0"},
            "rootUri": root.map(file_uri),
            "capabilities": capabilities,
            "workspaceFolders": root.map(|r| json!([{
                "uri": file_uri(r),
                "name": r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            }])),
        });
        if !init_options.is_null() {
            params["initializationOptions"] = init_options;
        }
        let result = match self.request("initialize", params).await {
            Ok(r) => r,
            Err(e) => self.fail(&format!("initialize failed: {e}")),
        };
        self.notify("initialized", json!({}));
        result
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, ResponseError> {
        let id = self.send_request(method, params);
        self.response(id).await
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            msg["params"] = params;
        }
        self.send(msg);
        id
    }

    /// Waits for the response to request `id` (other messages stay unread for later waits).
    pub async fn response(&mut self, id: i64) -> Result<Value, ResponseError> {
        let is_it = |m: &Value| m.get("method").is_none() && m.get("id") == Some(&json!(id));
        let msg = self.wait_for(&format!("the response to request {id}"), is_it).await;
        match msg.get("error") {
            Some(e) => Err(ResponseError {
                code: e["code"].as_i64().unwrap_or(0),
                message: e["message"].as_str().unwrap_or("").to_string(),
                data: e.get("data").cloned(),
            }),
            None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            msg["params"] = params;
        }
        self.send(msg);
    }

    /// `$/cancelRequest` for `id`.
    pub fn cancel(&mut self, id: i64) {
        self.notify("$/cancelRequest", json!({"id": id}));
    }

    /// The params of the next unread notification with this method.
    pub async fn expect_notification(&mut self, method: &str) -> Value {
        let is_it = |m: &Value| m.get("id").is_none() && m.get("method").and_then(Value::as_str) == Some(method);
        let msg = self.wait_for(&format!("a {method} notification"), is_it).await;
        msg.get("params").cloned().unwrap_or(Value::Null)
    }

    /// The id and params of the next unread server-to-client request with this method.
    pub async fn expect_server_request(&mut self, method: &str) -> (Value, Value) {
        let is_it = |m: &Value| m.get("id").is_some() && m.get("method").and_then(Value::as_str) == Some(method);
        let msg = self.wait_for(&format!("a {method} request from the server"), is_it).await;
        (msg["id"].clone(), msg.get("params").cloned().unwrap_or(Value::Null))
    }

    /// Answers a server-to-client request.
    pub fn reply(&mut self, id: Value, result: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    /// Answers a server-to-client request with an error.
    pub fn reply_error(&mut self, id: Value, code: i64, message: &str) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}));
    }

    /// Writes bytes as they are, for malformed-input tests.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sent.push(Value::String(format!("<raw> {}", String::from_utf8_lossy(bytes))));
        self.write(bytes.to_vec());
    }

    /// Every message received but not yet consumed by a wait, in arrival order; leaves none.
    pub fn take_unread(&mut self) -> Vec<Value> {
        self.drain_ready();
        self.unread.drain(..).collect()
    }

    /// `textDocument/didOpen`.
    pub fn did_open(&mut self, uri: &str, language_id: &str, version: i32, text: &str) {
        self.notify("textDocument/didOpen", did_open(uri, language_id, version, text));
    }

    /// `notebookDocument/didOpen` as VS Code sends it (LSP 3.17 notebook sync) for the notebook
    /// at `notebook`, whose `cells` are `(kind, languageId, text)` (kind 1: markdown, 2: code).
    /// Returns the cells' URIs, VS Code's `vscode-notebook-cell:` ones.
    pub fn open_notebook(&mut self, notebook: &str, cells: &[(u8, &str, &str)]) -> Vec<String> {
        let cell_uri =
            |i: usize| format!("vscode-notebook-cell:{}#W{i}sZmlsZQ%3D%3D", notebook.trim_start_matches("file://"));
        let uris: Vec<String> = (0..cells.len()).map(cell_uri).collect();
        self.notify(
            "notebookDocument/didOpen",
            json!({
                "notebookDocument": {
                    "uri": notebook,
                    "notebookType": "jupyter-notebook",
                    "version": 0,
                    "cells": cells.iter().zip(&uris).map(|((kind, _, _), uri)| json!({"kind": kind, "document": uri})).collect::<Vec<_>>(),
                },
                "cellTextDocuments": cells.iter().zip(&uris).map(|((_, language, text), uri)| {
                    json!({"uri": uri, "languageId": language, "version": 1, "text": text})
                }).collect::<Vec<_>>(),
            }),
        );
        uris
    }

    /// Lists the code actions for `range` of `uri` (no diagnostics) and runs the one whose title
    /// starts with `title` through its command, as a client without resolve does.
    pub async fn run_listed_action(&mut self, uri: &str, range: Value, title: &str) -> Result<Value, ResponseError> {
        let actions = self
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}),
            )
            .await
            .unwrap();
        let command = actions
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"].as_str().unwrap_or("").starts_with(title))
            .unwrap_or_else(|| panic!("no action titled {title:?} in {actions}"))["command"]
            .clone();
        self.request(
            "workspace/executeCommand",
            json!({"command": command["command"], "arguments": command["arguments"]}),
        )
        .await
    }

    /// `textDocument/didChange`; `changes` is one change object or a list of them.
    pub fn did_change(&mut self, uri: &str, version: i32, changes: Value) {
        self.notify("textDocument/didChange", did_change(uri, version, changes));
    }

    /// `shutdown`, then `exit`; waits for the process to end. Panics if the shutdown request
    /// fails, the process does not end in time, or server messages remain unread (including ones
    /// the server sent while shutting down).
    pub async fn shutdown(mut self) -> ExitStatus {
        if let Err(e) = self.request("shutdown", Value::Null).await {
            self.fail(&format!("shutdown failed: {e}"));
        }
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => self.fail("the server did not exit after shutdown + exit"),
                Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => self.fail(&format!("could not wait for the server: {e}")),
            }
        };
        // The process is gone, so stdout ends: collect what it wrote before that.
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Incoming::Message(m))) => {
                    self.received.push(m.clone());
                    self.unread.push_back(m);
                }
                Ok(Some(Incoming::Malformed(e))) => self.fail(&format!("malformed output from the server: {e}")),
                Ok(Some(Incoming::Closed)) | Ok(None) | Err(_) => self.closed = true,
            }
        }
        if !self.unread.is_empty() {
            self.fail(&format!("{} server message(s) were never read by the test", self.unread.len()));
        }
        status
    }

    /// Waits for the server to end on its own (after an `exit` the test sent, say) without
    /// sending `shutdown`. Panics if it does not end in time.
    pub async fn wait_exit(mut self) -> ExitStatus {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.closed = true;
                    return status;
                }
                Ok(None) if Instant::now() >= deadline => self.fail("the server did not exit"),
                Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => self.fail(&format!("could not wait for the server: {e}")),
            }
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits until the server's stderr contains `needle` (its logs, for instance).
    pub async fn wait_for_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + self.timeout;
        while !self.stderr_text().contains(needle) {
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {:?} waiting for {needle:?} on the server's stderr", self.timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        self.sent.push(msg);
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body.as_bytes());
        self.write(frame);
    }

    fn write(&mut self, bytes: Vec<u8>) {
        if let Some(w) = &self.to_writer {
            // The writer thread ends only when the server's stdin is gone; waits report that.
            let _ = w.send(bytes);
        }
    }

    /// Moves messages that already arrived into `unread` without waiting.
    fn drain_ready(&mut self) {
        while let Ok(incoming) = self.inbox.try_recv() {
            match incoming {
                Incoming::Message(m) => {
                    self.received.push(m.clone());
                    self.unread.push_back(m);
                }
                Incoming::Malformed(e) => self.fail(&format!("malformed output from the server: {e}")),
                Incoming::Closed => self.closed = true,
            }
        }
    }

    /// The first unread message `is_it` accepts, waiting for more if needed.
    async fn wait_for(&mut self, what: &str, is_it: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.unread.iter().position(&is_it) {
            return self.unread.remove(pos).expect("the position is in range");
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.closed {
                self.fail(&format!("the server closed its stdout while the test waited for {what}"));
            }
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Err(_) => self.fail(&format!("timed out after {:?} waiting for {what}", self.timeout)),
                Ok(None) | Ok(Some(Incoming::Closed)) => self.closed = true,
                Ok(Some(Incoming::Malformed(e))) => {
                    self.fail(&format!("malformed output from the server while waiting for {what}: {e}"))
                }
                Ok(Some(Incoming::Message(m))) => {
                    self.received.push(m.clone());
                    if is_it(&m) {
                        return m;
                    }
                    self.unread.push_back(m);
                }
            }
        }
    }

    /// Panics with the whole exchange, so that a failing test explains itself.
    fn fail(&mut self, what: &str) -> ! {
        let show =
            |msgs: &mut dyn Iterator<Item = &Value>| msgs.map(|m| format!("  {m}")).collect::<Vec<_>>().join("\n");
        let stderr = self.stderr_text();
        let tail_start = stderr.char_indices().rev().nth(8000).map(|(i, _)| i).unwrap_or(0);
        panic!(
            "{what}\n--- sent by the test ---\n{}\n--- received from the server ---\n{}\n--- unread ---\n{}\n--- server stderr ---\n{}",
            show(&mut self.sent.iter()),
            show(&mut self.received.iter()),
            show(&mut self.unread.iter()),
            &stderr[tail_start..]
        );
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        self.to_writer = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads one frame: `Content-Length` (and optionally `Content-Type`) headers, each ending in
/// `\r\n`, an empty `\r\n` line, then exactly that many bytes of JSON-RPC. `Ok(None)` is a clean
/// end of stream between frames; anything else out of place is an error quoting what was read.
pub fn read_frame(r: &mut impl BufRead) -> Result<Option<Value>, String> {
    let mut length: Option<usize> = None;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).map_err(|e| format!("reading the server's stdout failed: {e}"))?;
        if n == 0 {
            if first {
                return Ok(None);
            }
            return Err("stdout ended in the middle of a frame's headers".to_string());
        }
        first = false;
        let text = String::from_utf8_lossy(&line);
        let Some(content) = text.strip_suffix("\r\n") else {
            return Err(format!(
                "a header line does not end in \\r\\n (stray output on stdout?): {:?}",
                truncate(&text)
            ));
        };
        if content.is_empty() {
            break;
        }
        let Some((name, value)) = content.split_once(": ") else {
            return Err(format!("not a header (stray output on stdout?): {:?}", truncate(content)));
        };
        if name.eq_ignore_ascii_case("Content-Length") {
            let n = value.trim().parse::<usize>().map_err(|_| format!("Content-Length is not a number: {value:?}"))?;
            length = Some(n);
        } else if !name.eq_ignore_ascii_case("Content-Type") {
            return Err(format!("unknown header (stray output on stdout?): {:?}", truncate(content)));
        }
    }
    let length = length.ok_or("a frame has no Content-Length header")?;
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).map_err(|e| format!("stdout ended inside a {length}-byte frame body: {e}"))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("a frame body is not JSON ({e}): {:?}", truncate(&String::from_utf8_lossy(&body))))?;
    if value.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(format!("a message lacks \"jsonrpc\": \"2.0\": {value}"));
    }
    Ok(Some(value))
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= 300 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(300).collect::<String>())
    }
}

/// The params of `textDocument/didOpen`.
pub fn did_open(uri: &str, language_id: &str, version: i32, text: &str) -> Value {
    json!({"textDocument": {"uri": uri, "languageId": language_id, "version": version, "text": text}})
}

/// The params of `textDocument/didChange`; `changes` is one change object or a list of them.
pub fn did_change(uri: &str, version: i32, changes: Value) -> Value {
    let changes = match changes {
        Value::Array(_) => changes,
        one => Value::Array(vec![one]),
    };
    json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes})
}

/// `file://` URI of an absolute path, percent-encoding everything but unreserved characters and `/`.
pub fn file_uri(path: &Path) -> String {
    let path: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut uri = String::from("file://");
    for b in path.to_string_lossy().as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => uri.push(*b as char),
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri
}

/// A document with the cursor marked by `$0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    /// The text without the marker.
    pub text: String,
    /// Zero-based line of the marker.
    pub line: u32,
    /// Zero-based column of the marker in UTF-16 code units, as LSP counts by default.
    pub character: u32,
}

impl Fixture {
    /// Panics unless `src` holds exactly one `$0`.
    pub fn parse(src: &str) -> Fixture {
        let (text, (line, character)) = fixture(src);
        Fixture { text, line, character }
    }

    /// `{"line": …, "character": …}`
    pub fn position(&self) -> Value {
        json!({"line": self.line, "character": self.character})
    }
}

/// Removes the one `$0` from `src`; returns the text and the marker's (line, UTF-16 column).
/// Lines end at `\n`, `\r\n` or `\r`, as in LSP.
pub fn fixture(src: &str) -> (String, (u32, u32)) {
    let mut found = src.match_indices("$0");
    let Some((at, _)) = found.next() else {
        panic!("the fixture has no $0 cursor marker: {src:?}");
    };
    assert!(found.next().is_none(), "the fixture has more than one $0 cursor marker: {src:?}");
    let before = &src[..at];
    let mut line = 0u32;
    let mut col = 0u32;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                col = 0;
            }
            c => col += c.len_utf16() as u32,
        }
    }
    (format!("{before}{}", &src[at + 2..]), (line, col))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frames(bytes: &[u8]) -> Vec<Result<Option<Value>, String>> {
        let mut r = Cursor::new(bytes.to_vec());
        let mut out = Vec::new();
        loop {
            let f = read_frame(&mut r);
            let stop = !matches!(f, Ok(Some(_)));
            out.push(f);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn frames_are_read_back_to_back_until_a_clean_end() {
        let got = frames(
            b"Content-Length: 17\r\n\r\n{\"jsonrpc\":\"2.0\"}Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 27\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\xa9\"}",
        );
        assert_eq!(
            got,
            vec![Ok(Some(json!({"jsonrpc": "2.0"}))), Ok(Some(json!({"jsonrpc": "2.0", "id": "é"}))), Ok(None)]
        );
    }

    #[test]
    fn stray_output_and_broken_frames_are_errors_that_quote_the_bytes() {
        let err = |bytes: &[u8]| frames(bytes).pop().unwrap().unwrap_err();
        assert!(err(b"hello from println\n").contains("hello from println"));
        assert!(err(b"Content-Length: 2\n\n{}").contains("does not end in \\r\\n"));
        assert!(err(b"X-Thing: 1\r\n\r\n").contains("unknown header"));
        assert_eq!(err(b"Content-Type: a\r\n\r\n"), "a frame has no Content-Length header");
        assert!(err(b"Content-Length: 40\r\n\r\n{}").contains("inside a 40-byte frame body"));
        assert!(err(b"Content-Length: 3\r\n\r\n{x}").contains("not JSON"));
        assert!(err(b"Content-Length: 2\r\n\r\n{}").contains("lacks \"jsonrpc\""));
        assert_eq!(err(b"Content-Length: 2\r\n"), "stdout ended in the middle of a frame's headers");
    }

    #[test]
    fn fixture_counts_utf16_columns_and_all_line_endings() {
        assert_eq!(fixture("fn $0main"), ("fn main".to_string(), (0, 3)));
        assert_eq!(fixture("a\r\nb\nc😀$0d"), ("a\r\nb\nc😀d".to_string(), (2, 3)));
        assert_eq!(fixture("a\rb$0"), ("a\rb".to_string(), (1, 1)));
        let f = Fixture::parse("x\n  $0");
        assert_eq!(f.text, "x\n  ");
        assert_eq!(f.position(), json!({"line": 1, "character": 2}));
    }

    #[test]
    #[should_panic(expected = "more than one $0")]
    fn fixture_with_two_markers_is_refused() {
        fixture("$0 $0");
    }

    #[test]
    fn file_uris_are_percent_encoded() {
        assert_eq!(file_uri(Path::new("/tmp/my dir/a#b.rs")), "file:///tmp/my%20dir/a%23b.rs");
        assert_eq!(file_uri(Path::new("/tmp/é")), "file:///tmp/%C3%A9");
    }

    #[test]
    fn did_change_wraps_a_single_change() {
        assert_eq!(
            did_change("file:///a", 2, json!({"text": "x"})),
            json!({"textDocument": {"uri": "file:///a", "version": 2}, "contentChanges": [{"text": "x"}]})
        );
    }

    // `cat` is a mirror: whatever the client sends comes back as if the server had sent it, which
    // exercises framing, routing of messages to waits, and buffering of unread ones.
    fn mirror() -> LspClient {
        LspClient::spawn(Path::new("cat"), &[], &[], None)
    }

    #[tokio::test]
    async fn mirrored_requests_notifications_and_replies_reach_their_waits() {
        let mut c = mirror();
        let first = c.send_request("workspace/configuration", json!({"items": []}));
        let second = c.send_request("window/showDocument", json!({"uri": "file:///a"}));
        c.notify("window/logMessage", json!({"type": 3, "message": "hi"}));
        assert_eq!(c.expect_notification("window/logMessage").await, json!({"type": 3, "message": "hi"}));
        let (id, params) = c.expect_server_request("window/showDocument").await;
        assert_eq!((id, params), (json!(second), json!({"uri": "file:///a"})));
        c.reply(json!(second), json!({"success": true}));
        let error = format!(r#"{{"jsonrpc":"2.0","id":{first},"error":{{"code":-32800,"message":"gone"}}}}"#);
        c.send_raw(format!("Content-Length: {}\r\n\r\n{error}", error.len()).as_bytes());
        assert_eq!(c.response(second).await, Ok(json!({"success": true})));
        assert_eq!(
            c.response(first).await,
            Err(ResponseError { code: -32800, message: "gone".to_string(), data: None })
        );
        let unread = c.take_unread();
        assert_eq!(unread.len(), 1, "{unread:?}");
        assert_eq!(unread[0]["method"], "workspace/configuration");
        assert!(c.take_unread().is_empty());
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 200ms waiting for a never/sent notification")]
    async fn a_wait_that_times_out_panics_with_the_exchange() {
        let mut c = mirror();
        c.set_timeout(Duration::from_millis(200));
        c.notify("something/else", json!({}));
        c.expect_notification("never/sent").await;
    }

    #[tokio::test]
    #[should_panic(expected = "stray output on stdout?): \"hello\\n\"")]
    async fn stray_stdout_output_fails_loudly() {
        let mut c = LspClient::spawn(Path::new("sh"), &["-c", "echo hello; sleep 5"], &[], None);
        c.expect_notification("anything").await;
    }

    #[tokio::test]
    async fn the_child_gets_a_clean_environment_with_a_temporary_home() {
        let leaked = std::env::vars()
            .map(|(k, _)| k)
            .find(|k| {
                !PASSED_ENV.contains(&k.as_str())
                    && k != "HOME"
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            .expect("the test process has some environment variable");
        let script = format!("echo \"$HOME|$XDG_CONFIG_HOME|$FOO|${{{leaked}:-unset}}\" >&2; cat");
        let mut c = LspClient::spawn(Path::new("sh"), &["-c", &script], &[("FOO", "bar")], None);
        c.wait_for_stderr("\n").await;
        let home = c.home().display().to_string();
        assert_eq!(c.stderr_text(), format!("{home}|{home}/.config|bar|unset\n"));
    }

    #[tokio::test]
    async fn dropping_the_client_kills_the_server() {
        let c = LspClient::spawn(Path::new("sleep"), &["1000"], &[], None);
        let proc_dir = PathBuf::from(format!("/proc/{}", c.pid()));
        assert!(proc_dir.exists());
        drop(c);
        assert!(!proc_dir.exists(), "the child outlived its client");
    }

    /// A minimal server in Perl (always present on Debian): answers initialize and shutdown,
    /// says something after `initialized`, exits with 0 on `exit`.
    const FAKE_SERVER: &str = r#"
        $| = 1; binmode STDIN; binmode STDOUT;
        sub out { my $b = shift; print "Content-Length: " . length($b) . "\r\n\r\n" . $b; }
        while (1) {
            my $len;
            while (defined(my $line = <STDIN>)) {
                last if $line eq "\r\n";
                $len = $1 if $line =~ /^Content-Length: (\d+)/;
            }
            exit 3 unless defined $len;
            read(STDIN, my $body, $len);
            my ($id) = $body =~ /"id":(\d+)/;
            my ($method) = $body =~ /"method":"([^"]+)"/;
            if ($method eq "initialize") {
                out(qq({"jsonrpc":"2.0","id":$id,"result":{"capabilities":{"hoverProvider":true}}}));
            } elsif ($method eq "initialized") {
                out(qq({"jsonrpc":"2.0","method":"window/logMessage","params":{"type":3,"message":"ready"}}));
            } elsif ($method eq "shutdown") {
                out(qq({"jsonrpc":"2.0","id":$id,"result":null}));
            } elsif ($method eq "exit") {
                exit 0;
            }
        }
    "#;

    fn fake_server() -> LspClient {
        LspClient::spawn(Path::new("perl"), &["-e", FAKE_SERVER], &[], None)
    }

    #[tokio::test]
    async fn initialize_and_shutdown_run_the_whole_lifecycle() {
        let mut c = fake_server();
        let root = c.home().to_path_buf();
        let result = c.initialize(json!({}), json!({"model": "m"}), Some(&root)).await;
        assert_eq!(result, json!({"capabilities": {"hoverProvider": true}}));
        assert_eq!(c.expect_notification("window/logMessage").await["message"], "ready");
        assert!(c.shutdown().await.success());
    }

    #[tokio::test]
    #[should_panic(expected = "1 server message(s) were never read by the test")]
    async fn shutdown_refuses_to_pass_over_unread_messages() {
        let mut c = fake_server();
        c.initialize(json!({}), Value::Null, None).await;
        c.shutdown().await;
    }
}
