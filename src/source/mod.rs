//! Where photos come from: command-line paths ([`args`]), folder watches ([`watch`]) and
//! document cameras ([`camera`]). Watches and cameras report [`SourceEvent`]s on one
//! bounded channel.

pub mod args;
pub mod camera;
pub mod walk;
pub mod watch;

use std::path::PathBuf;

/// Which `[[watch]]` an event or a job belongs to: its place in the config, and the config's
/// generation (each reload is a new one). Events still queued from before a reload, whose
/// watch list may have been reordered, carry the old generation and are dropped rather than
/// taken for another folder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WatchId {
    /// The config's generation: 0 at start, one more at each reload.
    pub generation: u64,
    /// Index of the `[[watch]]` entry in that config.
    pub index: usize,
}

impl std::fmt::Display for WatchId {
    /// As the logs name a watch: `watch #1` is the config's first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "watch #{}", self.index + 1)
    }
}

/// What an event says about a file's writing, which decides how long hued waits before
/// reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Created or written to: complete once unchanged for the stability delay.
    Changed,
    /// Closed by a writer that wrote to it (IN_CLOSE_WRITE): complete once nothing changes it
    /// for a short confirmation.
    Closed,
    /// Renamed into the folder (IN_MOVED_TO: temp-then-rename writers): complete now.
    MovedIn,
}

/// What a folder watch or a camera reports, on the daemon's one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// A file in watch number `watch` was created, written, closed or renamed into place:
    /// maybe complete, to be confirmed by the stability check.
    Touched {
        /// The `[[watch]]` entry.
        watch: WatchId,
        /// The file.
        path: PathBuf,
        /// What the event says about the file's writing.
        arrival: Arrival,
    },
    /// A camera saved a capture (written atomically: no stability check needed).
    Captured {
        /// Index of the `[[camera]]` entry.
        camera: usize,
        /// The saved frame.
        path: PathBuf,
    },
    /// Events of watch number `watch` were lost (the kernel's inotify queue overflowed while
    /// the daemon was busy): the whole watch must be scanned again.
    Rescan {
        /// The `[[watch]]` entry.
        watch: WatchId,
    },
    /// A folder appeared inside a recursive watch: its files must be scanned, as they may
    /// have been written before the watch on it was set up.
    NewFolder {
        /// The `[[watch]]` entry.
        watch: WatchId,
        /// The folder.
        path: PathBuf,
    },
}
