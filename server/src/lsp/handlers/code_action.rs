use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::features::actions::{self, Diag, NotebookSite, OfferKind, Site};
use crate::lsp::ext::{ActionData, RUN_ACTION};
use crate::lsp::{from_proto, to_proto, Backend};

/// Lists actions: no model call here. Clients that resolve `edit` get the edit in
/// `codeAction/resolve`; the others (Helix, older clients) get a command, and the edit arrives
/// as `workspace/applyEdit` once the model answered.
pub async fn handle(backend: &Backend, params: CodeActionParams) -> Result<Option<Vec<CodeActionResponse>>> {
    let uri = params.text_document.uri;
    let only = params.context.only.clone().unwrap_or_default();
    let chat_file = super::chat_file::action(backend, &uri, &only);
    super::chat::remember_diagnostics(backend, &uri, params.range, &params.context.diagnostics);
    let Some(site) = site(backend, &uri, params.range, &params.context.diagnostics).await else {
        return Ok(None);
    };
    // The text the offers were computed from; asking the session again would reparse.
    let revision = site.snapshot.revision();
    let config = backend.session.config();
    let resolves_edits = {
        let caps = backend.client_caps.lock().unwrap_or_else(|e| e.into_inner());
        caps.text_document
            .as_ref()
            .and_then(|t| t.code_action.as_ref())
            .and_then(|c| c.resolve_support.as_ref())
            .is_some_and(|r| r.properties.iter().any(|p| p == "edit"))
    };
    let mut out: Vec<_> = chat_file.into_iter().collect();
    for offer in actions::offers(&site, &config.actions.custom) {
        let kind = to_proto::action_kind(offer.kind);
        if !only.is_empty() {
            let Some(k) = &kind else { continue };
            if !kind_wanted(k.as_str(), &only) {
                continue;
            }
        }
        let title = match &offer.action {
            actions::Action::Custom(_, t) => t.clone(),
            _ => String::new(),
        };
        let data = ActionData {
            uri: uri.clone(),
            revision,
            action: offer.action.id(),
            title,
            range: params.range,
            diagnostics: if offer.kind == OfferKind::QuickFix {
                params.context.diagnostics.clone()
            } else {
                Vec::new()
            },
            think_harder: false,
        };
        let value = serde_json::to_value(&data).unwrap_or_default();
        let by_command = !resolves_edits || offer.kind == OfferKind::Info;
        out.push(CodeActionResponse::CodeAction(CodeAction {
            title: offer.title,
            kind,
            diagnostics: (offer.kind == OfferKind::QuickFix).then(|| params.context.diagnostics.clone()),
            command: by_command.then(|| Command {
                title: "Run Kimi action".into(),
                tooltip: None,
                command: RUN_ACTION.into(),
                arguments: Some(vec![value.clone()]),
            }),
            data: (!by_command).then_some(value),
            ..Default::default()
        }));
    }
    Ok(Some(out))
}

/// The feature's view of a request: the current snapshot, the selection and diagnostics in
/// its chars. `None` when the document is not open.
pub(crate) async fn site(backend: &Backend, uri: &Uri, range: Range, diagnostics: &[Diagnostic]) -> Option<Site> {
    let snapshot = backend.session.snapshot_parsed(uri.0.as_str()).await?;
    let enc = backend.session.encoding();
    let selection = snapshot.char_range(from_proto::range(range), enc);
    let diagnostics = diagnostics
        .iter()
        .map(|d| Diag {
            chars: snapshot.char_range(from_proto::range(d.range), enc),
            message: match &d.message {
                tower_lsp_server::gen_lsp_types::Message::String(s) => s.clone(),
                tower_lsp_server::gen_lsp_types::Message::MarkupContent(m) => m.value.clone(),
            },
            source: d.source.clone(),
            code: d.code.as_ref().map(|c| match c {
                Code::Int(n) => n.to_string(),
                Code::String(s) => s.clone(),
            }),
        })
        .collect();
    // Listing needs only the cell; the notebook is read when an action runs (`notebook_site`).
    Some(Site { path: from_proto::file_path(uri), snapshot, selection, diagnostics, notebook: None })
}

/// For a notebook's code cell: the notebook read as one file, parsed off the message loop.
pub(crate) async fn notebook_site(backend: &Backend, cell: &str) -> Option<NotebookSite> {
    let crate::session::NotebookView { notebook_uri, language_id, version, cell, view } =
        backend.session.notebook_view(cell)?;
    let parsed = super::parsed_off_loop(&notebook_uri, &language_id, version, &view.text).await?;
    Some(NotebookSite { uri: notebook_uri, view: parsed, start_char: view.start_char, cell })
}

/// Whether an action of `kind` passes the request's `only` filter (a kind also matches the
/// kinds it refines: `refactor` lets `refactor.rewrite` through).
pub(crate) fn kind_wanted(kind: &str, only: &[CodeActionKind]) -> bool {
    only.is_empty()
        || only
            .iter()
            .any(|o| kind == o.as_str() || kind.strip_prefix(o.as_str()).is_some_and(|rest| rest.starts_with('.')))
}
