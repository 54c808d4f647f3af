//! Camera source: photos placed under a V4L2 document camera. A worker thread per camera
//! reads frames through a [`FrameSource`] (the V4L2 one in production, synthetic ones in
//! tests), asks its trigger whether to capture, saves the full-resolution frame into the
//! output folder and reports it as a [`SourceEvent::Captured`] for the daemon to colorize.

pub mod frame;
pub mod trigger;
pub mod v4l2;

use crate::config::{CameraConfig, SaveFormat, TriggerKind};
use crate::sink::AtomicFile;
use crate::source::SourceEvent;
use frame::{decode_frame, thumbnail, Frame, PixelFormat};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trigger::{DocumentTrigger, IntervalTrigger, SceneParams};

/// Anything that gives frames: a V4L2 camera, or a test's synthetic sequence.
pub trait FrameSource {
    /// The next frame; an error means the camera is gone or broken.
    fn next_frame(&mut self) -> anyhow::Result<Frame>;
}

/// The pixel formats of a `[[camera]]` entry, in order of preference.
pub fn formats(cfg: &CameraConfig) -> Vec<PixelFormat> {
    cfg.formats.iter().filter_map(|f| PixelFormat::parse(f)).collect()
}

/// Decides, frame by frame, whether to capture.
pub enum Trigger {
    /// A new photo placed and still.
    Document(DocumentTrigger),
    /// Every N seconds.
    Interval(IntervalTrigger),
    /// SIGUSR1 or the trigger file.
    Signal {
        /// Set by SIGUSR1.
        flag: Arc<AtomicBool>,
        /// Its existence triggers a capture (it is then removed).
        file: Option<PathBuf>,
    },
}

impl Trigger {
    /// The trigger a `[[camera]]` entry asks for; `usr1` is set by SIGUSR1.
    pub fn from_config(cfg: &CameraConfig, usr1: Arc<AtomicBool>) -> Trigger {
        match cfg.trigger {
            TriggerKind::OnNewDocument => {
                Trigger::Document(DocumentTrigger::new(SceneParams { settle: Duration::from_secs_f64(cfg.settle), ..SceneParams::default() }))
            }
            TriggerKind::Interval => Trigger::Interval(IntervalTrigger::new(Duration::from_secs_f64(cfg.interval))),
            TriggerKind::OnSignal => Trigger::Signal { flag: usr1, file: cfg.trigger_file.clone() },
        }
    }

    /// True when this frame is to be captured.
    pub fn fire(&mut self, frame: &Frame, now: Instant) -> anyhow::Result<bool> {
        Ok(match self {
            Trigger::Document(t) => t.feed(&thumbnail(&decode_frame(frame)?), now),
            Trigger::Interval(t) => t.due(now),
            Trigger::Signal { flag, file } => {
                let by_file = file.as_ref().is_some_and(|f| std::fs::remove_file(f).is_ok());
                flag.swap(false, Ordering::Relaxed) | by_file
            }
        })
    }
}

/// Saves a captured frame into `dir` as `capture-<date>-<time>-<n>.<ext>`, atomically. An
/// MJPEG frame saved as JPEG keeps the camera's own bytes.
pub fn save_capture(frame: &Frame, dir: &Path, as_format: SaveFormat) -> anyhow::Result<PathBuf> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let ext = match as_format {
        SaveFormat::Jpeg => "jpg",
        SaveFormat::Png => "png",
    };
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let path = dir.join(format!("capture-{stamp}-{}.{ext}", COUNTER.fetch_add(1, Ordering::Relaxed)));
    let mut file = AtomicFile::create(&path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    match (frame.format, as_format) {
        (PixelFormat::Mjpeg, SaveFormat::Jpeg) => file.write_all(&frame.data)?,
        (_, SaveFormat::Jpeg) => decode_frame(frame)?.to_rgb8().write_to(&mut file, image::ImageFormat::Jpeg)?,
        (_, SaveFormat::Png) => decode_frame(frame)?.write_to(&mut file, image::ImageFormat::Png)?,
    }
    file.commit().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Feeds frames from `source` to `trigger` until `stop` is set or the source fails; each
/// capture is saved and reported on `tx`. Returns the source's error, if it failed.
pub fn capture_loop(
    index: usize,
    cfg: &CameraConfig,
    source: &mut dyn FrameSource,
    trigger: &mut Trigger,
    tx: &SyncSender<SourceEvent>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    // The scene is judged about 5 times a second; every frame is still read, so none is stale.
    let mut last_look = None::<Instant>;
    while !stop.load(Ordering::Relaxed) {
        let frame = source.next_frame()?;
        let now = Instant::now();
        let look = matches!(trigger, Trigger::Signal { .. }) || last_look.is_none_or(|t| now.duration_since(t) >= Duration::from_millis(200));
        if !look {
            continue;
        }
        last_look = Some(now);
        match trigger.fire(&frame, now) {
            Ok(true) => match save_capture(&frame, &cfg.output, cfg.save_as) {
                Ok(path) => {
                    log::info!("camera {}: captured {}", cfg.device.display(), path.display());
                    let _ = tx.send(SourceEvent::Captured { camera: index, path });
                }
                Err(e) => log::error!("camera {}: {e:#}", cfg.device.display()),
            },
            Ok(false) => {}
            Err(e) => log::warn!("camera {}: bad frame: {e:#}", cfg.device.display()),
        }
    }
    Ok(())
}

/// A camera's worker thread: opens the V4L2 device (retrying with backoff while it is absent
/// or busy, logging each new reason once) and runs [`capture_loop`] until `stop`.
pub fn spawn(index: usize, cfg: CameraConfig, tx: SyncSender<SourceEvent>, stop: Arc<AtomicBool>, usr1: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("hued-camera-{index}"))
        .spawn(move || {
            let mut trigger = Trigger::from_config(&cfg, usr1);
            let mut delay = Duration::from_secs(1);
            let mut last_error = String::new();
            while !stop.load(Ordering::Relaxed) {
                match v4l2::V4lCamera::open(&cfg.device, &formats(&cfg), cfg.width, cfg.height) {
                    Ok(mut cam) => {
                        log::info!("camera {}: streaming", cfg.device.display());
                        crate::metrics::global().set_camera(&cfg.device.display().to_string(), true);
                        last_error.clear();
                        delay = Duration::from_secs(1);
                        if let Err(e) = capture_loop(index, &cfg, &mut cam, &mut trigger, &tx, &stop) {
                            log::warn!("camera {}: {e:#}; reconnecting", cfg.device.display());
                        }
                        crate::metrics::global().set_camera(&cfg.device.display().to_string(), false);
                    }
                    Err(e) => {
                        crate::metrics::global().set_camera(&cfg.device.display().to_string(), false);
                        let msg = e.to_string();
                        if msg != last_error {
                            log::error!("{msg}; retrying (folder watches keep working)");
                            last_error = msg;
                        }
                    }
                }
                let until = Instant::now() + delay;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        })
        .expect("spawn camera thread")
}
