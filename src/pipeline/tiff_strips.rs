//! TIFF pixels strip by strip, in parallel, straight into the image's buffer.
//!
//! A scan is usually a TIFF in horizontal strips, often LZW- or Deflate-compressed, 8 or 16 bits.
//! Through the image crate such a file is inflated strip after strip on one thread, into the
//! tiff crate's buffer, which is then copied into the image's: a 50 MP 16-bit scan needed two
//! 300 MB buffers and one core. Here the strips are split across threads, each reading its own
//! strips through its own tiff decoder (positioned reads of the same file, no shared offset),
//! into their place in the one final buffer. The tiff crate still does all the decoding
//! (decompression, predictor, byte order), so the pixels are the image crate's, byte for byte
//! (tested), under the same memory limits; layouts it would convert (CMYK, 1-bit, palette,
//! planar, tiles, floats) and compressions that allocate a whole strip's data (JPEG) are left to
//! the image crate.

use super::bytes::Source;
use super::PipelineError;
use image::{ColorType, DynamicImage, ImageBuffer, Pixel};
use rayon::prelude::*;
use tiff::decoder::{ChunkType, Decoder, Limits};
use tiff::tags::Tag;
use tiff::TiffError;

/// Compressions the tiff crate inflates as a stream (none, LZW, Deflate twice, PackBits): a
/// strip's data is never held whole, so decoding several at once costs no more memory. (JPEG
/// strips are read whole, and decoded to whatever size their own header says.)
const STREAMED_COMPRESSIONS: [u16; 5] = [1, 5, 8, 32946, 32773];

/// The photo's pixels, or None when its layout is not one this handles (then the image crate
/// decodes it). `width`, `height` and `color` are what the image crate read from the header:
/// a file whose first image disagrees is left to it too. `max_alloc` is the allocation limit
/// the image crate would decode it under.
pub(super) fn decode(source: Source<'_>, width: u32, height: u32, color: ColorType, max_alloc: u64) -> Option<Result<DynamicImage, PipelineError>> {
    let layout = Layout::of(source, width, height, color, max_alloc)?;
    Some(match color {
        ColorType::L8 => pixels(source, &layout, DynamicImage::ImageLuma8),
        ColorType::La8 => pixels(source, &layout, DynamicImage::ImageLumaA8),
        ColorType::Rgb8 => pixels(source, &layout, DynamicImage::ImageRgb8),
        ColorType::Rgba8 => pixels(source, &layout, DynamicImage::ImageRgba8),
        ColorType::L16 => pixels(source, &layout, DynamicImage::ImageLuma16),
        ColorType::La16 => pixels(source, &layout, DynamicImage::ImageLumaA16),
        ColorType::Rgb16 => pixels(source, &layout, DynamicImage::ImageRgb16),
        ColorType::Rgba16 => pixels(source, &layout, DynamicImage::ImageRgba16),
        _ => return None,
    })
}

