//! Streamed answers, whatever the protocol: one driver (`sse_events`) turns a response body into
//! [`StreamEvent`]s and one final [`ChatResponse`], with the first-byte and idle timeouts, the
//! handling of a body that ends or breaks early, and the logging in one place. What differs
//! between protocols — how the `data:` of each event is read — is an [`SseDecoder`]: OpenAI's
//! chunks are decoded by [`StreamAccumulator`] below, Anthropic's events by
//! [`MessageAccumulator`](super::anthropic::MessageAccumulator).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{
    classify, host_of, scrub, status_for_error_type, Endpoint, ErrorContext, ProviderError, TimeoutPhase,
};
use super::http::{root_cause, Answer};
use super::openai::ProviderConfig;
use super::types::{ChatResponse, FinishReason, StreamEvent, ToolCall, Usage};
use crate::secret::ApiKey;

/// What one protocol makes of the events of a streamed answer. Pure: the driver feeds it the
/// events and owns everything that involves the connection, so that timeouts and dropped streams
/// are reported the same way for every provider.
pub trait SseDecoder: Default + Send + 'static {
    /// Takes one event — its `event:` name and its trimmed, non-empty `data:` — and returns what
    /// it adds to the answer.
    fn on_event(&mut self, name: &str, data: &str, ctx: &ErrorContext<'_>) -> Result<Vec<StreamEvent>, ProviderError>;

    /// Whether the protocol's last event (`[DONE]`, `message_stop`) has arrived: the answer is
    /// complete even while the connection lingers.
    fn ended(&self) -> bool;

    /// Whether the answer is whole (its finish reason has arrived), so that a body that stops
    /// now without the last event has lost nothing.
    fn finished(&self) -> bool;

    /// Whether the answer is whole and its usage has arrived: nothing but the protocol's last
    /// event can follow, so the stream ends without waiting for it. A server that never sends
    /// `[DONE]` and keeps the connection open would otherwise hold the answer for the whole idle
    /// timeout.
    fn settled(&self) -> bool;

    /// Characters of answer and reasoning received, for error messages.
    fn received_chars(&self) -> usize;

    /// The events still held back, and the whole answer.
    fn finish(self) -> (Vec<StreamEvent>, ChatResponse);
}

/// How long a finished answer still waits for its usage (or the last event) before it ends
/// without them. Moonshot sends the usage inside the finishing chunk, so its answers end at once
/// (see [`SseDecoder::settled`]); OpenAI-compatible servers send it in a chunk of its own right
/// after the finishing one, and some send none at all. The wait is capped by the idle timeout.
pub const USAGE_GRACE: Duration = Duration::from_secs(1);

/// How long the rest of a finished answer's body (`[DONE]`, the chunked body's end) is read
/// for, off the caller's path, before the connection is given up; see
/// [`Driver::release_connection`].
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How many events after the finish are read at most while releasing a connection: a server
/// that goes on talking is closed on.
const RELEASE_EVENTS: usize = 16;

/// Where a streamed answer comes from, for its errors and logs.
pub(crate) struct Origin<'a> {
    pub cfg: &'a ProviderConfig,
    pub host: &'a str,
    pub model: &'a str,
}

/// The events of a server-sent-events answer, decoded by `decoder`. The first bytes must arrive
/// by `first_deadline`, later ones within the idle timeout of each other; `started` is when the
/// request was sent, for the latency in the log.
pub(crate) fn sse_events<D: SseDecoder>(
    answer: Answer,
    origin: &Origin<'_>,
    first_deadline: Instant,
    started: Instant,
    decoder: D,
) -> BoxStream<'static, Result<StreamEvent, ProviderError>> {
    let cfg = origin.cfg;
    let events = timed_body(answer.response.bytes_stream(), first_deadline, cfg.first_byte_timeout, cfg.idle_timeout)
        .eventsource()
        .boxed();
    drive(events, origin, answer.request_id, started, decoder)
}

