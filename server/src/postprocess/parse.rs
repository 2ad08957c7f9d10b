//! Rule 8: a suggestion must not break a document that parsed. One full parse of the document
//! with the suggestion in place; when it has errors, the suggestion is cut back line by line,
//! each attempt an incremental reparse of the tree from that first parse.

use ropey::{Rope, RopeBuilder};
use tree_sitter::{InputEdit, Point, Tree};

use crate::text::syntax;
use crate::text::PARSE_LIMIT_BYTES;

use super::CompletionSite;

/// The most cut-back attempts: a suggestion is a few dozen lines at most.
const MAX_CUTS: usize = 32;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Cut { text: String, replaced: usize },
    Reject,
}

/// The cursor's byte offset in `document`: where `before` ends and `after` starts. `None` when
/// the windows do not fit the document (the caller passed texts of different versions).
pub(crate) fn locate_cursor(document: &str, before: &str, after: &str) -> Option<usize> {
    let fits = |p: usize| {
        document.get(..p).is_some_and(|d| d.ends_with(before))
            && document.get(p..).is_some_and(|d| d.starts_with(after))
    };
    // The usual case: `before` is the whole prefix.
    if fits(before.len()) {
        return Some(before.len());
    }
    if before.is_empty() {
        return document.find(after).filter(|&p| fits(p));
    }
    document
        .match_indices(before)
        .map(|(at, _)| at + before.len())
        .find(|&p| fits(p))
}

fn point_after(mut point: Point, text: &str) -> Point {
    match text.rfind('\n') {
        Some(i) => {
            point.row += text.matches('\n').count();
            point.column = text.len() - i - 1;
        }
        None => point.column += text.len(),
    }
    point
}

fn spliced(head: &str, middle: &str, tail: &str) -> Rope {
    let mut builder = RopeBuilder::new();
    builder.append(head);
    builder.append(middle);
    builder.append(tail);
    builder.finish()
}

fn parses(tree: &Tree) -> bool {
    !tree.root_node().has_error()
}

/// The document with `text` in place of the `replaced` bytes after the cursor.
struct Splice<'a> {
    head: &'a str,
    rest: &'a str,
    start: Point,
}

impl Splice<'_> {
    fn rope(&self, text: &str, replaced: usize) -> Rope {
        spliced(self.head, text, &self.rest[replaced..])
    }

    /// The edit that turns `head + from_text + rest[from_replaced..]` into
    /// `head + to_text + rest[to_replaced..]`.
    fn edit(&self, from: (&str, usize), to: (&str, usize)) -> InputEdit {
        // Past the larger replaced count both texts are `rest`; before it, each has its text
        // and the replaced characters it gives back.
        let shared = from.1.max(to.1);
        let old_middle = format!("{}{}", from.0, &self.rest[from.1..shared]);
        let new_middle = format!("{}{}", to.0, &self.rest[to.1..shared]);
        let cursor = self.head.len();
        InputEdit {
            start_byte: cursor,
            old_end_byte: cursor + old_middle.len(),
            new_end_byte: cursor + new_middle.len(),
            start_position: self.start,
            old_end_position: point_after(self.start, &old_middle),
            new_end_position: point_after(self.start, &new_middle),
        }
    }
}

/// Checks `text` (replacing `replaced` bytes after the cursor) against the document.
/// `original` is the document's own tree, when the caller has it: every parse is then an
/// incremental reparse of the few lines around the cursor rather than of the whole file.
pub(crate) fn check(
    site: &CompletionSite,
    text: &str,
    replaced: usize,
    original: Option<&Tree>,
) -> Verdict {
    let Some(document) = site.document else {
        return Verdict::Keep;
    };
    let original_parses = site
        .original_parses
        .or_else(|| original.map(|t| parses(t)));
    if original_parses != Some(true)
        || site.language.grammar().is_none()
        || document.len() > PARSE_LIMIT_BYTES
    {
        return Verdict::Keep;
    }
    let Some(cursor) = locate_cursor(document, site.before, site.after) else {
        tracing::debug!("the completion windows do not match the document; parse check skipped");
        return Verdict::Keep;
    };
    let splice = Splice {
        head: &document[..cursor],
        rest: &document[cursor..],
        start: point_after(Point::new(0, 0), &document[..cursor]),
    };
    let replaced = replaced.min(splice.rest.len());
    // The tree later attempts are edited from, and the text it was parsed from.
    let base: (Tree, &str, usize) = match original {
        Some(tree) => (tree.clone(), "", 0),
        None => match syntax::parse(site.language, &splice.rope(text, replaced), None) {
            Some(tree) => (tree, text, replaced),
            None => return Verdict::Keep,
        },
    };
    let attempt = |candidate: &str, candidate_replaced: usize| -> bool {
        let mut edited = base.0.clone();
        edited.edit(&splice.edit((base.1, base.2), (candidate, candidate_replaced)));
        syntax::parse(
            site.language,
            &splice.rope(candidate, candidate_replaced),
            Some(&edited),
        )
        .is_some_and(|t| parses(&t))
    };
    let whole_parses = match original {
        Some(_) => attempt(text, replaced),
        None => parses(&base.0),
    };
    if whole_parses {
        return Verdict::Keep;
    }

    let typed = &splice.rest[..replaced];
    let cuts = text
        .match_indices('\n')
        .map(|(at, _)| text[..at].trim_end())
        .rev()
        .take(MAX_CUTS);
    for cut in cuts {
        if cut.trim().is_empty() {
            break;
        }
        // The cut keeps the replaced characters only if it still ends with them.
        let cut_replaced = if replaced > 0 && cut.ends_with(typed) {
            replaced
        } else {
            0
        };
        if attempt(cut, cut_replaced) {
            return Verdict::Cut {
                text: cut.to_owned(),
                replaced: cut_replaced,
            };
        }
    }
    Verdict::Reject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cursor_from_windows() {
        let doc = "fn a() {}\nfn b() {}\nfn a() {}\nfn c() {}\n";
        assert_eq!(locate_cursor(doc, doc, ""), Some(doc.len()));
        assert_eq!(locate_cursor(doc, "fn a() {", "}\nfn c"), Some(28));
        assert_eq!(locate_cursor(doc, "fn a() {", "}\nfn b"), Some(8));
        assert_eq!(locate_cursor(doc, "", "fn a"), Some(0));
        assert_eq!(locate_cursor(doc, "fn z", ""), None);
    }

    #[test]
    fn points_count_rows_and_bytes() {
        assert_eq!(point_after(Point::new(2, 3), "ab"), Point::new(2, 5));
        assert_eq!(point_after(Point::new(2, 3), "a\nbé"), Point::new(3, 3));
        assert_eq!(point_after(Point::new(0, 0), "a\r\n"), Point::new(1, 0));
    }
}
