//! Retrying a provider call the way its error asks for (`kimi-api.md`'s table): a rate limit
//! after the wait it names, overload, 5xx and timeouts with a growing backoff, an
//! "invalid state transition" once; never an empty balance, a rejected key or a bad request.
//! The router applies [`Retries`] to the requests a user waits for; [`with_retries`] is the same
//! rule around a single call.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use super::error::{ProviderError, RetryHint};

/// How hard a request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retry.
    pub max_attempts: u32,
    /// The most time spent waiting between attempts, summed; a wait that would go past it is not
    /// started and the last error is returned instead.
    pub max_total_wait: Duration,
}

impl RetryPolicy {
    /// One attempt: the error is returned as it is.
    pub const NEVER: RetryPolicy = RetryPolicy { max_attempts: 1, max_total_wait: Duration::ZERO };
}

impl Default for RetryPolicy {
    /// Three attempts within ten seconds of waiting: a rate limit's usual "after 1 seconds" is
    /// waited out twice, a longer one is reported at once rather than leaving the user in front of
    /// a spinner.
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, max_total_wait: Duration::from_secs(10) }
    }
}

/// The first backoff wait; each later one doubles, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// What one request has spent of its [`RetryPolicy`]: ask it after each failure whether to try
/// again, and after how long.
#[derive(Clone, Debug)]
pub struct Retries {
    policy: RetryPolicy,
    waited: Duration,
    backoffs: u32,
    once_used: bool,
    attempts: u32,
}

impl Retries {
    pub fn new(policy: RetryPolicy) -> Retries {
        Retries { policy, waited: Duration::ZERO, backoffs: 0, once_used: false, attempts: 1 }
    }

    /// The wait before the next attempt after `error`, or `None` when retrying cannot help or
    /// the policy is spent. Rate limits wait the seconds the server named; overload, 5xx and
    /// timeouts back off exponentially with jitter; an error whose hint is `Once` is retried at
    /// most once, at once. A context overflow is never retried here: the same request would
    /// overflow again, and only the caller can shrink it.
    pub fn next_wait(&mut self, error: &ProviderError) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let wait = match error.retry_hint() {
            RetryHint::Never => return None,
            RetryHint::Once if self.once_used => return None,
            RetryHint::Once if matches!(error, ProviderError::ContextOverflow { .. }) => return None,
            RetryHint::Once => {
                self.once_used = true;
                Duration::ZERO
            }
            RetryHint::After(wait) => wait,
            RetryHint::Backoff => {
                self.backoffs += 1;
                backoff_delay(self.backoffs, jitter_fraction(self.attempts))
            }
        };
        if self.waited + wait > self.policy.max_total_wait {
            tracing::debug!(kind = error.kind(), wait_ms = wait.as_millis() as u64, "retry budget spent; giving up");
            return None;
        }
        self.waited += wait;
        self.attempts += 1;
        Some(wait)
    }
}

/// Runs `op` until it succeeds or [`Retries::next_wait`] gives up, sleeping in between. Dropping
/// the returned future stops the wait at once.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut retries = Retries::new(*policy);
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        match retries.next_wait(&error) {
            Some(wait) => {
                tracing::debug!(kind = error.kind(), wait_ms = wait.as_millis() as u64, "retrying provider call");
                tokio::time::sleep(wait).await
            }
            None => return Err(error),
        }
    }
}

/// The `n`th backoff (1-based): `BACKOFF_BASE * 2^(n-1)`, capped, scaled by `0.5 + jitter`
/// so that clients that failed together do not retry together.
pub fn backoff_delay(n: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << (n.saturating_sub(1)).min(16));
    exp.min(BACKOFF_CAP).mul_f64(0.5 + jitter.clamp(0.0, 1.0))
}

/// A number in [0, 1) that differs between calls and processes, from std's randomly keyed hasher:
/// jitter needs spread, not cryptographic quality.
fn jitter_fraction(salt: u32) -> f64 {
    let hash = RandomState::new().hash_one((salt, std::time::Instant::now()));
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    fn rate_limited(ms: u64) -> ProviderError {
        ProviderError::RateLimited {
            limit: super::super::error::RateLimit::RequestsPerMinute,
            retry_after: Duration::from_millis(ms),
            request_id: None,
        }
    }

    fn overloaded() -> ProviderError {
        ProviderError::Overloaded { host: "h".into(), model: "m".into(), tried_before: Vec::new(), request_id: None }
    }

    fn balance() -> ProviderError {
        ProviderError::InsufficientBalance { host: "h".into(), billing_url: None, request_id: None }
    }

    async fn run(policy: RetryPolicy, errors: Vec<ProviderError>) -> (Result<&'static str, ProviderError>, u32) {
        let calls = AtomicU32::new(0);
        let result = with_retries(&policy, || {
            let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
            let outcome = errors.get(n).cloned();
            async move {
                match outcome {
                    Some(e) => Err(e),
                    None => Ok("ok"),
                }
            }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn rate_limit_waits_the_stated_time_then_succeeds() {
        let start = Instant::now();
        let (result, calls) = run(RetryPolicy::default(), vec![rate_limited(60)]).await;
        assert_eq!(result.unwrap(), "ok");
        assert_eq!(calls, 2);
        assert!(start.elapsed() >= Duration::from_millis(60));
    }

    #[tokio::test]
    async fn out_of_balance_is_never_retried() {
        let (result, calls) = run(RetryPolicy::default(), vec![balance()]).await;
        assert!(matches!(result, Err(ProviderError::InsufficientBalance { .. })));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_the_last_error() {
        let policy = RetryPolicy { max_attempts: 2, max_total_wait: Duration::from_secs(5) };
        let (result, calls) = run(policy, vec![overloaded(), rate_limited(1), overloaded()]).await;
        assert!(matches!(result, Err(ProviderError::RateLimited { .. })));
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn never_waits_past_the_budget() {
        let policy = RetryPolicy { max_attempts: 5, max_total_wait: Duration::from_millis(100) };
        let start = Instant::now();
        let (result, calls) = run(policy, vec![rate_limited(5_000)]).await;
        assert!(matches!(result, Err(ProviderError::RateLimited { .. })));
        assert_eq!(calls, 1);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn once_means_once_and_overflow_is_left_to_the_caller() {
        let unexpected = ProviderError::UnexpectedOutput {
            host: "h".into(),
            message: "invalid state transition".into(),
            request_id: None,
        };
        let (result, calls) = run(RetryPolicy::default(), vec![unexpected.clone(), unexpected.clone()]).await;
        assert!(matches!(result, Err(ProviderError::UnexpectedOutput { .. })));
        assert_eq!(calls, 2);
        let overflow =
            ProviderError::ContextOverflow { limit: 10, requested: 20, counts_answer: true, request_id: None };
        let (result, calls) = run(RetryPolicy::default(), vec![overflow]).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn never_is_one_attempt() {
        let (result, calls) = run(RetryPolicy::NEVER, vec![rate_limited(1)]).await;
        assert!(matches!(result, Err(ProviderError::RateLimited { .. })));
        assert_eq!(calls, 1);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff_delay(1, 0.5), Duration::from_millis(250));
        assert_eq!(backoff_delay(2, 0.5), Duration::from_millis(500));
        assert_eq!(backoff_delay(3, 0.0), Duration::from_millis(500));
        assert_eq!(backoff_delay(30, 0.5), BACKOFF_CAP);
        let j = jitter_fraction(1);
        assert!((0.0..1.0).contains(&j));
    }
}
