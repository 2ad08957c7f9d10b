//! How messages get in and out: stdin and stdout without a thread hop per message ([`stdio`]),
//! and a guard in front of tower-lsp-server's reader ([`guarded`]).
//!
//! tower-lsp-server reads stdin through a `FramedRead`, which ends the stream after the first
//! decoding error: one malformed message from a buggy client (or a plugin writing junk into the
//! pipe) would stop the server. The guard reads the frames itself and passes on only
//! well-formed JSON-RPC messages. A malformed one is replaced by a request to
//! [`MALFORMED_METHOD`], whose handler answers with the right JSON-RPC error, carrying the
//! original id when one could be read — so the client still gets exactly one response.

use std::io::Cursor;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, BufReader};
use tokio_util::io::StreamReader;

/// The internal method a malformed message is turned into. Not part of the public protocol.
pub const MALFORMED_METHOD: &str = "kimi/_malformedMessage";

/// Larger bodies are skipped (and answered with an error) instead of buffered: a bogus
/// Content-Length must not make the server allocate gigabytes. Real documents stay far below.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
const MAX_HEADER_LINE: usize = 8 * 1024;

/// What the server reads messages from.
pub type Input = Box<dyn AsyncRead + Send + Unpin>;
/// What the server writes messages to.
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// stdin and stdout as the server reads and writes them.
///
/// tokio's `stdin()`/`stdout()` do every read and write on a blocking-pool thread, so each
/// message costs a hand-off to another thread and a wake-up back. Editors start language
/// servers with pipes (Helix, Emacs) or stream sockets (libuv's: VS Code, Neovim); both can be
/// read and written through epoll on the runtime's own thread instead. Anything else (a tty,
/// a file, or a platform other than Linux) keeps tokio's stdio.
pub fn stdio() -> (Input, Output) {
    let input = reader_pipe().or_else(reader_socket).unwrap_or_else(|| Box::new(tokio::io::stdin()));
    let output = writer_pipe().or_else(writer_socket).unwrap_or_else(|| Box::new(tokio::io::stdout()));
    (input, output)
}

#[cfg(target_os = "linux")]
fn reader_pipe() -> Option<Input> {
    pipe::receiver().map(|rx| Box::new(rx) as Input)
}

