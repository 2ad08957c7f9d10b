//! What requests used and cost, as `kimi-lsp usage` prints it and `kimi/usage` returns it: today,
//! this week and all time, by feature and by model, with the cache hit ratio, the completion
//! acceptance rate, the cost of one accepted completion, and how much of each budget is spent.
//!
//! [`report`] and [`render`] are pure; only [`collect`] reads the ledger (blocking: async
//! callers use `spawn_blocking`).

use serde::Serialize;

use crate::config::BudgetSettings;
use crate::ledger::{Ledger, LedgerError, Subtotal, TimeRange, Totals};
use crate::providers::error::format_amount;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub today: PeriodUsage,
    pub this_week: PeriodUsage,
    pub all_time: PeriodUsage,
    pub budget: BudgetStatus,
}

/// Usage of one span of time. Costs are in the price table's currency; `promptTokens`
/// includes `cachedTokens`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodUsage {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost: f64,
    /// Requests of models with no known price: `cost` is then a lower bound.
    pub unpriced_requests: u64,
    /// Failed requests, including attempts that a fallback model then answered.
    pub errors: u64,
    pub by_feature: Vec<UsageLine>,
    /// Most expensive first.
    pub by_model: Vec<UsageLine>,
    /// Cached / prompt tokens; `null` before any prompt token.
    pub cache_hit_ratio: Option<f64>,
    pub shown_completions: u64,
    pub accepted_completions: u64,
    /// Accepted / shown completions; `null` before any was shown.
    pub acceptance_rate: Option<f64>,
    /// All completion requests' cost over the accepted ones; `null` before any was accepted.
    pub cost_per_accepted_completion: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageLine {
    /// A feature (`completion`, `action`, `chat`, …) or a model id.
    pub name: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost: f64,
    pub unpriced_requests: u64,
    /// Failed requests; for a model, the attempts that moved on to a fallback show here.
    pub errors: u64,
    /// Median time from sending a request to the end of its answer, over the answered ones;
    /// `null` when none was answered.
    pub median_latency_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    /// `null` when `budget.daily` is unset.
    pub daily: Option<LimitStatus>,
    /// `null` when `budget.monthly` is unset.
    pub monthly: Option<LimitStatus>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitStatus {
    pub limit: f64,
    /// Today's spend for the daily limit, this month's for the monthly one.
    pub spent: f64,
}

/// Reads the ledger and builds the report.
pub fn collect(ledger: &Ledger, budget: &BudgetSettings) -> Result<UsageReport, LedgerError> {
    let today = ledger.totals(TimeRange::Today)?;
    let week = ledger.totals(TimeRange::ThisWeek)?;
    let all = ledger.totals(TimeRange::AllTime)?;
    let month = ledger.spent(TimeRange::ThisMonth)?;
    Ok(report(&today, &week, &all, budget, month))
}

/// The report from the ledger's totals.
pub fn report(today: &Totals, week: &Totals, all: &Totals, budget: &BudgetSettings, spent_month: f64) -> UsageReport {
    UsageReport {
        today: period(today),
        this_week: period(week),
        all_time: period(all),
        budget: BudgetStatus {
            daily: budget.daily.map(|limit| LimitStatus { limit, spent: today.cost }),
            monthly: budget.monthly.map(|limit| LimitStatus { limit, spent: spent_month }),
        },
    }
}

fn period(t: &Totals) -> PeriodUsage {
    let line = |name: &str, s: &Subtotal| UsageLine {
        name: name.to_string(),
        requests: s.requests,
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        cached_tokens: s.cached_tokens,
        cost: s.cost,
        unpriced_requests: s.unpriced_requests,
        errors: s.errors,
        median_latency_ms: s.median_latency_ms,
    };
    PeriodUsage {
        requests: t.requests,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        cached_tokens: t.cached_tokens,
        cost: t.cost,
        unpriced_requests: t.unpriced_requests,
        errors: t.errors,
        by_feature: t.by_feature.iter().map(|(f, s)| line(f.as_str(), s)).collect(),
        by_model: t.by_model.iter().map(|(m, s)| line(m, s)).collect(),
        cache_hit_ratio: t.cache_hit_rate(),
        shown_completions: t.shown_completions,
        accepted_completions: t.accepted_completions,
        acceptance_rate: t.acceptance_rate(),
        cost_per_accepted_completion: t.cost_per_accepted(),
    }
}

/// The report as a table for a terminal.
pub fn render(report: &UsageReport) -> String {
    let periods = [("Today", &report.today), ("This week", &report.this_week), ("All time", &report.all_time)];
    let name_width = periods
        .iter()
        .flat_map(|(_, p)| p.by_feature.iter().chain(&p.by_model))
        .map(|l| l.name.chars().count() + 4)
        .chain(periods.iter().map(|(title, _)| title.len()))
        .max()
        .unwrap_or(0)
        .max(12);
    let mut out = String::new();
    for (title, p) in periods {
        if p.requests == 0 {
            out.push_str(&format!("{title}: no requests\n\n"));
            continue;
        }
        out.push_str(&format!(
            "{title:<name_width$} {:>10} {:>12} {:>12} {:>12} {:>10} {:>11}\n",
            "requests", "prompt tok", "cached tok", "output tok", "cost", "median wait"
        ));
        let row = |out: &mut String, name: &str, l: &UsageLine| {
            let line = format!(
                "{name:<name_width$} {:>10} {:>12} {:>12} {:>12} {:>10} {:>11}",
                thousands(l.requests),
                thousands(l.prompt_tokens),
                thousands(l.cached_tokens),
                thousands(l.completion_tokens),
                cost_cell(l.cost, l.unpriced_requests),
                l.median_latency_ms.map(duration).unwrap_or_default(),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        };
        let total = UsageLine {
            name: String::new(),
            requests: p.requests,
            prompt_tokens: p.prompt_tokens,
            completion_tokens: p.completion_tokens,
            cached_tokens: p.cached_tokens,
            cost: p.cost,
            unpriced_requests: p.unpriced_requests,
            errors: p.errors,
            // Features differ too much in what they ask for to wait alike: no overall median.
            median_latency_ms: None,
        };
        row(&mut out, "  all", &total);
        out.push_str("  by feature\n");
        for l in &p.by_feature {
            row(&mut out, &format!("    {}", l.name), l);
        }
        out.push_str("  by model\n");
        for l in &p.by_model {
            row(&mut out, &format!("    {}", l.name), l);
        }
        if let Some(ratio) = p.cache_hit_ratio {
            out.push_str(&format!("  cache hits: {} of prompt tokens\n", percent(ratio)));
        }
        if let Some(rate) = p.acceptance_rate {
            out.push_str(&format!(
                "  completions: {} accepted of {} shown ({})",
                thousands(p.accepted_completions),
                thousands(p.shown_completions),
                percent(rate)
            ));
            match p.cost_per_accepted_completion {
                Some(cost) => out.push_str(&format!(", {} per accepted completion\n", format_amount(cost))),
                None => out.push('\n'),
            }
        }
        if p.errors > 0 {
            let models: Vec<String> = p
                .by_model
                .iter()
                .filter(|l| l.errors > 0)
                .map(|l| format!("{} {}", l.name, thousands(l.errors)))
                .collect();
            out.push_str(&format!(
                "  failed: {} request(s) ({}); where a fallback model answered, its row is above too\n",
                thousands(p.errors),
                models.join(", ")
            ));
        }
        if p.unpriced_requests > 0 {
            out.push_str(&format!(
                "  + {} request(s) of models with no known price are not in the cost (set `prices.<model>`)\n",
                thousands(p.unpriced_requests)
            ));
        }
        out.push('\n');
    }
    let limit = |name: &str, span: &str, status: Option<LimitStatus>| match status {
        Some(s) => format!(
            "  {name:<8} {} of {} spent {span} ({})\n",
            format_amount(s.spent),
            format_amount(s.limit),
            percent(if s.limit > 0.0 { s.spent / s.limit } else { 1.0 })
        ),
        None => format!("  {name:<8} no limit (`budget.{name}`)\n"),
    };
    out.push_str("Budget\n");
    out.push_str(&limit("daily", "today", report.budget.daily));
    out.push_str(&limit("monthly", "this month", report.budget.monthly));
    out.push_str("\nCosts are in the price table's currency (USD unless `prices` say otherwise); prompt tokens include cached ones.\n");
    out.push_str("Median wait: from sending a request to the end of its answer, over the answered ones.\n");
    out
}

/// `640 ms`, `1.2 s`, `14 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} s", (ms + 500) / 1000),
    }
}

