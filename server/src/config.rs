//! Settings: where they come from, in which order they win, and what they mean.
//!
//! Every source is turned into a JSON object first (the config file's TOML, the environment,
//! `initializationOptions`, `workspace/didChangeConfiguration`), the objects are deep-merged in
//! precedence order, and only then deserialised into [`Config`]. That keeps precedence in one
//! place ([`ConfigLayers::resolve`]) and gives every source the same spelling of every key.
//!
//! Precedence, lowest first: built-in defaults < config file < environment < the editor's
//! `initializationOptions` < the editor's live `didChangeConfiguration`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ledger::{Price, PriceTable};
use crate::providers::ProviderConfig;
pub use crate::providers::ProviderKind;
use crate::secret::ApiKey;

pub const DEFAULT_BASE_URL: &str = "https://api.moonshot.ai/v1";
pub const API_KEY_ENV: &str = "MOONSHOT_API_KEY";
pub const BASE_URL_ENV: &str = "MOONSHOT_BASE_URL";
/// Points at a config file other than the one in the user's config directory.
pub const CONFIG_FILE_ENV: &str = "KIMI_LSP_CONFIG";

/// The resolved settings. Cheap to clone behind an `Arc`; a new one replaces the old whole, so
/// a request always sees one consistent set.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Read from `MOONSHOT_API_KEY` unless an editor passes one (VS Code's SecretStorage does).
    #[serde(deserialize_with = "deserialize_api_key")]
    pub api_key: Option<ApiKey>,
    pub base_url: String,
    pub models: Models,
    /// Per-model prices, merged over the built-in table (see `ledger::PriceTable`).
    pub prices: HashMap<String, PriceSetting>,
    pub timeouts: Timeouts,
    /// Which certificate authorities HTTPS connections trust besides the system's and Mozilla's.
    pub tls: TlsSettings,
    /// Record every request's tokens and cost in the usage ledger (SQLite in the data directory).
    pub usage_ledger: bool,
    pub completion: CompletionSettings,
    pub actions: ActionSettings,
    pub chat: ChatSettings,
    pub budget: BudgetSettings,
    /// Model providers by name, besides the built-in `moonshot` (docs/providers.md).
    pub providers: BTreeMap<String, ProviderSetting>,
    /// Routes by name: `completion`, `action` and `chat` for the tasks, any other name for rules.
    pub routes: BTreeMap<String, RouteSetting>,
    /// Routing rules, first match wins: they send a request to another route by what it carries.
    pub rules: Vec<RuleSetting>,
    /// Where the two Moonshot platforms are reached; `doctor` tries the other one with the same
    /// key when the configured one rejects it, to tell which platform the key is from.
    pub regions: RegionUrls,
}

/// The base URLs of Moonshot's two platforms (change them only behind a proxy or mirror).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RegionUrls {
    pub global: String,
    pub china: String,
}

impl Default for RegionUrls {
    fn default() -> Self {
        RegionUrls {
            global: crate::providers::Platform::Global.base_url().to_string(),
            china: crate::providers::Platform::China.base_url().to_string(),
        }
    }
}

/// Spending limits, in the price table's currency (USD by default; CNY if the prices are set
/// in CNY). Spend is read from the ledger, so a limit holds across every editor on the machine.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BudgetSettings {
    /// Per local calendar day; `None` for no limit.
    #[serde(deserialize_with = "deserialize_limit")]
    pub daily: Option<f64>,
    /// Per local calendar month; `None` for no limit.
    #[serde(deserialize_with = "deserialize_limit")]
    pub monthly: Option<f64>,
    /// Read the account balance at start and warn when it is low or empty.
    pub check_balance: bool,
}

