//! Stage 3½, propagate: each color hint spreads over the region it falls in, as far as the
//! lightness stays continuous, and stops at the photo's edges; elsewhere the model's own guess
//! stays. The model has seen the hints too (its hint planes): it knows that a face is one
//! thing; this stage knows where the edges are.
//!
//! The formulation is that of Levin, Lischinski and Weiss 2004 ("Colorization using
//! Optimization"), screened: on a grid of the photo shrunk to [`Params::work_side`], each
//! pixel's value is pulled toward its four neighbours with weight `exp(-(ΔL² + c²·Δab²) / 2σ²)`
//! (strong inside a region, nearly nothing across an edge; `ab` is the model's hint-free
//! guess, which tells apart two things of one lightness), toward 0 with weight λ (so that a hint's reach fades in
//! an open region instead of covering the whole photo), and, at a hinted pixel, toward the
//! hint with weight μ. One sparse symmetric positive-definite system, factored once (faer's
//! sparse Cholesky), is solved for three right-hand sides: the hints' reach α (hints at 1) and
//! α·a, α·b (hints at their colors); a fourth, α times the model's agreement with the hints,
//! where [`Params::trust`] is set.
//!
//! The model's own answer to the hints is kept only where the hints reach: on texture (sand,
//! cloth) the network spreads a hint's color far past the region's edge (measured on the test
//! disc of `tests/it/hint_propagation.rs`: two red point hints reddened 5 % of the background, a
//! stroke 16 %, with the propagation switched off), so its change from its hint-free guess is
//! weighted by α. The result, `(1 − α)·(plain + α·(hinted − plain)) + α·(hint colors)`, is
//! carried to full resolution by the recombine stage's guided filter, which keeps the original
//! lightness exactly.
//!
//! Where lightness and the hint-free colors cannot tell two things apart (a leaf before a wall
//! of the same lightness) the model, shown the hints, sometimes can: [`Params::trust`] holds
//! the reach back where it did not move toward the spread color as far as it did at the hints
//! (off by default, see there).
//!
//! A point hint near black is trusted only in part ([`Params::dark`]): its color reaches its
//! region as a blend with the model's, not in place of it.
//!
//! The settings were chosen on the 120 validation photos with `examples/tune_propagation.rs`
//! (see docs/performance.md, Color hints): a longer reach (smaller λ, larger σ) gains more on
//! average but makes more photos worse; a stronger hold-back makes fewer worse but gains less.

use super::hint_planes::covered_cells;
use super::infer::shrink_plane;
use super::prepare::Luma;
use crate::hints::Hint;
use crate::model::AbLow;
use faer::linalg::solvers::Solve;
use faer::sparse::{SparseColMat, Triplet};
use faer::{Mat, Side};

