//! `statfs(2)` off the collector's thread, with a time limit per mount and no thread leak.
//!
//! A statfs on a dead network mount blocks in the kernel and cannot be interrupted. The
//! collector hands a scrape's mounts to a worker thread and waits for each answer at most the
//! mount timeout. When one does not come, that mount is marked stuck and reported as an error
//! (`mountpoint timeout`), the worker is left to its call, and the remaining mounts go to
//! another worker. A stuck mount is skipped, without a system call, until the abandoned call
//! returns; that worker then clears the mark and exits. So at most one thread waits per stuck
//! mount, and idle workers are reused from one scrape to the next.

use std::collections::{HashSet, VecDeque};
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use parking_lot::Mutex;

/// What node_exporter uses of `struct statfs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsStats {
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Blocks available to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Block size.
    pub bsize: u64,
}

/// The system call, behind a trait so that tests can stand in a mount that hangs.
pub trait StatFs: Send + Sync + fmt::Debug + 'static {
    /// Statistics of the filesystem holding `path`.
    fn statfs(&self, path: &Path) -> io::Result<FsStats>;
}

/// The real `statfs(2)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemStatFs;

impl StatFs for SystemStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        // SAFETY: statfs is plain old data.
        let mut s: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and `s` is writable.
        if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FsStats {
            blocks: s.f_blocks as u64,
            bfree: s.f_bfree as u64,
            bavail: s.f_bavail as u64,
            files: s.f_files as u64,
            ffree: s.f_ffree as u64,
            bsize: s.f_bsize as u64,
        })
    }
}

/// Why a mount has no statistics.
#[derive(Debug)]
pub enum StatError {
    /// The call failed.
    Failed(io::Error),
    /// The call did not return in time, now or in an earlier scrape.
    Timeout,
}

impl StatError {
    /// The text node_exporter puts in the `device_error` label.
    pub fn label(&self) -> String {
        match self {
            StatError::Timeout => "mountpoint timeout".to_owned(),
            StatError::Failed(e) => go_error_text(e),
        }
    }
}

/// Go's text for a system call error: the C library's message with a lower-case first
/// letter (`no such file or directory`).
fn go_error_text(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(code) => {
            let full = io::Error::from_raw_os_error(code).to_string();
            match full.rfind(" (os error") {
                Some(i) => full[..i].to_owned(),
                None => full,
            }
        }
        None => e.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// One mount to stat.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) index: usize,
    pub(crate) path: PathBuf,
    pub(crate) mountpoint: String,
}

struct Batch {
    items: Vec<Item>,
    reply: mpsc::Sender<(usize, io::Result<FsStats>)>,
    abandoned: Arc<AtomicBool>,
}

struct Shared {
    statfs: Arc<dyn StatFs>,
    /// Mount points whose call has not returned.
    stuck: Mutex<HashSet<String>>,
    threads: AtomicUsize,
}

/// Worker threads for statfs calls; see the module docs.
pub(crate) struct StatPool {
    shared: Arc<Shared>,
    idle: Mutex<Vec<mpsc::Sender<Batch>>>,
    max_idle: usize,
}

impl fmt::Debug for StatPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatPool")
            .field("threads", &self.threads())
            .field("stuck", &self.shared.stuck.lock().len())
            .finish()
    }
}

impl StatPool {
    pub(crate) fn new(statfs: Arc<dyn StatFs>) -> StatPool {
        StatPool {
            shared: Arc::new(Shared {
                statfs,
                stuck: Mutex::new(HashSet::new()),
                threads: AtomicUsize::new(0),
            }),
            idle: Mutex::new(Vec::new()),
            max_idle: 1,
        }
    }

    /// Live worker threads (idle, busy or stuck).
    pub(crate) fn threads(&self) -> usize {
        self.shared.threads.load(Ordering::Relaxed)
    }

    /// Whether `mountpoint` has a call that has not returned.
    pub(crate) fn is_stuck(&self, mountpoint: &str) -> bool {
        self.shared.stuck.lock().contains(mountpoint)
    }

