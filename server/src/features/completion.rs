//! Inline completions: when to ask the model, what to ask, when to stop reading, and what to
//! answer from memory instead.
//!
//! Latency hiding, in order of what saves the most:
//! 1. **Type-through**: the user typing the first characters of a suggestion already shown (or
//!    accepting a word or a line of it, which may end lines below) is answered from memory with
//!    the rest of it — no model call at all.
//! 2. **Supersede**: a newer request or edit in the same document aborts the older model call
//!    (the HTTP stream is dropped, which closes the connection) and the older request answers
//!    empty at once. Helix never cancels, so this is also how its stale requests end.
//! 3. **Adaptive debounce**: automatic requests wait a little longer than the user's recent
//!    gap between keystrokes, so a burst costs one call, not one per key. The request is
//!    prepared during that wait (the reparse the last edit left due, the context, the prompt,
//!    the route and the JSON body), so it goes out the moment the wait ends. The request the
//!    editor makes right after the user accepted a suggestion does not wait: nobody is typing.
//! 4. **Early stop**: the stream is closed as soon as the line (or block) is complete.
//! 5. **Speculation** (`completion.speculate`): while a suggestion is on screen, the one that
//!    would follow it is asked for, on the text as it would be once accepted, and kept in
//!    memory for that place; accepting shows it at once, and a request there while it is still
//!    coming waits for it instead of asking again. Any request elsewhere cancels it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::{CompletionsOff, Config};
use crate::context::{self, Budget, SimilarIndex, Snippet, SymbolLookup};
use crate::ledger::{Feature, Outcome};
use crate::postprocess::{self, CompletionSite, Ended, StopDetector};
use crate::prompt;
use crate::providers::{ChatRequest, FinishReason, ProviderError, RetryPolicy, StreamEvent};
use crate::router::{RouteHint, Router, RowHandle};
use crate::text::{line_ending, DocumentSnapshot, LineEnding};

/// Suggestions remembered per document for type-through.
const REMEMBERED: usize = 8;
/// Ids of shown suggestions the accept command can still name (see `CompletionEngine::show`).
const SHOWN_IDS_KEPT: usize = 256;
const MIN_DEBOUNCE: Duration = Duration::from_millis(40);
const MAX_DEBOUNCE: Duration = Duration::from_millis(250);
/// With no typing history yet: long enough to merge a burst's first keys.
const FIRST_DEBOUNCE: Duration = Duration::from_millis(75);
/// How soon after an accept the next automatic request counts as the editor's own follow-up.
const AFTER_ACCEPT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The editor asks on its own while the user types.
    Automatic,
    /// The user asked explicitly: no debounce, and several items are welcome.
    Invoked,
}

pub struct Query {
    pub uri: String,
    pub path: Option<std::path::PathBuf>,
    pub snapshot: DocumentSnapshot,
    /// Char index of the cursor in the snapshot's rope.
    pub cursor: usize,
    pub trigger: Trigger,
    /// The editor can offer several suggestions to choose from (ghost text with next/previous):
    /// an invoked request then asks for `completion.invokedChoices` of them.
    pub alternatives: bool,
    /// Set when the snapshot's tree is behind its text (edits wait for their reparse, see
    /// `Session::change`): returns the same version with its tree, parsing as needed. It runs
    /// during the debounce, so the wait hides it, and on a blocking thread, so the message loop
    /// never waits for it.
    pub reparse: Option<Reparse>,
    /// Asked ahead by [`CompletionEngine::speculate`], for text that does not exist yet: it
    /// neither supersedes nor is superseded by the document's requests and edits, only
    /// cancelled by its own token.
    pub speculative: bool,
    /// How transient provider errors are retried; `None`: as the router retries completions,
    /// which is not at all (see [`crate::router::retry_policy`]). The terminal's `complete`,
    /// whose one answer nobody supersedes, retries.
    pub retry: Option<RetryPolicy>,
}

/// Where a request was answered: the document as the request saw it, and the cursor (see
/// [`CompletionEngine::speculate`]).
pub struct AnsweredAt {
    /// The document's URI as the editor knows it: a notebook's cell, whose `snapshot` is the
    /// whole notebook.
    pub uri: String,
    pub snapshot: DocumentSnapshot,
    pub path: Option<std::path::PathBuf>,
    pub cursor: usize,
}

/// A blocking function giving the query's document with an up-to-date tree.
pub type Reparse = Box<dyn FnOnce() -> Option<DocumentSnapshot> + Send + 'static>;

/// One suggestion, ready to convert: insert `text` at the cursor, replacing `replace_after`
/// characters after it on the same line.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub id: u64,
    pub text: String,
    pub replace_after: usize,
    /// Answered from memory (type-through or cache) rather than by a model call.
    pub from_memory: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// No completions for this document (see [`declined`]): nothing was sent.
    #[error("{0}")]
    Off(CompletionsOff),
}

struct Shown {
    line: usize,
    line_prefix: String,
    line_suffix: String,
    text: String,
    replace_after: usize,
    row: RowHandle,
    /// Worked out ahead and not on screen yet: its row is marked shown when it is.
    ahead: bool,
}

/// A suggestion being worked out ahead (see [`CompletionEngine::speculate`]): where it is for,
/// and how to wait for it or call it off.
struct Ahead {
    line: usize,
    line_prefix: String,
    line_suffix: String,
    token: CancellationToken,
    done: tokio::sync::watch::Receiver<bool>,
}

