//! Stage 1, decode: file → pixels (EXIF orientation applied) + the metadata to carry over.

use super::bytes::Source;
use super::PipelineError;
use crate::base::{open_regular, SUPPORTED};
use crate::budget;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
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
    /// The XMP packet, if any (JPEG, PNG, TIFF, WebP).
    pub xmp: Option<Vec<u8>>,
    /// A JPEG's Extended XMP: the APP1 segments (header included) that carry the part of its
    /// packet past 64 KB, as they were (the standard packet names them by their GUID).
    pub xmp_extension: Vec<Vec<u8>>,
    /// The JPEG's Photoshop image resources (APP13 after "Photoshop 3.0\0": IPTC-IIM and the
    /// rest), if any.
    pub iptc: Option<Vec<u8>>,
    /// The JPEG's JFIF pixel density (a scan's 600 dpi), if it states one.
    pub density: Option<JfifDensity>,
    /// The PNG's text chunks and resolution.
    pub png: Option<PngExtras>,
    /// A TIFF's own descriptive tags (caption, artist, copyright, dates, resolution, IPTC).
    pub tiff_tags: Option<TiffTags>,
    /// This photo's share of the process's memory budget, held until the job is done.
    pub reservation: budget::Reservation,
}

/// A JFIF APP0 segment's pixel density.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JfifDensity {
    /// 0: an aspect ratio only; 1: per inch; 2: per centimetre.
    pub unit: u8,
    /// Horizontal density.
    pub x: u16,
    /// Vertical density.
    pub y: u16,
}

/// The JFIF density of a JPEG whose first segment is its APP0 "JFIF" header (the decoder does
/// not report it). Reads 18 bytes.
fn jfif_density(source: Source<'_>) -> Option<JfifDensity> {
    let mut head = [0u8; 18];
    source.reader().read_exact(&mut head).ok()?;
    // FF D8, FF E0, length (2), "JFIF\0", version (2), unit, x density (2), y density (2).
    if head[..4] != [0xFF, 0xD8, 0xFF, 0xE0] || &head[6..11] != b"JFIF\0" {
        return None;
    }
    let (unit, x, y) = (head[13], u16::from_be_bytes([head[14], head[15]]), u16::from_be_bytes([head[16], head[17]]));
    (x > 0 && y > 0 && unit <= 2).then_some(JfifDensity { unit, x, y })
}

/// The APP1 header of a JPEG's Extended XMP segments.
pub const JPEG_XMP_EXTENSION_HEADER: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// At most this much Extended XMP is carried (Photoshop writes a few hundred KB at most).
const MAX_XMP_EXTENSION_BYTES: usize = 16 << 20;

/// A JPEG's Extended XMP segments, read with img-parts (only for a JPEG whose standard packet
/// says it has some: the whole file is read for it). None found, unreadable or over the cap:
/// none, and the copy keeps the standard packet.
fn jpeg_xmp_extension(source: Source<'_>) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    if source.reader().read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let Ok(jpeg) = img_parts::jpeg::Jpeg::from_bytes(bytes.into()) else { return Vec::new() };
    let parts: Vec<Vec<u8>> = jpeg
        .segments_by_marker(img_parts::jpeg::markers::APP1)
        .filter(|s| s.contents().starts_with(JPEG_XMP_EXTENSION_HEADER))
        .map(|s| s.contents().to_vec())
        .collect();
    if parts.iter().map(Vec::len).sum::<usize>() > MAX_XMP_EXTENSION_BYTES {
        log::warn!("the original's Extended XMP is over {} MB and is left out", MAX_XMP_EXTENSION_BYTES >> 20);
        return Vec::new();
    }
    parts
}

/// What a TIFF says about itself in its first directory, for its TIFF copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TiffTags {
    /// ASCII tags by number (ImageDescription, Make, Model, Software, DateTime, Artist,
    /// Copyright): those of 7-bit text, as TIFF's ASCII type requires.
    pub text: Vec<(u16, String)>,
    /// XResolution, YResolution and ResolutionUnit.
    pub resolution: Option<TiffResolution>,
    /// The IPTC-IIM records (tag 33723) as the byte stream they are, whatever type held them.
    pub iptc: Option<Vec<u8>>,
    /// The XMP packet (tag 700), read here too: image's TIFF decoder gave none for exiftool's.
    pub xmp: Option<Vec<u8>>,
    /// The Exif directory (tag 34665: the date taken, the photo's ID, exposure, comments), each
    /// entry as it was, with the Interoperability directory it points to.
    pub exif: Option<TiffSubIfd>,
    /// The GPS directory (tag 34853).
    pub gps: Option<TiffSubIfd>,
}

