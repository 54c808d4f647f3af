//! The kiosk page's uploads: a bounded queue and the results waiting to be downloaded, all in
//! memory. An upload lives until its result is downloaded, deleted, or left for `keep`;
//! nothing of it is ever written to disk.

use super::options::UploadOptions;
use crate::pipeline::{self, InMemory, Outcome};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest side of the before/after previews the page shows, in pixels.
pub(crate) const PREVIEW_SIDE: u32 = 1600;

/// Where one upload stands.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Waiting for a worker.
    Queued,
    /// Being colorized.
    Running,
    /// Colorized: the result and its previews.
    Done(Arc<WebResult>),
    /// Not colorized, for this reason (shown on the page), with the HTTP status that fits.
    Failed {
        /// 4xx for the photo's fault, 500 for ours.
        status: u16,
        /// What to tell the user.
        message: String,
    },
}

/// A finished colorization, ready for the page.
#[derive(Debug)]
pub(crate) struct WebResult {
    /// The colorized file, same format as the upload, with provenance metadata.
    pub bytes: Vec<u8>,
    /// Its MIME type.
    pub mime: &'static str,
    /// The file name offered for download.
    pub download_name: String,
    /// The result's width in pixels, shown on the page.
    pub width: u32,
    /// The result's height in pixels.
    pub height: u32,
    /// Milliseconds the pipeline took.
    pub millis: u128,
    /// JPEG preview of the upload.
    pub before_jpeg: Vec<u8>,
    /// JPEG preview of the result.
    pub after_jpeg: Vec<u8>,
    /// What the reference photo, if one was sent, contributed ("reference church.jpg: 43 % of
    /// the photo matched").
    pub reference_note: Option<String>,
    /// Its bytes' share of the process's memory budget, while it waits to be downloaded: a
    /// result can be large (a 90 MP BMP is 270 MB) and up to 4 x queue_capacity wait.
    pub reservation: crate::pipeline::Reservation,
}

struct Entry {
    /// The upload's bytes, until a worker takes them.
    upload: Option<Vec<u8>>,
    name: String,
    options: UploadOptions,
    stage: Stage,
    /// When the entry goes if nobody takes its result (set when it finishes).
    expires: Option<Instant>,
    seq: u64,
}

/// Why an upload was not accepted into the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// What the page learns about one upload.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    /// The stage.
    pub stage: Stage,
    /// Uploads ahead of this one (waiting or being colorized); 0 when it is being colorized.
    pub ahead: usize,
}

struct Inner {
    entries: HashMap<String, Entry>,
    queue: VecDeque<String>,
    running: usize,
    /// Places taken by uploads whose bodies are being read (see [`WebJobs::reserve`]).
    reserved: usize,
    next_seq: u64,
    stopping: bool,
}

/// A place in the queue, taken before an upload's body is read and given back when dropped
/// unless [`WebJobs::submit`] used it.
pub(crate) struct Slot<'a>(&'a WebJobs);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.inner.lock().unwrap().reserved -= 1;
    }
}

/// The uploads of the kiosk page.
pub(crate) struct WebJobs {
    inner: Mutex<Inner>,
    wake: Condvar,
    capacity: usize,
    keep: Duration,
}

impl WebJobs {
    /// At most `capacity` uploads waiting or running; results kept `keep` for download.
    pub(crate) fn new(capacity: usize, keep: Duration) -> Arc<WebJobs> {
        Arc::new(WebJobs {
            inner: Mutex::new(Inner { entries: HashMap::new(), queue: VecDeque::new(), running: 0, reserved: 0, next_seq: 0, stopping: false }),
            wake: Condvar::new(),
            capacity,
            keep,
        })
    }

    fn full(&self, inner: &Inner) -> bool {
        inner.queue.len() + inner.running + inner.reserved >= self.capacity
            || inner.entries.len() + inner.reserved >= 4 * self.capacity
            || crate::pipeline::memory_budget().is_some_and(|total| held_result_bytes(inner) >= total / RESULTS_SHARE_OF_BUDGET)
    }

