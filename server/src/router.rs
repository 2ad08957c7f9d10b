//! Which model answers a task, what the request may carry for that model, and the metering of
//! every request into the usage ledger. Features call the router, never a provider directly, so
//! no request escapes the ledger.
//!
//! Routing (docs/providers.md): a task's route is a model and an ordered fallback list; rules
//! pick another route by what the request carries (prompt size, images, "think harder"); a
//! custom action may name its own. Errors another model can fix (overloaded, rate limited, 5xx,
//! timeouts) move to the next model, but only before anything was streamed: the router returns
//! once the first event has arrived, so a switch is never visible inside one answer. Errors about
//! the account or the request (key, balance, content filter) are returned as they are. When no
//! model is left to fall back to, a transient error is retried as `kimi-api.md` prescribes
//! ([`retry_policy`]), also only before the first event. A request too long for the model's
//! context is shrunk by the feature that made it ([`Shrink`]) and sent once more. Every attempt
//! is a row in the ledger.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use dashmap::{DashMap, DashSet};
use futures::Stream;

use crate::config::{
    BudgetSettings, Config, ModelRef, PrefillSetting, PriceSetting, ResolvedProvider, TlsSettings, DEFAULT_PROVIDER,
};
use crate::ledger::{unix_ms_now, Feature, Ledger, Outcome, PriceTable, SessionSnapshot, TimeRange, UsageRecord};
use crate::providers::error::{format_amount, host_of, BudgetPeriod, Platform};
use crate::providers::{
    Balance, ChatRequest, ChatResponse, ChatStream, ContentPart, HttpPool, Message, ModelInfo, Prefill, ProviderClient,
    ProviderConfig, ProviderError, ProviderKind, Retries, RetryPolicy, StreamBody, StreamEvent, Usage,
};

pub struct Router {
    pool: Mutex<HttpPool>,
    ledger: Option<Arc<Ledger>>,
    /// Models that answered "invalid temperature": they get none from now on (K2.5 and its
    /// successors fix their sampling; ids change, so this is learned rather than listed).
    fixed_temperature: DashSet<String>,
    /// Models that refused a request for several choices (`n` > 1; K2.5 fixes `n` at 1): they
    /// are asked for one from now on. Learned for the same reason as `fixed_temperature`.
    single_choice: DashSet<String>,
    observer: Option<UsageObserver>,
    /// The local day each limit's 80 % warning was last given, so it is given once a day.
    warned: Mutex<HashMap<BudgetPeriod, String>>,
    /// Configured models a provider answered 404 for, and the model it lists that replaces each.
    replacements: DashMap<(String, ModelRef), String>,
    /// Each provider's `/models`, asked once per base URL and process.
    listed: DashMap<(String, String), Arc<Vec<ModelInfo>>>,
    /// When a provider's `/models` failed, asked for the way completions prefill
    /// ([`Router::learn_prefill`]): not asked again for that reason for [`UNLISTED_FOR`].
    unlisted: DashMap<(String, String), Instant>,
    /// Each provider's client with the settings it was built from. A client parses its URLs once
    /// and keeps what it learns about models (refused prefills); a request whose settings
    /// resolve differently (changed settings, key or connect timeout) gets a new one.
    clients: Mutex<HashMap<String, BuiltClient>>,
    /// The price table with the `prices` setting it was built from.
    prices: Mutex<Option<BuiltPrices>>,
}

type BuiltClient = Built<(ProviderKind, ProviderConfig, TlsSettings), ProviderClient>;
type BuiltPrices = Built<HashMap<String, PriceSetting>, Arc<PriceTable>>;

/// Something built from settings, kept with a copy of them: comparing settings costs far less
/// than building again, and needs no word from whoever replaces the `Config`.
struct Built<S, T> {
    from: S,
    value: T,
}

/// What the user asked for beyond the request itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteHint {
    /// "Think harder" on an action or chat message: rules with `thinkHarder = true` apply.
    pub think_harder: bool,
    /// A custom action's `model`: a route name, or a model that replaces the task route's first.
    pub model: Option<String>,
}

/// What a request carries that rules look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Estimated at four characters a token.
    pub prompt_tokens: u64,
    pub images: bool,
    pub think_harder: bool,
}

impl Signals {
    pub fn of(req: &ChatRequest, hint: &RouteHint) -> Signals {
        let images = req.messages.iter().any(|m| match &m.content {
            crate::providers::Content::Parts(parts) => parts.iter().any(|p| matches!(p, ContentPart::ImageUrl(_))),
            crate::providers::Content::Text(_) => false,
        });
        Signals { prompt_tokens: estimate_tokens(req), images, think_harder: hint.think_harder }
    }
}

/// The models a request tries, in order, and which route they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePlan {
    pub route: String,
    pub models: Vec<ModelRef>,
    /// Why this route: "rule 2 (images)", "custom action", or empty for the task's own.
    pub reason: String,
}

/// A request made ready to send by [`Router::ready`].
#[derive(Debug)]
pub struct ReadyStream {
    feature: Feature,
    req: ChatRequest,
    plan: RoutePlan,
    prompt_tokens: u64,
    /// The first model's body, if it could be built.
    body: Option<Prebuilt>,
    retry: RetryPolicy,
    shrink: Option<Arc<dyn Shrink>>,
}

impl ReadyStream {
    /// Retries transient errors as `policy` says rather than as the task's [`retry_policy`]
    /// does: the terminal's `complete`, a completion nobody types on, retries.
    pub fn with_retry(mut self, policy: RetryPolicy) -> ReadyStream {
        self.retry = policy;
        self
    }

    /// Shrinks the request with `shrink` and sends it once more when the model answers that it
    /// does not fit its context; without one, that answer is returned as it is.
    pub fn with_shrink(mut self, shrink: Arc<dyn Shrink>) -> ReadyStream {
        self.shrink = Some(shrink);
        self
    }
}

/// What a feature may leave out of its request when the model answers that prompt and answer do
/// not fit its context (kimi-api.md: "shrink the context and retry once"). Only the feature knows
/// which of its messages matter least; the router decides how much has to go and sends the
/// smaller request, once.
pub trait Shrink: Send + Sync + std::fmt::Debug {
    /// `messages` (what was sent) with at most `fit.chars` characters of text, by leaving out
    /// what matters least. `None` when that cannot be done without leaving out what must be
    /// sent: the request is then not sent again, and the user reads [`Shrink::advice`].
    fn shrink(&self, messages: &[Message], fit: &Fit) -> Option<Vec<Message>>;

    /// What the user can do about a request too long for the model: what to send less of, and
    /// the setting that picks a model with a longer context.
    fn advice(&self) -> String;
}

/// How much of a request's text a smaller one may keep, worked out from the model's overflow
/// answer ([`remedy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// The model's context, in its tokens.
    pub limit: u32,
    /// What the refused request needed, as the model counted it.
    pub requested: u32,
    /// The most characters of message text ([`Message::text_len`]) the smaller request may hold.
    pub chars: usize,
}

