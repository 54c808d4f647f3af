//! A color reference photo, as the reference stage (`pipeline::reference`) uses it: decoded
//! once, under the memory budget and a pixel limit, turned upright, shrunk to
//! [`REFERENCE_SIDE`] and kept as Lab planes with its name and hash. A run, a watch or an
//! upload loads it once for all its photos; what it weighs afterwards is its small planes
//! (about 3 MB), whatever its size on disk.

use crate::color::{linear_rgb_to_lab, srgb8_to_linear_lut};
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Long side the reference is kept at once decoded (its colors are only sampled in blocks).
pub const REFERENCE_SIDE: usize = 512;
/// What the decoder may allocate before the pixel size is checked.
const HEADER_ALLOC_LIMIT: u64 = 64 << 20;

/// Why a reference photo could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("reference {name}: {reason}")]
pub struct ReferenceError {
    /// The file (or upload) name.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

/// A reference photo, decoded and shrunk once: its Lab planes at [`REFERENCE_SIDE`], its name
/// and hash (for the copy's provenance).
#[derive(Debug, Clone)]
pub struct Reference {
    /// Its file name (or upload name), for messages and provenance.
    pub name: String,
    /// sha256 of its file's bytes.
    pub sha256: String,
    width: usize,
    height: usize,
    l: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Reference {
    /// From a decoded image: shrunk to [`REFERENCE_SIDE`] and turned into Lab (16-bit and gray
    /// images too; a gray reference gives no color and so no hints).
    pub fn from_image(image: &DynamicImage, name: String, sha256: String) -> Reference {
        let side = image.width().max(image.height()) as usize;
        let scale = (REFERENCE_SIDE as f64 / side.max(1) as f64).min(1.0);
        let (w, h) = (((image.width() as f64 * scale).round() as u32).max(1), ((image.height() as f64 * scale).round() as u32).max(1));
        let small = image.resize_exact(w, h, image::imageops::FilterType::Triangle).to_rgb8();
        let lut = srgb8_to_linear_lut();
        let n = (w * h) as usize;
        let (mut l, mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for p in small.pixels() {
            let lab = linear_rgb_to_lab([lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]]);
            l.push(lab[0]);
            a.push(lab[1]);
            b.push(lab[2]);
        }
        Reference { name, sha256, width: w as usize, height: h as usize, l, a, b }
    }

    /// Reads the reference at `path` (JPEG, PNG, TIFF, WebP, BMP; any size up to
    /// `max_megapixels`).
    pub fn load(path: &Path, max_megapixels: f64) -> Result<Reference, ReferenceError> {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let fail = |reason: String| ReferenceError { name: path.display().to_string(), reason };
        let file = crate::base::open_regular(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        // Decoded (its size checked before any pixel) before it is hashed: a huge file that is
        // refused is not read whole first.
        let image = decode(std::io::BufReader::new(file), max_megapixels).map_err(fail)?;
        let sha256 = crate::model::sha256_reader(crate::base::open_regular(path).map_err(|e| fail(format!("cannot read: {e}")))?)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        Ok(Reference::from_image(&image, name, sha256))
    }

    /// The reference in `data` (an upload named `name`).
    pub fn from_bytes(data: &[u8], name: &str, max_megapixels: f64) -> Result<Reference, ReferenceError> {
        let image = decode(std::io::Cursor::new(data), max_megapixels).map_err(|reason| ReferenceError { name: name.to_string(), reason })?;
        Ok(Reference::from_image(&image, name.to_string(), crate::model::sha256_bytes(data)))
    }

    /// Its size at the working scale.
    pub fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Its L, a and b planes at [`Reference::dimensions`], row by row.
    pub fn planes(&self) -> [&[f32]; 3] {
        [&self.l, &self.a, &self.b]
    }
}

/// How many decoded references are kept for reuse (about 3 MB each, outside the memory budget).
const CACHED: usize = 8;

/// A file's identity for the cache: its path, modification time and size.
type Stamp = (PathBuf, Option<std::time::SystemTime>, u64);

/// The references read lately, newest last.
static CACHE: Mutex<Vec<(Stamp, Arc<Reference>)>> = Mutex::new(Vec::new());

/// The reference at `path`, decoded once while the file stays the same: a run, a watch or a
/// folder of scans whose sidecars all name one postcard read it once; a changed file (same
/// path, new time or size) is read again, so its copies get its new colors.
pub fn load_cached(path: &Path, max_megapixels: f64) -> Result<Arc<Reference>, ReferenceError> {
    let meta = std::fs::metadata(path).map_err(|e| ReferenceError { name: path.display().to_string(), reason: format!("cannot read: {e}") })?;
    let stamp: Stamp = (path.to_path_buf(), meta.modified().ok(), meta.len());
    if let Some((_, r)) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(s, _)| *s == stamp) {
        return Ok(r.clone());
    }
    let reference = Arc::new(Reference::load(path, max_megapixels)?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(s, _)| s.0 != stamp.0);
    if cache.len() >= CACHED {
        cache.remove(0);
    }
    cache.push((stamp, reference.clone()));
    Ok(reference)
}

/// Decodes under the pixel limit and the memory budget (its share is held only while it is
/// decoded and shrunk), upright.
fn decode<R: BufRead + Seek>(reader: R, max_megapixels: f64) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::new(reader).with_guessed_format().map_err(|e| format!("cannot read: {e}"))?;
    if reader.format().is_none_or(|f| !crate::base::SUPPORTED.contains(&f)) {
        return Err("not a photo hued reads (JPEG, PNG, TIFF, BMP or WebP)".into());
    }
    let mut limits = image::Limits::no_limits();
    limits.max_alloc = Some(HEADER_ALLOC_LIMIT);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| format!("corrupt image: {e}"))?;
    let (w, h) = decoder.dimensions();
    let megapixels = w as f64 * h as f64 / 1e6;
    if megapixels > max_megapixels {
        return Err(format!("{w}x{h} ({megapixels:.1} MP) is over the limit of {max_megapixels} MP (colorize.max_megapixels)"));
    }
    let need = w as u64 * h as u64 * 8 + HEADER_ALLOC_LIMIT;
    let _held = crate::budget::reserve(need)
        .map_err(|total| format!("{w}x{h} needs about {} MB to decode, over the memory budget of {} MB", need >> 20, total >> 20))?;
    let mut limits = image::Limits::no_limits();
    limits.max_alloc = Some(need);
    decoder.set_limits(limits).map_err(|e| format!("corrupt image: {e}"))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| format!("corrupt image: {e}"))?;
    // Shrunk before it is turned upright: the turn copies the pixels.
    let mut image = if image.width().max(image.height()) as usize > REFERENCE_SIDE {
        image.resize(REFERENCE_SIDE as u32, REFERENCE_SIDE as u32, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    image.apply_orientation(orientation);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    #[test]
    fn a_huge_or_sixteen_bit_reference_is_shrunk_once() {
        let big = ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(3000, 2000, |x, _| Rgb([(x * 20) as u16, 30000, 1000]));
        let r = Reference::from_image(&DynamicImage::ImageRgb16(big), "big.tif".into(), "0".into());
        assert_eq!(r.dimensions(), (512, 341));
    }

    #[test]
    fn a_sixteen_bit_tiff_reference_decodes_and_a_broken_one_names_itself() {
        let img = DynamicImage::ImageRgb16(ImageBuffer::from_fn(64, 48, |x, y| Rgb([(x * 1000) as u16, (y * 1000) as u16, 20000])));
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, image::ImageFormat::Tiff).unwrap();
        let r = Reference::from_bytes(bytes.get_ref(), "postcard.tif", 90.0).unwrap();
        assert_eq!(r.dimensions(), (64, 48));
        let e = Reference::from_bytes(b"not an image at all", "notes.txt", 90.0).unwrap_err();
        assert!(e.to_string().starts_with("reference notes.txt: "), "{e}");
        let e = Reference::from_bytes(bytes.get_ref(), "postcard.tif", 0.001).unwrap_err();
        assert!(e.to_string().contains("over the limit"), "{e}");
    }
}