    /// Takes a place for an upload before its body is read, so a busy station answers 503
    /// without taking in 50 MB first; None when busy.
    pub(crate) fn reserve(&self) -> Option<Slot<'_>> {
        let mut inner = self.inner.lock().unwrap();
        if self.full(&inner) {
            return None;
        }
        inner.reserved += 1;
        Some(Slot(self))
    }

    /// Queues an upload; returns its id and how many are ahead of it. Refused when
    /// `capacity` uploads wait or run, or when 4 x `capacity` results, or results holding a
    /// quarter of the memory budget, are held waiting to be downloaded (each is a whole photo
    /// in memory, on a machine that may have 1 GB).
    pub(crate) fn submit(&self, slot: Slot<'_>, upload: Vec<u8>, name: String, options: UploadOptions) -> Result<(String, usize), QueueFull> {
        let mut inner = self.inner.lock().unwrap();
        // The slot becomes the entry: given back here, not on drop.
        std::mem::forget(slot);
        inner.reserved -= 1;
        let busy = inner.queue.len() + inner.running;
        if inner.stopping {
            return Err(QueueFull);
        }
        let id = new_id();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        inner.entries.insert(id.clone(), Entry { upload: Some(upload), name, options, stage: Stage::Queued, expires: None, seq });
        inner.queue.push_back(id.clone());
        drop(inner);
        self.wake.notify_one();
        Ok((id, busy))
    }

    /// Where upload `id` stands; None if it never existed or is gone.
    pub(crate) fn status(&self, id: &str) -> Option<Status> {
        let inner = self.inner.lock().unwrap();
        let entry = inner.entries.get(id)?;
        let ahead = match entry.stage {
            Stage::Queued => inner.running + inner.queue.iter().take_while(|q| q.as_str() != id).count(),
            _ => 0,
        };
        Some(Status { stage: entry.stage.clone(), ahead })
    }

    /// The result of `id`, if it is done, leaving it in place (previews).
    pub(crate) fn result(&self, id: &str) -> Option<Arc<WebResult>> {
        match &self.inner.lock().unwrap().entries.get(id)?.stage {
            Stage::Done(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// The result of `id` for download: it is handed out once and dropped from memory.
    pub(crate) fn take_result(&self, id: &str) -> Option<Arc<WebResult>> {
        let mut inner = self.inner.lock().unwrap();
        let result = match &inner.entries.get(id)?.stage {
            Stage::Done(r) => r.clone(),
            _ => return None,
        };
        inner.entries.remove(id);
        Some(result)
    }

    /// Drops upload `id` wherever it stands (a worker already colorizing it finishes, and
    /// its result is thrown away). Returns whether it existed.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut inner = self.inner.lock().unwrap();
        inner.queue.retain(|q| q != id);
        inner.entries.remove(id).is_some()
    }

    /// Drops every result whose time is up. Returns how many.
    pub(crate) fn expire(&self, now: Instant) -> usize {
        let mut inner = self.inner.lock().unwrap();
        let before = inner.entries.len();
        inner.entries.retain(|_, e| e.expires.is_none_or(|t| t > now));
        before - inner.entries.len()
    }

    /// How many uploads are held (any stage).
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap().entries.len()
    }

    /// Makes the workers return.
    pub(crate) fn stop(&self) {
        self.inner.lock().unwrap().stopping = true;
        self.wake.notify_all();
    }

    /// Waits for the next upload; None when stopping.
    fn next(&self) -> Option<NextUpload> {
        let mut inner = self.inner.lock().unwrap();
        loop {
            if inner.stopping {
                return None;
            }
            while let Some(id) = inner.queue.pop_front() {
                if let Some(entry) = inner.entries.get_mut(&id) {
                    if let Some(upload) = entry.upload.take() {
                        entry.stage = Stage::Running;
                        // The options leave with the bytes (a reference photo's too): the entry
                        // keeps only its result.
                        let (seq, name, options) = (entry.seq, entry.name.clone(), std::mem::take(&mut entry.options));
                        inner.running += 1;
                        return Some(NextUpload { id, seq, bytes: upload, name, options });
                    }
                }
            }
            inner = self.wake.wait(inner).unwrap();
        }
    }

    fn finish(&self, id: &str, seq: u64, stage: Stage) {
        let mut inner = self.inner.lock().unwrap();
        inner.running -= 1;
        let expires = Instant::now() + self.keep;
        // Deleted meanwhile (seq differs or gone): the result is simply dropped.
        if let Some(entry) = inner.entries.get_mut(id).filter(|e| e.seq == seq) {
            entry.stage = stage;
            entry.expires = Some(expires);
        }
    }

    /// One worker: colorizes uploads until [`WebJobs::stop`].
    pub(crate) fn work(&self, profile: &crate::job::CurrentProfile) {
        while let Some(NextUpload { id, seq, bytes, name, options }) = self.next() {
            // The profile in effect now: a reload since the last upload applies to this one.
            let stage = colorize_upload(&bytes, &name, &profile.get(), options);
            drop(bytes);
            match &stage {
                Stage::Done(r) => log::info!("web: colorized an upload ({}x{}) in {} ms", r.width, r.height, r.millis),
                Stage::Failed { message, .. } => log::info!("web: upload not colorized: {message}"),
                _ => {}
            }
            self.finish(&id, seq, stage);
        }
    }
}