#[cfg(target_os = "linux")]
fn writer_pipe() -> Option<Output> {
    pipe::sender().map(|tx| Box::new(tx) as Output)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reader_socket() -> Option<Input> {
    use std::os::fd::AsFd;
    socket::Socket::new(std::io::stdin().as_fd(), tokio::io::Interest::READABLE).map(|s| Box::new(s) as Input)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn writer_socket() -> Option<Output> {
    use std::os::fd::AsFd;
    socket::Socket::new(std::io::stdout().as_fd(), tokio::io::Interest::WRITABLE).map(|s| Box::new(s) as Output)
}

#[cfg(not(target_os = "linux"))]
fn reader_pipe() -> Option<Input> {
    None
}

#[cfg(not(target_os = "linux"))]
fn writer_pipe() -> Option<Output> {
    None
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn reader_socket() -> Option<Input> {
    None
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn writer_socket() -> Option<Output> {
    None
}

#[cfg(target_os = "linux")]
mod pipe {
    //! Epoll needs the pipe in non-blocking mode, and `O_NONBLOCK` belongs to the open file
    //! description, which fd 0 and fd 1 share with the editor (and with a `dup` of them): setting
    //! it there could make the editor's own reads and writes on its copies fail with `EAGAIN`.
    //! Opening `/proc/self/fd/N` opens the same pipe again as a new file description, which only
    //! this process holds, so the flag stays ours. fd 0 and fd 1 themselves are left as they are.

    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
    use std::os::unix::fs::FileTypeExt;

    use tokio::net::unix::pipe::{OpenOptions, Receiver, Sender};

    pub(super) fn receiver() -> Option<Receiver> {
        reopen_receiver(std::io::stdin().as_fd())
    }

    pub(super) fn sender() -> Option<Sender> {
        reopen_sender(std::io::stdout().as_fd())
    }

    pub(super) fn reopen_receiver(fd: BorrowedFd<'_>) -> Option<Receiver> {
        if !is_pipe(fd) {
            return None;
        }
        // Opening with O_NONBLOCK (tokio does) returns at once, writer or not.
        OpenOptions::new()
            .open_receiver(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .inspect_err(|e| tracing::debug!("stdin is a pipe but cannot be reopened ({e}); using tokio's stdin"))
            .ok()
    }

    pub(super) fn reopen_sender(fd: BorrowedFd<'_>) -> Option<Sender> {
        if !is_pipe(fd) {
            return None;
        }
        // Fails with ENXIO when the editor has already closed its end; tokio's stdout then
        // reports the broken pipe on the first write, as it always did.
        OpenOptions::new()
            .open_sender(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .inspect_err(|e| tracing::debug!("stdout is a pipe but cannot be reopened ({e}); using tokio's stdout"))
            .ok()
    }

    /// fstat through a duplicate: looking must not open anything (opening a tty could make it
    /// the process's controlling terminal).
    fn is_pipe(fd: BorrowedFd<'_>) -> bool {
        fd.try_clone_to_owned().and_then(|fd| std::fs::File::from(fd).metadata()).is_ok_and(|m| m.file_type().is_fifo())
    }
}

// libc is a dependency where glibc is (server/Cargo.toml).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod socket {
    //! For a socket, reopening through `/proc` is not possible, and `O_NONBLOCK` would be shared
    //! with whoever else holds the socket. Instead every call asks not to block by itself
    //! (`MSG_DONTWAIT`), on a duplicate of the fd registered with epoll; the fd stays in
    //! blocking mode for everyone.

    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};

    use tokio::io::unix::AsyncFd;
    use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

    pub(super) struct Socket {
        fd: AsyncFd<OwnedFd>,
    }

    impl Socket {
        /// `None` unless `fd` is a stream socket: messages are a byte stream, and a datagram
        /// socket would cut them at its own boundaries.
        pub(super) fn new(fd: BorrowedFd<'_>, interest: Interest) -> Option<Socket> {
            let owned = fd.try_clone_to_owned().ok()?;
            let is_socket =
                std::fs::File::from(owned.try_clone().ok()?).metadata().is_ok_and(|m| m.file_type().is_socket());
            if !is_socket || socket_type(&owned)? != libc::SOCK_STREAM {
                return None;
            }
            // SAFETY: `owned` is an open fd that the `AsyncFd` owns and never replaces or closes.
            let fd = unsafe { AsyncFd::register_with_interest(owned, interest) }
                .inspect_err(|e| tracing::debug!("cannot watch the stdio socket ({e}); using tokio's stdio"))
                .ok()?;
            Some(Socket { fd })
        }
    }

    fn socket_type(fd: &OwnedFd) -> Option<libc::c_int> {
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `kind` and `len` are valid for writes and `len` is the size of `kind`.
        let rc = unsafe {
            libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut kind).cast(), &mut len)
        };
        (rc == 0).then_some(kind)
    }

    /// Runs one non-blocking call, retrying when a signal interrupted it.
    fn retrying(mut call: impl FnMut() -> isize) -> io::Result<usize> {
        loop {
            let n = call();
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    impl AsyncRead for Socket {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            loop {
                let mut guard = ready!(self.fd.poll_read_ready(cx))?;
                let unfilled = buf.initialize_unfilled();
                let result = guard.try_io(|fd| {
                    retrying(|| {
                        // SAFETY: `unfilled` is valid for writes of its length.
                        unsafe {
                            libc::recv(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len(), libc::MSG_DONTWAIT)
                        }
                    })
                });
                match result {
                    Ok(Ok(n)) => {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                    // Drained: tokio cleared the readiness; wait for the next edge.
                    Err(_would_block) => continue,
                }
            }
        }
    }

    impl AsyncWrite for Socket {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            loop {
                let mut guard = ready!(self.fd.poll_write_ready(cx))?;
                let result = guard.try_io(|fd| {
                    retrying(|| {
                        // SAFETY: `data` is valid for reads of its length. MSG_NOSIGNAL: a closed
                        // editor end is an EPIPE error, not a signal.
                        unsafe {
                            libc::send(
                                fd.as_raw_fd(),
                                data.as_ptr().cast(),
                                data.len(),
                                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                            )
                        }
                    })
                });
                match result {
                    Ok(result) => return Poll::Ready(result),
                    Err(_would_block) => continue,
                }
            }
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            // Nothing is buffered here: every byte went to the socket in `poll_write`.
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            // Like tokio's stdout: the socket stays open until the process exits.
            Poll::Ready(Ok(()))
        }
    }
}

/// The reader tower-lsp-server should use: it yields only vetted frames. The frames are read
/// when tower-lsp-server asks for bytes, in its own task, so a message reaches the dispatcher
/// without a hand-off to another task.
pub fn guarded<R>(input: R) -> impl AsyncRead + Unpin + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let frames = futures::stream::unfold(BufReader::new(input), |mut reader| async move {
        match next_message(&mut reader).await {
            Ok(Some(frame)) => Some((Ok::<_, std::io::Error>(Cursor::new(frame)), reader)),
            Ok(None) => None,
            Err(e) => {
                // tower-lsp-server sees the end of its input, as it would if stdin closed.
                tracing::debug!("reading stdin failed: {e}");
                None
            }
        }
    });
    StreamReader::new(Box::pin(frames))
}

/// The next message as a whole frame (header and body), or `None` at the end of the input.
async fn next_message<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Option<Vec<u8>>> {
    let message = match read_frame(reader).await? {
        Frame::Eof => return Ok(None),
        Frame::Body(body) => vet(&body),
        // The body, read by its brackets, names the request to answer; without it the error can
        // only go to id null.
        Frame::Bad { reason, body } => Err(malformed(body.as_deref().map_or(Value::Null, id_of), -32700, &reason)),
    };
    let body = match message {
        Ok(body) => body,
        Err(replacement) => {
            tracing::warn!("malformed message from the client: {}", replacement["params"]["message"]);
            serde_json::to_vec(&replacement).unwrap_or_default()
        }
    };
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(&body);
    Ok(Some(frame))
}

enum Frame {
    Eof,
    Body(Vec<u8>),
    /// The headers could not be read as a frame's, or the body was too large; the stream is
    /// positioned after what was read. `body` is the message when it could be read all the same
    /// (a JSON object after headers without a usable Content-Length).
    Bad {
        reason: String,
        body: Option<Vec<u8>>,
    },
}

impl Frame {
    fn bad(reason: impl Into<String>) -> Frame {
        Frame::Bad { reason: reason.into(), body: None }
    }
}

/// How much of an over-long line that is not a header is carried into the next read, so that a
/// `Content-Length:` cut by the line limit is still seen whole.
const CARRIED: usize = 64;

/// The largest body read by its brackets when the headers gave no usable Content-Length.
const MAX_UNFRAMED_BYTES: usize = 1024 * 1024;

/// Reads one frame. Whatever stands between frames and is not a header — a plugin's stray print,
/// with or without a line break, or the rest of a body whose Content-Length was too short — is
/// skipped (and logged), and a `Content-Length:` glued to the end of it still counts: one bad
/// message must never leave the reader reading bodies as headers for the rest of the session.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Frame> {
    let mut length: Option<usize> = None;
    let mut bad_length: Option<String> = None;
    // A header line (Content-Length or Content-Type) was read: the next blank line ends the headers.
    let mut in_header = false;
    let mut skipped = String::new();
    let mut carry = Vec::new();
    loop {
        let mut line = std::mem::take(&mut carry);
        let n = (&mut *reader).take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut line).await?;
        if n == 0 {
            skipped.push_str(&String::from_utf8_lossy(&line));
            log_skipped(&skipped);
            return Ok(if in_header { Frame::bad("the input ended inside a message header") } else { Frame::Eof });
        }
        if !line.ends_with(b"\n") {
            // Cut by the line limit or the end of the input: not a header line, but the start of
            // one may be at its end.
            carry = line[line.len().saturating_sub(CARRIED)..].to_vec();
            skipped.push_str(&String::from_utf8_lossy(&line[..line.len() - carry.len()]));
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if in_header {
                break;
            }
            // A blank line between frames: tolerated.
            continue;
        }
        match header_in(text) {
            Some((stray, Header::ContentLength(value))) => {
                skipped.push_str(stray);
                in_header = true;
                match value.parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(_) => bad_length = Some(format!("invalid Content-Length `{}`", truncate(value))),
                }
            }
            Some((stray, Header::ContentType)) => {
                skipped.push_str(stray);
                in_header = true;
            }
            // Stray text, or a header LSP does not have: neither says where a message starts.
            None => {
                skipped.push_str(text);
                skipped.push('\n');
            }
        }
    }
    log_skipped(&skipped);
    let Some(length) = length else {
        let reason = bad_length.unwrap_or_else(|| "a message header without Content-Length".into());
        let body = read_json_value(reader).await?;
        return Ok(Frame::Bad { reason, body });
    };
    if length > MAX_BODY_BYTES {
        let skipped = tokio::io::copy(&mut (&mut *reader).take(length as u64), &mut tokio::io::sink()).await?;
        return Ok(Frame::bad(format!(
            "a message of {skipped} bytes is over the {} MiB limit and was dropped",
            MAX_BODY_BYTES / (1024 * 1024)
        )));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Frame::Body(body))
}

