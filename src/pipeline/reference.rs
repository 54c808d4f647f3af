//! The reference stage: colors from a color photo the user trusts (a postcard of the same
//! church, a color print of the same street), turned into confident color hints that the
//! propagation and the network's hint channels carry over the photo.
//!
//! The method, training-free: both photos' lightness at three small working sizes, each minus
//! its local mean (its detail: lighting, exposure and the smooth gradients of skies and
//! backdrops drop out); the reference placed over the photo at the size and shift where the
//! details' normalized cross-correlation is highest, every placement tried at the coarsest
//! size and the best refined at the finer ones; accepted only where that correlation is high
//! over a large overlap, then checked block by block. Each block that agrees gives a point hint with the reference's color there, away
//! from edges. A reference of something else finds no placement that correlates, gives no hint,
//! and changes nothing: the stage does no harm by construction, and says how much matched.
//!
//! It matches the same scene seen at another scale, framing and exposure (the archive's
//! postcard of the place); a different photo of the same person or object (another pose) does
//! not correlate and contributes nothing. docs/performance.md, "Reference photos", has the
//! measurements.

use super::infer::shrink_plane;
use super::prepare::Luma;
use crate::color::{lab_to_linear_rgb, srgb8_encoder};
use crate::hints::Hint;
pub use crate::reference::Reference;
use rayon::prelude::*;

/// Long sides of the photo's lightness at the three search levels: every placement is tried at
/// the coarse one, the best few refined at the others.
const LEVELS: [usize; 3] = [32, 64, 128];
/// The reference's size over the photo that is searched: its long side from this share of the
/// photo's long side...
const MIN_SCALE: f32 = 0.3;
/// ...to this multiple of it.
const MAX_SCALE: f32 = 2.5;
/// Scales tried at the coarse level (log-spaced; the finer levels search between them).
const SCALES: usize = 18;
/// The overlap must cover at least this share of the photo (a small overlap correlates by
/// chance).
const MIN_OVERLAP: f32 = 0.2;
/// A placement is taken when the detail of the two lightnesses (each minus its local mean)
/// correlates at least this well at the finest level.
const ACCEPT_NCC: f32 = 0.6;
/// A block of the overlap gives a hint when its detail correlates at least this well (or both
/// photos are flat there and agree in lightness).
const BLOCK_NCC: f32 = 0.5;
/// Block side at the finest level, in its pixels.
const BLOCK: usize = 8;

/// What a reference gave one photo.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matched {
    /// Point hints with the reference's colors, in the photo's pixels.
    pub hints: Vec<Hint>,
    /// The share of the photo those hints stand for (0: nothing matched).
    pub coverage: f32,
    /// The placement's correlation at the finest level (0 where none was found).
    pub score: f32,
}

/// A plane of values and its size.
#[derive(Clone)]
struct Plane {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Plane {
    /// `src` (`w` x `h`) resized to `dw` x `dh`.
    fn resized(src: &[f32], w: usize, h: usize, dw: usize, dh: usize) -> Plane {
        Plane { w: dw.max(1), h: dh.max(1), v: shrink_plane(src, w, h, dw.max(1), dh.max(1)) }
    }

    /// `src` with its long side brought to `long`.
    fn long_side(src: &[f32], w: usize, h: usize, long: usize) -> Plane {
        let s = long as f32 / w.max(h) as f32;
        Plane::resized(src, w, h, (w as f32 * s).round() as usize, (h as f32 * s).round() as usize)
    }

    /// Its detail: each value minus the mean of its 5x5 neighbourhood (what stays when the
    /// lighting, the exposure and the smooth gradients of sky and backdrop are taken away).
    fn detail(&self) -> Plane {
        let sums = Integral::of(&self.v, self.w, self.h);
        let mut v = vec![0f32; self.v.len()];
        for y in 0..self.h {
            for x in 0..self.w {
                let (x0, y0, x1, y1) = (x.saturating_sub(2), y.saturating_sub(2), (x + 3).min(self.w), (y + 3).min(self.h));
                let n = ((x1 - x0) * (y1 - y0)) as f64;
                v[y * self.w + x] = self.v[y * self.w + x] - (sums.sum(x0, y0, x1, y1) / n) as f32;
            }
        }
        Plane { w: self.w, h: self.h, v }
    }

