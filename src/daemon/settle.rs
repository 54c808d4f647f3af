//! The stability check: a file counts as completely written once its size and times have
//! stayed the same for the stability delay. Scanners write slowly, copies over SMB arrive in
//! pieces, and inotify's "closed after writing" comes once per write session, not per file.

use crate::source::{Arrival, WatchId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What identifies one version of a file's content: size, modification and change time
/// (ctime also moves on chmod, so a file made readable again is retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub(crate) fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        if !m.is_file() {
            // A FIFO, socket or device named like a photo is never a photo: never stable.
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok(FileStamp { size: m.len(), mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(), ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec() })
    }

    /// How long ago the file was last modified (zero if its time is in the future).
    pub(crate) fn age(&self) -> Duration {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64;
        Duration::from_nanos((now - self.mtime_ns.max(self.ctime_ns)).max(0) as u64)
    }
}

struct Pending {
    watch: WatchId,
    stamp: Option<FileStamp>,
    since: Instant,
    /// How long it must stay unchanged: the stability delay, or less when the writer said it
    /// was done.
    quiet: Option<Duration>,
}

/// After IN_CLOSE_WRITE, how long a file must stay unchanged before it is read: long enough
/// for a writer that closes and reopens (some scanner drivers append page by page) to show
/// itself, short enough not to be noticed.
pub(crate) const CLOSE_CONFIRMATION: Duration = Duration::from_millis(200);

/// Files waiting to become stable.
pub(crate) struct Settler {
    delay: Duration,
    pending: HashMap<PathBuf, Pending>,
}

impl Settler {
    /// A settler with the given stability delay.
    pub(crate) fn new(delay: Duration) -> Settler {
        Settler { delay, pending: HashMap::new() }
    }

    /// Changes the delay (config reload).
    pub(crate) fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// The file was touched: (re)start its clock, waiting the full stability delay.
    pub(crate) fn touch(&mut self, watch: WatchId, path: PathBuf, now: Instant) {
        self.arrived(watch, path, Arrival::Changed, now);
    }

    /// An event about the file: (re)start its clock. A file renamed into place is complete at
    /// once; one its writer closed, after [`CLOSE_CONFIRMATION`] without a change; any other,
    /// after the stability delay.
    pub(crate) fn arrived(&mut self, watch: WatchId, path: PathBuf, arrival: Arrival, now: Instant) {
        let quiet = match arrival {
            Arrival::Changed => None,
            Arrival::Closed => Some(CLOSE_CONFIRMATION),
            Arrival::MovedIn => Some(Duration::ZERO),
        };
        self.pending.insert(path, Pending { watch, stamp: None, since: now, quiet });
    }

    /// Files waiting.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Checks every waiting file; returns those that are stable (and forgets them). A file
    /// is stable when its stamp has not changed for the delay, or when it was last modified
    /// longer ago than the delay (the backlog, or a copy that kept its times). Files that
    /// vanished are forgotten.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<(WatchId, PathBuf, FileStamp)> {
        let mut ready = Vec::new();
        let stability_delay = self.delay;
        self.pending.retain(|path, p| {
            let delay = p.quiet.map_or(stability_delay, |q| q.min(stability_delay));
            let Ok(stamp) = FileStamp::of(path) else {
                return false;
            };
            if p.stamp != Some(stamp) {
                let first_look = p.stamp.is_none();
                p.stamp = Some(stamp);
                if !first_look {
                    p.since = now;
                }
                if !(first_look && (stamp.age() >= delay || delay.is_zero())) {
                    return true;
                }
            } else if now.duration_since(p.since) < delay && stamp.age() < delay {
                return true;
            }
            ready.push((p.watch, path.clone(), stamp));
            false
        });
        ready.sort_by(|a, b| a.1.cmp(&b.1));
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W0: WatchId = WatchId { generation: 0, index: 0 };
    use std::io::Write;

    #[test]
    fn a_file_still_growing_is_not_ready_and_an_old_one_is_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"part one").unwrap();
        let mut s = Settler::new(Duration::from_millis(300));
        let t0 = Instant::now();
        s.touch(W0, path.clone(), t0);
        assert!(s.poll(t0).is_empty(), "just written: not ready");
        f.write_all(b" and two").unwrap();
        assert!(s.poll(t0 + Duration::from_millis(200)).is_empty(), "grew: clock restarts");
        assert!(s.poll(t0 + Duration::from_millis(400)).is_empty(), "only 200 ms stable");
        std::thread::sleep(Duration::from_millis(350));
        let ready = s.poll(t0 + Duration::from_millis(600));
        assert_eq!(ready.len(), 1);
        assert_eq!(s.len(), 0);
        // Now older than the delay: ready on first look.
        s.touch(W0, path.clone(), Instant::now());
        assert_eq!(s.poll(Instant::now()).len(), 1);
        // Vanished files are dropped.
        s.touch(W0, dir.path().join("gone.jpg"), Instant::now());
        assert!(s.poll(Instant::now()).is_empty() && s.len() == 0);
    }

    #[test]
    fn a_renamed_file_is_ready_at_once_and_a_closed_one_after_the_confirmation() {
        let dir = tempfile::tempdir().unwrap();
        let (moved, closed) = (dir.path().join("moved.jpg"), dir.path().join("closed.jpg"));
        std::fs::write(&moved, b"complete").unwrap();
        std::fs::write(&closed, b"complete").unwrap();
        let mut s = Settler::new(Duration::from_secs(60));
        let t0 = Instant::now();
        s.arrived(W0, moved.clone(), Arrival::MovedIn, t0);
        s.arrived(W0, closed.clone(), Arrival::Closed, t0);
        let ready: Vec<_> = s.poll(t0).into_iter().map(|r| r.1).collect();
        assert_eq!(ready, vec![moved]);
        assert!(s.poll(t0 + CLOSE_CONFIRMATION / 2).is_empty(), "not before the confirmation");
        // Written again in the meantime: the clock starts over.
        std::fs::OpenOptions::new().append(true).open(&closed).unwrap().write_all(b" more").unwrap();
        assert!(s.poll(t0 + CLOSE_CONFIRMATION + Duration::from_millis(10)).is_empty());
        let later = t0 + 3 * CLOSE_CONFIRMATION;
        assert_eq!(s.poll(later).into_iter().map(|r| r.1).collect::<Vec<_>>(), vec![closed]);
    }
}
