//! `kimi-lsp doctor` against the stand-in: a healthy setup, a rejected key, an unreachable
//! host, an untrusted certificate and a missing key. It must say what to do, exit non-zero when something is wrong, and
//! never print the key.

use std::process::{Command, Output};

use kimi_test_support::{Protocols, Standin};

const KEY: &str = "sk-doctor-secret-abcdef";

fn doctor(env: &[(&str, &str)], json: bool) -> Output {
    doctor_with_config(env, json, None)
}

fn doctor_with_config(env: &[(&str, &str)], json: bool, config_toml: Option<&str>) -> Output {
    let home = tempfile::tempdir().unwrap();
    if let Some(text) = config_toml {
        let dir = home.path().join("config").join("kimi-lsp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"));
    cmd.arg("doctor")
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"));
    if json {
        cmd.arg("--json");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("doctor runs")
}

/// `doctor` with the test key against the server at `base`, off the async threads.
async fn doctor_at(base: String, json: bool) -> Output {
    tokio::task::spawn_blocking(move || doctor(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)], json))
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn healthy_setup_lists_models_and_balance() {
    let standin = Standin::start().await;
    standin.require_key(KEY);
    standin.set_models(&["kimi-k2-turbo-preview", "kimi-k2.5", "kimi-k2-thinking"]);
    standin.set_balance(Some(49.58));
    let base = standin.base_url();
    let out = doctor_at(base, false).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("serves 3 models"), "{t}");
    assert!(t.contains(" ms over HTTP/1.1 and serves"), "plain HTTP is HTTP/1.1: {t}");
    assert!(t.contains("all served"), "{t}");
    assert!(t.contains("49.58 available"), "{t}");
    assert!(t.contains("from MOONSHOT_API_KEY"), "{t}");
    assert!(!t.contains("doctor-secret"), "{t}");
    // It asked with the key.
    let asked = standin.requests();
    assert!(asked
        .iter()
        .any(|r| r.path == "/v1/models" && r.header("authorization") == Some(&format!("Bearer {KEY}"))));
}

#[tokio::test]
async fn models_that_are_not_served_are_named_with_the_alternatives() {
    let standin = Standin::start().await;
    standin.set_models(&["kimi-k2-0905-preview"]);
    let base = standin.base_url();
    let out = doctor_at(base, true).await;
    // A missing model is a warning, not a failure: the user can still pick one.
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let models = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "models").unwrap();
    assert_eq!(models["status"], "warn");
    assert!(models["detail"].as_str().unwrap().contains("kimi-k2.5"));
    assert!(models["hint"].as_str().unwrap().contains("kimi-k2-0905-preview"));
    assert_eq!(report["models"], serde_json::json!(["kimi-k2-0905-preview"]));
}

#[tokio::test]
async fn a_rejected_key_names_the_region_mixup_and_the_setting() {
    let standin = Standin::start().await;
    standin.require_key("sk-the-right-one");
    let base = standin.base_url();
    let out = doctor_at(base, false).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("rejected"), "{t}");
    assert!(t.contains("api.moonshot.cn"), "{t}");
    assert!(t.contains("api.moonshot.ai"), "{t}");
    assert!(t.contains("MOONSHOT_BASE_URL"), "{t}");
    assert!(!t.contains("doctor-secret"), "the key was printed: {t}");
}

#[tokio::test]
async fn an_unreachable_host_is_named() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = doctor_at(base, false).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("127.0.0.1:{port}")), "{t}");
    assert!(t.contains("MOONSHOT_BASE_URL"), "{t}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_and_the_root_in_the_config_file_is_trusted_over_http2() {
    let standin = Standin::start_tls(Protocols::Http2).await;
    standin.require_key(KEY);
    let base = standin.base_url();
    let out = doctor_at(base.clone(), false).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("signed by an authority this computer does not trust"), "{t}");
    assert!(t.contains("`tls.caCertificates`") && !t.contains("unreachable"), "{t}");

    let dir = tempfile::tempdir().unwrap();
    let ca = standin.write_ca(dir.path());
    let config = format!("[tls]\ncaCertificates = [{:?}]\n", ca.to_str().unwrap());
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)], false, Some(&config))
    })
    .await
    .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Whether the provider takes HTTP/2 decides what a stopped answer costs: doctor says.
    assert!(t.contains(" ms over HTTP/2 and serves"), "{t}");
}

