//! End-to-end: kimi-lsp in emacs (see tests/editors/emacs/).
