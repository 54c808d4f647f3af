//! Stage 5, encode: the colorized pixels in the original's format and bit depth, with its
//! metadata and hued's provenance. Writing the bytes safely is the sink's job ([`crate::sink`]).

use super::decode::JPEG_XMP_EXTENSION_HEADER;
use super::metadata::{exif_for_output, icc_for_rgb_output, Provenance};
use super::recombine::Colorized;
use super::xmp::{new_instance_id, xmp_for_output, CopyFacts, JPEG_XMP_HEADER};
use crate::config::Compression;
use image::codecs::bmp::BmpEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat};
use rayon::prelude::*;
use std::io::{Seek, Write};

/// How an output is encoded, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// JPEG quality, 1-100.
    pub jpeg_quality: u8,
    /// PNG and TIFF compression.
    pub compression: Compression,
}

/// Metadata for the output.
pub struct OutputMetadata<'a> {
    /// The original's ICC profile.
    pub icc: Option<&'a [u8]>,
    /// The original's EXIF block.
    pub exif: Option<&'a [u8]>,
    /// The original's XMP packet.
    pub xmp: Option<&'a [u8]>,
    /// The original JPEG's Extended XMP segments.
    pub xmp_extension: &'a [Vec<u8>],
    /// The original JPEG's Photoshop image resources (IPTC-IIM among them).
    pub iptc: Option<&'a [u8]>,
    /// The original JPEG's JFIF density.
    pub density: Option<super::decode::JfifDensity>,
    /// The original TIFF's own tags.
    pub tiff_tags: Option<&'a super::decode::TiffTags>,
    /// The original PNG's text chunks and resolution.
    pub png: Option<&'a super::decode::PngExtras>,
    /// Who made this copy.
    pub provenance: &'a Provenance,
    /// What was done (model, vividness, hints), for the XMP History event.
    pub parameters: &'a str,
    /// The copy is signed afterwards (Content Credentials): C2PA's TIFF writer rewrites the
    /// directories it knows and would leave an Interoperability directory's pointer dangling,
    /// so a signed TIFF copy goes without it (two DCF fields that TIFF does not define).
    pub signed: bool,
}

/// The largest XMP packet a JPEG APP1 segment holds (standard XMP, no extension).
const JPEG_XMP_MAX: usize = 65533 - JPEG_XMP_HEADER.len();
/// "Photoshop 3.0\0", the APP13 header before the image resources.
const PHOTOSHOP_HEADER: &[u8] = b"Photoshop 3.0\0";
/// The largest resource block an APP13 segment holds.
const JPEG_IPTC_MAX: usize = 65533 - PHOTOSHOP_HEADER.len();