/// A directory a TIFF's first directory points to (Exif, GPS), kept entry by entry as raw
/// values in this machine's byte order, to be written back as they were.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TiffSubIfd {
    /// The entries but the pointer to a further directory.
    pub entries: Vec<TiffRawTag>,
    /// The Interoperability directory (tag 40965 of an Exif directory).
    pub interop: Vec<TiffRawTag>,
}

/// One TIFF directory entry: its tag number, its type and its value's bytes (native order).
#[derive(Debug, Clone, PartialEq)]
pub struct TiffRawTag {
    /// The tag number.
    pub number: u16,
    /// The value's TIFF type.
    pub ty: tiff::tags::Type,
    /// The value's bytes, in this machine's byte order.
    pub bytes: Vec<u8>,
}

/// The Interoperability directory's pointer in an Exif directory.
pub const TIFF_INTEROP_POINTER: u16 = 40965;
/// Tags that are not fields of a sub-directory but structure: strips and tiles (offsets and
/// counts), SubIFDs, and the Exif and GPS pointers.
const NOT_FIELDS: &[u16] = &[273, 279, 324, 325, 330, 34665, 34853];
/// At most this many entries of a sub-directory are kept (Exif defines about 70).
const SUB_IFD_MAX_ENTRIES: usize = 512;
/// At most this many bytes of one sub-directory's values are kept (a maker note is the largest).
const SUB_IFD_MAX_BYTES: usize = 4 << 20;

/// The entries of the directory at `pointer`, each as its raw value (a pointer to a further
/// directory left out): none where the directory cannot be read, entries whose value cannot be
/// read left out.
fn tiff_sub_ifd<R: std::io::Read + std::io::Seek>(
    tiff: &mut tiff::decoder::Decoder<R>,
    pointer: tiff::decoder::ifd::Value,
) -> Option<(Vec<TiffRawTag>, Option<tiff::decoder::ifd::Value>)> {
    use tiff::tags::{ByteOrder, Tag, Type, ValueBuffer};
    let pointer = pointer.into_ifd_pointer().ok()?;
    let directory = tiff.read_directory(pointer).ok()?;
    let numbers: Vec<Tag> = directory.iter().map(|(tag, _)| tag).take(SUB_IFD_MAX_ENTRIES).collect();
    let mut reader = tiff.read_directory_tags(&directory);
    let interop = reader.find_tag(Tag::from_u16_exhaustive(TIFF_INTEROP_POINTER)).ok().flatten();
    let (mut entries, mut total) = (Vec::new(), 0usize);
    for tag in numbers {
        // Fields only: a directory's pointers and the image-structure tags (which are offsets
        // into the original, stale in the copy, and which readers take for the image's own)
        // have no place in an Exif or GPS directory.
        if tag.to_u16() == TIFF_INTEROP_POINTER || NOT_FIELDS.contains(&tag.to_u16()) {
            continue;
        }
        let mut value = ValueBuffer::empty(Type::BYTE);
        if reader.find_tag_buf(tag, &mut value).ok().flatten().is_none() {
            continue;
        }
        if matches!(value.data_type(), Type::IFD | Type::IFD8) {
            continue;
        }
        total += value.as_bytes().len();
        if total > SUB_IFD_MAX_BYTES {
            break;
        }
        value.set_byte_order(ByteOrder::native());
        entries.push(TiffRawTag { number: tag.to_u16(), ty: value.data_type(), bytes: value.as_bytes().to_vec() });
    }
    Some((entries, interop))
}

/// A TIFF's resolution: pixels per unit as (numerator, denominator), and the unit (1 none,
/// 2 inch, 3 centimetre).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiffResolution {
    /// XResolution.
    pub x: (u32, u32),
    /// YResolution.
    pub y: (u32, u32),
    /// ResolutionUnit.
    pub unit: u16,
}

/// The ASCII tags a TIFF copy keeps: DocumentName, ImageDescription, Make, Model, PageName,
/// Software, DateTime, Artist, HostComputer, Copyright.
pub const TIFF_TEXT_TAGS: &[u16] = &[269, 270, 271, 272, 285, 305, 306, 315, 316, 33432];

/// The XMP packet of a TIFF file (tag 700), for reading a copy's provenance.
pub(crate) fn tiff_xmp(file: &File, len: u64) -> Option<Vec<u8>> {
    tiff_tags(Source::File { file, len })?.xmp
}

