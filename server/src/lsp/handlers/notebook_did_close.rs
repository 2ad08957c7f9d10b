use tower_lsp_server::gen_lsp_types::DidCloseNotebookDocumentParams;

use crate::lsp::handlers::did_close;
use crate::lsp::Backend;

/// The notebook's cells close with it, also any the editor did not list.
pub fn handle(backend: &Backend, params: DidCloseNotebookDocumentParams) {
    let mut cells = backend.session.close_notebook(params.notebook_document.uri.0.as_str());
    for doc in params.cell_text_documents {
        if !cells.contains(&doc.uri.0) {
            cells.push(doc.uri.0);
        }
    }
    for cell in cells {
        did_close::close(backend, &cell);
    }
}
