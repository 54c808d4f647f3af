//! Stage 1, decode: file → pixels (EXIF orientation applied) + the metadata to carry over.

use super::{budget, PipelineError};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// A decoded photo.
pub struct Decoded {
    /// Pixels, upright.
    pub image: DynamicImage,
    /// The container format, which the colorized copy keeps.
    pub format: ImageFormat,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
    /// The raw EXIF block (TIFF structure, no "Exif\0\0" prefix), if any and readable.
    pub exif: Option<Vec<u8>>,
    /// This photo's share of the process's memory budget, held until the job is done.
    pub reservation: budget::Reservation,
}

/// The formats hued reads and writes.
pub const SUPPORTED: &[ImageFormat] = &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff, ImageFormat::Bmp, ImageFormat::WebP];

/// File extensions (lowercase) of [`SUPPORTED`] formats.
pub const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "bmp", "webp"];

fn read_error(e: std::io::Error) -> PipelineError {
    PipelineError::Read(e)
}

/// Opens a file for reading only if it is a regular file. A FIFO, socket or device node named
/// like a photo would block a plain open (a FIFO until someone writes to it) or never end: it is
/// opened non-blocking, checked on the open handle (no race with a rename), and refused.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = File::options().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file (a FIFO, socket, device or folder)"));
    }
    Ok(file)
}

/// Decodes `path`, refusing images over `max_megapixels` before their pixels are allocated.
/// A broken EXIF block is dropped with a warning; it never stops the image.
pub fn decode(path: &Path, max_megapixels: f64) -> Result<Decoded, PipelineError> {
    let file = open_regular(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    decode_from(BufReader::new(file), len, max_megapixels)
}

/// Decodes a photo held in memory (an upload), with the same checks as [`decode`].
pub fn decode_bytes(data: &[u8], max_megapixels: f64) -> Result<Decoded, PipelineError> {
    decode_from(std::io::Cursor::new(data), data.len() as u64, max_megapixels)
}

/// What a decoder may allocate before the pixel size is known and checked: headers and
/// metadata (ICC, EXIF, a PNG's text chunks, a TIFF's tables). A file whose metadata needs
/// more (a compressed 3 GB ICC chunk in a 1.5 MB PNG) is refused, not decompressed.
const HEADER_ALLOC_LIMIT: u64 = 64 << 20;
/// ICC profiles above this are dropped (real ones are a few KB, the largest about 1 MB).
const MAX_ICC_BYTES: usize = 4 << 20;
/// EXIF blocks above this are dropped (JPEG caps EXIF at 64 KB; TIFFs carry more).
const MAX_EXIF_BYTES: usize = 4 << 20;

fn limits(max_alloc: u64) -> image::Limits {
    let mut limits = image::Limits::no_limits();
    limits.max_alloc = Some(max_alloc);
    limits
}

/// The pixel decode's allowance once the size is checked: the decoded buffer (at most 8 bytes
/// a pixel, RGBA 16-bit) plus the header allowance for the decoder's own buffers.
fn pixel_alloc_limit(width: u32, height: u32) -> u64 {
    width as u64 * height as u64 * 8 + HEADER_ALLOC_LIMIT
}

fn decode_from<R: std::io::BufRead + Seek>(mut file: R, len: u64, max_megapixels: f64) -> Result<Decoded, PipelineError> {
    let format = sniff(&mut file, len)?;
    let mut reader = ImageReader::with_format(file, format);
    // Headers and metadata first, under a small allocation limit; the pixel limit is checked
    // before any pixel buffer exists, and only then is the decoder allowed the pixels' size.
    reader.limits(limits(HEADER_ALLOC_LIMIT));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_megapixels)?;
    let need = budget::estimate(w, h);
    let reservation = budget::reserve(need).map_err(|total| PipelineError::OverBudget { width: w, height: h, need_mb: need >> 20, budget_mb: total >> 20 })?;
    let exif = decoder.exif_metadata().ok().flatten().filter(|e| small_enough("EXIF", e.len(), MAX_EXIF_BYTES));
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten().filter(|p| small_enough("ICC profile", p.len(), MAX_ICC_BYTES));
    decoder.set_limits(limits(pixel_alloc_limit(w, h))).map_err(corrupt)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, format, icc, exif, reservation })
}

/// The checks that need no pixels, for an upload before it is queued: not empty, a supported
/// format, a JPEG not cut off, within the pixel limit. Returns the format and pixel size.
pub fn probe_bytes(data: &[u8], max_megapixels: f64) -> Result<(ImageFormat, u32, u32), PipelineError> {
    let mut cursor = std::io::Cursor::new(data);
    let format = sniff(&mut cursor, data.len() as u64)?;
    let mut reader = ImageReader::with_format(cursor, format);
    reader.limits(limits(HEADER_ALLOC_LIMIT));
    let (w, h) = reader.into_dimensions().map_err(corrupt)?;
    check_pixels(w, h, max_megapixels)?;
    Ok((format, w, h))
}

/// Not empty, a supported format (by content, not name), and for JPEG not cut off.
fn sniff<R: Read + Seek>(file: &mut R, len: u64) -> Result<ImageFormat, PipelineError> {
    if len == 0 {
        return Err(PipelineError::Empty);
    }
    let format = {
        let mut head = [0u8; 32];
        let n = file.read(&mut head).map_err(read_error)?;
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        image::guess_format(&head[..n]).ok()
    };
    let format = match format {
        Some(f) if SUPPORTED.contains(&f) => f,
        Some(f) => return Err(PipelineError::Unsupported(format!("{f:?} images are not supported (JPEG, PNG, TIFF, BMP, WebP are)"))),
        None => return Err(PipelineError::Unsupported("not an image file (content is not JPEG, PNG, TIFF, BMP or WebP)".into())),
    };
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(file, len)?;
    }
    Ok(format)
}

fn small_enough(what: &str, len: usize, max: usize) -> bool {
    if len > max {
        log::warn!("{what} of {len} bytes dropped (over {max} bytes: not a real one)");
    }
    len <= max
}

fn check_pixels(width: u32, height: u32, limit: f64) -> Result<(), PipelineError> {
    let megapixels = width as f64 * height as f64 / 1e6;
    match megapixels > limit {
        true => Err(PipelineError::TooLarge { width, height, megapixels, limit }),
        false => Ok(()),
    }
}

fn corrupt(e: image::ImageError) -> PipelineError {
    match e {
        image::ImageError::IoError(io) => PipelineError::Corrupt(format!("truncated or unreadable: {io}")),
        image::ImageError::Unsupported(u) => PipelineError::Unsupported(u.to_string()),
        image::ImageError::Limits(l) => PipelineError::Corrupt(format!("needs more memory to decode than its pixel size allows ({l})")),
        other => PipelineError::Corrupt(other.to_string()),
    }
}

/// JPEG decoders fill a cut-off scan with gray and report success; a JPEG that does not end
/// with its end-of-image marker (FFD9, allowing trailing padding) is refused as truncated.
fn check_jpeg_complete<R: Read + Seek>(file: &mut R, len: u64) -> Result<(), PipelineError> {
    let tail_len = len.min(4096);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(len - tail_len)).map_err(read_error)?;
    file.read_exact(&mut tail).map_err(read_error)?;
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(PipelineError::Corrupt("truncated JPEG: the file ends before its end-of-image marker".into()))
    }
}