    fn spawn(&self) -> io::Result<mpsc::Sender<Batch>> {
        let (tx, rx) = mpsc::channel::<Batch>();
        let shared = self.shared.clone();
        shared.threads.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("statfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    for item in batch.items {
                        if batch.abandoned.load(Ordering::Acquire) {
                            break;
                        }
                        let r = shared.statfs.statfs(&item.path);
                        // Answer under the lock, so the collector's timeout decision and this
                        // answer are ordered.
                        let mut stuck = shared.stuck.lock();
                        if stuck.remove(&item.mountpoint) {
                            tracing::debug!(mountpoint = %item.mountpoint, "Mount point has recovered, monitoring will resume");
                        }
                        let _ = batch.reply.send((item.index, r));
                    }
                }
                shared.threads.fetch_sub(1, Ordering::Relaxed);
            });
        match spawned {
            Ok(_) => Ok(tx),
            Err(e) => {
                self.shared.threads.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Stats `items`, each within `timeout`, never past `deadline_left()` (checked before
    /// each wait). Items of a stuck mount are answered [`StatError::Timeout`] at once.
    pub(crate) fn stat_all(
        &self,
        items: Vec<Item>,
        timeout: Duration,
        deadline_left: impl Fn() -> Duration,
        results: &mut [Option<Result<FsStats, StatError>>],
    ) {
        let mut pending: VecDeque<Item> = VecDeque::with_capacity(items.len());
        {
            let stuck = self.shared.stuck.lock();
            for item in items {
                if stuck.contains(&item.mountpoint) {
                    tracing::debug!(mountpoint = %item.mountpoint, "Mount point is in an unresponsive state");
                    results[item.index] = Some(Err(StatError::Timeout));
                } else {
                    pending.push_back(item);
                }
            }
        }
        while !pending.is_empty() {
            let worker = match self.idle.lock().pop() {
                Some(w) => w,
                None => match self.spawn() {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(err = %e, "cannot start a statfs worker");
                        for item in pending.drain(..) {
                            results[item.index] = Some(Err(StatError::Failed(io::Error::other(
                                "cannot start a statfs worker",
                            ))));
                        }
                        return;
                    }
                },
            };
            let (reply, answers) = mpsc::channel();
            let abandoned = Arc::new(AtomicBool::new(false));
            let batch = Batch {
                items: pending.iter().cloned().collect(),
                reply,
                abandoned: abandoned.clone(),
            };
            if worker.send(batch).is_err() {
                continue; // that worker is gone; take another
            }
            let mut healthy = true;
            while let Some(front) = pending.front() {
                let wait = timeout.min(deadline_left());
                match answers.recv_timeout(wait) {
                    Ok((index, r)) => {
                        results[index] = Some(r.map_err(StatError::Failed));
                        pending.retain(|i| i.index != index);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let mut stuck = self.shared.stuck.lock();
                        // The answer may have come in while the wait ended.
                        if let Ok((index, r)) = answers.try_recv() {
                            results[index] = Some(r.map_err(StatError::Failed));
                            pending.retain(|i| i.index != index);
                            continue;
                        }
                        tracing::debug!(mountpoint = %front.mountpoint, "Mount point timed out, it is being labeled as stuck and will not be monitored");
                        stuck.insert(front.mountpoint.clone());
                        abandoned.store(true, Ordering::Release);
                        let front = pending.pop_front().expect("front exists");
                        results[front.index] = Some(Err(StatError::Timeout));
                        healthy = false;
                        break;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        let front = pending.pop_front().expect("front exists");
                        results[front.index] = Some(Err(StatError::Failed(io::Error::other(
                            "statfs worker stopped",
                        ))));
                        healthy = false;
                        break;
                    }
                }
            }
            if healthy {
                let mut idle = self.idle.lock();
                if idle.len() < self.max_idle {
                    idle.push(worker);
                }
            }
            if deadline_left().is_zero() {
                for item in pending.drain(..) {
                    results[item.index] = Some(Err(StatError::Timeout));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_error_text() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(go_error_text(&e), "no such file or directory");
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(StatError::Failed(e).label(), "permission denied");
        assert_eq!(StatError::Timeout.label(), "mountpoint timeout");
    }

    #[test]
    fn stats_root() {
        let s = SystemStatFs.statfs(Path::new("/")).unwrap();
        assert!(s.blocks > 0 && s.bsize > 0);
        assert!(SystemStatFs.statfs(Path::new("/does/not/exist")).is_err());
    }
}