/// The propagation's settings; [`Params::default`] is what hued uses (chosen on the
/// validation photos with `examples/tune_propagation.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Long side, in pixels, of the grid the system is solved on (default 256).
    pub work_side: usize,
    /// Lightness difference (L units, 0..100) at which neighbours are ~60 % tied: smaller
    /// stops at fainter edges (default 2.2).
    pub sigma: f32,
    /// Pull toward "no hint" per pixel, relative to a neighbour tie of 1: the reach of a hint
    /// in an open region is about `1/√λ` grid pixels (default 3e-5).
    pub lambda: f64,
    /// Pull of a hinted pixel toward its hint (default 10).
    pub mu: f64,
    /// Side, in grid pixels, of the square a point hint covers (default 3).
    pub patch: usize,
    /// Gaussian blur (σ in grid pixels) of the lightness the ties are measured on, 0 for
    /// none: grain and fine texture (sand, cloth) then do not break a region apart, while an
    /// edge between regions stays a step (default 0: measured, a blur of 1 let a hint on the
    /// textured disc of `tests/it/hint_propagation.rs` leak across its edge at λ 2e-5).
    pub smooth: f32,
    /// Weight of the model's own hint-free colors in the ties, beside the lightness: where
    /// the model sees two things (a red sign on a wall of the same lightness), a hint on one
    /// stays off the other (default 2).
    pub chroma: f32,
    /// How much of the model's own answer to the hints stays where the hints reach α: it is
    /// weighted by α^gate, so 0 keeps it everywhere and 1 fades it as fast as α (default 0.4,
    /// with σ 2.2 and λ 3e-5: against 1, 2 and 2e-5, through the binary on 240 validation hint
    /// sets, +0.01 dB at 5 hints, +0.14 at 20, one photo fewer made worse on each seed. At 0.2
    /// the model's own spread past the textured test disc's edge comes back: 5 % of its
    /// background reddened by one point, 13 % by a stroke; at 0.4 0.6 %).
    pub gate: f32,
    /// Cells of a point hint's patch whose lightness differs from the lightness at the point
    /// itself by more than this (L units) are not marked: a click next to an edge seeds only
    /// its own side (default infinite, off: at 5 or 10 it cost gain and made no fewer photos
    /// worse in the sweep).
    pub tolerance: f32,
    /// How far the reach is held back where the model, shown the hints, did not move toward
    /// the hint's color: the reach is multiplied by `1 − trust + trust·g`, g in 0..1 the share of
    /// the way from its hint-free guess to the spread color the model went, relative to how far
    /// it went at the hints themselves (default 0, off: at 0.35 it made fewer validation photos
    /// worse, but on real scans, where the model follows a hint only weakly, it took a quarter
    /// of the color out of a hinted beach and sky).
    pub trust: f32,
    /// Lightness (L units) below which a point hint is trusted less, down to not at all at
    /// black: its reach in its region tends to `L / dark` instead of 1. Near black every color
    /// looks the same, so a hint there says little about the color of the region's lighter
    /// parts: on the validation photos a black background's neutral hint ran up the shading
    /// into the skin beside it and greyed it (−0.5 dB on that photo). 0 for off (default 10:
    /// that photo no longer worse, the mean gains unchanged to 0.01 dB).
    pub dark: f32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            work_side: 256,
            sigma: 2.2,
            lambda: 3e-5,
            mu: 10.0,
            patch: 3,
            smooth: 0.0,
            chroma: 2.0,
            gate: 0.4,
            tolerance: f32::INFINITY,
            trust: 0.0,
            dark: 10.0,
        }
    }
}

/// Spreads the hints over the photo: the model's colors with the hints (`hinted`) and without
/// (`plain`), at any resolution, become colors at the grid's resolution in which each hint's
/// color covers its region. No hints: `hinted` as it is.
pub fn propagate(luma: &Luma, hinted: AbLow, plain: &AbLow, hints: &[Hint], params: &Params) -> AbLow {
    if hints.is_empty() {
        return hinted;
    }
    let (w, h) = grid_size(luma.width, luma.height, params.work_side);
    let l = shrink_plane(&luma.l, luma.width, luma.height, w, h);
    let hinted = super::recombine::upsample_ab(&l, w, h, &hinted);
    let plain = super::recombine::upsample_ab(&l, w, h, plain);
    let mut marks = Marks::new(w * h);
    let size = (luma.width as u32, luma.height as u32);
    for hint in hints {
        let ab = hint.ab();
        // A point's own cell: its 1-cell patch.
        let center = (hint.points.len() == 1).then(|| covered_cells(hint, size, (w, h), 1)[0]);
        // How far a point hint is trusted: fully, unless it lies near black.
        let confidence = center.map_or(1.0, |c| if params.dark > 0.0 { (l[c] / params.dark).clamp(0.0, 1.0) } else { 1.0 });
        for cell in covered_cells(hint, size, (w, h), params.patch) {
            if center.is_none_or(|c| (l[cell] - l[c]).abs() <= params.tolerance) {
                marks.add(cell, ab, confidence);
            }
        }
    }
    let edges = smoothed(&l, w, h, params.smooth);
    let mut spread = spread(&edges, &plain, &hinted, w, h, &marks, params);
    if params.trust > 0.0 {
        hold_back(&mut spread, &plain, &hinted, params.trust);
    }
    let blend = |plain: &[f32], hinted: &[f32], hint: &[f32]| -> Vec<f32> {
        let pixels = plain.iter().zip(hinted).zip(hint).zip(&spread.reach);
        pixels.map(|(((&p, &m), &s), &alpha)| (1.0 - alpha) * (p + alpha.powf(params.gate) * (m - p)) + s).collect()
    };
    AbLow { width: w, height: h, a: blend(&plain.a, &hinted.a, &spread.a), b: blend(&plain.b, &hinted.b, &spread.b) }
}

