//! Stage 2, prepare: keep only lightness (which removes sepia and tints by construction),
//! tell real color photos from tinted ones, and stretch the levels.

use crate::color;
use crate::config::LevelsMode;
use crate::job::Levels;
use image::DynamicImage;
use rayon::prelude::*;

/// Full-resolution lightness L* (0..=100), row-major.
#[derive(Debug, Clone)]
pub struct Luma {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// L*, one value per pixel.
    pub l: Vec<f32>,
}

/// L* of every pixel (alpha is ignored).
pub fn lightness(image: &DynamicImage) -> Luma {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut l = vec![0f32; width * height];
    let rows = l.par_chunks_mut(width.max(1));
    match image {
        DynamicImage::ImageLuma8(img) => {
            let lut = color::gray8_to_l_lut();
            rows.zip(img.par_chunks(width)).for_each(|(dst, src)| dst.iter_mut().zip(src).for_each(|(d, &s)| *d = lut[s as usize]));
        }
        DynamicImage::ImageLuma16(img) => {
            let (lut, to_l) = (color::srgb16_to_linear_lut(), color::l_of_luminance());
            rows.zip(img.par_chunks(width)).for_each(|(dst, src)| dst.iter_mut().zip(src).for_each(|(d, &s)| *d = to_l(lut[s as usize])));
        }
        DynamicImage::ImageRgb8(img) => rgb_rows_to_l(rows, img.par_chunks(width * 3), color::srgb8_to_linear_lut()),
        DynamicImage::ImageRgb16(img) => rgb_rows_to_l(rows, img.par_chunks(width * 3), color::srgb16_to_linear_lut()),
        other => {
            // Rarer layouts (with alpha, float): convert row by row through 16-bit RGB.
            let rgb = other.to_rgb16();
            return lightness(&DynamicImage::ImageRgb16(rgb));
        }
    }
    Luma { width, height, l }
}

/// L* of RGB rows (8 or 16 bit), through the sRGB → linear table of that depth.
fn rgb_rows_to_l<'a, T: Copy + Into<usize> + Sync + 'a>(rows: rayon::slice::ChunksMut<'_, f32>, src: rayon::slice::Chunks<'a, T>, lut: &[f32]) {
    let to_l = color::l_of_luminance();
    rows.zip(src).for_each(|(dst, src)| {
        for (d, p) in dst.iter_mut().zip(src.chunks_exact(3)) {
            *d = to_l(color::luminance(lut[p[0].into()], lut[p[1].into()], lut[p[2].into()]));
        }
    });
}

/// The image shrunk to fit `side` x `side` by area averaging, as 8-bit RGB. 8- and 16-bit RGB
/// (scans) go through fast_image_resize's SIMD box filter: image's `thumbnail` took 0.2 s on a
/// 50 MP 16-bit scan, as long as colorizing the rest of it.
fn thumbnail_rgb8(image: &DynamicImage, side: u32) -> image::RgbImage {
    use fast_image_resize::{images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    let (w, h) = (image.width(), image.height());
    let scale = (side as f64 / w as f64).min(side as f64 / h as f64);
    if scale >= 1.0 {
        return image.to_rgb8();
    }
    let (tw, th) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
    let (bytes, pixel): (&[u8], PixelType) = match image {
        DynamicImage::ImageRgb8(i) => (i.as_raw(), PixelType::U8x3),
        DynamicImage::ImageRgb16(i) => (bytemuck::cast_slice(i.as_raw()), PixelType::U16x3),
        other => return other.thumbnail(side, side).to_rgb8(),
    };
    let src = ImageRef::new(w, h, bytes, pixel).expect("buffer matches its dimensions");
    let mut dst = Image::new(tw, th, pixel);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    Resizer::new().resize(&src, &mut dst, &options).expect("same pixel type in and out");
    match pixel {
        PixelType::U8x3 => image::RgbImage::from_raw(tw, th, dst.into_vec()).expect("sized by the resizer"),
        _ => {
            let wide: Vec<u16> = bytemuck::pod_collect_to_vec(dst.buffer());
            DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(tw, th, wide).expect("sized by the resizer")).to_rgb8()
        }
    }
}

/// Why an image counts as "already in color", for the skip message and for tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorStats {
    /// 97th percentile of the chroma that lies off the image's tint (see [`color_stats`]).
    pub off_tint_p97: f32,
}

/// Above this, an image has colors no tint explains. Measured on ../shared/data: the 59
/// gray and toned historical scans reach 5.9, the hand-tinted one 12.7; 86 % of the color
/// validation photos exceed 6 (the rest are nearly monochrome: a husky in snow, a gray
/// trombone). The threshold errs towards colorizing: skipping a sepia scan is the worse mistake.
pub const OFF_TINT_THRESHOLD: f32 = 6.5;

impl ColorStats {
    /// True for real color: chroma that no tint explains.
    pub fn is_color(&self) -> bool {
        self.off_tint_p97 > OFF_TINT_THRESHOLD
    }
}

