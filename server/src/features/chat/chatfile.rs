//! The chat file: a Markdown transcript for editors without a chat UI. `## You` and `## Kimi`
//! headings start the turns; text before the first heading is a question too. The last question
//! is the one still unanswered at the end of the file. Images in a question (`![alt](path)`,
//! data URLs too) are sent with it.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use pulldown_cmark::{Event, Parser, Tag};

use super::store::Turn;

pub const YOU: &str = "## You";
pub const KIMI: &str = "## Kimi";
/// How a `## Kimi` section starts that says why a question was not sent: not an answer, so
/// the question stays pending, and the next answer replaces the note.
pub const NOT_SENT: &str = "> **Not sent:**";

/// The `chat.files` patterns, compiled. A pattern without `/` is matched against the file name
/// (`*.kimi.md` anywhere in the workspace); one with `/` against the whole path.
#[derive(Debug)]
pub struct ChatFiles {
    patterns: Vec<String>,
    names: GlobSet,
    paths: GlobSet,
}

impl ChatFiles {
    /// Patterns that are not valid globs are left out and named in the returned problems.
    pub fn new(patterns: &[String]) -> (ChatFiles, Vec<String>) {
        let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        let mut problems = Vec::new();
        for p in patterns {
            match Glob::new(p) {
                Ok(glob) if p.contains('/') => {
                    paths.add(glob);
                }
                Ok(glob) => {
                    names.add(glob);
                }
                Err(e) => problems.push(format!("`chat.files`: {e}")),
            }
        }
        let build = |b: GlobSetBuilder| b.build().unwrap_or_else(|_| GlobSet::empty());
        let files = ChatFiles { patterns: patterns.to_vec(), names: build(names), paths: build(paths) };
        (files, problems)
    }

    /// Compiled from exactly these patterns (settings change while the server runs).
    pub fn is_for(&self, patterns: &[String]) -> bool {
        self.patterns == patterns
    }

    pub fn matches(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|name| self.names.is_match(Path::new(name))) || self.paths.is_match(path)
    }
}

/// The earlier turns and the question to answer now, or what the user has to do first.
pub fn pending(text: &str) -> Result<(Vec<Turn>, String), String> {
    match parse(text) {
        (turns, Some(question)) => Ok((turns, question)),
        (_, None) => {
            Err(format!("there is no question to answer: write one under the last `{YOU}` heading, then ask again"))
        }
    }
}

/// The answered turns and the pending question (`None` when the file ends with an answer or
/// with an empty question).
pub fn parse(text: &str) -> (Vec<Turn>, Option<String>) {
    let mut sections: Vec<(bool, String)> = vec![(true, String::new())];
    for line in text.split_inclusive('\n') {
        match line.trim_end() {
            YOU => sections.push((true, String::new())),
            KIMI => sections.push((false, String::new())),
            _ => sections.last_mut().expect("never empty").1.push_str(line),
        }
    }
    let mut turns = Vec::new();
    let mut question: Option<String> = None;
    for (is_question, body) in sections {
        let body = body.trim().to_string();
        if !is_question && body.starts_with(NOT_SENT) {
            continue;
        }
        if is_question {
            if !body.is_empty() {
                question = Some(match question.take() {
                    Some(q) => format!("{q}\n\n{body}"),
                    None => body,
                });
            }
        } else if let Some(q) = question.take() {
            turns.push(Turn { message: q.clone(), prompt: q, answer: body, at_unix_ms: 0 });
        }
    }
    (turns, question)
}

/// Where a final "not sent" note starts (the byte offset of its `## Kimi` line), when the file
/// ends with one: the next answer replaces it.
pub fn trailing_note_start(text: &str) -> Option<usize> {
    let mut heading = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        match line.trim_end() {
            YOU => heading = None,
            KIMI => heading = Some(offset),
            _ => {}
        }
        offset += line.len();
    }
    let at = heading?;
    let body = text[at..].split_once('\n').map_or("", |(_, rest)| rest);
    body.trim_start().starts_with(NOT_SENT).then_some(at)
}