impl Ahead {
    fn is_for(&self, line: usize, line_prefix: &str, line_suffix: &str) -> bool {
        self.line == line && self.line_prefix == line_prefix && self.line_suffix == line_suffix
    }
}

/// One choice of a streamed answer (the request may ask for several).
struct Choice {
    raw: String,
    detector: StopDetector,
    /// Stopped by its detector or finished by the model: nothing more of it is wanted.
    settled: bool,
    /// Its detector found it complete: whatever the model says of its end afterwards, the
    /// text kept ends where it should.
    stopped: bool,
    /// The model's finish reason for it, once that arrived.
    finish: Option<FinishReason>,
    /// The stream has said anything of it (its role chunk, at the least).
    seen: bool,
}

impl Choice {
    fn new(detector: StopDetector) -> Choice {
        Choice { raw: String::new(), detector, settled: false, stopped: false, finish: None, seen: false }
    }

    /// How its text ended, for post-processing; `None` when nothing of it may be shown.
    fn ended(&self) -> Option<Ended> {
        if self.stopped {
            return Some(Ended::Complete);
        }
        match self.finish {
            Some(FinishReason::Length) => Some(Ended::CutShort),
            Some(FinishReason::ContentFilter) => None,
            _ => Some(Ended::Complete),
        }
    }

    /// Adds a piece of the choice's text; true when that completes the suggestion before the
    /// model's own end.
    fn feed(&mut self, delta: &str) -> bool {
        if self.settled {
            return false;
        }
        self.raw.push_str(delta);
        let Some(keep) = self.detector.feed(&self.raw) else { return false };
        self.raw.truncate(keep);
        self.settled = true;
        self.stopped = true;
        true
    }
}

/// `text` with `\n` for each of its line breaks, whichever kind.
fn as_lf(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return text.into();
    }
    line_ending::lone_crs_as_lf(text.replace("\r\n", "\n")).into()
}

/// What the stream said of one choice.
enum Said {
    Text(String),
    Finished(FinishReason),
}

#[derive(Default)]
struct DocState {
    /// Bumped by every request and every edit: work started under an older generation is stale.
    generation: u64,
    inflight: Option<CancellationToken>,
    last_request: Option<Instant>,
    gaps: VecDeque<Duration>,
    shown: VecDeque<Shown>,
    /// When the user last accepted a suggestion here. The editor asks again right after the
    /// insertion, and nobody is typing: a debounce would only delay the next suggestion, so the
    /// first automatic request after an accept (within [`AFTER_ACCEPT`]) goes out at once.
    accepted_at: Option<Instant>,
    /// The suggestion being worked out ahead of the user's next accept, if any.
    ahead: Option<Ahead>,
}

pub struct CompletionEngine {
    docs: DashMap<String, DocState>,
    next_id: AtomicU64,
    /// After a 429 rate limit: no automatic requests until then.
    cooldown_until: Mutex<Option<Instant>>,
    /// Rows of shown suggestions by id, for the accept command.
    shown_rows: DashMap<u64, (RowHandle, String)>,
    /// Recently edited regions, for context from other files.
    recent_edits: Mutex<VecDeque<(String, Snippet)>>,
    /// The server's own time of the last [`OWN_TIMES_KEPT`] completions that asked the model.
    own_times: Mutex<VecDeque<OwnSample>>,
    /// The open documents' windows, for code like the code at the cursor.
    similar: SimilarIndex,
}

/// How many completions [`CompletionEngine::own_time`] summarises.
pub const OWN_TIMES_KEPT: usize = 500;

/// The server's own time per completion, the model's time left out: from the request reaching
/// the completion handler until the upstream request has been written, plus from the end of the
/// model's stream until the answer is ready. Debounce waits are not counted (they are
/// deliberate), nor is the preparation an automatic request does while it waits; a reparse or a
/// preparation that outlasts the debounce is. Percentiles of the last
/// [`OWN_TIMES_KEPT`] completions that asked the model, in milliseconds, in all and per phase
/// (each phase's percentiles are its own: they do not add up to the total's).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnTime {
    pub completions: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Request received → request ready to send: type-through, the reparse if one is due,
    /// context and prompt, the route and the JSON body; for an automatic request, only what
    /// outlasts its debounce.
    pub prepare: Percentiles,
    /// Request ready (and the debounce over) → written to the HTTP connection: the ledger's
    /// meter, reqwest and hyper, the socket write.
    pub send: Percentiles,
    /// End of the model's stream → answer ready: post-processing and its parse check.
    pub finish: Percentiles,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Percentiles {
    fn of(mut times: Vec<Duration>) -> Percentiles {
        times.sort_unstable();
        let at = |q: f64| {
            let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len().max(1)) - 1;
            // Microsecond resolution is all a reader needs.
            times.get(i).map_or(0.0, |t| (t.as_secs_f64() * 1e6).round() / 1e3)
        };
        Percentiles { p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99) }
    }
}

/// One completion's own time, by phase (see [`OwnTime`]).
#[derive(Clone, Copy, Debug)]
struct OwnSample {
    prepare: Duration,
    send: Duration,
    finish: Duration,
}

