//! The camera source: the real V4L2 code against a missing device, and the capture loop fed
//! by a synthetic frame source (no camera exists on CI).

use crate::common;

use assert_cmd::Command;
use hued::config::CameraConfig;
use hued::source::camera::frame::{Frame, PixelFormat};
use hued::source::camera::{capture_loop, FrameSource, Trigger};
use hued::source::SourceEvent;
use image::{DynamicImage, GrayImage};
use predicates::prelude::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_missing_camera_gives_a_clear_error() {
    Command::cargo_bin("hued")
        .unwrap()
        .args(["camera", "snapshot", "/dev/video-hued-test-missing", "/tmp/never.jpg"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("camera /dev/video-hued-test-missing not found (not plugged in?)"));
    let err = hued::source::camera::v4l2::V4lCamera::open(std::path::Path::new("/dev/video-hued-test-missing"), &[PixelFormat::Mjpeg], 640, 480).err().unwrap();
    assert!(err.is_transient(), "an unplugged camera is retried");
}

/// A scripted desk: (duration in ms, photo pattern or none, hand moving?) at 50 frames/s,
/// delivered as MJPEG frames in real time.
struct ScriptedDesk {
    script: Vec<(u64, Option<u32>, bool)>,
    t_ms: u64,
}

impl ScriptedDesk {
    fn scene(&self) -> Option<(Option<u32>, bool)> {
        let mut acc = 0;
        for &(d, photo, hand) in &self.script {
            acc += d;
            if self.t_ms < acc {
                return Some((photo, hand));
            }
        }
        None
    }
}

impl FrameSource for ScriptedDesk {
    fn next_frame(&mut self) -> anyhow::Result<Frame> {
        let Some((photo, hand)) = self.scene() else { anyhow::bail!("end of script (camera unplugged)") };
        let t = self.t_ms;
        let img = GrayImage::from_fn(160, 120, |x, y| {
            let mut v = 90u8;
            if let Some(p) = photo {
                if (30..130).contains(&x) && (20..100).contains(&y) {
                    v = if ((x / (5 + p)) + (y / 7)) % 2 == 0 { 40 } else { 200 };
                }
            }
            if hand && (x as u64 + t / 4) % 160 < 40 && y > 50 {
                v = 220;
            }
            image::Luma([v])
        });
        let mut jpeg = Vec::new();
        DynamicImage::ImageLuma8(img).to_rgb8().write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        self.t_ms += 20;
        Ok(Frame { format: PixelFormat::Mjpeg, width: 160, height: 120, data: jpeg })
    }
}

#[test]
fn the_capture_loop_saves_each_new_photo_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg: CameraConfig = toml::from_str(&format!("device = \"/dev/video0\"\noutput = {:?}\nsettle = 0.5\n", dir.path().display().to_string())).unwrap();
    let mut desk = ScriptedDesk {
        script: vec![
            (1200, None, false),    // empty desk
            (400, Some(1), true),   // a hand brings photo 1
            (1500, Some(1), false), // it lies still
            (400, None, true),      // the hand takes it away
            (1200, None, false),    // empty desk
            (400, Some(4), true),   // photo 2
            (1500, Some(4), false),
        ],
        t_ms: 0,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let mut trigger = Trigger::from_config(&cfg, Arc::new(AtomicBool::new(false)));
    let stop = AtomicBool::new(false);
    let end = capture_loop(0, &cfg, &mut desk, &mut trigger, &tx, &stop);
    assert!(end.unwrap_err().to_string().contains("unplugged"));
    let captures: Vec<_> = rx.try_iter().collect();
    assert_eq!(captures.len(), 2, "one capture per photo, none of the empty desk: {captures:?}");
    for c in &captures {
        let SourceEvent::Captured { path, .. } = c else { panic!("{c:?}") };
        let img = image::open(path).unwrap();
        assert_eq!((img.width(), img.height()), (160, 120), "saved at full resolution");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temp files, nothing else");
}

#[test]
fn the_daemon_keeps_watching_folders_while_its_camera_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let scans = dir.path().join("scans");
    std::fs::create_dir(&scans).unwrap();
    let cfg = dir.path().join("hued.toml");
    std::fs::write(
        &cfg,
        format!(
            "[colorize]\nmodel = {:?}\n[daemon]\nstate_dir = {:?}\nstability_delay = 0.3\n[[watch]]\npath = {:?}\n[[camera]]\ndevice = \"/dev/video-hued-test-missing\"\noutput = {:?}\n",
            common::fixture_model().display().to_string(),
            dir.path().join("state").display().to_string(),
            scans.display().to_string(),
            dir.path().join("captures").display().to_string()
        ),
    )
    .unwrap();
    let log = dir.path().join("log");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    common::gray_photo(64, 48).save(scans.join("p.png")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !scans.join("p.colorized.png").exists() {
        assert!(std::time::Instant::now() < deadline, "{}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("camera /dev/video-hued-test-missing not found (not plugged in?); retrying (folder watches keep working)"), "{text}");
}