/// What a PNG says of itself outside EXIF and XMP, for its copy: its text chunks and its
/// resolution.
#[derive(Debug, Clone, Default)]
pub struct PngExtras {
    /// The pHYs chunk: pixels per unit and the unit (a scan's 600 dpi is 23622 per metre).
    pub pixel_dims: Option<png::PixelDimensions>,
    /// tEXt and zTXt chunks (Latin-1), as keyword and text.
    pub latin1: Vec<(String, String)>,
    /// iTXt chunks (UTF-8), as keyword and text; the XMP packet's own chunk is not among them
    /// (the copy writes its updated packet).
    pub utf8: Vec<(String, String)>,
}

/// Most text a PNG copy carries over (the sum of its chunks' text): more is not a record.
const MAX_PNG_TEXT_BYTES: usize = 1 << 20;

/// Whether the `png` crate's encoder takes `keyword` (1 to 79 Latin-1 characters): a chunk
/// with any other keyword would fail the whole copy, so it is left out.
fn png_keyword_ok(keyword: &str) -> bool {
    (1..=79).contains(&keyword.chars().count()) && keyword.chars().all(|c| (c as u32) <= 0xff)
}

/// One PNG text chunk's text, decompressed only when asked for.
enum Text<'a> {
    Plain(&'a String),
    Latin1(&'a png::text_metadata::ZTXtChunk),
    Utf8(&'a png::text_metadata::ITXtChunk),
}

impl Text<'_> {
    fn get(&self) -> Result<String, png::DecodingError> {
        match self {
            Text::Plain(text) => Ok((*text).clone()),
            Text::Latin1(chunk) => chunk.get_text(),
            Text::Utf8(chunk) => chunk.get_text(),
        }
    }
}

/// A PNG's text chunks and pHYs, read from its header chunks by the `png` crate.
fn png_extras(source: Source<'_>) -> Option<PngExtras> {
    let mut decoder = png::Decoder::new(source.reader());
    decoder.set_ignore_text_chunk(false);
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    let mut extras = PngExtras { pixel_dims: info.pixel_dims, ..PngExtras::default() };
    // Past the cap nothing more is decompressed: a file of many small chunks that each inflate
    // to the png crate's 2 MiB limit would otherwise cost seconds of work for nothing.
    let mut total = 0usize;
    let latin1 = info.uncompressed_latin1_text.iter().map(|c| (&c.keyword, Text::Plain(&c.text), false));
    let compressed = info.compressed_latin1_text.iter().map(|c| (&c.keyword, Text::Latin1(c), false));
    let utf8 = info.utf8_text.iter().filter(|c| c.keyword != "XML:com.adobe.xmp").map(|c| (&c.keyword, Text::Utf8(c), true));
    for (keyword, text, is_utf8) in latin1.chain(compressed).chain(utf8) {
        if total > MAX_PNG_TEXT_BYTES {
            break;
        }
        let Ok(text) = text.get() else { continue };
        total += text.len();
        if total <= MAX_PNG_TEXT_BYTES && png_keyword_ok(keyword) {
            (if is_utf8 { &mut extras.utf8 } else { &mut extras.latin1 }).push((keyword.clone(), text));
        }
    }
    Some(extras)
}

/// Reads [`TiffTags`] from a TIFF's first directory (none where it cannot be read).
fn tiff_tags(source: Source<'_>) -> Option<TiffTags> {
    use tiff::decoder::ifd::Value;
    use tiff::tags::Tag;
    let mut tiff = tiff::decoder::Decoder::new(source.reader()).ok()?;
    let mut tags = TiffTags::default();
    for &number in TIFF_TEXT_TAGS {
        if let Ok(Some(Value::Ascii(text))) = tiff.find_tag(Tag::from_u16_exhaustive(number)) {
            let text = text.trim_end_matches('\0').to_string();
            if !text.is_empty() && text.is_ascii() {
                tags.text.push((number, text));
            }
        }
    }
    let rational = |v: Option<Value>| match v {
        Some(Value::Rational(n, d)) if d > 0 => Some((n, d)),
        Some(Value::List(l)) => match l.first() {
            Some(Value::Rational(n, d)) if *d > 0 => Some((*n, *d)),
            _ => None,
        },
        _ => None,
    };
    let (x, y) = (rational(tiff.find_tag(Tag::XResolution).ok().flatten()), rational(tiff.find_tag(Tag::YResolution).ok().flatten()));
    let unit = tiff.find_tag_unsigned::<u16>(Tag::ResolutionUnit).ok().flatten().unwrap_or(2);
    tags.resolution = x.zip(y).map(|(x, y)| TiffResolution { x, y, unit });
    let big_endian = matches!(tiff.byte_order(), tiff::tags::ByteOrder::BigEndian);
    // A byte stream stored in a tag as BYTEs, UNDEFINEDs or LONGs (libtiff's habit for IPTC):
    // its bytes in file order.
    let stream = |value: Value| {
        let items = match value {
            Value::List(items) => items,
            one => vec![one],
        };
        let mut bytes = Vec::new();
        for item in items {
            match item {
                Value::Byte(b) => bytes.push(b),
                Value::SignedByte(b) => bytes.push(b as u8),
                Value::Unsigned(v) => bytes.extend_from_slice(&if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }),
                _ => {}
            }
        }
        (!bytes.is_empty()).then_some(bytes)
    };
    tags.iptc = tiff.find_tag(Tag::Unknown(33723)).ok().flatten().and_then(stream);
    tags.xmp = tiff.find_tag(Tag::Unknown(700)).ok().flatten().and_then(stream);
    if let Some(pointer) = tiff.find_tag(Tag::ExifDirectory).ok().flatten() {
        tags.exif = tiff_sub_ifd(&mut tiff, pointer).map(|(entries, interop)| {
            // Only one level down: an Interoperability directory points nowhere further.
            let interop = interop.and_then(|p| tiff_sub_ifd(&mut tiff, p)).map(|(entries, _)| entries).unwrap_or_default();
            TiffSubIfd { entries, interop }
        });
    }
    if let Some(pointer) = tiff.find_tag(Tag::GpsDirectory).ok().flatten() {
        tags.gps = tiff_sub_ifd(&mut tiff, pointer).map(|(entries, _)| TiffSubIfd { entries, interop: Vec::new() });
    }
    Some(tags)
}