/// Measures color on a thumbnail (256 px; averaging also quiets JPEG chroma noise). A toned
/// print (sepia, selenium, cyanotype, a faded or yellowed one) puts each pixel's (a, b) on a
/// ray from gray whose direction may turn with lightness (albumen prints are redder in the
/// shadows than in the highlights) and whose strength may vary across the print (stains,
/// uneven fading). So, per band of 10 L units, the distance of each pixel's (a, b) from its
/// band's tint ray is measured; real color has many hues at one lightness and lies off it.
pub fn color_stats(image: &DynamicImage) -> ColorStats {
    if !image.color().has_color() {
        return ColorStats { off_tint_p97: 0.0 };
    }
    let thumb = thumbnail_rgb8(image, 256);
    let lut = color::srgb8_to_linear_lut();
    let lab: Vec<[f32; 3]> = thumb.pixels().map(|p| color::linear_rgb_to_lab(p.0.map(|v| lut[v as usize]))).collect();
    let direction = |sum: (f64, f64)| {
        let n = sum.0.hypot(sum.1);
        (n > 0.0).then(|| ((sum.0 / n) as f32, (sum.1 / n) as f32))
    };
    let band = |l: f32| ((l / 10.0) as usize).min(9);
    let mut sums = [(0f64, 0f64, 0usize); 10];
    let mut all = (0f64, 0f64);
    for p in &lab {
        let s = &mut sums[band(p[0])];
        s.0 += p[1] as f64;
        s.1 += p[2] as f64;
        s.2 += 1;
        all.0 += p[1] as f64;
        all.1 += p[2] as f64;
    }
    let global = direction(all).unwrap_or((1.0, 0.0));
    let rays: Vec<(f32, f32)> = sums
        .iter()
        .map(|&(a, b, n)| {
            // A band whose mean is nearly gray has no tint of its own: use the image's.
            let mean_chroma = if n > 0 { (a.hypot(b) / n as f64) as f32 } else { 0.0 };
            if mean_chroma > 2.0 {
                direction((a, b)).unwrap_or(global)
            } else {
                global
            }
        })
        .collect();
    let mut off: Vec<f32> = lab
        .iter()
        .map(|p| {
            let (na, nb) = rays[band(p[0])];
            (p[1] * nb - p[2] * na).abs()
        })
        .collect();
    off.sort_by(|x, y| x.total_cmp(y));
    ColorStats { off_tint_p97: off[(off.len() - 1) * 97 / 100] }
}

/// A faded print's signature, for `levels = "auto"`: its blacks have faded (the 0.5th
/// percentile of L at or above this), and its whole tonal range is compressed.
pub const FADED_MIN_BLACK: f32 = 12.0;
/// ... to at most this many L units between the 0.5th and 99.5th percentiles.
pub const FADED_MAX_RANGE: f32 = 75.0;

/// Whether a scan looks faded (lifted blacks and a compressed range), the test `levels = "auto"`
/// applies. Decided on the 60 historical scans and the 120 validation photos (MODEL_CARD.md,
/// "Levels"): it picks the visibly faded prints (FadedDelores, BlindmansBluff, BikeMaidens,
/// bicycles, 1920sDancing) and 6 % of well-exposed color photos (fog, haze), where a full
/// stretch re-toned 50 % of them before.
pub fn is_faded(luma: &Luma) -> bool {
    faded(&histogram(luma), luma.l.len())
}

fn faded(hist: &[u64], total: usize) -> bool {
    let (lo, hi) = (percentile(hist, total, 0.5), percentile(hist, total, 99.5));
    lo >= FADED_MIN_BLACK && hi - lo <= FADED_MAX_RANGE
}

/// The levels stage: per `levels.mode`, stretch or keep. Returns the black and white points
/// used, None when the tones were kept.
pub fn apply_levels(luma: &mut Luma, levels: &Levels) -> Option<(f32, f32)> {
    if levels.mode == LevelsMode::Off {
        return None;
    }
    // One histogram serves the faded test and the stretch.
    let hist = histogram(luma);
    if levels.mode == LevelsMode::Auto && !faded(&hist, luma.l.len()) {
        return None;
    }
    stretch(luma, &hist, levels.low_percent, levels.high_percent)
}

const BINS: usize = 1000;

fn histogram(luma: &Luma) -> Vec<u64> {
    luma.l
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut h = vec![0u64; BINS];
            for &v in chunk {
                h[((v * (BINS as f32 / 100.0)) as usize).min(BINS - 1)] += 1;
            }
            h
        })
        .reduce(
            || vec![0u64; BINS],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

fn percentile(hist: &[u64], total: usize, p: f32) -> f32 {
    let target = total as f64 * p as f64 / 100.0;
    let mut acc = 0.0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c as f64;
        if acc >= target {
            return (i as f32 + 0.5) * 100.0 / BINS as f32;
        }
    }
    100.0
}

