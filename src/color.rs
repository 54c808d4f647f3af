//! sRGB ⇄ CIELAB (D65) conversions, the same formulas as `training/colorspace.py`.
//!
//! L is in 0..=100; a and b roughly in -110..=110. The transfer curves go through lookup
//! tables because a 12 MP photo needs ~36 M of them and `powf` would dominate the run time.

use std::sync::OnceLock;

const DELTA: f32 = 6.0 / 29.0;
const WHITE: [f32; 3] = [0.95047, 1.0, 1.08883];
/// XYZ (D65) → linear sRGB.
const XYZ_TO_RGB: [[f32; 3]; 3] = [[3.240_454_2, -1.537_138_5, -0.498_531_4], [-0.969_266, 1.876_010_8, 0.041_556], [0.055_643_4, -0.204_025_9, 1.057_225_2]];
/// Linear sRGB → XYZ (D65), divided by the white point.
const RGB_TO_XYZ_N: [[f32; 3]; 3] = [
    [0.412_456_4 / 0.95047, 0.357_576_1 / 0.95047, 0.180_437_5 / 0.95047],
    [0.212_672_9, 0.715_152_2, 0.072_175],
    [0.019_333_9 / 1.08883, 0.119_192 / 1.08883, 0.950_304_1 / 1.08883],
];

/// sRGB-encoded value in 0..=1 → linear light.
pub(crate) fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light → sRGB-encoded value, the exact curve (the tables below are made from it).
pub(crate) fn linear_to_srgb_exact(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

const ENC_LUT_SIZE: usize = 4096;

fn encode_lut() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=ENC_LUT_SIZE).map(|i| linear_to_srgb_exact(i as f32 / ENC_LUT_SIZE as f32)).collect())
}

/// Linear light → sRGB-encoded value in 0..=1 (clamped), via a table with linear interpolation
/// (max error ~1e-5, well under one 16-bit code).
#[cfg(test)]
#[inline]
pub(crate) fn linear_to_srgb(c: f32) -> f32 {
    interpolate(encode_lut(), c)
}

/// A table of a curve on 0..=1 (entries at 0, 1/n, …, 1) read at `x` (clamped), linearly
/// interpolated.
#[inline]
fn interpolate(lut: &[f32], x: f32) -> f32 {
    let n = lut.len() - 1;
    let x = x.clamp(0.0, 1.0) * n as f32;
    let i = (x as usize).min(n - 1);
    lut[i] + (lut[i + 1] - lut[i]) * (x - i as f32)
}

const ENC8_LUT_SIZE: usize = 16384;

fn encode8_lut() -> &'static [u8] {
    static LUT: OnceLock<Vec<u8>> = OnceLock::new();
    LUT.get_or_init(|| (0..=ENC8_LUT_SIZE).map(|i| (linear_to_srgb_exact(i as f32 / ENC8_LUT_SIZE as f32) * 255.0 + 0.5) as u8).collect())
}

/// Linear light → 8-bit sRGB code (clamped), straight from a table looked up once, for loops
/// over every pixel: the table's step moves the result by at most 0.1 code, so it is the exactly
/// rounded code or one of its neighbours.
pub(crate) fn srgb8_encoder() -> impl Fn(f32) -> u8 + Sync + Copy {
    let lut = encode8_lut();
    move |c: f32| lut[((c.clamp(0.0, 1.0) * ENC8_LUT_SIZE as f32) + 0.5) as usize]
}

/// Linear light → 16-bit sRGB code (clamped), through [`linear_to_srgb`]'s table with its
/// lookup hoisted, for loops over every pixel.
pub(crate) fn srgb16_encoder() -> impl Fn(f32) -> u16 + Sync + Copy {
    let lut = encode_lut();
    move |c: f32| (interpolate(lut, c) * 65535.0 + 0.5) as u16
}

#[inline]
fn f(t: f32) -> f32 {
    if t > DELTA * DELTA * DELTA {
        t.cbrt()
    } else {
        t / (3.0 * DELTA * DELTA) + 4.0 / 29.0
    }
}

/// Written as a select of both branches (no jump), so loops over pixels vectorize.
#[inline]
fn f_inv(t: f32) -> f32 {
    let cube = t * t * t;
    let linear = 3.0 * DELTA * DELTA * (t - 4.0 / 29.0);
    if t > DELTA {
        cube
    } else {
        linear
    }
}

/// Relative luminance Y (0..=1) → L* (0..=100).
#[inline]
pub(crate) fn luminance_to_l(y: f32) -> f32 {
    116.0 * f(y) - 16.0
}

const L_LUT_SIZE: usize = 4096;

fn l_lut() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=L_LUT_SIZE).map(|i| luminance_to_l(i as f32 / L_LUT_SIZE as f32)).collect())
}