/// What is done about a context overflow before the one retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// The prompt fits with room for at least half the answer asked for: only `max_tokens` is
    /// lowered, to this, and nothing is left out.
    LowerMaxTokens(u32),
    /// The prompt has to shrink, to `fit`; the answer keeps `max_tokens` (lowered only where it
    /// asked for more than half the context).
    Shrink { fit: Fit, max_tokens: Option<u32> },
}

/// Tokens kept free below the limit: 1 % of the context and a little, in case the server's
/// `requested` is not exactly prompt plus `max_tokens`.
fn overflow_margin(limit: u32) -> u32 {
    limit / 100 + 16
}

/// Characters per token differ between the parts of a prompt (code, prose, JSON), and a feature
/// leaves out whole parts: the smaller request aims a tenth below what would just fit.
const SHRINK_HEADROOM: f64 = 0.9;

/// What to do about an overflow of a request with `max_tokens` whose messages hold `text_chars`
/// characters of text, next to `fixed_chars` that no feature can shrink (tool declarations,
/// reasoning sent back). `requested` is the model's count; with `counts_answer` it includes
/// `max_tokens`. The model's own count converts tokens into characters, so a tokenizer that
/// counts more than the features' estimates still gets a request that fits. Pure.
pub fn remedy(
    limit: u32,
    requested: u32,
    counts_answer: bool,
    max_tokens: Option<u32>,
    text_chars: usize,
    fixed_chars: usize,
) -> Remedy {
    let prompt = if counts_answer { requested.saturating_sub(max_tokens.unwrap_or(0)) } else { requested };
    let margin = overflow_margin(limit);
    let room = limit.saturating_sub(prompt).saturating_sub(margin);
    if let Some(asked) = max_tokens {
        if prompt < limit && room > 0 && room < asked && room >= asked / 2 {
            return Remedy::LowerMaxTokens(room);
        }
    }
    // An answer asked for more than half the context would leave too little for the prompt.
    let answer = max_tokens.map(|m| m.min(limit / 2));
    let target_tokens = limit.saturating_sub(answer.unwrap_or(0)).saturating_sub(margin);
    let total_chars = (text_chars + fixed_chars) as f64;
    let chars_per_token = total_chars / f64::from(prompt.max(1));
    let target_chars = f64::from(target_tokens) * chars_per_token * SHRINK_HEADROOM;
    let chars = (target_chars - fixed_chars as f64).max(0.0).min(text_chars as f64) as usize;
    Remedy::Shrink { fit: Fit { limit, requested, chars }, max_tokens: answer }
}

/// The characters of a request no feature can shrink: its tool declarations and the reasoning it
/// sends back.
fn fixed_chars(req: &ChatRequest) -> usize {
    let tools = if req.tools.is_empty() { 0 } else { serde_json::to_string(&req.tools).map_or(0, |t| t.len()) };
    let reasoning: usize = req.messages.iter().filter_map(|m| m.reasoning_content.as_ref()).map(String::len).sum();
    tools + reasoning
}

/// A body built ahead, with what it was built for: it is sent only to that provider and model
/// with those sampling settings (a model that fixes its temperature, learned meanwhile from
/// another answer, gets a body built anew).
#[derive(Debug)]
struct Prebuilt {
    provider: String,
    model: String,
    sampling: Sampling,
    body: StreamBody,
}

impl Prebuilt {
    fn fits(&self, provider: &str, req: &ChatRequest) -> bool {
        self.provider == provider && self.model == req.model && self.sampling == Sampling::of(req)
    }
}

/// The settings [`Router::aim`] may take off a request for a model that does not accept them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sampling {
    temperature: Option<f32>,
    top_p: Option<f32>,
    n: Option<u32>,
    prefill: Prefill,
}

impl Sampling {
    fn of(req: &ChatRequest) -> Sampling {
        Sampling { temperature: req.temperature, top_p: req.top_p, n: req.n, prefill: req.prefill }
    }

    fn restore(self, req: &mut ChatRequest) {
        (req.temperature, req.top_p, req.n, req.prefill) = (self.temperature, self.top_p, self.n, self.prefill);
    }
}

/// How long a provider whose `/models` failed is not asked again for the way it prefills: a
/// server without the route is not asked before every completion, one that was down is asked
/// again later.
const UNLISTED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// How completions ask `provider` to continue the text before the cursor, for `model`, given
/// its `/models` when known. `auto` is partial mode on Moonshot's platform; on other servers
/// it is what the model's `owned_by` says serves it: vLLM and SGLang continue a message only when
/// told with `continue_final_message`, and every other server seen (Moonshot, llama.cpp's
/// server, Ollama, OpenRouter) either takes `partial` or continues a trailing assistant message
/// as it is. Pure.
pub fn prefill_for(provider: &ResolvedProvider, model: &str, listed: Option<&[ModelInfo]>) -> Prefill {
    match provider.prefill {
        PrefillSetting::Partial => Prefill::Partial,
        PrefillSetting::ContinueFinalMessage => Prefill::ContinueFinalMessage,
        PrefillSetting::Auto => {
            let Some(listed) = listed else { return Prefill::Partial };
            let entry = listed.iter().find(|m| m.id == model).or(listed.first());
            match entry.and_then(|m| m.owned_by.as_deref()) {
                Some(owner) if owner.eq_ignore_ascii_case("vllm") || owner.eq_ignore_ascii_case("sglang") => {
                    Prefill::ContinueFinalMessage
                }
                _ => Prefill::Partial,
            }
        }
    }
}

/// Whether the way `provider` prefills depends on its `/models`: `auto` on a server other than
/// Moonshot's platform (whose partial mode is documented), for a kind with OpenAI's wire (the
/// Anthropic wire prefills one way only).
pub(crate) fn prefill_needs_listing(provider: &ResolvedProvider) -> bool {
    provider.prefill == PrefillSetting::Auto
        && provider.kind != ProviderKind::Anthropic
        && Platform::of_host(&host_of(&provider.config.base_url)).is_none()
}

/// Where a provider's `/models` is kept: per name and base URL, since a changed URL is another server.
fn listing_key(provider: &ResolvedProvider) -> (String, String) {
    (provider.name.clone(), provider.config.base_url.clone())
}

/// How a task's requests are retried when the last model of their route fails with an error that
/// waiting can fix (`kimi-api.md`: a rate limit after its stated wait, overload, 5xx and timeouts
/// with backoff, "invalid state transition" once; never a key, balance, filter or bad request).
///
/// Code actions and chat are asked for once and waited for: a retry within a few seconds beats an
/// error. Inline completions are not retried: one is superseded by the next keystroke, a retry
/// would answer a document that has moved on, and each one spends the account's requests per
/// minute that the next keystroke needs; after a rate limit the completion engine instead
/// sends no automatic request until the stated wait is over (its cool-down). A completion the
/// user waits for on purpose sets its own policy ([`ReadyStream::with_retry`]).
pub fn retry_policy(feature: Feature) -> RetryPolicy {
    match feature {
        Feature::Completion => RetryPolicy::NEVER,
        Feature::Action | Feature::Chat | Feature::Doctor | Feature::Other => RetryPolicy::default(),
    }
}

/// The route of a task.
pub fn task_route(feature: Feature) -> &'static str {
    match feature {
        Feature::Completion => "completion",
        Feature::Action => "action",
        _ => "chat",
    }
}

