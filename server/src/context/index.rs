//! The workspace symbol index: for every source file of the workspace, its top-level
//! definitions and their signatures (see [`super::symbols`]), found by name.
//!
//! Only signatures are kept, never trees or file text, so a few thousand files cost a few MiB.
//! Files the editor has open are re-indexed from the editor's text and win over the disk: a
//! walk that finishes after a document was opened does not overwrite its entry.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime};

use ropey::Rope;

use super::fields::{class_fields, returned_type};
use super::symbols::{self, container_name, signature};
use super::window::Source;
use super::{is_test_path, uri_to_path, Reach, SymbolDef, SymbolKind, SymbolLookup};
use crate::secrets::looks_secret;
use crate::text::{syntax, DocumentSnapshot, Language};

/// Files larger than this are generated code or data, not worth their parse.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A walk stops after indexing this many files.
pub const MAX_FILES: usize = 20_000;
/// Directories holding dependencies or build output, skipped even when no ignore file names
/// them (a project without .gitignore, a virtualenv inside the project).
const SKIPPED_DIRS: &[&str] = &["node_modules", "__pycache__", "site-packages", "bower_components"];
/// A directory holding one of these files is a tool's cache or a virtualenv (the CACHEDIR.TAG
/// convention covers cargo's target/).
const SKIP_MARKERS: &[&str] = &["CACHEDIR.TAG", "pyvenv.cfg"];

/// One definition as stored: the name is shared with the name map.
struct Def {
    name: Arc<str>,
    kind: SymbolKind,
    container: Option<Arc<str>>,
    module: Option<Arc<str>>,
    signature: Arc<str>,
    line: u32,
    reach: Reach,
    /// For functions and methods: the workspace type they return, by name.
    returns: Option<Arc<str>>,
}

/// A field of a class the file defines, with its type's name: what `this.repo.find()` in a
/// method of the class (or of a subclass) reaches (see [`class_fields`]).
struct Field {
    /// The class's name, shared with its definition's.
    class: Arc<str>,
    name: Box<str>,
    ty: Box<str>,
    /// A Go embedded type (see [`super::fields::ClassField::embedded`]).
    embedded: bool,
}

/// What a file defines, as the index stores it.
struct Extracted {
    defs: Vec<Def>,
    fields: Vec<Field>,
}

struct FileEntry {
    path: PathBuf,
    /// Workspace-relative path with `/` separators, as prompts show it.
    display: Arc<str>,
    defs: Vec<Def>,
    fields: Vec<Field>,
    /// Indexed from an open document's text rather than from disk.
    from_editor: bool,
    language: Language,
    /// A test's file (see [`is_test_path`]): found once here, not per lookup.
    test: bool,
    /// The file on disk as it was when it was read; `None` for the editor's text. A walk that
    /// finds the same stamp does not read and parse the file again.
    stamp: Option<Stamp>,
}

impl FileEntry {
    fn new(path: PathBuf, display: Arc<str>, found: Extracted, from_editor: bool, language: Language) -> FileEntry {
        let test = is_test_path(&display);
        let Extracted { defs, fields } = found;
        FileEntry { path, display, defs, fields, from_editor, language, test, stamp: None }
    }

    fn read_at(mut self, stamp: Option<Stamp>) -> FileEntry {
        self.stamp = stamp;
        self
    }
}

/// What says a file changed on disk without reading it: its modification time (nanoseconds on
/// the file systems editors work on) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp { modified: meta.modified().ok(), len: meta.len() }
    }
}

#[derive(Default)]
struct Inner {
    roots: Vec<PathBuf>,
    /// Path → slot in `slots`. Names map to slot numbers rather than paths: hashing a path
    /// (component by component) on every lookup cost more than the lookup itself.
    ids: HashMap<PathBuf, u32>,
    slots: Vec<Option<FileEntry>>,
    free: Vec<u32>,
    /// Name → slots of the files that define it. Fx rather than SipHash: it is hashed about
    /// forty times per completion, and a repository crafted for collisions could only slow its
    /// own index down.
    names: FxHashMap<Arc<str>, Vec<u32>>,
    symbols: usize,
    /// The directories the last walks left out for a marker file inside them (a build's
    /// `target/`, a virtualenv), which their names alone do not tell: [`WorkspaceIndex::concerns`]
    /// knows them without touching the disk.
    marked_skipped: HashSet<PathBuf>,
}

impl Inner {
    fn get(&self, path: &Path) -> Option<&FileEntry> {
        let id = *self.ids.get(path)?;
        self.slots.get(id as usize)?.as_ref()
    }

    fn entries(&self) -> impl Iterator<Item = &FileEntry> {
        self.slots.iter().flatten()
    }

    fn remove(&mut self, path: &Path) -> Option<FileEntry> {
        let id = self.ids.remove(path)?;
        let entry = self.slots.get_mut(id as usize)?.take()?;
        self.free.push(id);
        self.symbols -= entry.defs.len();
        for def in &entry.defs {
            if let Some(files) = self.names.get_mut(&def.name) {
                files.retain(|&f| f != id);
                if files.is_empty() {
                    self.names.remove(&def.name);
                }
            }
        }
        Some(entry)
    }

