//! End-to-end: kimi-lsp in helix (see tests/editors/helix/).