/// Encodes `image` as `format` into `out`. Returns a warning about metadata that could not be
/// carried over, if any. BMP has no place for metadata: its copies carry no provenance.
pub fn encode<W: Write + Seek>(
    image: &Colorized,
    format: ImageFormat,
    meta: &OutputMetadata,
    options: EncodeOptions,
    out: &mut W,
) -> anyhow::Result<Option<String>> {
    let EncodeOptions { jpeg_quality, compression } = options;
    let icc = icc_for_rgb_output(meta.icc);
    let facts =
        CopyFacts { provenance: meta.provenance, when: crate::report::now_utc(), instance_id: new_instance_id(), parameters: meta.parameters.to_string() };
    let (mut xmp, xmp_warning) = xmp_for_output(meta.xmp, &facts);
    let mut notes: Vec<String> = xmp_warning.into_iter().collect();
    if format == ImageFormat::Jpeg && xmp.len() > JPEG_XMP_MAX {
        notes.push(format!("the original's XMP ({} bytes) does not fit a JPEG segment; the copy has hued's XMP alone", meta.xmp.map_or(0, <[u8]>::len)));
        xmp = xmp_for_output(None, &facts).0;
    }
    let iptc = match meta.iptc {
        Some(block) if !whole_photoshop_resources(block) => {
            // An original whose resources spanned several APP13 segments comes out of the
            // decoder as its last segment only: cut, it would be damaged in the copy.
            notes.push("the original's IPTC block is not whole (it spans several JPEG segments) and was left out".to_string());
            None
        }
        Some(block) if block.len() > JPEG_IPTC_MAX => {
            notes.push(format!("the original's IPTC block ({} bytes) does not fit a JPEG segment and was left out", block.len()));
            None
        }
        other => other,
    };
    let (exif, warning) = exif_for_output(meta.exif);
    let (w, h) = image.dimensions();
    // JPEG, BMP and WebP hold 8 bits per channel; PNG and TIFF keep 16-bit originals 16-bit.
    let eight;
    let rgb8 = match image {
        Colorized::Rgb8(i) => i,
        Colorized::Rgb16(i) if !matches!(format, ImageFormat::Png | ImageFormat::Tiff) => {
            eight = image::DynamicImage::ImageRgb16(i.clone()).to_rgb8();
            &eight
        }
        Colorized::Rgb16(_) => &image::RgbImage::new(0, 0),
    };
    match format {
        ImageFormat::Jpeg => encode_jpeg(
            rgb8,
            JpegSegments { icc: icc.as_deref(), exif: &exif, xmp: &xmp, xmp_extension: meta.xmp_extension, iptc, density: meta.density },
            jpeg_quality,
            out,
        )?,
        ImageFormat::Png => encode_png(image, icc.as_deref(), &exif, &xmp, meta.png, compression, out)?,
        ImageFormat::WebP => {
            // image-webp's own encoder: image's wrapper has no place for XMP.
            let mut enc = image_webp::WebPEncoder::new(out);
            if let Some(icc) = icc {
                enc.set_icc_profile(icc);
            }
            enc.set_exif_metadata(exif);
            enc.set_xmp_metadata(xmp);
            enc.encode(rgb8.as_raw(), w, h, image_webp::ColorType::Rgb8).map_err(|e| match e {
                image_webp::EncodingError::IoError(io) => anyhow::Error::from(io),
                other => anyhow::anyhow!("{other}"),
            })?;
        }
        ImageFormat::Bmp => {
            BmpEncoder::new(out).write_image(rgb8.as_raw(), w, h, ExtendedColorType::Rgb8)?;
        }
        ImageFormat::Tiff => encode_tiff(image, icc.as_deref(), &xmp, meta.tiff_tags, meta.signed, compression, out)?,
        other => anyhow::bail!("cannot write {other:?}"),
    }
    notes.extend(warning);
    Ok((!notes.is_empty()).then(|| notes.join("; ")))
}

/// Whether `block` is a sequence of whole Photoshop image resources ("8BIM", id, padded name,
/// size, padded data), as one APP13 segment holds them.
fn whole_photoshop_resources(block: &[u8]) -> bool {
    let mut at = 0usize;
    while at < block.len() {
        let Some(head) = block.get(at..at + 7) else { return false };
        if &head[..4] != b"8BIM" {
            return false;
        }
        let name = (1 + head[6] as usize + 1) & !1;
        let Some(size) = block.get(at + 6 + name..at + 6 + name + 4) else { return false };
        let size = u32::from_be_bytes(size.try_into().expect("4 bytes")) as usize;
        at += 6 + name + 4 + ((size + 1) & !1);
    }
    // The last resource's pad byte may be missing.
    at == block.len() || at == block.len() + 1
}