    fn insert(&mut self, mut entry: FileEntry) {
        self.remove(&entry.path);
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        for def in &mut entry.defs {
            // Share one allocation per name between the map key and every definition.
            if let Some((key, _)) = self.names.get_key_value(&def.name) {
                def.name = key.clone();
            }
            let files = self.names.entry(def.name.clone()).or_default();
            if !files.contains(&id) {
                files.push(id);
            }
        }
        for field in &mut entry.fields {
            if let Some((key, _)) = self.names.get_key_value(&field.class) {
                field.class = key.clone();
            }
        }
        self.symbols += entry.defs.len();
        self.ids.insert(entry.path.clone(), id);
        self.slots[id as usize] = Some(entry);
    }

    fn display(&self, path: &Path) -> String {
        display_path(&self.roots, path)
    }
}

/// How prompts name `path`: relative to the root holding it (prefixed with the root's folder
/// name when there are several roots, so that two `src/lib.rs` stay apart), else the path as
/// given.
fn display_path(roots: &[PathBuf], path: &Path) -> String {
    let best = roots.iter().filter(|root| path.starts_with(root)).max_by_key(|root| root.components().count());
    let shown = match best {
        Some(root) => {
            let rel = path.strip_prefix(root).unwrap_or(path);
            if roots.len() > 1 {
                let name = root.file_name().map(Path::new).unwrap_or(Path::new(""));
                name.join(rel)
            } else {
                rel.to_path_buf()
            }
        }
        None => path.to_path_buf(),
    };
    let shown = shown.to_string_lossy().into_owned();
    if std::path::MAIN_SEPARATOR == '\\' {
        shown.replace('\\', "/")
    } else {
        shown
    }
}

/// What one walk of [`WorkspaceIndex::build`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// Files read and parsed: new, or changed since they were last read.
    pub parsed: usize,
    /// Entries dropped: their files are gone or no longer qualify.
    pub dropped: usize,
    /// `false` when a newer walk stopped this one.
    pub finished: bool,
}

/// The workspace's definitions, found by name. `Send + Sync`: built on a blocking thread while
/// completions read it.
#[derive(Default)]
pub struct WorkspaceIndex {
    inner: RwLock<Inner>,
    /// Bumped by every `build`; an older walk that sees a newer number stops.
    generation: AtomicU64,
    /// Walks that went to their end: the first one and every rescan since.
    scans: AtomicU64,
}

impl std::fmt::Debug for WorkspaceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceIndex")
            .field("files", &self.file_count())
            .field("symbols", &self.symbol_count())
            .finish()
    }
}

