//! `kimi/usage`, the `kimi/usageChanged` notification, budget warnings and the start-up balance
//! check: usage as the editor sees it.

use tower_lsp_server::gen_lsp_types::MessageType;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::Client;

use crate::features::usage::{self, UsageReport};
use crate::lsp::ext::{LastRequest, UsageChanged, UsageChangedParams};
use crate::lsp::Backend;
use crate::providers::error::format_amount;
use crate::router::{UsageEvent, UsageObserver};

/// Below this much of the account's balance (in its currency) the balance counts as low when no
/// daily budget says what a day costs.
const LOW_BALANCE: f64 = 1.0;

pub async fn handle(backend: &Backend) -> Result<UsageReport> {
    let Some(ledger) = backend.router.ledger().cloned() else {
        return Err(internal("the usage ledger is not available in this session (see the server log)".into()));
    };
    let budget = backend.session.config().budget;
    match tokio::task::spawn_blocking(move || usage::collect(&ledger, &budget)).await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(internal(format!("cannot read the usage ledger: {e}"))),
        Err(e) => Err(internal(format!("reading the usage ledger failed: {e}"))),
    }
}

fn internal(message: String) -> Error {
    tracing::warn!("{message}");
    Error { code: tower_lsp_server::jsonrpc::ErrorCode::InternalError, message: message.into(), data: None }
}

/// Turns the router's usage events into messages to the editor. Events arrive on blocking
/// threads; one task sends them in order, so totals never go backwards on the client.
pub fn observer(client: Client) -> UsageObserver {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<UsageEvent>();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                while let Some(event) = rx.recv().await {
                    match event {
                        UsageEvent::Recorded { record, session } => {
                            let params = UsageChangedParams {
                                session_requests: session.requests,
                                session_cost: session.cost,
                                last_request: LastRequest {
                                    feature: record.feature.as_str().to_string(),
                                    model: record.model,
                                    prompt_tokens: record.prompt_tokens,
                                    completion_tokens: record.completion_tokens,
                                    cached_tokens: record.cached_tokens,
                                    cost: record.cost,
                                    outcome: record.outcome.as_str().to_string(),
                                },
                            };
                            client.send_notification::<UsageChanged>(params).await;
                        }
                        UsageEvent::BudgetWarning(u) => {
                            let message = u.warning();
                            tracing::warn!("{message}");
                            client.show_message(MessageType::Warning, format!("kimi-lsp: {message}")).await;
                        }
                        UsageEvent::ModelReplaced { feature, from, to, host } => {
                            let message = UsageEvent::replacement_message(feature, &from, &to, &host);
                            client.show_message(MessageType::Warning, format!("kimi-lsp: {message}")).await;
                        }
                    }
                }
            });
        }
        Err(_) => tracing::warn!("no async runtime: usage notifications are off"),
    }
    UsageObserver::new(move |event| {
        // The receiver is gone only when the server is shutting down.
        let _ = tx.send(event);
    })
}

/// With `budget.checkBalance`, reads the account balance once at start and warns when it is
/// empty or low. Runs in the background: start-up never waits for the network.
pub fn check_balance(backend: &Backend) {
    let config = backend.session.config();
    if !config.budget.check_balance || config.api_key.is_none() {
        return;
    }
    let router = backend.router.clone();
    let client = backend.client.clone();
    tokio::spawn(async move {
        match router.balance(&config).await {
            Ok(Some(balance)) => {
                if let Some((kind, message)) = balance_warning(balance.available, config.budget.daily) {
                    tracing::warn!("{message}");
                    client.show_message(kind, format!("kimi-lsp: {message}")).await;
                }
            }
            Ok(None) => tracing::info!("the endpoint keeps no balance; budget.checkBalance has nothing to check"),
            Err(e) => tracing::warn!("the balance could not be read: {e}"),
        }
    });
}

/// What to tell the user about the balance: nothing while it covers a day at the daily budget
/// (or [`LOW_BALANCE`] without one).
pub fn balance_warning(available: f64, daily_budget: Option<f64>) -> Option<(MessageType, String)> {
    if available <= 0.0 {
        return Some((
            MessageType::Error,
            format!(
                "the account balance is {}: the provider refuses requests until it is recharged.",
                format_amount(available)
            ),
        ));
    }
    let low = daily_budget.filter(|d| *d > 0.0).unwrap_or(LOW_BALANCE);
    (available < low).then(|| {
        let what = if daily_budget.is_some_and(|d| d > 0.0) { "less than one day at the daily budget" } else { "low" };
        (
            MessageType::Warning,
            format!(
                "the account balance is {} ({what}); recharge it soon to keep Kimi working.",
                format_amount(available)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_low_balances_warn_and_a_healthy_one_does_not() {
        let (kind, message) = balance_warning(0.0, None).unwrap();
        assert_eq!(kind, MessageType::Error);
        assert!(message.contains("refuses requests"), "{message}");
        let (kind, message) = balance_warning(0.42, None).unwrap();
        assert_eq!(kind, MessageType::Warning);
        assert_eq!(message, "the account balance is 0.4200 (low); recharge it soon to keep Kimi working.");
        assert_eq!(balance_warning(49.58, None), None);
        let (_, message) = balance_warning(3.0, Some(5.0)).unwrap();
        assert!(message.contains("less than one day at the daily budget"), "{message}");
        assert_eq!(balance_warning(6.0, Some(5.0)), None);
    }
}