/// The note written in place of an answer when the question could not be sent.
pub fn not_sent_note(reason: &str) -> String {
    let reason = reason.trim().trim_end_matches('.').replace('\n', " ");
    format!("{NOT_SENT} {reason}.\n>\n> Fix this and ask again: the answer will replace this note.\n")
}

/// An image a question shows, as written: a path (relative to the chat file or the workspace,
/// or absolute) or a data URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef(pub String);

/// The images of `question` (Markdown `![alt](destination)`, in order, each once) and the text
/// the model reads: data URLs are replaced by `image N`, since the image itself goes along as
/// an image part and its base64 would only cost tokens. Images in code spans and blocks are
/// text, not images.
pub fn images(question: &str) -> (String, Vec<ImageRef>) {
    let mut found: Vec<ImageRef> = Vec::new();
    let mut replacements: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (event, range) in Parser::new(question).into_offset_iter() {
        let Event::Start(Tag::Image { dest_url, .. }) = event else {
            continue;
        };
        let dest = dest_url.trim().to_string();
        if dest.is_empty() {
            continue;
        }
        let number = match found.iter().position(|f| f.0 == dest) {
            Some(i) => i + 1,
            None => {
                found.push(ImageRef(dest.clone()));
                found.len()
            }
        };
        if dest.starts_with("data:") {
            if let Some(at) = question[range.clone()].rfind(dest.as_str()) {
                let start = range.start + at;
                replacements.push((start..start + dest.len(), format!("image {number}")));
            }
        }
    }
    let mut text = question.to_string();
    for (range, with) in replacements.into_iter().rev() {
        text.replace_range(range, &with);
    }
    (text, found)
}

impl ImageRef {
    /// What `kimi/chat`'s `images` takes: a data URL as it is, a path made absolute. A relative
    /// path is looked up next to the chat file first (as Markdown previews resolve it), then in
    /// the workspace folders; when it is in neither, the chat file's directory is named, so the
    /// error says where it was looked for.
    pub fn resolve(&self, chat_file_dir: Option<&Path>, roots: &[PathBuf]) -> String {
        let raw = self.0.as_str();
        if raw.starts_with("data:") || raw.contains("://") && !raw.starts_with("file://") {
            return raw.to_string();
        }
        let given = PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw));
        if given.is_absolute() {
            return given.to_string_lossy().into_owned();
        }
        let candidates = chat_file_dir.into_iter().chain(roots.iter().map(PathBuf::as_path));
        let mut first = None;
        for base in candidates {
            let path = base.join(&given);
            if path.is_file() {
                return path.to_string_lossy().into_owned();
            }
            first.get_or_insert(path);
        }
        first.unwrap_or(given).to_string_lossy().into_owned()
    }
}