fn read_error(e: std::io::Error) -> PipelineError {
    PipelineError::Read(e)
}

/// Decodes `path`, refusing images over `max_megapixels` before their pixels are allocated.
/// A broken EXIF block is dropped with a warning; it never stops the image.
pub fn decode(path: &Path, max_megapixels: f64) -> Result<Decoded, PipelineError> {
    let file = open_regular(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    decode_from(Source::File { file: &file, len }, max_megapixels)
}

/// Decodes a photo held in memory (an upload), with the same checks as [`decode`].
pub fn decode_bytes(data: &[u8], max_megapixels: f64) -> Result<Decoded, PipelineError> {
    decode_from(Source::Bytes(data), max_megapixels)
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

fn decode_from(source: Source<'_>, max_megapixels: f64) -> Result<Decoded, PipelineError> {
    let mut file = source.reader();
    let format = sniff(&mut file, source.len())?;
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
    let xmp = decoder.xmp_metadata().ok().flatten().filter(|p| small_enough("XMP packet", p.len(), MAX_EXIF_BYTES));
    // Only a JPEG's resources are the raw blocks a JPEG copy carries back (a PNG's IPTC is
    // ImageMagick's hex text).
    let density = if format == ImageFormat::Jpeg { jfif_density(source) } else { None };
    let tiff_tags = if format == ImageFormat::Tiff { tiff_tags(source) } else { None };
    let png = if format == ImageFormat::Png { png_extras(source) } else { None };
    let xmp = xmp.or_else(|| tiff_tags.as_ref().and_then(|t| t.xmp.clone()).filter(|p| small_enough("XMP packet", p.len(), MAX_EXIF_BYTES)));
    let xmp_extension = match (&xmp, format) {
        (Some(x), ImageFormat::Jpeg) if x.windows(14).any(|w| w == b"HasExtendedXMP") => jpeg_xmp_extension(source),
        _ => Vec::new(),
    };
    let iptc =
        (format == ImageFormat::Jpeg).then(|| decoder.iptc_metadata().ok().flatten()).flatten().filter(|p| small_enough("IPTC block", p.len(), MAX_EXIF_BYTES));
    let max_alloc = pixel_alloc_limit(w, h);
    decoder.set_limits(limits(max_alloc)).map_err(corrupt)?;
    let strips = if format == ImageFormat::Tiff { super::tiff_strips::decode(source, w, h, decoder.color_type(), max_alloc) } else { None };
    let mut image = match strips {
        Some(pixels) => pixels?,
        None => DynamicImage::from_decoder(decoder).map_err(corrupt)?,
    };
    image.apply_orientation(orientation);
    Ok(Decoded { image, format, icc, exif, xmp, xmp_extension, iptc, density, tiff_tags, png, reservation })
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

/// JPEG decoders fill a cut-off scan with gray and report success; a JPEG whose segments end
/// before its end-of-image marker is refused as truncated. The marker is found by walking the
/// segments and the scans' entropy-coded data (not by looking at the file's tail): phones
/// append videos or depth maps after the image (motion photos), and an EXIF thumbnail carries
/// an end-of-image marker of its own.
fn check_jpeg_complete<R: Read + Seek>(file: &mut R, len: u64) -> Result<(), PipelineError> {
    let complete = jpeg_has_end(std::io::BufReader::new(&mut *file).take(len)).map_err(read_error)?;
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    if complete {
        Ok(())
    } else {
        Err(PipelineError::Corrupt("truncated JPEG: the file ends before its end-of-image marker".into()))
    }
}

/// Walks a JPEG's markers; true when its end-of-image marker is reached.
fn jpeg_has_end<R: Read>(r: R) -> std::io::Result<bool> {
    let mut bytes = std::io::BufReader::new(r).bytes();
    let mut next = || bytes.next().transpose();
    if (next()?, next()?) != (Some(0xFF), Some(0xD8)) {
        return Ok(false);
    }
    // The marker about to be read, when the entropy-coded data of a scan ended on one.
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(m) => m,
            None => {
                if next()? != Some(0xFF) {
                    return Ok(false); // garbage where a marker should be, or the end
                }
                let mut m = next()?;
                while m == Some(0xFF) {
                    m = next()?; // fill bytes
                }
                match m {
                    Some(m) => m,
                    None => return Ok(false),
                }
            }
        };
        match marker {
            0xD9 => return Ok(true),
            0x01 | 0xD0..=0xD8 => continue, // markers without a length
            _ => {
                let (Some(hi), Some(lo)) = (next()?, next()?) else { return Ok(false) };
                let length = u16::from_be_bytes([hi, lo]) as usize;
                for _ in 2..length {
                    if next()?.is_none() {
                        return Ok(false);
                    }
                }
                if marker == 0xDA {
                    // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), a restart
                    // marker, fill, or the next real marker.
                    loop {
                        match next()? {
                            None => return Ok(false),
                            Some(0xFF) => {
                                let mut m = next()?;
                                while m == Some(0xFF) {
                                    m = next()?;
                                }
                                match m {
                                    None => return Ok(false),
                                    Some(0x00 | 0xD0..=0xD7) => {}
                                    Some(m) => {
                                        pending = Some(m);
                                        break;
                                    }
                                }
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{jpeg_has_end, png_keyword_ok};

    #[test]
    fn png_text_is_carried_up_to_its_cap_and_no_further() {
        // A short tEXt, then five zTXt chunks of 1 MiB each (a few KB compressed): each would
        // take the text past the 1 MiB cap, so only the short one is kept (and past the cap
        // the rest are not even inflated).
        let mut png_bytes = Vec::new();
        let mut enc = png::Encoder::new(&mut png_bytes, 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.add_text_chunk("Author".into(), "Jane".into()).unwrap();
        for i in 0..5 {
            enc.add_ztxt_chunk(format!("Big{i}"), "a".repeat(1 << 20)).unwrap();
        }
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&[0; 4]).unwrap();
        writer.finish().unwrap();
        let extras = super::png_extras(super::super::bytes::Source::Bytes(&png_bytes)).unwrap();
        let keywords: Vec<&str> = extras.latin1.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keywords, ["Author"]);
    }

    #[test]
    fn png_keywords_the_encoder_would_refuse_are_left_out() {
        assert!(png_keyword_ok("Author") && png_keyword_ok("Négatif"));
        assert!(!png_keyword_ok("") && !png_keyword_ok(&"k".repeat(80)) && !png_keyword_ok("Ébène ✓"));
    }

    fn jpeg() -> Vec<u8> {
        let img = image::GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 3 + y * 5) as u8]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn a_whole_jpeg_with_data_after_it_is_complete_and_a_cut_one_is_not() {
        let whole = jpeg();
        assert!(jpeg_has_end(&whole[..]).unwrap());
        // A motion photo: a video appended after the image (far more than 4 KB, no FF D9 in it).
        let mut motion = whole.clone();
        motion.extend(std::iter::repeat_n(0x42u8, 64 * 1024));
        assert!(jpeg_has_end(&motion[..]).unwrap());
        for cut in [whole.len() - 2, whole.len() / 2, 300, 3] {
            assert!(!jpeg_has_end(&whole[..cut]).unwrap(), "cut at {cut}");
        }
        // An FF D9 inside a segment (an EXIF thumbnail's) is not the image's end.
        assert!(!jpeg_has_end(&[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00][..]).unwrap());
    }
}
