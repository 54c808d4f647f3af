//! Stage 5, encode: the colorized pixels in the original's format and bit depth, with its
//! metadata and hued's provenance. Writing the bytes safely is the sink's job ([`crate::sink`]).

use super::metadata::{exif_for_output, icc_for_rgb_output, Provenance};
use super::recombine::Colorized;
use crate::config::Compression;
use image::codecs::{bmp::BmpEncoder, png::PngEncoder, webp::WebPEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageFormat};
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
    /// Who made this copy.
    pub provenance: &'a Provenance,
}

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
    let (exif, warning) = exif_for_output(meta.exif, meta.provenance);
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
        ImageFormat::Jpeg => encode_jpeg(rgb8, icc.as_deref(), &exif, jpeg_quality, out)?,
        ImageFormat::Png => {
            use image::codecs::png::{CompressionType, FilterType};
            let level = match compression {
                Compression::Fast => CompressionType::Fast,
                Compression::Small => CompressionType::Best,
                Compression::None => CompressionType::Uncompressed,
            };
            let mut enc = PngEncoder::new_with_quality(out, level, FilterType::Adaptive);
            if let Some(icc) = icc {
                enc.set_icc_profile(icc).ok();
            }
            enc.set_exif_metadata(exif).ok();
            match image {
                Colorized::Rgb8(i) => enc.write_image(i.as_raw(), w, h, ExtendedColorType::Rgb8)?,
                Colorized::Rgb16(i) => enc.write_image(bytemuck::cast_slice(i.as_raw()), w, h, ExtendedColorType::Rgb16)?,
            }
        }
        ImageFormat::WebP => {
            let mut enc = WebPEncoder::new_lossless(out);
            if let Some(icc) = icc {
                enc.set_icc_profile(icc).ok();
            }
            enc.set_exif_metadata(exif).ok();
            enc.write_image(rgb8.as_raw(), w, h, ExtendedColorType::Rgb8)?;
        }
        ImageFormat::Bmp => {
            BmpEncoder::new(out).write_image(rgb8.as_raw(), w, h, ExtendedColorType::Rgb8)?;
        }
        ImageFormat::Tiff => encode_tiff(image, icc.as_deref(), meta.provenance, compression, out)?,
        other => anyhow::bail!("cannot write {other:?}"),
    }
    Ok(warning)
}

/// JPEG through the `jpeg-encoder` crate: AVX2 where the CPU has it, and about 3x faster than
/// image's encoder without it (README, "Performance"). Chroma is subsampled 4:2:0 like most
/// cameras' JPEGs: the colors come from a model that sees a quarter of the resolution anyway.
fn encode_jpeg<W: Write>(rgb: &image::RgbImage, icc: Option<&[u8]>, exif: &[u8], quality: u8, out: &mut W) -> anyhow::Result<()> {
    let (w, h) = rgb.dimensions();
    let (w16, h16) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w16), Ok(h16)) = (w16, h16) else { anyhow::bail!("a JPEG cannot be {w}x{h} (at most 65535 on a side)") };
    let mut enc = jpeg_encoder::Encoder::new(out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    if !exif.is_empty() {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(exif);
        enc.add_app_segment(1, app1).map_err(|e| anyhow::anyhow!("EXIF block does not fit a JPEG segment: {e}"))?;
    }
    if let Some(icc) = icc {
        enc.add_icc_profile(icc).map_err(|e| anyhow::anyhow!("ICC profile does not fit a JPEG: {e}"))?;
    }
    enc.encode(rgb.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb).map_err(|e| match e {
        jpeg_encoder::EncodingError::IoError(io) => anyhow::Error::from(io),
        other => anyhow::anyhow!("{other}"),
    })
}

/// TIFF through the `tiff` crate, which (unlike image's TIFF encoder) writes our tags:
/// Software, ImageDescription (the provenance) and the ICC profile.
fn encode_tiff<W: Write + Seek>(image: &Colorized, icc: Option<&[u8]>, provenance: &Provenance, compression: Compression, out: &mut W) -> anyhow::Result<()> {
    use tiff::encoder::{colortype, Compression as Tiff, DeflateLevel, TiffEncoder};
    use tiff::tags::Tag;
    let method = match compression {
        Compression::Fast => Tiff::Deflate(DeflateLevel::Fast),
        Compression::Small => Tiff::Deflate(DeflateLevel::Best),
        Compression::None => Tiff::Uncompressed,
    };
    let mut enc = TiffEncoder::new(out)?.with_compression(method);
    let (w, h) = image.dimensions();
    let description = provenance.description();
    let software = Provenance::software();
    macro_rules! write_tiff {
        ($color:ty, $data:expr) => {{
            let mut img = enc.new_image::<$color>(w, h)?;
            img.encoder().write_tag(Tag::Software, software.as_str())?;
            img.encoder().write_tag(Tag::ImageDescription, description.as_str())?;
            if let Some(icc) = icc {
                img.encoder().write_tag(Tag::Unknown(34675), icc)?;
            }
            img.write_data($data)?;
        }};
    }
    match image {
        Colorized::Rgb8(i) => write_tiff!(colortype::RGB8, i.as_raw()),
        Colorized::Rgb16(i) => write_tiff!(colortype::RGB16, i.as_raw()),
    }
    Ok(())
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
