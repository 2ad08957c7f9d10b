use tower_lsp_server::gen_lsp_types::DidOpenNotebookDocumentParams;

use crate::lsp::handlers::did_open;
use crate::lsp::{from_proto, Backend};

/// The cells' text documents are opened like any other; the notebook keeps their order.
pub fn handle(backend: &Backend, params: DidOpenNotebookDocumentParams) {
    let notebook = params.notebook_document;
    for doc in params.cell_text_documents {
        did_open::open(backend, doc.uri.0.as_str(), &String::from(doc.language_id), doc.version, &doc.text);
    }
    backend
        .session
        .open_notebook(notebook.uri.0.as_str(), notebook.cells.iter().map(from_proto::notebook_cell).collect());
}
