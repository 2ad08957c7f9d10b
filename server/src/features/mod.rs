//! One module per user-visible feature. Features orchestrate: debounce, cancellation, caching,
//! and the calls into context, prompt, router and post-processing. They know no LSP types.

pub mod actions;
pub mod chat;
pub mod completion;
pub mod offline;
pub mod usage;
