//! Stage 4, recombine: carry the low-resolution colors to full resolution along the edges of
//! the full-resolution L (a fast guided filter), apply vividness, and convert Lab → sRGB.

use super::infer::shrink_plane;
use super::prepare::Luma;
use crate::color;
use crate::model::AbLow;
use image::{ImageBuffer, Rgb, RgbImage};
use rayon::prelude::*;

/// A colorized image, in the bit depth of its original.
pub enum Colorized {
    /// 8 bits per channel.
    Rgb8(RgbImage),
    /// 16 bits per channel.
    Rgb16(ImageBuffer<Rgb<u16>, Vec<u16>>),
}

impl Colorized {
    /// (width, height).
    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            Colorized::Rgb8(i) => i.dimensions(),
            Colorized::Rgb16(i) => i.dimensions(),
        }
    }
}

/// Guided-filter radius, in low-resolution pixels.
const RADIUS: usize = 2;
/// Guided-filter regularization (L scaled to 0..1): lower follows L's edges more closely.
const EPS: f32 = 1e-3;

/// Per-pixel linear model `ab ≈ A · L + B` of one channel at low resolution (He et al.,
/// "Guided Image Filtering", with the fast subsampled variant): evaluated at full resolution
/// with the full-resolution L, colors change where L has edges and nowhere else.
struct Linear {
    a: Vec<f32>,
    b: Vec<f32>,
}

fn box_mean(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    // Integral image, so the cost does not depend on the radius.
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += src[y * w + x] as f64;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0] + sat[y0 * (w + 1) + x0];
            out[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

fn guided(guide: &[f32], p: &[f32], w: usize, h: usize) -> Linear {
    let mul = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).collect::<Vec<_>>();
    let mean_i = box_mean(guide, w, h, RADIUS);
    let mean_p = box_mean(p, w, h, RADIUS);
    let corr_ii = box_mean(&mul(guide, guide), w, h, RADIUS);
    let corr_ip = box_mean(&mul(guide, p), w, h, RADIUS);
    let mut a = vec![0f32; w * h];
    let mut b = vec![0f32; w * h];
    for k in 0..w * h {
        let var = corr_ii[k] - mean_i[k] * mean_i[k];
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + EPS);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    Linear { a: box_mean(&a, w, h, RADIUS), b: box_mean(&b, w, h, RADIUS) }
}

/// Bilinear sampling positions of one full-resolution axis in a low-resolution one: the lower
/// neighbour and the weight of the upper one (`i0 + 1`, which the padded rows always have).
fn axis(full: usize, low: usize) -> Vec<(u32, f32)> {
    (0..full)
        .map(|x| {
            let u = ((x as f32 + 0.5) * low as f32 / full as f32 - 0.5).clamp(0.0, (low - 1) as f32);
            let i0 = u.floor();
            (i0 as u32, u - i0)
        })
        .collect()
}

/// The per-pixel linear models of a and b at low resolution, with vividness and L's scale folded
/// in: at a full-resolution pixel, `a = slope_a · L + offset_a` (and likewise b), where each of
/// the four coefficients is sampled bilinearly.
struct ColorField {
    /// slope_a, offset_a, slope_b, offset_b, each `lw` x `lh`.
    planes: [Vec<f32>; 4],
    lw: usize,
    lh: usize,
    xs: Vec<(u32, f32)>,
    ys: Vec<(u32, f32)>,
}

impl ColorField {
    fn new(ca: Linear, cb: Linear, vividness: f32, (lw, lh): (usize, usize), (w, h): (usize, usize)) -> ColorField {
        let scale = |v: Vec<f32>, k: f32| v.into_iter().map(|x| x * k).collect::<Vec<_>>();
        ColorField {
            planes: [scale(ca.a, vividness / 100.0), scale(ca.b, vividness), scale(cb.a, vividness / 100.0), scale(cb.b, vividness)],
            lw,
            lh,
            xs: axis(w, lw),
            ys: axis(h, lh),
        }
    }