/// The answer carried by parsed server-sent `events`.
fn drive<D: SseDecoder>(
    events: BoxStream<'static, SseItem>,
    origin: &Origin<'_>,
    request_id: Option<String>,
    started: Instant,
    decoder: D,
) -> BoxStream<'static, Result<StreamEvent, ProviderError>> {
    let cfg = origin.cfg;
    let state = Driver {
        events,
        decoder,
        queue: VecDeque::new(),
        finished: false,
        provider: cfg.name.clone(),
        base_url: cfg.base_url.clone(),
        host: origin.host.to_string(),
        model: origin.model.to_string(),
        key: cfg.api_key.clone(),
        request_id,
        started,
        grace: USAGE_GRACE.min(cfg.idle_timeout),
        grace_until: None,
    };
    futures::stream::unfold(state, next_event).boxed()
}

/// A whole answer where a stream was asked for (a server or proxy that ignores `stream: true`),
/// as the events a stream of it would have carried.
pub(crate) fn whole_answer_events(response: ChatResponse) -> BoxStream<'static, Result<StreamEvent, ProviderError>> {
    let mut events = Vec::new();
    if !response.reasoning.is_empty() {
        events.push(Ok(StreamEvent::Reasoning(response.reasoning.clone())));
    }
    if !response.content.is_empty() {
        events.push(Ok(StreamEvent::Content(response.content.clone())));
    }
    for (index, call) in response.tool_calls.iter().enumerate() {
        let index = index as u32;
        events.push(Ok(StreamEvent::ToolCallStarted { index, id: call.id.clone(), name: call.name.clone() }));
        events.push(Ok(StreamEvent::ToolCallArguments { index, fragment: call.arguments.clone() }));
    }
    events.push(Ok(StreamEvent::Done(response)));
    futures::stream::iter(events).boxed()
}

#[derive(Debug)]
pub(crate) enum BodyError {
    Timeout(TimeoutPhase, Duration),
    Transport(reqwest::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Timeout(phase, after) => write!(f, "{phase:?} timeout after {after:?}"),
            BodyError::Transport(e) => write!(f, "{}", root_cause(e)),
        }
    }
}

/// A response body whose first chunk must arrive by `first_deadline` and later ones within
/// `idle` of each other. Byte chunks rather than SSE events are timed, so a server's keep-alive
/// comments count as life. Ends after the first error.
pub(crate) fn timed_body<B>(
    body: impl Stream<Item = reqwest::Result<B>> + Send + 'static,
    first_deadline: Instant,
    first_byte_timeout: Duration,
    idle: Duration,
) -> BoxStream<'static, Result<B, BodyError>>
where
    B: AsRef<[u8]> + Send + 'static,
{
    struct State<B> {
        body: BoxStream<'static, reqwest::Result<B>>,
        first_deadline: Option<Instant>,
        first_byte_timeout: Duration,
        idle: Duration,
        ended: bool,
    }
    let state =
        State { body: body.boxed(), first_deadline: Some(first_deadline), first_byte_timeout, idle, ended: false };
    futures::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let next = match st.first_deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, st.body.next())
                .await
                .map_err(|_| BodyError::Timeout(TimeoutPhase::FirstByte, st.first_byte_timeout)),
            None => tokio::time::timeout(st.idle, st.body.next())
                .await
                .map_err(|_| BodyError::Timeout(TimeoutPhase::Idle, st.idle)),
        };
        match next {
            Err(e) => {
                st.ended = true;
                Some((Err(e), st))
            }
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                st.ended = true;
                Some((Err(BodyError::Transport(e)), st))
            }
            Ok(Some(Ok(bytes))) => {
                if !bytes.as_ref().is_empty() {
                    st.first_deadline = None;
                }
                Some((Ok(bytes), st))
            }
        }
    })
    .boxed()
}

type SseItem = Result<eventsource_stream::Event, EventStreamError<BodyError>>;

struct Driver<D> {
    events: BoxStream<'static, SseItem>,
    decoder: D,
    queue: VecDeque<StreamEvent>,
    finished: bool,
    provider: String,
    base_url: String,
    host: String,
    model: String,
    /// Only to scrub it from server text kept in errors.
    key: Option<ApiKey>,
    request_id: Option<String>,
    started: Instant,
    /// [`USAGE_GRACE`], or the idle timeout when that is shorter.
    grace: Duration,
    /// Set once the answer is finished but its usage has not arrived: the next event must come
    /// by then, or the answer ends without it.
    grace_until: Option<Instant>,
}