impl WorkspaceIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every mutation is a
        // single insert/remove), so a poisoned lock is still usable.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Walks `roots` and indexes every supported source file: .gitignore, .ignore and git's
    /// exclude files are honoured (also outside a git repository), hidden files and
    /// directories, dependency and cache directories, secrets (see [`looks_secret`]), files over
    /// [`MAX_FILE_BYTES`], binary files and files that are not UTF-8 are skipped, and the walk
    /// stops after [`MAX_FILES`] files. Files indexed by an earlier walk that are gone are
    /// dropped; open documents keep the entry made from the editor's text.
    ///
    /// A walk after the first one is a rescan: only the files whose modification time or length
    /// changed since they were read are read and parsed again, so it costs the directory reads
    /// and a `stat` per file.
    ///
    /// Synchronous and slow on big trees: run it on a blocking thread. A newer `build` makes a
    /// running one stop early.
    pub fn build(&self, roots: &[PathBuf]) -> Walked {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        // Kept as given, not canonicalized: document URIs use the editor's spelling of the same
        // folders, and both must name a file the same way.
        let roots = roots.to_vec();
        let roots_changed = std::mem::replace(&mut self.write().roots, roots.clone()) != roots;
        let Some((first, rest)) = roots.split_first() else {
            return Walked::default();
        };
        let marked: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let mut walk = ignore::WalkBuilder::new(first);
        for root in rest {
            walk.add(root);
        }
        walk.hidden(true)
            .parents(true)
            .ignore(true)
            .git_ignore(true)
            .git_global(true)
            .git_exclude(true)
            .require_git(false)
            .follow_links(false)
            .max_filesize(Some(MAX_FILE_BYTES))
            .filter_entry({
                let marked = marked.clone();
                move |entry| {
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    !is_dir
                        || match skipped_dir(entry.path()) {
                            Skip::No => true,
                            Skip::ByName => false,
                            Skip::ByMarker => {
                                marked.lock().unwrap_or_else(|e| e.into_inner()).push(entry.path().to_path_buf());
                                false
                            }
                        }
                }
            });

        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut indexed = 0usize;
        let mut parsed = 0usize;
        let mut complete = true;
        for entry in walk.build() {
            if self.generation.load(Ordering::SeqCst) != generation {
                tracing::debug!("workspace index walk superseded by a newer one");
                return Walked { parsed, dropped: 0, finished: false };
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    tracing::debug!(%err, "skipped while indexing the workspace");
                    continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let language = Language::detect("", &path.to_string_lossy());
            if language == Language::PlainText || looks_secret(path) {
                continue;
            }
            if indexed >= MAX_FILES {
                complete = false;
                break;
            }
            let stamp = entry.metadata().ok().map(|meta| Stamp::of(&meta));
            let unchanged = |e: &FileEntry| e.from_editor || (stamp.is_some() && e.stamp == stamp);
            if self.read().get(path).is_some_and(unchanged) {
                seen.insert(path.to_path_buf());
                indexed += 1;
                continue;
            }
            let Some(text) = read_source(path) else {
                continue;
            };
            seen.insert(path.to_path_buf());
            indexed += 1;
            parsed += 1;
            let defs = extract(language, &Rope::from_str(&text));
            let mut inner = self.write();
            // Opened while it was parsed: the editor's text wins.
            if inner.get(path).is_some_and(|e| e.from_editor) {
                continue;
            }
            let display: Arc<str> = inner.display(path).into();
            inner.insert(FileEntry::new(path.to_path_buf(), display, defs, false, language).read_at(stamp));
        }

        let mut inner = self.write();
        let marked = std::mem::take(&mut *marked.lock().unwrap_or_else(|e| e.into_inner()));
        // A walk cut short at the file cap saw only some of them: the earlier walks' stay.
        if complete {
            inner.marked_skipped.clear();
        }
        inner.marked_skipped.extend(marked);
        let mut dropped = 0;
        if complete {
            let gone: Vec<PathBuf> = inner
                .entries()
                .filter(|entry| !entry.from_editor && !seen.contains(&entry.path))
                .map(|entry| entry.path.clone())
                .collect();
            dropped = gone.len();
            for path in gone {
                inner.remove(&path);
            }
        } else {
            tracing::warn!(
                max = MAX_FILES,
                "workspace has more source files than the index takes; the rest are not indexed"
            );
        }
        // Entries made before the roots were known (or changed) show paths as the roots were
        // then: name them again.
        if roots_changed || self.scans() == 0 {
            for entry in inner.slots.iter_mut().flatten() {
                entry.display = display_path(&roots, &entry.path).into();
            }
        }
        let (files, symbols, elapsed_ms) = (inner.ids.len(), inner.symbols, started.elapsed().as_millis() as u64);
        // A rescan that found nothing new is routine (one a minute without a file watcher).
        if parsed + dropped > 0 || self.scans() == 0 {
            tracing::info!(files, symbols, parsed, dropped, elapsed_ms, "workspace indexed");
        } else {
            tracing::debug!(files, symbols, elapsed_ms, "workspace rescanned, nothing changed");
        }
        drop(inner);
        self.scans.fetch_add(1, Ordering::SeqCst);
        if parsed > 0 {
            // Files were parsed and their trees freed: that memory is not needed again.
            crate::memory::release_soon();
        }
        Walked { parsed, dropped, finished: true }
    }

    /// How many walks have gone to their end (see [`Self::build`]).
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::SeqCst)
    }

    /// Whether a change on disk at `path` (a file or, when deleted, maybe a directory) can
    /// change what the index holds, judged without touching the disk: the events of a build
    /// tool's output or of a dependency directory do not call for a rescan, nor those in a
    /// directory the last walk left out for its marker file (cargo's `target/`), unless the
    /// marker itself changed. A deleted directory concerns the index when it held indexed files.
    pub fn concerns(&self, path: &Path, deleted: bool) -> bool {
        let inner = self.read();
        let root = inner.roots.iter().filter(|root| path.starts_with(root)).max_by_key(|r| r.components().count());
        let Some(root) = root else {
            return false;
        };
        if let Some(dir) = inner.marked_skipped.iter().find(|dir| path.starts_with(dir)) {
            let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            // Without its marker the directory is walked again.
            return path.parent() == Some(dir.as_path()) && SKIP_MARKERS.contains(&name.as_ref());
        }
        let inside = path.strip_prefix(root).unwrap_or(path);
        let hidden_or_skipped = |name: &str| name.starts_with('.') || SKIPPED_DIRS.contains(&name);
        let folders = inside.parent().into_iter().flat_map(Path::components);
        if folders.map(|c| c.as_os_str().to_string_lossy()).any(|name| hidden_or_skipped(&name)) {
            return false;
        }
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        // Ignore files decide what the walk takes.
        if name == ".gitignore" || name == ".ignore" {
            return true;
        }
        if hidden_or_skipped(&name) {
            return false;
        }
        let language = Language::detect("", &path.to_string_lossy());
        if indexable(path, language) {
            return true;
        }
        deleted && inner.entries().any(|entry| entry.path.starts_with(path))
    }

    /// Re-indexes one file from an open document's text (after edits settle, on save, on
    /// close). `path` is a `file://` URI or a filesystem path. Secrets, plain text, binary text
    /// and text over [`MAX_FILE_BYTES`] remove the file from the index instead.
    pub fn update_file(&self, path: &str, language: Language, text: &str) {
        let path = uri_to_path(path);
        if !indexable(&path, language) || text.len() as u64 > MAX_FILE_BYTES || text.contains('\0') {
            self.write().remove(&path);
            return;
        }
        let defs = extract(language, &Rope::from_str(text));
        self.store_from_editor(path, defs, language);
        // A tree was made and freed; a batch of these (documents opened) merges into one trim.
        crate::memory::release_soon();
    }

    /// Like [`Self::update_file`] for an open document, reusing the tree it already has
    /// instead of parsing again.
    pub fn update_document(&self, doc: &DocumentSnapshot) {
        let path = uri_to_path(doc.uri());
        let language = doc.language();
        let too_big = doc.rope().len_bytes() as u64 > MAX_FILE_BYTES;
        let (false, false, Some(tree)) = (too_big, doc.is_binary(), doc.tree()) else {
            self.write().remove(&path);
            return;
        };
        if !indexable(&path, language) {
            self.write().remove(&path);
            return;
        }
        let defs = extract_from_tree(language, tree.root_node(), doc.rope());
        self.store_from_editor(path, defs, language);
    }

    /// Re-indexes one file from disk, under the walk's rules (size, binary, UTF-8, secrets), as
    /// a disk entry that later walks refresh: for a document the editor closed, whose unsaved
    /// edits died with the buffer. A file that is gone or no longer qualifies is dropped.
    /// `path` as for [`Self::update_file`].
    pub fn refresh_from_disk(&self, path: &str) {
        let path = uri_to_path(path);
        let language = Language::detect("", &path.to_string_lossy());
        let stamp = std::fs::metadata(&path).ok().map(|meta| Stamp::of(&meta));
        let text = if indexable(&path, language) { read_source(&path) } else { None };
        let Some(text) = text else {
            self.write().remove(&path);
            return;
        };
        let defs = extract(language, &Rope::from_str(&text));
        let mut inner = self.write();
        let display: Arc<str> = inner.display(&path).into();
        inner.insert(FileEntry::new(path, display, defs, false, language).read_at(stamp));
    }

    fn store_from_editor(&self, path: PathBuf, defs: Extracted, language: Language) {
        let mut inner = self.write();
        let display: Arc<str> = inner.display(&path).into();
        inner.insert(FileEntry::new(path, display, defs, true, language));
    }

    /// Forgets a file (deleted or renamed away). `path` as for [`Self::update_file`].
    pub fn remove_file(&self, path: &str) {
        self.write().remove(&uri_to_path(path));
    }

    pub fn file_count(&self) -> usize {
        self.read().ids.len()
    }

    pub fn symbol_count(&self) -> usize {
        self.read().symbols
    }
}

