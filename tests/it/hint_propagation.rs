//! Hints that follow the region they fall in (issue 24), through the real `hued colorize` with
//! the shipped model: one hint colors its shape up to the shape's edges, on flat and on
//! textured shapes; strokes from the command line and from a sidecar.

use assert_cmd::Command;
use image::{GrayImage, Luma, RgbImage};
use predicates::prelude::*;
use std::path::Path;

/// 8-bit sRGB gray level of CIELAB lightness `l`.
fn gray_level(l: f64) -> f64 {
    let y = if l > 8.0 { ((l + 16.0) / 116.0).powi(3) } else { l / 903.3 };
    255.0 * if y <= 0.003_130_8 { 12.92 * y } else { 1.055 * y.powf(1.0 / 2.4) - 0.055 }
}

/// CIELAB a* of an 8-bit sRGB pixel.
fn a_star(p: [u8; 3]) -> f64 {
    let lin = p.map(|c| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    let x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
    let y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    let f = |t: f64| if t > 216.0 / 24389.0 { t.cbrt() } else { (24389.0 / 27.0 * t + 16.0) / 116.0 };
    500.0 * (f(x) - f(y))
}

/// A seeded Gaussian-ish grain (sum of uniforms): the same picture on every run.
struct Grain(u64);

impl Grain {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Irwin-Hall, 12 uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// The shapes: a disc of L≈70 on a background of L≈50 (512x384); textured: a fine
/// cloth-like pattern of ±14 levels plus grain of σ 8 levels. Returns the photo and whether
/// each pixel lies in the disc.
fn disc_photo(textured: bool) -> (GrayImage, Vec<bool>) {
    let (w, h) = (512u32, 384u32);
    let (cx, cy, r) = (256.0, 192.0, 110.0);
    let mut grain = Grain(0x9e37_79b9_7f4a_7c15);
    let mut inside = Vec::with_capacity((w * h) as usize);
    let img = GrayImage::from_fn(w, h, |x, y| {
        let disc = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) < r * r;
        let base = gray_level(if disc { 70.0 } else { 50.0 });
        let texture = if textured { 14.0 * (x as f64 * 1.3).sin() * (y as f64 * 1.1).cos() + 8.0 * grain.normal() } else { 0.0 };
        Luma([(base + texture).round().clamp(0.0, 255.0) as u8])
    });
    for y in 0..h {
        for x in 0..w {
            inside.push((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) < r * r);
        }
    }
    (img, inside)
}

fn colorize(input: &Path, flags: &[&str]) -> RgbImage {
    Command::cargo_bin("hued").unwrap().arg("colorize").arg("--force").args(["--levels", "off"]).args(flags).arg(input).assert().success();
    image::open(input.with_file_name(format!("{}.colorized.png", input.file_stem().unwrap().to_str().unwrap()))).unwrap().to_rgb8()
}

/// Shares of the disc's and of the background's pixels whose a* rose by more than 8.
fn reddened(plain: &RgbImage, hinted: &RgbImage, inside: &[bool]) -> (f64, f64) {
    let (mut disc, mut disc_n, mut out, mut out_n) = (0usize, 0usize, 0usize, 0usize);
    for ((p, q), &ins) in plain.pixels().zip(hinted.pixels()).zip(inside) {
        let gained = a_star(q.0) - a_star(p.0) > 8.0;
        if ins {
            disc_n += 1;
            disc += gained as usize;
        } else {
            out_n += 1;
            out += gained as usize;
        }
    }
    (disc as f64 / disc_n as f64, out as f64 / out_n as f64)
}

#[test]
fn one_hint_colors_its_shape_and_stops_at_the_edge_on_flat_and_textured_shapes() {
    let dir = tempfile::tempdir().unwrap();
    for textured in [false, true] {
        let (photo, inside) = disc_photo(textured);
        let input = dir.path().join(if textured { "textured.png" } else { "flat.png" });
        photo.save(&input).unwrap();
        let plain = colorize(&input, &[]);
        let hinted = colorize(&input, &["--hint", "256,192,#c81e1e"]);
        let (disc, outside) = reddened(&plain, &hinted, &inside);
        eprintln!("textured {textured}: {:.1} % of the disc, {:.1} % outside reddened", 100.0 * disc, 100.0 * outside);
        assert!(disc >= 0.90, "textured {textured}: the hint colors only {:.1} % of its disc", 100.0 * disc);
        assert!(outside <= 0.05, "textured {textured}: the hint bleeds onto {:.1} % of the background", 100.0 * outside);
    }
}

#[test]
fn a_stroke_colors_its_region_from_the_command_line_and_from_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (photo, inside) = disc_photo(true);
    let input = dir.path().join("disc.png");
    photo.save(&input).unwrap();
    let plain = colorize(&input, &[]);
    // A short line across the disc's middle, then the same in a sidecar.
    let stroke = colorize(&input, &["--stroke", "200,180 256,200 310,190,#c81e1e"]);
    let (disc, outside) = reddened(&plain, &stroke, &inside);
    assert!(disc >= 0.90 && outside <= 0.05, "stroke: {:.1} % of the disc, {:.1} % outside", 100.0 * disc, 100.0 * outside);
    std::fs::write(dir.path().join("disc.png.hints.toml"), "[[stroke]]\npoints = [[200, 180], [256, 200], [310, 190]]\ncolor = \"#c81e1e\"\n").unwrap();
    assert_eq!(colorize(&input, &[]), stroke, "a sidecar stroke gives the same picture as --stroke");
    // A stroke off the photo is refused, naming the photo and the stroke; the copy made
    // before stays as it was and no temporary file is left.
    let before = std::fs::read(dir.path().join("disc.colorized.png")).unwrap();
    Command::cargo_bin("hued")
        .unwrap()
        .args(["colorize", "--force", "--stroke", "10,10 600,20,#c81e1e"])
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("disc.png").and(predicates::str::contains("stroke 10,10 600,20 has a point outside the 512x384 photo")));
    assert_eq!(std::fs::read(dir.path().join("disc.colorized.png")).unwrap(), before);
    let temps: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".hued-tmp-")).collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
    Command::cargo_bin("hued")
        .unwrap()
        .args(["colorize", "--stroke", "10,10 20,#c81e1e"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("expected \"X1,Y1 X2,Y2 ...,#RRGGBB\""));
}