/// Results waiting for download may hold this fraction of the memory budget (1/4) before new
/// uploads are refused: the rest stays for the folder watches and the camera, whatever a
/// stranger uploads and leaves undownloaded.
const RESULTS_SHARE_OF_BUDGET: u64 = 4;

fn held_result_bytes(inner: &Inner) -> u64 {
    inner
        .entries
        .values()
        .map(|e| match &e.stage {
            Stage::Done(r) => r.reservation.bytes(),
            _ => 0,
        })
        .sum()
}

/// An upload a worker takes.
struct NextUpload {
    id: String,
    /// Which life of the id this is (a result for a deleted entry is dropped).
    seq: u64,
    bytes: Vec<u8>,
    name: String,
    options: UploadOptions,
}

/// Runs the pipeline on one upload, in memory.
fn colorize_upload(upload: &[u8], name: &str, profile: &crate::job::Profile, options: UploadOptions) -> Stage {
    // The upload's options on top of the page's profile (checked at upload, against the
    // profile then in effect; a reload since may have made them wrong).
    let own;
    let profile = match options.overrides() {
        o if o == Default::default() => profile,
        o => match profile.with_overrides(&o) {
            Ok(p) => {
                own = p;
                &own
            }
            Err(bad) => return Stage::Failed { status: 400, message: format!("Not colorized: {bad}.") },
        },
    };
    // "Colors from a photo": read inside the guard (a decoder's panic fails this upload only),
    // its bytes dropped once it is shrunk.
    let reference = options.reference.map(|r| (r.bytes, r.name));
    // A bug met by one upload fails that upload; the page's worker goes on.
    let job = pipeline::Upload { data: upload, name, hints: &options.hints, reference };
    match pipeline::guarded(|| pipeline::colorize_bytes(job, profile, PREVIEW_SIDE), |e| e) {
        Ok(Outcome::Done(InMemory { bytes, format, width, height, steps, before_jpeg, after_jpeg })) => {
            let held = (bytes.len() + 2 * PREVIEW_SIDE as usize * PREVIEW_SIDE as usize) as u64;
            let Ok(reservation) = crate::pipeline::reserve_memory(held) else {
                return Stage::Failed { status: 413, message: "Not colorized: the result is too large to keep in memory for download.".into() };
            };
            Stage::Done(Arc::new(WebResult {
                reference_note: crate::pipeline::reference::note(&steps),
                mime: format.to_mime_type(),
                download_name: download_name(name, format),
                bytes,
                width,
                height,
                millis: steps.total().as_millis(),
                before_jpeg,
                after_jpeg,
                reservation,
            }))
        }
        Ok(Outcome::Skipped(reason)) => Stage::Failed { status: 422, message: format!("Not colorized: this photo is {reason}.") },
        Err(pipeline::PipelineError::Panicked(message)) => {
            log::error!("web: colorizing an upload panicked: {message}");
            Stage::Failed { status: 500, message: "Internal error while colorizing this photo.".to_string() }
        }
        Err(e) => Stage::Failed { status: super::http_status(&e), message: e.to_string() },
    }
}

/// `scan 12.tif` → `scan 12-colorized.tif` (the extension follows the format, which is kept).
pub(crate) fn download_name(uploaded: &str, format: image::ImageFormat) -> String {
    let base = uploaded.rsplit(['/', '\\']).next().unwrap_or("");
    let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
    let ext = ext.to_ascii_lowercase();
    let ext = if format.extensions_str().contains(&ext.as_str()) { ext } else { format.extensions_str()[0].to_string() };
    let clean: String = stem.chars().filter(|c| !c.is_control() && !"\"\\/:*?<>|".contains(*c)).take(100).collect();
    let stem = if clean.trim().is_empty() { "photo".to_string() } else { clean };
    format!("{stem}-colorized.{ext}")
}

