//! Which model answers a task, what the request may carry for that model, and the metering of
//! every request into the usage ledger. Features call the router, never a provider directly, so
//! no request escapes the ledger.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use dashmap::DashSet;
use futures::Stream;

use crate::config::{BudgetSettings, Config};
use crate::ledger::{unix_ms_now, Feature, Ledger, Outcome, SessionSnapshot, TimeRange, UsageRecord};
use crate::providers::error::{format_amount, BudgetPeriod};
use crate::providers::{
    Balance, ChatRequest, ChatResponse, ChatStream, HttpPool, OpenAiCompatible, ProviderError, StreamEvent, Usage,
};

pub struct Router {
    pool: Mutex<HttpPool>,
    ledger: Option<Arc<Ledger>>,
    /// Models that answered "invalid temperature": they get none from now on (K2.5 and its
    /// successors fix their sampling; ids change, so this is learned rather than listed).
    fixed_temperature: DashSet<String>,
    observer: Option<UsageObserver>,
    /// The local day each limit's 80 % warning was last given, so it is given once a day.
    warned: Mutex<HashMap<BudgetPeriod, String>>,
}

/// What the router tells whoever watches usage (the LSP layer turns these into notifications
/// and messages; the router itself knows nothing of editors).
#[derive(Clone, Debug, PartialEq)]
pub enum UsageEvent {
    /// A request was metered; `session` already includes it.
    Recorded { record: UsageRecord, session: SessionSnapshot },
    /// A limit is 80 % used (given once per limit per local day).
    BudgetWarning(BudgetUse),
}

/// Called from a blocking thread right after each ledger write: it must not block for long.
#[derive(Clone)]
pub struct UsageObserver(Arc<dyn Fn(UsageEvent) + Send + Sync>);

impl UsageObserver {
    pub fn new(f: impl Fn(UsageEvent) + Send + Sync + 'static) -> UsageObserver {
        UsageObserver(Arc::new(f))
    }

    fn notify(&self, event: UsageEvent) {
        (self.0)(event)
    }
}

impl std::fmt::Debug for UsageObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageObserver")
    }
}

/// How much of one limit is spent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetUse {
    pub period: BudgetPeriod,
    pub spent: f64,
    pub limit: f64,
}

impl BudgetUse {
    pub fn warning(&self) -> String {
        let share = if self.limit > 0.0 { self.spent / self.limit * 100.0 } else { 100.0 };
        format!(
            "{:.0} % of the {} budget is used: {} spent {} of {}. Requests stop at the limit; \
             raise `{}` in the kimi-lsp settings if you need more.",
            share.floor(),
            self.period.adjective(),
            format_amount(self.spent),
            self.period.span(),
            format_amount(self.limit),
            self.period.setting()
        )
    }
}

/// The share of a limit at which the user is warned.
pub const BUDGET_WARNING_SHARE: f64 = 0.8;

#[derive(Clone, Debug, PartialEq)]
pub enum BudgetDecision {
    Allow,
    /// Allowed, but these limits are at or past 80 %.
    Warn(Vec<BudgetUse>),
    /// A limit is reached: nothing may be sent.
    Refuse(BudgetUse),
}

/// Whether a request may go out, given what was spent today and this month. A limit is
/// reached when the spend equals it, so a limit of 0 stops everything. When both limits are
/// reached the monthly one is named, since raising the daily one alone would not help.
pub fn budget_decision(budget: &BudgetSettings, spent_today: f64, spent_month: f64) -> BudgetDecision {
    let uses = [
        budget.monthly.map(|limit| BudgetUse { period: BudgetPeriod::Monthly, spent: spent_month, limit }),
        budget.daily.map(|limit| BudgetUse { period: BudgetPeriod::Daily, spent: spent_today, limit }),
    ];
    if let Some(reached) = uses.iter().flatten().find(|u| u.spent >= u.limit) {
        return BudgetDecision::Refuse(*reached);
    }
    let mut near: Vec<BudgetUse> =
        uses.into_iter().flatten().filter(|u| u.spent >= u.limit * BUDGET_WARNING_SHARE).collect();
    near.sort_by_key(|u| u.period);
    if near.is_empty() {
        BudgetDecision::Allow
    } else {
        BudgetDecision::Warn(near)
    }
}