impl Default for CompletionEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl CompletionEngine {
    pub fn new() -> CompletionEngine {
        CompletionEngine {
            docs: DashMap::new(),
            next_id: AtomicU64::new(1),
            cooldown_until: Mutex::new(None),
            shown_rows: DashMap::new(),
            recent_edits: Mutex::new(VecDeque::new()),
            own_times: Mutex::new(VecDeque::new()),
            similar: SimilarIndex::new(),
        }
    }

    /// The open documents' windows for similar code: the reindexer keeps them up to date as
    /// documents open, settle after edits and close.
    pub fn similar(&self) -> &SimilarIndex {
        &self.similar
    }

    /// See [`OwnTime`]; `None` before the first completion that asked the model.
    pub fn own_time(&self) -> Option<OwnTime> {
        let samples: Vec<OwnSample> =
            self.own_times.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        if samples.is_empty() {
            return None;
        }
        let phase = |f: fn(&OwnSample) -> Duration| Percentiles::of(samples.iter().map(f).collect());
        let total = phase(|s| s.prepare + s.send + s.finish);
        Some(OwnTime {
            completions: samples.len(),
            p50_ms: total.p50_ms,
            p90_ms: total.p90_ms,
            p99_ms: total.p99_ms,
            prepare: phase(|s| s.prepare),
            send: phase(|s| s.send),
            finish: phase(|s| s.finish),
        })
    }

    fn record_own_time(&self, own: OwnSample) {
        let mut times = self.own_times.lock().unwrap_or_else(|e| e.into_inner());
        if times.len() == OWN_TIMES_KEPT {
            times.pop_front();
        }
        times.push_back(own);
    }

    /// An edit arrived: whatever the model is computing for this document is for text that no
    /// longer exists. Synchronous, called from `didChange` before any `.await`.
    pub fn document_changed(&self, uri: &str) {
        if let Some(mut state) = self.docs.get_mut(uri) {
            state.generation += 1;
            if let Some(token) = state.inflight.take() {
                token.cancel();
            }
        }
    }

    /// Remembers an edited region (a few lines of the new text) as context for other files.
    pub fn note_edit(&self, uri: &str, path: &str, region: String) {
        if region.trim().is_empty() {
            return;
        }
        let mut edits = self.recent_edits.lock().unwrap_or_else(|e| e.into_inner());
        edits.retain(|(u, s)| !(u == uri && region.contains(s.text.trim())));
        edits.push_front((
            uri.to_string(),
            Snippet { path: path.to_string(), text: region, why: context::SnippetKind::RecentEdit },
        ));
        edits.truncate(16);
    }

    pub fn document_closed(&self, uri: &str) {
        if let Some((_, state)) = self.docs.remove(uri) {
            if let Some(token) = state.inflight {
                token.cancel();
            }
            if let Some(ahead) = state.ahead {
                ahead.token.cancel();
            }
        }
    }