/// PNG through the `png` crate (image's wrapper has no place for text chunks): the XMP packet
/// in an iTXt chunk "XML:com.adobe.xmp", EXIF in eXIf, the ICC profile in iCCP; the
/// original PNG's text chunks (tEXt as tEXt, iTXt as iTXt) and its pHYs resolution as they were.
fn encode_png<W: Write>(
    image: &Colorized,
    icc: Option<&[u8]>,
    exif: &[u8],
    xmp: &[u8],
    extras: Option<&super::decode::PngExtras>,
    compression: Compression,
    out: &mut W,
) -> anyhow::Result<()> {
    use std::borrow::Cow;
    let (w, h) = image.dimensions();
    let mut info = png::Info::with_size(w, h);
    info.icc_profile = icc.map(Cow::Borrowed);
    info.exif_metadata = Some(Cow::Borrowed(exif));
    info.pixel_dims = extras.and_then(|e| e.pixel_dims);
    let mut enc = png::Encoder::with_info(out, info)?;
    enc.set_color(png::ColorType::Rgb);
    enc.set_compression(match compression {
        Compression::Fast => png::Compression::Fast,
        Compression::Small => png::Compression::High,
        Compression::None => png::Compression::NoCompression,
    });
    enc.set_filter(png::Filter::Adaptive);
    enc.add_itxt_chunk("XML:com.adobe.xmp".into(), String::from_utf8_lossy(xmp).into_owned())?;
    if let Some(extras) = extras {
        for (keyword, text) in &extras.latin1 {
            enc.add_text_chunk(keyword.clone(), text.clone())?;
        }
        for (keyword, text) in &extras.utf8 {
            enc.add_itxt_chunk(keyword.clone(), text.clone())?;
        }
    }
    match image {
        Colorized::Rgb8(i) => {
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header()?;
            writer.write_image_data(i.as_raw())?;
            writer.finish()?;
        }
        Colorized::Rgb16(i) => {
            enc.set_depth(png::BitDepth::Sixteen);
            let big_endian: Vec<u8> = i.as_raw().iter().flat_map(|v| v.to_be_bytes()).collect();
            let mut writer = enc.write_header()?;
            writer.write_image_data(&big_endian)?;
            writer.finish()?;
        }
    }
    Ok(())
}

/// JPEG through the `jpeg-encoder` crate: AVX2 where the CPU has it, and about 3x faster than
/// image's encoder without it (README, "Performance"). Chroma is subsampled 4:2:0 like most
/// cameras' JPEGs: the colors come from a model that sees a quarter of the resolution anyway.
/// What a JPEG copy carries besides its pixels, each in its own segment.
struct JpegSegments<'a> {
    icc: Option<&'a [u8]>,
    exif: &'a [u8],
    xmp: &'a [u8],
    xmp_extension: &'a [Vec<u8>],
    iptc: Option<&'a [u8]>,
    density: Option<super::decode::JfifDensity>,
}

fn encode_jpeg<W: Write>(rgb: &image::RgbImage, segments: JpegSegments, quality: u8, out: &mut W) -> anyhow::Result<()> {
    let JpegSegments { icc, exif, xmp, xmp_extension, iptc, density } = segments;
    let (w, h) = rgb.dimensions();
    let (w16, h16) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w16), Ok(h16)) = (w16, h16) else { anyhow::bail!("a JPEG cannot be {w}x{h} (at most 65535 on a side)") };
    let mut enc = jpeg_encoder::Encoder::new(out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    if let Some(d) = density {
        // The scan's resolution (600 dpi), which print and archive software size it by.
        let unit = match d.unit {
            1 => jpeg_encoder::PixelDensityUnit::Inches,
            2 => jpeg_encoder::PixelDensityUnit::Centimeters,
            _ => jpeg_encoder::PixelDensityUnit::PixelAspectRatio,
        };
        enc.set_density(jpeg_encoder::PixelDensity { density: (d.x, d.y), unit });
    }
    if !exif.is_empty() {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(exif);
        enc.add_app_segment(1, app1).map_err(|e| anyhow::anyhow!("EXIF block does not fit a JPEG segment: {e}"))?;
    }
    enc.add_app_segment(1, [JPEG_XMP_HEADER, xmp].concat()).map_err(|e| anyhow::anyhow!("XMP packet does not fit a JPEG segment: {e}"))?;
    // The original's Extended XMP, as it was: the standard packet (rewritten, its
    // xmpNote:HasExtendedXMP kept) names it by the GUID it carries; a packet of hued's alone
    // names none, and the extension is then left out.
    for part in xmp_extension {
        let guid = part.get(JPEG_XMP_EXTENSION_HEADER.len()..JPEG_XMP_EXTENSION_HEADER.len() + 32);
        if guid.is_some_and(|g| xmp.windows(32).any(|w| w == g)) {
            enc.add_app_segment(1, part.clone()).map_err(|e| anyhow::anyhow!("Extended XMP does not fit a JPEG segment: {e}"))?;
        }
    }
    if let Some(iptc) = iptc {
        enc.add_app_segment(13, [PHOTOSHOP_HEADER, iptc].concat()).map_err(|e| anyhow::anyhow!("IPTC block does not fit a JPEG segment: {e}"))?;
    }
    if let Some(icc) = icc {
        enc.add_icc_profile(icc).map_err(|e| anyhow::anyhow!("ICC profile does not fit a JPEG: {e}"))?;
    }
    enc.encode(rgb.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb).map_err(|e| match e {
        jpeg_encoder::EncodingError::IoError(io) => anyhow::Error::from(io),
        other => anyhow::anyhow!("{other}"),
    })
}

