use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::config::Source;
use crate::lsp::{capabilities, from_proto, Backend};

pub fn handle(backend: &Backend, params: InitializeParams) -> Result<InitializeResult> {
    let encoding = from_proto::negotiate_encoding(&params.capabilities);
    backend.session.set_encoding(encoding);
    backend.session.set_roots(from_proto::workspace_roots(&params));
    if let Some(options) = params.initialization_options.clone() {
        let problems = backend.session.update_config(Source::InitializationOptions, options);
        backend.pending_problems.lock().unwrap_or_else(|e| e.into_inner()).extend(problems);
    }
    if let Some(info) = &params.client_info {
        tracing::info!(client = %info.name, version = ?info.version, encoding = encoding.as_str(), "initialize");
    }
    let mut client_caps = params.capabilities;
    // Helix announces `codeAction/resolve` for edits but waits for it on its UI thread: a model
    // call there would freeze the editor, and past its request timeout the edit is dropped.
    // Treated as a client without resolve, it gets commands, which it runs in the background
    // and whose edits arrive as `workspace/applyEdit`.
    if params.client_info.as_ref().is_some_and(|info| info.name == "helix") {
        if let Some(code_action) = client_caps.text_document.as_mut().and_then(|t| t.code_action.as_mut()) {
            code_action.resolve_support = None;
        }
    }
    *backend.client_caps.lock().unwrap_or_else(|e| e.into_inner()) = client_caps;
    Ok(InitializeResult {
        capabilities: capabilities::server_capabilities(encoding),
        server_info: Some(ServerInfo { name: "kimi-lsp".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
    })
}