#[test]
fn an_endpoint_that_is_no_url_fails_its_check() {
    let out = doctor(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", "api.moonshot.ai/v1")], true);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let endpoint = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "endpoint").unwrap().clone();
    assert_eq!(endpoint["status"], "fail", "{endpoint}");
    assert!(endpoint["hint"].as_str().unwrap().contains("https://api.moonshot.ai/v1"), "{endpoint}");
}

#[test]
fn a_missing_key_says_where_to_get_one() {
    let out = doctor(&[], false);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("not set"), "{t}");
    assert!(t.contains("platform.moonshot.ai"), "{t}");
    assert!(t.contains("MOONSHOT_API_KEY"), "{t}");
}

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kimi-lsp "));
    let out = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("doctor") && help.contains("MOONSHOT_API_KEY"), "{help}");
}

#[tokio::test]
async fn the_config_file_is_read_and_the_environment_wins_over_it() {
    let standin = Standin::start().await;
    standin.set_models(&["team-model"]);
    let base = standin.base_url();
    let config = format!("baseUrl = \"{base}\"\napiKey = \"{KEY}\"\n[models]\ncompletion = \"team-model\"\naction = \"team-model\"\nchat = \"team-model\"\n");
    let out = tokio::task::spawn_blocking(move || doctor_with_config(&[], false, Some(&config))).await.unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("read ~/.config/kimi-lsp/config.toml") || t.contains("config.toml"), "{t}");
    assert!(t.contains("from the config file"), "{t}");
    assert!(t.contains("all served"), "{t}");

    // MOONSHOT_BASE_URL beats the file: the unreachable port is what gets tried.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env_base = format!("http://127.0.0.1:{port}/v1");
    let config = format!("baseUrl = \"{}\"\napiKey = \"{KEY}\"\n", standin.base_url());
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(&[("MOONSHOT_BASE_URL", &env_base)], false, Some(&config))
    })
    .await
    .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("127.0.0.1:{port}")) && t.contains("from MOONSHOT_BASE_URL"), "{t}");
}

#[test]
fn where_completions_are_off_is_listed() {
    let line = |config: &str| {
        let out = doctor_with_config(&[], false, Some(config));
        let t = text(&out);
        t.lines().find(|l| l.contains("completions")).unwrap_or_else(|| panic!("no completions line: {t}")).to_string()
    };
    assert!(line("").ends_with("on in every language"));
    let l = line(
        "[completion]\nlanguages = { markdown = false, plaintext = false }\nexclude = [\"vendor/\", \"*.min.js\"]\n",
    );
    assert!(l.contains("✓"), "{l}");
    assert!(l.ends_with("on except for markdown, plaintext; not in files matching vendor/, *.min.js"), "{l}");
    let l = line("[completion]\nlanguages = { \"*\" = false, rust = true }\n");
    assert!(l.ends_with("on only for rust"), "{l}");
    let l = line("[completion]\nenabled = false\n");
    assert!(l.contains('!') && l.ends_with("off everywhere (`completion.enabled` is false)"), "{l}");
}

#[test]
fn a_broken_config_file_is_reported_not_fatal() {
    let out = doctor_with_config(
        &[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", "http://127.0.0.1:9/v1")],
        false,
        Some("baseUrl = [unclosed"),
    );
    let t = text(&out);
    assert!(t.contains("not valid TOML"), "{t}");
}

#[tokio::test]
async fn a_key_rejected_by_its_region_is_tried_on_the_other_and_doctor_says_which_platform_it_is_from() {
    // The configured platform (standing in for api.moonshot.ai) rejects the key; the other one
    // (standing in for api.moonshot.cn) accepts it.
    let global = Standin::start().await;
    global.require_key("sk-some-global-key");
    let china = Standin::start().await;
    china.require_key(KEY);
    let (global_url, china_url) = (global.base_url(), china.base_url());
    let config = format!("[regions]\nglobal = \"{global_url}\"\nchina = \"{china_url}\"\n");
    let base = global_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)], false, Some(&config))
    })
    .await
    .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("the key is from the China platform (platform.moonshot.cn)"), "{t}");
    assert!(t.contains(&format!("set MOONSHOT_BASE_URL={china_url}")), "{t}");
    assert!(!t.contains("doctor-secret"), "the key was printed: {t}");
    assert!(china.requests().iter().any(|r| r.path == "/v1/models"), "the other platform was asked");

    // A key neither platform knows is said to be from neither.
    china.require_key("sk-yet-another");
    let config = format!("[regions]\nglobal = \"{global_url}\"\nchina = \"{china_url}\"\n");
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &global_url)], false, Some(&config))
    })
    .await
    .unwrap();
    let t = text(&out);
    assert!(t.contains("not a key of either Moonshot platform"), "{t}");
}

