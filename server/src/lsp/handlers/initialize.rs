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
    *backend.client_caps.lock().unwrap_or_else(|e| e.into_inner()) = params.capabilities;
    Ok(InitializeResult {
        capabilities: capabilities::server_capabilities(encoding),
        server_info: Some(ServerInfo { name: "kimi-lsp".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
    })
}
