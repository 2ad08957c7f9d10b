//! Which model answers a task, what the request may carry for that model, and the metering of
//! every request into the usage ledger. Features call the router, never a provider directly, so
//! no request escapes the ledger.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use dashmap::DashSet;
use futures::Stream;

use crate::config::Config;
use crate::ledger::{unix_ms_now, Feature, Ledger, Outcome, UsageRecord};
use crate::providers::{ChatRequest, ChatResponse, ChatStream, HttpPool, OpenAiCompatible, ProviderError, StreamEvent, Usage};

pub struct Router {
    pool: Mutex<HttpPool>,
    ledger: Option<Arc<Ledger>>,
    /// Models that answered "invalid temperature": they get none from now on (K2.5 and its
    /// successors fix their sampling; ids change, so this is learned rather than listed).
    fixed_temperature: DashSet<String>,
}

impl Router {
    pub fn new(config: &Config, ledger: Option<Arc<Ledger>>) -> Router {
        Router {
            pool: Mutex::new(HttpPool::new(config.timeouts.connect())),
            ledger,
            fixed_temperature: DashSet::new(),
        }
    }

    /// The ledger at its default place. One that cannot be opened is logged and replaced by an
    /// in-memory one, so the session's totals still work and the server still starts.
    pub fn open_ledger(config: &Config) -> Option<Arc<Ledger>> {
        if !config.usage_ledger {
            return None;
        }
        let opened = match Ledger::default_path() {
            Some(path) => Ledger::open(&path).map_err(|e| format!("cannot open the usage ledger at {}: {e}", path.display())),
            None => Err("no data directory for the usage ledger (set KIMI_LSP_DATA_DIR)".to_string()),
        };
        match opened {
            Ok(ledger) => Some(Arc::new(ledger)),
            Err(e) => {
                tracing::warn!("{e}; usage is kept in memory for this session only");
                Ledger::open_in_memory().ok().map(Arc::new)
            }
        }
    }

    pub fn ledger(&self) -> Option<&Arc<Ledger>> {
        self.ledger.as_ref()
    }

    pub fn model(config: &Config, feature: Feature) -> &str {
        match feature {
            Feature::Completion => &config.models.completion,
            Feature::Action => &config.models.action,
            _ => &config.models.chat,
        }
    }

    fn client(&self, config: &Config) -> OpenAiCompatible {
        let pool = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            if pool.connect_timeout() != config.timeouts.connect() {
                *pool = HttpPool::new(config.timeouts.connect());
            }
            pool.clone()
        };
        OpenAiCompatible::with_pool(config.provider_config(), &pool)
    }

    fn prepare(&self, mut req: ChatRequest) -> ChatRequest {
        if self.fixed_temperature.contains(&req.model) {
            req.temperature = None;
            req.top_p = None;
        }
        req
    }

    /// Streams an answer. The returned stream records its usage when it ends, fails, or is
    /// dropped early (as cancelled).
    pub async fn stream(&self, config: &Config, feature: Feature, req: ChatRequest) -> Result<MeteredStream, ProviderError> {
        let client = self.client(config);
        let started = Instant::now();
        let mut req = self.prepare(req);
        let mut result = client.chat_stream(&req).await;
        if let Err(ProviderError::InvalidTemperature { .. }) = &result {
            if req.temperature.is_some() {
                tracing::info!(model = %req.model, "the model fixes its temperature; retrying without one");
                self.fixed_temperature.insert(req.model.clone());
                req = self.prepare(req);
                result = client.chat_stream(&req).await;
            }
        }
        let meter = Meter {
            estimated_prompt_tokens: estimate_tokens(&req),
            ledger: self.ledger.clone(),
            config_prices: config.price_table(),
            feature,
            provider: config.provider_config().name,
            model: req.model.clone(),
            started,
            row: Arc::new(OnceLock::new()),
        };
        match result {
            Ok(inner) => Ok(MeteredStream { inner, meter: Some(meter), row: None }),
            Err(e) => {
                meter.finish(None, Outcome::Error, Some(e.kind()));
                Err(e)
            }
        }
    }

    /// A whole answer, streamed underneath so that timeouts apply between chunks.
    pub async fn chat(&self, config: &Config, feature: Feature, req: ChatRequest) -> Result<ChatResponse, ProviderError> {
        self.stream(config, feature, req).await?.collect().await
    }
}

/// Where a request's ledger row will be, once written (the write happens off the async threads).
#[derive(Clone, Debug, Default)]
pub struct RowHandle(Arc<OnceLock<i64>>);

impl RowHandle {
    pub fn get(&self) -> Option<i64> {
        self.0.get().copied()
    }
}