enum Header<'a> {
    ContentLength(&'a str),
    ContentType,
}

/// The header a line carries, and the stray text before it. `Content-Length:` is looked for
/// anywhere in the line, its last occurrence first (text glued in front of a header is stray
/// output, and a header is never followed by more on its line); `Content-Type:` only at the
/// start, since nothing depends on it.
fn header_in(line: &str) -> Option<(&str, Header<'_>)> {
    const NAME: &str = "content-length";
    let lower = line.to_ascii_lowercase();
    let mut end = lower.len();
    while let Some(at) = lower[..end].rfind(NAME) {
        let rest = line[at + NAME.len()..].trim_start_matches([' ', '\t']);
        if let Some(value) = rest.strip_prefix(':') {
            return Some((&line[..at], Header::ContentLength(value.trim())));
        }
        end = at;
    }
    match line.split_once(':') {
        Some((name, _)) if name.trim().eq_ignore_ascii_case("content-type") => Some(("", Header::ContentType)),
        _ => None,
    }
}

fn log_skipped(skipped: &str) {
    let skipped = skipped.trim();
    if !skipped.is_empty() {
        tracing::warn!("skipped input that is not part of a message: `{}`", truncate(skipped));
    }
}

/// After headers without a usable Content-Length: the JSON object or array that starts right
/// there, read by its brackets (strings and escapes respected), so that the request it carries
/// can be answered with its id. `None`, having read nothing, when something else follows (the
/// next frame's headers); `None` when the input ends first or the value runs past
/// [`MAX_UNFRAMED_BYTES`], what was read then being skipped.
async fn read_json_value<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Option<Vec<u8>>> {
    if !matches!(reader.fill_buf().await?.first(), Some(b'{' | b'[')) {
        return Ok(None);
    }
    let mut value = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(None);
        }
        let mut used = 0;
        let mut closed = false;
        for &b in buf {
            used += 1;
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        closed = true;
                        break;
                    }
                }
                _ => {}
            }
        }
        value.extend_from_slice(&buf[..used]);
        reader.consume(used);
        if closed {
            return Ok(Some(value));
        }
        if value.len() > MAX_UNFRAMED_BYTES {
            return Ok(None);
        }
    }
}