fn deserialize_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let limit: Option<f64> = Option::deserialize(d)?;
    match limit {
        Some(v) if !v.is_finite() || v < 0.0 => Err(serde::de::Error::custom(format!(
            "a budget must be an amount of 0 or more (got {v}); leave it unset for no limit"
        ))),
        other => Ok(other),
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ActionSettings {
    /// The user's own code actions, offered after the built-in ones.
    pub custom: Vec<CustomAction>,
    /// The longest answer per action, thinking included (a thinking model's reasoning counts):
    /// an answer cut off here is never applied.
    pub max_tokens: u32,
}

impl Default for ActionSettings {
    fn default() -> Self {
        ActionSettings { custom: Vec::new(), max_tokens: 4096 }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", try_from = "RawCustomAction")]
pub struct CustomAction {
    pub title: String,
    /// A template with named placeholders (`template::PLACEHOLDERS`).
    pub prompt: String,
    pub target: ActionTarget,
    /// A route name or a model (`provider/model`) that answers this action instead of the
    /// `action` route.
    pub model: Option<String>,
}

/// Where a custom action's result goes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ActionTarget {
    #[default]
    ReplaceSelection,
    InsertBelow,
    ShowText,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCustomAction {
    title: String,
    prompt: String,
    #[serde(default)]
    target: ActionTarget,
    #[serde(default)]
    model: Option<String>,
}

impl TryFrom<RawCustomAction> for CustomAction {
    type Error = String;
    fn try_from(raw: RawCustomAction) -> Result<Self, String> {
        if raw.title.trim().is_empty() {
            return Err("a custom action needs a title".into());
        }
        crate::template::validate(&raw.prompt)
            .map_err(|e| format!("the prompt of custom action \"{}\": {e}", raw.title))?;
        let model = raw.model.map(|m| m.trim().to_string());
        if model.as_deref() == Some("") {
            return Err(format!("custom action \"{}\": `model` is empty; remove it or name a model", raw.title));
        }
        Ok(CustomAction { title: raw.title, prompt: raw.prompt, target: raw.target, model })
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ChatSettings {
    /// Tool rounds per message; after the last one the model must answer without tools.
    pub max_tool_rounds: usize,
    /// The longest answer per request.
    pub max_tokens: u32,
    /// The chat model's context, used when `/models` does not report it.
    pub context_tokens: usize,
    /// Whether the chat model accepts images; unset: as `/models` reports.
    pub images: Option<bool>,
    /// Globs of chat transcripts, answered by the "Ask Kimi" action (without `/`: the file name).
    pub files: Vec<String>,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_tool_rounds: 8,
            max_tokens: 8192,
            context_tokens: 131_072,
            images: None,
            files: vec!["*.kimi.md".into()],
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CompletionSettings {
    /// Off: completion requests answer with no items and cost nothing.
    pub enabled: bool,
    /// Sampling temperature for models that accept one (those that fix theirs get none).
    pub temperature: f32,
    /// Suggestions asked for when the user invokes a completion explicitly (one request with
    /// `n` choices; duplicates are dropped). Automatic requests always ask for one.
    pub invoked_choices: u32,
    /// Whether the suggestion that follows the one on screen is asked for while the user reads
    /// it, so that accepting it shows the next one at once. One more model call per suggestion
    /// shown; off by default, since an account's first tier allows one request at a time.
    pub speculate: bool,
    /// Per language, as the editor names it (`markdown`, `plaintext`, Neovim's `text`), whether
    /// completions are on there; `"*"` stands for every language not listed. Empty: on in all.
    pub languages: BTreeMap<String, bool>,
    /// Files where completions are off, in `.gitignore` syntax (see [`ExcludeGlobs`]).
    pub exclude: ExcludeGlobs,
}

/// Why a document gets no completions: the settings ([`CompletionSettings::off_for`]), or a file
/// that is never sent or too large (`features::completion::declined`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompletionsOff {
    /// `completion.enabled` is false.
    Everywhere,
    /// `completion.languages` turns the document's language (the editor's id) off.
    Language(String),
    /// A `completion.exclude` pattern matches the document's path.
    Path(String),
    /// Not a setting: the file looks like a secret (`.env`, a key), which is never sent.
    Secret,
    /// Not a setting: the text holds NUL bytes.
    Binary,
    /// Not a setting: the text is over [`crate::text::PARSE_LIMIT_BYTES`].
    TooLarge,
}

impl std::fmt::Display for CompletionsOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompletionsOff::Everywhere => write!(f, "completions are off (`completion.enabled` is false)"),
            CompletionsOff::Language(id) => {
                write!(f, "completions are off for {id} files (`completion.languages`)")
            }
            CompletionsOff::Path(pattern) => {
                write!(f, "completions are off for this file: it matches `{pattern}` in `completion.exclude`")
            }
            CompletionsOff::Secret => {
                write!(f, "no completions here: this file looks like a secret (a key, `.env`), and kimi-lsp never sends such files to a model")
            }
            CompletionsOff::Binary => {
                write!(f, "no completions here: this file holds binary data (NUL bytes), which kimi-lsp never sends to a model")
            }
            CompletionsOff::TooLarge => write!(
                f,
                "no completions here: this file is over {} MiB, more than kimi-lsp parses",
                crate::text::PARSE_LIMIT_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// Moonshot's limit for `n`.
pub const MAX_CHOICES: u32 = 5;

impl CompletionSettings {
    /// [`CompletionSettings::invoked_choices`] within what the API accepts.
    pub fn choices_when_invoked(&self) -> u32 {
        self.invoked_choices.clamp(1, MAX_CHOICES)
    }

    /// Why completions are off for a document of editor language `language_id` at `path`
    /// (relative to the workspace folder holding it, see [`ExcludeGlobs`]); `None` when on.
    pub fn off_for(&self, language_id: &str, path: Option<&Path>) -> Option<CompletionsOff> {
        if !self.enabled {
            return Some(CompletionsOff::Everywhere);
        }
        if let Some(pattern) = path.and_then(|p| self.exclude.matching(p)) {
            return Some(CompletionsOff::Path(pattern.to_string()));
        }
        // Editors differ in case (`typescriptreact`, `TypeScript` in some clients' settings).
        let listed = self.languages.iter().find(|(id, _)| id.eq_ignore_ascii_case(language_id.trim()));
        let on = match listed.or_else(|| self.languages.get_key_value("*")) {
            Some((_, on)) => *on,
            None => true,
        };
        (!on).then(|| {
            let id = if language_id.trim().is_empty() { "these" } else { language_id.trim() };
            CompletionsOff::Language(id.to_string())
        })
    }
}

impl Default for CompletionSettings {
    fn default() -> Self {
        CompletionSettings {
            enabled: true,
            temperature: 0.2,
            invoked_choices: 3,
            speculate: false,
            languages: BTreeMap::new(),
            exclude: ExcludeGlobs::default(),
        }
    }
}

/// `completion.exclude`: patterns in `.gitignore` syntax (`vendor/`, `*.min.js`,
/// `/generated/**`, `!keep.js`), matched against a file's path relative to the workspace folder
/// holding it, as a `.gitignore` at that folder's top would be; for a file outside every
/// workspace folder, against its path from the filesystem's root. Users know the syntax from
/// their ignore files, and a directory pattern covers everything beneath it.
#[derive(Clone, Default)]
pub struct ExcludeGlobs {
    patterns: Vec<String>,
    matcher: Option<ignore::gitignore::Gitignore>,
}

impl ExcludeGlobs {
    pub fn new(patterns: &[String]) -> Result<ExcludeGlobs, String> {
        if patterns.iter().all(|p| p.trim().is_empty()) {
            return Ok(ExcludeGlobs::default());
        }
        // An empty root: the paths matched are relative already (see `matching`).
        let mut builder = ignore::gitignore::GitignoreBuilder::new("");
        // The crate reads an unclosed `[` as a literal `[` (git's own matcher, as a pattern that
        // matches nothing); either way the pattern was a typo that would exclude nothing, so it
        // is reported. A literal `[` is written `\[`.
        builder.allow_unclosed_class(false);
        for pattern in patterns {
            builder.add_line(None, pattern).map_err(|e| format!("`{pattern}` is not a valid pattern: {e}"))?;
        }
        let matcher = builder.build().map_err(|e| e.to_string())?;
        Ok(ExcludeGlobs { patterns: patterns.to_vec(), matcher: Some(matcher) })
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The pattern that excludes `path` (relative to its workspace folder; an absolute path is
    /// taken from the filesystem's root), or `None`. A later `!pattern` can take a file back.
    pub fn matching(&self, path: &Path) -> Option<&str> {
        let matcher = self.matcher.as_ref()?;
        // The matcher wants a path under its (empty) root: no root, no prefix, no `..`.
        let relative: PathBuf = path.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
        if relative.as_os_str().is_empty() {
            return None;
        }
        match matcher.matched_path_or_any_parents(&relative, false) {
            ignore::Match::Ignore(glob) => Some(glob.original()),
            _ => None,
        }
    }
}

impl PartialEq for ExcludeGlobs {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl std::fmt::Debug for ExcludeGlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.patterns.fmt(f)
    }
}

impl<'de> Deserialize<'de> for ExcludeGlobs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let patterns: Vec<String> = Vec::deserialize(d)?;
        ExcludeGlobs::new(&patterns).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Models {
    /// Inline completions: a fast model; they are short and latency is everything.
    #[serde(deserialize_with = "model_name")]
    pub completion: String,
    /// Code actions: the stronger model.
    #[serde(deserialize_with = "model_name")]
    pub action: String,
    /// Chat: the stronger model.
    #[serde(deserialize_with = "model_name")]
    pub chat: String,
}

/// A model as settings name it (`kimi-k2.5`, `provider/model`), refused when it names none: an
/// empty id would be sent as it is and refused by the provider, far from the setting at fault.
struct ModelName(String);

impl ModelName {
    fn check(name: &str) -> Result<(), String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("the model name is empty; name a model (e.g. \"kimi-k2.5\") or remove the setting".into());
        }
        if name.ends_with('/') {
            return Err(format!(
                "the model name {name:?} names no model after its `/`; write `provider/model`, e.g. \"moonshot/kimi-k2.5\""
            ));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ModelName::check(&name).map_err(serde::de::Error::custom)?;
        Ok(ModelName(name))
    }
}

fn model_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    ModelName::deserialize(d).map(|m| m.0)
}

fn optional_model_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<ModelName>::deserialize(d).map(|m| m.map(|m| m.0))
}

/// Each element through [`ModelName`], so that an error names its index.
fn model_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<ModelName>::deserialize(d).map(|names| names.into_iter().map(|m| m.0).collect())
}

impl Default for Models {
    fn default() -> Self {
        Models { completion: "kimi-k2-turbo-preview".into(), action: "kimi-k2.5".into(), chat: "kimi-k2.5".into() }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PriceSetting {
    pub cache_hit: f64,
    pub cache_miss: f64,
    pub output: f64,
}

impl From<PriceSetting> for Price {
    fn from(p: PriceSetting) -> Price {
        Price { cache_hit: p.cache_hit, cache_miss: p.cache_miss, output: p.output }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Timeouts {
    pub connect_ms: u64,
    /// Until the response headers and first event arrive. Thinking models and long prompts
    /// take a while to start; a dead endpoint should still not hang an editor for minutes.
    pub first_byte_ms: u64,
    /// Between two streamed chunks.
    pub idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_ms: 5_000, first_byte_ms: 60_000, idle_ms: 30_000 }
    }
}

impl Timeouts {
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }
    pub fn first_byte(&self) -> Duration {
        Duration::from_millis(self.first_byte_ms)
    }
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
}

/// HTTPS trust. The system's certificate store and Mozilla's roots are always trusted; a company
/// proxy that inspects HTTPS signs with a root of its own, which IT usually installs in the
/// system's store, and which these files can name when it is not there.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsSettings {
    /// PEM files of certificate authorities to trust as well: absolute paths, or `~/…`.
    pub ca_certificates: Vec<String>,
}

impl TlsSettings {
    /// The files as paths, `~/` expanded; relative ones are left out (reported by
    /// [`TlsSettings::problems`]), since no directory is the obvious one to resolve them against.
    pub fn ca_files(&self) -> Vec<PathBuf> {
        self.ca_certificates.iter().filter_map(|p| expand_home(p)).filter(|p| p.is_absolute()).collect()
    }

    /// What is wrong with the named files, one message each: they are read at once, so that a
    /// typo is reported when the setting changes, not as an untrusted certificate later.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for named in &self.ca_certificates {
            let path = match expand_home(named) {
                Some(path) if path.is_absolute() => path,
                _ => {
                    problems.push(format!(
                        "`tls.caCertificates`: `{named}` is not an absolute path (or one starting with `~/`); \
                         it was left out"
                    ));
                    continue;
                }
            };
            if let Err(e) = crate::providers::load_ca_file(&path) {
                problems.push(format!("`tls.caCertificates`: {e}; it was left out"));
            }
        }
        problems
    }
}

fn expand_home(path: &str) -> Option<PathBuf> {
    match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map(|home| home.join(rest)),
        None => Some(PathBuf::from(path)),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_key: None,
            base_url: DEFAULT_BASE_URL.into(),
            models: Models::default(),
            prices: HashMap::new(),
            timeouts: Timeouts::default(),
            tls: TlsSettings::default(),
            usage_ledger: true,
            completion: CompletionSettings::default(),
            actions: ActionSettings::default(),
            chat: ChatSettings::default(),
            budget: BudgetSettings::default(),
            providers: BTreeMap::new(),
            routes: BTreeMap::new(),
            rules: Vec::new(),
            regions: RegionUrls::default(),
        }
    }
}