/// A random, unguessable id (128 bits, hex).
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_place_counts_until_used_or_given_back() {
        let jobs = WebJobs::new(1, Duration::from_secs(60));
        let slot = jobs.reserve().unwrap();
        assert!(jobs.reserve().is_none(), "the one place is taken while a body is read");
        drop(slot);
        let slot = jobs.reserve().expect("given back when the upload is refused");
        jobs.submit(slot, vec![1], "a.jpg".into(), Default::default()).unwrap();
        assert!(jobs.reserve().is_none(), "now the upload itself holds it");
    }

    #[test]
    fn queue_is_bounded_and_reports_place() {
        let jobs = WebJobs::new(2, Duration::from_secs(60));
        let (a, ahead_a) = jobs.submit(jobs.reserve().unwrap(), vec![1], "a.jpg".into(), Default::default()).unwrap();
        let (b, ahead_b) = jobs.submit(jobs.reserve().unwrap(), vec![2], "b.jpg".into(), Default::default()).unwrap();
        assert_eq!((ahead_a, ahead_b), (0, 1));
        assert!(jobs.reserve().is_none(), "a third is refused before its body is read");
        assert_eq!(jobs.status(&b).unwrap().ahead, 1);
        assert!(jobs.remove(&a));
        assert_eq!(jobs.status(&b).unwrap().ahead, 0);
        assert!(jobs.status(&a).is_none());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn results_are_taken_once_and_expire() {
        let jobs = WebJobs::new(4, Duration::from_millis(0));
        let (id, _) = jobs.submit(jobs.reserve().unwrap(), vec![1], "a.jpg".into(), Default::default()).unwrap();
        let NextUpload { id: got, seq, bytes: upload, .. } = jobs.next().unwrap();
        assert_eq!((got.as_str(), upload), (id.as_str(), vec![1]));
        let result = Arc::new(WebResult {
            bytes: vec![9],
            mime: "image/jpeg",
            download_name: "a-colorized.jpg".into(),
            width: 1,
            height: 1,
            millis: 1,
            before_jpeg: vec![],
            after_jpeg: vec![],
            reference_note: None,
            reservation: crate::pipeline::reserve_memory(1).unwrap(),
        });
        jobs.finish(&id, seq, Stage::Done(result));
        assert!(jobs.result(&id).is_some(), "previews leave the result in place");
        assert_eq!(jobs.take_result(&id).unwrap().bytes, vec![9]);
        assert!(jobs.take_result(&id).is_none(), "a download drops it");
        // Results waiting for download count too: at most 4 x capacity are held.
        let held = WebJobs::new(1, Duration::from_secs(60));
        for _ in 0..4 {
            let (id, _) = held.submit(held.reserve().unwrap(), vec![1], "a.jpg".into(), Default::default()).unwrap();
            let NextUpload { seq, .. } = held.next().unwrap();
            held.finish(&id, seq, Stage::Failed { status: 422, message: "x".into() });
        }
        assert!(held.reserve().is_none());
        let (id2, _) = jobs.submit(jobs.reserve().unwrap(), vec![1], "a.jpg".into(), Default::default()).unwrap();
        let NextUpload { seq: seq2, .. } = jobs.next().unwrap();
        jobs.finish(&id2, seq2, Stage::Failed { status: 422, message: "x".into() });
        assert_eq!(jobs.expire(Instant::now() + Duration::from_millis(1)), 1);
        assert_eq!(jobs.len(), 0);
    }

    #[test]
    fn download_names_keep_the_format_and_lose_paths() {
        assert_eq!(download_name("scan 12.tif", image::ImageFormat::Tiff), "scan 12-colorized.tif");
        assert_eq!(download_name("C:\\photos\\a.JPG", image::ImageFormat::Jpeg), "a-colorized.jpg");
        assert_eq!(download_name("../../etc/passwd", image::ImageFormat::Png), "passwd-colorized.png");
        assert_eq!(download_name("\"?.png", image::ImageFormat::Png), "photo-colorized.png");
        assert_eq!(download_name("scan.jpg", image::ImageFormat::Png), "scan-colorized.png", "named by content");
    }
}
