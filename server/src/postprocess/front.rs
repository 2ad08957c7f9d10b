//! Rules 1 and 2: where the suggestion starts and ends inside the raw output, past markdown
//! fences, chatter, and any echo of the text before the cursor. Shared by [`super::postprocess`]
//! (on the whole output) and [`super::StopDetector`] (on a stream that is still arriving, where
//! "cannot tell yet" is a possible answer).

use crate::text::Language;

use super::lex::LexState;
use super::site::{is_fence, is_word_char, lines, Ctx};

/// The suggestion's place in the raw output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// A fence line ended the code: nothing after `end` belongs to the suggestion, however
    /// much more arrives.
    pub(crate) closed: bool,
    /// Something was skipped as a repetition of the text before the cursor.
    pub(crate) echoed: bool,
}

/// The most chatter lines ("Here is the completion:") skipped before a fence.
const MAX_CHATTER_LINES: usize = 3;
/// An echo of earlier lines must be this substantial: a lone `}` or `x += 1;` matching the line
/// above is as likely to be new code as a repetition.
const MIN_ECHO_CHARS: usize = 8;
/// How far back an echo of earlier lines is looked for.
const MAX_ECHO_LINES: usize = 200;

/// A line of prose introducing code: capitalised, several words, none of the punctuation that
/// code lines are made of.
fn is_chatter(line: &str) -> bool {
    let t = line.trim();
    let starts_upper = t.chars().next().is_some_and(|c| c.is_uppercase());
    let words = t.split_whitespace().count();
    starts_upper
        && !t.contains(['=', ';', '{', '}', '[', ']', '<', '>'])
        && (words >= 3 || (words >= 1 && (t.ends_with(':') || t.ends_with('!'))))
}

