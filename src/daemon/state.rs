//! The daemon's memory across restarts: files that failed or were skipped, with the stamp of
//! the content that did, so they are not retried until they change. Kept in
//! `<state_dir>/state.json`, written atomically.

use super::settle::FileStamp;
use crate::sink::AtomicFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Will not work until the file changes (damaged, unsupported...).
    Failed,
    /// Failed for a reason that may pass (busy, disk full, output not writable): retried.
    Retrying,
    /// Deliberately left alone (already in color).
    Skipped,
}

/// One file's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The content this is about.
    pub stamp: FileStamp,
    /// What happened.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Attempts so far (for the retry backoff).
    pub attempts: u32,
}

/// All records.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// By original's path.
    pub files: BTreeMap<PathBuf, Record>,
}

impl State {
    fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Reads the state; a missing file is an empty state, a damaged one is logged and reset.
    pub(crate) fn load(dir: &Path) -> State {
        match std::fs::read(Self::path(dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!("{}: unreadable ({e}); starting with an empty state", Self::path(dir).display());
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    /// Writes the state atomically.
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut f = AtomicFile::create(&Self::path(dir))?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("state serializes"))?;
        f.commit().map(|_| ())
    }

    /// True when `path` with this content was already failed or skipped for good.
    pub(crate) fn settled(&self, path: &Path, stamp: &FileStamp) -> bool {
        self.files.get(path).is_some_and(|r| r.stamp == *stamp && r.verdict != Verdict::Retrying)
    }

    /// Drops the records of files that no longer exist (moved away, deleted).
    pub(crate) fn prune(&mut self) {
        self.files.retain(|path, _| std::fs::symlink_metadata(path).is_ok());
    }

    /// Number of files whose last attempt failed.
    pub(crate) fn failed_count(&self) -> usize {
        self.files.values().filter(|r| r.verdict != Verdict::Skipped).count()
    }
}
