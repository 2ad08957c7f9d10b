//! What a chat request leaves out when the model finds it too long for its context: the oldest
//! turns first, then what the latest message attaches (the selection, the current file,
//! `@mentions`), then the results of this answer's tool calls, oldest first. The system prompt
//! and what the user typed are always sent; when they alone are too long, nothing is sent again.

use std::sync::{Arc, Mutex};

use crate::providers::{Content, ContentPart, Message, Role};
use crate::router::{Fit, Shrink};

use super::store::{self, Turn};

/// Stands in for the attachments left out of the latest message.
pub const ATTACHMENTS_LEFT_OUT: &str =
    "(The rest of what this message attached was left out: it did not fit the model's context. read_file reads any file.)";

/// Stands in for a tool result left out.
pub const RESULT_LEFT_OUT: &str =
    "(This result was left out: it did not fit the model's context. Call the tool again for a smaller part.)";

/// The layout of a chat request's messages: the system prompt; a note on the turns left out
/// (when `first` > 0); `history[first..]` as user and assistant pairs; the latest user message,
/// whose text starts with the `typed` characters the user wrote; then this answer's tool rounds.
#[derive(Debug)]
pub struct ChatShrink {
    pub history: Arc<Vec<Turn>>,
    pub first: usize,
    pub typed: usize,
    /// What a successful shrink made, with its first turn: the chat's later tool rounds go on
    /// from it, rather than overflowing again.
    shrunk: Mutex<Option<(Vec<Message>, usize)>>,
}

impl ChatShrink {
    pub fn new(history: Arc<Vec<Turn>>, first: usize, typed: usize) -> ChatShrink {
        ChatShrink { history, first, typed, shrunk: Mutex::new(None) }
    }

    /// The messages the last shrink made and the first turn they keep, if it made any.
    pub fn take_shrunk(&self) -> Option<(Vec<Message>, usize)> {
        self.shrunk.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// `messages` within `max_chars` of text, and the first turn they keep; `None` when the
    /// system prompt, what the user typed and the tool calls alone are longer, or nothing could be
    /// left out. Pure.
    pub fn smaller(&self, messages: &[Message], max_chars: usize) -> Option<(Vec<Message>, usize)> {
        let turns_at = if self.first > 0 { 2 } else { 1 };
        let latest_at = turns_at + 2 * self.history.len().saturating_sub(self.first);
        let latest = messages.get(latest_at).filter(|m| m.role == Role::User)?;
        let system = messages.first()?.clone();
        let mut tail: Vec<Message> = messages[latest_at + 1..].to_vec();
        let mut latest = latest.clone();
        let mut first = self.first;
        let len = |ms: &[Message]| ms.iter().map(Message::text_len).sum::<usize>();
        let build = |first: usize, latest: &Message, tail: &[Message]| {
            let mut out = vec![system.clone()];
            if let Some(note) = store::dropped_summary(&self.history[..first]) {
                out.push(Message::system(note));
            }
            for t in &self.history[first..] {
                out.push(Message::user(t.prompt.clone()));
                out.push(Message::assistant(t.answer.clone()));
            }
            out.push(latest.clone());
            out.extend_from_slice(tail);
            out
        };
        let mut out = build(first, &latest, &tail);
        while len(&out) > max_chars && first < self.history.len() {
            first += 1;
            out = build(first, &latest, &tail);
        }
        if len(&out) > max_chars {
            let over = len(&out) - max_chars;
            if let Some(cut) = cut_attachments(&latest, self.typed, over) {
                latest = cut;
                out = build(first, &latest, &tail);
            }
        }
        for i in 0..tail.len() {
            if len(&out) <= max_chars {
                break;
            }
            if tail[i].role == Role::Tool && text_of(&tail[i]) != RESULT_LEFT_OUT {
                tail[i].content = Content::Text(RESULT_LEFT_OUT.to_string());
                out = build(first, &latest, &tail);
            }
        }
        if len(&out) > max_chars || out == messages {
            return None;
        }
        Some((out, first))
    }
}

impl Shrink for ChatShrink {
    fn shrink(&self, messages: &[Message], fit: &Fit) -> Option<Vec<Message>> {
        let (out, first) = self.smaller(messages, fit.chars)?;
        *self.shrunk.lock().unwrap_or_else(|e| e.into_inner()) = Some((out.clone(), first));
        Some(out)
    }

