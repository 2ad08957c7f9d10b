//! The SQLite side of the ledger.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::{default_path_from, Feature, LedgerError, Outcome, Subtotal, TimeRange, Totals, UsageRecord};

pub(crate) const FILE_NAME: &str = "usage.sqlite3";

/// Bumped whenever the schema changes; `migrate` brings older files forward.
const SCHEMA_VERSION: i32 = 1;

/// Long enough to outlast another window's insert (a few milliseconds) many times over, short
/// enough that a wedged process cannot hang a request indefinitely.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Costs are stored as whole billionths of the currency unit: integer sums are exact whatever
/// the order in which rows from several processes are added, and a nano-dollar is far below
/// anything a user could notice.
const NANOS_PER_UNIT: f64 = 1e9;

/// Error text is stored, and a stored file outlives logs; keep it short.
const MAX_ERROR_CHARS: usize = 200;

const SCHEMA_V1: &str = "
CREATE TABLE usage (
    id                INTEGER PRIMARY KEY,
    at_unix_ms        INTEGER NOT NULL,
    feature           TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_nano         INTEGER,
    latency_ms        INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    error             TEXT
);
CREATE INDEX usage_by_time ON usage (at_unix_ms);
";

/// The usage ledger. `Send + Sync`: share it in an `Arc` and call it from `spawn_blocking`.
pub struct Ledger {
    conn: Mutex<Connection>,
    session: SessionTotals,
    busy_timeout: Duration,
}

