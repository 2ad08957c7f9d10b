//! What a model costs per million tokens, and what a request cost.

use std::collections::HashMap;
use std::fmt;

/// Prices of one model in the platform's currency (USD on platform.moonshot.ai, CNY on .cn) per
/// million tokens.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Prompt tokens served from the provider's prefix cache.
    pub cache_hit: f64,
    /// The rest of the prompt.
    pub cache_miss: f64,
    pub output: f64,
}

/// Why a configured [`Price`] was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("price field `{field}` must be a finite number of at least 0, got {value}")]
pub struct PriceError {
    pub field: &'static str,
    pub value: f64,
}

impl Price {
    pub const fn new(cache_hit: f64, cache_miss: f64, output: f64) -> Price {
        Price { cache_hit, cache_miss, output }
    }

    /// A negative or non-finite price would poison every total it enters, so configuration is
    /// checked before it is used.
    pub fn validate(&self) -> Result<(), PriceError> {
        for (field, value) in [("cache_hit", self.cache_hit), ("cache_miss", self.cache_miss), ("output", self.output)]
        {
            if !value.is_finite() || value < 0.0 {
                return Err(PriceError { field, value });
            }
        }
        Ok(())
    }

    /// Cached tokens are part of `prompt_tokens`; a provider reporting more cached tokens than
    /// prompt tokens is treated as a fully cached prompt rather than trusted into a negative count.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> f64 {
        let cached = cached_tokens.min(prompt_tokens);
        let missed = prompt_tokens - cached;
        (cached as f64 * self.cache_hit + missed as f64 * self.cache_miss + completion_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cache-hit / {} cache-miss / {} output per 1M tokens",
            self.cache_hit, self.cache_miss, self.output
        )
    }
}

/// Model id -> price, with family lookup so that a dated or renamed id still finds a price.
#[derive(Clone, Debug)]
pub struct PriceTable {
    /// Keys are lower-case: model ids are compared without regard to case.
    prices: HashMap<String, Price>,
}

/// Prices published for the Moonshot platform (USD). Later generations (kimi-k2.6, kimi-k3) are
/// deliberately absent: a guessed price would make budgets lie, so they stay unknown until
/// configured.
const DEFAULT_PRICES: &[(&str, Price)] = &[
    ("kimi-k2-0711-preview", Price::new(0.15, 0.60, 2.50)),
    ("kimi-k2-0905-preview", Price::new(0.15, 0.60, 2.50)),
    ("kimi-k2-thinking", Price::new(0.15, 0.60, 2.50)),
    ("kimi-k2.5", Price::new(0.10, 0.60, 3.00)),
    ("kimi-k2-turbo-preview", Price::new(0.15, 1.15, 8.00)),
    ("kimi-k2-thinking-turbo", Price::new(0.15, 1.15, 8.00)),
];

impl PriceTable {
    pub fn defaults() -> PriceTable {
        PriceTable { prices: DEFAULT_PRICES.iter().map(|(id, price)| (id.to_string(), price.clone())).collect() }
    }

    /// A table with no prices at all, for users who want only their configured ones.
    pub fn empty() -> PriceTable {
        PriceTable { prices: HashMap::new() }
    }

    /// Configured prices replace the defaults for the same id. An invalid entry (negative or not
    /// a number) is skipped with a warning so that one typo does not disable cost tracking;
    /// configuration loaders should call [`Price::validate`] first to tell the user.
    pub fn with_overrides(mut self, overrides: &HashMap<String, Price>) -> PriceTable {
        for (id, price) in overrides {
            match price.validate() {
                Ok(()) => {
                    self.prices.insert(id.trim().to_ascii_lowercase(), price.clone());
                }
                Err(err) => {
                    tracing::warn!(model = %id, error = %err, "ignoring configured price");
                }
            }
        }
        self
    }

    /// Exact id first, then the longest configured prefix that ends at a word boundary (so
    /// "kimi-k2-0905-preview-2" and a future "kimi-k2.5-0301" find their family, but
    /// "kimi-k2.50" does not borrow from "kimi-k2.5"). A "provider/model" id is tried whole
    /// first, so a configured "openrouter/kimi-k2.5" wins, then by its model part.
    /// `None` means the price is unknown.
    pub fn price(&self, model: &str) -> Option<&Price> {
        let model = model.trim().to_ascii_lowercase();
        self.lookup(&model).or_else(|| {
            let (_, bare) = model.rsplit_once('/')?;
            self.lookup(bare)
        })
    }

    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> Option<f64> {
        self.price(model).map(|p| p.cost(prompt_tokens, completion_tokens, cached_tokens))
    }

    /// All known prices, sorted by id, for display.
    pub fn entries(&self) -> Vec<(&str, &Price)> {
        let mut entries: Vec<_> = self.prices.iter().map(|(k, v)| (k.as_str(), v)).collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
    }

    fn lookup(&self, model: &str) -> Option<&Price> {
        if model.is_empty() {
            return None;
        }
        if let Some(price) = self.prices.get(model) {
            return Some(price);
        }
        self.prices
            .iter()
            .filter(|(id, _)| is_family_prefix(id, model))
            .max_by_key(|(id, _)| id.len())
            .map(|(_, price)| price)
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::defaults()
    }
}

