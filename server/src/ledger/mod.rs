//! The usage ledger: what every model request used and cost, kept in one SQLite file that all
//! kimi-lsp processes on the machine (one per editor window) write to at once, so that history
//! and budgets are per user, not per window.
//!
//! Failure policy: the ledger is bookkeeping, never a reason to stop serving. [`Ledger::open`]
//! returns an error for a corrupt, unwritable or newer-format file; the caller logs it and carries
//! on with [`Ledger::open_in_memory`], which keeps this session's totals and budgets working.
//! A write that stays locked by another process longer than the busy timeout returns
//! [`LedgerError::Busy`]; nothing here panics on bad input or a bad file.
//!
//! All calls block on SQLite: async callers use `tokio::task::spawn_blocking`. The cheap
//! [`Ledger::session`] snapshot never touches the database.

mod price;
mod store;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use price::{Price, PriceError, PriceTable};
pub use store::{Ledger, SessionSnapshot, SessionTotals};

/// Which part of the server made a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    Completion,
    Action,
    Chat,
    Doctor,
    Other,
}

impl Feature {
    pub const ALL: [Feature; 5] =
        [Feature::Completion, Feature::Action, Feature::Chat, Feature::Doctor, Feature::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Completion => "completion",
            Feature::Action => "action",
            Feature::Chat => "chat",
            Feature::Doctor => "doctor",
            Feature::Other => "other",
        }
    }
}

/// What became of a request. A completion row starts as `Shown` and may later become `Accepted`
/// or `Rejected` through [`Ledger::set_outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Shown,
    Accepted,
    Rejected,
    Error,
    Cancelled,
    /// A completion worked out ahead, for the place the suggestion on screen ends
    /// (`completion.speculate`), and not shown (yet): it becomes `Shown` when it is.
    Ahead,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Shown,
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Error,
        Outcome::Cancelled,
        Outcome::Ahead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Shown => "shown",
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::Ahead => "ahead",
        }
    }

    /// A completion with this outcome reached the user's screen.
    pub fn was_shown(self) -> bool {
        matches!(self, Outcome::Shown | Outcome::Accepted | Outcome::Rejected)
    }
}

/// The text did not name a known feature or outcome.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct ParseNameError {
    kind: &'static str,
    value: String,
}

impl FromStr for Feature {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ParseNameError { kind: "feature", value: s.to_string() })
    }
}

impl FromStr for Outcome {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| ParseNameError { kind: "outcome", value: s.to_string() })
    }
}

/// One model request.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRecord {
    pub at_unix_ms: i64,
    pub feature: Feature,
    pub provider: String,
    pub model: String,
    /// Includes `cached_tokens`.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// `None` when the model's price is unknown; such requests are counted in
    /// `unpriced_requests` instead of being guessed.
    pub cost: Option<f64>,
    pub latency_ms: u64,
    pub outcome: Outcome,
    /// A short kind such as "rate_limited". The ledger additionally masks anything that looks
    /// like a key and shortens long text, because this file outlives logs.
    pub error: Option<String>,
}

/// Which requests to add up. Days, weeks and months follow the machine's local time zone;
/// weeks start on Monday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRange {
    Today,
    ThisWeek,
    ThisMonth,
    AllTime,
    /// From this instant (milliseconds since the Unix epoch) on.
    Since(i64),
}

/// Usage of one slice of the ledger.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Subtotal {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Sum of the known costs.
    pub cost: f64,
    /// Requests whose cost is unknown, so a display can say the cost is a lower bound.
    pub unpriced_requests: u64,
    /// Requests that failed (outcome `error`), including attempts a fallback model then answered.
    pub errors: u64,
    /// The median time from sending a request to the end of its answer, over the requests that
    /// were answered (not failed or cancelled): how long the model makes you wait. A completion's
    /// answer ends where the server stops reading it (the end of the line or block it needs).
    pub median_latency_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost: f64,
    pub unpriced_requests: u64,
    /// Requests that failed, including attempts a fallback model then answered.
    pub errors: u64,
    /// In the order of [`Feature::ALL`], only features that were used.
    pub by_feature: Vec<(Feature, Subtotal)>,
    /// Most expensive first.
    pub by_model: Vec<(String, Subtotal)>,
    /// Completions that reached the screen (shown, accepted or rejected).
    pub shown_completions: u64,
    pub accepted_completions: u64,
}

impl Totals {
    /// Accepted / shown completions; `None` before any completion was shown.
    pub fn acceptance_rate(&self) -> Option<f64> {
        (self.shown_completions > 0).then(|| self.accepted_completions as f64 / self.shown_completions as f64)
    }