/// TIFF through the `tiff` crate's directory writer, which (unlike image's TIFF encoder) writes
/// our tags and the original's: its caption, maker, dates, artist, copyright, Software,
/// resolution and IPTC, the XMP (with the provenance) and the ICC profile. The strips are
/// compressed here, several at a time on all cores, because one Deflate stream over a 50 MP
/// 16-bit scan took 1.7 s, the largest stage of the whole run; the file layout (header, IFD,
/// offsets), the tag values and the predictor stay the crate's. Compressed strips use the
/// horizontal predictor (read by every TIFF reader): smooth photos compress smaller and faster.
fn encode_tiff<W: Write + Seek>(
    image: &Colorized,
    icc: Option<&[u8]>,
    xmp: &[u8],
    tags: Option<&super::decode::TiffTags>,
    signed: bool,
    compression: Compression,
    out: &mut W,
) -> anyhow::Result<()> {
    use tiff::encoder::colortype::{RGB16, RGB8};
    let without_interop;
    let tags = match (signed, tags) {
        (true, Some(t)) if t.exif.as_ref().is_some_and(|e| !e.interop.is_empty()) => {
            let exif = t.exif.as_ref().map(|e| super::decode::TiffSubIfd { interop: Vec::new(), ..e.clone() });
            without_interop = super::decode::TiffTags { exif, ..t.clone() };
            Some(&without_interop)
        }
        _ => tags,
    };
    match image {
        Colorized::Rgb8(i) => write_tiff::<RGB8, W>(i.as_raw(), i.dimensions(), icc, xmp, tags, compression, out),
        Colorized::Rgb16(i) => write_tiff::<RGB16, W>(i.as_raw(), i.dimensions(), icc, xmp, tags, compression, out),
    }
}

/// Target size of one uncompressed TIFF strip.
const TIFF_STRIP_BYTES: usize = 256 * 1024;