    /// The user accepted suggestion `id`: recorded in the ledger for the acceptance rate.
    /// The next automatic request in its document skips its debounce (see `DocState`).
    pub fn accepted(&self, id: u64) -> Option<RowHandle> {
        let (_, (row, uri)) = self.shown_rows.remove(&id)?;
        if let Some(mut state) = self.docs.get_mut(&uri) {
            state.accepted_at = Some(Instant::now());
        }
        Some(row)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Answers one request. `Ok(vec![])` means "nothing to suggest" (including superseded);
    /// errors are the provider's, for the caller to show.
    pub async fn complete(
        &self,
        router: &Router,
        config: &Config,
        symbols: &(dyn SymbolLookup + Sync),
        mut query: Query,
        cancel: CancellationToken,
    ) -> Result<Vec<Item>, CompletionError> {
        let received = Instant::now();
        let reparse = query.reparse.take();
        let snap = &query.snapshot;
        if let Some(off) = declined(config, snap, query.path.as_deref(), symbols) {
            return Err(CompletionError::Off(off));
        }
        if !query.speculative {
            self.similar.touch(&query.uri);
        }
        let rope = snap.rope();
        let cursor = query.cursor.min(rope.len_chars());
        let line = rope.char_to_line(cursor);
        let line_start = rope.line_to_char(line);
        let line_prefix: String = String::from(rope.slice(line_start..cursor));
        let line_suffix = line_rest(snap, cursor);

        // 1. Type-through: answered from memory, no debounce, no model call. An explicit request
        //    for several suggestions where memory has only one goes on to the model: that is the
        //    editor asking for more (VS Code's and Neovim's "next suggestion").
        let wants_several =
            query.alternatives && query.trigger == Trigger::Invoked && config.completion.choices_when_invoked() > 1;
        let remembered = self.type_through(router, &query.uri, snap, cursor, &line_prefix, &line_suffix);
        let asks_for_more = wants_several && remembered.len() == 1;
        if !remembered.is_empty() && !asks_for_more {
            return Ok(self.remembered_items(remembered, &query.uri));
        }
        // The suggestion for this very place may be on its way (worked out ahead while the one
        // the user just accepted was on screen): waiting for it beats asking again.
        if !query.speculative && !asks_for_more {
            if let Some(mut done) = self.ahead_for(&query.uri, line, &line_prefix, &line_suffix) {
                let arrived = self.docs.get(&query.uri).map(|s| s.generation);
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(Vec::new()),
                    _ = done.wait_for(|done| *done) => {}
                }
                // An edit or a newer request came meanwhile (and called the speculation off):
                // this request is stale, and must not supersede the newer one.
                if self.docs.get(&query.uri).map(|s| s.generation) != arrived {
                    return Ok(Vec::new());
                }
                let remembered = self.type_through(router, &query.uri, snap, cursor, &line_prefix, &line_suffix);
                if !remembered.is_empty() {
                    return Ok(self.remembered_items(remembered, &query.uri));
                }
            }
        }

        // 2. Register as the newest request for this document (a speculative one stands aside).
        let (generation, debounce) = if query.speculative {
            (0, Duration::ZERO)
        } else {
            let mut state = self.docs.entry(query.uri.clone()).or_default();
            state.generation += 1;
            if let Some(old) = state.inflight.take() {
                old.cancel();
            }
            let now = Instant::now();
            if let Some(last) = state.last_request.replace(now) {
                let gap = now - last;
                // Pauses longer than a second are thinking, not typing rhythm.
                if gap < Duration::from_secs(1) {
                    state.gaps.push_back(gap);
                    if state.gaps.len() > 8 {
                        state.gaps.pop_front();
                    }
                }
            }
            let token = cancel.child_token();
            state.inflight = Some(token);
            let after_accept = state.accepted_at.take().is_some_and(|at| now - at < AFTER_ACCEPT);
            let debounce = if after_accept { Duration::ZERO } else { adaptive_debounce(&state.gaps) };
            (state.generation, debounce)
        };
        let token = match query.speculative {
            true => cancel.child_token(),
            false => self.docs.get(&query.uri).and_then(|s| s.inflight.clone()).unwrap_or_else(|| cancel.child_token()),
        };
        let is_current = |engine: &Self| query.speculative || engine.is_current(&query.uri, generation);

        // 3. The reparse if one is due, the context and the prompt, prepared while an automatic
        //    request waits out its debounce: the wait is dead time, so the request can go out
        //    the moment it ends. A newer request or edit supersedes this one meanwhile (and
        //    cancels `token`); a superseded request's reparse still leaves its tree in the
        //    document for the next one.
        let debounce = if query.trigger == Trigger::Automatic { debounce } else { Duration::ZERO };
        let debounce_end = received + debounce;
        let recent: Vec<Snippet> = {
            let edits = self.recent_edits.lock().unwrap_or_else(|e| e.into_inner());
            edits.iter().filter(|(u, _)| *u != query.uri).map(|(_, s)| s.clone()).collect()
        };
        let prepare = async {
            let fresh = match reparse {
                None => None,
                Some(reparse) => match tokio::task::spawn_blocking(reparse).await {
                    Ok(Some(fresh)) if fresh.revision() == snap.revision() => Some(fresh),
                    // Edited meanwhile (or closed): this request is stale, a newer one follows.
                    _ => return None,
                },
            };
            // 4. Context and prompt: pure functions of the snapshot. Then the route and the
            //    request's body, so that the end of the wait leaves only the sending.
            let Prepared { mut request, multiline } =
                prepare_request(config, fresh.as_ref().unwrap_or(snap), cursor, symbols, &recent, &self.similar);
            if wants_several {
                request.n = Some(config.completion.choices_when_invoked());
            }
            let ready = router.ready(config, Feature::Completion, &RouteHint::default(), request).await;
            let ready = match query.retry {
                Some(policy) => ready.map(|r| r.with_retry(policy)),
                None => ready,
            };
            Some((fresh, ready, multiline))
        };
        let prepared = tokio::select! {
            _ = token.cancelled() => return Ok(Vec::new()),
            prepared = prepare => prepared,
        };
        let Some((reparsed, ready, multiline)) = prepared else {
            return Ok(Vec::new());
        };
        let prepared_at = Instant::now();
        if query.trigger == Trigger::Automatic {
            tokio::select! {
                _ = token.cancelled() => return Ok(Vec::new()),
                _ = tokio::time::sleep_until(debounce_end.into()) => {}
            }
            if self.is_cooling_down() {
                return Ok(Vec::new());
            }
        }
        if !is_current(self) {
            return Ok(Vec::new());
        }
        let snap = reparsed.as_ref().unwrap_or(snap);
        let ready_at = Instant::now();

        // 5. Stream, stopping as soon as the suggestion is complete.
        let mut sending = std::pin::pin!(async {
            match ready {
                Ok(ready) => router.send_ready(config, ready).await,
                Err(e) => Err(e),
            }
        });
        let first_poll = std::future::poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await;
        if first_poll.is_pending() {
            // The request now waits in the HTTP connection's queue; that task writes it once
            // this one yields. What post-processing needs is worked out after that, while the
            // model is thinking, instead of before the request leaves.
            tokio::task::yield_now().await;
        }
        // Pending: the request was handed to the connection and written during the yield above
        // (or is still connecting, which is the network's time, not ours); Ready: it failed at once.
        let went_out = first_poll.is_pending();
        let sent_at = Instant::now();
        // One copy of the text serves the stop detector and the parse check; the windows are
        // slices of it (a rope's `to_string` goes through `fmt` and cost three copies per request).
        let mut document = String::from(rope);
        // A lone `\r` breaks lines for the editor and the rope, not for post-processing: such a
        // document is post-processed as its `\n` twin, byte for byte the same length (the tree
        // is the twin's too: tree-sitter is given a lone `\r` as `\n`), and its suggestions get
        // the document's breaks back.
        if snap.line_breaks().cr > 0 {
            document = line_ending::lone_crs_as_lf(document);
        }
        let tree = snap.tree();
        let (before, after) = document.split_at(rope.char_to_byte(cursor));
        let original_parses = tree.map(|t| !t.root_node().has_error());
        let site = CompletionSite {
            language: snap.language(),
            before,
            after,
            multiline,
            original_parses,
            document: Some(&document),
            line_ending: snap.line_ending(),
        };
        let detector = StopDetector::with_tree(&site, tree);
        let sent = match first_poll {
            Poll::Ready(sent) => sent,
            Poll::Pending => tokio::select! {
                _ = token.cancelled() => return Ok(Vec::new()),
                sent = sending => sent,
            },
        };
        let mut stream = match sent {
            Ok(s) => s,
            Err(e) => {
                self.note_error(&e);
                return Err(e.into());
            }
        };
        let row = stream.row();
        // One per choice the answer holds: each stops on its own, and the stream is closed once
        // every one has stopped or finished (the model keeps writing the others meanwhile).
        let mut choices = vec![Choice::new(detector)];
        for _ in 1..stream.choices() {
            choices.push(Choice::new(choices[0].detector.clone()));
        }
        let mut stopped_early = false;
        loop {
            let event = tokio::select! {
                _ = token.cancelled() => return Ok(Vec::new()), // dropping `stream` closes the connection
                e = stream.next() => e,
            };
            let (index, said) = match event {
                Some(Ok(StreamEvent::Content(delta))) => (0, Said::Text(delta)),
                Some(Ok(StreamEvent::Alternative { index, text })) => (index, Said::Text(text)),
                Some(Ok(StreamEvent::ChoiceFinished { index, reason })) => (index, Said::Finished(reason)),
                Some(Ok(StreamEvent::Done(response))) => {
                    // A provider that names no choice's end (Anthropic's single choice) says it here.
                    if let Some(first) = choices.first_mut().filter(|c| c.finish.is_none()) {
                        first.finish = Some(response.finish_reason);
                    }
                    break;
                }
                None => break,
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.note_error(&e);
                    return Err(e.into());
                }
            };
            let Some(choice) = choices.get_mut(index as usize) else { continue };
            choice.seen = true;
            match said {
                Said::Text(delta) => stopped_early |= choice.feed(&delta),
                Said::Finished(reason) => {
                    choice.finish = Some(reason);
                    choice.settled = true;
                }
            }
            // Without a stop of our own the finishing chunks bring the usage: read on to `Done`.
            // A choice never announced once the first is done is not coming (a server that
            // ignores `n`); the others each announce themselves as their stream starts.
            if stopped_early && choices[0].settled && choices.iter().all(|c| c.settled || !c.seen) {
                let received: String = choices.iter().map(|c| c.raw.as_str()).collect();
                stream.stop_early(&received);
                break;
            }
        }
        drop(stream);
        let stream_ended = Instant::now();
        if !is_current(self) {
            return Ok(Vec::new());
        }
        // Rejected or shown, the work was done; superseded requests above are not counted.
        // What the preparation took beyond the debounce (none when it finished within it), then
        // from the request being ready and the debounce over until it was written.
        let prepare = prepared_at.saturating_duration_since(debounce_end);
        let send = sent_at.saturating_duration_since(ready_at);
        // Speculative work is off the user's path: the own time is the user's requests'.
        let record_own_time = |engine: &Self| {
            if went_out && !query.speculative {
                engine.record_own_time(OwnSample { prepare, send, finish: stream_ended.elapsed() });
            }
        };