    /// The four coefficient rows of full-resolution row `y` (interpolated vertically), each
    /// `lw + 1` long: the last repeats its neighbour, so `x0 + 1` needs no clamp.
    fn rows(&self, y: usize, out: &mut [f32]) {
        let (y0, ty) = self.ys[y];
        let y0 = y0 as usize;
        let y1 = (y0 + 1).min(self.lh - 1);
        let lw = self.lw;
        for (plane, row) in self.planes.iter().zip(out.chunks_exact_mut(lw + 1)) {
            let (top, bottom) = (&plane[y0 * lw..(y0 + 1) * lw], &plane[y1 * lw..(y1 + 1) * lw]);
            for ((o, &t), &b) in row.iter_mut().zip(top).zip(bottom) {
                *o = t + (b - t) * ty;
            }
            row[lw] = row[lw - 1];
        }
    }
}

/// The low-resolution colors `ab` carried to `w` x `h` along the edges of `l` (L, 0..100, at
/// that size) as [`recombine`] carries them to full resolution, at vividness 1.
pub fn upsample_ab(l: &[f32], w: usize, h: usize, ab: &AbLow) -> AbLow {
    let (lw, lh) = (ab.width, ab.height);
    let guide: Vec<f32> = shrink_plane(l, w, h, lw, lh).iter().map(|v| v / 100.0).collect();
    let (ca, cb) = (guided(&guide, &ab.a, lw, lh), guided(&guide, &ab.b, lw, lh));
    let field = ColorField::new(ca, cb, 1.0, (lw, lh), (w, h));
    let mut rows = vec![0f32; 4 * (lw + 1)];
    let (mut a, mut b) = (Vec::with_capacity(w * h), Vec::with_capacity(w * h));
    for (y, l_row) in l.chunks_exact(w).enumerate() {
        field.rows(y, &mut rows);
        let (slope_a, rest) = rows.split_at(lw + 1);
        let (offset_a, rest) = rest.split_at(lw + 1);
        let (slope_b, offset_b) = rest.split_at(lw + 1);
        for (&l, &(x0, tx)) in l_row.iter().zip(&field.xs) {
            let x0 = x0 as usize;
            let at = |r: &[f32]| r[x0] + (r[x0 + 1] - r[x0]) * tx;
            a.push(at(slope_a) * l + at(offset_a));
            b.push(at(slope_b) * l + at(offset_b));
        }
    }
    AbLow { width: w, height: h, a, b }
}

/// Full-resolution color from full-resolution L and low-resolution ab. `vividness` scales
/// chroma (1 = the model's colors); `sixteen_bit` picks the output depth.
pub fn recombine(luma: &Luma, ab: &AbLow, vividness: f32, sixteen_bit: bool) -> Colorized {
    let (w, h) = (luma.width, luma.height);
    let (lw, lh) = (ab.width, ab.height);
    let guide: Vec<f32> = shrink_plane(&luma.l, w, h, lw, lh).iter().map(|v| v / 100.0).collect();
    let (ca, cb) = rayon::join(|| guided(&guide, &ab.a, lw, lh), || guided(&guide, &ab.b, lw, lh));
    let field = ColorField::new(ca, cb, vividness, (lw, lh), (w, h));
    if sixteen_bit {
        let encode = color::srgb16_encoder();
        Colorized::Rgb16(ImageBuffer::from_raw(w as u32, h as u32, fill(&luma.l, w, &field, encode)).expect("buffer sized to the image"))
    } else {
        let encode = color::srgb8_encoder();
        Colorized::Rgb8(ImageBuffer::from_raw(w as u32, h as u32, fill(&luma.l, w, &field, encode)).expect("buffer sized to the image"))
    }
}