/// The id of a request in `body`, or null.
fn id_of(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .unwrap_or(Value::Null)
}

/// Passes a well-formed message through untouched, or says what is wrong with it.
fn vet(body: &[u8]) -> Result<Vec<u8>, Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(malformed(Value::Null, -32700, &format!("the message is not valid JSON ({e})"))),
    };
    let id = value.get("id").cloned().filter(|id| id.is_string() || id.is_i64() || id.is_u64());
    let Some(obj) = value.as_object() else {
        return Err(malformed(Value::Null, -32600, "a JSON-RPC message must be a JSON object"));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(malformed(id.unwrap_or(Value::Null), -32600, "the message lacks \"jsonrpc\": \"2.0\""));
    }
    let is_request_or_notification = obj.get("method").is_some_and(Value::is_string);
    let is_response = obj.contains_key("id") && (obj.contains_key("result") || obj.contains_key("error"));
    if !is_request_or_notification && !is_response {
        return Err(malformed(
            id.unwrap_or(Value::Null),
            -32600,
            "the message is neither a request, a notification nor a response",
        ));
    }
    if is_request_or_notification {
        if let Some(raw_id) = obj.get("id") {
            if !(raw_id.is_string() || raw_id.is_i64() || raw_id.is_u64()) {
                return Err(malformed(Value::Null, -32600, "a request id must be an integer or a string"));
            }
        }
        if let Some(params) = obj.get("params") {
            if !(params.is_object() || params.is_array() || params.is_null()) {
                return Err(malformed(id.unwrap_or(Value::Null), -32600, "params must be an object or an array"));
            }
        }
    }
    if is_request_or_notification && !obj.contains_key("params") {
        // tower-lsp-server refuses a missing `params` for methods that take optional ones
        // (ours: `kimi/status`) but accepts `null` everywhere a method takes none.
        let mut obj = obj.clone();
        obj.insert("params".into(), Value::Null);
        return Ok(serde_json::to_vec(&obj).unwrap_or_else(|_| body.to_vec()));
    }
    Ok(body.to_vec())
}