        // 6. Post-process; remember what is shown for type-through and the accept command.
        // The snapshot's own tree keeps the parse check to the cursor's function instead of
        // a full parse of the file (15 ms on a 3,000-line file, the bulk of our own latency).
        // Choices that say the same thing are one suggestion: checked once, shown once.
        let mut suggestions: Vec<postprocess::Suggestion> = Vec::new();
        for (i, choice) in choices.iter().enumerate() {
            if choices[..i].iter().any(|earlier| earlier.raw == choice.raw) {
                continue;
            }
            let Some(ended) = choice.ended() else {
                tracing::debug!(choice = i, "suggestion withheld by the provider's content filter");
                continue;
            };
            match postprocess::postprocess_streamed(&choice.raw, &site, &choice.detector, tree, ended) {
                Ok(s) if !suggestions.iter().any(|t| t.text == s.text && t.replace_after == s.replace_after) => {
                    suggestions.push(s)
                }
                Ok(_) => {}
                Err(rejection) => tracing::debug!(%rejection, choice = i, "suggestion rejected"),
            }
        }
        if suggestions.is_empty() {
            // Worked out ahead, it never reached the screen.
            mark(router, &row, if query.speculative { Outcome::Ahead } else { Outcome::Rejected });
            record_own_time(self);
            return Ok(Vec::new());
        }
        let items: Vec<Item> = suggestions
            .into_iter()
            .map(|s| Item {
                id: self.show(row.clone(), &query.uri),
                text: s.text,
                replace_after: s.replace_after,
                from_memory: false,
            })
            .collect();
        if query.speculative {
            // Before it can be shown (and marked so), or the later mark could land first.
            mark_now(router, &row, Outcome::Ahead).await;
        }
        if let Some(mut state) = self.docs.get_mut(&query.uri) {
            if !query.speculative {
                state.inflight = None;
            }
            // The first suggestion ends up in front: type-through tries it first.
            for item in items.iter().rev() {
                state.shown.push_front(Shown {
                    line,
                    line_prefix: line_prefix.clone(),
                    line_suffix: line_suffix.clone(),
                    text: item.text.clone(),
                    replace_after: item.replace_after,
                    row: row.clone(),
                    ahead: query.speculative,
                });
            }
            state.shown.truncate(REMEMBERED);
        }
        record_own_time(self);
        Ok(items)
    }

    /// The remembered suggestions the user is typing through at this place, most recent first,
    /// each once: what is left of each, what it replaces after the cursor, and its request's row.
    /// What was typed may span lines: a multi-line suggestion accepted a line at a time (Neovim's
    /// and VS Code's partial accept) leaves the cursor lines below where it was shown.
    /// A suggestion worked out ahead reaches the screen here: its row is marked shown.
    fn type_through(
        &self,
        router: &Router,
        uri: &str,
        snap: &DocumentSnapshot,
        cursor: usize,
        line_prefix: &str,
        line_suffix: &str,
    ) -> Vec<(String, usize, RowHandle)> {
        let Some(mut state) = self.docs.get_mut(uri) else { return Vec::new() };
        let rope = snap.rope();
        let line = rope.char_to_line(cursor);
        let mut found: Vec<(String, usize, RowHandle)> = Vec::new();
        for shown in state.shown.iter_mut() {
            if shown.line > line || shown.line_suffix != line_suffix {
                continue;
            }
            let typed: Cow<'_, str> = if shown.line == line {
                match line_prefix.strip_prefix(shown.line_prefix.as_str()) {
                    Some(typed) => typed.into(),
                    None => continue,
                }
            } else {
                // Only as many lines down as the suggestion has line breaks.
                if as_lf(&shown.text).matches('\n').count() < line - shown.line {
                    continue;
                }
                // Compared line break for line break, whichever the editor inserted.
                let span = as_lf(&String::from(rope.slice(rope.line_to_char(shown.line)..cursor))).into_owned();
                match span.strip_prefix(shown.line_prefix.as_str()) {
                    Some(typed) => typed.to_string().into(),
                    None => continue,
                }
            };
            // A CRLF (or lone-CR) document's suggestions break lines its way (post-processing
            // gives them the document's line breaks), and so does what is left of them.
            let ending = LineEnding::of(&shown.text);
            let text = as_lf(&shown.text);
            let Some(rest) = text.strip_prefix(typed.as_ref()) else { continue };
            let rest = ending.apply(rest);
            let rest = rest.as_ref();
            if rest.is_empty() || found.iter().any(|(t, r, _)| t == rest && *r == shown.replace_after) {
                continue;
            }
            if shown.ahead {
                shown.ahead = false;
                mark(router, &shown.row, Outcome::Shown);
            }
            found.push((rest.to_string(), shown.replace_after, shown.row.clone()));
        }
        found
    }

    /// Remembered suggestions as the items of an answer.
    fn remembered_items(&self, remembered: Vec<(String, usize, RowHandle)>, uri: &str) -> Vec<Item> {
        remembered
            .into_iter()
            .map(|(text, replace_after, row)| Item { id: self.show(row, uri), text, replace_after, from_memory: true })
            .collect()
    }

    /// How to wait for the suggestion being worked out ahead for this place, if it is still
    /// coming. One worked out for another place is called off: the user went elsewhere, and it
    /// would compete with this request for the account's limits.
    fn ahead_for(
        &self,
        uri: &str,
        line: usize,
        line_prefix: &str,
        line_suffix: &str,
    ) -> Option<tokio::sync::watch::Receiver<bool>> {
        let mut state = self.docs.get_mut(uri)?;
        let ahead = state.ahead.as_ref()?;
        if ahead.is_for(line, line_prefix, line_suffix) {
            return (!*ahead.done.borrow()).then(|| ahead.done.clone());
        }
        if let Some(ahead) = state.ahead.take() {
            ahead.token.cancel();
        }
        None
    }

    /// Works out, ahead, the suggestion that follows `item` once the user accepts it: the text
    /// the answered document would have with `item` inserted at its cursor is completed at the
    /// item's end, and the answer kept in memory for that place, where accepting `item` brings
    /// the editor's next request
    /// (see [`Query::speculative`]). Nothing happens when `completion.speculate` is off, while
    /// rate-limited, while the document has a request of its own in flight, or when that place
    /// already has a suggestion, remembered or coming. Errors are the next request's to report.
    pub async fn speculate(
        &self,
        router: &Router,
        config: &Config,
        symbols: &(dyn SymbolLookup + Sync),
        at: AnsweredAt,
        item: &Item,
    ) {
        let AnsweredAt { uri, snapshot, path, cursor } = at;
        if !config.completion.speculate || self.is_cooling_down() || item.text.is_empty() {
            return;
        }
        let rope = snapshot.rope();
        let cursor = cursor.min(rope.len_chars());
        let line = rope.char_to_line(cursor);
        let prefix: String = String::from(rope.slice(rope.line_to_char(line)..cursor));
        let suffix: String = line_rest(&snapshot, cursor).chars().skip(item.replace_after).collect();
        // Where the accepted text leaves the cursor, and its line there.
        let (at_line, at_prefix) = match item.text.rsplit_once('\n') {
            Some((before, last)) => (line + before.matches('\n').count() + 1, last.to_string()),
            None => (line, format!("{prefix}{}", item.text)),
        };
        let (tx, done) = tokio::sync::watch::channel(false);
        let token = CancellationToken::new();
        {
            let Some(mut state) = self.docs.get_mut(&uri) else { return };
            let known =
                state.shown.iter().any(|s| s.line == at_line && s.line_prefix == at_prefix && s.line_suffix == suffix);
            let coming =
                state.ahead.as_ref().is_some_and(|a| a.is_for(at_line, &at_prefix, &suffix) && !*a.done.borrow());
            if known || coming || state.inflight.is_some() {
                return;
            }
            if let Some(old) = state.ahead.take() {
                old.token.cancel();
            }
            state.ahead =
                Some(Ahead { line: at_line, line_prefix: at_prefix, line_suffix: suffix, token: token.clone(), done });
        }
        let replaced = cursor..cursor + item.replace_after;
        let text = item.text.clone();
        let source = snapshot.clone();
        let accepted = tokio::task::spawn_blocking(move || crate::text::Document::replaced(&source, replaced, &text));
        let accepted = tokio::select! {
            _ = token.cancelled() => return,
            accepted = accepted => accepted,
        };
        if let Ok(accepted) = accepted {
            let query = Query {
                uri: uri.clone(),
                path,
                snapshot: accepted,
                cursor: cursor + item.text.chars().count(),
                trigger: Trigger::Invoked,
                alternatives: false,
                reparse: None,
                speculative: true,
                retry: None,
            };
            if let Err(e) = self.complete(router, config, symbols, query, token.clone()).await {
                tracing::debug!("no suggestion worked out ahead: {e}");
            }
        }
        // Whoever waits for it looks in memory now.
        let _ = tx.send(true);
    }

    /// A new id for a suggestion about to be shown, which the accept command will name. Only
    /// the most recent [`SHOWN_IDS_KEPT`] are kept: a suggestion is accepted soon after it is
    /// shown, or never.
    fn show(&self, row: RowHandle, uri: &str) -> u64 {
        let id = self.next_id();
        self.shown_rows.insert(id, (row, uri.to_string()));
        if self.shown_rows.len() > 2 * SHOWN_IDS_KEPT {
            let oldest_kept = id.saturating_sub(SHOWN_IDS_KEPT as u64);
            self.shown_rows.retain(|&kept, _| kept > oldest_kept);
        }
        id
    }

    fn is_current(&self, uri: &str, generation: u64) -> bool {
        self.docs.get(uri).is_some_and(|s| s.generation == generation)
    }

    fn is_cooling_down(&self) -> bool {
        let until = *self.cooldown_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }

    fn note_error(&self, e: &ProviderError) {
        if let ProviderError::RateLimited { retry_after, .. } = e {
            *self.cooldown_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + *retry_after);
        }
    }
}