fn write_tiff<C, W>(
    samples: &[C::Inner],
    (w, h): (u32, u32),
    icc: Option<&[u8]>,
    xmp: &[u8],
    tags: Option<&super::decode::TiffTags>,
    compression: Compression,
    out: &mut W,
) -> anyhow::Result<()>
where
    C: tiff::encoder::colortype::ColorType,
    C::Inner: bytemuck::Pod + Send + Sync,
    W: Write + Seek,
{
    use std::borrow::Cow;
    use tiff::encoder::{Rational, TiffEncoder};
    use tiff::tags::{CompressionMethod, Predictor, ResolutionUnit, Tag};
    let level = match compression {
        Compression::Fast => Some(flate2::Compression::fast()),
        // Level 6, not 9: with the predictor a 50 MP 16-bit scan took 13.1 s at 9 for 40.3 MB, 4.7 s at 6 for 41.0 MB.
        Compression::Small => Some(flate2::Compression::default()),
        Compression::None => None,
    };
    let channels = C::BITS_PER_SAMPLE.len();
    let row_samples = w as usize * channels;
    // Strips of about 256 KB (libtiff suggests ~8 KB and readers do not care; larger strips
    // compress a little better and keep the offset tables short).
    let rows_per_strip = (TIFF_STRIP_BYTES / (row_samples * size_of::<C::Inner>())).clamp(1, h as usize);
    let strip_samples = rows_per_strip * row_samples;
    let mut enc = TiffEncoder::new(out)?;
    // The original's Exif and GPS directories go first: the image's directory points to them.
    let exif_pointer = match tags.and_then(|t| t.exif.as_ref()) {
        Some(exif) => {
            let interop = match exif.interop.is_empty() {
                true => None,
                false => Some(write_sub_ifd(&mut enc, &exif.interop, None)?),
            };
            Some(write_sub_ifd(&mut enc, &exif.entries, interop)?)
        }
        None => None,
    };
    let gps_pointer = match tags.and_then(|t| t.gps.as_ref()) {
        Some(gps) => Some(write_sub_ifd(&mut enc, &gps.entries, None)?),
        None => None,
    };
    let mut dir = enc.image_directory()?;
    let (mut offsets, mut counts) = (Vec::<u32>::new(), Vec::<u32>::new());
    let too_big = || anyhow::anyhow!("a TIFF of {w}x{h} at {} bits does not fit 4 GB", C::BITS_PER_SAMPLE[0]);
    // Compressed strips are made a batch at a time, so only a batch is held beside the image.
    let batch = rayon::current_num_threads() * 4;
    for strips in samples.chunks(strip_samples * batch) {
        let strips: Vec<&[C::Inner]> = strips.chunks(strip_samples).collect();
        let packed: Vec<Cow<[u8]>> = match level {
            None => strips.into_iter().map(|strip| Cow::Borrowed(bytemuck::cast_slice(strip))).collect(),
            Some(level) => strips.into_par_iter().map(|strip| deflate_strip::<C>(strip, row_samples, level).map(Cow::Owned)).collect::<std::io::Result<_>>()?,
        };
        for strip in &packed {
            offsets.push(u32::try_from(dir.write_data(&strip[..])?).map_err(|_| too_big())?);
            counts.push(u32::try_from(strip.len()).map_err(|_| too_big())?);
        }
    }
    // Each value starts on a word boundary, as TIFF asks (the crate writes them back to back).
    let word_align = |dir: &mut tiff::encoder::DirectoryEncoder<'_, &mut W, tiff::encoder::TiffKindStandard>| -> tiff::TiffResult<()> {
        if dir.write_data(&[][..] as &[u8])? % 2 == 1 {
            dir.write_data(&[0u8][..])?;
        }
        Ok(())
    };
    word_align(&mut dir)?;
    let (method, predictor) = match level {
        Some(_) => (CompressionMethod::Deflate, Predictor::Horizontal),
        None => (CompressionMethod::None, Predictor::None),
    };
    let sample_format: Vec<u16> = C::SAMPLE_FORMAT.iter().map(|f| f.to_u16()).collect();
    dir.write_tag(Tag::ImageWidth, w)?;
    dir.write_tag(Tag::ImageLength, h)?;
    dir.write_tag(Tag::BitsPerSample, C::BITS_PER_SAMPLE)?;
    dir.write_tag(Tag::Compression, method.to_u16())?;
    dir.write_tag(Tag::Predictor, predictor.to_u16())?;
    dir.write_tag(Tag::PhotometricInterpretation, C::TIFF_VALUE.to_u16())?;
    dir.write_tag(Tag::SamplesPerPixel, channels as u16)?;
    dir.write_tag(Tag::SampleFormat, &sample_format[..])?;
    dir.write_tag(Tag::RowsPerStrip, rows_per_strip as u32)?;
    dir.write_tag(Tag::StripOffsets, &offsets[..])?;
    dir.write_tag(Tag::StripByteCounts, &counts[..])?;
    // The original's resolution (a scan's 600 dpi), else none stated.
    match tags.and_then(|t| t.resolution) {
        Some(super::decode::TiffResolution { x: (xn, xd), y: (yn, yd), unit }) => {
            dir.write_tag(Tag::XResolution, Rational { n: xn, d: xd })?;
            dir.write_tag(Tag::YResolution, Rational { n: yn, d: yd })?;
            dir.write_tag(Tag::ResolutionUnit, unit)?;
        }
        None => {
            dir.write_tag(Tag::XResolution, Rational { n: 1, d: 1 })?;
            dir.write_tag(Tag::YResolution, Rational { n: 1, d: 1 })?;
            dir.write_tag(Tag::ResolutionUnit, ResolutionUnit::None.to_u16())?;
        }
    }
    // The original's caption, maker, dates, artist, copyright and Software stay its own (hued
    // names itself as Software only where the original names none); hued's provenance is in
    // the XMP packet (tag 700).
    let text = tags.map_or(&[][..], |t| &t.text[..]);
    for (number, value) in text {
        word_align(&mut dir)?;
        dir.write_tag(Tag::from_u16_exhaustive(*number), value.as_str())?;
    }
    if !text.iter().any(|(n, _)| *n == 305) {
        word_align(&mut dir)?;
        dir.write_tag(Tag::Software, Provenance::software().as_str())?;
    }
    word_align(&mut dir)?;
    dir.write_tag(Tag::Unknown(700), xmp)?;
    if let Some(iptc) = tags.and_then(|t| t.iptc.as_deref()) {
        // As LONGs (libtiff's and ExifTool's way; BYTE is non-standard there), padded to a
        // multiple of 4: the file's bytes are the stream itself in this file's byte order.
        let mut padded = iptc.to_vec();
        padded.resize(iptc.len().div_ceil(4) * 4, 0);
        let longs: Vec<u32> = padded.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes"))).collect();
        word_align(&mut dir)?;
        dir.write_tag(Tag::Unknown(33723), &longs[..])?;
    }
    if let Some(icc) = icc {
        word_align(&mut dir)?;
        dir.write_tag(Tag::Unknown(34675), icc)?;
    }
    if let Some(pointer) = exif_pointer {
        dir.write_tag(Tag::ExifDirectory, pointer)?;
    }
    if let Some(pointer) = gps_pointer {
        dir.write_tag(Tag::GpsDirectory, pointer)?;
    }
    dir.finish()?;
    Ok(())
}