/// What goes before the streamed answer: the answer heading, after a blank line.
pub fn answer_header(text: &str) -> String {
    let sep = if text.is_empty() || text.ends_with("\n\n") {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{sep}{KIMI}\n\n")
}

/// What follows the answer: the heading of the user's next question.
pub fn next_question_header(answer: &str) -> String {
    let sep = if answer.ends_with('\n') { "\n" } else { "\n\n" };
    format!("{sep}{YOU}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_question_is_the_text_after_the_last_answer() {
        let file = "What is a monad?\n\n## Kimi\n\nA monoid in…\n\n## You\n\nAnd in Rust?\n";
        let (turns, q) = parse(file);
        assert_eq!(turns.len(), 1);
        assert_eq!((turns[0].message.as_str(), turns[0].answer.as_str()), ("What is a monad?", "A monoid in…"));
        assert_eq!(q.as_deref(), Some("And in Rust?"));
        assert_eq!(parse("## You\n\nq\n\n## Kimi\n\nanswer\n").1, None, "already answered");
        assert_eq!(parse("## You\n\n\n").1, None, "nothing asked");
    }

    #[test]
    fn a_not_sent_note_is_no_answer_and_the_next_answer_replaces_it() {
        let file =
            format!("## You\n\nWhat is this?\n\n## Kimi\n\n{}", not_sent_note("the model does not accept images"));
        assert!(file.contains("> **Not sent:** the model does not accept images.\n>\n> Fix this"), "{file}");
        let (turns, q) = parse(&file);
        assert!(turns.is_empty());
        assert_eq!(q.as_deref(), Some("What is this?"));
        assert_eq!(trailing_note_start(&file), Some(file.find("## Kimi").unwrap()));
        assert_eq!(trailing_note_start("q\n\n## Kimi\n\nA real answer.\n"), None);
        assert_eq!(trailing_note_start(&format!("{file}\n## You\n\nmore\n")), None);
    }

    #[test]
    fn images_are_found_outside_code_and_data_urls_leave_the_text() {
        let question = "Compare ![before](shots/a.png) with ![after](<b c.png> \"title\") and ![x](data:image/png;base64,iVBO).\n\n`![not](code.png)`\n\n    ![indented](code2.png)\n\nAgain: ![before](shots/a.png)";
        let (text, found) = images(question);
        assert_eq!(
            found,
            vec![
                ImageRef("shots/a.png".into()),
                ImageRef("b c.png".into()),
                ImageRef("data:image/png;base64,iVBO".into())
            ]
        );
        assert!(text.contains("![x](image 3)") && !text.contains("base64"), "{text}");
        assert!(text.starts_with("Compare ![before](shots/a.png)"), "{text}");
    }

    #[test]
    fn image_paths_are_looked_up_next_to_the_chat_file_then_in_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("notes/img")).unwrap();
        std::fs::write(root.join("notes/img/near.png"), b"x").unwrap();
        std::fs::write(root.join("top.png"), b"x").unwrap();
        let notes = root.join("notes");
        let roots = [root.clone()];
        let resolve = |s: &str| ImageRef(s.into()).resolve(Some(&notes), &roots);
        assert_eq!(resolve("img/near.png"), notes.join("img/near.png").to_string_lossy());
        assert_eq!(resolve("top.png"), root.join("top.png").to_string_lossy());
        assert_eq!(resolve("gone.png"), notes.join("gone.png").to_string_lossy());
        assert_eq!(resolve("data:image/gif;base64,R0"), "data:image/gif;base64,R0");
        assert_eq!(resolve("https://example.com/a.png"), "https://example.com/a.png");
    }

    #[test]
    fn headings_keep_blank_lines_around_them() {
        assert_eq!(answer_header("q"), "\n\n## Kimi\n\n");
        assert_eq!(answer_header("q\n"), "\n## Kimi\n\n");
        assert_eq!(answer_header("q\n\n"), "## Kimi\n\n");
        assert_eq!(next_question_header("a"), "\n\n## You\n\n");
        assert_eq!(next_question_header("a\n"), "\n## You\n\n");
    }

    #[test]
    fn chat_files_match_the_configured_patterns() {
        let (default, problems) = ChatFiles::new(&["*.kimi.md".to_string()]);
        assert!(problems.is_empty());
        assert!(default.matches(Path::new("/w/notes.kimi.md")));
        assert!(default.matches(Path::new("/w/a b.kimi.md")));
        assert!(!default.matches(Path::new("/w/notes.md")));
        assert!(!default.matches(Path::new("/w.kimi.md/x.rs")));
        let (custom, _) = ChatFiles::new(&["CHAT.md".into(), "**/chats/*.md".into()]);
        assert!(custom.matches(Path::new("/w/sub/CHAT.md")));
        assert!(custom.matches(Path::new("/w/chats/monday.md")));
        assert!(!custom.matches(Path::new("/w/notes/monday.md")));
        let (broken, problems) = ChatFiles::new(&["[*.md".into(), "*.chat".into()]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("chat.files"), "{problems:?}");
        assert!(broken.matches(Path::new("x.chat")), "the valid pattern still counts");
    }

    #[test]
    fn a_file_without_a_pending_question_says_what_to_do() {
        let (turns, q) = pending("## You\n\nfirst\n\n## Kimi\n\none\n\n## You\n\nsecond\n").unwrap();
        assert_eq!((turns.len(), q.as_str()), (1, "second"));
        let err = pending("q\n\n## Kimi\n\na\n\n## You\n\n").unwrap_err();
        assert!(err.contains("write one under the last `## You` heading"), "{err}");
    }
}
