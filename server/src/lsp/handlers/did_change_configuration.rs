use serde_json::Value;
use tower_lsp_server::gen_lsp_types::*;

use crate::config::Source;
use crate::lsp::Backend;

/// Applied live: the next request uses the new settings. Clients that only announce a change
/// (settings `null`, the pull model) are asked for the `kimi` section.
pub async fn handle(backend: &Backend, params: DidChangeConfigurationParams) {
    let mut settings = params.settings;
    if settings.is_null() && pull_supported(backend) {
        let item = ConfigurationItem { scope_uri: None, section: Some("kimi".into()) };
        match backend.client.configuration(vec![item]).await {
            Ok(mut values) if !values.is_empty() => settings = values.swap_remove(0),
            Ok(_) => {}
            Err(e) => tracing::warn!("workspace/configuration failed: {e}"),
        }
    }
    if settings.is_null() {
        return;
    }
    let settings = match settings {
        // Clients that send every section's settings keep ours under "kimi".
        Value::Object(mut map) if map.contains_key("kimi") => map.remove("kimi").unwrap_or(Value::Null),
        other => other,
    };
    let problems = backend.session.update_config(Source::Editor, settings);
    for problem in problems {
        tracing::warn!("settings: {problem}");
        backend.client.show_message(MessageType::Warning, format!("kimi-lsp settings: {problem}")).await;
    }
}

fn pull_supported(backend: &Backend) -> bool {
    let caps = backend.client_caps.lock().unwrap_or_else(|e| e.into_inner());
    caps.workspace.as_ref().and_then(|w| w.configuration).unwrap_or(false)
}