fn cost_cell(cost: f64, unpriced: u64) -> String {
    let amount = format_amount(cost);
    if unpriced > 0 {
        format!("{amount}+")
    } else {
        amount
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{unix_ms_now, Feature, Outcome, UsageRecord};
    use expect_test::expect;

    /// A completion-model request of `feature` recorded now: 100 prompt tokens, 10 out.
    fn request(feature: Feature, outcome: Outcome, latency_ms: u64, cost: f64) -> UsageRecord {
        UsageRecord {
            at_unix_ms: unix_ms_now(),
            feature,
            provider: "moonshot".into(),
            model: "kimi-k2-turbo-preview".into(),
            prompt_tokens: 100,
            completion_tokens: 10,
            cached_tokens: 50,
            cost: Some(cost),
            latency_ms,
            outcome,
            error: None,
        }
    }

    fn sub(requests: u64, prompt: u64, cached: u64, output: u64, cost: f64, unpriced: u64) -> Subtotal {
        Subtotal {
            requests,
            prompt_tokens: prompt,
            completion_tokens: output,
            cached_tokens: cached,
            cost,
            unpriced_requests: unpriced,
            errors: 0,
            median_latency_ms: None,
        }
    }

    fn week() -> Totals {
        Totals {
            requests: 5,
            prompt_tokens: 12_400,
            completion_tokens: 820,
            cached_tokens: 3_100,
            cost: 0.0123,
            unpriced_requests: 1,
            errors: 0,
            by_feature: vec![
                (
                    Feature::Completion,
                    Subtotal { median_latency_ms: Some(640), ..sub(4, 4_400, 3_100, 120, 0.0011, 0) },
                ),
                (Feature::Action, Subtotal { median_latency_ms: Some(12_400), ..sub(1, 8_000, 0, 700, 0.0112, 1) }),
            ],
            by_model: vec![
                ("kimi-k2.5".into(), Subtotal { median_latency_ms: Some(12_400), ..sub(1, 8_000, 0, 700, 0.0112, 1) }),
                ("kimi-k2-turbo-preview".into(), sub(4, 4_400, 3_100, 120, 0.0011, 0)),
            ],
            shown_completions: 3,
            accepted_completions: 2,
        }
    }

    #[test]
    fn the_table_shows_periods_features_models_rates_and_budgets() {
        let all = Totals { requests: 1_234_567, ..week() };
        let r = report(
            &Totals::default(),
            &week(),
            &all,
            &BudgetSettings { daily: Some(1.0), monthly: None, check_balance: false },
            0.5,
        );
        expect![[r#"
            Today: no requests

            This week                   requests   prompt tok   cached tok   output tok       cost median wait
              all                              5       12,400        3,100          820    0.0123+
              by feature
                completion                     4        4,400        3,100          120     0.0011      640 ms
                action                         1        8,000            0          700    0.0112+        12 s
              by model
                kimi-k2.5                      1        8,000            0          700    0.0112+        12 s
                kimi-k2-turbo-preview          4        4,400        3,100          120     0.0011
              cache hits: 25.0 % of prompt tokens
              completions: 2 accepted of 3 shown (66.7 %), 0.0006 per accepted completion
              + 1 request(s) of models with no known price are not in the cost (set `prices.<model>`)

            All time                    requests   prompt tok   cached tok   output tok       cost median wait
              all                      1,234,567       12,400        3,100          820    0.0123+
              by feature
                completion                     4        4,400        3,100          120     0.0011      640 ms
                action                         1        8,000            0          700    0.0112+        12 s
              by model
                kimi-k2.5                      1        8,000            0          700    0.0112+        12 s
                kimi-k2-turbo-preview          4        4,400        3,100          120     0.0011
              cache hits: 25.0 % of prompt tokens
              completions: 2 accepted of 3 shown (66.7 %), 0.0006 per accepted completion
              + 1 request(s) of models with no known price are not in the cost (set `prices.<model>`)

            Budget
              daily    0.0000 of 1.00 spent today (0.0 %)
              monthly  no limit (`budget.monthly`)

            Costs are in the price table's currency (USD unless `prices` say otherwise); prompt tokens include cached ones.
            Median wait: from sending a request to the end of its answer, over the answered ones.
        "#]]
        .assert_eq(&render(&r));
    }

    #[test]
    fn failed_attempts_are_counted_per_model() {
        let ledger = Ledger::open_in_memory().unwrap();
        let attempt = |model: &str, outcome, error: Option<&str>| UsageRecord {
            at_unix_ms: unix_ms_now(),
            feature: Feature::Action,
            provider: "moonshot".into(),
            model: model.into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            cost: Some(0.0),
            latency_ms: 5,
            outcome,
            error: error.map(str::to_string),
        };
        ledger.record(&attempt("kimi-k2.5", Outcome::Error, Some("overloaded"))).unwrap();
        ledger.record(&attempt("claude/claude-sonnet-4-5", Outcome::Ok, None)).unwrap();
        let r = collect(&ledger, &BudgetSettings::default()).unwrap();
        assert_eq!((r.today.requests, r.today.errors), (2, 1));
        let errors: Vec<(&str, u64)> = r.today.by_model.iter().map(|l| (l.name.as_str(), l.errors)).collect();
        assert!(errors.contains(&("kimi-k2.5", 1)) && errors.contains(&("claude/claude-sonnet-4-5", 0)), "{errors:?}");
        let text = render(&r);
        assert!(
            text.contains(
                "  failed: 1 request(s) (kimi-k2.5 1); where a fallback model answered, its row is above too"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_median_wait_counts_answered_requests_only() {
        let ledger = Ledger::open_in_memory().unwrap();
        // A superseded completion stops early and a failed one says nothing of the model's pace.
        for (latency, outcome) in [
            (900, Outcome::Shown),
            (500, Outcome::Accepted),
            (700, Outcome::Rejected),
            (30, Outcome::Cancelled),
            (10, Outcome::Error),
        ] {
            ledger.record(&request(Feature::Completion, outcome, latency, 0.001)).unwrap();
        }
        ledger.record(&request(Feature::Chat, Outcome::Ok, 14_600, 0.001)).unwrap();
        let r = collect(&ledger, &BudgetSettings::default()).unwrap();
        let waits: Vec<(&str, Option<u64>)> =
            r.today.by_feature.iter().map(|l| (l.name.as_str(), l.median_latency_ms)).collect();
        assert_eq!(waits, [("completion", Some(700)), ("chat", Some(14_600))]);
        assert_eq!(r.today.by_model[0].median_latency_ms, Some(700), "the lower middle of the four answered");
        let text = render(&r);
        assert!(text.lines().any(|l| l.starts_with("    completion") && l.ends_with(" 700 ms")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("    chat") && l.ends_with(" 15 s")), "{text}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["today"]["byFeature"][0]["medianLatencyMs"], 700);
    }

    #[test]
    fn json_names_are_camel_case_and_missing_rates_are_null() {
        let r = report(&Totals::default(), &week(), &week(), &BudgetSettings::default(), 0.0);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["today"]["cacheHitRatio"], serde_json::Value::Null);
        assert_eq!(v["today"]["costPerAcceptedCompletion"], serde_json::Value::Null);
        assert_eq!(v["thisWeek"]["acceptanceRate"].as_f64().unwrap(), 2.0 / 3.0);
        assert_eq!(v["allTime"]["byModel"][0]["name"], "kimi-k2.5");
        assert_eq!(v["allTime"]["byFeature"][1]["unpricedRequests"], 1);
        assert_eq!(v["budget"], serde_json::json!({"daily": null, "monthly": null}));
    }

    #[test]
    fn collect_reads_the_ledger() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger.record(&request(Feature::Completion, Outcome::Accepted, 5, 0.002)).unwrap();
        ledger.record(&request(Feature::Completion, Outcome::Shown, 5, 0.002)).unwrap();
        let budget = BudgetSettings { daily: Some(0.01), monthly: Some(1.0), check_balance: false };
        let r = collect(&ledger, &budget).unwrap();
        assert_eq!(r.today.requests, 2);
        assert_eq!(r.all_time.prompt_tokens, 200);
        assert_eq!(r.this_week.acceptance_rate, Some(0.5));
        assert_eq!(r.all_time.cost_per_accepted_completion, Some(0.004));
        assert_eq!(r.budget.daily, Some(LimitStatus { limit: 0.01, spent: 0.004 }));
        assert_eq!(r.budget.monthly, Some(LimitStatus { limit: 1.0, spent: 0.004 }));
    }
}