/// Chooses the models for a request: a custom action's own model or route first, then the first
/// rule whose conditions all hold, else the task's route with `requested` (the model the feature
/// put in the request, normally the route's own) first. Pure, so every rule is unit-tested.
pub fn plan(config: &Config, feature: Feature, hint: &RouteHint, signals: Signals, requested: &str) -> RoutePlan {
    let task = task_route(feature);
    let with_task_fallbacks = |first: ModelRef| {
        let mut models = vec![first];
        for m in config.route_models(task).into_iter().skip(1) {
            if !models.contains(&m) {
                models.push(m);
            }
        }
        models
    };
    if let Some(wanted) = hint.model.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        let named_route = config.routes.get(wanted).is_some_and(|r| r.model.is_some())
            || crate::config::TASK_ROUTES.contains(&wanted);
        if named_route {
            return RoutePlan {
                route: wanted.to_string(),
                models: config.route_models(wanted),
                reason: "custom action".into(),
            };
        }
        return RoutePlan {
            route: task.to_string(),
            models: with_task_fallbacks(config.model_ref(wanted)),
            reason: "custom action".into(),
        };
    }
    for (n, rule) in config.rules.iter().enumerate() {
        if !rule.tasks.is_empty() && !rule.tasks.contains(&feature) {
            continue;
        }
        let mut why = Vec::new();
        if let Some(limit) = rule.prompt_tokens_above {
            if signals.prompt_tokens <= limit {
                continue;
            }
            why.push("long prompt");
        }
        if let Some(images) = rule.images {
            if signals.images != images {
                continue;
            }
            why.push(if images { "images" } else { "no images" });
        }
        if let Some(think) = rule.think_harder {
            if signals.think_harder != think {
                continue;
            }
            why.push(if think { "think harder" } else { "not think harder" });
        }
        let models = config.route_models(&rule.route);
        if models.is_empty() {
            continue;
        }
        return RoutePlan { route: rule.route.clone(), models, reason: format!("rule {} ({})", n + 1, why.join(", ")) };
    }
    let models = match requested.trim() {
        "" => config.route_models(task),
        first => with_task_fallbacks(config.model_ref(first)),
    };
    RoutePlan { route: task.to_string(), models, reason: String::new() }
}

/// A model the provider lists in place of a configured one it no longer serves: the one sharing
/// the most leading name segments (`kimi-k2-…`), then the same speed and thinking traits (a fast
/// non-thinking model stays one), then the newest-sorting id. `None` when no listed model shares
/// even the family's first segment.
pub fn pick_replacement(wanted: &str, available: &[String]) -> Option<String> {
    let segments = |id: &str| id.to_ascii_lowercase().split(['-', '/', '_']).map(str::to_string).collect::<Vec<_>>();
    let want = segments(wanted);
    let has = |segs: &[String], word: &str| segs.iter().any(|s| s == word);
    let traits = |segs: &[String]| [(has(segs, "thinking"), 2), (has(segs, "turbo"), 1), (has(segs, "vision"), 1)];
    let want_traits = traits(&want);
    available
        .iter()
        .filter(|id| !id.eq_ignore_ascii_case(wanted))
        .filter_map(|id| {
            let segs = segments(id);
            let common = want.iter().zip(&segs).take_while(|(a, b)| a == b).count();
            if common == 0 {
                return None;
            }
            let alike: u32 =
                traits(&segs).iter().zip(&want_traits).filter(|((a, _), (b, _))| a == b).map(|((_, w), _)| *w).sum();
            Some(((common, alike, id.clone()), id))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, id)| id.clone())
}

/// What the router tells whoever watches usage (the LSP layer turns these into notifications
/// and messages; the router itself knows nothing of editors).
#[derive(Clone, Debug, PartialEq)]
pub enum UsageEvent {
    /// A request was metered; `session` already includes it.
    Recorded { record: UsageRecord, session: SessionSnapshot },
    /// A limit is 80 % used (given once per limit per local day).
    BudgetWarning(BudgetUse),
    /// A configured model is gone (404) and a listed one answers instead (given once per model).
    ModelReplaced { feature: Feature, from: String, to: String, host: String },
}

impl UsageEvent {
    /// The sentence the user is shown for a replaced model.
    pub fn replacement_message(feature: Feature, from: &str, to: &str, host: &str) -> String {
        format!(
            "the model `{from}` is not served by {host} any more, so `{to}` (the closest it lists) answers {} \
             requests instead. Set the model in the settings to one that is served (`kimi-lsp doctor` lists them) \
             to choose another.",
            feature.as_str()
        )
    }
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
            pool: Mutex::new(HttpPool::new(config.timeouts.connect(), &config.tls.ca_files())),
            ledger,
            fixed_temperature: DashSet::new(),
            single_choice: DashSet::new(),
            observer: None,
            warned: Mutex::new(HashMap::new()),
            replacements: DashMap::new(),
            listed: DashMap::new(),
            unlisted: DashMap::new(),
            clients: Mutex::new(HashMap::new()),
            prices: Mutex::new(None),
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

    /// The model a task's requests go to first when no rule applies.
    pub fn model(config: &Config, feature: Feature) -> &str {
        match feature {
            Feature::Completion => &config.models.completion,
            Feature::Action => &config.models.action,
            _ => &config.models.chat,
        }
    }

    fn pool(&self, config: &Config) -> HttpPool {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let ca_files = config.tls.ca_files();
        if !pool.serves(config.timeouts.connect(), &ca_files) {
            *pool = HttpPool::new(config.timeouts.connect(), &ca_files);
        }
        pool.clone()
    }

