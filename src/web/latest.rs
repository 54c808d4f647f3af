//! The newest result of the folder watches and the camera, for the kiosk view. Only the two
//! paths are held; the previews are made from the files when the page first asks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A finished photo of the daemon.
#[derive(Debug, Clone)]
pub(crate) struct Newest {
    /// Counts up with every new result; the page reloads its images when it changes.
    pub seq: u64,
    /// The original.
    pub original: PathBuf,
    /// Its colorized copy.
    pub colorized: PathBuf,
    /// When it was finished.
    pub when: SystemTime,
}

/// (seq, before JPEG, after JPEG) of one result.
pub(crate) type Previews = (u64, Arc<Vec<u8>>, Arc<Vec<u8>>);

#[derive(Default)]
struct Inner {
    newest: Option<Newest>,
    /// Of the newest, once made or once failed (seq, outcome): a failure, such as a copy moved
    /// away, is answered from here too, not by decoding the original again at every poll.
    previews: Option<(u64, Result<Previews, String>)>,
}

/// Shared between the daemon (which records) and the web server (which shows). The second
/// lock lets one request make the previews while the others wait for them, instead of every
/// request decoding the same two scans at once.
#[derive(Default, Clone)]
pub(crate) struct Latest(Arc<Mutex<Inner>>, Arc<Mutex<()>>);

impl Latest {
    /// Records a newly colorized photo.
    pub(crate) fn record(&self, original: PathBuf, colorized: PathBuf) {
        let mut inner = self.0.lock().unwrap();
        let seq = inner.newest.as_ref().map_or(1, |n| n.seq + 1);
        inner.newest = Some(Newest { seq, original, colorized, when: SystemTime::now() });
    }

    /// The newest result, if any.
    pub(crate) fn newest(&self) -> Option<Newest> {
        self.0.lock().unwrap().newest.clone()
    }

    /// JPEG previews (before, after) of the newest result, at most `side` pixels long.
    pub(crate) fn previews(&self, side: u32, max_megapixels: f64) -> Result<Previews, String> {
        let _making = self.1.lock().unwrap();
        let newest = self.newest().ok_or("no photo colorized yet")?;
        if let Some((_, outcome)) = self.0.lock().unwrap().previews.as_ref().filter(|p| p.0 == newest.seq) {
            return outcome.clone();
        }
        // Made outside the lock: decoding a big scan takes a while.
        let name = |path: &PathBuf| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let shrink = |path: &PathBuf| -> Result<Vec<u8>, String> {
            // Named by file name only: web clients never learn where the scans live.
            crate::pipeline::preview_file(path, max_megapixels, side).map_err(|e| format!("{}: {e}", name(path)))
        };
        let outcome = shrink(&newest.original).and_then(|before| Ok((newest.seq, Arc::new(before), Arc::new(shrink(&newest.colorized)?))));
        match &outcome {
            Ok(_) => log::debug!("kiosk previews of {} made", name(&newest.original)),
            Err(e) => log::warn!("kiosk previews of {} failed: {e}", name(&newest.original)),
        }
        self.0.lock().unwrap().previews = Some((newest.seq, outcome.clone()));
        outcome
    }
}
