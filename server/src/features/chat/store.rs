//! Chat sessions: their turns in memory and as one JSON file each under the data directory
//! (`<data dir>/chats/<id>.json`), so that a conversation survives a restart of the server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One question and its answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// What the user typed.
    pub message: String,
    /// What the model was sent for it (the message with the context the user pointed at); sent
    /// again as history.
    pub prompt: String,
    pub answer: String,
    pub at_unix_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSession {
    pub id: String,
    /// The first question's first line.
    pub title: String,
    pub created_unix_ms: i64,
    pub updated_unix_ms: i64,
    pub turns: Vec<Turn>,
}

/// A session as `kimi/chatSessions` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub id: String,
    pub title: String,
    pub turns: usize,
    pub updated_unix_ms: i64,
}

/// Session ids become file names: only this alphabet, so an id can never name another path.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub struct ChatStore {
    /// `None`: no data directory; sessions live for this process only.
    dir: Option<PathBuf>,
    sessions: Mutex<HashMap<String, ChatSession>>,
    counter: AtomicU64,
    /// Why the last session could not be written, until the LSP layer tells the user
    /// ([`ChatStore::take_unsaved`]): sessions are said to survive a restart.
    unsaved: Mutex<Option<String>>,
}

/// `$KIMI_LSP_DATA_DIR/chats`, else the platform data directory's `kimi-lsp/chats` (the ledger's
/// neighbour).
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("KIMI_LSP_DATA_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d).join("chats")),
        _ => dirs::data_dir().map(|d| d.join("kimi-lsp").join("chats")),
    }
}

impl ChatStore {
    pub fn new(dir: Option<PathBuf>) -> ChatStore {
        ChatStore { dir, sessions: Mutex::new(HashMap::new()), counter: AtomicU64::new(0), unsaved: Mutex::new(None) }
    }

    fn file(&self, id: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{id}.json")))
    }

    /// A fresh id: time, process and a counter, so two servers sharing a data directory do not
    /// collide.
    pub fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{:x}-{n}", crate::ledger::unix_ms_now(), std::process::id())
    }

    /// The session from memory, else from disk. `None` when it never existed.
    pub fn get(&self, id: &str) -> Option<ChatSession> {
        if !valid_id(id) {
            return None;
        }
        if let Some(s) = self.lock().get(id) {
            return Some(s.clone());
        }
        let loaded = read_session(&self.file(id)?)?;
        self.lock().entry(id.to_string()).or_insert(loaded.clone());
        Some(loaded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ChatSession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a finished turn and writes the session to disk. A write failure is logged and kept
    /// for [`ChatStore::take_unsaved`]: the conversation still goes on in memory.
    pub fn append(&self, id: &str, turn: Turn) {
        let session = {
            let mut sessions = self.lock();
            let session = sessions.entry(id.to_string()).or_insert_with(|| ChatSession {
                id: id.to_string(),
                title: turn
                    .message
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .chars()
                    .take(80)
                    .collect(),
                created_unix_ms: turn.at_unix_ms,
                ..ChatSession::default()
            });
            session.updated_unix_ms = turn.at_unix_ms;
            session.turns.push(turn);
            session.clone()
        };
        let Some(file) = self.file(id) else { return };
        if let Err(e) = write_session(&file, &session) {
            tracing::warn!("chat session {id} not saved to {}: {e}", file.display());
            let dir = file.parent().unwrap_or(&file).display();
            *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "chat sessions cannot be saved in {dir} ({e}), so this conversation will not survive a restart; \
                 make that directory writable, or set KIMI_LSP_DATA_DIR to a writable directory"
            ));
        }
    }

    /// Why a session could not be saved since the last call, in words for the user; `None`
    /// when every save since worked out.
    pub fn take_unsaved(&self) -> Option<String> {
        self.unsaved.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Every session, in memory or on disk, the most recently used first.
    pub fn list(&self) -> Vec<SessionSummary> {
        let mut all: HashMap<String, SessionSummary> = HashMap::new();
        if let Some(dir) = &self.dir {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    if let Some(s) = read_session(&path) {
                        all.insert(s.id.clone(), summary(&s));
                    }
                }
            }
        }
        for s in self.lock().values() {
            all.insert(s.id.clone(), summary(s));
        }
        let mut out: Vec<_> = all.into_values().collect();
        out.sort_by(|a, b| b.updated_unix_ms.cmp(&a.updated_unix_ms).then(a.id.cmp(&b.id)));
        out
    }
}