    /// Bilinear sample at (x, y), clamped to the plane.
    fn at(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x: usize, y: usize| self.v[y * self.w + x];
        (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy) + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
    }
}

/// Summed-area tables of a plane and of its squares: any rectangle's sum and sum of squares in
/// four lookups.
struct Integral {
    w: usize,
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Integral {
    fn of(v: &[f32], w: usize, h: usize) -> Integral {
        let (mut sum, mut sq) = (vec![0f64; (w + 1) * (h + 1)], vec![0f64; (w + 1) * (h + 1)]);
        for y in 0..h {
            let (mut row, mut row_sq) = (0f64, 0f64);
            for x in 0..w {
                let a = v[y * w + x] as f64;
                row += a;
                row_sq += a * a;
                sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + row;
                sq[(y + 1) * (w + 1) + x + 1] = sq[y * (w + 1) + x + 1] + row_sq;
            }
        }
        Integral { w: w + 1, sum, sq }
    }

    fn rect(t: &[f64], w: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        t[y1 * w + x1] - t[y0 * w + x1] - t[y1 * w + x0] + t[y0 * w + x0]
    }

    fn sum(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        Integral::rect(&self.sum, self.w, x0, y0, x1, y1)
    }

    fn sum_sq(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        Integral::rect(&self.sq, self.w, x0, y0, x1, y1)
    }
}

/// A plane's detail with its tables.
struct Searched {
    plane: Plane,
    sums: Integral,
}

impl Searched {
    fn of(plane: &Plane) -> Searched {
        let plane = plane.detail();
        let sums = Integral::of(&plane.v, plane.w, plane.h);
        Searched { plane, sums }
    }
}

/// A placement: the reference, resized to `size`, with its top-left corner at (x, y) of the
/// photo's plane at one level.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placement {
    /// The reference's long side in the level's pixels.
    size: usize,
    x: isize,
    y: isize,
}

/// Normalized cross-correlation of the photo's detail `t` and the reference's `r` placed at
/// (x, y), over their overlap; with the share of the photo it covers.
fn ncc(t: &Searched, r: &Searched, x: isize, y: isize) -> (f32, f32) {
    let (tw, th, rw, rh) = (t.plane.w as isize, t.plane.h as isize, r.plane.w as isize, r.plane.h as isize);
    let (x0, y0, x1, y1) = (x.max(0), y.max(0), (x + rw).min(tw), (y + rh).min(th));
    if x1 <= x0 || y1 <= y0 {
        return (0.0, 0.0);
    }
    let covered = ((x1 - x0) * (y1 - y0)) as f32 / (tw * th) as f32;
    let n = ((x1 - x0) * (y1 - y0)) as f64;
    let (tx0, ty0, tx1, ty1) = (x0 as usize, y0 as usize, x1 as usize, y1 as usize);
    let (rx0, ry0, rx1, ry1) = ((x0 - x) as usize, (y0 - y) as usize, (x1 - x) as usize, (y1 - y) as usize);
    let (st, stt) = (t.sums.sum(tx0, ty0, tx1, ty1), t.sums.sum_sq(tx0, ty0, tx1, ty1));
    let (sr, srr) = (r.sums.sum(rx0, ry0, rx1, ry1), r.sums.sum_sq(rx0, ry0, rx1, ry1));
    let (vt, vr) = (stt - st * st / n, srr - sr * sr / n);
    // Too little detail in either to tell anything (a sky, a plain wall): no evidence.
    if vt <= 0.25 * n || vr <= 0.25 * n {
        return (0.0, covered);
    }
    let mut cross = 0f64;
    let width = tx1 - tx0;
    for row in 0..(ty1 - ty0) {
        let a = &t.plane.v[(ty0 + row) * t.plane.w + tx0..][..width];
        let b = &r.plane.v[(ry0 + row) * r.plane.w + rx0..][..width];
        cross += a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>() as f64;
    }
    (((cross - st * sr / n) / (vt * vr).sqrt()) as f32, covered)
}

/// The reference's lightness at long side `size`, its detail with tables.
fn reference_at(l: &[f32], rw: usize, rh: usize, size: usize) -> Searched {
    let s = size as f32 / rw.max(rh) as f32;
    Searched::of(&Plane::resized(l, rw, rh, (rw as f32 * s).round() as usize, (rh as f32 * s).round() as usize))
}

/// Every placement at reference size `size` with enough overlap: the best few by NCC.
fn search_size(t: &Searched, l: &[f32], rw: usize, rh: usize, size: usize) -> Vec<(f32, Placement)> {
    let r = reference_at(l, rw, rh, size);
    let mut found = Vec::new();
    for y in -(r.plane.h as isize) + 1..t.plane.h as isize {
        for x in -(r.plane.w as isize) + 1..t.plane.w as isize {
            let (score, covered) = ncc(t, &r, x, y);
            if covered >= MIN_OVERLAP {
                found.push((score, Placement { size, x, y }));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found.truncate(3);
    found
}

/// The best placement near `p` (found at a level `factor` times coarser): shifts of up to two
/// pixels of this level and sizes a few percent either way.
fn refine(t: &Searched, l: &[f32], rw: usize, rh: usize, p: Placement, factor: f32) -> (f32, Placement) {
    let mut best = (f32::MIN, p);
    let base = p.size as f32 * factor;
    for ds in [-0.06f32, -0.03, 0.0, 0.03, 0.06] {
        let size = (base * (1.0 + ds)).round().max(4.0) as usize;
        let r = reference_at(l, rw, rh, size);
        let (cx, cy) = ((p.x as f32 * factor).round() as isize, (p.y as f32 * factor).round() as isize);
        for dy in -2..=2 {
            for dx in -2..=2 {
                let (score, covered) = ncc(t, &r, cx + dx, cy + dy);
                if covered >= MIN_OVERLAP && score > best.0 {
                    best = (score, Placement { size, x: cx + dx, y: cy + dy });
                }
            }
        }
    }
    best
}

/// Matches `reference` against the photo's lightness `luma` and turns what matches into hints.
/// Nothing matches (no hints, coverage 0) where no placement of the reference correlates well
/// over a large enough overlap.
pub fn match_reference(luma: &Luma, reference: &Reference) -> Matched {
    let (lw, lh) = (luma.width, luma.height);
    let (rw, rh) = reference.dimensions();
    if lw.min(lh) < 16 || rw.min(rh) < 16 {
        return Matched::default();
    }
    let [ref_l, ref_a, ref_b] = reference.planes();
    let levels: Vec<Plane> = LEVELS.iter().map(|&side| Plane::long_side(&luma.l, lw, lh, side.min(lw.max(lh)))).collect();
    let searched: Vec<Searched> = levels.iter().map(Searched::of).collect();
    // Coarse: every placement of every size.
    let t_long = levels[0].w.max(levels[0].h) as f32;
    let ratio = (MAX_SCALE / MIN_SCALE).powf(1.0 / (SCALES - 1) as f32);
    let sizes: Vec<usize> = (0..SCALES).map(|i| (MIN_SCALE * ratio.powi(i as i32) * t_long).round().max(6.0) as usize).collect();
    let mut candidates: Vec<(f32, Placement)> = sizes.par_iter().flat_map(|&size| search_size(&searched[0], ref_l, rw, rh, size)).collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    candidates.truncate(5);
    // Then each candidate level by level.
    let mut best = (f32::MIN, Placement { size: 0, x: 0, y: 0 });
    for (_, p) in candidates {
        let mut p = p;
        let mut score = f32::MIN;
        for level in 1..LEVELS.len() {
            let long = |p: &Plane| p.w.max(p.h) as f32;
            let factor = long(&levels[level]) / long(&levels[level - 1]);
            (score, p) = refine(&searched[level], ref_l, rw, rh, p, factor);
        }
        if score > best.0 {
            best = (score, p);
        }
    }
    let (score, placed) = best;
    if score < ACCEPT_NCC {
        return Matched { score: score.max(0.0), ..Matched::default() };
    }
    let fine = levels.last().expect("three levels");
    hints_from_placement(luma, fine, searched.last().expect("three levels"), [ref_l, ref_a, ref_b], (rw, rh), placed, score)
}

/// The hints of an accepted placement: one per block of the overlap whose lightness agrees
/// (its detail correlates, or both are flat at the same lightness), away from edges and where
/// the reference is one color, with the reference's color there.
fn hints_from_placement(luma: &Luma, t: &Plane, t_detail: &Searched, [l, a, b]: [&[f32]; 3], (rw, rh): (usize, usize), p: Placement, score: f32) -> Matched {
    // The reference at the fine level's scale (its lightness and detail), and the map from a
    // fine-level photo pixel to the full reference planes.
    let s = p.size as f32 / rw.max(rh) as f32;
    let (pw, ph) = ((rw as f32 * s).round() as usize, (rh as f32 * s).round() as usize);
    let r = Plane::resized(l, rw, rh, pw, ph);
    let r_detail = Searched::of(&r);
    let (ref_a, ref_b) = (Plane { w: rw, h: rh, v: a.to_vec() }, Plane { w: rw, h: rh, v: b.to_vec() });
    let to_ref = |x: f32, y: f32| ((x - p.x as f32) * rw as f32 / pw as f32, (y - p.y as f32) * rh as f32 / ph as f32);
    let inside = |x: isize, y: isize| x >= p.x && y >= p.y && x < p.x + pw as isize && y < p.y + ph as isize;
    // The exposure between the two: the photo's L ≈ gain · the reference's + offset, fitted over
    // the overlap (for flat blocks, which a correlation cannot judge).
    let (mut n, mut sr, mut st, mut srr, mut srt) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for y in 0..t.h {
        for x in 0..t.w {
            if inside(x as isize, y as isize) {
                let (rx, ry) = ((x as isize - p.x) as usize, (y as isize - p.y) as usize);
                let (rv, tv) = (r.v[ry * pw + rx] as f64, t.v[y * t.w + x] as f64);
                n += 1.0;
                sr += rv;
                st += tv;
                srr += rv * rv;
                srt += rv * tv;
            }
        }
    }
    let var_r = srr - sr * sr / n.max(1.0);
    let gain = if var_r > 1e-3 * n { ((srt - sr * st / n) / var_r).clamp(0.3, 3.0) } else { 1.0 };
    let offset = (st - gain * sr) / n.max(1.0);

    let to_photo = luma.width.max(luma.height) as f32 / t.w.max(t.h) as f32;
    let (t_sums, r_sums) = (Integral::of(&t.v, t.w, t.h), Integral::of(&r.v, r.w, r.h));
    let mut hints = Vec::new();
    let mut agreed = 0usize;
    for by in (0..t.h).step_by(BLOCK) {
        for bx in (0..t.w).step_by(BLOCK) {
            let (x1, y1) = ((bx + BLOCK).min(t.w), (by + BLOCK).min(t.h));
            // Only blocks wholly inside the reference: one cut by its border straddles what it
            // shows and what it does not.
            if !inside(bx as isize, by as isize) || !inside(x1 as isize - 1, y1 as isize - 1) {
                continue;
            }
            let (rx, ry) = ((bx as isize - p.x) as usize, (by as isize - p.y) as usize);
            let k = ((x1 - bx) * (y1 - by)) as f64;
            let mt = t_sums.sum(bx, by, x1, y1) / k;
            let mr = gain * r_sums.sum(rx, ry, rx + x1 - bx, ry + y1 - by) / k + offset;
            let dt = t_detail.sums.sum_sq(bx, by, x1, y1) / k;
            let dr = r_detail.sums.sum_sq(rx, ry, rx + x1 - bx, ry + y1 - by) / k * gain * gain;
            let flat = dt < 1.0 && dr < 1.0;
            let agrees = if flat { (mt - mr).abs() < 12.0 } else { block_ncc(t_detail, &r_detail, bx, by, x1, y1, p) >= BLOCK_NCC && (mt - mr).abs() < 20.0 };
            if !agrees {
                continue;
            }
            agreed += 1;
            // A hint in each quarter of the block that is one color in the reference and no edge
            // in the photo: a quarter spanning a red cap and the sky behind it gives none (its
            // mean would be neither), nor one whose hint patch would straddle two regions.
            let half = BLOCK / 2;
            for qy in (by..y1).step_by(half) {
                for qx in (bx..x1).step_by(half) {
                    let (qx1, qy1) = ((qx + half).min(x1), (qy + half).min(y1));
                    let edge = t_detail.sums.sum_sq(qx, qy, qx1, qy1) / ((qx1 - qx) * (qy1 - qy)) as f64;
                    if edge > 30.0 {
                        continue;
                    }
                    let (mut sa, mut sb, mut saa, mut sbb, mut m) = (0f32, 0f32, 0f32, 0f32, 0f32);
                    for j in 0..3 {
                        for i in 0..3 {
                            let (u, v) = to_ref(qx as f32 + (i as f32 + 0.5) * (qx1 - qx) as f32 / 3.0, qy as f32 + (j as f32 + 0.5) * (qy1 - qy) as f32 / 3.0);
                            let (ca, cb) = (ref_a.at(u, v), ref_b.at(u, v));
                            sa += ca;
                            sb += cb;
                            saa += ca * ca;
                            sbb += cb * cb;
                            m += 1.0;
                        }
                    }
                    let (ma, mb) = (sa / m, sb / m);
                    let spread = ((saa / m - ma * ma).max(0.0) + (sbb / m - mb * mb).max(0.0)).sqrt();
                    if spread > 6.0 {
                        continue;
                    }
                    let (cx, cy) = ((qx + qx1) as f32 / 2.0, (qy + qy1) as f32 / 2.0);
                    let px = ((cx * to_photo) as u32).min(luma.width as u32 - 1);
                    let py = ((cy * to_photo) as u32).min(luma.height as u32 - 1);
                    let lightness = luma.l[py as usize * luma.width + px as usize];
                    hints.push(Hint::point(px, py, lab_to_srgb8(lightness, ma, mb)));
                }
            }
        }
    }
    let blocks_total = t.w.div_ceil(BLOCK) * t.h.div_ceil(BLOCK);
    Matched { hints, coverage: agreed as f32 / blocks_total.max(1) as f32, score }
}

/// The detail correlation of one block, over the block grown by half a block each way (a
/// block alone holds too few values to judge).
fn block_ncc(t: &Searched, r: &Searched, bx: usize, by: usize, x1: usize, y1: usize, p: Placement) -> f32 {
    let grow = BLOCK / 2;
    let (x0, y0) = (bx.saturating_sub(grow) as isize, by.saturating_sub(grow) as isize);
    let (x1, y1) = ((x1 + grow).min(t.plane.w) as isize, (y1 + grow).min(t.plane.h) as isize);
    let (mut n, mut st, mut sr, mut stt, mut srr, mut str_) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for y in y0..y1 {
        for x in x0..x1 {
            let (u, v) = (x - p.x, y - p.y);
            if u < 0 || v < 0 || u >= r.plane.w as isize || v >= r.plane.h as isize {
                continue;
            }
            let (a, b) = (t.plane.v[y as usize * t.plane.w + x as usize] as f64, r.plane.v[v as usize * r.plane.w + u as usize] as f64);
            n += 1.0;
            st += a;
            sr += b;
            stt += a * a;
            srr += b * b;
            str_ += a * b;
        }
    }
    let (vt, vr) = (stt - st * st / n.max(1.0), srr - sr * sr / n.max(1.0));
    if n < 16.0 || vt <= 1e-6 || vr <= 1e-6 {
        return 0.0;
    }
    ((str_ - st * sr / n) / (vt * vr).sqrt()) as f32
}

/// The user's `given` hints with the reference's `matched` ones added, except those near a
/// given one: a hint says "this is red" more surely than a match (`size`: the photo's).
pub fn merge(given: &[Hint], matched: Vec<Hint>, size: (usize, usize)) -> Vec<Hint> {
    let radius = (size.0.max(size.1) as f32 * 0.04).max(4.0);
    let near_given = |h: &Hint| {
        given.iter().flat_map(|g| &g.points).any(|p| {
            let (dx, dy) = (p[0] as f32 - h.points[0][0] as f32, p[1] as f32 - h.points[0][1] as f32);
            dx * dx + dy * dy < radius * radius
        })
    };
    given.iter().cloned().chain(matched.into_iter().filter(|h| !near_given(h))).collect()
}

/// The reference stage's record, for the copy's History and the log: which reference, and how
/// much of the photo it matched.
pub(crate) fn step(reference: &Reference, matched: &Matched, time: std::time::Duration) -> crate::base::Step {
    crate::base::Step {
        name: "reference",
        parameters: vec![
            ("photo", format!("{} (sha256 {})", reference.name, reference.sha256)),
            ("matched", format!("{:.0} % of the photo", matched.coverage * 100.0)),
            ("hints", matched.hints.len().to_string()),
        ],
        // Its colors, where it gave any, are in the copy: its Content Credentials say so.
        action: (!matched.hints.is_empty()).then_some(crate::base::StepAction::Adjusted),
        time,
    }
}

/// What to tell the user of a copy's reference: `reference church.jpg: 43 % of the photo
/// matched` (the CLI's line, the page's facts); None where there was no reference.
pub fn note(steps: &crate::base::Steps) -> Option<String> {
    let step = steps.0.iter().find(|s| s.name == "reference")?;
    let value = |key: &str| step.parameters.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str()).unwrap_or("");
    let name = value("photo").rsplit_once(" (sha256").map_or(value("photo"), |(n, _)| n);
    let matched = value("matched");
    let little = matched.trim_end_matches(" % of the photo").parse::<f32>().is_ok_and(|m| m < 10.0);
    Some(format!("reference {name}: {matched} matched{}", if little { " (it contributed little: a photo of another scene?)" } else { "" }))
}

/// An sRGB color of lightness `l` and chroma (a, b), clipped to the gamut.
fn lab_to_srgb8(l: f32, a: f32, b: f32) -> [u8; 3] {
    // Near black or white a color has no room: the hint's lightness is the photo's own (the
    // hint only gives chroma), so keep its chroma at a middle lightness.
    let rgb = lab_to_linear_rgb(l.clamp(25.0, 85.0), a, b);
    let encode = srgb8_encoder();
    rgb.map(|c| encode(c.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgb, RgbImage};

    /// Colored shapes on a textured ground: a red disc, a blue square, a green bar.
    fn scene(w: u32, h: u32, shift: (f32, f32), scale: f32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (x, y) = ((x as f32 - shift.0) / scale, (y as f32 - shift.1) / scale);
            let ground = 120.0 + 40.0 * ((x / 13.0).sin() * (y / 17.0).cos());
            let g = ground as u8;
            if (x - 100.0).powi(2) + (y - 90.0).powi(2) < 40.0f32.powi(2) {
                Rgb([200, 40, 40])
            } else if (180.0..240.0).contains(&x) && (60.0..120.0).contains(&y) {
                Rgb([40, 60, 200])
            } else if (60.0..260.0).contains(&x) && (160.0..185.0).contains(&y) {
                Rgb([40, 170, 60])
            } else {
                Rgb([g, g, g])
            }
        })
    }

    /// The photo's lightness, as a gray print of the color scene shows it.
    fn luma_of(img: &RgbImage) -> Luma {
        super::super::prepare::lightness(&DynamicImage::ImageRgb8(img.clone()))
    }

    fn hint_near(m: &Matched, x: u32, y: u32, r: u32) -> Vec<[u8; 3]> {
        m.hints.iter().filter(|h| h.points[0][0].abs_diff(x) <= r && h.points[0][1].abs_diff(y) <= r).map(|h| h.rgb).collect()
    }

    #[test]
    fn a_shifted_and_scaled_pair_gives_each_shape_its_color() {
        // The photo: the scene shifted; the reference: the scene at 0.7x, brighter.
        let photo = scene(320, 240, (12.0, -8.0), 1.0);
        let mut reference = scene(230, 170, (0.0, 0.0), 0.7);
        for p in reference.pixels_mut() {
            p.0 = p.0.map(|c| (c as f32 * 1.1 + 10.0).min(255.0) as u8);
        }
        let r = Reference::from_image(&DynamicImage::ImageRgb8(reference), "ref.png".into(), "0".into());
        let m = match_reference(&luma_of(&photo), &r);
        assert!(m.score > 0.8, "score {} coverage {} hints {}", m.score, m.coverage, m.hints.len());
        assert!(m.coverage > 0.4, "coverage {}", m.coverage);
        let reddish = |c: &[u8; 3]| c[0] > c[1] + 60 && c[0] > c[2] + 60;
        let bluish = |c: &[u8; 3]| c[2] > c[0] + 60 && c[2] > c[1] + 40;
        let greenish = |c: &[u8; 3]| c[1] > c[0] + 40 && c[1] > c[2] + 40;
        let red = hint_near(&m, 112, 82, 22);
        assert!(!red.is_empty() && red.iter().all(reddish), "disc: {red:?}");
        let blue = hint_near(&m, 222, 82, 18);
        assert!(!blue.is_empty() && blue.iter().all(bluish), "square: {blue:?}");
        let green = hint_near(&m, 170, 164, 10);
        assert!(!green.is_empty() && green.iter().all(greenish), "bar: {green:?}");
    }

    #[test]
    fn a_reference_of_something_else_gives_no_hints() {
        let photo = scene(320, 240, (0.0, 0.0), 1.0);
        // A sunset gradient with a few stripes: nothing of the scene.
        let other = RgbImage::from_fn(300, 200, |x, y| Rgb([(200 - y / 2) as u8, (80 + (x % 37) * 2) as u8, (y / 2 + 40) as u8]));
        let r = Reference::from_image(&DynamicImage::ImageRgb8(other), "beach.jpg".into(), "0".into());
        let m = match_reference(&luma_of(&photo), &r);
        assert!(m.hints.is_empty() && m.coverage == 0.0, "{m:?}");
    }
}
