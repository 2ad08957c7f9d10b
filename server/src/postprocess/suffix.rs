//! Rules 3 and 5: the suggestion against the text after the cursor. What the document already
//! has is not suggested again: closers typed by the editor's auto-pairing are replaced
//! (`replace_after`), lines that follow the cursor are cut from the suggestion's end, and
//! closers that would close a bracket a second time are dropped.

use crate::text::Language;

use std::borrow::Cow;

use super::lex::{unmatched, LexState, OuterClosers};
use super::site::{head, indent_width, lines, Ctx};

/// How much of the text after the cursor is lexed to find the closers it provides.
const AFTER_WINDOW_BYTES: usize = 8 * 1024;

/// The length of `text` once the lines at its end that repeat the lines right after the
/// cursor's line are cut. Lines are compared with their indentation (a `}` one level out
/// closes a different block) and without trailing whitespace; blank lines are skipped on both
/// sides. Returns `text.len()` when nothing repeats.
pub(crate) fn cut_lines_already_below(text: &str, ctx: &Ctx, after: &str) -> usize {
    if !ctx.line_suffix.trim().is_empty() {
        // The suggestion's last line continues into the code after the cursor.
        return text.len();
    }
    // The first line continues the cursor's line, so it is compared as that whole line.
    let mut ours: Vec<(usize, Cow<str>)> = Vec::new();
    for (i, line) in lines(text).enumerate() {
        let own = &text[line.start..line.end];
        if own.trim().is_empty() {
            continue;
        }
        let whole = if i == 0 { Cow::Owned(format!("{}{own}", ctx.line_prefix)) } else { Cow::Borrowed(own) };
        ours.push((line.start, whole));
    }
    let below = after.split_once('\n').map_or("", |(_, rest)| rest);
    let theirs: Vec<&str> =
        below.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).take(ours.len()).collect();
    let line = |i: usize| ours[i].1.trim_end();
    (1..=ours.len().min(theirs.len())).rev().find(|&n| (0..n).all(|k| line(ours.len() - n + k) == theirs[k])).map_or(
        text.len(),
        |n| {
            // Cut at the end of the last line kept, so the line break before the repeated
            // lines goes too.
            let cut = ours[ours.len() - n].0;
            text[..cut].trim_end().len()
        },
    )
}

fn is_autoclosed(c: char) -> bool {
    matches!(c, ')' | ']' | '}' | '>' | '"' | '\'' | '`' | ';' | ',')
}

/// How many bytes at the start of the cursor's line suffix the suggestion's end re-types, so
/// that it can replace them: the whole rest of the line, or a run of auto-paired characters
/// (`)`, `"`, `]);`…). A closer in that tail must close something opened before the cursor,
/// not an opener of the suggestion's own: `bar(x)` typed into `foo(|)` does not replace `)`.
fn replaced_prefix(text: &str, ctx: &Ctx, closers: &[usize]) -> usize {
    let suffix = ctx.line_suffix.trim_end();
    let text = text.trim_end();
    let candidates = suffix.char_indices().map(|(i, c)| i + c.len_utf8()).collect::<Vec<_>>();
    candidates
        .into_iter()
        .rev()
        .find(|&k| {
            let typed = &suffix[..k];
            let whole = k == suffix.len();
            if typed.ends_with(char::is_whitespace)
                || !(whole || typed.chars().all(is_autoclosed))
                || !text.ends_with(typed)
            {
                return false;
            }
            if !whole && typed.contains(['"', '\'', '`']) && !matches!(ctx.cursor_state, LexState::Str(_)) {
                // An auto-closed quote is only typed inside a string.
                return false;
            }
            // Openers in the tail are the line suffix's own, re-typed along with it.
            let tail_start = text.len() - k;
            let (tail_closers, _) = unmatched(ctx.language, LexState::Code, &text[tail_start..]);
            tail_closers.iter().all(|c| closers.contains(&(tail_start + c)))
        })
        .unwrap_or(0)
}

/// The indentation of the line holding byte `at` of `text` when only whitespace precedes `at`
/// on it; `first_line_prefix` is what precedes `text` on its first line.
fn leading_indent(text: &str, at: usize, first_line_prefix: &str) -> Option<usize> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let head = &text[line_start..at];
    if !head.trim().is_empty() {
        return None;
    }
    if line_start > 0 {
        Some(indent_width(head))
    } else if first_line_prefix.trim().is_empty() {
        Some(indent_width(first_line_prefix) + indent_width(head))
    } else {
        None
    }
}

