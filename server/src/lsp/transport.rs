//! A guard in front of tower-lsp-server's reader.
//!
//! tower-lsp-server reads stdin through a `FramedRead`, which ends the stream after the first
//! decoding error: one malformed message from a buggy client (or a plugin writing junk into the
//! pipe) would stop the server. This pump reads the frames itself and passes on only
//! well-formed JSON-RPC messages. A malformed one is replaced by a request to
//! [`MALFORMED_METHOD`], whose handler answers with the right JSON-RPC error, carrying the
//! original id when one could be read — so the client still gets exactly one response.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The internal method a malformed message is turned into. Not part of the public protocol.
pub const MALFORMED_METHOD: &str = "kimi/_malformedMessage";

/// Larger bodies are skipped (and answered with an error) instead of buffered: a bogus
/// Content-Length must not make the server allocate gigabytes. Real documents stay far below.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
const MAX_HEADER_LINE: usize = 8 * 1024;

/// Starts the pump on the current runtime and returns the reader tower-lsp-server should use.
pub fn guarded<R>(input: R) -> tokio::io::DuplexStream
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Err(e) = pump(input, ours).await {
            tracing::debug!("stdin pump ended: {e}");
        }
    });
    theirs
}

async fn pump<R, W>(input: R, mut out: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(input);
    loop {
        let message = match read_frame(&mut reader).await? {
            Frame::Eof => return Ok(()),
            Frame::Body(body) => vet(&body),
            Frame::Bad(reason) => Err(malformed(Value::Null, -32700, &reason)),
        };
        let bytes = match message {
            Ok(body) => body,
            Err(replacement) => {
                tracing::warn!("malformed message from the client: {}", replacement["params"]["message"]);
                serde_json::to_vec(&replacement).unwrap_or_default()
            }
        };
        out.write_all(format!("Content-Length: {}\r\n\r\n", bytes.len()).as_bytes()).await?;
        out.write_all(&bytes).await?;
        out.flush().await?;
    }
}

enum Frame {
    Eof,
    Body(Vec<u8>),
    /// The headers or the body could not be read as a frame; the stream is positioned after it.
    Bad(String),
}

async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Frame> {
    let mut length: Option<usize> = None;
    let mut bad_header: Option<String> = None;
    let mut saw_any = false;
    loop {
        let mut line = Vec::new();
        let n = (&mut *reader).take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(if saw_any { Frame::Bad("the input ended inside a message header".into()) } else { Frame::Eof });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_any {
                // Stray blank line between frames: tolerate it.
                continue;
            }
            break;
        }
        saw_any = true;
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(_) => bad_header = Some(format!("invalid Content-Length `{}`", value.trim())),
                }
            }
            Some((name, _)) if name.trim().eq_ignore_ascii_case("content-type") => {}
            _ => {
                bad_header.get_or_insert_with(|| format!("unexpected header line `{}`", truncate(text)));
            }
        }
    }
    let Some(length) = length else {
        return Ok(Frame::Bad(bad_header.unwrap_or_else(|| "a message header without Content-Length".into())));
    };
    if length > MAX_BODY_BYTES {
        let skipped = tokio::io::copy(&mut (&mut *reader).take(length as u64), &mut tokio::io::sink()).await?;
        return Ok(Frame::Bad(format!(
            "a message of {skipped} bytes is over the {} MiB limit and was dropped",
            MAX_BODY_BYTES / (1024 * 1024)
        )));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    match bad_header {
        Some(reason) => Ok(Frame::Bad(reason)),
        None => Ok(Frame::Body(body)),
    }
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
        pump(input, &mut out).await.unwrap();
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

    #[tokio::test]
    async fn responses_from_the_client_pass() {
        let out = run(frame(r#"{"jsonrpc":"2.0","id":3,"result":null}"#).as_bytes()).await;
        assert_eq!(out[0]["result"], Value::Null);
    }
}