/// Stretches L so that `low_percent` % of pixels fall at or below black and the pixels above
/// the `high_percent` percentile at or above white. Returns the black and white points used,
/// or None when the image is nearly flat (stretching it would only amplify noise).
pub fn auto_levels(luma: &mut Luma, low_percent: f32, high_percent: f32) -> Option<(f32, f32)> {
    let hist = histogram(luma);
    stretch(luma, &hist, low_percent, high_percent)
}

fn stretch(luma: &mut Luma, hist: &[u64], low_percent: f32, high_percent: f32) -> Option<(f32, f32)> {
    let (lo, hi) = (percentile(hist, luma.l.len(), low_percent), percentile(hist, luma.l.len(), high_percent));
    if hi - lo < 10.0 || (lo < 0.5 && hi > 99.5) {
        return None;
    }
    let gain = 100.0 / (hi - lo);
    luma.l.par_iter_mut().for_each(|v| *v = ((*v - lo) * gain).clamp(0.0, 100.0));
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn tinted(tint: [f32; 3]) -> DynamicImage {
        // A gray ramp multiplied by a tint: what sepia toning looks like.
        DynamicImage::ImageRgb8(RgbImage::from_fn(200, 100, |x, _| {
            let g = x as f32 / 199.0;
            Rgb(tint.map(|t| (g * t * 255.0) as u8))
        }))
    }

    #[test]
    fn gray_and_sepia_are_not_color_but_a_two_hue_photo_is() {
        assert!(!color_stats(&tinted([1.0, 1.0, 1.0])).is_color());
        assert!(!color_stats(&tinted([1.0, 0.85, 0.65])).is_color(), "{:?}", color_stats(&tinted([1.0, 0.85, 0.65])));
        assert!(!color_stats(&tinted([0.7, 0.85, 1.0])).is_color());
        let two = DynamicImage::ImageRgb8(RgbImage::from_fn(200, 100, |x, _| if x < 100 { Rgb([200, 60, 40]) } else { Rgb([40, 90, 200]) }));
        assert!(color_stats(&two).is_color(), "{:?}", color_stats(&two));
    }

    #[test]
    fn sepia_and_gray_give_the_same_lightness() {
        // Keeping L only is what neutralizes a tint: the model never sees it.
        let gray = lightness(&DynamicImage::ImageLuma8(image::GrayImage::from_fn(10, 1, |x, _| image::Luma([x as u8 * 25]))));
        assert_eq!(gray.l.len(), 10);
        assert!(gray.l.windows(2).all(|w| w[0] < w[1]));
        assert!((gray.l[0]).abs() < 1e-4);
    }

    #[test]
    fn auto_levels_stretches_a_faded_print_and_leaves_a_flat_one() {
        let mut faded = Luma { width: 100, height: 1, l: (0..100).map(|i| 30.0 + i as f32 * 0.4).collect() };
        let (lo, hi) = auto_levels(&mut faded, 0.5, 99.5).unwrap();
        assert!((lo - 30.0).abs() < 1.0 && (hi - 69.6).abs() < 1.0, "{lo} {hi}");
        assert!(faded.l[0] < 1.0 && faded.l[99] > 99.0);
        let mut flat = Luma { width: 10, height: 1, l: vec![50.0; 10] };
        assert_eq!(auto_levels(&mut flat, 0.5, 99.5), None);
        assert_eq!(flat.l, vec![50.0; 10]);
    }

    fn ramp(lo: f32, hi: f32) -> Luma {
        Luma { width: 1000, height: 1, l: (0..1000).map(|i| lo + (hi - lo) * i as f32 / 999.0).collect() }
    }

    #[test]
    fn auto_stretches_a_faded_print_only_and_on_forces_it() {
        let levels = |mode| Levels { mode, low_percent: 0.5, high_percent: 99.5 };
        // Lifted blacks and a compressed range: a faded print.
        let mut faded = ramp(25.0, 85.0);
        assert!(is_faded(&faded));
        assert!(apply_levels(&mut faded, &levels(LevelsMode::Auto)).is_some());
        assert!(faded.l[0] < 1.0 && faded.l[999] > 99.0);
        // A well-exposed photo, and a dark low-key one with real blacks: kept as they are.
        for (lo, hi) in [(2.0, 97.0), (1.0, 60.0), (20.0, 99.0)] {
            let mut kept = ramp(lo, hi);
            let before = kept.l.clone();
            assert!(!is_faded(&kept), "{lo}..{hi}");
            assert_eq!(apply_levels(&mut kept, &levels(LevelsMode::Auto)), None);
            assert_eq!(kept.l, before);
        }
        // On: stretched whenever not flat; off: never.
        let mut forced = ramp(5.0, 90.0);
        assert!(apply_levels(&mut forced, &levels(LevelsMode::On)).is_some());
        let mut off = ramp(25.0, 85.0);
        assert_eq!(apply_levels(&mut off, &levels(LevelsMode::Off)), None);
    }
}
