use tower_lsp_server::gen_lsp_types::DidChangeWatchedFilesParams;

use crate::lsp::{from_proto, Backend};

/// Files changed on disk outside the editor (a branch switch, a generator, another tool): a
/// rescan of the workspace once the changes settle, if any of them concerns the index. The walk
/// applies the ignore files, which a single event cannot be judged by.
pub fn handle(backend: &Backend, params: DidChangeWatchedFilesParams) {
    let changes = params.changes.iter().filter_map(from_proto::file_change);
    if changes.into_iter().any(|(path, deleted)| backend.index.concerns(&path, deleted)) {
        backend.rescan.notify_one();
    }
}