/// The request a completion at `cursor` sends: context, prompt and sampling settings. Pure, so
/// `kimi-lsp prompt` prints exactly what the server would send.
pub struct Prepared {
    pub request: ChatRequest,
    pub multiline: bool,
}

/// Why a document gets no completions at all, whatever the cursor: the user's settings, or a
/// file that is never sent (a secret, binary data) or too large to parse. `path` is the file's
/// absolute path, `None` for a document that is not a file.
pub fn declined(
    config: &Config,
    snap: &DocumentSnapshot,
    path: Option<&Path>,
    symbols: &(dyn SymbolLookup + Sync),
) -> Option<CompletionsOff> {
    // The relative path only matters to `completion.exclude`: without patterns, no root lookup.
    let relative = match path {
        Some(path) if !config.completion.exclude.is_empty() => {
            Some(symbols.workspace_relative(path).unwrap_or_else(|| path.to_path_buf()))
        }
        _ => None,
    };
    if let Some(off) = config.completion.off_for(snap.language_id(), relative.as_deref()) {
        return Some(off);
    }
    if path.is_some_and(crate::secrets::looks_secret) || crate::secrets::uri_looks_secret(snap.uri()) {
        Some(CompletionsOff::Secret)
    } else if snap.is_binary() {
        Some(CompletionsOff::Binary)
    } else if snap.is_too_large() {
        Some(CompletionsOff::TooLarge)
    } else {
        None
    }
}