    fn client(&self, config: &Config, provider: &ResolvedProvider) -> ProviderClient {
        {
            let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(built) = clients.get(&provider.name) {
                let (kind, settings, tls) = &built.from;
                if *kind == provider.kind && *settings == provider.config && *tls == config.tls {
                    return built.value.clone();
                }
            }
        }
        let client = ProviderClient::new(provider.kind, provider.config.clone(), &self.pool(config));
        let built = Built { from: (provider.kind, provider.config.clone(), config.tls.clone()), value: client.clone() };
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).insert(provider.name.clone(), built);
        client
    }

    fn price_table(&self, config: &Config) -> Arc<PriceTable> {
        let mut cached = self.prices.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some(built) if built.from == config.prices => built.value.clone(),
            _ => {
                let table = Arc::new(config.price_table());
                *cached = Some(Built { from: config.prices.clone(), value: table.clone() });
                table
            }
        }
    }

    /// The account balance of the built-in provider; `None` where the endpoint keeps none.
    pub async fn balance(&self, config: &Config) -> Result<Option<Balance>, ProviderError> {
        let Some(provider) = config.provider(DEFAULT_PROVIDER) else { return Ok(None) };
        self.client(config, &provider).balance().await
    }

    /// The model (as settings name it) a request of this task would go to first, for features
    /// that check capabilities before they build the request.
    pub fn route_model(&self, config: &Config, feature: Feature, hint: &RouteHint, images: bool) -> String {
        let signals = Signals { prompt_tokens: 0, images, think_harder: hint.think_harder };
        let plan = plan(config, feature, hint, signals, "");
        plan.models
            .first()
            .map(|m| self.effective(config, m).display())
            .unwrap_or_else(|| Router::model(config, feature).into())
    }

    /// A configured model, or the one replacing it after its provider (at its current base URL)
    /// answered 404.
    fn effective(&self, config: &Config, m: &ModelRef) -> ModelRef {
        if self.replacements.is_empty() {
            return m.clone();
        }
        let Some(provider) = config.provider(&m.provider) else { return m.clone() };
        match self.replacements.get(&(provider.config.base_url, m.clone())) {
            Some(model) => ModelRef { provider: m.provider.clone(), model: model.clone() },
            None => m.clone(),
        }
    }

    /// What a model can do: the provider's `/models` entry (asked once per process), with the
    /// provider's `models.<id>` settings over it. `None` when neither knows the model.
    pub async fn model_info(&self, config: &Config, model: &str) -> Option<ModelInfo> {
        let r = config.model_ref(model);
        let provider = config.provider(&r.provider)?;
        let listed = self.listed_models(config, &provider).await;
        let mut info = listed.iter().find(|m| m.id == r.model).cloned();
        if let Some(setting) = provider.models.get(&r.model) {
            let i = info.get_or_insert_with(|| ModelInfo {
                id: r.model.clone(),
                owned_by: None,
                context_length: None,
                supports_image_in: None,
                supports_video_in: None,
                supports_reasoning: None,
            });
            i.context_length = setting.context_tokens.or(i.context_length);
            i.supports_image_in = setting.images.or(i.supports_image_in);
            i.supports_reasoning = setting.reasoning.or(i.supports_reasoning);
        }
        info
    }

    /// Asks `provider` for its `/models` once when the way it prefills depends on them
    /// ([`prefill_for`]), before its first completion: a server that would end the prefilled
    /// message and start an answer of its own must not get the first requests that way.
    async fn learn_prefill(&self, config: &Config, provider: &ResolvedProvider) {
        if !prefill_needs_listing(provider) {
            return;
        }
        let key = listing_key(provider);
        if self.listed.contains_key(&key) || self.unlisted.get(&key).is_some_and(|at| at.elapsed() < UNLISTED_FOR) {
            return;
        }
        self.listed_models(config, provider).await;
        if self.listed.contains_key(&key) {
            self.unlisted.remove(&key);
        } else {
            self.unlisted.insert(key, Instant::now());
        }
    }

    async fn listed_models(&self, config: &Config, provider: &ResolvedProvider) -> Arc<Vec<ModelInfo>> {
        let key = listing_key(provider);
        if let Some(known) = self.listed.get(&key) {
            return known.clone();
        }
        let listed = match self.client(config, provider).models().await {
            Ok(list) => Arc::new(list),
            Err(e) => {
                tracing::debug!(provider = %provider.name, "no model list: {e}");
                // Not remembered: a provider that was down may list its models later.
                return Arc::new(Vec::new());
            }
        };
        self.listed.insert(key, listed.clone());
        listed
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

    /// Streams an answer from the task's route. The returned stream records its usage when it
    /// ends, fails, or is dropped early (as cancelled). A used-up budget refuses before anything
    /// is sent.
    pub async fn stream(
        &self,
        config: &Config,
        feature: Feature,
        req: ChatRequest,
    ) -> Result<MeteredStream, ProviderError> {
        self.stream_routed(config, feature, &RouteHint::default(), req).await
    }

    /// [`Router::stream`] with what the user asked for besides the request: "think harder", a
    /// custom action's model. Tries the route's models in order while the errors are ones
    /// another model can fix; the first answer that starts streaming is returned.
    pub async fn stream_routed(
        &self,
        config: &Config,
        feature: Feature,
        hint: &RouteHint,
        req: ChatRequest,
    ) -> Result<MeteredStream, ProviderError> {
        let ready = self.ready(config, feature, hint, req).await?;
        self.send_ready(config, ready).await
    }

    /// [`Router::stream_routed`] for a request the feature knows how to shrink: one the model
    /// finds too long for its context is shrunk with `shrink` and sent once more
    /// ([`ReadyStream::with_shrink`]).
    pub async fn stream_shrinking(
        &self,
        config: &Config,
        feature: Feature,
        hint: &RouteHint,
        req: ChatRequest,
        shrink: Arc<dyn Shrink>,
    ) -> Result<MeteredStream, ProviderError> {
        let ready = self.ready(config, feature, hint, req).await?.with_shrink(shrink);
        self.send_ready(config, ready).await
    }

    /// The part of [`Router::stream_routed`] that comes before the network: the budget
    /// checked, the route planned, the first model's body built. A completion does it while it
    /// waits out its debounce, so that only the sending is left for when the wait ends.
    pub async fn ready(
        &self,
        config: &Config,
        feature: Feature,
        hint: &RouteHint,
        mut req: ChatRequest,
    ) -> Result<ReadyStream, ProviderError> {
        self.check_budget(config).await?;
        let signals = Signals::of(&req, hint);
        let plan = plan(config, feature, hint, signals, &req.model);
        if !plan.reason.is_empty() {
            tracing::debug!(route = %plan.route, reason = %plan.reason, "routed");
        }
        let body =
            plan.models.first().and_then(|first| self.body_for(config, &self.effective(config, first), &mut req));
        let retry = retry_policy(feature);
        Ok(ReadyStream { feature, req, plan, prompt_tokens: signals.prompt_tokens, body, retry, shrink: None })
    }

    /// Sends what [`Router::ready`] prepared: the route's models in order, as
    /// [`Router::stream_routed`] says. An error another model can fix moves on to the next
    /// model at once (the user configured it to answer rather than wait); the last model, or the
    /// only one, is retried as the request's [`RetryPolicy`] allows, waiting what the error asks.
    /// A request the model finds too long for its context is, when the feature gave a [`Shrink`],
    /// made smaller as [`remedy`] says and sent once more; a second overflow, or nothing left to
    /// leave out, is [`ProviderError::TooLong`]. Dropping the returned future (a cancelled
    /// request) ends a wait, or the retry, at once.
    pub async fn send_ready(&self, config: &Config, ready: ReadyStream) -> Result<MeteredStream, ProviderError> {
        let ReadyStream { feature, mut req, plan, prompt_tokens, mut body, retry, shrink } = ready;
        let mut retries = Retries::new(retry);
        let first = self.send_route(config, feature, &plan, &mut req, prompt_tokens, &mut body, &mut retries).await;
        let overflow = match &first {
            Err(ProviderError::ContextOverflow { limit, requested, counts_answer, request_id }) => {
                Some((*limit, *requested, *counts_answer, request_id.clone()))
            }
            _ => None,
        };
        let (Some(shrink), Some((limit, requested, counts_answer, request_id))) = (shrink, overflow) else {
            return first;
        };
        let too_long = |model: &str, limit, requested, shrunk, request_id| ProviderError::TooLong {
            model: model.to_string(),
            limit,
            requested,
            shrunk,
            advice: shrink.advice(),
            request_id,
        };
        let text_chars: usize = req.messages.iter().map(Message::text_len).sum();
        match remedy(limit, requested, counts_answer, req.max_tokens, text_chars, fixed_chars(&req)) {
            Remedy::LowerMaxTokens(max_tokens) => {
                tracing::info!(
                    model = %req.model,
                    limit,
                    requested,
                    max_tokens,
                    "too long for the model's context by the answer's room only: lowering max_tokens and retrying once"
                );
                req.max_tokens = Some(max_tokens);
            }
            Remedy::Shrink { fit, max_tokens } => {
                let Some(messages) = shrink.shrink(&req.messages, &fit) else {
                    tracing::info!(model = %req.model, limit, requested, "too long for the model's context, and nothing can be left out");
                    return Err(too_long(&req.model, limit, requested, false, request_id));
                };
                tracing::info!(
                    model = %req.model,
                    limit,
                    requested,
                    chars = fit.chars,
                    "too long for the model's context: shrinking the request and retrying once"
                );
                req.messages = messages;
                req.max_tokens = max_tokens;
            }
        }
        let prompt_tokens = estimate_tokens(&req);
        let mut body = None;
        match self.send_route(config, feature, &plan, &mut req, prompt_tokens, &mut body, &mut retries).await {
            Err(ProviderError::ContextOverflow { limit, requested, request_id, .. }) => {
                Err(too_long(&req.model, limit, requested, true, request_id))
            }
            other => other,
        }
    }

    /// The route's models in order for one request, each retried as `retries` allows.
    #[allow(clippy::too_many_arguments)]
    async fn send_route(
        &self,
        config: &Config,
        feature: Feature,
        plan: &RoutePlan,
        req: &mut ChatRequest,
        prompt_tokens: u64,
        body: &mut Option<Prebuilt>,
        retries: &mut Retries,
    ) -> Result<MeteredStream, ProviderError> {
        let mut last = None;
        // What the models fallen back from said, for the last one's error: advice to configure
        // a fallback would be wrong once one was tried.
        let mut tried: Vec<String> = Vec::new();
        for (n, planned) in plan.models.iter().enumerate() {
            loop {
                // Again for each retry: a model found gone (404) meanwhile is asked no more.
                let target = self.effective(config, planned);
                match self.attempt(config, feature, &target, req, prompt_tokens, body).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) if e.allows_fallback() && n + 1 < plan.models.len() => {
                        tracing::warn!(
                            model = %target.display(),
                            next = %self.effective(config, &plan.models[n + 1]).display(),
                            kind = e.kind(),
                            "falling back to the next model of route `{}`: {e}",
                            plan.route
                        );
                        tried.push(format!("{} ({})", target.display(), e.kind().replace('_', " ")));
                        last = Some(e);
                        break;
                    }
                    Err(e) => match retries.next_wait(&e) {
                        Some(wait) => {
                            tracing::info!(
                                model = %target.display(),
                                kind = e.kind(),
                                wait_ms = wait.as_millis() as u64,
                                "retrying: {e}"
                            );
                            tokio::time::sleep(wait).await;
                        }
                        None => return Err(e.after_fallbacks(tried)),
                    },
                }
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::Unsendable {
            reason: format!(
                "route `{}` has no model; set `models.{}` or `routes.{}.model`",
                plan.route,
                task_route(feature),
                plan.route
            ),
        }))
    }

    /// The body [`Router::send`] would send `req` to `target` with, or `None` where it would
    /// fail before sending (it then fails there, in words the user sees).
    fn body_for(&self, config: &Config, target: &ModelRef, req: &mut ChatRequest) -> Option<Prebuilt> {
        let provider = config.provider(&target.provider)?;
        let client = self.client(config, &provider);
        let sampling = self.aim(&provider, target, req);
        let body = client.stream_body(req).ok();
        let built = body.map(|body| Prebuilt {
            provider: provider.name.clone(),
            model: req.model.clone(),
            sampling: Sampling::of(req),
            body,
        });
        sampling.restore(req);
        built
    }

    /// Points `req` at `target`'s model, without sampling settings for a model that fixes its
    /// own, and asking for one choice where several cannot be had (the Anthropic wire has no
    /// `n`). Returns the settings it had, for the caller to put back.
    fn aim(&self, provider: &ResolvedProvider, target: &ModelRef, req: &mut ChatRequest) -> Sampling {
        let sampling = Sampling::of(req);
        req.model.clone_from(&target.model);
        let listed = prefill_needs_listing(provider).then(|| self.listed.get(&listing_key(provider))).flatten();
        req.prefill = prefill_for(provider, &req.model, listed.as_deref().map(|l| l.as_slice()));
        if self.fixed_temperature.contains(&req.model) {
            (req.temperature, req.top_p) = (None, None);
        }
        if req.n.is_some_and(|n| n > 1)
            && (provider.kind == ProviderKind::Anthropic || self.single_choice.contains(&req.model))
        {
            req.n = None;
        }
        sampling
    }

    /// One model of a route, replaced once by a listed model of the same family when the
    /// provider no longer serves it. `req` is the route's request, lent rather than copied for
    /// each model: [`Router::send`] leaves it as it found it but for the model.
    async fn attempt(
        &self,
        config: &Config,
        feature: Feature,
        target: &ModelRef,
        req: &mut ChatRequest,
        prompt_tokens: u64,
        prebuilt: &mut Option<Prebuilt>,
    ) -> Result<MeteredStream, ProviderError> {
        let Some(provider) = config.provider(&target.provider) else {
            return Err(ProviderError::Unsendable {
                reason: format!(
                    "no provider `{}` is configured (see [providers] in docs/providers.md)",
                    target.provider
                ),
            });
        };
        let result = self.send(config, feature, &provider, target, req, prompt_tokens, prebuilt).await;
        let Err(ProviderError::ModelNotFound { available, .. }) = &result else { return result };
        let available = if available.is_empty() {
            self.listed_models(config, &provider).await.iter().map(|m| m.id.clone()).collect()
        } else {
            available.clone()
        };
        let Some(replacement) = pick_replacement(&target.model, &available) else { return result };
        let to = ModelRef { provider: target.provider.clone(), model: replacement.clone() };
        let first_time =
            self.replacements.insert((provider.config.base_url.clone(), target.clone()), replacement).is_none();
        if first_time {
            let client = self.client(config, &provider);
            let message = UsageEvent::replacement_message(feature, &target.display(), &to.display(), client.host());
            tracing::warn!("{message}");
            if let Some(observer) = &self.observer {
                observer.notify(UsageEvent::ModelReplaced {
                    feature,
                    from: target.display(),
                    to: to.display(),
                    host: client.host().to_string(),
                });
            }
        }
        self.send(config, feature, &provider, &to, req, prompt_tokens, prebuilt).await
    }

    /// One request to one model, metered: its row is written when the answer ends, fails, or
    /// is dropped, including while still waiting for the first byte. `req` goes out with
    /// `target`'s model and, for a model that fixes its sampling, without temperature and top_p;
    /// the sampling settings are back in place on return, for the next model of the route.
    /// `prebuilt` is taken if it was built for this very request ([`Router::ready`]).
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        config: &Config,
        feature: Feature,
        provider: &ResolvedProvider,
        target: &ModelRef,
        req: &mut ChatRequest,
        prompt_tokens: u64,
        prebuilt: &mut Option<Prebuilt>,
    ) -> Result<MeteredStream, ProviderError> {
        if req.messages.last().is_some_and(|m| m.partial) {
            self.learn_prefill(config, provider).await;
        }
        let started = Instant::now();
        let client = self.client(config, provider);
        let sampling = self.aim(provider, target, req);
        let mut pending = PendingMeter(Some(Meter {
            estimated_prompt_tokens: prompt_tokens,
            ledger: self.ledger.clone(),
            config_prices: self.price_table(config),
            feature,
            provider: provider.name.clone(),
            model: target.display(),
            started,
            row: Arc::new(OnceLock::new()),
            observer: self.observer.clone(),
        }));
        let body = prebuilt.take().filter(|p| p.fits(&provider.name, req)).map(|p| p.body);
        let mut result = client.chat_stream_with(req, body).await;
        if let Err(ProviderError::InvalidTemperature { .. }) = &result {
            if req.temperature.is_some() {
                tracing::info!(model = %req.model, "the model fixes its temperature; retrying without one");
                self.fixed_temperature.insert(req.model.clone());
                (req.temperature, req.top_p) = (None, None);
                result = client.chat_stream(req).await;
            }
        }
        // The refusal's wording was never captured (K2.5 documents `n` as fixed at 1), so an
        // invalid-request answer to several choices is tried again with one, and the model is
        // remembered as giving one only when that is accepted: a request invalid for another
        // reason fails the same way again and says why.
        if let Err(ProviderError::InvalidRequest { .. }) = &result {
            if req.n.is_some_and(|n| n > 1) {
                req.n = None;
                result = client.chat_stream(req).await;
                if result.is_ok() {
                    tracing::info!(model = %req.model, "the model gives one choice only; asking for one from now on");
                    self.single_choice.insert(req.model.clone());
                }
            }
        }
        let choices = req.n.unwrap_or(1);
        sampling.restore(req);
        let Some(meter) = pending.0.take() else {
            return Err(ProviderError::Unsendable { reason: "the request was metered twice".into() });
        };
        match result {
            Ok(inner) => Ok(MeteredStream { inner, meter: Some(meter), row: None, choices }),
            Err(e) => {
                meter.finish(None, Outcome::Error, Some(e.kind()));
                Err(explain(e, provider))
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

/// Names where a provider's key comes from in authentication errors, since a key read from a
/// named variable is otherwise invisible in the message.
fn explain(e: ProviderError, provider: &ResolvedProvider) -> ProviderError {
    let Some(var) = provider.config.api_key_env.as_deref() else { return e };
    match e {
        ProviderError::InvalidAuthentication { host, message, key, suggested_base_url, request_id } => {
            let note = if key.is_some() {
                format!("the key of provider `{}` comes from {var}", provider.name)
            } else {
                format!("{var}, which should hold the key of provider `{}`, is not set", provider.name)
            };
            ProviderError::InvalidAuthentication {
                host,
                message: format!("{message}; {note}"),
                key,
                suggested_base_url,
                request_id,
            }
        }
        other => other,
    }
}

/// A meter not yet handed to a stream. Dropped with its meter still inside, the request was
/// cancelled before its first byte: it is recorded as cancelled, its prompt estimated, because
/// the provider may bill the prompt it already received.
struct PendingMeter(Option<Meter>);

impl Drop for PendingMeter {
    fn drop(&mut self) {
        if let Some(meter) = self.0.take() {
            let usage = Usage {
                prompt_tokens: meter.estimated_prompt_tokens as u32,
                completion_tokens: 0,
                total_tokens: meter.estimated_prompt_tokens as u32,
                cached_tokens: 0,
            };
            meter.finish(Some(&usage), Outcome::Cancelled, None);
        }
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
    config_prices: Arc<PriceTable>,
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
                // Handing work to the blocking pool wakes (or starts) a thread, which costs the
                // request's own thread a system call or two before its LSP response is written.
                // On the one-thread runtime a spawned task runs only once the current poll
                // yields, by which time the response is out.
                let deferred = DeferredWrite(Some(Box::new(write)));
                let pool = handle.clone();
                handle.spawn(async move {
                    let mut deferred = deferred;
                    if let Some(write) = deferred.0.take() {
                        pool.spawn_blocking(write);
                    }
                });
            }
            Err(_) => write(),
        }
    }
}

/// A usage write waiting for its turn. A runtime shutting down drops tasks it never polled;
/// the write then happens right there, so that a request answered just before exit (the
/// one-shot CLI) is still recorded.
struct DeferredWrite(Option<Box<dyn FnOnce() + Send>>);

impl Drop for DeferredWrite {
    fn drop(&mut self) {
        if let Some(write) = self.0.take() {
            write();
        }
    }
}

/// A [`ChatStream`] that records its usage exactly once.
#[derive(Debug)]
pub struct MeteredStream {
    inner: ChatStream,
    meter: Option<Meter>,
    row: Option<RowHandle>,
    /// How many choices the request that was answered asked for (`n`, 1 when absent).
    choices: u32,
}

impl MeteredStream {
    /// How many choices the answer holds: what the caller asked for, or one where the model
    /// cannot give several.
    pub fn choices(&self) -> u32 {
        self.choices
    }

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
        Err(ProviderError::dropped())
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
    fn completions_prefill_as_the_server_serving_the_model_understands() {
        let provider = |kind, base_url: &str, prefill| ResolvedProvider {
            name: "p".into(),
            kind,
            config: ProviderConfig::new("p", base_url, None),
            key_source: None,
            models: Default::default(),
            prefill,
        };
        let listed = |owners: &[(&str, &str)]| -> Vec<ModelInfo> {
            owners
                .iter()
                .map(|(id, owner)| ModelInfo {
                    id: id.to_string(),
                    owned_by: Some(owner.to_string()),
                    context_length: None,
                    supports_image_in: None,
                    supports_video_in: None,
                    supports_reasoning: None,
                })
                .collect()
        };
        let local = provider(ProviderKind::Openai, "http://gpu-box:8000/v1", PrefillSetting::Auto);
        let vllm = listed(&[("moonshotai/Kimi-K2-Instruct", "vllm")]);
        let cases: [(&ResolvedProvider, &str, Option<&[ModelInfo]>, Prefill); 7] = [
            (&local, "moonshotai/Kimi-K2-Instruct", Some(&vllm), Prefill::ContinueFinalMessage),
            // A model the list lacks (an alias the server answers to) is served by the same server.
            (&local, "kimi", Some(&vllm), Prefill::ContinueFinalMessage),
            (&local, "m", Some(&listed(&[("m", "SGLang")])), Prefill::ContinueFinalMessage),
            (&local, "m", Some(&listed(&[("m", "llamacpp")])), Prefill::Partial),
            (&local, "m", Some(&listed(&[("m", "moonshot")])), Prefill::Partial),
            (&local, "m", Some(&[]), Prefill::Partial),
            (&local, "m", None, Prefill::Partial),
        ];
        for (provider, model, list, expected) in cases {
            assert_eq!(prefill_for(provider, model, list), expected, "{model} listed as {list:?}");
        }
        let forced = provider(ProviderKind::Openai, "http://gpu-box:8000/v1", PrefillSetting::Partial);
        assert_eq!(prefill_for(&forced, "m", Some(&vllm)), Prefill::Partial);
        let forced = provider(ProviderKind::Openai, "http://gpu-box:8000/v1", PrefillSetting::ContinueFinalMessage);
        assert_eq!(prefill_for(&forced, "m", None), Prefill::ContinueFinalMessage);

        // Only `auto` on a server other than Moonshot's platform, on OpenAI's wire, is asked.
        assert!(prefill_needs_listing(&local));
        for (kind, base_url, prefill, asked) in [
            (ProviderKind::Moonshot, "http://127.0.0.1:8000/v1", PrefillSetting::Auto, true),
            (ProviderKind::Moonshot, "https://api.moonshot.ai/v1", PrefillSetting::Auto, false),
            (ProviderKind::Openai, "https://api.moonshot.cn/v1", PrefillSetting::Auto, false),
            (ProviderKind::Anthropic, "https://api.anthropic.com", PrefillSetting::Auto, false),
            (ProviderKind::Openai, "http://gpu-box:8000/v1", PrefillSetting::Partial, false),
        ] {
            assert_eq!(
                prefill_needs_listing(&provider(kind, base_url, prefill)),
                asked,
                "{kind:?} {base_url} {prefill:?}"
            );
        }
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

    fn routed_config(settings: serde_json::Value) -> Config {
        let mut layers = crate::config::ConfigLayers::default();
        layers.set(crate::config::Source::File, settings);
        let (config, problems) = layers.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        config
    }

    fn names(plan: &RoutePlan) -> Vec<String> {
        plan.models.iter().map(ModelRef::display).collect()
    }

    fn signals(prompt_tokens: u64, images: bool, think_harder: bool) -> Signals {
        Signals { prompt_tokens, images, think_harder }
    }

    #[test]
    fn defaults_send_completions_to_the_fast_model_and_the_rest_to_the_strong_one() {
        let config = Config::default();
        let none = RouteHint::default();
        let plan = plan(&config, Feature::Completion, &none, Signals::default(), "");
        assert_eq!(names(&plan), ["kimi-k2-turbo-preview"]);
        assert_eq!(plan.models[0].provider, "moonshot");
        for feature in [Feature::Action, Feature::Chat] {
            assert_eq!(names(&super::plan(&config, feature, &none, Signals::default(), "")), ["kimi-k2.5"]);
        }
    }

    #[test]
    fn routes_have_fallbacks_across_providers_and_rules_pick_other_routes() {
        let config = routed_config(serde_json::json!({
            "providers": {
                "claude": {"kind": "anthropic", "apiKeyEnv": "ANTHROPIC_API_KEY"},
                "openrouter": {"kind": "openai", "baseUrl": "https://openrouter.ai/api/v1"}
            },
            "routes": {
                "completion": {"fallback": ["openrouter/moonshotai/kimi-k2"]},
                "chat": {"model": "kimi-k2.5", "fallback": ["claude/claude-sonnet-4-5", "kimi-k2.5"]},
                "long": {"model": "moonshot/kimi-k3", "fallback": ["claude/claude-sonnet-4-5"]},
                "vision": {"model": "claude/claude-opus-4-1"},
                "strong": {"model": "claude/claude-opus-4-1"}
            },
            "rules": [
                {"promptTokensAbove": 100000, "route": "long"},
                {"images": true, "route": "vision"},
                {"thinkHarder": true, "tasks": ["action", "chat"], "route": "strong"}
            ]
        }));
        let none = RouteHint::default();
        let p = plan(&config, Feature::Completion, &none, Signals::default(), "kimi-k2-turbo-preview");
        assert_eq!(names(&p), ["kimi-k2-turbo-preview", "openrouter/moonshotai/kimi-k2"]);
        assert_eq!(p.models[1], ModelRef { provider: "openrouter".into(), model: "moonshotai/kimi-k2".into() });
        // A model listed twice is tried once.
        let p = plan(&config, Feature::Chat, &none, Signals::default(), "");
        assert_eq!(names(&p), ["kimi-k2.5", "claude/claude-sonnet-4-5"]);
        assert_eq!(p.reason, "");

        let p = plan(&config, Feature::Chat, &none, signals(100_001, false, false), "kimi-k2.5");
        assert_eq!((p.route.as_str(), names(&p)), ("long", vec!["kimi-k3".into(), "claude/claude-sonnet-4-5".into()]));
        assert_eq!(p.reason, "rule 1 (long prompt)");
        // At the threshold is not above it.
        assert_eq!(plan(&config, Feature::Chat, &none, signals(100_000, false, false), "").route, "chat");
        assert_eq!(plan(&config, Feature::Chat, &none, signals(10, true, false), "").route, "vision");
        // The first matching rule wins.
        assert_eq!(plan(&config, Feature::Chat, &none, signals(200_000, true, true), "").route, "long");
        // Think harder applies to the tasks the rule names only.
        assert_eq!(plan(&config, Feature::Action, &none, signals(10, false, true), "").route, "strong");
        assert_eq!(plan(&config, Feature::Completion, &none, signals(10, false, true), "").route, "completion");
    }

    #[test]
    fn a_custom_action_names_a_route_or_a_model() {
        let config = routed_config(serde_json::json!({
            "providers": {"claude": {"kind": "anthropic"}},
            "routes": {"action": {"fallback": ["kimi-k2-0905-preview"]}, "strong": {"model": "claude/claude-opus-4-1"}},
            "rules": [{"thinkHarder": true, "route": "strong"}]
        }));
        let by_route = RouteHint { think_harder: false, model: Some("strong".into()) };
        assert_eq!(
            names(&plan(&config, Feature::Action, &by_route, Signals::default(), "")),
            ["claude/claude-opus-4-1"]
        );
        // A model keeps the action route's fallbacks, and beats the rules: the user chose it.
        let by_model = RouteHint { think_harder: true, model: Some("claude/claude-haiku-4-5".into()) };
        let p = plan(&config, Feature::Action, &by_model, signals(1, false, true), "kimi-k2.5");
        assert_eq!(names(&p), ["claude/claude-haiku-4-5", "kimi-k2-0905-preview"]);
        assert_eq!(p.reason, "custom action");
    }

    #[test]
    fn a_missing_model_is_replaced_by_its_closest_listed_relative() {
        let listed: Vec<String> = ["kimi-k2-0905-preview", "kimi-k2-turbo-preview", "kimi-k2-thinking", "kimi-k2.5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pick_replacement("kimi-k2-0711-preview", &listed).as_deref(), Some("kimi-k2-0905-preview"));
        assert_eq!(pick_replacement("kimi-k2-turbo-old", &listed).as_deref(), Some("kimi-k2-turbo-preview"));
        assert_eq!(pick_replacement("kimi-k2-thinking-turbo", &listed).as_deref(), Some("kimi-k2-thinking"));
        assert_eq!(pick_replacement("kimi-k2.4", &listed).as_deref(), Some("kimi-k2.5"));
        assert_eq!(pick_replacement("kimi-latest", &listed).as_deref(), Some("kimi-k2.5"), "newest of the family");
        assert_eq!(pick_replacement("moonshot-v1-8k", &listed), None, "no relative at all");
        assert_eq!(pick_replacement("kimi-k2.5", &["kimi-k2.5".to_string()]), None);
    }

    #[test]
    fn a_provider_client_is_reused_until_its_settings_change() {
        let settings = |base_url: &str, key: &str, connect: u64| {
            serde_json::json!({
                "baseUrl": base_url,
                "apiKey": key,
                "timeouts": {"connectMs": connect},
                "providers": {"gw": {"kind": "anthropic", "baseUrl": "https://gw.example"}}
            })
        };
        let config = routed_config(settings("https://a.example/v1", "sk-one", 5_000));
        let router = Router::new(&config, None);
        let client = |config: &Config, name: &str| router.client(config, &config.provider(name).unwrap());
        let first = client(&config, "moonshot");
        // The same client (its settings live in the one shared allocation), whichever `Config`
        // value carries the settings.
        assert!(std::ptr::eq(first.config(), client(&config.clone(), "moonshot").config()));
        let gw = client(&config, "gw");
        assert!(matches!(gw, ProviderClient::Anthropic(_)));
        assert!(std::ptr::eq(gw.config(), client(&config, "gw").config()));

        for changed in [
            settings("https://b.example/v1", "sk-one", 5_000),
            settings("https://a.example/v1", "sk-two", 5_000),
            settings("https://a.example/v1", "sk-one", 7_000),
        ] {
            let changed = routed_config(changed);
            let fresh = client(&changed, "moonshot");
            assert!(!std::ptr::eq(first.config(), fresh.config()));
            assert!(fresh.config() == &changed.provider("moonshot").unwrap().config);
        }
        // The last settings are the ones kept; the other provider's client is untouched.
        assert!(std::ptr::eq(gw.config(), client(&config, "gw").config()));
    }

    #[test]
    fn the_price_table_follows_the_prices_setting() {
        let priced = |output: f64| {
            routed_config(
                serde_json::json!({"prices": {"my-model": {"cacheHit": 1.0, "cacheMiss": 2.0, "output": output}}}),
            )
        };
        let router = Router::new(&Config::default(), None);
        let cost = |config: &Config| router.price_table(config).cost("my-model", 0, 1_000_000, 0);
        assert_eq!(cost(&Config::default()), None);
        let three = priced(3.0);
        assert_eq!(cost(&three), Some(3.0));
        assert!(Arc::ptr_eq(&router.price_table(&three), &router.price_table(&priced(3.0))));
        assert_eq!(cost(&priced(4.0)), Some(4.0));
        assert_eq!(cost(&Config::default()), None);
    }

    #[test]
    fn an_authentication_error_names_the_variable_the_key_comes_from() {
        let config = routed_config(serde_json::json!({
            "providers": {"openrouter": {"kind": "openai", "baseUrl": "https://openrouter.ai/api/v1", "apiKeyEnv": "OPENROUTER_API_KEY"}}
        }));
        let provider = config.provider_with_env("openrouter", &|_| None).unwrap();
        let e = ProviderError::InvalidAuthentication {
            host: "openrouter.ai".into(),
            message: "No auth credentials found".into(),
            key: None,
            suggested_base_url: None,
            request_id: None,
        };
        let text = explain(e, &provider).to_string();
        assert!(
            text.contains("OPENROUTER_API_KEY, which should hold the key of provider `openrouter`, is not set"),
            "{text}"
        );
    }

    #[test]
    fn a_usage_write_deferred_past_the_response_survives_a_runtime_that_shuts_down_first() {
        let ledger = Arc::new(Ledger::open_in_memory().expect("an in-memory ledger"));
        let row = Arc::new(OnceLock::new());
        let meter = Meter {
            estimated_prompt_tokens: 10,
            ledger: Some(ledger.clone()),
            config_prices: Arc::new(PriceTable::defaults()),
            feature: Feature::Completion,
            provider: "moonshot".into(),
            model: "moonshot/kimi-k2".into(),
            started: Instant::now(),
            row: row.clone(),
            observer: None,
        };
        let usage = Usage { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, cached_tokens: 0 };
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        // Returns without yielding, so the task holding the write is never polled: the way the
        // one-shot CLI exits right after its answer.
        rt.block_on(async { meter.finish(Some(&usage), Outcome::Shown, None) });
        drop(rt);
        assert_eq!(ledger.session().requests, 1);
        assert!(row.get().is_some(), "the row was not written");
    }

    #[test]
    fn an_overflow_by_the_answers_room_only_lowers_max_tokens() {
        // 124,880 prompt tokens + 8,192 asked for the answer, of 131,072: 4,866 are left (a 1 %
        // margin below the limit), more than half of what was asked.
        assert_eq!(remedy(131_072, 133_072, true, Some(8192), 400_000, 0), Remedy::LowerMaxTokens(4866));
        // Less than half of it left: the prompt shrinks instead, and the answer keeps its room.
        let Remedy::Shrink { fit, max_tokens } = remedy(131_072, 136_072, true, Some(8192), 400_000, 0) else {
            panic!()
        };
        assert_eq!(max_tokens, Some(8192));
        assert_eq!((fit.limit, fit.requested), (131_072, 136_072));
        assert!(fit.chars < 400_000);
    }

    #[test]
    fn a_prompt_over_the_limit_shrinks_by_the_models_own_count() {
        // kimi-api.md's live answer: 291,351 requested of 262,144, 8,192 of them for the answer.
        // 283,159 prompt tokens came from 1,000,000 characters; 251,315 tokens may be sent
        // (limit − answer − margin), a tenth below that: 251,315 / 283,159 × 0.9 of the text.
        let expected = (251_315.0 * (1_000_000.0 / 283_159.0) * 0.9) as usize;
        assert_eq!(
            remedy(262_144, 291_351, true, Some(8192), 1_000_000, 0),
            Remedy::Shrink { fit: Fit { limit: 262_144, requested: 291_351, chars: expected }, max_tokens: Some(8192) }
        );
        // Tool declarations count in the model's tokens but cannot shrink: they come off the
        // characters the messages may keep.
        let Remedy::Shrink { fit: with_tools, .. } = remedy(262_144, 291_351, true, Some(8192), 900_000, 100_000)
        else {
            panic!()
        };
        assert_eq!(with_tools.chars, expected - 100_000);
        // Anthropic's "prompt is too long" counts the prompt alone: lowering max_tokens cannot help.
        assert!(matches!(remedy(200_000, 250_000, false, Some(1000), 1_000_000, 0), Remedy::Shrink { .. }));
        // An answer asked for more than half the context gets half, so the prompt keeps some room.
        let Remedy::Shrink { fit, max_tokens } = remedy(2000, 7000, true, Some(4096), 12_000, 0) else { panic!() };
        assert_eq!(max_tokens, Some(1000));
        assert_eq!(fit.chars, ((2000 - 1000 - 36) as f64 * (12_000.0 / 2904.0) * 0.9) as usize);
    }

    #[test]
    fn the_local_day_is_a_calendar_date() {
        let day = crate::ledger::local_day(unix_ms_now()).expect("SQLite knows the date");
        assert_eq!(day.len(), 10, "{day}");
        assert_eq!(&day[4..5], "-");
    }
}
