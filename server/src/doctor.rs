//! `kimi-lsp doctor`: checks the setup the way the server will use it, and says what to do
//! about each problem. Returns a report; `cli.rs` prints it.

use std::time::Instant;

use serde::Serialize;

use crate::config::{
    default_config_path, display_path, Config, ConfigLayers, ConfigProblem, Source, API_KEY_ENV, BASE_URL_ENV,
    DEFAULT_BASE_URL, DEFAULT_PROVIDER,
};
use crate::ledger::Ledger;
use crate::providers::error::{host_of, Platform};
use crate::providers::{with_retries, HttpPool, OpenAiCompatible, ProviderClient, ProviderError, RetryPolicy};
use crate::secret::KeyKind;

/// A rate limit, overload or 5xx that waiting fixes is what the editor's requests ride out too:
/// the doctor retries its calls by the same policy rather than report a passing hiccup as a
/// broken setup.
fn retries() -> RetryPolicy {
    crate::router::retry_policy(crate::ledger::Feature::Doctor)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub checks: Vec<Check>,
    /// The models the endpoint serves, when it could be asked.
    pub models: Vec<String>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    pub fn render(&self, color: bool) -> String {
        let mut out = String::from("kimi-lsp doctor\n");
        for check in &self.checks {
            let (mark, paint) = match check.status {
                Status::Ok => ("✓", "32"),
                Status::Warn => ("!", "33"),
                Status::Fail => ("✗", "31"),
                Status::Skip => ("-", "2"),
            };
            let mark = if color { format!("\x1b[{paint}m{mark}\x1b[0m") } else { mark.to_string() };
            out.push_str(&format!("  {mark} {:<12} {}\n", check.name, check.detail));
            if let Some(hint) = &check.hint {
                out.push_str(&format!("    {:<12} → {hint}\n", ""));
            }
        }
        out.push_str(if self.healthy {
            "Everything needed is in place.\n"
        } else {
            "Something needs fixing (✗ above).\n"
        });
        out
    }
}