impl Router {
    pub fn new(config: &Config, ledger: Option<Arc<Ledger>>) -> Router {
        Router {
            pool: Mutex::new(HttpPool::new(config.timeouts.connect())),
            ledger,
            fixed_temperature: DashSet::new(),
            observer: None,
            warned: Mutex::new(HashMap::new()),
        }
    }

    /// Calls `observer` after every metered request and for budget warnings.
    pub fn with_observer(mut self, observer: UsageObserver) -> Router {
        self.observer = Some(observer);
        self
    }

    /// The ledger at its default place. One that cannot be opened is logged and replaced by an
    /// in-memory one, so the session's totals still work and the server still starts. With
    /// `usageLedger` off nothing is written to disk, but an in-memory ledger still keeps the
    /// session's totals, so budgets and the usage notification keep working.
    pub fn open_ledger(config: &Config) -> Option<Arc<Ledger>> {
        if !config.usage_ledger {
            return Ledger::open_in_memory().ok().map(Arc::new);
        }
        let opened = match Ledger::default_path() {
            Some(path) => {
                Ledger::open(&path).map_err(|e| format!("cannot open the usage ledger at {}: {e}", path.display()))
            }
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

    /// The account balance; `None` where the endpoint keeps none.
    pub async fn balance(&self, config: &Config) -> Result<Option<Balance>, ProviderError> {
        self.client(config).balance().await
    }

    /// Refuses when a budget is used up; warns (once a day per limit) at 80 %. Spend comes
    /// from the ledger, which every kimi-lsp process on the machine writes to.
    async fn check_budget(&self, config: &Config) -> Result<(), ProviderError> {
        let budget = config.budget;
        if budget.daily.is_none() && budget.monthly.is_none() {
            return Ok(());
        }
        let Some(ledger) = self.ledger.clone() else { return Ok(()) };
        let read = {
            let ledger = ledger.clone();
            tokio::task::spawn_blocking(move || {
                Ok::<_, crate::ledger::LedgerError>((
                    ledger.spent(TimeRange::Today)?,
                    ledger.spent(TimeRange::ThisMonth)?,
                ))
            })
            .await
        };
        let (today, month) = match read {
            Ok(Ok(spent)) => spent,
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!("budget checked against this session's spend only: {reason}");
                // This process's own spend is a lower bound that holds without the database.
                let session = ledger.session().cost;
                (session, session)
            }
        };
        match budget_decision(&budget, today, month) {
            BudgetDecision::Allow => Ok(()),
            BudgetDecision::Refuse(u) => {
                tracing::info!(limit = u.period.setting(), spent = u.spent, "request refused by the budget");
                Err(ProviderError::BudgetExceeded { period: u.period, spent: u.spent, limit: u.limit })
            }
            BudgetDecision::Warn(uses) => {
                let Some(observer) = &self.observer else { return Ok(()) };
                let Some(day) = crate::ledger::local_day(unix_ms_now()) else { return Ok(()) };
                for u in uses {
                    let first_today = {
                        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
                        warned.insert(u.period, day.clone()).as_deref() != Some(day.as_str())
                    };
                    if first_today {
                        observer.notify(UsageEvent::BudgetWarning(u));
                    }
                }
                Ok(())
            }
        }
    }

    /// Streams an answer. The returned stream records its usage when it ends, fails, or is
    /// dropped early (as cancelled). A used-up budget refuses before anything is sent.
    pub async fn stream(
        &self,
        config: &Config,
        feature: Feature,
        req: ChatRequest,
    ) -> Result<MeteredStream, ProviderError> {
        self.check_budget(config).await?;
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
            observer: self.observer.clone(),
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
    pub async fn chat(
        &self,
        config: &Config,
        feature: Feature,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
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
    observer: Option<UsageObserver>,
}

impl Meter {
    fn finish(self, usage: Option<&Usage>, outcome: Outcome, error: Option<&str>) {
        let Some(ledger) = self.ledger else { return };
        let (prompt, completion, cached) =
            usage.map_or((0, 0, 0), |u| (u.prompt_tokens as u64, u.completion_tokens as u64, u.cached_tokens as u64));
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
        let observer = self.observer;
        let write = move || {
            match ledger.record(&record) {
                Ok(id) => {
                    let _ = row.set(id);
                }
                Err(e) => tracing::warn!("usage not recorded: {e}"),
            }
            // The session totals count the request even when the database refused it.
            if let Some(observer) = observer {
                let session = ledger.session();
                observer.notify(UsageEvent::Recorded { record, session });
            }
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
                let usage = response.usage;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(daily: Option<f64>, monthly: Option<f64>) -> BudgetSettings {
        BudgetSettings { daily, monthly, check_balance: false }
    }

    #[test]
    fn no_limits_allow_everything() {
        assert_eq!(budget_decision(&budget(None, None), 1e9, 1e9), BudgetDecision::Allow);
    }

    #[test]
    fn a_reached_limit_refuses_and_the_message_says_how_to_raise_it() {
        let decision = budget_decision(&budget(Some(0.001), None), 0.0012, 0.0012);
        let BudgetDecision::Refuse(u) = decision else { panic!("{decision:?}") };
        assert_eq!(u, BudgetUse { period: BudgetPeriod::Daily, spent: 0.0012, limit: 0.001 });
        let e = ProviderError::BudgetExceeded { period: u.period, spent: u.spent, limit: u.limit };
        assert_eq!(
            e.to_string(),
            "The daily budget is used up: 0.0012 spent today of a limit of 0.0010, so the request was not sent. \
             To continue, raise `budget.daily` in the kimi-lsp settings (or remove it for no limit)."
        );
        assert_eq!(e.kind(), "budget_exceeded");
        assert!(!e.allows_fallback());
        // Exactly at the limit is reached; a limit of zero stops everything.
        assert!(matches!(budget_decision(&budget(Some(2.0), None), 2.0, 2.0), BudgetDecision::Refuse(_)));
        assert!(matches!(budget_decision(&budget(Some(0.0), None), 0.0, 0.0), BudgetDecision::Refuse(_)));
    }

    #[test]
    fn the_monthly_limit_is_named_when_both_are_reached() {
        let decision = budget_decision(&budget(Some(1.0), Some(20.0)), 1.5, 25.0);
        assert!(
            matches!(decision, BudgetDecision::Refuse(BudgetUse { period: BudgetPeriod::Monthly, .. })),
            "{decision:?}"
        );
        let decision = budget_decision(&budget(Some(1.0), Some(20.0)), 1.5, 3.0);
        assert!(
            matches!(decision, BudgetDecision::Refuse(BudgetUse { period: BudgetPeriod::Daily, .. })),
            "{decision:?}"
        );
    }

    #[test]
    fn eighty_percent_warns_per_limit() {
        assert_eq!(budget_decision(&budget(Some(1.0), Some(20.0)), 0.79, 15.9), BudgetDecision::Allow);
        let decision = budget_decision(&budget(Some(1.0), Some(20.0)), 0.8, 16.0);
        let BudgetDecision::Warn(uses) = decision else { panic!("{decision:?}") };
        assert_eq!(uses.iter().map(|u| u.period).collect::<Vec<_>>(), [BudgetPeriod::Daily, BudgetPeriod::Monthly]);
        assert_eq!(
            uses[1].warning(),
            "80 % of the monthly budget is used: 16.00 spent this month of 20.00. Requests stop at the \
             limit; raise `budget.monthly` in the kimi-lsp settings if you need more."
        );
    }

    #[test]
    fn the_local_day_is_a_calendar_date() {
        let day = crate::ledger::local_day(unix_ms_now()).expect("SQLite knows the date");
        assert_eq!(day.len(), 10, "{day}");
        assert_eq!(&day[4..5], "-");
    }
}