/// The share of the way from its hint-free guess toward `color` that the model, shown the
/// hints, went at one pixel (1 where the color asks for nearly the model's own guess).
fn agreement(plain: [f32; 2], hinted: [f32; 2], color: [f32; 2]) -> f32 {
    let (ca, cb) = (color[0] - plain[0], color[1] - plain[1]);
    let wanted = ca * ca + cb * cb;
    if wanted < 25.0 {
        return 1.0;
    }
    (((hinted[0] - plain[0]) * ca + (hinted[1] - plain[1]) * cb) / wanted).clamp(0.0, 1.0)
}

/// Scales the reach (and α·a, α·b with it, so the spread color stays) down where the model,
/// shown the hints, moved toward the spread color less than it did at the hints themselves:
/// the network sees that a leaf is not the wall behind it even where their lightness is the
/// same. The agreement at the hints is carried over the grid by the same solve (`spread.agreed`).
fn hold_back(spread: &mut Spread, plain: &AbLow, hinted: &AbLow, trust: f32) {
    for i in 0..spread.reach.len() {
        let alpha = spread.reach[i];
        if alpha < 1e-4 {
            continue;
        }
        let color = [spread.a[i] / alpha, spread.b[i] / alpha];
        let here = agreement([plain.a[i], plain.b[i]], [hinted.a[i], hinted.b[i]], color);
        let at_hints = (spread.agreed[i] / alpha).max(0.05);
        let g = (here / at_hints).min(1.0);
        let k = 1.0 - trust + trust * g;
        spread.reach[i] *= k;
        spread.a[i] *= k;
        spread.b[i] *= k;
    }
}

/// The grid a `width` x `height` photo is shrunk to: its long side at most `side`.
fn grid_size(width: usize, height: usize, side: usize) -> (usize, usize) {
    let scale = (side as f64 / width.max(height) as f64).min(1.0);
    (((width as f64 * scale).round() as usize).max(1), ((height as f64 * scale).round() as usize).max(1))
}

/// The `w` x `h` plane `l` blurred with a Gaussian of `sigma` pixels (as it is for 0).
fn smoothed(l: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return l.to_vec();
    }
    // image's f32 pixels are 0..1 (it clamps to that range): L (0..100) is scaled there and back.
    let plane = image::ImageBuffer::<image::Luma<f32>, Vec<f32>>::from_raw(w as u32, h as u32, l.iter().map(|v| v / 100.0).collect()).expect("a w x h plane");
    image::imageops::blur(&plane, sigma).into_raw().into_iter().map(|v| v * 100.0).collect()
}

/// The hinted cells of the grid: each with the mean of the hint colors that cover it and the
/// mean of their confidences.
struct Marks {
    count: Vec<u16>,
    ab: Vec<[f32; 2]>,
    confidence: Vec<f32>,
}

impl Marks {
    fn new(n: usize) -> Marks {
        Marks { count: vec![0; n], ab: vec![[0.0; 2]; n], confidence: vec![0.0; n] }
    }

    fn add(&mut self, cell: usize, [a, b]: [f32; 2], confidence: f32) {
        let n = self.count[cell] as f32;
        let old = self.ab[cell];
        self.ab[cell] = [(old[0] * n + a) / (n + 1.0), (old[1] * n + b) / (n + 1.0)];
        self.confidence[cell] = (self.confidence[cell] * n + confidence) / (n + 1.0);
        self.count[cell] = self.count[cell].saturating_add(1);
    }

    fn is_marked(&self, cell: usize) -> bool {
        self.count[cell] > 0
    }
}

/// What the hints give on the grid: their reach α (0 far from every hint, ~1 in a hinted
/// region) and α·a, α·b.
struct Spread {
    reach: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    /// α times the model's agreement with the hints at the hinted cells (see [`agreement`]),
    /// spread as the colors are; empty where [`Params::trust`] is 0 (not needed).
    agreed: Vec<f32>,
}