/// The strips read as `P` pixels, wrapped as the image crate's `DynamicImage` variant for them.
fn pixels<P: Pixel>(source: Source<'_>, layout: &Layout, variant: fn(ImageBuffer<P, Vec<P::Subpixel>>) -> DynamicImage) -> Result<DynamicImage, PipelineError>
where
    P::Subpixel: bytemuck::Pod + Send,
{
    let samples = read::<P::Subpixel>(source, layout)?;
    let image =
        ImageBuffer::from_raw(layout.width, layout.height, samples).ok_or_else(|| PipelineError::Corrupt("TIFF strips do not add up to the image".into()))?;
    Ok(variant(image))
}

/// Strips that are exact runs of whole rows of the final buffer.
struct Layout {
    width: u32,
    height: u32,
    color: ColorType,
    strips: u32,
    /// Bytes of one full strip (the last may be shorter).
    strip_bytes: usize,
    /// Bytes of the whole image.
    total_bytes: usize,
    /// The tiff crate's limits, as the image crate would set them.
    limits: Limits,
}

impl Layout {
    fn of(source: Source<'_>, width: u32, height: u32, color: ColorType, max_alloc: u64) -> Option<Layout> {
        Layout::read(&mut Decoder::new(source.reader()).ok()?, width, height, color, max_alloc)
    }

    fn read<R: std::io::Read + std::io::Seek>(tiff: &mut Decoder<R>, width: u32, height: u32, color: ColorType, max_alloc: u64) -> Option<Layout> {
        let same_type = matches!(
            (tiff.colortype().ok()?, color),
            (tiff::ColorType::Gray(8), ColorType::L8)
                | (tiff::ColorType::GrayA(8), ColorType::La8)
                | (tiff::ColorType::RGB(8), ColorType::Rgb8)
                | (tiff::ColorType::RGBA(8), ColorType::Rgba8)
                | (tiff::ColorType::Gray(16), ColorType::L16)
                | (tiff::ColorType::GrayA(16), ColorType::La16)
                | (tiff::ColorType::RGB(16), ColorType::Rgb16)
                | (tiff::ColorType::RGBA(16), ColorType::Rgba16)
        );
        // Unsigned integer samples, interleaved, in strips: then a strip's decoded bytes are
        // exactly the rows it covers, as the image crate would have copied them.
        let unsigned = tiff.find_tag_unsigned_vec::<u16>(Tag::SampleFormat).ok()?.is_none_or(|f| f.iter().all(|&f| f == 1));
        let chunky = tiff.find_tag_unsigned::<u16>(Tag::PlanarConfiguration).ok()?.is_none_or(|p| p == 1);
        let streamed = STREAMED_COMPRESSIONS.contains(&tiff.find_tag_unsigned::<u16>(Tag::Compression).ok()?.unwrap_or(1));
        if !same_type || !unsigned || !chunky || !streamed || tiff.get_chunk_type() != ChunkType::Strip || tiff.dimensions().ok()? != (width, height) {
            return None;
        }
        let strips = tiff.strip_count().ok()?;
        let rows_per_strip = tiff.chunk_dimensions().1 as usize;
        let row_bytes = width as usize * color.bytes_per_pixel() as usize;
        // One strip gains nothing from threads (and the image crate reads it just as well).
        if strips < 2 || rows_per_strip == 0 || strips as usize != (height as usize).div_ceil(rows_per_strip) {
            return None;
        }
        let total_bytes = height as usize * row_bytes;
        // What the image crate's TIFF decoder would allow: the pixels, and what is left of
        // `max_alloc` for a strip's data and the directory's values.
        let intermediate = usize::try_from(max_alloc.saturating_sub(total_bytes as u64)).unwrap_or(usize::MAX);
        let mut limits = Limits::default();
        limits.decoding_buffer_size = total_bytes;
        limits.intermediate_buffer_size = intermediate;
        limits.ifd_value_size = intermediate;
        Some(Layout { width, height, color, strips, strip_bytes: rows_per_strip * row_bytes, total_bytes, limits })
    }
}

/// A tiff crate error for strip `strip` of `strips`, in the terms the image crate's would get.
fn strip_error(strip: usize, strips: u32, e: TiffError) -> PipelineError {
    let which = format!("TIFF strip {strip} of {strips}");
    match e {
        TiffError::UnsupportedError(e) => PipelineError::Unsupported(format!("{which}: {e}")),
        TiffError::LimitsExceeded => PipelineError::Corrupt(format!("{which} needs more memory to decode than its pixel size allows")),
        e => PipelineError::Corrupt(format!("{which}: {e}")),
    }
}

/// Decodes every strip into one buffer of `T` samples: consecutive strips per task, each task
/// with its own decoder (a few per thread, so that strips of uneven cost still balance).
fn read<T: bytemuck::Pod + Send>(source: Source<'_>, layout: &Layout) -> Result<Vec<T>, PipelineError> {
    let mut samples = vec![T::zeroed(); layout.total_bytes / std::mem::size_of::<T>()];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut samples);
    // Two tasks per thread: each parses the file's directory again (cheap for a real scan).
    let per_task = (layout.strips as usize).div_ceil(rayon::current_num_threads() * 2).max(1);
    bytes.par_chunks_mut(layout.strip_bytes * per_task).enumerate().try_for_each(|(task, run)| {
        let first = task * per_task;
        let mut tiff = Decoder::new(source.reader()).map_err(|e| strip_error(first, layout.strips, e))?.with_limits(layout.limits.clone());
        // A file rewritten since its header was read (a scanner still at it) must not mix.
        if Layout::read(&mut tiff, layout.width, layout.height, layout.color, u64::MAX)
            .is_none_or(|now| (now.strips, now.strip_bytes) != (layout.strips, layout.strip_bytes))
        {
            return Err(PipelineError::Read(std::io::Error::other("the file changed while it was being read")));
        }
        for (i, strip) in run.chunks_mut(layout.strip_bytes).enumerate() {
            tiff.read_chunk_bytes((first + i) as u32, strip).map_err(|e| strip_error(first + i, layout.strips, e))?;
        }
        Ok(())
    })?;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiff::encoder::{colortype, Compression, DeflateLevel, TiffEncoder};
    use tiff::tags::Predictor;

    /// A TIFF of `rows_per_strip`-row strips, made by the tiff crate's encoder.
    fn tiff_file<C: colortype::ColorType>(
        width: u32,
        height: u32,
        data: &[C::Inner],
        rows_per_strip: u32,
        compression: Compression,
        predictor: Predictor,
    ) -> Vec<u8>
    where
        [C::Inner]: tiff::encoder::TiffValue,
    {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut encoder = TiffEncoder::new(&mut out).unwrap().with_compression(compression).with_predictor(predictor);
        let mut image = encoder.new_image::<C>(width, height).unwrap();
        image.rows_per_strip(rows_per_strip).unwrap();
        image.write_data(data).unwrap();
        out.into_inner()
    }

    fn pattern<T: TryFrom<u32>>(n: usize, scale: u32) -> Vec<T>
    where
        T::Error: std::fmt::Debug,
    {
        (0..n as u32).map(|i| T::try_from((i.wrapping_mul(2_654_435_761) >> 7) % scale).unwrap()).collect()
    }

    fn ours(file: &[u8]) -> Option<Result<DynamicImage, PipelineError>> {
        let reference = image::load_from_memory(file).unwrap();
        decode(Source::Bytes(file), reference.width(), reference.height(), reference.color(), u64::MAX)
    }

    /// Every supported type, plain and compressed (LZW, Deflate with and without the
    /// predictor), with strips that do not divide the height: the same pixels as the image crate.
    #[test]
    fn strips_decode_to_the_image_crates_pixels() {
        use Compression::{Deflate, Lzw, Uncompressed};
        let (w, h) = (37u32, 23u32);
        let n = (w * h) as usize;
        let p = Predictor::None;
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("gray8 none", tiff_file::<colortype::Gray8>(w, h, &pattern::<u8>(n, 256), 4, Uncompressed, p)),
            ("gray8 lzw", tiff_file::<colortype::Gray8>(w, h, &pattern::<u8>(n, 256), 5, Lzw, p)),
            ("gray16 deflate", tiff_file::<colortype::Gray16>(w, h, &pattern::<u16>(n, 65536), 3, Deflate(DeflateLevel::Fast), p)),
            ("rgb8 lzw", tiff_file::<colortype::RGB8>(w, h, &pattern::<u8>(3 * n, 256), 2, Lzw, p)),
            ("rgb16 lzw", tiff_file::<colortype::RGB16>(w, h, &pattern::<u16>(3 * n, 65536), 7, Lzw, p)),
            ("rgb16 none", tiff_file::<colortype::RGB16>(w, h, &pattern::<u16>(3 * n, 65536), 1, Uncompressed, p)),
            ("rgba16 deflate", tiff_file::<colortype::RGBA16>(w, h, &pattern::<u16>(4 * n, 65536), 6, Deflate(DeflateLevel::Balanced), p)),
            ("rgba8 lzw", tiff_file::<colortype::RGBA8>(w, h, &pattern::<u8>(4 * n, 256), 9, Lzw, p)),
            // The horizontal predictor, as hued's own TIFF copies and many scanners write it.
            ("rgb16 lzw predictor", tiff_file::<colortype::RGB16>(w, h, &pattern::<u16>(3 * n, 65536), 4, Lzw, Predictor::Horizontal)),
            ("gray8 deflate predictor", tiff_file::<colortype::Gray8>(w, h, &pattern::<u8>(n, 256), 4, Deflate(DeflateLevel::Fast), Predictor::Horizontal)),
        ];
        for (name, file) in &files {
            let expected = image::load_from_memory(file).unwrap();
            let got = ours(file).unwrap_or_else(|| panic!("{name}: not taken")).unwrap();
            assert_eq!(got.color(), expected.color(), "{name}");
            assert_eq!(got.as_bytes(), expected.as_bytes(), "{name}");
        }
    }

    #[test]
    fn one_strip_is_left_to_the_image_crate() {
        let file = tiff_file::<colortype::Gray8>(16, 8, &pattern::<u8>(128, 256), 8, Compression::Lzw, Predictor::None);
        assert!(ours(&file).is_none());
    }

    /// The value of the SHORT tag `tag` in a little-endian TIFF's first directory, set to `value`.
    fn set_short_tag(file: &mut [u8], tag: u16, value: u16) {
        let ifd = u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize;
        let entries = u16::from_le_bytes([file[ifd], file[ifd + 1]]) as usize;
        let entry = (0..entries).map(|i| ifd + 2 + 12 * i).find(|&e| u16::from_le_bytes([file[e], file[e + 1]]) == tag).expect("tag present");
        file[entry + 8..entry + 10].copy_from_slice(&value.to_le_bytes());
    }

    /// JPEG strips are read whole by the tiff crate: several at once would multiply that.
    #[test]
    fn jpeg_compressed_strips_are_left_to_the_image_crate() {
        let mut file = tiff_file::<colortype::RGB8>(16, 16, &pattern::<u8>(768, 256), 4, Compression::Lzw, Predictor::None);
        assert!(decode(Source::Bytes(&file), 16, 16, ColorType::Rgb8, u64::MAX).is_some());
        set_short_tag(&mut file, 259, 7);
        assert!(decode(Source::Bytes(&file), 16, 16, ColorType::Rgb8, u64::MAX).is_none());
    }

    /// The image crate's limit holds here too: a strip whose data is larger than what is left of
    /// the allowance beside the pixels is refused, as the image crate would refuse it.
    #[test]
    fn strips_are_read_under_the_image_crates_memory_limit() {
        let (w, h) = (32u32, 32u32);
        let file = tiff_file::<colortype::Gray8>(w, h, &pattern::<u8>((w * h) as usize, 256), 8, Compression::Uncompressed, Predictor::None);
        let pixels = (w * h) as u64;
        assert!(decode(Source::Bytes(&file), w, h, ColorType::L8, pixels + 8 * w as u64).unwrap().is_ok());
        match decode(Source::Bytes(&file), w, h, ColorType::L8, pixels + 100) {
            Some(Err(PipelineError::Corrupt(message))) => assert!(message.contains("needs more memory"), "{message}"),
            other => panic!("expected the limit to hold, got {:?}", other.map(|r| r.map(|_| ()))),
        }
    }

    /// A damaged strip in a compressed scan: a clear error naming the strip, never a panic.
    #[test]
    fn a_damaged_strip_is_reported() {
        let (w, h) = (64u32, 64u32);
        let file = tiff_file::<colortype::RGB16>(w, h, &pattern::<u16>((3 * w * h) as usize, 65536), 4, Compression::Lzw, Predictor::None);
        // The directory is at the end of the tiff crate's files: damage a strip in the middle.
        let mut broken = file.clone();
        for b in &mut broken[2000..2600] {
            *b = 0xFF;
        }
        match decode(Source::Bytes(&broken), w, h, ColorType::Rgb16, u64::MAX) {
            Some(Err(PipelineError::Corrupt(message))) => assert!(message.contains("TIFF strip"), "{message}"),
            other => panic!("expected an error naming the strip, got {:?}", other.map(|r| r.map(|_| ()))),
        }
    }
}