impl SymbolLookup for WorkspaceIndex {
    fn lookup(&self, name: &str) -> Vec<SymbolDef> {
        let inner = self.read();
        let Some(files) = inner.names.get(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &id in files {
            let Some(Some(entry)) = inner.slots.get(id as usize) else {
                continue;
            };
            for def in entry.defs.iter().filter(|d| &*d.name == name) {
                out.push(SymbolDef {
                    name: def.name.clone(),
                    path: entry.display.clone(),
                    kind: def.kind,
                    signature: def.signature.clone(),
                    line: def.line,
                    container: def.container.clone(),
                    module: def.module.clone(),
                    reach: def.reach,
                    language: entry.language,
                    test: entry.test,
                    returns: def.returns.clone(),
                });
            }
        }
        out
    }

    fn field_type(&self, class: &str, field: &str, family: Language) -> Option<String> {
        let inner = self.read();
        let files = inner.names.get(class)?;
        let entries = files.iter().filter_map(|&id| inner.slots.get(id as usize)?.as_ref());
        let mut fields = entries.filter(|e| e.language.family() == family).flat_map(|e| &e.fields);
        fields.find(|f| &*f.class == class && &*f.name == field).map(|f| f.ty.to_string())
    }

    fn embedded(&self, class: &str, family: Language) -> Vec<String> {
        let inner = self.read();
        let Some(files) = inner.names.get(class) else {
            return Vec::new();
        };
        let entries = files.iter().filter_map(|&id| inner.slots.get(id as usize)?.as_ref());
        let fields = entries.filter(|e| e.language.family() == family).flat_map(|e| &e.fields);
        fields.filter(|f| f.embedded && &*f.class == class).map(|f| f.ty.to_string()).collect()
    }

    fn display_path(&self, uri: &str) -> String {
        self.read().display(&uri_to_path(uri))
    }

    fn workspace_relative(&self, path: &Path) -> Option<PathBuf> {
        let inner = self.read();
        let root = inner.roots.iter().filter(|root| path.starts_with(root)).max_by_key(|r| r.components().count())?;
        path.strip_prefix(root).ok().map(Path::to_path_buf)
    }
}

/// What may be indexed, and so shown to a model as another file's code: never plain text, never
/// a file that looks like it holds secrets.
fn indexable(path: &Path, language: Language) -> bool {
    language != Language::PlainText && !looks_secret(path)
}

/// Why the walk leaves a directory out, if it does.
enum Skip {
    No,
    /// A dependency or cache directory's name ([`SKIPPED_DIRS`]).
    ByName,
    /// A marker file inside it ([`SKIP_MARKERS`]).
    ByMarker,
}

fn skipped_dir(path: &Path) -> Skip {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if SKIPPED_DIRS.contains(&name.as_ref()) {
        Skip::ByName
    } else if SKIP_MARKERS.iter().any(|m| path.join(m).is_file()) {
        Skip::ByMarker
    } else {
        Skip::No
    }
}

/// The file's text, or `None` for binary (a NUL byte) and non-UTF-8 files.
fn read_source(path: &Path) -> Option<String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::debug!(path = %path.display(), %err, "unreadable while indexing");
            return None;
        }
    };
    if bytes.len() as u64 > MAX_FILE_BYTES || bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

fn extract(language: Language, rope: &Rope) -> Extracted {
    match syntax::parse(language, rope, None) {
        Some(tree) => extract_from_tree(language, tree.root_node(), rope),
        None => Extracted { defs: Vec::new(), fields: Vec::new() },
    }
}