/// Solves the screened system for the marks on the `w` x `h` lightness grid `l`.
fn spread(l: &[f32], plain: &AbLow, hinted: &AbLow, w: usize, h: usize, marks: &Marks, p: &Params) -> Spread {
    let n = w * h;
    let k2 = p.chroma * p.chroma;
    let tie = |i: usize, j: usize| {
        let (dl, da, db) = (l[i] - l[j], plain.a[i] - plain.a[j], plain.b[i] - plain.b[j]);
        (-(dl * dl + k2 * (da * da + db * db)) / (2.0 * p.sigma * p.sigma)).exp() as f64
    };
    // The lower triangle of the symmetric matrix: the graph Laplacian of the ties, plus λ on
    // the diagonal, plus μ on the hinted pixels.
    let mut diagonal = vec![p.lambda; n];
    let mut entries = Vec::with_capacity(3 * n);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            for j in [(x + 1 < w).then_some(i + 1), (y + 1 < h).then_some(i + w)].into_iter().flatten() {
                let t = tie(i, j);
                diagonal[i] += t;
                diagonal[j] += t;
                entries.push(Triplet::new(j, i, -t));
            }
            if marks.is_marked(i) {
                diagonal[i] += p.mu;
            }
        }
    }
    entries.extend(diagonal.iter().enumerate().map(|(i, &d)| Triplet::new(i, i, d)));
    let matrix = SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &entries).expect("indices lie within the grid");
    // Diagonally dominant with a positive diagonal: always positive definite.
    let llt = matrix.sp_cholesky(Side::Lower).expect("a screened Laplacian is positive definite");
    // The agreement column only where the hold-back uses it.
    let columns = if p.trust > 0.0 { 4 } else { 3 };
    let mut rhs = Mat::<f64>::zeros(n, columns);
    for i in (0..n).filter(|&i| marks.is_marked(i)) {
        let [a, b] = marks.ab[i];
        // A hint trusted in part pulls its cells' reach toward its confidence, not to 1.
        let pull = p.mu * marks.confidence[i] as f64;
        rhs[(i, 0)] = pull;
        rhs[(i, 1)] = pull * a as f64;
        rhs[(i, 2)] = pull * b as f64;
        if columns == 4 {
            rhs[(i, 3)] = p.mu * agreement([plain.a[i], plain.b[i]], [hinted.a[i], hinted.b[i]], [a, b]) as f64;
        }
    }
    llt.solve_in_place(rhs.as_mut());
    let column = |k: usize| (0..n).map(|i| rhs[(i, k)] as f32).collect::<Vec<_>>();
    let reach: Vec<f32> = column(0).into_iter().map(|r| r.clamp(0.0, 1.0)).collect();
    Spread { reach, a: column(1), b: column(2), agreed: if columns == 4 { column(3) } else { Vec::new() } }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two flat regions of different lightness, split at column `split` of a `w` x `h` grid.
    fn two_regions(w: usize, h: usize, split: usize) -> Vec<f32> {
        (0..w * h).map(|i| if i % w < split { 40.0 } else { 70.0 }).collect()
    }

    #[test]
    fn a_hint_fills_its_region_and_stops_at_the_edge() {
        let (w, h) = (64, 48);
        let l = two_regions(w, h, 32);
        let mut marks = Marks::new(w * h);
        // A point hint's 3x3 patch, as `propagate` marks it.
        for (x, y) in (9..12).flat_map(|x| (23..26).map(move |y| (x, y))) {
            marks.add(y * w + x, [50.0, 20.0], 1.0);
        }
        let plain = AbLow { width: w, height: h, a: vec![0.0; w * h], b: vec![0.0; w * h] };
        let s = spread(&l, &plain, &plain, w, h, &marks, &Params::default());
        // The far corner of the hinted region takes the hint almost fully; across the edge,
        // right next to it, almost nothing arrives.
        let corner = (h - 1) * w + 31;
        assert!(s.reach[corner] > 0.8, "reach in the hinted region: {}", s.reach[corner]);
        assert!((s.a[corner] / s.reach[corner] - 50.0).abs() < 0.5, "color: {}", s.a[corner] / s.reach[corner]);
        let outside = 24 * w + 32;
        assert!(s.reach[outside] < 0.05, "reach across the edge: {}", s.reach[outside]);
    }

    #[test]
    fn the_models_answer_to_a_hint_fades_where_the_hint_does_not_reach() {
        // The model turned everything red for one hint on the left; the right region, past an
        // edge, keeps the hint-free guess.
        let (w, h) = (64, 48);
        let luma = Luma { width: w, height: h, l: two_regions(w, h, 32) };
        let plain = AbLow { width: w, height: h, a: vec![0.0; w * h], b: vec![0.0; w * h] };
        let hinted = AbLow { a: vec![30.0; w * h], ..plain.clone() };
        let hint = Hint::point(10, 24, [200, 30, 30]);
        let out = propagate(&luma, hinted, &plain, std::slice::from_ref(&hint), &Params::default());
        let (right, left) = (24 * w + 50, 40 * w + 20);
        assert!(out.a[right].abs() < 3.0, "a past the edge: {}", out.a[right]);
        assert!(out.a[left] > 0.8 * hint.ab()[0], "a in the hinted region: {} (hint {})", out.a[left], hint.ab()[0]);
    }

    #[test]
    fn where_the_model_does_not_follow_a_hint_its_reach_is_held_back() {
        // One lightness everywhere (no edge to stop at) and one hint-free guess: only the
        // model, shown the hint, tells the left half (it turned red) from the right (it did not).
        let (w, h) = (64, 48);
        let luma = Luma { width: w, height: h, l: vec![50.0; w * h] };
        let plain = AbLow { width: w, height: h, a: vec![0.0; w * h], b: vec![0.0; w * h] };
        let hinted = AbLow { a: (0..w * h).map(|i| if i % w < 32 { 30.0 } else { 0.0 }).collect(), ..plain.clone() };
        let hint = Hint::point(10, 24, [200, 30, 30]);
        let run = |trust| propagate(&luma, hinted.clone(), &plain, std::slice::from_ref(&hint), &Params { trust, ..Params::default() });
        let (free, held) = (run(0.0), run(0.5));
        let (left, right) = (24 * w + 20, 24 * w + 50);
        assert!(held.a[right] < 0.7 * free.a[right], "right half: {} held, {} free", held.a[right], free.a[right]);
        assert!(held.a[left] > 0.95 * free.a[left], "left half: {} held, {} free", held.a[left], free.a[left]);
    }

    #[test]
    fn a_hint_near_black_does_not_grey_the_lit_part_of_its_region() {
        // A black background (L 2) running into shaded skin up a smooth ramp to L 40 (the
        // apple-eating portrait of the validation photos): the model colored the skin warm; a
        // true hint on the background says "black", which says nothing about the skin's color.
        let (w, h) = (96, 48);
        let l = (0..w * h).map(|i| if i % w < 32 { 2.0 } else { 2.0 + 38.0 * ((i % w - 32) as f32 / 63.0) }).collect();
        let luma = Luma { width: w, height: h, l };
        let plain = AbLow { width: w, height: h, a: vec![20.0; w * h], b: vec![15.0; w * h] };
        let hint = Hint::point(10, 24, [4, 4, 4]);
        let lit = 24 * w + 90;
        let run = |dark| propagate(&luma, plain.clone(), &plain, std::slice::from_ref(&hint), &Params { dark, ..Params::default() });
        let (trusted, shipped) = (run(0.0), run(Params::default().dark));
        // Fully trusted, the black hint runs up the ramp and takes most of the skin's color.
        assert!(trusted.a[lit] < 10.0, "a on the lit skin, hint fully trusted: {}", trusted.a[lit]);
        assert!(shipped.a[lit] > 0.75 * 20.0, "a on the lit skin: {} (the model's 20)", shipped.a[lit]);
        // A hint on a lit region is trusted fully, as before.
        let bright = Luma { l: vec![60.0; w * h], ..luma.clone() };
        let out = propagate(&bright, plain.clone(), &plain, &[Hint::point(10, 24, [200, 30, 30])], &Params::default());
        let red = Hint::point(0, 0, [200, 30, 30]).ab()[0];
        assert!(out.a[lit] > 0.9 * red, "a far from a lit hint: {} (hint {red})", out.a[lit]);
    }

    #[test]
    fn no_hints_leave_the_model_colors_as_they_are() {
        let luma = Luma { width: 10, height: 10, l: vec![50.0; 100] };
        let ab = AbLow { width: 2, height: 2, a: vec![1.0, 2.0, 3.0, 4.0], b: vec![0.0; 4] };
        let out = propagate(&luma, ab.clone(), &ab, &[], &Params::default());
        assert_eq!((out.width, out.height, out.a), (2, 2, vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn the_grid_keeps_the_aspect_and_never_grows() {
        assert_eq!(grid_size(4000, 3000, 256), (256, 192));
        assert_eq!(grid_size(100, 50, 256), (100, 50));
        assert_eq!(grid_size(1, 100_000, 256), (1, 256));
    }
}
