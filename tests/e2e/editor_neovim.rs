//! End-to-end: kimi-lsp in neovim (see tests/editors/neovim/).