impl<D: SseDecoder> Driver<D> {
    /// Ends the stream with the decoded answer; `how` says what ended it, for the log.
    fn complete(&mut self, how: &'static str) {
        self.finished = true;
        let (held, response) = std::mem::take(&mut self.decoder).finish();
        self.queue.extend(held);
        tracing::debug!(
            provider = %self.provider,
            model = %self.model,
            finish_reason = ?response.finish_reason,
            prompt_tokens = response.usage.map(|u| u.prompt_tokens),
            completion_tokens = response.usage.map(|u| u.completion_tokens),
            cached_tokens = response.usage.map(|u| u.cached_tokens),
            latency_ms = self.started.elapsed().as_millis() as u64,
            request_id = self.request_id.as_deref().unwrap_or(""),
            ended_by = how,
            "stream finished"
        );
        self.queue.push_back(StreamEvent::Done(response));
    }

    /// Reads what is left of a finished answer's body on a task of its own. hyper hands a
    /// connection back to the pool only once the body has been read to its end; one dropped
    /// earlier is closed, and the next request pays a new TCP and TLS handshake (two round trips
    /// to Moonshot) before the model sees it. The answer ends at the finishing chunk's usage,
    /// before `[DONE]` and the body's end: those are read here, without holding the caller.
    fn release_connection(&mut self) {
        let mut rest = std::mem::replace(&mut self.events, futures::stream::empty().boxed());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(RELEASE_WAIT, async {
                let mut events = 0;
                while let Some(Ok(_)) = rest.next().await {
                    events += 1;
                    if events > RELEASE_EVENTS {
                        break;
                    }
                }
            })
            .await;
        });
    }

    /// The body ended, broke or stalled before the protocol's last event: fine if the answer
    /// was already whole, a drop (or the given cause, a timeout) otherwise.
    fn ended_early(&mut self, cause: Option<ProviderError>, detail: Option<String>) -> Option<ProviderError> {
        if self.decoder.finished() {
            self.complete("the body's end after the finish");
            return None;
        }
        self.finished = true;
        let received = self.decoder.received_chars();
        let error = cause.unwrap_or_else(|| ProviderError::StreamDropped {
            host: self.host.clone(),
            received,
            detail,
            request_id: self.request_id.clone(),
        });
        tracing::debug!(
            provider = %self.provider,
            model = %self.model,
            kind = error.kind(),
            received,
            request_id = self.request_id.as_deref().unwrap_or(""),
            "stream ended early"
        );
        Some(error)
    }
}

async fn next_event<D: SseDecoder>(mut st: Driver<D>) -> Option<(Result<StreamEvent, ProviderError>, Driver<D>)> {
    loop {
        if let Some(event) = st.queue.pop_front() {
            return Some((Ok(event), st));
        }
        if st.finished {
            return None;
        }
        let next = match st.grace_until {
            None => st.events.next().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, st.events.next()).await {
                Ok(next) => next,
                Err(_) => {
                    st.complete("no usage within the grace");
                    st.release_connection();
                    continue;
                }
            },
        };
        let error = match next {
            None => st.ended_early(None, None),
            Some(Ok(event)) => {
                let data = event.data.trim();
                if data.is_empty() {
                    continue;
                }
                // Built from the fields, not borrowed whole, so that the decoder can be borrowed mutably.
                let ctx = ErrorContext {
                    base_url: &st.base_url,
                    endpoint: Endpoint::Chat,
                    model: &st.model,
                    key: st.key.as_ref().map(ApiKey::kind),
                    secret: st.key.as_ref().map(ApiKey::expose),
                    request_id: st.request_id.as_deref(),
                };
                match st.decoder.on_event(&event.event, data, &ctx) {
                    Ok(events) => {
                        st.queue.extend(events);
                        if st.decoder.ended() {
                            st.complete("the last event");
                            st.release_connection();
                        } else if st.decoder.settled() {
                            st.complete("the finish and the usage");
                            st.release_connection();
                        } else if st.decoder.finished() && st.grace_until.is_none() {
                            st.grace_until = Some(Instant::now() + st.grace);
                        }
                        continue;
                    }
                    Err(e) => {
                        st.finished = true;
                        Some(e.with_request_id(st.request_id.as_deref()))
                    }
                }
            }
            Some(Err(EventStreamError::Transport(BodyError::Timeout(phase, after)))) => {
                let timeout = ProviderError::Timeout { host: st.host.clone(), phase, after };
                st.ended_early(Some(timeout), None)
            }
            Some(Err(EventStreamError::Transport(BodyError::Transport(e)))) => {
                st.ended_early(None, Some(scrub(&root_cause(&e), None)))
            }
            Some(Err(e)) => {
                st.finished = true;
                Some(ProviderError::MalformedResponse {
                    host: st.host.clone(),
                    detail: format!("the event stream cannot be read: {e}"),
                    request_id: st.request_id.clone(),
                })
            }
        };
        match error {
            Some(e) => return Some((Err(e), st)),
            None => continue,
        }
    }
}

