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
    /// Record every request's tokens and cost in the usage ledger (SQLite in the data directory).
    pub usage_ledger: bool,
    pub completion: CompletionSettings,
    pub actions: ActionSettings,
    pub chat: ChatSettings,
    pub budget: BudgetSettings,
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

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ActionSettings {
    /// The user's own code actions, offered after the built-in ones.
    pub custom: Vec<CustomAction>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", try_from = "RawCustomAction")]
pub struct CustomAction {
    pub title: String,
    /// A template with named placeholders (`template::PLACEHOLDERS`).
    pub prompt: String,
    pub target: ActionTarget,
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
}

impl TryFrom<RawCustomAction> for CustomAction {
    type Error = String;
    fn try_from(raw: RawCustomAction) -> Result<Self, String> {
        if raw.title.trim().is_empty() {
            return Err("a custom action needs a title".into());
        }
        crate::template::validate(&raw.prompt)
            .map_err(|e| format!("the prompt of custom action \"{}\": {e}", raw.title))?;
        Ok(CustomAction { title: raw.title, prompt: raw.prompt, target: raw.target })
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
}

impl Default for CompletionSettings {
    fn default() -> Self {
        CompletionSettings { enabled: true, temperature: 0.2 }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Models {
    /// Inline completions: a fast model; they are short and latency is everything.
    pub completion: String,
    /// Code actions: the stronger model.
    pub action: String,
    /// Chat: the stronger model.
    pub chat: String,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            api_key: None,
            base_url: DEFAULT_BASE_URL.into(),
            models: Models::default(),
            prices: HashMap::new(),
            timeouts: Timeouts::default(),
            usage_ledger: true,
            completion: CompletionSettings::default(),
            actions: ActionSettings::default(),
            chat: ChatSettings::default(),
            budget: BudgetSettings::default(),
        }
    }
}

impl Config {
    /// How to reach the configured endpoint. One place, so `doctor` checks exactly what the
    /// server will use.
    pub fn provider_config(&self) -> ProviderConfig {
        let mut provider = ProviderConfig::new("moonshot", self.base_url.trim_end_matches('/'), self.api_key.clone());
        provider.connect_timeout = self.timeouts.connect();
        provider.first_byte_timeout = self.timeouts.first_byte();
        provider.idle_timeout = self.timeouts.idle();
        provider
    }

    /// The built-in price table with the configured prices over it.
    pub fn price_table(&self) -> PriceTable {
        let overrides: HashMap<String, Price> = self.prices.iter().map(|(k, v)| (k.clone(), Price::from(*v))).collect();
        PriceTable::defaults().with_overrides(&overrides)
    }
}

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
                    Err(e) => problems.push(ConfigProblem {
                        source: Source::File,
                        message: format!("{} is not valid TOML: {e}", path.display()),
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

    /// Which layer decided a top-level key, for `doctor`.
    pub fn origin_of(&self, key: &str) -> Option<Source> {
        self.layers.iter().rev().find(|(_, v)| v.get(key).is_some_and(|v| !v.is_null())).map(|(s, _)| *s)
    }

    /// Merges the layers and deserialises the result. A layer with a bad value is reported and
    /// skipped whole, so one typo in the editor's settings cannot take the key from the
    /// environment away with it.
    pub fn resolve(&self) -> (Config, Vec<ConfigProblem>) {
        let mut problems = Vec::new();
        let mut merged = Value::Object(Map::new());
        for (source, layer) in &self.layers {
            let mut candidate = merged.clone();
            deep_merge(&mut candidate, layer);
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
                    message: format!("{message}; these settings were ignored"),
                }),
            }
        }
        let config = parse_config(&merged).map(|(c, _)| c).unwrap_or_default();
        (config, problems)
    }
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