/// Writes a directory of the original's raw entries (an Exif, GPS or Interoperability
/// directory) outside the image chain, pointing to `interop` where given; returns its offset.
/// An ImageUniqueID gets a fresh value: the copy is another image than its original.
fn write_sub_ifd<W: Write + Seek>(
    enc: &mut tiff::encoder::TiffEncoder<W>,
    entries: &[super::decode::TiffRawTag],
    interop: Option<u32>,
) -> tiff::TiffResult<u32> {
    use tiff::tags::{Tag, Type};
    const IMAGE_UNIQUE_ID: u16 = 42016;
    let mut sub = enc.extra_directory()?;
    let mut directory = tiff::Directory::empty();
    for raw in entries {
        if sub.write_data(&[][..] as &[u8])? % 2 == 1 {
            sub.write_data(&[0u8][..])?;
        }
        let fresh;
        let (ty, bytes) = match raw.number {
            IMAGE_UNIQUE_ID => {
                fresh = [super::metadata::new_image_unique_id().as_bytes(), &[0]].concat();
                (Type::ASCII, &fresh[..])
            }
            _ => (raw.ty, &raw.bytes[..]),
        };
        let entry = sub.write_entry_bytes(ty, bytes)?;
        directory.extend([(Tag::from_u16_exhaustive(raw.number), entry)]);
    }
    sub.extend_from(&directory);
    if let Some(pointer) = interop {
        sub.write_tag(Tag::from_u16_exhaustive(super::decode::TIFF_INTEROP_POINTER), pointer)?;
    }
    Ok(sub.finish_with_offsets()?.offset)
}