    /// What all completion requests (shown or not) cost, divided by the accepted ones: the price
    /// of one useful suggestion.
    pub fn cost_per_accepted(&self) -> Option<f64> {
        if self.accepted_completions == 0 {
            return None;
        }
        let completion_cost =
            self.by_feature.iter().find(|(f, _)| *f == Feature::Completion).map_or(0.0, |(_, s)| s.cost);
        Some(completion_cost / self.accepted_completions as f64)
    }

    /// The share of prompt tokens served from the provider's cache.
    pub fn cache_hit_rate(&self) -> Option<f64> {
        (self.prompt_tokens > 0).then(|| self.cached_tokens as f64 / self.prompt_tokens as f64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create the directory {} for the usage ledger: {reason}", path.display())]
    CreateDir { path: PathBuf, reason: std::io::Error },
    #[error("cannot use the usage ledger {}: {reason}", path.display())]
    Open { path: PathBuf, reason: rusqlite::Error },
    #[error(
        "the usage ledger {} was written by a newer kimi-lsp (format {found}; this one knows up to {known})",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i32, known: i32 },
    #[error("the usage ledger stayed locked by another process for more than {} ms", .0.as_millis())]
    Busy(Duration),
    #[error("no usage record with id {0}")]
    NoSuchRecord(i64),
    #[error("invalid usage record: {0}")]
    Invalid(String),
    #[error("usage ledger error: {0}")]
    Sqlite(rusqlite::Error),
}

/// The ledger's file: `$KIMI_LSP_DATA_DIR/usage.sqlite3` when that is set, else
/// `<platform data dir>/kimi-lsp/usage.sqlite3`. `None` when neither is known.
pub(crate) fn default_path_from(
    data_dir_env: Option<std::ffi::OsString>,
    platform_data_dir: Option<PathBuf>,
) -> Option<PathBuf> {
    match data_dir_env {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join(store::FILE_NAME)),
        _ => platform_data_dir.map(|d| d.join("kimi-lsp").join(store::FILE_NAME)),
    }
}

/// Milliseconds since the Unix epoch, for [`UsageRecord::at_unix_ms`]. A clock before 1970
/// reads as 0 rather than failing.
pub fn unix_ms_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The local calendar day of an instant (`2026-11-23`), by the same calendar the ledger uses
/// for "today" (SQLite's, with the C library's time zone), so that whoever counts per day
/// (budget warnings) agrees with the totals.
pub fn local_day(unix_ms: i64) -> Option<String> {
    let conn = rusqlite::Connection::open_in_memory().ok()?;
    conn.query_row("SELECT date(?1, 'unixepoch', 'localtime')", [unix_ms.div_euclid(1000)], |r| r.get(0)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>(), Ok(f));
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert_eq!("autocomplete".parse::<Feature>().unwrap_err().to_string(), "unknown feature `autocomplete`");
        assert!("Accepted".parse::<Outcome>().is_err());
    }

    #[test]
    fn default_path_prefers_the_environment_variable() {
        assert_eq!(
            default_path_from(Some("/tmp/kd".into()), Some("/home/u/.local/share".into())),
            Some(PathBuf::from("/tmp/kd/usage.sqlite3"))
        );
        assert_eq!(
            default_path_from(Some("".into()), Some("/home/u/.local/share".into())),
            Some(PathBuf::from("/home/u/.local/share/kimi-lsp/usage.sqlite3"))
        );
        assert_eq!(default_path_from(None, Some("/data".into())), Some(PathBuf::from("/data/kimi-lsp/usage.sqlite3")));
        assert_eq!(default_path_from(None, None), None);
    }

    #[test]
    fn derived_rates() {
        let mut t = Totals::default();
        assert_eq!(t.acceptance_rate(), None);
        assert_eq!(t.cost_per_accepted(), None);
        assert_eq!(t.cache_hit_rate(), None);
        t.shown_completions = 4;
        t.accepted_completions = 1;
        t.prompt_tokens = 1000;
        t.cached_tokens = 250;
        t.by_feature = vec![
            (Feature::Completion, Subtotal { cost: 0.5, ..Subtotal::default() }),
            (Feature::Chat, Subtotal { cost: 9.0, ..Subtotal::default() }),
        ];
        assert_eq!(t.acceptance_rate(), Some(0.25));
        assert_eq!(t.cost_per_accepted(), Some(0.5));
        assert_eq!(t.cache_hit_rate(), Some(0.25));
    }
}