impl Config {
    /// How to reach the configured endpoint. One place, so `doctor` checks exactly what the
    /// server will use.
    pub fn provider_config(&self) -> ProviderConfig {
        match self.provider(DEFAULT_PROVIDER) {
            Some(provider) => provider.config,
            None => ProviderConfig::new(DEFAULT_PROVIDER, self.base_url.trim_end_matches('/'), self.api_key.clone()),
        }
    }

    /// The built-in price table with the configured prices over it.
    pub fn price_table(&self) -> PriceTable {
        let overrides: HashMap<String, Price> = self.prices.iter().map(|(k, v)| (k.clone(), Price::from(*v))).collect();
        PriceTable::defaults().with_overrides(&overrides)
    }
}

/// The provider every bare model id belongs to: Moonshot's platform API, configured by `apiKey`
/// and `baseUrl` (MOONSHOT_API_KEY / MOONSHOT_BASE_URL), so the one-variable setup needs no
/// provider section.
pub const DEFAULT_PROVIDER: &str = "moonshot";

/// The routes of the three tasks; other route names exist only for rules and custom actions.
pub const TASK_ROUTES: [&str; 3] = ["completion", "action", "chat"];

/// How completions ask a provider to continue the text before the cursor (`prefill`):
/// [`crate::providers::Prefill`], or `auto`, decided by who the provider's `/models` says serves the model.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PrefillSetting {
    #[default]
    Auto,
    Partial,
    ContinueFinalMessage,
}

/// Which Moonshot platform a `kind = "moonshot"` provider uses when it names no `baseUrl`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Global,
    China,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Global => crate::providers::Platform::Global.base_url(),
            Region::China => crate::providers::Platform::China.base_url(),
        }
    }
}

/// What a model can do, for providers whose `/models` does not say (or says wrong).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelSetting {
    pub context_tokens: Option<u32>,
    pub images: Option<bool>,
    pub reasoning: Option<bool>,
}

/// One `[providers.<name>]` section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", try_from = "RawProvider")]
pub struct ProviderSetting {
    pub kind: ProviderKind,
    /// Up to and including the version segment, e.g. `http://localhost:8000/v1`.
    pub base_url: Option<String>,
    pub region: Option<Region>,
    /// The environment variable holding the key; keys never live in settings files.
    pub api_key_env: Option<String>,
    /// Sent with every request (OpenRouter's `HTTP-Referer`, a gateway's token header).
    pub headers: BTreeMap<String, String>,
    /// Capabilities by model id, over what `/models` reports.
    pub models: BTreeMap<String, ModelSetting>,
    pub prefill: PrefillSetting,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProvider {
    #[serde(default)]
    kind: ProviderKind,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    region: Option<Region>,
    #[serde(default)]
    api_key_env: Option<String>,
    /// Only to refuse it with a message that says where the key goes instead.
    #[serde(default)]
    api_key: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    models: BTreeMap<String, ModelSetting>,
    #[serde(default)]
    prefill: PrefillSetting,
}

impl TryFrom<RawProvider> for ProviderSetting {
    type Error = String;
    fn try_from(raw: RawProvider) -> Result<Self, String> {
        if raw.api_key.is_some() {
            return Err("a provider takes no `apiKey`: put the key in an environment variable and name that \
                        variable with `apiKeyEnv` (e.g. apiKeyEnv = \"OPENROUTER_API_KEY\")"
                .into());
        }
        if let Some(env) = &raw.api_key_env {
            let valid = !env.is_empty()
                && !env.starts_with(|c: char| c.is_ascii_digit())
                && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                let what = if env.starts_with("sk-") { "looks like a key, not" } else { "is not" };
                return Err(format!(
                    "`apiKeyEnv` {what} the name of an environment variable (letters, digits and `_`, \
                     e.g. \"OPENROUTER_API_KEY\"); the key itself belongs in that variable"
                ));
            }
        }
        let base_url = raw.base_url.map(|u| u.trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        if let Some(url) = &base_url {
            // Said now, with the provider's name, rather than at its first request.
            let parsed = reqwest::Url::parse(url);
            if !parsed.as_ref().is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some()) {
                return Err(format!(
                    "`baseUrl` {url:?} is not an http:// or https:// URL; write it up to the version segment, \
                     e.g. \"http://localhost:8000/v1\""
                ));
            }
        }
        if raw.kind == ProviderKind::Openai && base_url.is_none() {
            return Err("a provider with kind = \"openai\" needs a `baseUrl`, e.g. \"http://localhost:8000/v1\"".into());
        }
        if raw.region.is_some() && raw.kind != ProviderKind::Moonshot {
            return Err("`region` applies only to kind = \"moonshot\" providers".into());
        }
        if raw.models.keys().any(|id| id.trim().is_empty()) {
            return Err("`models` lists a model with an empty id; write the id the provider serves, \
                        e.g. [providers.<name>.models.\"kimi-k2.5\"]"
                .into());
        }
        for name in raw.headers.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(format!("the header name {name:?} cannot be sent in HTTP"));
            }
        }
        Ok(ProviderSetting {
            kind: raw.kind,
            base_url,
            region: raw.region,
            api_key_env: raw.api_key_env,
            headers: raw.headers,
            models: raw.models,
            prefill: raw.prefill,
        })
    }
}