/// Removes up to `count` of the closers at `droppable` from the end of `text`, looking past
/// whitespace, `;` and `,`. Returns how many were removed.
fn drop_trailing_closers(text: &mut String, count: usize, droppable: &[usize]) -> usize {
    let mut remove = Vec::new();
    for (i, c) in text.char_indices().rev() {
        if remove.len() == count {
            break;
        }
        if droppable.contains(&i) {
            remove.push(i);
        } else if !(c.is_whitespace() || c == ';' || c == ',') {
            break;
        }
    }
    for &i in &remove {
        text.remove(i);
    }
    remove.len()
}

/// Which of the suggestion's unmatched `closers` (in `text`) the after-text's unmatched ones
/// (`provided`, in `after`) already provide. The suggestion's closers close the openers before
/// the cursor innermost first, and so do the after-text's, except that the first `skip` of them
/// are replaced by the suggestion and provide nothing. Where the document is unbalanced (the
/// user has not typed a closer yet), the after-text's next closer belongs to an outer opener:
/// the `}` below `compute(` closes the function, so it provides the suggestion's `}`, not its
/// `)`. `openers` (innermost last) says which opener each closer belongs to, as far as it
/// reaches; beyond it a closer pairs with the next provided one of its kind. A suggestion's
/// closer that fits no opener (a second `)` after `max(a, b)`) only over-closes, and is
/// dropped too. A pair of closers that each start a line at different indentations close
/// different blocks in the writer's mind, and so do all the pairs outside it.
fn provided_closers(
    text: &str,
    closers: &[usize],
    after: &str,
    provided: &[usize],
    skip: usize,
    openers: &[u8],
    line_prefix: &str,
) -> Vec<usize> {
    let closes = |opener: u8| match opener {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    };
    // The closer opener `depth` (0: the innermost) needs, where it is known.
    let wanted = |depth: usize| openers.len().checked_sub(depth + 1).map(|i| closes(openers[i]));
    // The after-text's closer of each opener, by depth, from `skip` on.
    let mut closed_by: Vec<Option<usize>> = Vec::new();
    let mut depth = skip;
    let mut used = skip;
    for &theirs in provided.iter().skip(skip) {
        let kind = after.as_bytes()[theirs];
        while wanted(depth).is_some_and(|w| w != kind) {
            closed_by.push(None);
            depth += 1;
        }
        if wanted(depth).is_none() {
            break;
        }
        closed_by.push(Some(theirs));
        depth += 1;
        used += 1;
    }
    let mut droppable = Vec::new();
    // Beyond the known openers, the after-text's closers left pair up in order.
    let mut unknown = provided.iter().skip(used);
    for (i, &mine) in closers.iter().enumerate().skip(skip) {
        let kind = text.as_bytes()[mine];
        let theirs = match wanted(i) {
            Some(w) if w != kind => {
                droppable.push(mine);
                break;
            }
            Some(_) => closed_by.get(i - skip).copied().flatten(),
            None => unknown.next().copied().filter(|&t| after.as_bytes()[t] == kind),
        };
        let Some(theirs) = theirs else {
            if wanted(i).is_some() {
                continue;
            }
            break;
        };
        match (leading_indent(text, mine, line_prefix), leading_indent(after, theirs, line_prefix)) {
            (Some(a), Some(b)) if a != b => break,
            _ => droppable.push(mine),
        }
    }
    droppable
}

/// Rule 5 (and rule 3 on the cursor's line): returns the suggestion with closers that the text
/// after the cursor already provides dropped, and how many bytes of the line suffix it
/// replaces.
pub(crate) fn balance(mut text: String, ctx: &Ctx, after: &str) -> (String, usize) {
    if ctx.language == Language::PlainText {
        let replaced = replaced_prefix(&text, ctx, &[]);
        return (text, replaced);
    }
    let after = head(after, AFTER_WINDOW_BYTES);
    let mut provided = OuterClosers::new(ctx.language, ctx.cursor_state, after);
    let lp = ctx.line_prefix.as_str();
    // Each pass that does not return drops at least one character, so this ends.
    loop {
        let (closers, _) = unmatched(ctx.language, ctx.cursor_state, &text);
        let replaced = replaced_prefix(&text, ctx, &closers);
        // Only the first `closers.len()` provided closers can pair up with ours. Counting the
        // replaced ones among them alone is enough: should all of them be replaced, no pair is
        // left either way. Most suggestions close nothing, and then the after-text is not lexed.
        let provided = provided.first(closers.len());
        let skip = provided.iter().filter(|&&at| at < replaced).count();
        let droppable = provided_closers(&text, &closers, after, provided, skip, &ctx.openers, lp);
        let dropped = !droppable.is_empty() && drop_trailing_closers(&mut text, droppable.len(), &droppable) > 0;
        if dropped || replaced > 0 {
            let keep = text.trim_end().len();
            text.truncate(keep);
        }
        if !dropped {
            return (text, replaced);
        }
    }
}
