//! Camera frames and their decoding: YUYV (4:2:2), MJPEG and GREY, the formats UVC
//! document cameras offer.

use image::{DynamicImage, GrayImage, RgbImage};

pub use crate::config::PixelFormat;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Pixel format of `data`.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The bytes as the camera gave them.
    pub data: Vec<u8>,
}

fn clamp_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Decodes a frame to pixels.
pub fn decode_frame(frame: &Frame) -> anyhow::Result<DynamicImage> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    match frame.format {
        PixelFormat::Grey => {
            anyhow::ensure!(frame.data.len() >= w * h, "GREY frame has {} bytes, expected {}", frame.data.len(), w * h);
            Ok(DynamicImage::ImageLuma8(GrayImage::from_raw(frame.width, frame.height, frame.data[..w * h].to_vec()).expect("sized")))
        }
        PixelFormat::Yuyv => {
            anyhow::ensure!(w % 2 == 0, "YUYV frame width {w} is odd");
            anyhow::ensure!(frame.data.len() >= w * h * 2, "YUYV frame has {} bytes, expected {}", frame.data.len(), w * h * 2);
            let mut rgb = vec![0u8; w * h * 3];
            for (src, dst) in frame.data[..w * h * 2].chunks_exact(4).zip(rgb.chunks_exact_mut(6)) {
                let (u, v) = (src[1] as f32 - 128.0, src[3] as f32 - 128.0);
                for (k, y) in [src[0], src[2]].into_iter().enumerate() {
                    let c = 1.164 * (y as f32 - 16.0);
                    dst[k * 3] = clamp_u8(c + 1.596 * v);
                    dst[k * 3 + 1] = clamp_u8(c - 0.392 * u - 0.813 * v);
                    dst[k * 3 + 2] = clamp_u8(c + 2.017 * u);
                }
            }
            Ok(DynamicImage::ImageRgb8(RgbImage::from_raw(frame.width, frame.height, rgb).expect("sized")))
        }
        PixelFormat::Mjpeg => {
            let img =
                image::load_from_memory_with_format(&frame.data, image::ImageFormat::Jpeg).map_err(|e| anyhow::anyhow!("MJPEG frame does not decode: {e}"))?;
            Ok(img)
        }
    }
}

/// A small gray version of a frame (at most 96 px wide) for the trigger's scene comparisons.
pub fn thumbnail(img: &DynamicImage) -> GrayImage {
    img.thumbnail(96, 96).to_luma8()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BT.601 limited-range encoding, the inverse of the decoder.
    fn to_yuyv(rgb: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        for pair in rgb.as_raw().chunks_exact(6) {
            let yuv = |p: &[u8]| {
                let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
                (16.0 + 0.257 * r + 0.504 * g + 0.098 * b, 128.0 - 0.148 * r - 0.291 * g + 0.439 * b, 128.0 + 0.439 * r - 0.368 * g - 0.071 * b)
            };
            let (y0, u0, v0) = yuv(&pair[0..3]);
            let (y1, u1, v1) = yuv(&pair[3..6]);
            out.extend([y0, (u0 + u1) / 2.0, y1, (v0 + v1) / 2.0].map(clamp_u8));
        }
        out
    }

    fn pattern() -> RgbImage {
        RgbImage::from_fn(64, 32, |x, y| image::Rgb([(x * 4) as u8, (y * 8) as u8, 128]))
    }

    #[test]
    fn yuyv_frame_decodes_to_its_colors() {
        let rgb = pattern();
        let frame = Frame { format: PixelFormat::Yuyv, width: 64, height: 32, data: to_yuyv(&rgb) };
        let out = decode_frame(&frame).unwrap().to_rgb8();
        let max = out.as_raw().iter().zip(rgb.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        // Chroma is shared by pixel pairs: neighbours differ by 4 in red, so allow a little.
        assert!(max <= 6, "max difference {max}");
        let short = Frame { data: vec![0; 10], ..frame };
        assert!(decode_frame(&short).unwrap_err().to_string().contains("expected 4096"));
    }

    #[test]
    fn mjpeg_and_grey_frames_decode() {
        let rgb = pattern();
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(rgb.clone()).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let out = decode_frame(&Frame { format: PixelFormat::Mjpeg, width: 64, height: 32, data: jpeg }).unwrap();
        assert_eq!((out.width(), out.height()), (64, 32));
        let bad = decode_frame(&Frame { format: PixelFormat::Mjpeg, width: 64, height: 32, data: b"garbage".to_vec() });
        assert!(bad.unwrap_err().to_string().contains("MJPEG frame does not decode"));
        let grey: Vec<u8> = (0..64 * 32).map(|i| (i % 256) as u8).collect();
        let out = decode_frame(&Frame { format: PixelFormat::Grey, width: 64, height: 32, data: grey.clone() }).unwrap();
        assert_eq!(out.to_luma8().into_raw(), grey);
    }

    #[test]
    fn format_names() {
        assert_eq!(PixelFormat::parse("mjpeg"), Some(PixelFormat::Mjpeg));
        assert_eq!(PixelFormat::parse("GRAY"), Some(PixelFormat::Grey));
        assert_eq!(PixelFormat::parse("H264"), None);
    }
}