fn extract_from_tree(language: Language, root: tree_sitter::Node<'_>, rope: &Rope) -> Extracted {
    let mut defs = Vec::new();
    let mut fields = Vec::new();
    let file = symbols::FileRules::of(language, root, rope);
    symbols::visit(language, root, rope, &mut |site| {
        let name = super::window::text_between(rope, site.name.start_byte(), site.name.end_byte());
        if name.is_empty() {
            return;
        }
        let reach = file.reach(&site, &name, rope);
        let name: Arc<str> = Arc::from(name);
        // A Go interface embeds others; a PHP trait uses other traits, a Ruby module includes
        // other modules.
        let mixes_in =
            matches!(language, Language::Go | Language::Php | Language::Ruby) && site.kind == SymbolKind::Interface;
        if site.kind == SymbolKind::Class || mixes_in {
            for field in class_fields(language, site.node, Source::of_rope(rope)) {
                let ty = field.ty.into();
                fields.push(Field { class: name.clone(), name: field.name.into(), ty, embedded: field.embedded });
            }
        }
        let container = container_name(language, &site, rope);
        let returns = match site.kind {
            SymbolKind::Function | SymbolKind::Method => {
                returned_type(language, site.node, Source::of_rope(rope), container.as_deref()).map(Arc::from)
            }
            _ => None,
        };
        defs.push(Def {
            name,
            kind: site.kind,
            returns,
            container: container.map(Arc::from),
            module: inline_modules(language, site.node, rope).map(Arc::from),
            signature: signature(language, &site, rope).into(),
            line: rope.byte_to_line(site.name.start_byte()) as u32,
            reach,
        });
    });
    Extracted { defs, fields }
}

