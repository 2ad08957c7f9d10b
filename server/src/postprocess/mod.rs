//! Post-processing of model output for inline completions: from whatever the model streamed to
//! the text to insert at the cursor, or a reason to show nothing.
//!
//! Pure functions of text (and tree-sitter, for the parse check). The rules, in order:
//! 1. markdown fences go, with "Here is…" chatter before them (only when a fence follows);
//! 2. an echo of the prefix goes (the current line, or the lines above it, re-typed);
//! 3. a tail that repeats what follows the cursor goes (same line: by replacing it, see
//!    [`Suggestion::replace_after`]; following lines: by cutting them);
//! 4. single-line suggestions end at their line end, multi-line ones at their block's end
//!    (the same logic as [`StopDetector`]);
//! 5. closers the text after the cursor already provides are not added again;
//! 6. empty or looping output is rejected;
//! 7. trailing whitespace goes, and line breaks follow the document's style (`\n`, `\r\n` or a
//!    lone `\r`, by the majority of its breaks);
//! 8. a suggestion that breaks a document that parsed is cut back to its last line that
//!    parses, or rejected.
//!
//! Plain text gets rules 1–4, 6 and 7.
//!
//! An answer the model was cut short in ([`Ended::CutShort`]) is taken only up to its last line
//! break before all that: a half-written line is never shown, and what is left goes through
//! every rule (a block left without its end is cut back or rejected by the parse check).

mod block;
mod front;
mod lex;
mod nested;
mod parse;
mod repeat;
mod site;
mod suffix;

#[cfg(test)]
mod tests;

pub(crate) use block::is_ruby_header;
pub use block::StopDetector;

use crate::text::{Language, LineEnding};

use site::{lines, Ctx};

/// Where a completion was asked for.
#[derive(Clone, Copy)]
pub struct CompletionSite<'a> {
    pub language: Language,
    /// Document text before the cursor: the whole prefix, or at least the last few lines.
    pub before: &'a str,
    /// Document text after the cursor: at least the rest of the line and a few lines more.
    pub after: &'a str,
    /// What the cursor calls for (decided upstream by tree-sitter).
    pub multiline: bool,
    /// Whether the document parsed without errors before; `None` when unknown or when the
    /// language has no grammar.
    pub original_parses: Option<bool>,
    /// The whole document, for the parse check (`None` skips that rule). `before` and `after`
    /// must be the text on either side of the cursor in it.
    pub document: Option<&'a str>,
    /// The document's line break, which the suggestion's get. The text above breaks lines with
    /// `\n` or `\r\n` only: a caller turns a lone-`\r` document's breaks into `\n` first
    /// ([`crate::text::line_ending::lone_crs_as_lf`]) and says [`LineEnding::Cr`] here.
    pub line_ending: LineEnding,
}

impl std::fmt::Debug for CompletionSite<'_> {
    // Lengths only: document text can hold secrets, and Debug output ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionSite")
            .field("language", &self.language)
            .field("before_bytes", &self.before.len())
            .field("after_bytes", &self.after.len())
            .field("multiline", &self.multiline)
            .field("original_parses", &self.original_parses)
            .field("document_bytes", &self.document.map(str::len))
            .field("line_ending", &self.line_ending)
            .finish()
    }
}

/// What to insert at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub text: String,
    /// Characters (Unicode scalar values) after the cursor on the same line that `text`
    /// replaces: the user typed `foo(`, the editor auto-closed `)`, and the suggestion `a, b)`
    /// replaces that `)`. The LSP layer turns it into a one-line range in the client's encoding.
    pub replace_after: usize,
}

/// Why a suggestion is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the model returned nothing to insert")]
    Empty,
    #[error("the model's output repeats itself")]
    Repetitive,
    #[error("the model only repeated the text before the cursor")]
    EchoOnly,
    #[error("the suggestion would break a document that parses")]
    BreaksParse,
    #[error("the model only repeated the text after the cursor")]
    DuplicatesSuffix,
    #[error("the model ran out of tokens before it completed a line")]
    CutShort,
}

/// How the model's answer (one choice of it) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The model finished it, or the [`StopDetector`] found it complete and the stream was
    /// closed: a stop of our own is no cut.
    Complete,
    /// The model ran out of tokens (finish reason `length`): its last line may stop anywhere,
    /// half a name or a block without its end. Only its complete lines count.
    CutShort,
}