pub fn prepare_request(
    config: &Config,
    snap: &DocumentSnapshot,
    cursor: usize,
    symbols: &dyn SymbolLookup,
    recent: &[Snippet],
    similar: &SimilarIndex,
) -> Prepared {
    let budget = Budget::default();
    let mut ctx = context::gather(snap, cursor, symbols, recent, &budget);
    // What the settings keep completions out of is kept out of other files' prompts too.
    let exclude = &config.completion.exclude;
    let allowed = |uri: &str| {
        exclude.is_empty() || {
            let path = context::uri_to_path(uri);
            let relative = symbols.workspace_relative(&path).unwrap_or(path);
            exclude.matching(&relative).is_none()
        }
    };
    context::similar_code(&mut ctx, snap, cursor, similar, &allowed, symbols, &budget);
    let prompt = prompt::completion_prompt(&ctx);
    let mut request = ChatRequest::new(config.models.completion.clone(), prompt.messages);
    request.stop = prompt.stop;
    request.max_tokens = Some(if ctx.multiline { 256 } else { 64 });
    request.temperature = Some(config.completion.temperature);
    if thinks_by_default(&request.model) {
        // Reasoning before a completion would cost seconds and tokens for nothing.
        request.thinking = Some(false);
    }
    Prepared { request, multiline: ctx.multiline }
}

