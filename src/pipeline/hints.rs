//! Stage 3's helper: user color hints ([`crate::hints`]) turned into the model's hint planes
//! (a, b, mask) at the model's input size.

use crate::hints::Hint;

/// Side, in model-input pixels, of the square one hint covers. The training code's evaluation
/// (`training/evaluate.py`, `HINT_PATCH`) uses the same.
pub const HINT_PATCH: usize = 3;

/// The model's hint planes for a `width` x `height` photo shrunk to `model_w` x `model_h`:
/// a and b (Lab units) and a mask, each `model_w * model_h` values, one after the other.
/// Each hint covers a [`HINT_PATCH`]-pixel square (clipped at the borders) around its point.
pub fn hint_planes(hints: &[Hint], width: u32, height: u32, model_w: u32, model_h: u32) -> Vec<f32> {
    let (mw, mh) = (model_w as usize, model_h as usize);
    let mut planes = vec![0f32; 3 * mw * mh];
    let (a_plane, rest) = planes.split_at_mut(mw * mh);
    let (b_plane, mask) = rest.split_at_mut(mw * mh);
    for hint in hints {
        // The model pixel whose area holds the point.
        let cx = ((hint.x as f64 + 0.5) * mw as f64 / width as f64) as usize;
        let cy = ((hint.y as f64 + 0.5) * mh as f64 / height as f64) as usize;
        let (cx, cy) = (cx.min(mw - 1), cy.min(mh - 1));
        let [a, b] = hint.ab();
        let r = HINT_PATCH / 2;
        for y in cy.saturating_sub(r)..(cy + HINT_PATCH - r).min(mh) {
            for x in cx.saturating_sub(r)..(cx + HINT_PATCH - r).min(mw) {
                let i = y * mw + x;
                a_plane[i] = a;
                b_plane[i] = b;
                mask[i] = 1.0;
            }
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_put_a_patch_of_the_hint_color_at_the_scaled_point() {
        let red = Hint { x: 500, y: 250, rgb: [200, 30, 30] };
        let planes = hint_planes(&[red], 1000, 500, 64, 32);
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
        let corner = hint_planes(&[Hint { x: 999, y: 499, rgb: [0, 0, 255] }], 1000, 500, 64, 32);
        assert_eq!(corner[2 * n..].iter().filter(|&&m| m == 1.0).count(), 4);
        assert_eq!(corner[3 * n - 1], 1.0);
    }
}
