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

/// Bilinear sampling positions of one full-resolution axis in a low-resolution one.
fn axis(full: usize, low: usize) -> Vec<(usize, usize, f32)> {
    (0..full)
        .map(|x| {
            let u = ((x as f32 + 0.5) * low as f32 / full as f32 - 0.5).clamp(0.0, (low - 1) as f32);
            let i0 = u.floor() as usize;
            (i0, (i0 + 1).min(low - 1), u - i0 as f32)
        })
        .collect()
}

/// Full-resolution color from full-resolution L and low-resolution ab. `vividness` scales
/// chroma (1 = the model's colors); `sixteen_bit` picks the output depth.
pub fn recombine(luma: &Luma, ab: &AbLow, vividness: f32, sixteen_bit: bool) -> Colorized {
    let (w, h) = (luma.width, luma.height);
    let (lw, lh) = (ab.width, ab.height);
    let guide: Vec<f32> = shrink_plane(&luma.l, w, h, lw, lh).iter().map(|v| v / 100.0).collect();
    let ca = guided(&guide, &ab.a, lw, lh);
    let cb = guided(&guide, &ab.b, lw, lh);
    let xs = axis(w, lw);
    let ys = axis(h, lh);
    let sample = |plane: &[f32], (y0, y1, ty): (usize, usize, f32), (x0, x1, tx): (usize, usize, f32)| {
        let top = plane[y0 * lw + x0] + (plane[y0 * lw + x1] - plane[y0 * lw + x0]) * tx;
        let bottom = plane[y1 * lw + x0] + (plane[y1 * lw + x1] - plane[y1 * lw + x0]) * tx;
        top + (bottom - top) * ty
    };
    let pixel = |y: usize, x: usize| -> [f32; 3] {
        let l = luma.l[y * w + x];
        let i = l / 100.0;
        let (yy, xx) = (ys[y], xs[x]);
        let a = (sample(&ca.a, yy, xx) * i + sample(&ca.b, yy, xx)) * vividness;
        let b = (sample(&cb.a, yy, xx) * i + sample(&cb.b, yy, xx)) * vividness;
        color::lab_to_srgb(l, a.clamp(-128.0, 127.0), b.clamp(-128.0, 127.0))
    };
    if sixteen_bit {
        Colorized::Rgb16(ImageBuffer::from_raw(w as u32, h as u32, fill(w, h, pixel, |v| (v * 65535.0 + 0.5) as u16)).expect("buffer sized to the image"))
    } else {
        Colorized::Rgb8(ImageBuffer::from_raw(w as u32, h as u32, fill(w, h, pixel, |v| (v * 255.0 + 0.5) as u8)).expect("buffer sized to the image"))
    }
}

/// An interleaved RGB buffer of `w` x `h` with `pixel(y, x)` (0..=1) quantized by `quantize`,
/// rows in parallel.
fn fill<T: Copy + Default + Send>(w: usize, h: usize, pixel: impl Fn(usize, usize) -> [f32; 3] + Sync, quantize: impl Fn(f32) -> T + Sync) -> Vec<T> {
    let mut buf = vec![T::default(); w * h * 3];
    buf.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let c = pixel(y, x);
            for k in 0..3 {
                px[k] = quantize(c[k]);
            }
        }
    });
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