fn malformed(id: Value, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": MALFORMED_METHOD,
        "params": {"code": code, "message": message},
    })
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        guarded(std::io::Cursor::new(input.to_vec())).read_to_end(&mut out).await.unwrap();
        let mut reader = BufReader::new(&out[..]);
        let mut messages = Vec::new();
        while let Frame::Body(body) = read_frame(&mut reader).await.unwrap() {
            messages.push(serde_json::from_slice(&body).unwrap());
        }
        messages
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn good_messages_pass_untouched_and_bad_ones_become_errors() {
        let input = [
            frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
            frame("{not json"),
            frame(r#"{"jsonrpc":"2.0","id":7,"method":"x","params":3}"#),
            "Content-Length: zz\r\n\r\n".to_string(),
            frame(r#"{"id":8,"method":"y"}"#),
            format!(
                "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n{}",
                frame(r#"{"jsonrpc":"2.0","method":"exit"}"#)
            ),
        ]
        .concat();
        let out = run(input.as_bytes()).await;
        assert_eq!(out.len(), 6);
        assert_eq!(out[0]["method"], "initialize");
        assert_eq!(out[1]["method"], MALFORMED_METHOD);
        assert_eq!(out[1]["params"]["code"], -32700);
        assert_eq!(out[1]["id"], Value::Null);
        assert_eq!(out[2]["id"], 7, "the client's id is kept so it gets its answer");
        assert_eq!(out[2]["params"]["code"], -32600);
        assert!(out[3]["params"]["message"].as_str().unwrap().contains("Content-Length"));
        assert_eq!(out[4]["id"], 8);
        assert_eq!(out[5]["method"], "exit");
    }

    fn request(id: i64) -> String {
        frame(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"kimi/status","params":null}}"#))
    }

    /// Stray output between frames — without a line break, so glued to the next header, or with
    /// one, or binary — is skipped; every frame after it is read as sent.
    #[tokio::test]
    async fn stray_bytes_between_frames_are_skipped() {
        let input = [
            request(1),
            "junk".to_string(),
            request(100),
            "junk\n".to_string(),
            request(101),
            "\u{0}\u{7f}garbage: not a header\r\n\r\n".to_string(),
            request(102),
            // An unknown header inside the headers is passed over too.
            format!("X-Trace: 1\r\n{}", request(103)),
            // A long stray line whose end joins a header cut by the line limit.
            format!("{}{}", "x".repeat(MAX_HEADER_LINE - 5), request(104)),
            request(105),
        ]
        .concat();
        let out = run(input.as_bytes()).await;
        let ids: Vec<_> = out.iter().map(|m| m["id"].clone()).collect();
        assert_eq!(ids, [1, 100, 101, 102, 103, 104, 105].map(Value::from), "{out:?}");
        assert!(out.iter().all(|m| m["method"] == "kimi/status"), "nothing was turned into an error: {out:?}");
    }

    /// Headers without a usable Content-Length: the JSON body after them is read by its brackets
    /// and answered with its id, and the frames after it are read as sent.
    #[tokio::test]
    async fn a_message_without_a_usable_length_is_answered_with_its_id() {
        let input = [
            "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n".to_string(),
            r#"{"jsonrpc":"2.0","id":50,"method":"kimi/status"}"#.to_string(),
            request(100),
            "Content-Length: many\r\n\r\n".to_string(),
            r#"{"jsonrpc":"2.0","id":"s","method":"x","params":{"t":"} \" ]"}}"#.to_string(),
            request(101),
        ]
        .concat();
        let out = run(input.as_bytes()).await;
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!((out[0]["method"].as_str(), &out[0]["id"]), (Some(MALFORMED_METHOD), &Value::from(50)));
        assert!(out[0]["params"]["message"].as_str().unwrap().contains("without Content-Length"), "{out:?}");
        assert_eq!(out[1]["id"], 100);
        assert_eq!((out[2]["method"].as_str(), &out[2]["id"]), (Some(MALFORMED_METHOD), &Value::from("s")));
        assert!(out[2]["params"]["message"].as_str().unwrap().contains("many"), "{out:?}");
        assert_eq!(out[3]["id"], 101);
    }

    /// A Content-Length that is too short leaves the rest of the body in front of the next
    /// header: that message is lost (its id cannot be read), the next one is not.
    #[tokio::test]
    async fn a_wrong_length_costs_one_message_only() {
        let body = r#"{"jsonrpc":"2.0","id":60,"method":"kimi/status"}"#;
        let input = [format!("Content-Length: 10\r\n\r\n{body}"), request(100), request(101)].concat();
        let out = run(input.as_bytes()).await;
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0]["params"]["code"], -32700);
        assert_eq!((out[1]["id"].clone(), out[2]["id"].clone()), (Value::from(100), Value::from(101)));
        // The end of the input inside headers, after stray text.
        let out = run(b"junk\nContent-Length: 5\r\n").await;
        assert_eq!(out.len(), 1);
        assert!(out[0]["params"]["message"].as_str().unwrap().contains("ended inside"), "{out:?}");
    }

    /// Whether the open file description behind `fd` is in non-blocking mode.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
        // SAFETY: F_GETFL on an open fd reads its flags and changes nothing.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert!(flags >= 0);
        flags & libc::O_NONBLOCK != 0
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[tokio::test]
    async fn pipes_carry_messages_and_the_editors_ends_stay_blocking() {
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        use tokio::io::AsyncWriteExt;

        let (editor_reads, server_writes_fd) = std::io::pipe().unwrap();
        let (server_reads_fd, editor_writes) = std::io::pipe().unwrap();
        let mut server_in = pipe::reopen_receiver(server_reads_fd.as_fd()).expect("a pipe is reopened");
        let mut server_out = pipe::reopen_sender(server_writes_fd.as_fd()).expect("a pipe is reopened");

        let mut editor_writes = editor_writes;
        let message = frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        editor_writes.write_all(message.as_bytes()).unwrap();
        let mut got = vec![0; message.len()];
        server_in.read_exact(&mut got).await.unwrap();
        assert_eq!(got, message.as_bytes());

        server_out.write_all(b"Content-Length: 2\r\n\r\n{}").await.unwrap();
        let mut editor_reads = editor_reads;
        let mut answer = [0; 23];
        editor_reads.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"Content-Length: 2\r\n\r\n{}");

        // The server's copies are non-blocking; the fds it was given (shared with the editor
        // when they are stdin and stdout) are not.
        assert!(nonblocking(&server_in) && nonblocking(&server_out));
        for fd in [&server_reads_fd.as_fd(), &server_writes_fd.as_fd(), &editor_reads.as_fd(), &editor_writes.as_fd()] {
            assert!(!nonblocking(fd));
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[tokio::test]
    async fn stream_sockets_carry_messages_and_stay_blocking() {
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        use std::os::unix::net::{UnixDatagram, UnixStream};
        use tokio::io::{AsyncWriteExt, Interest};

        let (mut editor, server) = UnixStream::pair().unwrap();
        let mut server_in = socket::Socket::new(server.as_fd(), Interest::READABLE).expect("a stream socket is used");
        let mut server_out = socket::Socket::new(server.as_fd(), Interest::WRITABLE).expect("a stream socket is used");

        // More than a socket buffer holds, so writes wait for the editor to read.
        let big = "x".repeat(4 * 1024 * 1024);
        let reader = std::thread::spawn({
            let mut editor = editor.try_clone().unwrap();
            let len = big.len();
            move || {
                let mut got = vec![0; len];
                editor.read_exact(&mut got).unwrap();
                got
            }
        });
        server_out.write_all(big.as_bytes()).await.unwrap();
        assert_eq!(reader.join().unwrap(), big.as_bytes());

        editor.write_all(b"Content-Length: 2\r\n\r\n{}").unwrap();
        let mut got = [0; 23];
        server_in.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"Content-Length: 2\r\n\r\n{}");
        drop(editor);
        let mut rest = Vec::new();
        server_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the editor closing its end is the end of the input");

        assert!(!nonblocking(&server), "the shared fd stays in blocking mode");
        let (datagram, _) = UnixDatagram::pair().unwrap();
        assert!(socket::Socket::new(datagram.as_fd(), Interest::READABLE).is_none(), "datagrams cut messages");
    }

    #[tokio::test]
    async fn responses_from_the_client_pass() {
        let out = run(frame(r#"{"jsonrpc":"2.0","id":3,"result":null}"#).as_bytes()).await;
        assert_eq!(out[0]["result"], Value::Null);
    }
}