/// Trims trailing whitespace from every line and from the end. With code after the cursor on a
/// one-line suggestion nothing is trimmed: `foo ` before `bar` needs its space.
fn tidy(text: &str, code_follows: bool) -> String {
    if code_follows && !text.contains('\n') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for line in lines(text) {
        out.push_str(text[line.start..line.end].trim_end());
        if line.newline {
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Turns the model's raw output into the suggestion to show at `site`, or says why there is
/// none.
///
/// The parse check (rule 8) parses the whole document here; a caller that has the document's
/// tree should use [`postprocess_with_tree`], which reparses only around the cursor.
pub fn postprocess(raw: &str, site: &CompletionSite) -> Result<Suggestion, Rejection> {
    postprocess_with_tree(raw, site, None)
}

/// [`postprocess`], with the syntax tree of `site.document` (the snapshot's own tree, for
/// exactly that text). On a 5,000-line file the parse check then costs a fraction of a
/// millisecond instead of a full parse. When `site.original_parses` is `None`, the tree also
/// says whether the document parsed.
pub fn postprocess_with_tree(
    raw: &str,
    site: &CompletionSite,
    tree: Option<&tree_sitter::Tree>,
) -> Result<Suggestion, Rejection> {
    postprocess_in(raw, site, &Ctx::new(site), tree, None, Ended::Complete)
}

/// [`postprocess_with_tree`] of a streamed reply, reusing what `detector` learnt about `site`
/// (the line around the cursor, the lexer state, fences nearby, the parse check's unit when it
/// was made [`StopDetector::with_tree`]) instead of working it out again. `detector` must have
/// been made for this `site` and `tree`. `ended` says whether the model was cut short.
pub fn postprocess_streamed(
    raw: &str,
    site: &CompletionSite,
    detector: &StopDetector,
    tree: Option<&tree_sitter::Tree>,
    ended: Ended,
) -> Result<Suggestion, Rejection> {
    postprocess_in(raw, site, detector.ctx(), tree, detector.ahead(), ended)
}

fn postprocess_in(
    raw: &str,
    site: &CompletionSite,
    ctx: &Ctx,
    tree: Option<&tree_sitter::Tree>,
    ahead: Option<&parse::Ahead>,
    ended: Ended,
) -> Result<Suggestion, Rejection> {
    let raw = match ended {
        Ended::Complete => raw,
        Ended::CutShort => {
            let complete = &raw[..raw.rfind('\n').map_or(0, |i| i + 1)];
            if complete.trim().is_empty() {
                return Err(Rejection::CutShort);
            }
            complete
        }
    };
    let body = front::locate_body(raw, ctx, true).unwrap_or(front::Body {
        start: 0,
        end: raw.len(),
        closed: false,
        echoed: false,
    });
    let content = &raw[body.start..body.end];
    let cut = block::block_end(content, ctx, true).unwrap_or(content.len());
    let code_follows = !ctx.line_suffix.trim().is_empty();
    let mut text = tidy(&content[..cut], code_follows);
    if text.trim().is_empty() {
        return Err(if body.echoed { Rejection::EchoOnly } else { Rejection::Empty });
    }
    if repeat::is_repetitive(&text) {
        return Err(Rejection::Repetitive);
    }

    text.truncate(suffix::cut_lines_already_below(&text, ctx, site.after));
    let (text, replaced) = suffix::balance(text, ctx, site.after);
    if text.trim().is_empty() || text == ctx.line_suffix[..replaced] {
        return Err(Rejection::DuplicatesSuffix);
    }

    // The parse check sees the suggestion as it will sit in the document: with `\r\n` in a CRLF
    // one. A lone-`\r` document reaches it with `\n` breaks (see `CompletionSite::line_ending`),
    // so its suggestion gets its `\r`s only afterwards.
    let text = if ctx.ending == LineEnding::CrLf { LineEnding::CrLf.apply(&text).into_owned() } else { text };
    let (text, replaced) = match parse::check(site, &text, replaced, tree, ahead) {
        parse::Verdict::Keep => (text, replaced),
        parse::Verdict::Cut { text, replaced } => (text, replaced),
        parse::Verdict::Reject => return Err(Rejection::BreaksParse),
    };
    let text = if ctx.ending == LineEnding::Cr { LineEnding::Cr.apply(&text).into_owned() } else { text };
    Ok(Suggestion { text, replace_after: ctx.line_suffix[..replaced].chars().count() })
}
