//! Where photos come from: command-line paths ([`args`]), folder watches ([`watch`]) and
//! document cameras ([`camera`]). Watches and cameras report [`SourceEvent`]s on one
//! bounded channel.

pub mod args;
pub mod camera;
pub mod walk;
pub mod watch;

use std::path::PathBuf;

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
        /// Index of the `[[watch]]` entry.
        watch: usize,
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
        /// Index of the `[[watch]]` entry.
        watch: usize,
    },
    /// A folder appeared inside a recursive watch: its files must be scanned, as they may
    /// have been written before the watch on it was set up.
    NewFolder {
        /// Index of the `[[watch]]` entry.
        watch: usize,
        /// The folder.
        path: PathBuf,
    },
}
