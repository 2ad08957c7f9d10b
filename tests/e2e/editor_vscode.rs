//! End-to-end: kimi-lsp in vscode (see tests/editors/vscode/).