fn summary(s: &ChatSession) -> SessionSummary {
    SessionSummary {
        id: s.id.clone(),
        title: s.title.clone(),
        turns: s.turns.len(),
        updated_unix_ms: s.updated_unix_ms,
    }
}

fn read_session(path: &Path) -> Option<ChatSession> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<ChatSession>(&text) {
        Ok(s) if valid_id(&s.id) => Some(s),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("chat session file {} is unreadable: {e}", path.display());
            None
        }
    }
}

/// Written to a temporary file and renamed, so a crash mid-write never leaves half a session.
fn write_session(path: &Path, session: &ChatSession) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(session)?)?;
    std::fs::rename(&tmp, path)
}

/// About four characters a token (Moonshot's tokenizer on code and English); rounded up and
/// padded per message so that the estimate errs on the side of a shorter request.
pub fn estimate_tokens(chars: usize) -> usize {
    chars.div_ceil(3) + 8
}

/// Which of `turns` fit next to the new prompt: the index of the first turn to send. The oldest
/// turns go first; `budget_tokens` is the context minus the room kept for the answer.
pub fn first_kept_turn(turns: &[Turn], fixed_chars: usize, budget_tokens: usize) -> usize {
    let mut used = estimate_tokens(fixed_chars);
    let mut first = turns.len();
    for (i, t) in turns.iter().enumerate().rev() {
        let cost = estimate_tokens(t.prompt.chars().count()) + estimate_tokens(t.answer.chars().count());
        if used + cost > budget_tokens {
            break;
        }
        used += cost;
        first = i;
    }
    first
}

/// What stands in for the dropped turns: their questions, one line each, so the model knows
/// what was discussed without their full text.
pub fn dropped_summary(dropped: &[Turn]) -> Option<String> {
    if dropped.is_empty() {
        return None;
    }
    let mut out =
        format!("{} earlier turns of this conversation were left out for length. They asked:\n", dropped.len());
    for t in dropped.iter().rev().take(20).rev() {
        let line: String = t.message.lines().next().unwrap_or("").chars().take(120).collect();
        out.push_str(&format!("- {line}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(q: &str, a: &str) -> Turn {
        Turn { message: q.into(), prompt: q.into(), answer: a.into(), at_unix_ms: 1 }
    }

    #[test]
    fn sessions_survive_a_new_store_on_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChatStore::new(Some(dir.path().join("chats")));
        let id = store.new_id();
        assert!(valid_id(&id), "{id}");
        store.append(&id, turn("Why is the sky blue?\nmore", "Rayleigh"));
        store.append(&id, turn("And sunsets?", "Longer path"));
        let again = ChatStore::new(Some(dir.path().join("chats")));
        let s = again.get(&id).expect("loaded from disk");
        assert_eq!(s.title, "Why is the sky blue?");
        assert_eq!(s.turns.len(), 2);
        assert_eq!(s.turns[1].answer, "Longer path");
        let listed = again.list();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id.as_str(), listed[0].turns), (id.as_str(), 2));
    }

    #[test]
    fn ids_that_could_name_other_files_are_never_looked_up() {
        let store = ChatStore::new(Some(PathBuf::from("/nonexistent")));
        assert!(!valid_id("../etc/passwd") && !valid_id("") && !valid_id("a/b") && !valid_id(&"a".repeat(65)));
        assert!(store.get("../../x").is_none());
    }

    #[test]
    fn the_oldest_turns_are_dropped_first_and_named_in_a_summary() {
        let turns: Vec<Turn> = (0..10).map(|i| turn(&format!("question {i}"), &"a".repeat(300))).collect();
        assert_eq!(first_kept_turn(&turns, 10, 1_000_000), 0);
        let first = first_kept_turn(&turns, 10, 400);
        assert!(first > 0 && first < 10, "{first}");
        assert_eq!(first_kept_turn(&turns, 10_000, 400), 10, "no room at all: no history");
        let note = dropped_summary(&turns[..first]).unwrap();
        assert!(note.contains("question 0") && note.starts_with(&format!("{first} earlier turns")), "{note}");
        assert_eq!(dropped_summary(&[]), None);
    }
}