/// A streamed answer: [`StreamEvent`]s, then `Done` with the whole response, or one error.
/// Dropping it closes the connection, which is how the server learns the answer is no longer
/// wanted.
pub struct ChatStream {
    first: Option<StreamEvent>,
    inner: BoxStream<'static, Result<StreamEvent, ProviderError>>,
    host: String,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.inner.poll_next_unpin(cx)
    }
}

impl ChatStream {
    /// A stream whose first event has arrived, so that a server that never starts answering is
    /// an error here rather than inside the stream.
    pub(crate) async fn start(
        mut inner: BoxStream<'static, Result<StreamEvent, ProviderError>>,
        host: String,
    ) -> Result<ChatStream, ProviderError> {
        match inner.next().await {
            Some(Ok(first)) => Ok(ChatStream { first: Some(first), inner, host }),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::StreamDropped { host, received: 0, detail: None, request_id: None }),
        }
    }

    /// Reads the stream to its end and returns the whole answer.
    pub async fn collect_response(mut self) -> Result<ChatResponse, ProviderError> {
        while let Some(item) = self.next().await {
            if let StreamEvent::Done(response) = item? {
                return Ok(response);
            }
        }
        // Reached only when the caller already took `Done` off this stream.
        Err(ProviderError::StreamDropped { host: self.host, received: 0, detail: None, request_id: None })
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible chunks

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
    /// Moonshot puts usage here, on the finishing chunk.
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// vLLM's newer reasoning parser calls it `reasoning`.
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Everything an OpenAI-compatible streamed answer has said so far: the [`SseDecoder`] for
/// `data:` chunks of `chat.completion.chunk`s ended by `[DONE]`.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: String,
    model: String,
    content: String,
    reasoning: String,
    alternatives: BTreeMap<u32, String>,
    /// Choices whose finish reason has arrived.
    finished_choices: BTreeSet<u32>,
    /// Keyed by the delta's `index`: only the first delta of a call carries its id.
    tool_calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    request_id: Option<String>,
    /// `[DONE]` arrived.
    done: bool,
}

impl StreamAccumulator {
    pub fn new(request_id: Option<String>) -> Self {
        StreamAccumulator { request_id, ..StreamAccumulator::default() }
    }