pub async fn run(layers: &ConfigLayers, problems: &[ConfigProblem]) -> Report {
    let (config, resolve_problems) = layers.resolve();
    let mut checks = Vec::new();
    let mut models = Vec::new();

    // Settings.
    let file = match &layers.file_path {
        Some(path) => format!("read {}", display_path(path)),
        None => match default_config_path() {
            Some(path) => format!("no config file ({} is optional)", display_path(&path)),
            None => "no config file".to_string(),
        },
    };
    let all_problems: Vec<String> = problems.iter().chain(&resolve_problems).map(|p| p.to_string()).collect();
    checks.push(Check {
        name: "settings",
        status: if all_problems.is_empty() { Status::Ok } else { Status::Warn },
        detail: if all_problems.is_empty() { file } else { format!("{file}; {}", all_problems.join("; ")) },
        hint: (!all_problems.is_empty()).then(|| "fix or remove the settings named; the rest still apply".into()),
    });

    // Endpoint as configured.
    let base_origin = match layers.origin_of("baseUrl") {
        Some(Source::Environment) => format!("from {BASE_URL_ENV}"),
        Some(source) => format!("from {}", source.describe()),
        None => "the default".into(),
    };
    let host = host_of(&config.base_url);
    let platform = Platform::of_host(&host);
    let usable =
        url::Url::parse(&config.base_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    checks.push(Check {
        name: "endpoint",
        status: if usable { Status::Ok } else { Status::Fail },
        detail: format!("{} ({base_origin})", config.base_url),
        hint: (!usable).then(|| {
            format!("`baseUrl` must be an http(s) URL such as {DEFAULT_BASE_URL} or https://api.moonshot.cn/v1")
        }),
    });

    // The key.
    let key_check = match &config.api_key {
        None if platform.is_some() => Check {
            name: "API key",
            status: Status::Fail,
            detail: format!("not set; {host} needs one"),
            hint: Some(format!(
                "create a key at {} and set {API_KEY_ENV} in the environment your editor starts from",
                platform.map_or("the platform console", |p| p.console())
            )),
        },
        None => Check {
            name: "API key",
            status: Status::Ok,
            detail: "not set (fine for a self-hosted server that needs none)".into(),
            hint: None,
        },
        Some(key) => {
            let origin = match layers.origin_of("apiKey") {
                Some(Source::Environment) => format!("from {API_KEY_ENV}"),
                Some(source) => format!("from {}", source.describe()),
                None => "set".into(),
            };
            match key.kind() {
                KeyKind::KimiCode if platform.is_some() => Check {
                    name: "API key",
                    status: Status::Fail,
                    detail: format!("{origin}, but it is a Kimi Code key (sk-kimi-…), which {host} rejects"),
                    hint: Some("create a platform key at https://platform.moonshot.ai (or .cn) for this API".into()),
                },
                _ => Check { name: "API key", status: Status::Ok, detail: format!("set ({origin})"), hint: None },
            }
        }
    };
    let key_ok = key_check.status != Status::Fail;
    checks.push(key_check);

    // Reach it and list the models.
    let client = OpenAiCompatible::new(
        config.provider_config(),
        OpenAiCompatible::http_client(config.timeouts.connect(), &config.tls.ca_files()),
    );
    let started = Instant::now();
    let reached = if key_ok || config.api_key.is_some() {
        match with_retries(&retries(), || client.models()).await {
            Ok(list) => {
                let prefill = config.provider(DEFAULT_PROVIDER).map(|p| prefill_note(&p, &list)).unwrap_or_default();
                models = list.into_iter().map(|m| m.id).collect();
                checks.push(Check {
                    name: "connection",
                    status: Status::Ok,
                    detail: format!(
                        "{host} answered in {} ms{} and serves {} model{}{prefill}",
                        started.elapsed().as_millis(),
                        client.protocol().map(|p| format!(" over {p}")).unwrap_or_default(),
                        models.len(),
                        if models.len() == 1 { "" } else { "s" }
                    ),
                    hint: None,
                });
                true
            }
            Err(e) => {
                let rejected = matches!(e, ProviderError::InvalidAuthentication { .. });
                checks.push(connection_failure(&e, &config.base_url));
                if rejected {
                    if let Some(check) = probe_other_region(&config).await {
                        checks.push(check);
                    }
                }
                false
            }
        }
    } else {
        checks.push(Check {
            name: "connection",
            status: Status::Skip,
            detail: "not tried without a usable key".into(),
            hint: None,
        });
        false
    };

    // The configured models.
    if reached {
        let wanted = [
            ("completion", &config.models.completion),
            ("action", &config.models.action),
            ("chat", &config.models.chat),
        ];
        // Models of other providers are checked with their provider.
        let missing: Vec<String> = wanted
            .iter()
            .map(|(task, id)| (task, config.model_ref(id)))
            .filter(|(_, r)| r.provider == DEFAULT_PROVIDER && !models.contains(&r.model))
            .map(|(task, r)| format!("{task}: {}", r.model))
            .collect();
        checks.push(if missing.is_empty() {
            Check {
                name: "models",
                status: Status::Ok,
                detail: format!(
                    "completion {}, action {}, chat {}: all served",
                    config.models.completion, config.models.action, config.models.chat
                ),
                hint: None,
            }
        } else {
            Check {
                name: "models",
                status: Status::Warn,
                detail: format!("not served by {host}: {}", missing.join(", ")),
                hint: Some(format!(
                    "set `models.completion` / `models.action` / `models.chat` to one of: {}",
                    models.join(", ")
                )),
            }
        });

        // The balance, where the endpoint keeps one.
        checks.push(match with_retries(&retries(), || client.balance()).await {
            Ok(Some(balance)) if balance.available <= 0.0 => Check {
                name: "balance",
                status: Status::Fail,
                detail: format!("{:.2} available: requests will be refused", balance.available),
                hint: Some(format!("recharge at {}", platform.map_or("the provider's console", |p| p.console()))),
            },
            Ok(Some(balance)) => Check {
                name: "balance",
                status: Status::Ok,
                detail: format!(
                    "{:.2} available ({:.2} voucher, {:.2} cash){}",
                    balance.available,
                    balance.voucher,
                    balance.cash,
                    match platform {
                        Some(Platform::China) => " CNY",
                        Some(Platform::Global) => " USD",
                        None => "",
                    }
                ),
                hint: None,
            },
            Ok(None) => Check {
                name: "balance",
                status: Status::Skip,
                detail: "this endpoint reports no balance".into(),
                hint: None,
            },
            Err(e) => {
                Check { name: "balance", status: Status::Warn, detail: format!("could not be read: {e}"), hint: None }
            }
        });
    }

    // The other providers, and where each task's requests go.
    for name in config.provider_names().into_iter().filter(|n| n != DEFAULT_PROVIDER) {
        checks.push(provider_check(&config, &name).await);
    }
    checks.push(routes_check(&config));

    checks.push(completions_check(&config));

    // The usage ledger.
    if config.usage_ledger {
        checks.push(match Ledger::default_path() {
            Some(path) => match Ledger::open(&path) {
                Ok(_) => Check {
                    name: "usage log",
                    status: Status::Ok,
                    detail: format!("recording to {}", display_path(&path)),
                    hint: None,
                },
                Err(e) => Check {
                    name: "usage log",
                    status: Status::Warn,
                    detail: format!("cannot open {}: {e}", display_path(&path)),
                    hint: Some(
                        "usage will not be recorded; check the directory's permissions or set KIMI_LSP_DATA_DIR".into(),
                    ),
                },
            },
            None => Check {
                name: "usage log",
                status: Status::Warn,
                detail: "no data directory found on this system".into(),
                hint: Some("set KIMI_LSP_DATA_DIR to a writable directory".into()),
            },
        });
    }

    let healthy = checks.iter().all(|c| c.status != Status::Fail);
    Report { healthy, checks, models }
}

/// Where completions are off, for "why do I get no suggestions here?".
fn completions_check(config: &Config) -> Check {
    let settings = &config.completion;
    if !settings.enabled {
        return Check {
            name: "completions",
            status: Status::Warn,
            detail: "off everywhere (`completion.enabled` is false)".into(),
            hint: Some("set `completion.enabled` to true to get suggestions".into()),
        };
    }
    let off: Vec<&str> =
        settings.languages.iter().filter(|(id, on)| !**on && *id != "*").map(|(id, _)| id.as_str()).collect();
    let on: Vec<&str> =
        settings.languages.iter().filter(|(id, on)| **on && *id != "*").map(|(id, _)| id.as_str()).collect();
    let mut parts = Vec::new();
    match settings.languages.get("*") {
        Some(false) if on.is_empty() => parts.push("off in every language (`completion.languages`)".to_string()),
        Some(false) => parts.push(format!("on only for {}", on.join(", "))),
        _ if off.is_empty() => parts.push("on in every language".to_string()),
        _ => parts.push(format!("on except for {}", off.join(", "))),
    }
    if !settings.exclude.is_empty() {
        parts.push(format!("not in files matching {}", settings.exclude.patterns().join(", ")));
    }
    let everywhere_off = settings.languages.get("*") == Some(&false) && on.is_empty();
    Check {
        name: "completions",
        status: if everywhere_off { Status::Warn } else { Status::Ok },
        detail: parts.join("; "),
        hint: everywhere_off.then(|| "list the languages you want in `completion.languages`, e.g. rust = true".into()),
    }
}

fn connection_failure(e: &ProviderError, base_url: &str) -> Check {
    let hint = match e {
        ProviderError::InvalidAuthentication { suggested_base_url: Some(other), .. } => Some(format!(
            "if the key is from the other platform, set {BASE_URL_ENV}={other} (or `baseUrl` in the settings)"
        )),
        // Behind a proxy or gateway the host says nothing about the region, but a platform key
        // sent to the wrong region is still the likeliest cause of a 401.
        ProviderError::InvalidAuthentication { key: Some(KeyKind::Platform), .. } => Some(format!(
            "check {API_KEY_ENV}; keys work only on the platform that issued them: a platform.moonshot.cn key \
             needs {BASE_URL_ENV}={}, a platform.moonshot.ai key {}",
            Platform::China.base_url(),
            Platform::Global.base_url()
        )),
        ProviderError::InvalidAuthentication { .. } | ProviderError::IncorrectApiKey { .. } => {
            Some(format!("check {API_KEY_ENV}"))
        }
        ProviderError::Connect { .. } | ProviderError::Timeout { .. } => {
            Some(format!("check the network, or {BASE_URL_ENV} / `baseUrl` (now {base_url})"))
        }
        _ => None,
    };
    Check { name: "connection", status: Status::Fail, detail: e.to_string(), hint }
}

/// The configured Moonshot platform rejected the key: asks the other platform with the same key,
/// since a key works only on the platform that issued it. `None` when the endpoint is neither
/// platform (a self-hosted server or a gateway), where there is no other region to try.
async fn probe_other_region(config: &Config) -> Option<Check> {
    let configured = config.base_url.trim_end_matches('/');
    let same = |url: &str| url.trim_end_matches('/').eq_ignore_ascii_case(configured);
    let here = if same(&config.regions.global) {
        Platform::Global
    } else if same(&config.regions.china) {
        Platform::China
    } else {
        Platform::of_host(&host_of(configured))?
    };
    let there = here.other();
    let other_url = match there {
        Platform::Global => config.regions.global.trim_end_matches('/').to_string(),
        Platform::China => config.regions.china.trim_end_matches('/').to_string(),
    };
    let mut provider = config.provider_config();
    provider.base_url = other_url.clone();
    let client = OpenAiCompatible::new(
        provider,
        OpenAiCompatible::http_client(config.timeouts.connect(), &config.tls.ca_files()),
    );
    let name = |p: Platform| match p {
        Platform::Global => "the global platform (platform.moonshot.ai)",
        Platform::China => "the China platform (platform.moonshot.cn)",
    };
    Some(match with_retries(&retries(), || client.models()).await {
        Ok(_) => Check {
            name: "region",
            status: Status::Fail,
            detail: format!(
                "the key is from {}: {} accepts it, {} does not",
                name(there),
                host_of(&other_url),
                host_of(configured)
            ),
            hint: Some(format!("set {BASE_URL_ENV}={other_url} (or `baseUrl = \"{other_url}\"` in config.toml)")),
        },
        Err(ProviderError::InvalidAuthentication { .. } | ProviderError::IncorrectApiKey { .. }) => Check {
            name: "region",
            status: Status::Fail,
            detail: format!("{} rejects the key too: it is not a key of either Moonshot platform", host_of(&other_url)),
            hint: Some(format!(
                "create a key at {} (or {}) and set {API_KEY_ENV} to it",
                Platform::Global.console(),
                Platform::China.console()
            )),
        },
        Err(e) => Check {
            name: "region",
            status: Status::Warn,
            detail: format!("could not ask {} whether the key is from {}: {e}", host_of(&other_url), name(there)),
            hint: None,
        },
    })
}

/// How completions will ask a server that is not Moonshot's to continue the text before the
/// cursor, where that is not Moonshot's partial mode: a vLLM or SGLang server that the setting
/// leaves at `auto` gets `continue_final_message`, which is worth knowing when completions
/// look wrong.
fn prefill_note(provider: &crate::config::ResolvedProvider, models: &[crate::providers::ModelInfo]) -> String {
    if provider.kind == crate::providers::ProviderKind::Anthropic {
        return String::new();
    }
    match crate::router::prefill_for(provider, "", Some(models)) {
        crate::providers::Prefill::ContinueFinalMessage => {
            "; completions continue the text before the cursor with `continue_final_message` (vLLM, SGLang)".into()
        }
        crate::providers::Prefill::Partial => String::new(),
    }
}

/// One configured provider: its key, whether it answers, and how many models it lists.
async fn provider_check(config: &Config, name: &str) -> Check {
    let Some(provider) = config.provider(name) else {
        return Check {
            name: "provider",
            status: Status::Fail,
            detail: format!("`{name}` is not configured"),
            hint: None,
        };
    };
    let host = host_of(&provider.config.base_url);
    let what = format!("`{name}` ({}, {host})", provider.kind.as_str());
    if let (Some(var), None) = (&provider.config.api_key_env, &provider.config.api_key) {
        return Check {
            name: "provider",
            status: Status::Fail,
            detail: format!("{what}: {var} is not set"),
            hint: Some(format!("set {var} to the provider's API key in the environment your editor starts from")),
        };
    }
    let client = ProviderClient::new(
        provider.kind,
        provider.config.clone(),
        &HttpPool::new(config.timeouts.connect(), &config.tls.ca_files()),
    );
    let started = Instant::now();
    match with_retries(&retries(), || client.models()).await {
        Ok(models) => Check {
            name: "provider",
            status: Status::Ok,
            detail: format!(
                "{what} answered in {} ms and lists {} model{}{}",
                started.elapsed().as_millis(),
                models.len(),
                if models.len() == 1 { "" } else { "s" },
                prefill_note(&provider, &models)
            ),
            hint: None,
        },
        // Some OpenAI-compatible servers (llama.cpp's, some gateways) have no model list; chat
        // may still work.
        Err(e @ (ProviderError::WrongPath { .. } | ProviderError::EndpointMissing { .. })) => Check {
            name: "provider",
            status: Status::Warn,
            detail: format!("{what} lists no models: {e}"),
            hint: Some("if chat requests fail too, check the provider's `baseUrl`".into()),
        },
        Err(e) => {
            let hint = match (&e, &provider.config.api_key_env) {
                (ProviderError::InvalidAuthentication { .. } | ProviderError::IncorrectApiKey { .. }, Some(var)) => {
                    Some(format!("check the key in {var}"))
                }
                (ProviderError::InvalidAuthentication { .. }, None) => {
                    Some(format!("name the variable holding its key with `providers.{name}.apiKeyEnv`"))
                }
                (ProviderError::Connect { .. } | ProviderError::Timeout { .. }, _) => {
                    Some(format!("check `providers.{name}.baseUrl` (now {})", provider.config.base_url))
                }
                _ => None,
            };
            Check { name: "provider", status: Status::Fail, detail: format!("{what}: {e}"), hint }
        }
    }
}

/// Where each task's requests go, with fallbacks and rules, as the router will send them.
fn routes_check(config: &Config) -> Check {
    let show = |route: &str| {
        let models: Vec<String> = config.route_models(route).iter().map(|m| m.to_string()).collect();
        if models.is_empty() {
            "(no model)".to_string()
        } else {
            models.join(" → ")
        }
    };
    let mut parts: Vec<String> = crate::config::TASK_ROUTES.iter().map(|t| format!("{t}: {}", show(t))).collect();
    for rule in &config.rules {
        let mut when = Vec::new();
        if let Some(n) = rule.prompt_tokens_above {
            when.push(format!("prompt above {n} tokens"));
        }
        if let Some(images) = rule.images {
            when.push(if images { "images".to_string() } else { "no images".to_string() });
        }
        if let Some(think) = rule.think_harder {
            when.push(if think { "think harder".to_string() } else { "not think harder".to_string() });
        }
        let tasks = if rule.tasks.is_empty() {
            String::new()
        } else {
            format!(" ({})", rule.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
        };
        parts.push(format!("if {}{tasks}: {} = {}", when.join(" and "), rule.route, show(&rule.route)));
    }
    let unknown: Vec<String> = config
        .routes
        .values()
        .flat_map(|r| r.model.iter().chain(&r.fallback))
        .map(|m| config.model_ref(m))
        .filter(|m| config.provider(&m.provider).is_none())
        .map(|m| m.to_string())
        .collect();
    Check {
        name: "routes",
        status: if unknown.is_empty() { Status::Ok } else { Status::Warn },
        detail: parts.join("; "),
        hint: (!unknown.is_empty()).then(|| format!("no provider for {}", unknown.join(", "))),
    }
}