#[derive(Debug)]
struct Meter {
    /// For streams closed before the usage chunk arrives.
    estimated_prompt_tokens: u64,
    ledger: Option<Arc<Ledger>>,
    config_prices: crate::ledger::PriceTable,
    feature: Feature,
    provider: String,
    model: String,
    started: Instant,
    row: Arc<OnceLock<i64>>,
}

impl Meter {
    fn finish(self, usage: Option<&Usage>, outcome: Outcome, error: Option<&str>) {
        let Some(ledger) = self.ledger else { return };
        let (prompt, completion, cached) = usage.map_or((0, 0, 0), |u| {
            (u.prompt_tokens as u64, u.completion_tokens as u64, u.cached_tokens as u64)
        });
        let record = UsageRecord {
            at_unix_ms: unix_ms_now(),
            feature: self.feature,
            provider: self.provider,
            cost: self.config_prices.cost(&self.model, prompt, completion, cached),
            model: self.model,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            latency_ms: self.started.elapsed().as_millis() as u64,
            outcome,
            error: error.map(str::to_string),
        };
        let row = self.row;
        let write = move || match ledger.record(&record) {
            Ok(id) => {
                let _ = row.set(id);
            }
            Err(e) => tracing::warn!("usage not recorded: {e}"),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(write);
            }
            Err(_) => write(),
        }
    }
}

/// A [`ChatStream`] that records its usage exactly once.
#[derive(Debug)]
pub struct MeteredStream {
    inner: ChatStream,
    meter: Option<Meter>,
    row: Option<RowHandle>,
}

impl MeteredStream {
    /// The ledger row of this request (filled in once the answer is complete and written).
    pub fn row(&mut self) -> RowHandle {
        match (&self.meter, &self.row) {
            (Some(m), _) => RowHandle(m.row.clone()),
            (None, Some(r)) => r.clone(),
            (None, None) => RowHandle::default(),
        }
    }

    pub async fn collect(mut self) -> Result<ChatResponse, ProviderError> {
        use futures::StreamExt;
        while let Some(event) = self.next().await {
            if let StreamEvent::Done(response) = event? {
                return Ok(response);
            }
        }
        Err(ProviderError::StreamDropped { host: String::new(), received: 0, detail: None, request_id: None })
    }

    /// The caller has what it needs and closes the stream before the final chunk, which is the
    /// only one that carries usage (Moonshot reports it in `choices[0]` of the last chunk). The
    /// tokens are estimated so that spend is not under-reported.
    pub fn stop_early(&mut self, completion_text: &str) {
        let outcome = if self.meter.as_ref().is_some_and(|m| m.feature == Feature::Completion) {
            Outcome::Shown
        } else {
            Outcome::Ok
        };
        let prompt = self.meter.as_ref().map_or(0, |m| m.estimated_prompt_tokens);
        let completion = (completion_text.chars().count() as u64).div_ceil(4);
        let usage = Usage {
            prompt_tokens: prompt as u32,
            completion_tokens: completion as u32,
            total_tokens: (prompt + completion) as u32,
            cached_tokens: 0,
        };
        self.settle(Some(&usage), outcome, None);
    }

    fn settle(&mut self, usage: Option<&Usage>, outcome: Outcome, error: Option<&str>) {
        if let Some(meter) = self.meter.take() {
            self.row = Some(RowHandle(meter.row.clone()));
            meter.finish(usage, outcome, error);
        }
    }
}

impl Stream for MeteredStream {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(StreamEvent::Done(response)))) => {
                let outcome = if self.meter.as_ref().is_some_and(|m| m.feature == Feature::Completion) {
                    Outcome::Shown
                } else {
                    Outcome::Ok
                };
                let usage = response.usage.clone();
                self.settle(usage.as_ref(), outcome, None);
            }
            Poll::Ready(Some(Err(e))) => {
                let kind = e.kind();
                self.settle(None, Outcome::Error, Some(kind));
            }
            Poll::Ready(None) => self.settle(None, Outcome::Error, Some("stream_dropped")),
            _ => {}
        }
        polled
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        // Dropped before the end: the caller stopped reading (cancelled, superseded, or it had
        // what it needed). Tokens already generated are billed but not reported to us.
        self.settle(None, Outcome::Cancelled, None);
    }
}

/// About four characters a token: Moonshot's tokenizer on code and English text. Used only
/// where the real count never arrives.
fn estimate_tokens(req: &ChatRequest) -> u64 {
    let chars: usize = req.messages.iter().map(|m| m.text_len()).sum();
    (chars as u64).div_ceil(4)
}