    /// Takes one `data:` payload (not `[DONE]`) and returns what it adds.
    pub fn on_data(&mut self, data: &str, ctx: &ErrorContext<'_>) -> Result<Vec<StreamEvent>, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(|e| ProviderError::MalformedResponse {
            host: host_of(ctx.base_url),
            detail: format!("a stream chunk is not JSON: {e}"),
            request_id: self.request_id.clone(),
        })?;
        // Servers report failures that happen after the headers inside the stream.
        if let Some(err) = value.get("error") {
            let kind = err.get("type").and_then(Value::as_str).unwrap_or("");
            return Err(classify(status_for_error_type(kind), data, ctx));
        }
        let chunk: Chunk = serde_json::from_value(value).map_err(|e| ProviderError::MalformedResponse {
            host: host_of(ctx.base_url),
            detail: format!("a stream chunk has an unexpected shape: {e}"),
            request_id: self.request_id.clone(),
        })?;

        if let Some(id) = chunk.id.filter(|id| !id.is_empty()) {
            self.id = id;
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }

        let mut events = Vec::new();
        for choice in chunk.choices {
            if choice.usage.is_some() {
                self.usage = choice.usage;
            }
            let index = choice.index;
            if index != 0 {
                // A choice's first chunk (its role) says it is coming, text or not: a reader can
                // tell a server that ignores `n` from one that streams the choices side by side.
                let first = !self.alternatives.contains_key(&index);
                let so_far = self.alternatives.entry(index).or_default();
                match choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
                    Some(text) => {
                        so_far.push_str(&text);
                        events.push(StreamEvent::Alternative { index, text });
                    }
                    None if first => events.push(StreamEvent::Alternative { index, text: String::new() }),
                    None => {}
                }
            } else if let Some(delta) = choice.delta {
                self.apply_delta(delta, &mut events);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                let reason = FinishReason::parse(&reason);
                if index == 0 {
                    self.finish_reason = Some(reason.clone());
                }
                if self.finished_choices.insert(index) {
                    events.push(StreamEvent::ChoiceFinished { index, reason });
                }
            }
        }
        Ok(events)
    }

    fn apply_delta(&mut self, delta: Delta, events: &mut Vec<StreamEvent>) {
        if let Some(reasoning) = delta.reasoning_content.filter(|r| !r.is_empty()) {
            self.reasoning.push_str(&reasoning);
            events.push(StreamEvent::Reasoning(reasoning));
        }
        if let Some(content) = delta.content.filter(|c| !c.is_empty()) {
            self.content.push_str(&content);
            events.push(StreamEvent::Content(content));
        }
        for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let index = call.index.unwrap_or(position as u32);
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            let is_new = !self.tool_calls.contains_key(&index);
            let entry = self.tool_calls.entry(index).or_default();
            if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                entry.id = id;
            }
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                entry.name = name;
            }
            if is_new {
                events.push(StreamEvent::ToolCallStarted { index, id: entry.id.clone(), name: entry.name.clone() });
            }
            if let Some(fragment) = arguments.filter(|a| !a.is_empty()) {
                entry.arguments.push_str(&fragment);
                events.push(StreamEvent::ToolCallArguments { index, fragment });
            }
        }
    }

    /// The whole answer. `finish_reason` defaults to `stop` when the server ended the stream
    /// with `[DONE]` without naming one.
    pub fn into_response(self) -> ChatResponse {
        let tool_calls =
            self.tool_calls.into_iter().map(|(index, call)| call.with_id_or_position(index as usize)).collect();
        ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            reasoning: self.reasoning,
            tool_calls,
            finish_reason: self.finish_reason.unwrap_or(FinishReason::Stop),
            alternatives: self.alternatives.into_values().collect(),
            usage: self.usage,
            request_id: self.request_id,
        }
    }
}

impl SseDecoder for StreamAccumulator {
    fn on_event(&mut self, _name: &str, data: &str, ctx: &ErrorContext<'_>) -> Result<Vec<StreamEvent>, ProviderError> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        self.on_data(data, ctx)
    }

    fn ended(&self) -> bool {
        self.done
    }

    /// The finishing chunk (one with a `finish_reason`) has arrived.
    /// With `n` > 1, every choice seen so far must have finished too.
    fn finished(&self) -> bool {
        self.finish_reason.is_some() && self.alternatives.keys().all(|i| self.finished_choices.contains(i))
    }

    /// Moonshot's finishing chunk carries the usage; an OpenAI-style usage chunk comes after it.
    fn settled(&self) -> bool {
        self.finished() && self.usage.is_some()
    }

    fn received_chars(&self) -> usize {
        let alternatives: usize = self.alternatives.values().map(|a| a.chars().count()).sum();
        self.content.chars().count() + self.reasoning.chars().count() + alternatives
    }

    fn finish(self) -> (Vec<StreamEvent>, ChatResponse) {
        (Vec::new(), self.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::Endpoint;
    use super::*;

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            base_url: "https://api.moonshot.ai/v1",
            endpoint: Endpoint::Chat,
            model: "kimi-k2-turbo-preview",
            key: None,
            secret: None,
            request_id: None,
        }
    }

    fn feed(acc: &mut StreamAccumulator, chunks: &[&str]) -> Vec<StreamEvent> {
        chunks.iter().flat_map(|c| acc.on_data(c, &ctx()).unwrap()).collect()
    }

