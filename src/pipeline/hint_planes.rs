//! Stage 3's helper: user color hints ([`crate::hints`]) turned into the model's hint planes
//! (a, b, mask) at the model's input size, and into the cells of a grid that a hint covers
//! (for the model and for [`super::propagate`]).

use crate::hints::Hint;

/// Side, in model-input pixels, of the square one point hint covers. The training code's
/// evaluation (`training/evaluate.py`, `HINT_PATCH`) uses the same.
pub const HINT_PATCH: usize = 3;

/// The cell of a `grid` (width, height) that holds a point of a `width` x `height` photo, as
/// fractional cell coordinates of the point's centre.
fn to_grid([x, y]: [u32; 2], (width, height): (u32, u32), (gw, gh): (usize, usize)) -> (f64, f64) {
    ((x as f64 + 0.5) * gw as f64 / width as f64, (y as f64 + 0.5) * gh as f64 / height as f64)
}

/// The cells (row-major indices) of a `grid` (width, height) laid over a `width` x `height`
/// photo that `hint` covers: for a point, a `patch`-cell square around it (clipped at the
/// borders); for a stroke, the line through its points, one cell wide. Sorted, no repeats.
pub fn covered_cells(hint: &Hint, (width, height): (u32, u32), (gw, gh): (usize, usize), patch: usize) -> Vec<usize> {
    let cell = |(u, v): (f64, f64)| ((u as usize).min(gw - 1), (v as usize).min(gh - 1));
    let mut cells = Vec::new();
    if let [point] = hint.points[..] {
        let (cx, cy) = cell(to_grid(point, (width, height), (gw, gh)));
        let r = patch / 2;
        for y in cy.saturating_sub(r)..(cy + patch - r).min(gh) {
            for x in cx.saturating_sub(r)..(cx + patch - r).min(gw) {
                cells.push(y * gw + x);
            }
        }
        return cells;
    }
    for pair in hint.points.windows(2) {
        let ((x0, y0), (x1, y1)) = (to_grid(pair[0], (width, height), (gw, gh)), to_grid(pair[1], (width, height), (gw, gh)));
        // One sample per cell crossed along the longer axis: no gaps in the line.
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let (x, y) = cell((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t));
            cells.push(y * gw + x);
        }
    }
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// The model's hint planes for a `width` x `height` photo shrunk to `model_w` x `model_h`:
/// a and b (Lab units) and a mask, each `model_w * model_h` values, one after the other.
/// Each point covers a [`HINT_PATCH`]-pixel square around it, each stroke its line.
pub fn hint_planes(hints: &[Hint], width: u32, height: u32, model_w: u32, model_h: u32) -> Vec<f32> {
    let (mw, mh) = (model_w as usize, model_h as usize);
    let mut planes = vec![0f32; 3 * mw * mh];
    let (a_plane, rest) = planes.split_at_mut(mw * mh);
    let (b_plane, mask) = rest.split_at_mut(mw * mh);
    for hint in hints {
        let [a, b] = hint.ab();
        for point in model_points(hint, (width, height), (mw, mh)) {
            for i in covered_cells(&point, (width, height), (mw, mh), HINT_PATCH) {
                a_plane[i] = a;
                b_plane[i] = b;
                mask[i] = 1.0;
            }
        }
    }
    planes
}

/// Model-input pixels between the points a stroke is given to the model as.
const STROKE_SPACING: f64 = 12.0;

/// What the model sees of a hint: a point as it is; a stroke as point hints every
/// [`STROKE_SPACING`] model pixels along its line. The model was trained on a few scattered
/// patches; a solid line is far outside what it has seen (measured: a 55-cell line reddened
/// 37 % of the background of the test disc, the same stroke as points 1 %). The propagation
/// stage still gets the whole line.
fn model_points(hint: &Hint, (width, height): (u32, u32), (mw, mh): (usize, usize)) -> Vec<Hint> {
    if !hint.is_stroke() {
        return vec![hint.clone()];
    }
    // Photo pixels per model pixel, along each axis.
    let (sx, sy) = (width as f64 / mw as f64, height as f64 / mh as f64);
    let mut points = vec![hint.points[0]];
    let mut carried = 0.0;
    for pair in hint.points.windows(2) {
        let ([x0, y0], [x1, y1]) = (pair[0].map(f64::from), pair[1].map(f64::from));
        let length = ((x1 - x0) / sx).hypot((y1 - y0) / sy);
        let mut at = STROKE_SPACING - carried;
        while at <= length {
            let t = at / length;
            points.push([(x0 + (x1 - x0) * t).round() as u32, (y0 + (y1 - y0) * t).round() as u32]);
            at += STROKE_SPACING;
        }
        carried = length - (at - STROKE_SPACING);
    }
    points.push(*hint.points.last().expect("a stroke has points"));
    points.dedup();
    points.into_iter().map(|[x, y]| Hint::point(x, y, hint.rgb)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_put_a_patch_of_the_hint_color_at_the_scaled_point() {
        let red = Hint::point(500, 250, [200, 30, 30]);
        let planes = hint_planes(std::slice::from_ref(&red), 1000, 500, 64, 32);
        let n = 64 * 32;
        let mask = &planes[2 * n..];
        assert_eq!(mask.iter().filter(|&&m| m == 1.0).count(), HINT_PATCH * HINT_PATCH);
        let centre = 16 * 64 + 32;
        assert_eq!(mask[centre], 1.0);
        let [a, b] = red.ab();
        assert!(a > 40.0 && b > 20.0, "red has a, b = {a}, {b}");
        assert_eq!(planes[centre], a);
        assert_eq!(planes[n + centre], b);
        // A hint in a corner is clipped, not wrapped.
        let corner = hint_planes(&[Hint::point(999, 499, [0, 0, 255])], 1000, 500, 64, 32);
        assert_eq!(corner[2 * n..].iter().filter(|&&m| m == 1.0).count(), 4);
        assert_eq!(corner[3 * n - 1], 1.0);
    }

    #[test]
    fn a_stroke_covers_its_line_without_gaps() {
        // A diagonal and then a horizontal line on a 100x100 photo over a 10x10 grid.
        let stroke = Hint { points: vec![[5, 5], [95, 95], [95, 5]], rgb: [0; 3] };
        let cells = covered_cells(&stroke, (100, 100), (10, 10), HINT_PATCH);
        let diagonal: Vec<usize> = (0..10).map(|i| i * 10 + i).collect();
        let column: Vec<usize> = (0..10).map(|i| i * 10 + 9).collect();
        for c in diagonal.iter().chain(&column) {
            assert!(cells.contains(c), "cell {c} missing from {cells:?}");
        }
        assert_eq!(cells.len(), 19, "{cells:?}");
    }

    #[test]
    fn the_model_sees_a_stroke_as_points_along_it() {
        // 120 photo pixels = 60 model pixels: the two ends and one point every 12 between.
        let stroke = Hint { points: vec![[10, 50], [130, 50]], rgb: [9, 9, 9] };
        let points = model_points(&stroke, (200, 100), (100, 50));
        let xs: Vec<u32> = points.iter().map(|p| p.points[0][0]).collect();
        assert_eq!(xs, [10, 34, 58, 82, 106, 130]);
        assert!(points.iter().all(|p| !p.is_stroke() && p.points[0][1] == 50 && p.rgb == [9, 9, 9]));
        // A point stays a point.
        assert_eq!(model_points(&Hint::point(3, 4, [1, 2, 3]), (200, 100), (100, 50)).len(), 1);
    }
}