fn is_family_prefix(prefix: &str, model: &str) -> bool {
    !prefix.is_empty()
        && model.len() > prefix.len()
        && model.starts_with(prefix)
        && !model[prefix.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn exact_ids_have_the_published_prices() {
        let t = PriceTable::defaults();
        assert_eq!(t.price("kimi-k2-0905-preview"), Some(&Price::new(0.15, 0.60, 2.50)));
        assert_eq!(t.price("kimi-k2.5"), Some(&Price::new(0.10, 0.60, 3.00)));
        assert_eq!(t.price("kimi-k2-turbo-preview"), Some(&Price::new(0.15, 1.15, 8.00)));
        // The turbo thinking model must not fall back to its non-turbo prefix.
        assert_eq!(t.price("kimi-k2-thinking-turbo"), Some(&Price::new(0.15, 1.15, 8.00)));
        assert_eq!(t.price("KIMI-K2.5"), Some(&Price::new(0.10, 0.60, 3.00)));
    }

    #[test]
    fn a_dated_or_suffixed_id_finds_its_family_by_longest_prefix() {
        let t = PriceTable::defaults();
        assert_eq!(t.price("kimi-k2.5-0301"), Some(&Price::new(0.10, 0.60, 3.00)));
        assert_eq!(t.price("kimi-k2-thinking-turbo-0312"), Some(&Price::new(0.15, 1.15, 8.00)));
        assert_eq!(t.price("kimi-k2-thinking-0312"), Some(&Price::new(0.15, 0.60, 2.50)));
        // A prefix has to end at a word boundary: k2.50 is not k2.5.
        assert_eq!(t.price("kimi-k2.50"), None);
    }

    #[test]
    fn a_configured_family_prefix_covers_new_ids() {
        let overrides = HashMap::from([("kimi-k2".to_string(), Price::new(1.0, 2.0, 3.0))]);
        let t = PriceTable::defaults().with_overrides(&overrides);
        assert_eq!(t.price("kimi-k2-0905-preview"), Some(&Price::new(0.15, 0.60, 2.50)));
        assert_eq!(t.price("kimi-k2-0101-preview"), Some(&Price::new(1.0, 2.0, 3.0)));
    }

    #[test]
    fn provider_qualified_ids_are_looked_up_by_model_part() {
        let t = PriceTable::defaults();
        assert_eq!(t.price("moonshot/kimi-k2-turbo-preview"), Some(&Price::new(0.15, 1.15, 8.00)));
        let overrides = HashMap::from([("openrouter/kimi-k2.5".to_string(), Price::new(0.2, 0.7, 3.5))]);
        let t = t.with_overrides(&overrides);
        assert_eq!(t.price("openrouter/kimi-k2.5"), Some(&Price::new(0.2, 0.7, 3.5)));
        assert_eq!(t.price("moonshot/kimi-k2.5"), Some(&Price::new(0.10, 0.60, 3.00)));
    }

    #[test]
    fn unknown_and_later_models_have_no_price() {
        let t = PriceTable::defaults();
        assert_eq!(t.price("kimi-k2.6"), None);
        assert_eq!(t.price("kimi-k3"), None);
        assert_eq!(t.price("gpt-4o"), None);
        assert_eq!(t.price(""), None);
        assert_eq!(t.price("moonshot/"), None);
        assert_eq!(t.cost("kimi-k3", 1000, 1000, 0), None);
    }

    #[test]
    fn configuration_wins_over_defaults_and_adds_models() {
        let overrides = HashMap::from([
            ("kimi-k2.5".to_string(), Price::new(0.7, 4.0, 21.0)),
            ("Kimi-K3".to_string(), Price::new(0.3, 1.0, 5.0)),
        ]);
        let t = PriceTable::defaults().with_overrides(&overrides);
        assert_eq!(t.price("kimi-k2.5"), Some(&Price::new(0.7, 4.0, 21.0)));
        assert_eq!(t.price("kimi-k3"), Some(&Price::new(0.3, 1.0, 5.0)));
        assert_eq!(t.price("kimi-k2-0711-preview"), Some(&Price::new(0.15, 0.60, 2.50)));
    }

    #[test]
    fn invalid_configured_prices_are_refused_and_the_default_kept() {
        assert_eq!(Price::new(0.1, -0.6, 3.0).validate(), Err(PriceError { field: "cache_miss", value: -0.6 }));
        assert!(Price::new(0.1, 0.6, f64::NAN).validate().is_err());
        assert!(Price::new(0.0, 0.0, 0.0).validate().is_ok());
        let overrides = HashMap::from([("kimi-k2.5".to_string(), Price::new(f64::INFINITY, 0.6, 3.0))]);
        let t = PriceTable::defaults().with_overrides(&overrides);
        assert_eq!(t.price("kimi-k2.5"), Some(&Price::new(0.10, 0.60, 3.00)));
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cache_hit_price() {
        let t = PriceTable::defaults();
        let cost = t.cost("kimi-k2-0905-preview", 1_000_000, 0, 250_000).unwrap();
        assert!(close(cost, 0.25 * 0.15 + 0.75 * 0.60), "{cost}");
        let cost = t.cost("kimi-k2-turbo-preview", 2_000, 500, 0).unwrap();
        assert!(close(cost, 2_000.0 * 1.15 / 1e6 + 500.0 * 8.0 / 1e6), "{cost}");
        let cost = t.cost("kimi-k2.5", 0, 1_000_000, 0).unwrap();
        assert!(close(cost, 3.0), "{cost}");
    }

    #[test]
    fn more_cached_than_prompt_tokens_counts_as_a_fully_cached_prompt() {
        let p = Price::new(0.15, 0.60, 2.50);
        assert!(close(p.cost(100, 0, 500), 100.0 * 0.15 / 1e6));
    }

    #[test]
    fn prices_read_from_toml_and_reject_unknown_fields() {
        let p: Price = toml::from_str("cache_hit = 0.1\ncache_miss = 0.6\noutput = 3.0").unwrap();
        assert_eq!(p, Price::new(0.1, 0.6, 3.0));
        let err = toml::from_str::<Price>("cache_hit = 0.1\ncache_mis = 0.6\noutput = 3.0").unwrap_err().to_string();
        assert!(err.contains("cache_mis"), "{err}");
    }
}