#[tokio::test]
async fn configured_providers_and_routes_are_listed_and_each_provider_is_checked() {
    let moonshot = Standin::start().await;
    let anthropic = kimi_test_support::AnthropicStandin::start().await;
    anthropic.require_key("sk-ant-doctor");
    let config = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbaseUrl = \"{}\"\napiKeyEnv = \"DOCTOR_ANTHROPIC_KEY\"\n\n\
         [providers.local]\nkind = \"openai\"\nbaseUrl = \"{}\"\napiKeyEnv = \"DOCTOR_LOCAL_KEY\"\n\n\
         [routes.chat]\nfallback = [\"claude/claude-sonnet-4-5\"]\n\n\
         [routes.strong]\nmodel = \"claude/claude-opus-4-1\"\n\n\
         [[rules]]\nthinkHarder = true\nroute = \"strong\"\n",
        anthropic.base_url(),
        moonshot.base_url()
    );
    let base = moonshot.base_url();
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(
            &[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base), ("DOCTOR_ANTHROPIC_KEY", "sk-ant-doctor")],
            true,
            Some(&config),
        )
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let checks = report["checks"].as_array().unwrap();
    let providers: Vec<&serde_json::Value> = checks.iter().filter(|c| c["name"] == "provider").collect();
    assert_eq!(providers.len(), 2, "{report}");
    assert_eq!(providers[0]["status"], "ok", "{report}");
    assert!(providers[0]["detail"].as_str().unwrap().contains("`claude` (anthropic"), "{report}");
    assert!(providers[0]["detail"].as_str().unwrap().contains("lists 3 models"), "{report}");
    assert_eq!(providers[1]["status"], "fail", "an unset key variable fails: {report}");
    assert!(providers[1]["detail"].as_str().unwrap().contains("DOCTOR_LOCAL_KEY is not set"), "{report}");
    assert_eq!(out.status.code(), Some(1));
    let routes = checks.iter().find(|c| c["name"] == "routes").unwrap();
    let detail = routes["detail"].as_str().unwrap();
    assert!(detail.contains("completion: moonshot/kimi-k2-turbo-preview;"), "{detail}");
    assert!(detail.contains("chat: moonshot/kimi-k2.5 → claude/claude-sonnet-4-5"), "{detail}");
    assert!(detail.contains("if think harder: strong = claude/claude-opus-4-1"), "{detail}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-ant-doctor"), "a key was printed");
}

/// A rate limit or an overload while the doctor asks is ridden out as the editor's requests ride
/// it out (the wait the message names, a backoff), not reported as a broken setup.
#[tokio::test]
async fn a_passing_rate_limit_or_overload_is_retried_not_reported() {
    let standin = Standin::start().await;
    standin.require_key(KEY);
    standin.fail_models_with(&[
        kimi_test_support::ApiError::RateLimitRpm { seconds: 1 },
        kimi_test_support::ApiError::Overloaded,
    ]);
    let base = standin.base_url();
    let out = doctor_at(base, false).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("serves") && t.contains("all served"), "{t}");
    let asked = standin.requests().iter().filter(|r| r.path == "/v1/models").count();
    assert_eq!(asked, 3, "{t}");
}

#[tokio::test]
async fn a_vllm_provider_is_said_to_get_continue_final_message() {
    let moonshot = Standin::start().await;
    let vllm = Standin::start().await;
    vllm.set_owned_by("vllm");
    let config = format!("[providers.local]\nkind = \"openai\"\nbaseUrl = \"{}\"\n", vllm.base_url());
    let base = moonshot.base_url();
    let out = tokio::task::spawn_blocking(move || {
        doctor_with_config(&[("MOONSHOT_API_KEY", KEY), ("MOONSHOT_BASE_URL", &base)], true, Some(&config))
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let checks = report["checks"].as_array().unwrap();
    let local = checks.iter().find(|c| c["name"] == "provider").unwrap()["detail"].as_str().unwrap();
    assert!(
        local.contains("`local` (openai") && local.contains("with `continue_final_message` (vLLM, SGLang)"),
        "{local}"
    );
    // The stand-in answering as Moonshot: partial mode, nothing to say.
    let connection = checks.iter().find(|c| c["name"] == "connection").unwrap()["detail"].as_str().unwrap();
    assert!(!connection.contains("continue_final_message"), "{connection}");
}