/// One `[routes.<name>]`: a model and the models tried, in order, when it fails in a way
/// another model can fix (overloaded, rate limited, 5xx, timeout).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteSetting {
    /// For the task routes, the same setting as `models.<task>`.
    #[serde(deserialize_with = "optional_model_name")]
    pub model: Option<String>,
    #[serde(deserialize_with = "model_names")]
    pub fallback: Vec<String>,
}

/// One `[[rules]]`: when every condition given holds, the request takes `route` instead.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", try_from = "RawRule")]
pub struct RuleSetting {
    /// The tasks it applies to; empty: all.
    pub tasks: Vec<crate::ledger::Feature>,
    /// The prompt's estimated tokens (about four characters each) are above this.
    pub prompt_tokens_above: Option<u64>,
    /// The request carries images (`true`) or none (`false`).
    pub images: Option<bool>,
    /// The user asked to think harder on this action or chat message.
    pub think_harder: Option<bool>,
    pub route: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    prompt_tokens_above: Option<u64>,
    #[serde(default)]
    images: Option<bool>,
    #[serde(default)]
    think_harder: Option<bool>,
    route: String,
}

impl TryFrom<RawRule> for RuleSetting {
    type Error = String;
    fn try_from(raw: RawRule) -> Result<Self, String> {
        let route = raw.route.trim().to_string();
        if route.is_empty() {
            return Err("a rule needs the `route` it sends requests to".into());
        }
        if raw.prompt_tokens_above.is_none() && raw.images.is_none() && raw.think_harder.is_none() {
            return Err(format!(
                "the rule for route `{route}` has no condition: give `promptTokensAbove`, `images` or `thinkHarder`"
            ));
        }
        let tasks = raw
            .tasks
            .iter()
            .map(|t| match t.parse::<crate::ledger::Feature>() {
                Ok(f) if TASK_ROUTES.contains(&f.as_str()) => Ok(f),
                _ => Err(format!(
                    "the rule for route `{route}` names the task `{t}`; tasks are completion, action, chat"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleSetting {
            tasks,
            prompt_tokens_above: raw.prompt_tokens_above,
            images: raw.images,
            think_harder: raw.think_harder,
            route,
        })
    }
}

/// A model of a provider: `provider/model` as written in settings, a bare id meaning the
/// built-in `moonshot` provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub provider: String,
    /// The id the provider knows it by (may itself contain `/`, as OpenRouter's do).
    pub model: String,
}

impl ModelRef {
    /// How usage and messages name it: bare for the built-in provider (as before providers
    /// existed), `provider/model` otherwise.
    pub fn display(&self) -> String {
        if self.provider == DEFAULT_PROVIDER {
            self.model.clone()
        } else {
            format!("{}/{}", self.provider, self.model)
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// A provider ready to be called: where, with which key, and what its models can do.
#[derive(Clone, Debug)]
pub struct ResolvedProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub config: ProviderConfig,
    /// Where the key came from, for messages: an environment variable or a setting.
    pub key_source: Option<String>,
    pub models: BTreeMap<String, ModelSetting>,
    pub prefill: PrefillSetting,
}

impl Config {
    /// Splits `provider/model` at the first `/` when the part before names a provider; anything
    /// else is a model id of the built-in provider (self-hosted ids like `moonshotai/Kimi-K2`).
    pub fn model_ref(&self, text: &str) -> ModelRef {
        let text = text.trim();
        match text.split_once('/') {
            Some((provider, model))
                if !model.is_empty() && (provider == DEFAULT_PROVIDER || self.providers.contains_key(provider)) =>
            {
                ModelRef { provider: provider.to_string(), model: model.to_string() }
            }
            _ => ModelRef { provider: DEFAULT_PROVIDER.to_string(), model: text.to_string() },
        }
    }

    /// The models of a route in the order they are tried. Unknown routes have none.
    pub fn route_models(&self, route: &str) -> Vec<ModelRef> {
        let task_model = match route {
            "completion" => Some(&self.models.completion),
            "action" => Some(&self.models.action),
            "chat" => Some(&self.models.chat),
            _ => None,
        };
        let setting = self.routes.get(route);
        let first = setting.and_then(|r| r.model.as_ref()).or(task_model);
        let mut out: Vec<ModelRef> = Vec::new();
        for text in first.into_iter().chain(setting.map(|r| r.fallback.iter()).into_iter().flatten()) {
            let r = self.model_ref(text);
            if !r.model.is_empty() && !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Every provider name: the built-in one first, then the configured ones.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names = vec![DEFAULT_PROVIDER.to_string()];
        names.extend(self.providers.keys().filter(|n| *n != DEFAULT_PROVIDER).cloned());
        names
    }

    /// How to reach a provider; `None` for a name that is not configured. Keys named by
    /// `apiKeyEnv` are read from `env` now, so a changed variable applies to the next request.
    pub fn provider_with_env(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<ResolvedProvider> {
        let setting = self.providers.get(name);
        if setting.is_none() && name != DEFAULT_PROVIDER {
            return None;
        }
        let setting = setting.cloned().unwrap_or_default();
        let builtin = name == DEFAULT_PROVIDER;
        let base_url = match (&setting.base_url, setting.region) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => region.base_url().to_string(),
            (None, None) if builtin => self.base_url.trim_end_matches('/').to_string(),
            (None, None) => match setting.kind {
                ProviderKind::Anthropic => DEFAULT_ANTHROPIC_BASE_URL.to_string(),
                _ => DEFAULT_BASE_URL.to_string(),
            },
        };
        let (api_key, key_source) = match &setting.api_key_env {
            Some(var) => (env(var).and_then(ApiKey::new), Some(var.clone())),
            None if builtin => (self.api_key.clone(), Some(format!("{API_KEY_ENV} or `apiKey`"))),
            None => (None, None),
        };
        let mut config = ProviderConfig::new(name, base_url, api_key);
        config.connect_timeout = self.timeouts.connect();
        config.first_byte_timeout = self.timeouts.first_byte();
        config.idle_timeout = self.timeouts.idle();
        config.extra_headers = setting.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        config.api_key_env = setting.api_key_env.clone();
        Some(ResolvedProvider {
            name: name.to_string(),
            kind: setting.kind,
            config,
            key_source,
            models: setting.models,
            prefill: setting.prefill,
        })
    }

    /// [`Config::provider_with_env`] with the process environment.
    pub fn provider(&self, name: &str) -> Option<ResolvedProvider> {
        self.provider_with_env(name, &|var| std::env::var(var).ok())
    }

    /// Problems that only show once every layer is merged: rules and custom actions naming
    /// routes or providers that do not exist.
    pub fn routing_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let route_exists = |r: &str| TASK_ROUTES.contains(&r) || self.routes.get(r).is_some_and(|s| s.model.is_some());
        for (name, route) in &self.routes {
            if !TASK_ROUTES.contains(&name.as_str()) && route.model.is_none() {
                problems.push(format!("route `{name}` has no `model`"));
            }
        }
        for rule in &self.rules {
            if !route_exists(&rule.route) {
                problems.push(format!(
                    "a rule sends requests to route `{}`, which is not defined under [routes]",
                    rule.route
                ));
            }
        }
        problems
    }
}

/// Anthropic's own API, for `kind = "anthropic"` providers that name no `baseUrl`.
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

fn deserialize_api_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.and_then(ApiKey::new))
}

/// Where a layer came from, for `doctor` and for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    File,
    Environment,
    InitializationOptions,
    Editor,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::File => "the config file",
            Source::Environment => "the environment",
            Source::InitializationOptions => "the editor's initializationOptions",
            Source::Editor => "the editor's settings",
        }
    }
}