    #[test]
    fn moonshot_stream_with_usage_inside_the_choice() {
        let mut acc = StreamAccumulator::new(Some("rid".into()));
        let events = feed(
            &mut acc,
            &[
                r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"kimi-k2-turbo-preview","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"fn "},"finish_reason":null}]}"#,
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"main"},"finish_reason":null}]}"#,
            ],
        );
        assert_eq!(events, vec![StreamEvent::Content("fn ".into()), StreamEvent::Content("main".into())]);
        assert!(!acc.finished());
        feed(
            &mut acc,
            &[
                r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":8,"completion_tokens":11,"total_tokens":19,"cached_tokens":8}}]}"#,
            ],
        );
        assert!(acc.finished());
        let response = acc.into_response();
        assert_eq!(response.content, "fn main");
        assert_eq!(response.model, "kimi-k2-turbo-preview");
        assert_eq!(response.finish_reason, FinishReason::Stop);
        assert_eq!(response.usage.unwrap().cached_tokens, 8);
        assert_eq!(response.request_id.as_deref(), Some("rid"));
    }

    #[test]
    fn openai_style_usage_chunk_with_empty_choices() {
        let mut acc = StreamAccumulator::new(None);
        feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}"#,
            ],
        );
        let r = acc.into_response();
        assert_eq!(r.finish_reason, FinishReason::Length);
        assert_eq!(r.usage, Some(Usage { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4, cached_tokens: 2 }));
    }

    #[test]
    fn reasoning_comes_before_content() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"reasoning":"ing"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"answer"},"finish_reason":"stop"}]}"#,
            ],
        );
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("think".into()),
                StreamEvent::Reasoning("ing".into()),
                StreamEvent::Content("answer".into()),
                StreamEvent::ChoiceFinished { index: 0, reason: FinishReason::Stop },
            ]
        );
        let r = acc.into_response();
        assert_eq!(r.reasoning, "thinking");
        assert_eq!(r.content, "answer");
    }

    #[test]
    fn tool_calls_are_keyed_by_index() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"functions.read_file:0","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"functions.grep:1","type":"function","function":{"name":"grep","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            ],
        );
        assert_eq!(
            events[0],
            StreamEvent::ToolCallStarted { index: 0, id: "functions.read_file:0".into(), name: "read_file".into() }
        );
        assert_eq!(events[2], StreamEvent::ToolCallArguments { index: 0, fragment: "{\"path\":".into() });
        let r = acc.into_response();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.tool_calls,
            vec![
                ToolCall {
                    id: "functions.read_file:0".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"a"}"#.into()
                },
                ToolCall { id: "functions.grep:1".into(), name: "grep".into(), arguments: "{}".into() }
            ]
        );
    }

    #[test]
    fn extra_choices_become_alternatives() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
                r#"{"choices":[{"index":1,"delta":{"content":"c"},"finish_reason":"length"},{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ],
        );
        // Each choice with its own reason: choice 1 ran out of tokens, choice 0 did not.
        assert_eq!(
            events,
            vec![
                StreamEvent::Content("a".into()),
                StreamEvent::Alternative { index: 1, text: "b".into() },
                StreamEvent::Alternative { index: 1, text: "c".into() },
                StreamEvent::ChoiceFinished { index: 1, reason: FinishReason::Length },
                StreamEvent::ChoiceFinished { index: 0, reason: FinishReason::Stop },
            ]
        );
        let r = acc.into_response();
        assert_eq!(r.content, "a");
        assert_eq!(r.alternatives, vec!["bc".to_string()]);
    }

    #[test]
    fn an_answer_with_several_choices_is_whole_only_when_each_has_finished() {
        let mut acc = StreamAccumulator::new(None);
        let events = feed(
            &mut acc,
            &[
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
                r#"{"choices":[{"index":1,"delta":{"role":"assistant","content":""}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ],
        );
        // Choice 1 is announced by its role chunk, before any text.
        assert_eq!(events[0], StreamEvent::Alternative { index: 1, text: String::new() });
        // A body cut here lost the rest of choice 1.
        assert!(!acc.finished());
        assert_eq!(acc.received_chars(), 2);
        feed(&mut acc, &[r#"{"choices":[{"index":1,"delta":{},"finish_reason":"length"}]}"#]);
        assert!(acc.finished());
        assert_eq!(acc.into_response().finish_reason, FinishReason::Stop);
    }

    #[test]
    fn errors_inside_the_stream_are_typed() {
        let mut acc = StreamAccumulator::new(None);
        let err = acc
            .on_data(
                r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"engine_overloaded_error"}}"#,
                &ctx(),
            )
            .unwrap_err();
        assert!(matches!(err, ProviderError::Overloaded { .. }));
        let err = acc.on_data("{not json", &ctx()).unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }));
        assert!(err.to_string().contains("not JSON"));
    }

    // The driver, fed parsed events as the body would deliver them.

    use super::super::anthropic::{Continuation, MessageAccumulator};

    fn event(name: &str, data: &str) -> SseItem {
        Ok(eventsource_stream::Event { event: name.into(), data: data.into(), id: String::new(), retry: None })
    }

    fn stall() -> SseItem {
        Err(EventStreamError::Transport(BodyError::Timeout(TimeoutPhase::Idle, Duration::from_secs(30))))
    }

    /// Everything the driver yields for `items`, after which the body would never end: a driver
    /// that waited for more after the answer's end would hang here.
    async fn run<D: SseDecoder>(items: Vec<SseItem>, decoder: D) -> Vec<Result<StreamEvent, ProviderError>> {
        let cfg = super::super::openai::ProviderConfig::new("t", "http://127.0.0.1:9/v1", None);
        let origin = Origin { cfg: &cfg, host: "127.0.0.1:9", model: "m" };
        let events = futures::stream::iter(items).chain(futures::stream::pending()).boxed();
        let mut out = Vec::new();
        let mut stream = drive(events, &origin, Some("rid".into()), Instant::now(), decoder);
        while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            out.push(item);
        }
        out
    }

    fn claude(name: &str, data: serde_json::Value) -> SseItem {
        event(name, &data.to_string())
    }

    fn claude_text(text: &str) -> Vec<SseItem> {
        vec![
            claude(
                "message_start",
                serde_json::json!({"type": "message_start", "message": {"id": "msg_1", "model": "m"}}),
            ),
            claude(
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            claude(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ),
        ]
    }

    fn claude_stop() -> SseItem {
        claude("message_delta", serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}))
    }

    fn decoder(echo: Option<&str>) -> MessageAccumulator {
        let continuation = Continuation { trimmed_whitespace: String::new(), echo: echo.map(str::to_string) };
        MessageAccumulator::new(Some("rid".into()), continuation, "http://127.0.0.1:9/v1/messages".into())
    }

    fn done(item: &Result<StreamEvent, ProviderError>) -> &ChatResponse {
        match item {
            Ok(StreamEvent::Done(response)) => response,
            other => panic!("expected Done, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_last_event_ends_the_answer_while_the_connection_lingers() {
        let openai = run(
            vec![
                event("message", r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
                event("message", r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#),
                event("message", "[DONE]"),
            ],
            StreamAccumulator::new(Some("rid".into())),
        )
        .await;
        assert_eq!(openai.len(), 3, "{openai:?}");
        assert_eq!(openai[1].as_ref().unwrap(), &StreamEvent::ChoiceFinished { index: 0, reason: FinishReason::Stop });
        assert_eq!(done(&openai[2]).content, "a");

        let mut items = claude_text("b");
        items.extend([claude_stop(), claude("message_stop", serde_json::json!({"type": "message_stop"}))]);
        let anthropic = run(items, decoder(None)).await;
        assert_eq!(anthropic.len(), 2, "{anthropic:?}");
        assert_eq!(done(&anthropic[1]).content, "b");
    }

    const MOONSHOT_FINISH: &str = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"cached_tokens":0}}]}"#;

    /// A server that never sends `[DONE]` and keeps the connection open: once every choice has
    /// finished and the usage is in, the answer ends at once, not after the idle timeout (nor
    /// after the grace: `run` gives each event 200 ms).
    #[tokio::test]
    async fn a_finished_answer_with_its_usage_ends_without_the_last_event() {
        let out = run(
            vec![
                event("message", r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
                event("message", MOONSHOT_FINISH),
            ],
            StreamAccumulator::new(None),
        )
        .await;
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(done(&out[2]).content, "a");
        assert_eq!(done(&out[2]).usage.unwrap().prompt_tokens, 3);

        // Several choices: the answer is settled only when the last one has finished.
        let out = run(
            vec![
                event(
                    "message",
                    r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
                ),
                event("message", MOONSHOT_FINISH),
            ],
            StreamAccumulator::new(None),
        )
        .await;
        assert!(out.iter().all(|e| !matches!(e, Ok(StreamEvent::Done(_)))), "choice 1 is still open: {out:?}");

        // Anthropic: `message_delta` brings the stop reason and the output tokens together.
        let mut items = claude_text("b");
        items.push(claude(
            "message_delta",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        ));
        let anthropic = run(items, decoder(None)).await;
        assert_eq!(anthropic.len(), 2, "{anthropic:?}");
        assert_eq!(done(&anthropic[1]).content, "b");
    }

    /// OpenAI sends the usage in a chunk of its own after the finishing one: the finish alone
    /// does not end the answer, or the usage would be lost.
    #[tokio::test]
    async fn a_usage_chunk_after_the_finish_is_waited_for() {
        let out = run(
            vec![
                event("message", r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#),
                event(
                    "message",
                    r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
                ),
            ],
            StreamAccumulator::new(None),
        )
        .await;
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(done(&out[2]).usage.unwrap().prompt_tokens, 5);
    }

    /// A finished answer whose usage never comes ends after the grace, far within the idle
    /// timeout; without a finish, silence is still the idle timeout's to judge.
    #[tokio::test]
    async fn a_finished_answer_without_usage_ends_after_the_grace() {
        let cfg = super::super::openai::ProviderConfig::new("t", "http://127.0.0.1:9/v1", None);
        assert_eq!(cfg.idle_timeout, Duration::from_secs(30));
        let origin = Origin { cfg: &cfg, host: "127.0.0.1:9", model: "m" };
        let items =
            vec![event("message", r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#)];
        let events = futures::stream::iter(items).chain(futures::stream::pending()).boxed();
        let started = Instant::now();
        let stream = drive(events, &origin, None, Instant::now(), StreamAccumulator::new(None));
        let out: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect())
            .await
            .expect("the answer ended within the grace, not the idle timeout");
        assert!(started.elapsed() >= USAGE_GRACE, "{:?}", started.elapsed());
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(done(&out[2]).content, "a");
        assert_eq!(done(&out[2]).usage, None);

        let items = vec![event("message", r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#)];
        let events = futures::stream::iter(items).chain(futures::stream::pending()).boxed();
        let mut unfinished = drive(events, &origin, None, Instant::now(), StreamAccumulator::new(None));
        assert!(matches!(unfinished.next().await, Some(Ok(StreamEvent::Content(_)))));
        assert!(tokio::time::timeout(USAGE_GRACE * 2, unfinished.next()).await.is_err(), "an unfinished answer waits");
    }

    #[tokio::test]
    async fn a_body_that_ends_before_the_finish_is_a_drop_naming_what_arrived() {
        let cfg = super::super::openai::ProviderConfig::new("t", "http://127.0.0.1:9/v1", None);
        let origin = Origin { cfg: &cfg, host: "127.0.0.1:9", model: "m" };
        // A body that really ends: no pending tail.
        let events = futures::stream::iter(claude_text("hello")).boxed();
        let out: Vec<_> = drive(events, &origin, Some("rid".into()), Instant::now(), decoder(None)).collect().await;
        assert_eq!(out[0].as_ref().unwrap(), &StreamEvent::Content("hello".into()));
        match &out[1] {
            Err(ProviderError::StreamDropped { received, request_id, .. }) => {
                assert_eq!(*received, 5);
                assert_eq!(request_id.as_deref(), Some("rid"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.len(), 2);
    }

    #[tokio::test]
    async fn a_stall_after_the_finish_keeps_the_answer_and_before_it_is_a_timeout() {
        let mut items = claude_text("whole");
        items.extend([claude_stop(), stall()]);
        let out = run(items, decoder(None)).await;
        assert_eq!(done(&out[1]).content, "whole");

        let out = run(
            vec![event("message", r#"{"choices":[{"index":0,"delta":{"content":"half"}}]}"#), stall()],
            StreamAccumulator::new(None),
        )
        .await;
        assert!(matches!(out[1], Err(ProviderError::Timeout { phase: TimeoutPhase::Idle, .. })), "{out:?}");
        assert_eq!(out.len(), 2);
    }

    #[tokio::test]
    async fn text_held_back_as_a_possible_echo_comes_out_before_done() {
        let mut items = claude_text("fn");
        items.extend([claude_stop(), claude("message_stop", serde_json::json!({"type": "message_stop"}))]);
        let out = run(items, decoder(Some("fn main"))).await;
        assert_eq!(out[0].as_ref().unwrap(), &StreamEvent::Content("fn".into()));
        assert_eq!(done(&out[1]).content, "fn");
    }
}
