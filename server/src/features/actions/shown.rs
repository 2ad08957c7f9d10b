//! Text an action shows the user (an explanation, a custom `showText` answer) as a Markdown
//! file the editor opens.
//!
//! The files go into a directory of the user's own, `kimi-lsp-<uid>` under the temp directory,
//! which no one else may enter (0700), each under a random name that is created, never opened
//! if it exists (`O_EXCL`), readable by the user only (0600). So two editors, or two users on
//! one machine, never overwrite or read each other's files, and a link planted where a file
//! will be written is never followed. Writing one removes the explanations written there more
//! than a day before ([`remove_stale`]): the editor showed them long ago.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The names the files get: `explanation-<random>.md`.
const PREFIX: &str = "explanation-";
const SUFFIX: &str = ".md";

/// How long an explanation is kept after it was written.
const KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// Writes `# title` and `markdown` to a new file in the user's private directory under the
/// system's temp directory; returns its path. The file stays when the server exits (the editor
/// shows it) until a day later, when writing another removes it.
pub fn write_markdown(title: &str, markdown: &str) -> io::Result<PathBuf> {
    write_markdown_in(&std::env::temp_dir(), title, markdown)
}

/// [`write_markdown`] under `base` instead of the temp directory.
pub fn write_markdown_in(base: &Path, title: &str, markdown: &str) -> io::Result<PathBuf> {
    let dir = private_dir(base)?;
    if let Some(before) = SystemTime::now().checked_sub(KEPT_FOR) {
        let removed = remove_stale(&dir, before);
        if removed > 0 {
            tracing::debug!(removed, dir = %dir.display(), "removed explanations older than a day");
        }
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(PREFIX).suffix(SUFFIX);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    // tempfile creates the file with `create_new` under a random name, and tries another name
    // when one is taken.
    let mut file = builder.tempfile_in(&dir)?;
    file.write_all(format!("# {title}\n\n{markdown}\n").as_bytes())?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

/// Removes the explanations in `dir` last written before `before`; returns how many. Only
/// regular files named as [`write_markdown_in`] names them are touched: anything else in the
/// directory, a link included, stays. Failures are skipped: a file another server removed
/// first, or one that cannot be removed, costs nothing but its space.
pub fn remove_stale(dir: &Path, before: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.len() > PREFIX.len() + SUFFIX.len() && name.starts_with(PREFIX) && name.ends_with(SUFFIX);
        // `DirEntry::metadata` does not follow links.
        let old = entry.metadata().is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|t| t < before));
        if ours && old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The user's own directory under `base`, made if missing. One that exists must be a directory
/// of this user's, not a link (someone else may have made the name first); its permissions are
/// narrowed to the user's if they are wider. Checking it once is enough: in a temp directory
/// with the sticky bit, as `/tmp` has, no one else can rename or replace it afterwards.
#[cfg(unix)]
fn private_dir(base: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = base.join(format!("kimi-lsp-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    let refuse = |why: &str| {
        Err(io::Error::other(format!("{} {why}; kimi-lsp will not write there (remove it to fix this)", dir.display())))
    };
    if !meta.file_type().is_dir() {
        return refuse("is not a directory (a link?)");
    }
    if meta.uid() != uid {
        return refuse("belongs to another user");
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Elsewhere (Windows) the temp directory is the user's own already.
#[cfg(not(unix))]
fn private_dir(base: &Path) -> io::Result<PathBuf> {
    let dir = base.join("kimi-lsp");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn each_file_is_new_private_and_in_the_users_own_directory() {
        let base = tempfile::tempdir().unwrap();
        let a = write_markdown_in(base.path(), "A", "from editor A").unwrap();
        let b = write_markdown_in(base.path(), "B", "from editor B").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "# A\n\nfrom editor A\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "# B\n\nfrom editor B\n");
        let dir = a.parent().unwrap();
        // SAFETY: as above.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(dir, base.path().join(format!("kimi-lsp-{uid}")));
        assert_eq!(mode(dir), 0o700);
        assert_eq!((mode(&a), mode(&b)), (0o600, 0o600));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("explanation-") && name.ends_with(".md"), "{name}");
    }

    /// Explanations written more than a day before go when another is written; newer ones,
    /// files of other names and links stay.
    #[test]
    fn writing_an_explanation_removes_those_older_than_a_day() {
        let base = tempfile::tempdir().unwrap();
        let first = write_markdown_in(base.path(), "Old", "yesterday's").unwrap();
        let dir = first.parent().unwrap().to_path_buf();
        let recent = write_markdown_in(base.path(), "Recent", "an hour ago").unwrap();
        let age = |path: &Path, ago: Duration| {
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(SystemTime::now() - ago).unwrap();
        };
        let two_days = Duration::from_secs(2 * 24 * 60 * 60);
        age(&first, two_days);
        age(&recent, Duration::from_secs(60 * 60));
        // Old, but not the server's: another name, a directory of its name, a link to a file.
        let notes = dir.join("notes.md");
        std::fs::write(&notes, "mine").unwrap();
        age(&notes, two_days);
        let bare = dir.join("explanation-.md");
        std::fs::write(&bare, "").unwrap();
        age(&bare, two_days);
        std::fs::create_dir(dir.join("explanation-dir.md")).unwrap();
        let target = base.path().join("kept.md");
        std::fs::write(&target, "x").unwrap();
        age(&target, two_days);
        std::os::unix::fs::symlink(&target, dir.join("explanation-link.md")).unwrap();

        let newest = write_markdown_in(base.path(), "New", "now").unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut expected: Vec<String> = [&recent, &newest, &notes, &bare]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .chain(["explanation-dir.md".to_string(), "explanation-link.md".to_string()])
            .collect();
        expected.sort();
        assert_eq!(left, expected);
        assert!(!first.exists() && target.exists());
        assert_eq!(remove_stale(&dir, SystemTime::now() + Duration::from_secs(60)), 2, "the two the server wrote");
    }

    #[test]
    fn a_planted_link_is_never_followed_and_a_wide_directory_is_narrowed() {
        // SAFETY: as above.
        let uid = unsafe { libc::geteuid() };
        let base = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), base.path().join(format!("kimi-lsp-{uid}"))).unwrap();
        let err = write_markdown_in(base.path(), "T", "secret").unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written through the link");

        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join(format!("kimi-lsp-{uid}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        write_markdown_in(base.path(), "T", "x").unwrap();
        assert_eq!(mode(&dir), 0o700);

        // Someone else's directory of that name (only root can make one to test with).
        if uid == 0 {
            let base = tempfile::tempdir().unwrap();
            let dir = base.path().join("kimi-lsp-0");
            std::fs::create_dir(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let err = write_markdown_in(base.path(), "T", "x").unwrap_err();
            assert!(err.to_string().contains("belongs to another user"), "{err}");
        }
    }
}