/// A setting that could not be used. The rest of its layer still applies.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigProblem {
    pub source: Source,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "in {}: {}", self.source.describe(), self.message)
    }
}

/// The raw layers, kept so that a live change to one layer re-resolves against the others.
#[derive(Clone, Debug, Default)]
pub struct ConfigLayers {
    layers: BTreeMap<Source, Value>,
    pub file_path: Option<PathBuf>,
}

impl ConfigLayers {
    /// Reads the config file and the environment. Problems reading the file are reported, not
    /// fatal: the server still starts with the other layers.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> (ConfigLayers, Vec<ConfigProblem>) {
        let mut layers = ConfigLayers::default();
        let mut problems = Vec::new();
        let path = env(CONFIG_FILE_ENV).map(PathBuf::from).or_else(default_config_path);
        if let Some(path) = path {
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse_toml(&text) {
                    Ok(value) => {
                        layers.set(Source::File, value);
                        layers.file_path = Some(path);
                    }
                    // TOML's errors quote the line they stopped at: an unquoted key is shown
                    // only as `sk-<redacted>`.
                    Err(e) => problems.push(ConfigProblem {
                        source: Source::File,
                        message: crate::providers::error::scrub(
                            &format!("{} is not valid TOML: {e}", path.display()),
                            None,
                        ),
                    }),
                },
                // No file is the normal case; only an explicitly named missing file is a problem.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && env(CONFIG_FILE_ENV).is_none() => {}
                Err(e) => problems.push(ConfigProblem {
                    source: Source::File,
                    message: format!("cannot read {}: {e}", path.display()),
                }),
            }
        }
        layers.set(Source::Environment, environment_layer(env));
        (layers, problems)
    }

    /// Replaces one layer. Editors send either the settings object itself or one wrapped in a
    /// `kimi` section (VS Code's `synchronize.configurationSection`); both are accepted.
    pub fn set(&mut self, source: Source, value: Value) {
        let value = match value {
            Value::Object(mut map) if map.len() == 1 && map.get("kimi").is_some_and(Value::is_object) => {
                map.remove("kimi").unwrap_or(Value::Null)
            }
            other => other,
        };
        match value {
            Value::Object(_) => {
                self.layers.insert(source, value);
            }
            // `null` means "nothing from this source", e.g. a client with no settings for us.
            _ => {
                self.layers.remove(&source);
            }
        }
    }

    /// `message` without the API keys the layers hold, nor anything shaped like a platform key.
    /// serde's errors quote the value they refused, and a key pasted into the wrong field (or a
    /// layer's `apiKey` of the wrong type) would otherwise reach the log and the editor.
    fn without_keys(&self, message: &str) -> String {
        let mut message = message.to_string();
        for key in self.layers.values().filter_map(|l| l.get("apiKey")).filter_map(Value::as_str) {
            message = crate::providers::error::scrub(&message, Some(key.trim()));
        }
        crate::providers::error::scrub(&message, None)
    }

    /// Which layer decided a top-level key, for `doctor`.
    pub fn origin_of(&self, key: &str) -> Option<Source> {
        self.layers.iter().rev().find(|(_, v)| v.get(key).is_some_and(|v| !v.is_null())).map(|(s, _)| *s)
    }

    /// Merges the layers and deserialises the result. A layer with a bad value is reported and
    /// skipped whole, so one typo in the editor's settings cannot take the key from the
    /// environment away with it.
    /// The highest layer that sets any of `keys`: where a problem found after the merge is
    /// most likely to come from (the config file when none does).
    fn highest_with(&self, keys: &[&str]) -> Source {
        self.layers
            .iter()
            .rev()
            .find(|(_, v)| keys.iter().any(|k| v.get(k).is_some()))
            .map_or(Source::File, |(s, _)| *s)
    }

    pub fn resolve(&self) -> (Config, Vec<ConfigProblem>) {
        let mut problems = Vec::new();
        let mut merged = Value::Object(Map::new());
        for (source, layer) in &self.layers {
            let mut candidate = merged.clone();
            deep_merge(&mut candidate, &with_task_models_synced(layer));
            match parse_config(&candidate) {
                Ok((_, unknown)) => {
                    for key in unknown {
                        if !layer_has_path(layer, &key) {
                            continue;
                        }
                        problems.push(ConfigProblem {
                            source: *source,
                            message: format!("unknown setting `{key}` (ignored; see README for the settings)"),
                        });
                    }
                    merged = candidate;
                }
                Err(message) => problems.push(ConfigProblem {
                    source: *source,
                    message: format!("{}; these settings were ignored", self.without_keys(&message)),
                }),
            }
        }
        let config = parse_config(&merged).map(|(c, _)| c).unwrap_or_default();
        // The problems are about how layers combine; name the highest layer with routing in it.
        let source = self.highest_with(&["routes", "rules", "actions"]);
        for message in config.routing_problems() {
            problems.push(ConfigProblem { source, message: format!("{message} (the rest of the routing applies)") });
        }
        let tls_source = self.highest_with(&["tls"]);
        for message in config.tls.problems() {
            problems.push(ConfigProblem { source: tls_source, message });
        }
        (config, problems)
    }
}

/// `models.<task>` and `routes.<task>.model` are one setting with two spellings. Each layer is
/// made to carry both before the merge, so a higher layer's `models.chat` beats a lower layer's
/// `routes.chat.model` and the other way round. Within one layer `routes.<task>.model` wins.
fn with_task_models_synced(layer: &Value) -> Value {
    let mut layer = layer.clone();
    let Some(map) = layer.as_object_mut() else { return layer };
    for task in TASK_ROUTES {
        let from_route = map.get("routes").and_then(|r| r.get(task)).and_then(|r| r.get("model")).cloned();
        let from_models = map.get("models").and_then(|m| m.get(task)).cloned();
        // Left where it was written, so that the problem names that spelling.
        let unnamed =
            |v: &Option<Value>| v.as_ref().and_then(Value::as_str).is_some_and(|s| ModelName::check(s).is_err());
        if unnamed(&from_route) || unnamed(&from_models) {
            continue;
        }
        let value = match (from_route, from_models) {
            (Some(v), _) if !v.is_null() => v,
            (_, Some(v)) if !v.is_null() => v,
            _ => continue,
        };
        for (section, path) in [("models", None), ("routes", Some(task))] {
            let entry = map.entry(section).or_insert_with(|| Value::Object(Map::new()));
            let Some(obj) = entry.as_object_mut() else { continue };
            match path {
                None => {
                    obj.insert(task.to_string(), value.clone());
                }
                Some(task) => {
                    let route = obj.entry(task).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(route) = route.as_object_mut() {
                        route.insert("model".into(), value.clone());
                    }
                }
            }
        }
    }
    layer
}

fn parse_config(value: &Value) -> Result<(Config, Vec<String>), String> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value, &mut note);
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("{inner}")
        } else {
            format!("`{path}`: {inner}")
        }
    })?;
    Ok((config, unknown))
}