// The server shares one ledger between tasks; losing either bound must fail the build.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Ledger>()
};

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("session", &self.session.snapshot()).finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens or creates the ledger file (and its directories) and brings its schema up to date.
    /// Errors for a file that is corrupt, unwritable, locked past the timeout or written by a
    /// newer kimi-lsp; the file is left as it was. Callers log the error and fall back to
    /// [`Ledger::open_in_memory`] rather than stop.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with_timeout(path, BUSY_TIMEOUT)
    }

    pub fn open_in_memory() -> Result<Ledger, LedgerError> {
        let conn = Connection::open_in_memory().map_err(db_err(BUSY_TIMEOUT))?;
        Ledger::prepare(conn, None, BUSY_TIMEOUT)
    }

    /// `$KIMI_LSP_DATA_DIR/usage.sqlite3` when that variable is set, else
    /// `<platform data dir>/kimi-lsp/usage.sqlite3`; `None` when neither is known.
    pub fn default_path() -> Option<PathBuf> {
        default_path_from(std::env::var_os("KIMI_LSP_DATA_DIR"), dirs::data_dir())
    }

    fn open_with_timeout(path: &Path, busy_timeout: Duration) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|reason| LedgerError::CreateDir { path: dir.to_path_buf(), reason })?;
        }
        let conn = Connection::open(path).map_err(|reason| LedgerError::Open { path: path.to_path_buf(), reason })?;
        Ledger::prepare(conn, Some(path), busy_timeout)
    }

    fn prepare(mut conn: Connection, path: Option<&Path>, busy_timeout: Duration) -> Result<Ledger, LedgerError> {
        let in_context = |reason: rusqlite::Error| match path {
            _ if is_busy(&reason) => LedgerError::Busy(busy_timeout),
            Some(path) => LedgerError::Open { path: path.to_path_buf(), reason },
            None => LedgerError::Sqlite(reason),
        };
        conn.busy_timeout(busy_timeout).map_err(in_context)?;
        if path.is_some() {
            // WAL lets readers and one writer from other processes proceed side by side.
            let mode = switch_to_wal(&conn, busy_timeout).map_err(in_context)?;
            if !mode.eq_ignore_ascii_case("wal") {
                // Some network file systems cannot do WAL; the rollback journal still keeps
                // writers apart, only with more waiting.
                tracing::warn!(journal_mode = %mode, "usage ledger is not in WAL mode");
            }
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(in_context)?;
        }
        match migrate(&mut conn) {
            Ok(()) => {}
            Err(Migration::Sqlite(e)) => return Err(in_context(e)),
            Err(Migration::Newer(found)) => {
                return Err(LedgerError::NewerSchema {
                    path: path.map(Path::to_path_buf).unwrap_or_default(),
                    found,
                    known: SCHEMA_VERSION,
                })
            }
        }
        Ok(Ledger { conn: Mutex::new(conn), session: SessionTotals::default(), busy_timeout })
    }

    /// Stores one request and returns its row id (for [`Ledger::set_outcome`]). The session
    /// totals count a valid record even when the database refuses it, since the tokens were
    /// spent either way and budgets must not under-count.
    pub fn record(&self, rec: &UsageRecord) -> Result<i64, LedgerError> {
        let row = Row::from_record(rec)?;
        self.session.add(&row);
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.err())?;
        tx.execute(
            "INSERT INTO usage (at_unix_ms, feature, provider, model, prompt_tokens,
                completion_tokens, cached_tokens, cost_nano, latency_ms, outcome, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                row.at_unix_ms,
                row.feature.as_str(),
                rec.provider,
                rec.model,
                row.prompt_tokens,
                row.completion_tokens,
                row.cached_tokens,
                row.cost_nano,
                row.latency_ms,
                row.outcome.as_str(),
                row.error,
            ],
        )
        .map_err(self.err())?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(self.err())?;
        Ok(id)
    }

    /// Changes what became of a request, typically a shown completion that was accepted or
    /// rejected.
    pub fn set_outcome(&self, id: i64, outcome: Outcome) -> Result<(), LedgerError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.err())?;
        let previous: Option<(String, String)> = tx
            .query_row("SELECT feature, outcome FROM usage WHERE id = ?1", [id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(self.err())?;
        let Some((feature, previous)) = previous else {
            return Err(LedgerError::NoSuchRecord(id));
        };
        tx.execute("UPDATE usage SET outcome = ?2 WHERE id = ?1", params![id, outcome.as_str()]).map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        if feature == Feature::Completion.as_str() {
            self.session.completion_outcome_changed(previous.parse().ok(), outcome);
        }
        Ok(())
    }

    pub fn totals(&self, range: TimeRange) -> Result<Totals, LedgerError> {
        self.totals_at(range, super::unix_ms_now())
    }

    /// [`Ledger::totals`] as if the clock read `now_unix_ms`.
    pub fn totals_at(&self, range: TimeRange, now_unix_ms: i64) -> Result<Totals, LedgerError> {
        let conn = self.lock();
        let start = range_start(&conn, range, now_unix_ms).map_err(self.err())?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT feature, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),
                    SUM(cached_tokens), SUM(cost_nano), SUM(cost_nano IS NULL),
                    SUM(outcome IN ('shown', 'accepted', 'rejected')), SUM(outcome = 'accepted'),
                    SUM(outcome = 'error')
                 FROM usage WHERE at_unix_ms >= ?1 GROUP BY feature, model",
            )
            .map_err(self.err())?;
        let groups = stmt
            .query_map([start.unwrap_or(i64::MIN)], |row| {
                Ok(Group {
                    feature: row.get(0)?,
                    model: row.get(1)?,
                    requests: row.get(2)?,
                    prompt_tokens: row.get(3)?,
                    completion_tokens: row.get(4)?,
                    cached_tokens: row.get(5)?,
                    cost_nano: row.get::<_, Option<i64>>(6)?.unwrap_or(0),
                    unpriced: row.get(7)?,
                    shown: row.get(8)?,
                    accepted: row.get(9)?,
                    errors: row.get(10)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        // Fastest first, so that each slice's list comes out sorted for its median.
        let mut stmt = conn
            .prepare_cached(
                "SELECT feature, model, latency_ms FROM usage
                 WHERE at_unix_ms >= ?1 AND outcome IN ('ok', 'shown', 'accepted', 'rejected')
                 ORDER BY latency_ms",
            )
            .map_err(self.err())?;
        let latencies = stmt
            .query_map([start.unwrap_or(i64::MIN)], |row| {
                Ok(Latency { feature: row.get(0)?, model: row.get(1)?, ms: row.get(2)? })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(summarize(groups, &latencies))
    }

    /// The summed known cost of the range, for budgets.
    pub fn spent(&self, range: TimeRange) -> Result<f64, LedgerError> {
        self.spent_at(range, super::unix_ms_now())
    }

    /// [`Ledger::spent`] as if the clock read `now_unix_ms`.
    pub fn spent_at(&self, range: TimeRange, now_unix_ms: i64) -> Result<f64, LedgerError> {
        let conn = self.lock();
        let start = range_start(&conn, range, now_unix_ms).map_err(self.err())?;
        let nanos: Option<i64> = conn
            .query_row("SELECT SUM(cost_nano) FROM usage WHERE at_unix_ms >= ?1", [start.unwrap_or(i64::MIN)], |row| {
                row.get(0)
            })
            .map_err(self.err())?;
        Ok(from_nanos(nanos.unwrap_or(0)))
    }

    /// What this process recorded since the ledger was opened, without touching SQLite.
    pub fn session(&self) -> SessionSnapshot {
        self.session.snapshot()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves the connection usable: any open
        // transaction was rolled back when it was dropped.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> LedgerError {
        db_err(self.busy_timeout)
    }
}

/// Returns the journal mode in effect afterwards. SQLite does not consult the busy handler while
/// switching journal modes, so a process opening the file while another one is creating it
/// has to wait by hand.
fn switch_to_wal(conn: &Connection, busy_timeout: Duration) -> Result<String, rusqlite::Error> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

fn db_err(busy_timeout: Duration) -> impl Fn(rusqlite::Error) -> LedgerError {
    move |e| {
        if is_busy(&e) {
            LedgerError::Busy(busy_timeout)
        } else {
            LedgerError::Sqlite(e)
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

enum Migration {
    Sqlite(rusqlite::Error),
    Newer(i32),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Self {
        Migration::Sqlite(e)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), Migration> {
    let read_version = |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get(0));
    let version: i32 = read_version(conn)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        return Err(Migration::Newer(version));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated the file between the first look and taking the lock.
    let version: i32 = read_version(&tx)?;
    if version > SCHEMA_VERSION {
        return Err(Migration::Newer(version));
    }
    if version < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// The first instant of the range in Unix milliseconds; `None` for all time. SQLite's own
/// calendar does the local-time arithmetic (time zone and daylight saving from the C library),
/// which spares a date-time dependency.
fn range_start(conn: &Connection, range: TimeRange, now_unix_ms: i64) -> Result<Option<i64>, rusqlite::Error> {
    let modifiers = match range {
        TimeRange::AllTime => return Ok(None),
        TimeRange::Since(ms) => return Ok(Some(ms)),
        TimeRange::Today => "'localtime', 'start of day'",
        // Step back six days, then forward to the next Monday: this day if it is a Monday.
        TimeRange::ThisWeek => "'localtime', 'start of day', '-6 days', 'weekday 1'",
        TimeRange::ThisMonth => "'localtime', 'start of month'",
    };
    let sql = format!("SELECT CAST(strftime('%s', ?1, 'unixepoch', {modifiers}, 'utc') AS INTEGER)");
    let seconds: Option<i64> = conn.query_row(&sql, [now_unix_ms.div_euclid(1000)], |r| r.get(0))?;
    // Outside SQLite's calendar (before year 0 or after 9999) there is no day to start: count
    // everything rather than fail a budget check on a broken clock.
    Ok(seconds.and_then(|s| s.checked_mul(1000)))
}

/// A validated record, in the shapes SQLite stores.
struct Row {
    at_unix_ms: i64,
    feature: Feature,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    cost_nano: Option<i64>,
    latency_ms: i64,
    outcome: Outcome,
    error: Option<String>,
}

impl Row {
    fn from_record(rec: &UsageRecord) -> Result<Row, LedgerError> {
        let int =
            |name: &str, v: u64| i64::try_from(v).map_err(|_| LedgerError::Invalid(format!("{name} {v} is too large")));
        let cost_nano = match rec.cost {
            None => None,
            Some(c) if c.is_finite() && c >= 0.0 && c * NANOS_PER_UNIT < i64::MAX as f64 => {
                Some((c * NANOS_PER_UNIT).round() as i64)
            }
            Some(c) => return Err(LedgerError::Invalid(format!("cost {c} is not a non-negative finite amount"))),
        };
        Ok(Row {
            at_unix_ms: rec.at_unix_ms,
            feature: rec.feature,
            prompt_tokens: int("prompt_tokens", rec.prompt_tokens)?,
            completion_tokens: int("completion_tokens", rec.completion_tokens)?,
            cached_tokens: int("cached_tokens", rec.cached_tokens)?,
            cost_nano,
            latency_ms: int("latency_ms", rec.latency_ms)?,
            outcome: rec.outcome,
            error: rec.error.as_deref().map(sanitize_error),
        })
    }
}

/// Masks anything shaped like a platform key or a bearer token and shortens the text: callers
/// are asked to pass a short kind, and this makes a mistake harmless.
fn sanitize_error(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let mut out = String::with_capacity(text.len().min(MAX_ERROR_CHARS));
    let mut rest = text;
    while !rest.is_empty() {
        let at_boundary = out.chars().last().is_none_or(|c| !c.is_ascii_alphanumeric());
        let secret_start = if !at_boundary {
            None
        } else if rest.starts_with("sk-") {
            Some(0)
        } else if rest.len() > 7 && rest.is_char_boundary(7) && rest[..7].eq_ignore_ascii_case("bearer ") {
            out.push_str(&rest[..7]);
            rest = &rest[7..];
            Some(0)
        } else {
            None
        };
        if secret_start.is_some() {
            let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            out.push_str("<redacted>");
            rest = &rest[end..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    if out.chars().count() > MAX_ERROR_CHARS {
        out = out.chars().take(MAX_ERROR_CHARS - 1).collect();
        out.push('…');
    }
    out
}

fn from_nanos(nanos: i64) -> f64 {
    nanos as f64 / NANOS_PER_UNIT
}

/// One `GROUP BY feature, model` row.
struct Group {
    feature: String,
    model: String,
    requests: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    cost_nano: i64,
    unpriced: i64,
    shown: i64,
    accepted: i64,
    errors: i64,
}

/// One answered request's time, for the medians.
struct Latency {
    feature: String,
    model: String,
    ms: i64,
}

/// Integer sums per slice; costs become floats only at the end so that they stay exact.
#[derive(Default)]
struct Sums {
    requests: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    cost_nano: i64,
    unpriced: u64,
    errors: u64,
    /// Answered requests' times, fastest first.
    latencies: Vec<u64>,
}

impl Sums {
    fn add(&mut self, g: &Group) {
        // Negative counts can only come from a hand-edited file; they count as nothing.
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        self.requests += n(g.requests);
        self.prompt_tokens += n(g.prompt_tokens);
        self.completion_tokens += n(g.completion_tokens);
        self.cached_tokens += n(g.cached_tokens);
        self.cost_nano = self.cost_nano.saturating_add(g.cost_nano);
        self.unpriced += n(g.unpriced);
        self.errors += n(g.errors);
    }

    fn subtotal(&self) -> Subtotal {
        Subtotal {
            requests: self.requests,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: self.cached_tokens,
            cost: from_nanos(self.cost_nano),
            unpriced_requests: self.unpriced,
            errors: self.errors,
            median_latency_ms: median(&self.latencies),
        }
    }
}

/// The middle of a sorted list (the lower middle of an even one); `None` when it is empty.
fn median(sorted: &[u64]) -> Option<u64> {
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

fn summarize(groups: Vec<Group>, latencies: &[Latency]) -> Totals {
    let mut all = Sums::default();
    let mut by_feature: Vec<(Feature, Sums)> = Vec::new();
    let mut by_model: Vec<(String, Sums)> = Vec::new();
    let mut shown = 0u64;
    let mut accepted = 0u64;
    for g in &groups {
        // A feature name written by a newer kimi-lsp is counted, under Other.
        let feature = g.feature.parse().unwrap_or(Feature::Other);
        all.add(g);
        match by_feature.iter_mut().find(|(f, _)| *f == feature) {
            Some((_, sums)) => sums.add(g),
            None => {
                let mut sums = Sums::default();
                sums.add(g);
                by_feature.push((feature, sums));
            }
        }
        match by_model.iter_mut().find(|(m, _)| *m == g.model) {
            Some((_, sums)) => sums.add(g),
            None => {
                let mut sums = Sums::default();
                sums.add(g);
                by_model.push((g.model.clone(), sums));
            }
        }
        if feature == Feature::Completion {
            shown += u64::try_from(g.shown).unwrap_or(0);
            accepted += u64::try_from(g.accepted).unwrap_or(0);
        }
    }
    for l in latencies {
        // Negative times can only come from a hand-edited file; they count as none.
        let ms = u64::try_from(l.ms).unwrap_or(0);
        let feature = l.feature.parse().unwrap_or(Feature::Other);
        if let Some((_, sums)) = by_feature.iter_mut().find(|(f, _)| *f == feature) {
            sums.latencies.push(ms);
        }
        if let Some((_, sums)) = by_model.iter_mut().find(|(m, _)| *m == l.model) {
            sums.latencies.push(ms);
        }
    }
    by_feature.sort_by_key(|(f, _)| *f);
    by_model
        .sort_by(|(ma, a), (mb, b)| b.cost_nano.cmp(&a.cost_nano).then(b.requests.cmp(&a.requests)).then(ma.cmp(mb)));
    let total = all.subtotal();
    Totals {
        requests: total.requests,
        prompt_tokens: total.prompt_tokens,
        completion_tokens: total.completion_tokens,
        cached_tokens: total.cached_tokens,
        cost: total.cost,
        unpriced_requests: total.unpriced_requests,
        errors: total.errors,
        by_feature: by_feature.into_iter().map(|(f, s)| (f, s.subtotal())).collect(),
        by_model: by_model.into_iter().map(|(m, s)| (m, s.subtotal())).collect(),
        shown_completions: shown,
        accepted_completions: accepted,
    }
}

/// Running totals of this process, kept in atomics so that a status line or a budget check can
/// read them on every request for free.
#[derive(Debug, Default)]
pub struct SessionTotals {
    requests: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    cost_nano: AtomicU64,
    unpriced_requests: AtomicU64,
    shown_completions: AtomicU64,
    accepted_completions: AtomicU64,
}

/// A copy of [`SessionTotals`] at one moment.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SessionSnapshot {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost: f64,
    pub unpriced_requests: u64,
    pub shown_completions: u64,
    pub accepted_completions: u64,
}

impl SessionTotals {
    pub fn snapshot(&self) -> SessionSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SessionSnapshot {
            requests: get(&self.requests),
            prompt_tokens: get(&self.prompt_tokens),
            completion_tokens: get(&self.completion_tokens),
            cached_tokens: get(&self.cached_tokens),
            cost: get(&self.cost_nano) as f64 / NANOS_PER_UNIT,
            unpriced_requests: get(&self.unpriced_requests),
            shown_completions: get(&self.shown_completions),
            accepted_completions: get(&self.accepted_completions),
        }
    }

    fn add(&self, row: &Row) {
        let add = |a: &AtomicU64, v: i64| {
            a.fetch_add(u64::try_from(v).unwrap_or(0), Ordering::Relaxed);
        };
        add(&self.requests, 1);
        add(&self.prompt_tokens, row.prompt_tokens);
        add(&self.completion_tokens, row.completion_tokens);
        add(&self.cached_tokens, row.cached_tokens);
        match row.cost_nano {
            Some(nanos) => add(&self.cost_nano, nanos),
            None => add(&self.unpriced_requests, 1),
        }
        if row.feature == Feature::Completion {
            self.completion_outcome_changed(None, row.outcome);
        }
    }

    fn completion_outcome_changed(&self, before: Option<Outcome>, after: Outcome) {
        let adjust = |counter: &AtomicU64, was: bool, is: bool| match (was, is) {
            (false, true) => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                // Saturating: the row may have been recorded by another process.
                let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(1)));
            }
            _ => {}
        };
        adjust(&self.shown_completions, before.is_some_and(Outcome::was_shown), after.was_shown());
        adjust(&self.accepted_completions, before == Some(Outcome::Accepted), after == Outcome::Accepted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::PriceTable;

    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = 24 * HOUR_MS;

    fn rec(at_unix_ms: i64, feature: Feature, model: &str, cost: Option<f64>) -> UsageRecord {
        UsageRecord {
            at_unix_ms,
            feature,
            provider: "moonshot".into(),
            model: model.into(),
            prompt_tokens: 1000,
            completion_tokens: 100,
            cached_tokens: 250,
            cost,
            latency_ms: 420,
            outcome: if feature == Feature::Completion { Outcome::Shown } else { Outcome::Ok },
            error: None,
        }
    }

    fn stored_error(ledger: &Ledger, id: i64) -> Option<String> {
        ledger.lock().query_row("SELECT error FROM usage WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    }

    #[test]
    fn totals_add_up_tokens_and_costs_by_feature_and_model() {
        let ledger = Ledger::open_in_memory().unwrap();
        let prices = PriceTable::defaults();
        let c1 = prices.cost("kimi-k2-turbo-preview", 1000, 100, 250);
        let c2 = prices.cost("kimi-k2.5", 1000, 100, 250);
        ledger.record(&rec(1, Feature::Completion, "kimi-k2-turbo-preview", c1)).unwrap();
        ledger.record(&rec(2, Feature::Completion, "kimi-k2-turbo-preview", c1)).unwrap();
        ledger.record(&rec(3, Feature::Chat, "kimi-k2.5", c2)).unwrap();
        ledger.record(&rec(4, Feature::Chat, "kimi-k3", None)).unwrap();

        let t = ledger.totals_at(TimeRange::AllTime, 10).unwrap();
        assert_eq!(t.requests, 4);
        assert_eq!(t.prompt_tokens, 4000);
        assert_eq!(t.completion_tokens, 400);
        assert_eq!(t.cached_tokens, 1000);
        assert_eq!(t.unpriced_requests, 1);
        let (c1, c2) = (c1.unwrap(), c2.unwrap());
        assert!((t.cost - (2.0 * c1 + c2)).abs() < 1e-9, "{}", t.cost);

        let features: Vec<_> = t.by_feature.iter().map(|(f, s)| (*f, s.requests)).collect();
        assert_eq!(features, vec![(Feature::Completion, 2), (Feature::Chat, 2)]);
        let chat = &t.by_feature[1].1;
        assert_eq!(chat.unpriced_requests, 1);
        assert!((chat.cost - c2).abs() < 1e-9);

        let models: Vec<_> = t.by_model.iter().map(|(m, s)| (m.as_str(), s.requests)).collect();
        assert_eq!(
            models,
            vec![("kimi-k2-turbo-preview", 2), ("kimi-k2.5", 1), ("kimi-k3", 1)],
            "most expensive first"
        );
        assert!((ledger.spent_at(TimeRange::AllTime, 10).unwrap() - t.cost).abs() < 1e-12);
    }

    #[test]
    fn costs_sum_exactly_however_many_rows() {
        let ledger = Ledger::open_in_memory().unwrap();
        for i in 0..1000 {
            ledger.record(&rec(i, Feature::Action, "m", Some(0.000123))).unwrap();
        }
        // Adding 0.000123 as a float a thousand times drifts; stored nano-units do not.
        assert_eq!(ledger.spent_at(TimeRange::AllTime, 0).unwrap(), 0.123);
        assert_eq!(ledger.totals_at(TimeRange::AllTime, 0).unwrap().cost, 0.123);
        assert_eq!(ledger.session().cost, 0.123);
    }

    #[test]
    fn since_counts_from_the_given_instant() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = 1_741_714_200_000;
        for at in [now - 3 * DAY_MS, now - DAY_MS, now - HOUR_MS, now] {
            ledger.record(&rec(at, Feature::Chat, "m", Some(1.0))).unwrap();
        }
        let since = |ms| ledger.totals_at(TimeRange::Since(ms), now).unwrap().requests;
        assert_eq!(since(now - DAY_MS), 3);
        assert_eq!(since(now - DAY_MS + 1), 2);
        assert_eq!(since(now + 1), 0);
        assert_eq!(ledger.spent_at(TimeRange::Since(now - 2 * DAY_MS), now).unwrap(), 3.0);
        assert_eq!(ledger.spent_at(TimeRange::AllTime, now).unwrap(), 4.0);
    }

    /// Whatever this machine's time zone: each range starts at a local midnight that is the
    /// right day, week day or day of month, and contains "now".
    #[test]
    fn calendar_ranges_start_at_local_midnight() {
        let ledger = Ledger::open_in_memory().unwrap();
        let conn = ledger.lock();
        let now = super::super::unix_ms_now();
        let local = |ms: i64, fmt: &str| -> String {
            conn.query_row(
                "SELECT strftime(?2, ?1, 'unixepoch', 'localtime')",
                params![ms.div_euclid(1000), fmt],
                |r| r.get(0),
            )
            .unwrap()
        };
        let today = range_start(&conn, TimeRange::Today, now).unwrap().unwrap();
        let week = range_start(&conn, TimeRange::ThisWeek, now).unwrap().unwrap();
        let month = range_start(&conn, TimeRange::ThisMonth, now).unwrap().unwrap();
        assert!(month <= today && week <= today && today <= now);
        assert_eq!(local(today, "%Y-%m-%d %H:%M:%S"), local(now, "%Y-%m-%d 00:00:00"));
        assert_eq!(local(week, "%w %H:%M:%S"), "1 00:00:00", "a Monday midnight");
        assert!(now - week < 7 * DAY_MS + HOUR_MS);
        assert_eq!(local(month, "%Y-%m-%d %H:%M:%S"), local(now, "%Y-%m-01 00:00:00"));
        assert_eq!(range_start(&conn, TimeRange::AllTime, now).unwrap(), None);
    }

    #[test]
    fn calendar_ranges_follow_the_local_time_zone() {
        // The C library reads TZ once per process, so each zone runs in a fresh copy of this
        // test binary.
        let exe = std::env::current_exe().unwrap();
        for zone in ["XXX-8", "EST5EDT,M3.2.0,M11.1.0"] {
            let out = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "ledger::store::tests::calendar_ranges_in_zone",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("TZ", zone)
                .env("KIMI_LSP_TEST_TZ_CHILD", zone)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "zone {zone}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    #[ignore = "run by calendar_ranges_follow_the_local_time_zone with TZ set"]
    fn calendar_ranges_in_zone() {
        let s = |secs: i64| secs * 1000;
        let zone = std::env::var("KIMI_LSP_TEST_TZ_CHILD").expect("run by the parent test");
        let ledger = Ledger::open_in_memory().unwrap();
        match zone.as_str() {
            "XXX-8" => {
                // UTC+8. Now: Wednesday 2025-03-12 01:30 local, still the 11th in UTC.
                let now = s(1_741_714_200);
                let starts = |r| range_start(&ledger.lock(), r, now).unwrap();
                assert_eq!(starts(TimeRange::Today), Some(s(1_741_708_800)));
                assert_eq!(starts(TimeRange::ThisWeek), Some(s(1_741_536_000)));
                assert_eq!(starts(TimeRange::ThisMonth), Some(s(1_740_758_400)));
                for (at, cost) in [
                    (s(1_741_710_600), 1.0),  // Wed 00:30 local (Tue in UTC)
                    (s(1_741_707_000), 2.0),  // Tue 23:30 local, same UTC day as now
                    (s(1_741_539_600), 4.0),  // Mon 01:00 local
                    (s(1_741_532_400), 8.0),  // Sun 23:00 local, last week
                    (s(1_740_762_000), 16.0), // Sat 1 March 01:00 local
                    (s(1_740_754_800), 32.0), // Fri 28 February 23:00 local
                ] {
                    ledger.record(&rec(at, Feature::Chat, "m", Some(cost))).unwrap();
                }
                let spent = |r| ledger.spent_at(r, now).unwrap();
                assert_eq!(spent(TimeRange::Today), 1.0);
                assert_eq!(spent(TimeRange::ThisWeek), 7.0);
                assert_eq!(spent(TimeRange::ThisMonth), 31.0);
                assert_eq!(spent(TimeRange::AllTime), 63.0);
                assert_eq!(ledger.totals_at(TimeRange::ThisWeek, now).unwrap().requests, 3);
            }
            "EST5EDT,M3.2.0,M11.1.0" => {
                // Wednesday 2025-03-12 12:00 EDT; daylight saving began on Sunday the 9th, so
                // the month started at UTC-5 and this week at UTC-4.
                let now = s(1_741_795_200);
                let starts = |r| range_start(&ledger.lock(), r, now).unwrap();
                assert_eq!(starts(TimeRange::Today), Some(s(1_741_752_000)));
                assert_eq!(starts(TimeRange::ThisWeek), Some(s(1_741_579_200)));
                assert_eq!(starts(TimeRange::ThisMonth), Some(s(1_740_805_200)));
            }
            other => panic!("no expectations for zone {other}"),
        }
    }

    #[test]
    fn a_shown_completion_can_be_accepted_or_rejected() {
        let ledger = Ledger::open_in_memory().unwrap();
        let cost = Some(0.001);
        let a = ledger.record(&rec(1, Feature::Completion, "m", cost)).unwrap();
        let b = ledger.record(&rec(2, Feature::Completion, "m", cost)).unwrap();
        let c = ledger.record(&rec(3, Feature::Completion, "m", cost)).unwrap();
        let mut cancelled = rec(4, Feature::Completion, "m", cost);
        cancelled.outcome = Outcome::Cancelled;
        ledger.record(&cancelled).unwrap();
        ledger.record(&rec(5, Feature::Chat, "m", Some(1.0))).unwrap();

        ledger.set_outcome(a, Outcome::Accepted).unwrap();
        ledger.set_outcome(b, Outcome::Rejected).unwrap();
        let t = ledger.totals_at(TimeRange::AllTime, 10).unwrap();
        assert_eq!(t.shown_completions, 3, "cancelled completions never reached the screen");
        assert_eq!(t.accepted_completions, 1);
        assert_eq!(t.acceptance_rate(), Some(1.0 / 3.0));
        // Four completion requests paid for one accepted suggestion; chat is not counted.
        assert!((t.cost_per_accepted().unwrap() - 0.004).abs() < 1e-12);

        ledger.set_outcome(c, Outcome::Accepted).unwrap();
        ledger.set_outcome(a, Outcome::Rejected).unwrap();
        let t = ledger.totals_at(TimeRange::AllTime, 10).unwrap();
        assert_eq!((t.shown_completions, t.accepted_completions), (3, 1));
        let session = ledger.session();
        assert_eq!((session.shown_completions, session.accepted_completions), (3, 1));
    }

    #[test]
    fn setting_the_outcome_of_a_missing_row_is_an_error() {
        let ledger = Ledger::open_in_memory().unwrap();
        let err = ledger.set_outcome(42, Outcome::Accepted).unwrap_err();
        assert!(matches!(err, LedgerError::NoSuchRecord(42)), "{err}");
        assert_eq!(err.to_string(), "no usage record with id 42");
        assert_eq!(ledger.session().accepted_completions, 0);
    }

    #[test]
    fn session_totals_follow_records_without_reading_the_database() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.session(), SessionSnapshot::default());
        ledger.record(&rec(1, Feature::Chat, "m", Some(0.5))).unwrap();
        ledger.record(&rec(2, Feature::Completion, "m", None)).unwrap();
        let s = ledger.session();
        assert_eq!(s.requests, 2);
        assert_eq!(s.prompt_tokens, 2000);
        assert_eq!(s.completion_tokens, 200);
        assert_eq!(s.cached_tokens, 500);
        assert_eq!(s.cost, 0.5);
        assert_eq!(s.unpriced_requests, 1);
        assert_eq!(s.shown_completions, 1);
    }

    #[test]
    fn invalid_records_are_refused_and_nothing_is_counted() {
        let ledger = Ledger::open_in_memory().unwrap();
        for cost in [f64::NAN, -0.01, f64::INFINITY, 1e30] {
            let err = ledger.record(&rec(1, Feature::Chat, "m", Some(cost))).unwrap_err();
            assert!(matches!(err, LedgerError::Invalid(_)), "{err}");
        }
        let mut huge = rec(1, Feature::Chat, "m", None);
        huge.prompt_tokens = u64::MAX;
        let err = ledger.record(&huge).unwrap_err();
        assert!(err.to_string().contains("prompt_tokens"), "{err}");
        assert_eq!(ledger.totals_at(TimeRange::AllTime, 0).unwrap().requests, 0);
        assert_eq!(ledger.session().requests, 0);
    }

    #[test]
    fn stored_errors_never_keep_a_key() {
        let ledger = Ledger::open_in_memory().unwrap();
        let mut r = rec(1, Feature::Chat, "m", None);
        r.outcome = Outcome::Error;
        r.error = Some("auth failed for sk-abcDEF123_x-y.z (Authorization: Bearer tok.en-1)".into());
        let id = ledger.record(&r).unwrap();
        assert_eq!(
            stored_error(&ledger, id).as_deref(),
            Some("auth failed for <redacted> (Authorization: Bearer <redacted>)")
        );
        r.error = Some("rate_limited".into());
        let id = ledger.record(&r).unwrap();
        assert_eq!(stored_error(&ledger, id).as_deref(), Some("rate_limited"));
        // "desk-top" is not a key: the prefix must start a word.
        assert_eq!(sanitize_error("desk-top"), "desk-top");
        let long = "é".repeat(500);
        let short = sanitize_error(&long);
        assert_eq!(short.chars().count(), MAX_ERROR_CHARS);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn open_creates_directories_and_keeps_rows_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join(FILE_NAME);
        let ledger = Ledger::open(&path).unwrap();
        let id = ledger.record(&rec(1, Feature::Doctor, "m", Some(0.25))).unwrap();
        drop(ledger);
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.spent_at(TimeRange::AllTime, 0).unwrap(), 0.25);
        assert_eq!(ledger.session(), SessionSnapshot::default(), "a new session");
        ledger.set_outcome(id, Outcome::Error).unwrap();
        let conn = ledger.lock();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_corrupt_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let garbage = b"this is not a database, it is someone's notes\n".repeat(200);
        std::fs::write(&path, &garbage).unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[test]
    fn an_uncreatable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let err = Ledger::open(&blocker.join(FILE_NAME)).unwrap_err();
        assert!(matches!(err, LedgerError::CreateDir { .. }), "{err:?}");
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE usage (x); PRAGMA user_version = 7;").unwrap();
        }
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::NewerSchema { found: 7, known: SCHEMA_VERSION, .. }), "{err:?}");
        let conn = Connection::open(&path).unwrap();
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 7);
    }

    #[test]
    fn a_database_locked_past_the_timeout_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let ledger = Ledger::open_with_timeout(&path, Duration::from_millis(100)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();

        let started = std::time::Instant::now();
        let err = ledger.record(&rec(1, Feature::Chat, "m", Some(1.0))).unwrap_err();
        assert!(matches!(err, LedgerError::Busy(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.to_string().contains("locked"), "{err}");
        // The refused row still counts toward this session's spending.
        assert_eq!(ledger.session().cost, 1.0);

        other.execute_batch("COMMIT").unwrap();
        ledger.record(&rec(2, Feature::Chat, "m", Some(1.0))).unwrap();
        assert_eq!(ledger.spent_at(TimeRange::AllTime, 0).unwrap(), 1.0);
    }
}