    fn advice(&self) -> String {
        "Shorten the message or what it attaches (the selection, @mentions), start a new conversation, or set \
         `models.chat` to a model with a longer context."
            .to_string()
    }
}

fn text_of(m: &Message) -> &str {
    match &m.content {
        Content::Text(t) => t,
        Content::Parts(parts) => parts
            .iter()
            .find_map(|p| match p {
                ContentPart::Text(t) => Some(t.as_str()),
                ContentPart::ImageUrl(_) => None,
            })
            .unwrap_or(""),
    }
}

/// `latest` with its attachments (the text after its first `typed` characters) at least `over`
/// characters shorter, cut at a line and followed by [`ATTACHMENTS_LEFT_OUT`]; a code block cut
/// open is closed. `None` when it attaches nothing, or nothing more can go.
fn cut_attachments(latest: &Message, typed: usize, over: usize) -> Option<Message> {
    let text = text_of(latest);
    let split = text.char_indices().nth(typed).map_or(text.len(), |(i, _)| i);
    let (typed_text, attached) = text.split_at(split);
    if attached.trim().is_empty() || attached.contains(ATTACHMENTS_LEFT_OUT) {
        return None;
    }
    let note = format!("\n\n{ATTACHMENTS_LEFT_OUT}");
    const CLOSE: &str = "\n```";
    let keep = attached.chars().count().saturating_sub(over + note.chars().count() + CLOSE.len());
    let cut = cut_at_line(attached, keep);
    let mut new = format!("{typed_text}{cut}");
    if cut.lines().filter(|l| l.trim_start().starts_with("```")).count() % 2 == 1 {
        new.push_str(CLOSE);
    }
    new.push_str(&note);
    let mut smaller = latest.clone();
    smaller.content = match &latest.content {
        Content::Text(_) => Content::Text(new),
        Content::Parts(parts) => {
            let mut parts = parts.clone();
            if let Some(ContentPart::Text(t)) = parts.iter_mut().find(|p| matches!(p, ContentPart::Text(_))) {
                *t = new;
            }
            Content::Parts(parts)
        }
    };
    Some(smaller)
}

/// The longest start of `text` of whole lines within `max_chars` characters, without the line
/// break that ends it.
fn cut_at_line(text: &str, max_chars: usize) -> &str {
    let mut end = 0;
    let mut chars = 0;
    for line in text.split_inclusive('\n') {
        chars += line.chars().count();
        if chars > max_chars {
            break;
        }
        end += line.len();
    }
    text[..end].trim_end_matches('\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ToolCall;

    fn turn(n: usize, size: usize) -> Turn {
        Turn {
            message: format!("question {n}"),
            prompt: format!("question {n} {}", "q".repeat(size)),
            answer: format!("answer {n} {}", "a".repeat(size)),
            at_unix_ms: 1,
        }
    }

    fn show(messages: &[Message]) -> String {
        messages
            .iter()
            .map(|m| {
                let text = text_of(m);
                let text = if text.chars().count() > 60 {
                    format!("{}… ({} chars)", text.chars().take(60).collect::<String>(), text.chars().count())
                } else {
                    text.to_string()
                };
                format!("[{}] {text}", m.role.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn conversation(history: &[Turn], latest: &str) -> Vec<Message> {
        let mut out = vec![Message::system("SYSTEM")];
        for t in history {
            out.push(Message::user(t.prompt.clone()));
            out.push(Message::assistant(t.answer.clone()));
        }
        out.push(Message::user(latest));
        out
    }

    const LATEST: &str = "Why does this fail?\n\nThe current file, `main.rs` (4 lines):\n```rust\nfn main() {\n    run()\n}\n```\n\n@util.rs:\n```\npub fn helper() {}\n```";

    #[test]
    fn the_oldest_turns_go_first_and_a_note_says_what_they_asked() {
        let history: Vec<Turn> = (1..=3).map(|n| turn(n, 100)).collect();
        let messages = conversation(&history, LATEST);
        let shrink = ChatShrink::new(Arc::new(history), 0, "Why does this fail?".len());
        let total: usize = messages.iter().map(Message::text_len).sum();
        // Room for all but about two turns.
        let (out, first) = shrink.smaller(&messages, total - 300).unwrap();
        assert_eq!(first, 2);
        expect_test::expect![[r#"
            [system] SYSTEM
            [system] 2 earlier turns of this conversation were left out for lengt… (101 chars)
            [user] question 3 qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq… (111 chars)
            [assistant] answer 3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa… (109 chars)
            [user] Why does this fail?

            The current file, `main.rs` (4 lines):
            … (133 chars)"#]]
        .assert_eq(&show(&out));
        assert_eq!(text_of(out.last().unwrap()), LATEST, "the latest message is whole while turns can go");
    }

    #[test]
    fn then_the_attachments_are_cut_at_a_line_and_an_open_block_is_closed() {
        let code: String = (1..=30).map(|i| format!("    step_{i:02}();\n")).collect();
        let latest = format!(
            "Why does this fail?\n\nThe current file, `main.rs` (32 lines):\n```rust\nfn main() {{\n{code}}}\n```"
        );
        let history = vec![turn(1, 10)];
        let messages = conversation(&history, &latest);
        let shrink = ChatShrink::new(Arc::new(history), 0, "Why does this fail?".len());
        let (out, first) = shrink.smaller(&messages, 500).unwrap();
        assert_eq!(first, 1);
        expect_test::expect![[r#"
            Why does this fail?

            The current file, `main.rs` (32 lines):
            ```rust
            fn main() {
                step_01();
                step_02();
                step_03();
                step_04();
                step_05();
                step_06();
                step_07();
                step_08();
                step_09();
                step_10();
                step_11();
                step_12();
                step_13();
            ```

            (The rest of what this message attached was left out: it did not fit the model's context. read_file reads any file.)"#]].assert_eq(text_of(out.last().unwrap()));
        assert!(out.iter().map(Message::text_len).sum::<usize>() <= 500);
    }

    #[test]
    fn tool_results_go_last_and_what_the_user_typed_never_goes() {
        let mut messages = conversation(&[], "Read it");
        let call = ToolCall { id: "read_file:0".into(), name: "read_file".into(), arguments: "{}".into() };
        messages.push(Message::assistant_tool_calls(String::new(), None, vec![call]));
        messages.push(Message::tool_result("read_file:0", "read_file", "x".repeat(1000)));
        let shrink = ChatShrink::new(Arc::new(Vec::new()), 0, "Read it".len());
        let (out, _) = shrink.smaller(&messages, 400).unwrap();
        assert_eq!(text_of(&out[1]), "Read it");
        assert_eq!(text_of(&out[3]), RESULT_LEFT_OUT);
        assert_eq!(out[3].tool_call_id.as_deref(), Some("read_file:0"), "the result still answers its call");
        // What the user typed alone is too long: nothing is sent again.
        let long = conversation(&[], &"y".repeat(500));
        assert_eq!(ChatShrink::new(Arc::new(Vec::new()), 0, 500).smaller(&long, 100), None);
    }

    #[test]
    fn a_shrink_is_kept_for_the_later_rounds_of_the_answer() {
        let history: Vec<Turn> = (1..=3).map(|n| turn(n, 100)).collect();
        let messages = conversation(&history, "next");
        let shrink = ChatShrink::new(Arc::new(history), 0, 4);
        let fit = Fit { limit: 100, requested: 200, chars: 400 };
        let out = shrink.shrink(&messages, &fit).unwrap();
        assert_eq!(shrink.take_shrunk(), Some((out, 2)));
        assert_eq!(shrink.take_shrunk(), None);
    }
}
