//! Giving freed memory back to the system.
//!
//! Parsing is the server's big churn: a syntax tree costs about 40 bytes per byte of code, and
//! the workspace index parses every file once, on a blocking thread. glibc's malloc keeps what
//! is freed in the middle of its arenas (one per thread that allocated) and returns it only on
//! `malloc_trim`, so after indexing 300 files the process held ~25 MiB it no longer used. Code
//! that has just freed a lot calls [`release_soon`]; a background thread then trims once the
//! churn has settled. Elsewhere than Linux with glibc this is a no-op.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Calls in a burst (a whole workspace re-indexed) are merged into one trim this long after the
/// last of them.
const SETTLE: Duration = Duration::from_millis(200);
/// With no request, the trimmer still looks this often, for churn nobody reported.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// A trim costs a walk of the free lists; below this much free memory held, it is not worth it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const WORTH_TRIMMING: usize = 4 * 1024 * 1024;

struct Trimmer {
    requested: Mutex<bool>,
    wake: Condvar,
}

static TRIMMER: OnceLock<Trimmer> = OnceLock::new();

/// Starts the trimmer thread (once; later calls do nothing). Without it, [`release_soon`] does
/// nothing, which is what short-lived commands want.
pub fn start() {
    if !supported() {
        return;
    }
    let mut started = false;
    let trimmer = TRIMMER.get_or_init(|| {
        started = true;
        Trimmer { requested: Mutex::new(false), wake: Condvar::new() }
    });
    if !started {
        return;
    }
    let spawned = std::thread::Builder::new().name("memory-trim".into()).spawn(move || trimmer.run());
    if let Err(e) = spawned {
        tracing::debug!("no memory trimmer: {e}");
    }
}

/// Much memory was just freed (trees, a workspace walk): give it back to the system once
/// things settle. Cheap: a lock and a wake-up; never call it per keystroke all the same.
pub fn release_soon() {
    if let Some(trimmer) = TRIMMER.get() {
        *trimmer.requested.lock().unwrap_or_else(|e| e.into_inner()) = true;
        trimmer.wake.notify_one();
    }
}

impl Trimmer {
    fn run(&self) {
        let mut requested = self.requested.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (guard, _) =
                self.wake.wait_timeout_while(requested, IDLE_CHECK, |r| !*r).unwrap_or_else(|e| e.into_inner());
            requested = guard;
            // Settle: wait until no request came for SETTLE.
            while *requested {
                *requested = false;
                let (guard, _) =
                    self.wake.wait_timeout_while(requested, SETTLE, |r| !*r).unwrap_or_else(|e| e.into_inner());
                requested = guard;
            }
            drop(requested);
            trim();
            requested = self.requested.lock().unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn supported() -> bool {
    true
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn supported() -> bool {
    false
}

/// Free bytes the allocator holds, in every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn held_free() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics, under its own locks.
    let info = unsafe { libc::mallinfo2() };
    info.fordblks
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    let before = held_free();
    if before < WORTH_TRIMMING {
        return;
    }
    // SAFETY: malloc_trim takes the allocator's locks itself; 0 keeps no padding.
    unsafe { libc::malloc_trim(0) };
    tracing::debug!(free_mib = before / (1024 * 1024), "returned freed memory to the system");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_system() {
        fn rss_kib() -> usize {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        start();
        // Many small blocks (like tree nodes), every other one kept, so the freed half sits
        // between live blocks where no plain `free` can return it.
        let mut blocks: Vec<Vec<u8>> = (0..400_000).map(|i| vec![i as u8; 200]).collect();
        let mut kept = Vec::new();
        for (i, block) in blocks.drain(..).enumerate() {
            if i % 50 == 0 {
                kept.push(block);
            }
        }
        let before = rss_kib();
        release_soon();
        let mut after = before;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            after = rss_kib();
            if after + 20 * 1024 < before {
                break;
            }
        }
        assert!(after + 20 * 1024 < before, "RssAnon {before} KiB -> {after} KiB");
        drop(kept);
    }
}