/// An interleaved RGB buffer with the color of each pixel of `l` (rows `w` long), each linear
/// channel encoded by `encode`; rows in parallel. This loop runs for every pixel of every scan,
/// so each row goes through three plain passes over row-local buffers (the middle one, the
/// color conversion, free of table lookups so that the compiler vectorizes it).
fn fill<T: Copy + Default + Send>(l: &[f32], w: usize, field: &ColorField, encode: impl Fn(f32) -> T + Sync) -> Vec<T> {
    // Rows are worked on in segments of at most SEGMENT pixels: a row-long buffer per thread
    // would cost 12 bytes a pixel per thread for a photo a few million pixels wide and one high.
    const SEGMENT: usize = 4096;
    let mut buf = vec![T::default(); l.len() * 3];
    let lw = field.lw;
    buf.par_chunks_mut(w * 3).zip(l.par_chunks(w)).enumerate().for_each_init(
        || (vec![0f32; 4 * (lw + 1)], vec![[0f32; 3]; w.min(SEGMENT)]),
        |(rows, lab_rgb), (y, (out, l_row))| {
            field.rows(y, rows);
            let (slope_a, rest) = rows.split_at(lw + 1);
            let (offset_a, rest) = rest.split_at(lw + 1);
            let (slope_b, offset_b) = rest.split_at(lw + 1);
            for ((out, l_seg), xs) in out.chunks_mut(3 * SEGMENT).zip(l_row.chunks(SEGMENT)).zip(field.xs.chunks(SEGMENT)) {
                let lab_rgb = &mut lab_rgb[..l_seg.len()];
                // 1: a and b of each pixel from the interpolated coefficients.
                for ((ab, &l), &(x0, tx)) in lab_rgb.iter_mut().zip(l_seg).zip(xs) {
                    let x0 = x0 as usize;
                    let at = |r: &[f32]| r[x0] + (r[x0 + 1] - r[x0]) * tx;
                    *ab = [l, (at(slope_a) * l + at(offset_a)).clamp(-128.0, 127.0), (at(slope_b) * l + at(offset_b)).clamp(-128.0, 127.0)];
                }
                // 2: Lab → linear RGB, in place.
                for px in lab_rgb.iter_mut() {
                    *px = color::lab_to_linear_rgb(px[0], px[1], px[2]);
                }
                // 3: encode and interleave.
                for (o, c) in out.chunks_exact_mut(3).zip(lab_rgb.iter()) {
                    o[0] = encode(c[0]);
                    o[1] = encode(c[1]);
                    o[2] = encode(c[2]);
                }
            }
        },
    );
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_stops_at_an_edge_of_l_instead_of_bleeding_across() {
        // Left half dark, right half light at full resolution (64 px wide); the low-res ab map
        // (8 px wide) has a = +40 on the left, -40 on the right, with its own transition
        // blurred across two low-res pixels as a model would give it.
        let (w, h) = (64, 8);
        let luma = Luma { width: w, height: h, l: (0..w * h).map(|i| if i % w < 28 { 30.0 } else { 70.0 }).collect() };
        let a: Vec<f32> = (0..8 * 2).map(|i| [40.0, 40.0, 40.0, 20.0, -20.0, -40.0, -40.0, -40.0][i % 8]).collect();
        let ab = AbLow { width: 8, height: 2, a, b: vec![0.0; 16] };
        let out = recombine(&luma, &ab, 1.0, false);
        let Colorized::Rgb8(img) = out else { panic!() };
        // Just left and right of the L edge at x = 28, red and green-blue must already differ
        // clearly: a plain bilinear upsampling would give nearly the same color to both.
        let left = img.get_pixel(26, 4).0;
        let right = img.get_pixel(29, 4).0;
        assert!(left[0] as i32 - left[1] as i32 > 15, "left of the edge should be reddish: {left:?}");
        assert!((right[1] as i32) - (right[0] as i32) > 5, "right of the edge should be greenish: {right:?}");
    }

    /// The per-pixel formula written plainly (what `fill` computes row by row): bilinear
    /// coefficients, `ab = (A·L/100 + B)·vividness`, exact sRGB encoding.
    fn reference_pixel(
        field_src: (&Linear, &Linear),
        lw: usize,
        lh: usize,
        (w, h): (usize, usize),
        l: f32,
        (x, y): (usize, usize),
        vividness: f32,
    ) -> [f32; 3] {
        let pos = |p: usize, full: usize, low: usize| {
            let u = ((p as f32 + 0.5) * low as f32 / full as f32 - 0.5).clamp(0.0, (low - 1) as f32);
            let i0 = u.floor() as usize;
            (i0, (i0 + 1).min(low - 1), u - i0 as f32)
        };
        let ((x0, x1, tx), (y0, y1, ty)) = (pos(x, w, lw), pos(y, h, lh));
        let sample = |p: &[f32]| {
            let top = p[y0 * lw + x0] + (p[y0 * lw + x1] - p[y0 * lw + x0]) * tx;
            let bottom = p[y1 * lw + x0] + (p[y1 * lw + x1] - p[y1 * lw + x0]) * tx;
            top + (bottom - top) * ty
        };
        let (ca, cb) = field_src;
        let a = (sample(&ca.a) * l / 100.0 + sample(&ca.b)) * vividness;
        let b = (sample(&cb.a) * l / 100.0 + sample(&cb.b)) * vividness;
        color::lab_to_linear_rgb(l, a.clamp(-128.0, 127.0), b.clamp(-128.0, 127.0)).map(|c| color::linear_to_srgb_exact(c.clamp(0.0, 1.0)))
    }

    #[test]
    fn row_kernel_matches_the_plain_per_pixel_formula() {
        // An odd-sized photo (neither axis a multiple of the low resolution) with texture in L
        // and varied colors, at both depths.
        let (w, h, lw, lh) = (203, 97, 24, 13);
        let l: Vec<f32> = (0..w * h).map(|i| (((i % w) * 7 + (i / w) * 13) % 100) as f32).collect();
        let luma = Luma { width: w, height: h, l: l.clone() };
        let a: Vec<f32> = (0..lw * lh).map(|i| ((i * 37) % 90) as f32 - 45.0).collect();
        let b: Vec<f32> = (0..lw * lh).map(|i| ((i * 53) % 110) as f32 - 40.0).collect();
        let ab = AbLow { width: lw, height: lh, a: a.clone(), b: b.clone() };
        let guide: Vec<f32> = shrink_plane(&l, w, h, lw, lh).iter().map(|v| v / 100.0).collect();
        let (ca, cb) = (guided(&guide, &a, lw, lh), guided(&guide, &b, lw, lh));
        let (Colorized::Rgb8(img8), Colorized::Rgb16(img16)) = (recombine(&luma, &ab, 1.3, false), recombine(&luma, &ab, 1.3, true)) else { panic!() };
        let (mut worst8, mut worst16) = (0i32, 0i32);
        for y in 0..h {
            for x in 0..w {
                let want = reference_pixel((&ca, &cb), lw, lh, (w, h), l[y * w + x], (x, y), 1.3);
                let (got8, got16) = (img8.get_pixel(x as u32, y as u32).0, img16.get_pixel(x as u32, y as u32).0);
                for (k, want) in want.into_iter().enumerate() {
                    worst8 = worst8.max((got8[k] as i32 - (want * 255.0 + 0.5) as i32).abs());
                    worst16 = worst16.max((got16[k] as i32 - (want * 65535.0 + 0.5) as i32).abs());
                }
            }
        }
        assert!(worst8 <= 1, "8-bit: {worst8} codes off");
        assert!(worst16 <= 8, "16-bit: {worst16} codes off");
    }

    #[test]
    fn zero_vividness_gives_gray_with_the_original_lightness() {
        let luma = Luma { width: 4, height: 4, l: vec![50.0; 16] };
        let ab = AbLow { width: 1, height: 1, a: vec![30.0], b: vec![30.0] };
        let Colorized::Rgb16(img) = recombine(&luma, &ab, 0.0, true) else { panic!() };
        let p = img.get_pixel(2, 2).0;
        assert!(p[0] == p[1] && p[1] == p[2], "{p:?}");
        let l = color::linear_rgb_to_lab([color::srgb_to_linear(p[0] as f32 / 65535.0); 3])[0];
        assert!((l - 50.0).abs() < 0.01, "{l}");
    }
}