fn mark(router: &Router, row: &RowHandle, outcome: Outcome) {
    let (Some(ledger), row) = (router.ledger().cloned(), row.clone()) else { return };
    tokio::task::spawn_blocking(move || set_outcome_once_written(&ledger, &row, outcome));
}

/// Sets a row's outcome; the row is written off-thread too, so this gives it a moment to land.
/// Blocking.
fn set_outcome_once_written(ledger: &crate::ledger::Ledger, row: &RowHandle, outcome: Outcome) {
    for _ in 0..50 {
        if let Some(id) = row.get() {
            if let Err(e) = ledger.set_outcome(id, outcome) {
                tracing::debug!("could not mark the completion {outcome:?}: {e}");
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`mark`], finished before it returns.
async fn mark_now(router: &Router, row: &RowHandle, outcome: Outcome) {
    let (Some(ledger), row) = (router.ledger().cloned(), row.clone()) else { return };
    let _ = tokio::task::spawn_blocking(move || set_outcome_once_written(&ledger, &row, outcome)).await;
}

/// Marks a shown suggestion accepted in the ledger.
pub fn record_accept(router: &Router, row: &RowHandle) {
    mark(router, row, Outcome::Accepted);
}

/// A little longer than the user's typical gap between keystrokes: a burst merges into one
/// call, and the wait after the last key stays short.
fn adaptive_debounce(gaps: &VecDeque<Duration>) -> Duration {
    if gaps.len() < 2 {
        return FIRST_DEBOUNCE;
    }
    let mut sorted: Vec<Duration> = gaps.iter().copied().collect();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    (median * 3 / 2).clamp(MIN_DEBOUNCE, MAX_DEBOUNCE)
}

/// The rest of the cursor's line, without its line break.
fn line_rest(snap: &DocumentSnapshot, cursor: usize) -> String {
    let rope = snap.rope();
    let line = rope.char_to_line(cursor);
    let end = if line + 1 < rope.len_lines() { rope.line_to_char(line + 1) } else { rope.len_chars() };
    let rest: String = String::from(rope.slice(cursor..end));
    rest.trim_end_matches(['\n', '\r']).to_string()
}

/// Models whose thinking is on unless turned off (K2.5 and later generations).
fn thinks_by_default(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    m.starts_with("kimi-k2.5") || m.starts_with("kimi-k2.6") || m.starts_with("kimi-k3")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_cut_by_the_model_is_cut_short_and_one_stopped_by_us_is_not() {
        let document = "fn main() {\n    \n}\n";
        let site = CompletionSite {
            language: crate::text::Language::Rust,
            before: &document[..16],
            after: &document[16..],
            multiline: true,
            original_parses: Some(true),
            document: Some(document),
            line_ending: LineEnding::Lf,
        };
        let choice = |finish: Option<FinishReason>| Choice { finish, ..Choice::new(StopDetector::new(&site)) };
        assert_eq!(choice(None).ended(), Some(Ended::Complete));
        assert_eq!(choice(Some(FinishReason::Stop)).ended(), Some(Ended::Complete));
        assert_eq!(choice(Some(FinishReason::Length)).ended(), Some(Ended::CutShort));
        assert_eq!(choice(Some(FinishReason::ContentFilter)).ended(), None, "filtered: nothing shown");
        // The model ran on past the block's end and out of tokens: the detector's stop stands.
        let mut stopped = choice(None);
        assert!(stopped.feed("let a = 1;\n}\nfn other() {\n"));
        stopped.finish = Some(FinishReason::Length);
        assert_eq!(stopped.ended(), Some(Ended::Complete));
    }

    #[test]
    fn debounce_follows_the_typing_rhythm() {
        let gaps = |ms: &[u64]| ms.iter().map(|m| Duration::from_millis(*m)).collect::<VecDeque<_>>();
        assert_eq!(adaptive_debounce(&gaps(&[])), FIRST_DEBOUNCE);
        assert_eq!(adaptive_debounce(&gaps(&[30, 30, 30])), Duration::from_millis(45));
        assert_eq!(adaptive_debounce(&gaps(&[10, 10, 10])), MIN_DEBOUNCE);
        assert_eq!(adaptive_debounce(&gaps(&[900, 800, 700])), MAX_DEBOUNCE);
    }

    #[test]
    fn the_accept_command_can_name_recent_suggestions_and_old_ids_are_let_go() {
        let engine = CompletionEngine::new();
        let first = engine.show(RowHandle::default(), "file:///a.rs");
        let ids: Vec<u64> =
            (0..3 * SHOWN_IDS_KEPT).map(|_| engine.show(RowHandle::default(), "file:///a.rs")).collect();
        assert!(engine.shown_rows.len() <= 2 * SHOWN_IDS_KEPT, "{}", engine.shown_rows.len());
        assert!(engine.accepted(first).is_none(), "a long-gone suggestion");
        let recent = ids[ids.len() - SHOWN_IDS_KEPT];
        assert!(engine.accepted(recent).is_some());
        assert!(engine.accepted(recent).is_none(), "accepted once");
    }

    #[test]
    fn thinking_models() {
        assert!(thinks_by_default("kimi-k2.5"));
        assert!(thinks_by_default("moonshot/kimi-k3"));
        assert!(!thinks_by_default("kimi-k2-turbo-preview"));
    }
}
