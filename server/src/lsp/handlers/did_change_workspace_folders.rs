use std::sync::atomic::Ordering;

use tower_lsp_server::gen_lsp_types::DidChangeWorkspaceFoldersParams;

use crate::lsp::{from_proto, Backend};

pub fn handle(backend: &Backend, params: DidChangeWorkspaceFoldersParams) {
    let removed: Vec<_> = params.event.removed.iter().filter_map(|f| from_proto::file_path(&f.uri)).collect();
    let mut roots: Vec<_> = backend.session.roots().into_iter().filter(|r| !removed.contains(r)).collect();
    for folder in &params.event.added {
        if let Some(path) = from_proto::file_path(&folder.uri) {
            if !roots.contains(&path) {
                roots.push(path);
            }
        }
    }
    backend.session.set_roots(roots);
    // An added folder's files are indexed, a removed one's dropped: the walk covers the roots.
    backend.indexing.store(true, Ordering::SeqCst);
    backend.rescan.notify_one();
}