fn layer_has_path(layer: &Value, dotted: &str) -> bool {
    let mut cur = layer;
    for part in dotted.split('.') {
        match cur.get(part) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

fn environment_layer(env: &dyn Fn(&str) -> Option<String>) -> Value {
    let mut map = Map::new();
    if let Some(key) = env(API_KEY_ENV).filter(|k| !k.trim().is_empty()) {
        map.insert("apiKey".into(), Value::String(key));
    }
    if let Some(url) = env(BASE_URL_ENV).filter(|u| !u.trim().is_empty()) {
        map.insert("baseUrl".into(), Value::String(url.trim().to_string()));
    }
    Value::Object(map)
}

pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("kimi-lsp").join("config.toml"))
}

fn parse_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(table).map_err(|e| e.to_string())
}

/// Objects merge key by key; anything else (including arrays) is replaced whole; `null` in a
/// higher layer leaves the lower value alone, because editors send `null` for "unset".
fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, over) if !over.is_null() => *base = over.clone(),
        _ => {}
    }
}

/// Used by `doctor` to describe the file it read.
pub fn display_path(path: &Path) -> String {
    match dirs::home_dir() {
        Some(home) if path.starts_with(&home) => {
            format!("~/{}", path.strip_prefix(&home).unwrap_or(path).display())
        }
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn layers(env: &'static [(&'static str, &'static str)]) -> ConfigLayers {
        let env = env_of(env);
        // Point the file at a path that cannot exist so the developer's own config stays out.
        let with_file = move |k: &str| {
            if k == CONFIG_FILE_ENV {
                None
            } else {
                env(k)
            }
        };
        let mut l = ConfigLayers::default();
        l.set(Source::Environment, environment_layer(&with_file));
        l
    }

    #[test]
    fn zero_config_is_the_global_platform() {
        let (config, problems) = layers(&[("MOONSHOT_API_KEY", "sk-test")]).resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.api_key.as_ref().map(ApiKey::expose), Some("sk-test"));
        assert!(config.usage_ledger);
    }

    #[test]
    fn editor_beats_environment_beats_file() {
        let mut l = layers(&[("MOONSHOT_BASE_URL", "https://api.moonshot.cn/v1")]);
        l.set(Source::File, json!({"baseUrl": "http://file", "models": {"chat": "from-file"}}));
        let (c, _) = l.resolve();
        assert_eq!(c.base_url, "https://api.moonshot.cn/v1");
        assert_eq!(c.models.chat, "from-file");
        assert_eq!(c.models.completion, Models::default().completion);

        l.set(Source::InitializationOptions, json!({"baseUrl": "http://init"}));
        l.set(Source::Editor, json!({"kimi": {"models": {"chat": "live"}}}));
        let (c, _) = l.resolve();
        assert_eq!(c.base_url, "http://init");
        assert_eq!(c.models.chat, "live");
        assert_eq!(l.origin_of("baseUrl"), Some(Source::InitializationOptions));
    }

    #[test]
    fn a_bad_layer_is_reported_and_skipped_whole() {
        let mut l = layers(&[("MOONSHOT_API_KEY", "sk-env")]);
        l.set(Source::Editor, json!({"apiKey": "sk-editor", "timeouts": {"connectMs": "soon"}}));
        let (c, problems) = l.resolve();
        assert_eq!(c.api_key.as_ref().map(ApiKey::expose), Some("sk-env"));
        assert_eq!(problems.len(), 1);
        let msg = problems[0].to_string();
        assert!(msg.contains("timeouts.connectMs"), "{msg}");
        assert!(msg.contains("editor"), "{msg}");
        assert!(!msg.contains("sk-editor"), "{msg}");
    }

    #[test]
    fn certificate_files_that_cannot_be_used_are_reported_by_name_and_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("proxy.crt");
        std::fs::write(&not_pem, "hello, not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let mut l = layers(&[]);
        l.set(Source::InitializationOptions, json!({"tls": {"caCertificates": ["certs/proxy.pem", missing, not_pem]}}));
        let (c, problems) = l.resolve();
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].contains("`certs/proxy.pem` is not an absolute path"), "{}", messages[0]);
        assert!(messages[1].contains("cannot read") && messages[1].contains("missing.pem"), "{}", messages[1]);
        assert!(messages[2].contains("proxy.crt holds no certificate"), "{}", messages[2]);
        assert!(
            messages.iter().all(|m| m.contains("initializationOptions") && m.contains("left out")),
            "{messages:#?}"
        );
        // The relative one is not guessed at; the others are still tried when connecting.
        assert_eq!(c.tls.ca_files(), vec![missing, not_pem]);
    }

    #[test]
    fn a_key_pasted_into_the_wrong_field_is_not_quoted() {
        // serde names the refused value: `invalid type: string "…", expected f64`.
        let mut l = layers(&[]);
        let pasted = "sk-pasted-0123456789abcdef";
        l.set(Source::InitializationOptions, json!({"apiKey": pasted, "budget": {"daily": pasted}}));
        let (_, problems) = l.resolve();
        let msg = problems[0].to_string();
        assert!(msg.contains("budget.daily") && msg.contains("invalid type"), "{msg}");
        assert!(!msg.contains("0123456789abcdef"), "{msg}");
        // A key of another shape (a self-hosted server's) is known from the layers' `apiKey`.
        let mut l = layers(&[]);
        l.set(Source::Editor, json!({"apiKey": "local-key-42", "timeouts": {"connectMs": "local-key-42"}}));
        let msg = l.resolve().1[0].to_string();
        assert!(msg.contains("timeouts.connectMs") && !msg.contains("local-key-42"), "{msg}");
    }

    #[test]
    fn completions_can_be_off_by_language_and_by_path() {
        let mut l = layers(&[]);
        l.set(
            Source::File,
            json!({"completion": {
                "languages": {"markdown": false, "*": true},
                "exclude": ["vendor/", "*.min.js", "/generated/**", "!generated/keep.rs", "docs/**/*.txt"]
            }}),
        );
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        let off = |id: &str, path: &str| c.completion.off_for(id, Some(Path::new(path))).map(|o| o.to_string());
        assert_eq!(off("rust", "src/main.rs"), None);
        assert_eq!(
            off("Markdown", "README.md"),
            Some("completions are off for Markdown files (`completion.languages`)".into())
        );
        let vendor = "completions are off for this file: it matches `vendor/` in `completion.exclude`";
        // A directory pattern covers everything beneath it, at any depth, as in a .gitignore.
        assert_eq!(off("go", "vendor/x/y.go").as_deref(), Some(vendor));
        assert_eq!(off("go", "lib/vendor/y.go").as_deref(), Some(vendor));
        assert_eq!(off("javascript", "web/app.min.js").as_deref().map(|m| m.contains("`*.min.js`")), Some(true));
        assert!(off("rust", "generated/a/b.rs").is_some());
        // Anchored at the workspace folder; taken back by a later `!`.
        assert_eq!(off("rust", "src/generated/b.rs"), None);
        assert_eq!(off("rust", "generated/keep.rs"), None);
        assert!(off("plaintext", "docs/a/b/notes.txt").is_some());
        assert_eq!(off("plaintext", "notes.txt"), None);
        // Outside every workspace folder: from the filesystem's root.
        assert!(off("javascript", "/srv/site/app.min.js").is_some());
        assert_eq!(c.completion.off_for("rust", None), None);

        // `*` off, one language back on; the switch beats both.
        l.set(Source::Editor, json!({"completion": {"languages": {"*": false, "python": true}}}));
        let (c, _) = l.resolve();
        assert_eq!(c.completion.off_for("python", None), None);
        assert_eq!(c.completion.off_for("go", None), Some(CompletionsOff::Language("go".into())));
        l.set(Source::Editor, json!({"completion": {"enabled": false}}));
        let (c, _) = l.resolve();
        assert_eq!(c.completion.off_for("rust", Some(Path::new("src/main.rs"))), Some(CompletionsOff::Everywhere));
    }

    /// An empty model name is a typo or a field cleared in the editor: it is named like any bad
    /// value, and the model of the layers below (or the default) answers instead of an empty id.
    #[test]
    fn an_empty_model_name_is_named_and_the_previous_model_applies() {
        let cases = [
            (json!({"models": {"completion": ""}}), "`models.completion`"),
            (json!({"models": {"chat": "  "}}), "`models.chat`"),
            (json!({"routes": {"action": {"model": ""}}}), "`routes.action.model`"),
            (json!({"routes": {"chat": {"fallback": ["kimi-k2.5", ""]}}}), "`routes.chat.fallback[1]`"),
            (json!({"routes": {"fast": {"model": ""}}}), "`routes.fast.model`"),
            (json!({"routes": {"chat": {"model": "moonshot/"}}}), "`routes.chat.model`"),
            (
                json!({"providers": {"p": {"baseUrl": "http://h/v1", "models": {"": {"images": true}}}}}),
                "`providers.p`",
            ),
        ];
        for (layer, setting) in cases {
            let mut l = layers(&[]);
            l.set(Source::File, json!({"models": {"completion": "from-file", "chat": "from-file"}}));
            l.set(Source::Editor, layer.clone());
            let (c, problems) = l.resolve();
            assert_eq!(problems.len(), 1, "{layer}: {problems:?}");
            let msg = problems[0].to_string();
            assert!(msg.starts_with("in the editor's settings: "), "{msg}");
            assert!(msg.contains(setting) && msg.contains("model"), "{layer}: {msg}");
            assert!(msg.contains("these settings were ignored"), "{msg}");
            assert_eq!(c.models.completion, "from-file", "{layer}");
            assert_eq!(c.models.chat, "from-file", "{layer}");
            assert_eq!(c.models.action, Models::default().action, "{layer}");
            assert!(c.route_models("chat").iter().all(|m| !m.model.is_empty() && !m.model.ends_with('/')));
        }
    }

    #[test]
    fn a_bad_exclude_pattern_is_named_and_its_layer_skipped() {
        let mut l = layers(&[]);
        l.set(Source::File, json!({"completion": {"exclude": ["*.min.js"]}}));
        l.set(Source::Editor, json!({"completion": {"exclude": ["src/{a,b"]}}));
        let (c, problems) = l.resolve();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let msg = problems[0].to_string();
        assert!(msg.contains("completion.exclude") && msg.contains("`src/{a,b`"), "{msg}");
        assert!(c.completion.off_for("js", Some(Path::new("a.min.js"))).is_some(), "the file's patterns stay");
        // An unclosed class alone, and inside a longer pattern.
        for pattern in ["[", "src/[ab"] {
            l.set(Source::Editor, json!({"completion": {"exclude": [pattern]}}));
            let (_, problems) = l.resolve();
            assert_eq!(problems.len(), 1, "`{pattern}`: {problems:?}");
            let msg = problems[0].to_string();
            assert!(msg.contains("completion.exclude") && msg.contains(&format!("`{pattern}`")), "{msg}");
        }
        l.set(Source::Editor, json!({"completion": {"exclude": ["\\["]}}));
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "an escaped `[` is a literal one: {problems:?}");
        assert!(c.completion.off_for("rust", Some(Path::new("src/["))).is_some());
    }

    /// VS Code's extension declares the settings it passes on (its package.json); each must be
    /// one the server knows, or the user gets "unknown setting" for a box they ticked.
    #[test]
    fn every_setting_the_vs_code_extension_declares_is_known() {
        let package: Value = serde_json::from_str(include_str!("../../editors/vscode/package.json")).unwrap();
        let properties = package["contributes"]["configuration"]["properties"].as_object().unwrap();
        let mut checked = 0;
        for (key, schema) in properties {
            let Some(key) = key.strip_prefix("kimi.") else { continue };
            // The extension's own: where the binary is, and its protocol trace.
            if key == "serverPath" || key.starts_with("trace.") {
                continue;
            }
            let kind = schema["type"].as_array().and_then(|t| t.first()).unwrap_or(&schema["type"]).clone();
            let value = match (&schema["default"], kind.as_str()) {
                (default, _) if !default.is_null() => default.clone(),
                (_, Some("number" | "integer")) => json!(1),
                (_, Some("boolean")) => json!(true),
                (_, other) => panic!("no sample value for `{key}` of type {other:?}"),
            };
            let mut layer = Value::Object(Map::new());
            let parts: Vec<&str> = key.split('.').collect();
            let mut node = &mut layer;
            for part in &parts[..parts.len() - 1] {
                node = node.as_object_mut().unwrap().entry(*part).or_insert_with(|| json!({}));
            }
            node.as_object_mut().unwrap().insert(parts[parts.len() - 1].to_string(), value);
            let mut l = layers(&[]);
            l.set(Source::Editor, layer);
            let (_, problems) = l.resolve();
            assert!(problems.is_empty(), "`kimi.{key}`: {problems:?}");
            checked += 1;
        }
        assert!(checked > 20, "the package's settings were found ({checked})");

        // A provider's fields with a choice of values: each value offered is one the server takes.
        let provider = &properties["kimi.providers"]["additionalProperties"]["properties"];
        let mut offered = 0;
        for (field, schema) in provider.as_object().unwrap() {
            for value in schema["enum"].as_array().into_iter().flatten() {
                let mut l = layers(&[]);
                l.set(Source::Editor, json!({"providers": {"p": {"baseUrl": "http://h/v1", field: value}}}));
                let (c, problems) = l.resolve();
                assert!(problems.is_empty() && c.provider("p").is_some(), "`{field}` = {value}: {problems:?}");
                offered += 1;
            }
        }
        assert!(offered >= 8, "kind, region and prefill were found ({offered})");
    }

    #[test]
    fn unknown_keys_are_named() {
        let mut l = layers(&[]);
        l.set(Source::InitializationOptions, json!({"baseURL": "x", "models": {"completon": "y"}}));
        let (_, problems) = l.resolve();
        let text: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        assert!(text.iter().any(|m| m.contains("`baseURL`")), "{text:?}");
        assert!(text.iter().any(|m| m.contains("`models.completon`")), "{text:?}");
    }

    #[test]
    fn null_means_unset() {
        let mut l = layers(&[("MOONSHOT_BASE_URL", "http://env")]);
        l.set(Source::Editor, json!({"baseUrl": null}));
        assert_eq!(l.resolve().0.base_url, "http://env");
        l.set(Source::Editor, Value::Null);
        assert_eq!(l.resolve().0.base_url, "http://env");
    }

    #[test]
    fn toml_file_layer() {
        let v = parse_toml("baseUrl = \"http://x/v1\"\n[models]\ncompletion = \"m\"\n[prices.m]\ncacheHit = 0.1\ncacheMiss = 0.2\noutput = 0.3\n").unwrap();
        let mut l = layers(&[]);
        l.set(Source::File, v);
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.models.completion, "m");
        assert_eq!(c.prices["m"], PriceSetting { cache_hit: 0.1, cache_miss: 0.2, output: 0.3 });
    }

    #[test]
    fn custom_actions_are_read_and_a_bad_template_is_reported() {
        let mut l = layers(&[]);
        l.set(
            Source::File,
            parse_toml("[[actions.custom]]\ntitle = \"Port\"\nprompt = \"Port {selection}\"\ntarget = \"showText\"\n")
                .unwrap(),
        );
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.actions.custom[0].target, ActionTarget::ShowText);
        l.set(Source::Editor, json!({"actions": {"custom": [{"title": "X", "prompt": "Do {selecton}"}]}}));
        let (c, problems) = l.resolve();
        assert_eq!(c.actions.custom[0].title, "Port", "the bad layer is skipped whole");
        assert!(problems[0].message.contains("{selecton}"), "{problems:?}");
    }

    #[test]
    fn providers_take_a_key_from_a_named_variable_never_from_the_file() {
        let mut l = layers(&[("MOONSHOT_API_KEY", "sk-moon")]);
        l.set(
            Source::File,
            parse_toml(
                "[providers.openrouter]\nkind = \"openai\"\nbaseUrl = \"https://openrouter.ai/api/v1/\"\n\
                 apiKeyEnv = \"OPENROUTER_API_KEY\"\nheaders = { \"X-Title\" = \"kimi-lsp\" }\n\
                 [providers.kimi-cn]\nregion = \"china\"\napiKeyEnv = \"MOONSHOT_CN_KEY\"\n\
                 [providers.claude]\nkind = \"anthropic\"\n[providers.claude.models.claude-opus-4-1]\nimages = true\n",
            )
            .unwrap(),
        );
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        let env = |var: &str| (var == "OPENROUTER_API_KEY").then(|| "sk-or-1".to_string());
        let or = c.provider_with_env("openrouter", &env).unwrap();
        assert_eq!(or.config.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(or.config.api_key.as_ref().map(ApiKey::expose), Some("sk-or-1"));
        assert_eq!(or.config.extra_headers, [("X-Title".to_string(), "kimi-lsp".to_string())]);
        let cn = c.provider_with_env("kimi-cn", &env).unwrap();
        assert_eq!((cn.kind, cn.config.base_url.as_str()), (ProviderKind::Moonshot, "https://api.moonshot.cn/v1"));
        assert!(cn.config.api_key.is_none(), "its variable is unset");
        let claude = c.provider_with_env("claude", &env).unwrap();
        assert_eq!(claude.config.base_url, DEFAULT_ANTHROPIC_BASE_URL);
        assert_eq!(claude.models["claude-opus-4-1"].images, Some(true));
        // The built-in provider keeps the one-variable setup.
        let moon = c.provider_with_env(DEFAULT_PROVIDER, &env).unwrap();
        assert_eq!(moon.config.base_url, DEFAULT_BASE_URL);
        assert_eq!(moon.config.api_key.as_ref().map(ApiKey::expose), Some("sk-moon"));
        assert!(c.provider_with_env("nowhere", &env).is_none());
        assert_eq!(c.provider_names(), ["moonshot", "claude", "kimi-cn", "openrouter"]);
        assert_eq!(or.prefill, PrefillSetting::Auto, "decided by the server's `/models`");
        let mut vl = layers(&[]);
        vl.set(
            Source::File,
            parse_toml(
                "[providers.vllm]\nkind = \"openai\"\nbaseUrl = \"http://h/v1\"\nprefill = \"continueFinalMessage\"\n",
            )
            .unwrap(),
        );
        let (vc, problems) = vl.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(vc.provider("vllm").unwrap().prefill, PrefillSetting::ContinueFinalMessage);
        // Model names.
        assert_eq!(c.model_ref("openrouter/moonshotai/kimi-k2").model, "moonshotai/kimi-k2");
        assert_eq!(c.model_ref("kimi-k2.5").provider, DEFAULT_PROVIDER);
        assert_eq!(c.model_ref("moonshotai/Kimi-K2-Instruct").display(), "moonshotai/Kimi-K2-Instruct");

        for (bad, says) in [
            ("[providers.x]\nkind = \"openai\"\nbaseUrl = \"http://h/v1\"\napiKey = \"sk-secret\"\n", "apiKeyEnv"),
            ("[providers.x]\napiKeyEnv = \"sk-abc123\"\n", "looks like a key"),
            ("[providers.x]\nkind = \"openai\"\n", "needs a `baseUrl`"),
            ("[providers.x]\nkind = \"openai\"\nbaseUrl = \"localhost:8000/v1\"\n", "not an http:// or https:// URL"),
            ("[providers.x]\nkind = \"openai\"\nbaseUrl = \"not a url\"\n", "not an http:// or https:// URL"),
            (
                "[providers.x]\nkind = \"openai\"\nbaseUrl = \"http://h/v1\"\nprefill = \"vllm\"\n",
                "continueFinalMessage",
            ),
        ] {
            let mut l = layers(&[]);
            l.set(Source::File, parse_toml(bad).unwrap());
            let (c, problems) = l.resolve();
            assert!(c.providers.is_empty());
            let text = problems.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join("; ");
            assert!(text.contains(says), "{text}");
            assert!(!text.contains("sk-secret"), "{text}");
        }
    }

    #[test]
    fn models_task_and_routes_task_model_are_one_setting_across_layers() {
        let mut l = layers(&[]);
        l.set(Source::File, json!({"routes": {"chat": {"model": "from-file", "fallback": ["b"]}}}));
        let (c, _) = l.resolve();
        assert_eq!(c.models.chat, "from-file");
        l.set(Source::Editor, json!({"models": {"chat": "from-editor"}}));
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.models.chat, "from-editor");
        let names: Vec<String> = c.route_models("chat").iter().map(ModelRef::display).collect();
        assert_eq!(names, ["from-editor", "b"], "the file's fallbacks stay");
    }

    #[test]
    fn rules_need_a_condition_and_an_existing_route() {
        let mut l = layers(&[]);
        l.set(Source::File, json!({"rules": [{"route": "strong"}]}));
        let (_, problems) = l.resolve();
        assert!(problems[0].message.contains("no condition"), "{problems:?}");
        l.set(Source::File, json!({"rules": [{"thinkHarder": true, "route": "strong"}]}));
        let (c, problems) = l.resolve();
        assert_eq!(c.rules.len(), 1);
        assert!(problems[0].message.contains("route `strong`, which is not defined"), "{problems:?}");
        l.set(Source::File, json!({"rules": [{"images": true, "tasks": ["completions"], "route": "chat"}]}));
        let (_, problems) = l.resolve();
        assert!(problems[0].message.contains("task `completions`"), "{problems:?}");
    }

    #[test]
    fn budgets_are_unset_by_default_and_a_negative_one_is_refused() {
        let mut l = layers(&[]);
        assert_eq!(l.resolve().0.budget, BudgetSettings::default());
        l.set(Source::File, parse_toml("[budget]\ndaily = 0.5\nmonthly = 10\ncheckBalance = true\n").unwrap());
        let (c, problems) = l.resolve();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.budget, BudgetSettings { daily: Some(0.5), monthly: Some(10.0), check_balance: true });
        l.set(Source::Editor, json!({"budget": {"daily": -1}}));
        let (c, problems) = l.resolve();
        assert_eq!(c.budget.daily, Some(0.5), "the bad layer is skipped");
        assert!(problems[0].message.contains("budget.daily"), "{problems:?}");
        assert!(problems[0].message.contains("0 or more"), "{problems:?}");
    }
}