/// The Rust inline modules around a definition (`mod a { mod b { … } }`: `a/b`), which its
/// file's path does not name. Few definitions are inside one: the walk up stops at the root.
fn inline_modules(language: Language, node: tree_sitter::Node<'_>, rope: &Rope) -> Option<String> {
    if language != Language::Rust {
        return None;
    }
    let mut names = Vec::new();
    let mut at = node.parent();
    while let Some(parent) = at {
        if parent.kind() == "mod_item" {
            if let Some(name) = parent.child_by_field_name("name") {
                names.push(super::window::text_between(rope, name.start_byte(), name.end_byte()));
            }
        }
        at = parent.parent();
    }
    (!names.is_empty()).then(|| {
        names.reverse();
        names.join("/")
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::text::Document;

    fn write(root: &Path, path: &str, text: impl AsRef<[u8]>) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Every indexed symbol as `path: name`, sorted.
    fn listing(index: &WorkspaceIndex) -> String {
        let inner = index.read();
        let mut lines: Vec<String> =
            inner.entries().flat_map(|e| e.defs.iter().map(move |d| format!("{}: {}", e.display, d.name))).collect();
        lines.sort();
        lines.join("\n")
    }

    /// Every definition of `text` (as `language`) with its reach, in file order.
    fn reaches(language: Language, text: &str) -> Vec<String> {
        extract(language, &Rope::from_str(text)).defs.iter().map(|d| format!("{} {:?}", d.name, d.reach)).collect()
    }

    #[test]
    fn each_definition_has_the_reach_its_language_gives_it() {
        let rust = "pub fn open() {}\nfn helper() {}\npub(crate) struct Shared;\nstruct Local;\n\
                    impl Local { pub fn new() -> Local { Local } fn step(&self) {} }\n\
                    pub trait Run { fn run(&self); }\ntrait Hidden { fn hide(&self); }\n";
        assert_eq!(
            reaches(Language::Rust, rust),
            [
                "open Anywhere",
                "helper Module",
                "Shared Anywhere",
                "Local Module",
                "new Anywhere",
                "step Module",
                "Run Anywhere",
                "run Anywhere",
                "Hidden Module",
                "hide Module",
            ]
        );
        let go = "package p\nfunc Parse() {}\nfunc parse() {}\ntype Point struct{}\nfunc (p Point) norm() {}\nconst Max = 1\n";
        assert_eq!(
            reaches(Language::Go, go),
            ["Parse Anywhere", "parse Package", "Point Anywhere", "norm Package", "Max Anywhere"]
        );
        let module = "import { x } from \"./x\";\nexport function shown() {}\nfunction own() {}\n\
                      export const limit = 1;\nconst local = 2;\n\
                      export class Store { get() {} private put() {} #drop() {} }\nclass Hid { get() {} }\n\
                      declare function ambient(): void;\n";
        assert_eq!(
            reaches(Language::TypeScript, module),
            [
                "shown Anywhere",
                "own File",
                "limit Anywhere",
                "local File",
                "Store Anywhere",
                "get Anywhere",
                "put File",
                "#drop File",
                "Hid File",
                "get File",
                "ambient Anywhere",
            ]
        );
        let listed =
            "function parse() {}\nclass Lexer { next() {} }\nfunction own() {}\nexport { parse, Lexer as L };\n\
                      export { own as other } from \"./other\";\nconst dflt = 1;\nexport default dflt;\n";
        assert_eq!(
            reaches(Language::TypeScript, listed),
            ["parse Anywhere", "Lexer Anywhere", "next Anywhere", "own File", "dflt Anywhere"]
        );
        let c = "static int helper(void) { return 0; }\nint api(void);\nstatic int counter = 0;\nint total = 0;\n";
        assert_eq!(reaches(Language::C, c), ["helper File", "api Anywhere", "counter File", "total Anywhere"]);
        let cpp = "namespace {\nint hidden() { return 1; }\n}\nnamespace ui {\nclass W { public: static W make(); private: void step(); };\nint shown();\n}\n";
        assert_eq!(
            reaches(Language::Cpp, cpp),
            ["hidden File", "W Anywhere", "make Anywhere", "step Anywhere", "shown Anywhere"]
        );
        let macros = "macro_rules! ensure { () => {} }\n";
        assert_eq!(reaches(Language::Rust, macros), ["ensure Anywhere"]);
        // A script (no import or export) shares what it declares: CommonJS, or a page's script.
        assert_eq!(
            reaches(Language::JavaScript, "function helper() {}\nmodule.exports = { helper };\n"),
            ["helper Anywhere"]
        );
        // Python's leading `_` is its package's; special names are everyone's.
        assert_eq!(
            reaches(Language::Python, "def _private(): pass\nclass A: pass\ndef __getattr__(name): pass\n"),
            ["_private Package", "A Anywhere", "__getattr__ Anywhere"]
        );
    }

    #[test]
    fn a_reach_is_checked_against_the_file_that_would_use_the_definition() {
        let cases = [
            (Reach::Anywhere, "web/a.ts", "other/b.ts", true),
            (Reach::File, "web/a.ts", "web/b.ts", false),
            (Reach::Package, "pkg/a.go", "pkg/b.go", true),
            (Reach::Package, "pkg/a.go", "pkg/sub/b.go", false),
            (Reach::Package, "pkg/a.go", "other/a.go", false),
            (Reach::Package, "app/src/main/java/com/x/A.java", "app/src/test/java/com/x/ATest.java", true),
            (Reach::Package, "src/main/java/com/x/A.java", "src/test/java/com/y/BTest.java", false),
            (Reach::Package, "src/main/java/com/x/A.java", "src/test/javax/com/x/BTest.java", false),
            (Reach::File, "src/util.h", "src/main.c", true),
            (Reach::File, "src/util.c", "src/main.c", false),
            (Reach::Module, "src/lib.rs", "src/deep/x.rs", true),
            (Reach::Module, "src/main.rs", "src/a.rs", true),
            (Reach::Module, "src/lib.rs", "tests/e2e.rs", false),
            (Reach::Module, "src/a.rs", "src/a/b.rs", true),
            (Reach::Module, "src/a.rs", "src/ab.rs", false),
            (Reach::Module, "src/a.rs", "src/b.rs", false),
            (Reach::Module, "src/a/mod.rs", "src/a/c/d.rs", true),
            (Reach::Module, "src/a/mod.rs", "src/b.rs", false),
            (Reach::Module, "crates\\x\\src\\a.rs", "crates\\x\\src\\a\\b.rs", true),
        ];
        for (reach, path, from, expected) in cases {
            assert_eq!(reach.reaches(path, from), expected, "{reach:?} {path} from {from}");
        }
    }

    #[test]
    fn the_walk_skips_ignored_hidden_secret_big_binary_and_dependency_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "src/lib.rs", "pub fn visible() {}\npub struct Shown;\n");
        write(root, "src/util.py", "def helper():\n    pass\n");
        write(root, "web/app.ts", "export function shown(): void {}\n");
        write(root, ".gitignore", "generated/\n*.gen.ts\n");
        write(root, "generated/out.rs", "pub fn by_gitignore() {}\n");
        write(root, "web/a.gen.ts", "export function byGlob() {}\n");
        write(root, ".ignore", "scratch.rs\n");
        write(root, "scratch.rs", "pub fn by_dot_ignore() {}\n");
        write(root, ".hidden/x.rs", "pub fn in_hidden_dir() {}\n");
        write(root, "node_modules/pkg/index.js", "function fromDependency() {}\n");
        write(root, "target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
        write(root, "target/debug/build.rs", "pub fn in_build_output() {}\n");
        write(root, "venv/pyvenv.cfg", "home = /usr/bin\n");
        write(root, "venv/lib/site.py", "def in_virtualenv(): pass\n");
        write(root, "secrets.py", "def in_a_secret_file(): pass\n");
        write(root, "config/secrets.ts", "export const token = \"t\";\n");
        let filler = "// filler line\n".repeat(80_000);
        write(root, "big.rs", format!("{filler}pub fn too_big() {{}}\n"));
        write(root, "bin.go", b"package x\x00\nfunc Binary() {}\n");
        write(root, "latin1.py", b"def not_utf8(): return '\xe9'\n");
        write(root, "README.md", "# not source\n");

        let index = WorkspaceIndex::new();
        index.build(&[root.to_path_buf()]);
        assert_eq!(listing(&index), "src/lib.rs: Shown\nsrc/lib.rs: visible\nsrc/util.py: helper\nweb/app.ts: shown");
        assert_eq!((index.file_count(), index.symbol_count()), (3, 4));
    }

    #[test]
    fn lookups_return_signatures_with_workspace_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src/parse.rs", "pub fn parse(input: &str) -> Ast {\n    todo!()\n}\n");
        write(dir.path(), "lib/parse.py", "def parse(text):\n    pass\n");
        let index = WorkspaceIndex::new();
        index.build(&[dir.path().to_path_buf()]);
        let mut defs = index.lookup("parse");
        defs.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            defs,
            vec![
                SymbolDef {
                    name: "parse".into(),
                    path: "lib/parse.py".into(),
                    kind: SymbolKind::Function,
                    signature: "def parse(text): ...".into(),
                    line: 0,
                    container: None,
                    module: None,
                    reach: Reach::Anywhere,
                    language: Language::Python,
                    test: false,
                    returns: None,
                },
                SymbolDef {
                    name: "parse".into(),
                    path: "src/parse.rs".into(),
                    kind: SymbolKind::Function,
                    signature: "pub fn parse(input: &str) -> Ast".into(),
                    line: 0,
                    container: None,
                    module: None,
                    reach: Reach::Anywhere,
                    language: Language::Rust,
                    test: false,
                    returns: Some("Ast".into()),
                },
            ]
        );
        assert!(index.lookup("missing").is_empty());
        let uri = url::Url::from_file_path(dir.path().join("src/parse.rs")).unwrap();
        assert_eq!(index.display_path(uri.as_str()), "src/parse.rs");
        assert_eq!(index.display_path("/elsewhere/x.rs"), "/elsewhere/x.rs");
    }

    #[test]
    fn the_editor_text_wins_over_the_disk_until_the_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "a.rs", "pub fn on_disk() {}\n");
        write(&root, "b.rs", "pub fn deleted_later() {}\n");
        let a = root.join("a.rs");
        let a_uri = url::Url::from_file_path(&a).unwrap().to_string();
        let index = WorkspaceIndex::new();
        // Opened before the first walk: named by its absolute path until the roots are known.
        index.update_file(&a_uri, Language::Rust, "pub fn in_editor() {}\n");
        assert_eq!(*index.lookup("in_editor")[0].path, *a.to_string_lossy());
        index.build(std::slice::from_ref(&root));
        assert_eq!(listing(&index), "a.rs: in_editor\nb.rs: deleted_later");

        fs::remove_file(root.join("b.rs")).unwrap();
        index.build(std::slice::from_ref(&root));
        assert_eq!(listing(&index), "a.rs: in_editor");

        let doc = Document::new(&a_uri, "rust", 2, "pub fn from_tree() {}\npub fn two() {}\n");
        index.update_document(&doc.snapshot());
        assert_eq!(listing(&index), "a.rs: from_tree\na.rs: two");
        assert_eq!(index.symbol_count(), 2);

        index.remove_file(&a.to_string_lossy());
        assert_eq!((index.file_count(), index.symbol_count()), (0, 0));
        assert!(index.lookup("two").is_empty());
        index.build(std::slice::from_ref(&root));
        assert_eq!(listing(&index), "a.rs: on_disk");
    }

    #[test]
    fn a_rescan_reads_only_what_changed_on_disk_and_forgets_what_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "a.rs", "pub fn alpha() {}\n");
        write(&root, "b.rs", "pub fn beta() {}\n");
        write(&root, "old/c.rs", "pub fn gamma() {}\n");
        write(&root, "d.rs", "pub fn delta() {}\n");
        let index = WorkspaceIndex::new();
        let roots = std::slice::from_ref(&root);
        assert_eq!(index.build(roots), Walked { parsed: 4, dropped: 0, finished: true });
        assert_eq!(index.build(roots), Walked { parsed: 0, dropped: 0, finished: true });
        // A branch switch: one file changed, one created, a folder deleted.
        write(&root, "b.rs", "pub fn beta_renamed() {}\n");
        write(&root, "e.rs", "pub fn epsilon() {}\n");
        fs::remove_dir_all(root.join("old")).unwrap();
        // Open in the editor: its text wins, and the walk does not read it.
        index.update_file(&root.join("d.rs").to_string_lossy(), Language::Rust, "pub fn delta_unsaved() {}\n");
        write(&root, "d.rs", "pub fn delta_on_disk() {}\n");
        assert_eq!(index.build(roots), Walked { parsed: 2, dropped: 1, finished: true });
        assert_eq!(listing(&index), "a.rs: alpha\nb.rs: beta_renamed\nd.rs: delta_unsaved\ne.rs: epsilon");
        assert_eq!(index.scans(), 3);
    }

    #[test]
    fn file_events_call_for_a_rescan_only_where_the_index_could_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "src/lib.rs", "pub fn alpha() {}\n");
        let index = WorkspaceIndex::new();
        index.build(std::slice::from_ref(&root));
        let at = |p: &str| root.join(p);
        assert!(index.concerns(&at("src/new.rs"), false));
        assert!(index.concerns(&at("src/lib.rs"), true));
        // A deleted folder that held indexed files; one that held none.
        assert!(index.concerns(&at("src"), true));
        assert!(!index.concerns(&at("docs"), true));
        assert!(!index.concerns(&at("src"), false));
        // Not source, secret, hidden, a dependency, or outside the workspace.
        assert!(!index.concerns(&at("notes.txt"), false));
        assert!(!index.concerns(&at(".env"), false));
        assert!(!index.concerns(&at(".git/index"), false));
        // Ignore files decide what the walk takes.
        assert!(index.concerns(&at(".gitignore"), false));
        assert!(index.concerns(&at("src/.ignore"), true));
        assert!(!index.concerns(&at("web/node_modules/x/index.js"), false));
        assert!(!index.concerns(Path::new("/elsewhere/lib.rs"), false));
    }

    /// A build writing generated sources into `target/` calls for no rescan: the walk left the
    /// directory out for its marker and remembers it, so `concerns` needs no disk to tell.
    #[test]
    fn events_in_a_directory_the_walk_left_out_for_its_marker_call_for_no_rescan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "Cargo.toml", "[package]\nname = \"x\"\n");
        write(&root, "src/lib.rs", "pub fn alpha() {}\n");
        // What cargo writes into every target directory it makes.
        write(&root, "target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
        write(&root, "target/debug/build/x/out/old.rs", "pub fn generated() {}\n");
        let index = WorkspaceIndex::new();
        let at = |p: &str| root.join(p);
        let generated = at("target/debug/build/x/out/gen.rs");
        assert_eq!(index.build(std::slice::from_ref(&root)).parsed, 1);
        assert!(!index.concerns(&generated, false));
        assert!(!index.concerns(&generated, true));
        assert!(!index.concerns(&at("target"), true));
        assert!(index.concerns(&at("src/new.rs"), false));
        assert!(index.concerns(&at("target/CACHEDIR.TAG"), true), "without its marker, target/ is walked");
        // A folder named `target` without the marker is code like any other.
        assert!(index.concerns(&at("src/target/lib.rs"), false));
    }

    #[test]
    fn a_closed_document_goes_back_to_its_disk_text_and_to_the_walks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "a.rs", "pub fn saved() {}\n");
        let a = root.join("a.rs").to_string_lossy().into_owned();
        let index = WorkspaceIndex::new();
        index.build(std::slice::from_ref(&root));
        index.update_file(&a, Language::Rust, "pub fn unsaved() {}\n");
        assert_eq!(listing(&index), "a.rs: unsaved");
        index.refresh_from_disk(&a);
        assert_eq!(listing(&index), "a.rs: saved");
        // No longer the editor's: the next walk sees changes made on disk.
        write(&root, "a.rs", "pub fn changed_on_disk() {}\n");
        index.build(std::slice::from_ref(&root));
        assert_eq!(listing(&index), "a.rs: changed_on_disk");
        fs::remove_file(root.join("a.rs")).unwrap();
        index.refresh_from_disk(&a);
        assert_eq!(index.file_count(), 0);
    }

    #[test]
    fn secret_plain_and_binary_updates_leave_nothing_behind() {
        let index = WorkspaceIndex::new();
        index.update_file("/p/.env.rs", Language::Rust, "pub fn f() {}\n");
        index.update_file("/p/creds/id_rsa.py", Language::Python, "def g(): pass\n");
        index.update_file("/p/notes.txt", Language::PlainText, "fn h() {}\n");
        index.update_file("/p/nul.rs", Language::Rust, "pub fn i() {}\0\n");
        assert_eq!(index.file_count(), 0);
        index.update_file("/p/ok.rs", Language::Rust, "pub fn j() {}\n");
        assert_eq!(index.file_count(), 1);
        // The same path turning binary drops its old definitions.
        index.update_file("/p/ok.rs", Language::Rust, "\0");
        assert_eq!((index.file_count(), index.symbol_count()), (0, 0));
    }

    #[test]
    fn several_roots_prefix_paths_with_the_root_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("app"), dir.path().join("lib"));
        write(&one, "src/lib.rs", "pub fn from_app() {}\n");
        write(&two, "src/lib.rs", "pub fn from_lib() {}\n");
        let index = WorkspaceIndex::new();
        index.build(&[one, two]);
        assert_eq!(listing(&index), "app/src/lib.rs: from_app\nlib/src/lib.rs: from_lib");
    }

    #[test]
    fn shared_names_are_stored_once_and_removed_with_their_last_file() {
        let index = WorkspaceIndex::new();
        index.update_file("/p/a.rs", Language::Rust, "pub fn new() {}\n");
        index.update_file("/p/b.rs", Language::Rust, "pub fn new() {}\npub fn new_b() {}\n");
        assert_eq!(index.lookup("new").len(), 2);
        {
            let inner = index.read();
            let a = &inner.get(Path::new("/p/a.rs")).unwrap().defs[0].name;
            let b = &inner.get(Path::new("/p/b.rs")).unwrap().defs[0].name;
            assert!(Arc::ptr_eq(a, b));
        }
        index.remove_file("/p/a.rs");
        assert_eq!(index.lookup("new").len(), 1);
        index.remove_file("/p/b.rs");
        assert!(index.read().names.is_empty());
    }

    #[test]
    fn the_index_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<WorkspaceIndex>();
        let index = Arc::new(WorkspaceIndex::new());
        let writer = {
            let index = index.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    index.update_file(&format!("/p/f{i}.rs"), Language::Rust, "pub fn shared() {}\n");
                }
            })
        };
        for _ in 0..200 {
            let found = index.lookup("shared");
            assert!(found.iter().all(|d| &*d.signature == "pub fn shared()"));
        }
        writer.join().unwrap();
        assert_eq!(index.lookup("shared").len(), 200);
    }
}