/// One strip (whole rows of `row_samples`) through the crate's horizontal predictor, then
/// Deflate-compressed in a zlib stream as TIFF's compression 8 wants; samples are written in the
/// file's (native) byte order.
fn deflate_strip<C>(strip: &[C::Inner], row_samples: usize, level: flate2::Compression) -> std::io::Result<Vec<u8>>
where
    C: tiff::encoder::colortype::ColorType,
    C::Inner: bytemuck::Pod,
{
    // The crate's predictor appends each row, and only while the vector has room for it.
    let mut predicted = Vec::with_capacity(strip.len());
    for row in strip.chunks_exact(row_samples) {
        C::horizontal_predict(row, &mut predicted);
    }
    debug_assert_eq!(predicted.len(), strip.len());
    let bytes: &[u8] = bytemuck::cast_slice(&predicted);
    let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(bytes.len() / 2), level);
    z.write_all(bytes)?;
    z.finish()
}

/// The colorized photo at `width` x `height`, 8 bits per channel (for previews).
pub fn resized_rgb8(colorized: &Colorized, width: u32, height: u32) -> image::RgbImage {
    use image::imageops::{resize, FilterType};
    match colorized {
        Colorized::Rgb8(i) => resize(i, width, height, FilterType::Triangle),
        Colorized::Rgb16(i) => image::DynamicImage::ImageRgb16(resize(i, width, height, FilterType::Triangle)).to_rgb8(),
    }
}

/// The photo as 8-bit RGB, shrunk (aspect kept) to fit `max_width` x `max_height` when it is
/// larger; never enlarged. For comparison images and previews.
pub fn fit_within(image: &image::DynamicImage, max_width: u32, max_height: u32) -> image::RgbImage {
    match image.width() > max_width || image.height() > max_height {
        true => image.thumbnail(max_width, max_height).to_rgb8(),
        false => image.to_rgb8(),
    }
}

/// Encodes an RGB preview as a JPEG (quality 85) into memory.
pub fn preview_jpeg(image: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .expect("JPEG encoding into memory cannot fail");
    out
}

/// Width of each half of a comparison image, at most.
pub const COMPARE_WIDTH: u32 = 1200;

/// The original (already reduced to at most [`COMPARE_WIDTH`]) and its colorized copy side
/// by side, as a JPEG, for people who would rather look than read.
pub fn encode_compare<W: Write>(original: &image::RgbImage, colorized: &Colorized, out: &mut W) -> anyhow::Result<()> {
    use image::imageops;
    let (tw, th) = original.dimensions();
    let right = resized_rgb8(colorized, tw, th);
    let left = original;
    let gap = 8;
    let mut sheet = image::RgbImage::from_pixel(tw * 2 + gap, th, image::Rgb([255, 255, 255]));
    imageops::replace(&mut sheet, left, 0, 0);
    imageops::replace(&mut sheet, &right, (tw + gap) as i64, 0);
    image::codecs::jpeg::JpegEncoder::new_with_quality(out, 88).write_image(sheet.as_raw(), sheet.width(), sheet.height(), ExtendedColorType::Rgb8)?;
    Ok(())
}

#[cfg(test)]
mod iptc_tests {
    #[test]
    fn photoshop_resources_are_whole_or_refused() {
        let mut one = b"8BIM\x04\x04\x00\x00".to_vec();
        one.extend_from_slice(&5u32.to_be_bytes());
        one.extend_from_slice(b"\x1c\x02\x00\x00\x00\x00");
        assert!(super::whole_photoshop_resources(&one));
        assert!(super::whole_photoshop_resources(&one[..one.len() - 1]), "the last pad byte may be missing");
        assert!(!super::whole_photoshop_resources(&one[..10]));
        assert!(!super::whole_photoshop_resources(&one[3..]), "a block cut in the middle of a resource");
    }
}