fn non_space_chars(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

enum Decision<T> {
    Known(T),
    NotYet,
}

/// Where the code starts after an opening fence (and the chatter before it), or 0.
fn fence_start(raw: &str, complete: bool) -> Decision<Option<usize>> {
    let mut chatter = 0;
    for line in lines(raw) {
        if !line.newline && !complete {
            // The first line with content is still arriving.
            return Decision::NotYet;
        }
        let text = &raw[line.start..line.end];
        if text.trim().is_empty() {
            continue;
        }
        if is_fence(text) {
            return Decision::Known(Some(line.next));
        }
        if chatter < MAX_CHATTER_LINES && is_chatter(text) {
            chatter += 1;
            continue;
        }
        return Decision::Known(None);
    }
    if complete {
        Decision::Known(None)
    } else {
        Decision::NotYet
    }
}

/// The start of the first fence line of `text` at or after line `from_line`.
fn fence_line(text: &str, from_line: usize, complete: bool) -> Option<usize> {
    lines(text).skip(from_line).find(|l| (l.newline || complete) && is_fence(&text[l.start..l.end])).map(|l| l.start)
}

/// How many bytes of `content` repeat the lines just above the cursor's line.
fn prev_lines_echo(content: &str, ctx: &Ctx, complete: bool) -> Decision<usize> {
    let ours: Vec<_> = lines(content).filter(|l| l.newline || complete).take(MAX_ECHO_LINES).collect();
    if ours.is_empty() {
        return if complete { Decision::Known(0) } else { Decision::NotYet };
    }
    let mut prev: Vec<&str> = ctx.prev.rsplit('\n').take(MAX_ECHO_LINES).map(str::trim).collect();
    prev.reverse();
    if ctx.prev.is_empty() {
        prev.clear();
    }
    let line = |i: usize| content[ours[i].start..ours[i].end].trim();

    // The longest run of our first lines that ends exactly at the line above the cursor.
    let full = (1..=ours.len().min(prev.len()))
        .rev()
        .find(|&m| {
            let tail = &prev[prev.len() - m..];
            (0..m).all(|i| line(i) == tail[i])
                && (0..m).map(|i| non_space_chars(line(i))).sum::<usize>() >= MIN_ECHO_CHARS
        })
        .unwrap_or(0);
    if !complete && full < ours.len() && non_space_chars(line(0)) >= 3 {
        // Our lines so far match earlier lines that do not reach the cursor yet: the model may
        // be re-typing the function from its start.
        let k = ours.len();
        let may_continue = (0..prev.len().saturating_sub(k)).any(|j| (0..k).all(|i| line(i) == prev[j + i]));
        if may_continue {
            return Decision::NotYet;
        }
    }
    Decision::Known(if full == 0 { 0 } else { ours[full - 1].next })
}

/// How many bytes at the start of `content` re-type the partial word before the cursor
/// (`compute(a)` after `let x = comp`). Partial mode continues the text, so an answer that
/// starts with the partial word may also mean a longer name (`comp` + `compile` =
/// `compcompile`): it counts as re-typed only when the code around the cursor has the word it
/// makes that way and not the one it makes the other way.
fn retyped_word(content: &str, ctx: &Ctx, complete: bool) -> Decision<usize> {
    let partial = ctx.partial_word.as_str();
    if partial.is_empty() {
        return Decision::Known(0);
    }
    let word_len = content.find(|c: char| !is_word_char(c)).unwrap_or(content.len());
    if word_len == content.len() && !complete {
        // The word is still arriving.
        let may_be = content.starts_with(partial) || partial.starts_with(content);
        return if may_be { Decision::NotYet } else { Decision::Known(0) };
    }
    let word = &content[..word_len];
    if word.len() <= partial.len() || !word.starts_with(partial) {
        return Decision::Known(0);
    }
    let known = |w: &str| ctx.words_like_partial.iter().any(|k| k == w);
    if known(word) && !known(&format!("{partial}{word}")) {
        Decision::Known(partial.len())
    } else {
        Decision::Known(0)
    }
}

/// Finds the suggestion in `raw`. With `complete` false the text is a stream still arriving;
/// `None` means the answer depends on what comes next.
pub(crate) fn locate_body(raw: &str, ctx: &Ctx, complete: bool) -> Option<Body> {
    // A fence is wrapping only when it cannot be content: the document has no fences of its
    // own, or the cursor is in code of a language where a fence line is never code.
    let wrapping = !ctx.doc_has_fence || (ctx.language != Language::PlainText && ctx.cursor_state == LexState::Code);
    let fenced_at = if wrapping {
        match fence_start(raw, complete) {
            Decision::Known(at) => at,
            Decision::NotYet => return None,
        }
    } else {
        None
    };
    let fenced = fenced_at.is_some();
    let mut start = fenced_at.unwrap_or(0);
    let (end, closed) = match wrapping.then(|| fence_line(&raw[start..], 0, complete)).flatten() {
        Some(at) => (start + at, true),
        None => (raw.len(), false),
    };
    let complete = complete || closed;

    let lp = ctx.line_prefix.as_str();
    let mut echoed = false;
    let mut at_line_start = fenced;
    if fenced || ctx.line_prefix_is_blank() {
        match prev_lines_echo(&raw[start..end], ctx, complete) {
            Decision::Known(0) => {}
            Decision::Known(n) => {
                start += n;
                echoed = true;
                at_line_start = true;
            }
            Decision::NotYet => return None,
        }
    }

    let content = &raw[start..end];
    let first_line_done = complete || content.contains('\n');
    let indent_len = content.len() - content.trim_start_matches([' ', '\t']).len();
    let unindented = &content[indent_len..];
    let lp_code = lp.trim_start();
    if at_line_start {
        // The content is a whole line: the part the cursor's line already has goes.
        if lp_code.is_empty() {
            start += content.strip_prefix(lp).map_or(indent_len, |_| lp.len());
        } else if content.starts_with(lp) {
            start += lp.len();
            echoed = true;
        } else if unindented.starts_with(lp_code) {
            start += indent_len + lp_code.len();
            echoed = true;
        } else if !first_line_done && lp_code.starts_with(unindented) {
            return None;
        }
    } else if non_space_chars(lp_code) >= 3 {
        // Partial mode continues the line, but some models re-type it first.
        if unindented.starts_with(lp_code) {
            start += indent_len + lp_code.len();
            echoed = true;
        } else if !first_line_done && lp_code.starts_with(unindented) {
            return None;
        }
    }
    if !at_line_start && !echoed {
        match retyped_word(&raw[start..end], ctx, complete) {
            Decision::Known(0) => {}
            Decision::Known(n) => {
                start += n;
                echoed = true;
            }
            Decision::NotYet => return None,
        }
    }
    Some(Body { start, end, closed, echoed })
}
