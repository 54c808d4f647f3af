//! Helpers shared by the integration tests: fixture images, the tiny model, hashing.
#![allow(dead_code)]

use image::{DynamicImage, GrayImage, ImageBuffer, Luma, Rgb, RgbImage};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The tiny deterministic QDQ model written by training/make_fixture.py.
pub fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qdq.toml")
}

/// ../shared/data, or None (the caller skips with a message).
pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/data is absent on this machine");
        None
    }
}

/// A gray photo-like test image: a ramp with a bright disc.
pub fn gray_photo(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 3.0);
        let disc = if dx * dx + dy * dy < (h as f32 / 5.0).powi(2) { 90.0 } else { 0.0 };
        Luma([(30.0 + 120.0 * x as f32 / w as f32 + disc) as u8])
    })
}

/// A sepia print: the gray photo through a warm tint.
pub fn sepia_photo(w: u32, h: u32) -> RgbImage {
    let g = gray_photo(w, h);
    RgbImage::from_fn(w, h, |x, y| {
        let v = g.get_pixel(x, y).0[0] as f32;
        Rgb([v as u8, (v * 0.86) as u8, (v * 0.66) as u8])
    })
}

/// A 16-bit gray scan.
pub fn gray16_photo(w: u32, h: u32) -> ImageBuffer<Luma<u16>, Vec<u16>> {
    let g = gray_photo(w, h);
    ImageBuffer::from_fn(w, h, |x, y| Luma([g.get_pixel(x, y).0[0] as u16 * 257 + (x % 7) as u16]))
}

/// A real color picture: red things left, blue things right, each from dark to light (so,
/// as in real photos, different hues occur at the same lightness).
pub fn color_photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let t = 0.3 + 0.7 * y as f32 / h as f32;
        let c = if x < w / 2 { [230.0, 50.0, 40.0] } else { [40.0, 70.0, 230.0] };
        Rgb(c.map(|v: f32| (v * t) as u8))
    })
}

/// sha256 of a file.
pub fn hash(path: &Path) -> String {
    hued::model::sha256_file(path).unwrap()
}

/// True when the image has visible chroma somewhere.
pub fn has_color(img: &DynamicImage) -> bool {
    img.to_rgb8().pixels().any(|p| {
        let [r, g, b] = p.0;
        r.abs_diff(g) > 6 || g.abs_diff(b) > 6
    })
}

/// Files in a folder whose names start with hued's temp prefix.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".hued-tmp-"))
        .collect()
}

/// Whether the tests run as root (permissions do not stop root, so those tests drop to nobody).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Mean RGB of the 7x7 window around (x, y).
pub fn window_mean(img: &image::RgbImage, x: u32, y: u32) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for yy in y - 3..=y + 3 {
        for xx in x - 3..=x + 3 {
            for (c, s) in sum.iter_mut().enumerate() {
                *s += img.get_pixel(xx, yy).0[c] as f64 / 49.0;
            }
        }
    }
    sum
}

/// How much redder than its other two channels a color is: R - (G + B) / 2.
pub fn redness(rgb: [f64; 3]) -> f64 {
    rgb[0] - (rgb[1] + rgb[2]) / 2.0
}

/// A process's resident memory now, in MiB (Linux).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

/// The test signing chain of tests/fixtures/c2pa (FOR TESTING ONLY): the chain, its key, its
/// root and a chain C2PA refuses (no document-signing key use).
pub fn c2pa_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/c2pa").join(name)
}

/// What a copy's Content Credentials say, read and validated by the C2PA reference SDK with
/// the test root as its trust anchor.
#[cfg(feature = "c2pa")]
#[derive(Debug)]
pub struct Credentials {
    /// "Trusted", "Valid" or "Invalid".
    pub state: String,
    /// The validation failures' codes.
    pub failures: Vec<String>,
    /// claim_generator_info names.
    pub generator: Vec<String>,
    /// (action, digitalSourceType).
    pub actions: Vec<(String, Option<String>)>,
    /// The parent ingredient's title and the sha256 hued records beside it.
    pub parent: Option<(String, Option<String>)>,
    /// The other ingredients (a reference photo): title and recorded sha256.
    pub components: Vec<(String, Option<String>)>,
}

/// Reads `bytes` (of `mime`): `Err` where it holds no manifest or cannot be read.
#[cfg(feature = "c2pa")]
pub fn read_credentials(mime: &str, bytes: &[u8]) -> Result<Credentials, String> {
    use c2pa::assertions::Actions;
    let root = std::fs::read_to_string(c2pa_fixture("root.crt")).unwrap();
    let settings = serde_json::json!({ "verify": { "ocsp_fetch": false, "remote_manifest_fetch": false }, "trust": { "user_anchors": root } });
    let context = c2pa::Context::new().with_settings(settings).map_err(|e| e.to_string())?;
    let reader = c2pa::Reader::from_context(context).with_stream(mime, std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let failures =
        reader.validation_results().and_then(|r| r.active_manifest()).map(|m| m.failure().iter().map(|s| s.code().to_string()).collect()).unwrap_or_default();
    let manifest = reader.active_manifest().ok_or("no active manifest")?;
    let generator = manifest.claim_generator_info.as_ref().map(|v| v.iter().map(|g| g.name.clone()).collect()).unwrap_or_default();
    let actions: Actions = manifest.find_assertion(Actions::LABEL).map_err(|e| e.to_string())?;
    let actions = actions
        .actions()
        .iter()
        .map(|a| (a.action().to_string(), a.source_type().map(|d| serde_json::to_value(d).unwrap().as_str().unwrap_or("").to_string())))
        .collect();
    let described = |p: &c2pa::Ingredient| {
        let sha = p.metadata().and_then(|m| m.get_field("hued:sha256")).and_then(|v| v.as_str().map(str::to_string));
        (p.title().unwrap_or_default().to_string(), sha)
    };
    let parent = manifest.parent().map(described);
    let components = manifest.ingredients().iter().filter(|i| *i.relationship() == c2pa::Relationship::ComponentOf).map(described).collect();
    Ok(Credentials { state: format!("{:?}", reader.validation_state()), failures, generator, actions, parent, components })
}

/// A color scene for the reference-photo tests: a red disc, a blue square and a green bar on a
/// textured gray ground, shifted by `shift` and scaled by `scale` (the same scene framed and
/// sized otherwise).
pub fn scene(w: u32, h: u32, shift: (f32, f32), scale: f32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = ((x as f32 - shift.0) / scale, (y as f32 - shift.1) / scale);
        let g = (120.0 + 40.0 * ((x / 13.0).sin() * (y / 17.0).cos())) as u8;
        if (x - 100.0).powi(2) + (y - 90.0).powi(2) < 40.0f32.powi(2) {
            Rgb([200, 40, 40])
        } else if (180.0..240.0).contains(&x) && (60.0..120.0).contains(&y) {
            Rgb([40, 60, 200])
        } else if (60.0..260.0).contains(&x) && (160.0..185.0).contains(&y) {
            Rgb([40, 170, 60])
        } else {
            Rgb([g, g, g])
        }
    })
}

/// Mean (r, g, b) of `img` over the rectangle at (x, y), `w` x `h`.
pub fn mean_rgb(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> [f64; 3] {
    let mut m = [0f64; 3];
    for j in y..y + h {
        for i in x..x + w {
            let p = img.get_pixel(i, j).0;
            for k in 0..3 {
                m[k] += p[k] as f64;
            }
        }
    }
    m.map(|v| v / (w * h) as f64)
}
