use tower_lsp_server::gen_lsp_types::MessageType;

use crate::config::API_KEY_ENV;
use crate::providers::error::{host_of, Platform};
use crate::lsp::Backend;

/// Tells the user, once, what stands between them and a working setup: settings that could not
/// be used, and a missing API key. Silence means everything is in order.
pub async fn handle(backend: &Backend) {
    let problems = std::mem::take(&mut *backend.pending_problems.lock().unwrap_or_else(|e| e.into_inner()));
    for problem in problems {
        tracing::warn!("settings: {problem}");
        backend
            .client
            .show_message(MessageType::Warning, format!("kimi-lsp settings: {problem}"))
            .await;
    }
    let config = backend.session.config();
    if config.api_key.is_none() && Platform::of_host(&host_of(&config.base_url)).is_some() {
        backend
            .client
            .show_message(
                MessageType::Warning,
                format!(
                    "kimi-lsp: no API key. Set {API_KEY_ENV} in the environment the editor starts from \
                     (or `apiKey` in the kimi-lsp settings); AI features stay off until then. \
                     `kimi-lsp doctor` checks the setup."
                ),
            )
            .await;
    }
}