/// [`luminance_to_l`] (clamped to 0..=1) through a table with linear interpolation, for loops
/// over every pixel: the cube root dominated preparing a scan. Error under 0.001 L.
pub(crate) fn l_of_luminance() -> impl Fn(f32) -> f32 + Sync + Copy {
    let lut = l_lut();
    move |y: f32| interpolate(lut, y)
}

/// Linear RGB → Lab.
pub(crate) fn linear_rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let xyz = RGB_TO_XYZ_N.map(|row| row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2]);
    let (fx, fy, fz) = (f(xyz[0]), f(xyz[1]), f(xyz[2]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Lab → linear RGB (not clamped).
#[inline]
pub(crate) fn lab_to_linear_rgb(l: f32, a: f32, b: f32) -> [f32; 3] {
    let fy = (l + 16.0) / 116.0;
    let x = f_inv(fy + a / 500.0) * WHITE[0];
    let y = f_inv(fy) * WHITE[1];
    let z = f_inv(fy - b / 200.0) * WHITE[2];
    XYZ_TO_RGB.map(|row| row[0] * x + row[1] * y + row[2] * z)
}

/// L* of each 8-bit sRGB gray level.
pub(crate) fn gray8_to_l_lut() -> &'static [f32; 256] {
    static LUT: OnceLock<[f32; 256]> = OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|i| luminance_to_l(srgb_to_linear(i as f32 / 255.0))))
}

/// Linear light of each 8-bit sRGB code.
pub(crate) fn srgb8_to_linear_lut() -> &'static [f32; 256] {
    static LUT: OnceLock<[f32; 256]> = OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0)))
}

/// Linear light of each 16-bit sRGB code.
pub(crate) fn srgb16_to_linear_lut() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=u16::MAX as u32).map(|i| srgb_to_linear(i as f32 / 65535.0)).collect())
}

/// Relative luminance of linear sRGB.
#[inline]
pub(crate) fn luminance(r: f32, g: f32, b: f32) -> f32 {
    RGB_TO_XYZ_N[1][0] * r + RGB_TO_XYZ_N[1][1] * g + RGB_TO_XYZ_N[1][2] * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_gray_and_red_match_the_python_reference() {
        let w = linear_rgb_to_lab([1.0, 1.0, 1.0]);
        assert!((w[0] - 100.0).abs() < 1e-3 && w[1].abs() < 1e-2 && w[2].abs() < 1e-2, "{w:?}");
        let g = linear_rgb_to_lab([srgb_to_linear(0.5); 3]);
        assert!((g[0] - 53.389).abs() < 1e-2, "{g:?}");
        let r = linear_rgb_to_lab([1.0, 0.0, 0.0]);
        assert!((r[0] - 53.2408).abs() < 1e-2 && (r[1] - 80.0924).abs() < 2e-2 && (r[2] - 67.2032).abs() < 2e-2, "{r:?}");
    }

    #[test]
    fn lab_round_trip_is_within_a_fraction_of_an_8bit_code() {
        for &(r, g, b) in &[(0.1f32, 0.5f32, 0.9f32), (0.9, 0.2, 0.3), (0.5, 0.5, 0.5), (0.02, 0.01, 0.0)] {
            let lab = linear_rgb_to_lab([r, g, b].map(srgb_to_linear));
            let back = lab_to_linear_rgb(lab[0], lab[1], lab[2]).map(linear_to_srgb);
            for (x, y) in [r, g, b].iter().zip(back) {
                assert!((x - y).abs() < 0.5 / 255.0, "{r} {g} {b} -> {back:?}");
            }
        }
    }

    #[test]
    fn eight_bit_encode_table_is_within_one_code_of_exact_rounding() {
        let linear_to_srgb8 = srgb8_encoder();
        let mut off = 0;
        for i in 0..=100_000 {
            let c = i as f32 / 100_000.0;
            let exact = (linear_to_srgb_exact(c) * 255.0 + 0.5) as i32;
            let got = linear_to_srgb8(c) as i32;
            assert!((got - exact).abs() <= 1, "{c}: {got} vs {exact}");
            off += (got != exact) as u32;
        }
        assert!(off < 1000, "{off} of 100001 values off by one");
        assert_eq!((linear_to_srgb8(-0.5), linear_to_srgb8(2.0)), (0, 255));
    }

    #[test]
    fn lightness_table_matches_the_exact_curve() {
        let to_l = l_of_luminance();
        for i in 0..=100_000 {
            let y = i as f32 / 100_000.0;
            assert!((to_l(y) - luminance_to_l(y)).abs() < 1e-3, "{y}: {} vs {}", to_l(y), luminance_to_l(y));
        }
    }

    #[test]
    fn encode_table_matches_the_exact_curve() {
        for i in 0..=1000 {
            let c = i as f32 / 1000.0;
            assert!((linear_to_srgb(c) - linear_to_srgb_exact(c)).abs() < 2e-5, "{c}");
        }
    }
}
