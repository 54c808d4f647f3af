//! When to capture. `on_new_document`: the scene changed (a photo was placed) and then stayed
//! still for `settle` seconds: capture once, and not again until the scene changes again;
//! the empty desk is never captured. `interval`: every N seconds. `on_signal`: SIGUSR1 or a
//! trigger file (a kiosk button).
//!
//! The scene logic works on small gray thumbnails and is pure: time is passed in, so it is
//! tested on synthetic frame sequences.

use image::GrayImage;
use std::time::{Duration, Instant};

/// Mean absolute difference of two same-sized thumbnails, in 8-bit levels.
pub fn scene_difference(a: &GrayImage, b: &GrayImage) -> f32 {
    if a.dimensions() != b.dimensions() {
        return f32::INFINITY;
    }
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    sum as f32 / a.as_raw().len().max(1) as f32
}

/// Tuning of the document trigger.
#[derive(Debug, Clone, Copy)]
pub struct SceneParams {
    /// How long the scene must stay still before it counts.
    pub settle: Duration,
    /// Frame-to-frame difference above which something is moving (levels). Default 3.
    pub motion_threshold: f32,
    /// Difference from a reference scene above which the scene is another one (levels). Default 8.
    pub change_threshold: f32,
}

impl Default for SceneParams {
    fn default() -> Self {
        SceneParams { settle: Duration::from_millis(1500), motion_threshold: 3.0, change_threshold: 8.0 }
    }
}

/// The `on_new_document` trigger. The first scene that settles is taken as the empty desk
/// (start hued with the desk empty); it is followed as light drifts.
#[derive(Debug)]
pub struct DocumentTrigger {
    params: SceneParams,
    previous: Option<GrayImage>,
    still_since: Option<Instant>,
    handled: bool,
    empty: Option<GrayImage>,
    last_scene: Option<GrayImage>,
}

impl DocumentTrigger {
    /// A trigger with these parameters.
    pub fn new(params: SceneParams) -> DocumentTrigger {
        DocumentTrigger { params, previous: None, still_since: None, handled: false, empty: None, last_scene: None }
    }

    /// Feeds one frame's thumbnail; true means "capture this frame".
    pub fn feed(&mut self, thumb: &GrayImage, now: Instant) -> bool {
        let moving = self.previous.as_ref().is_none_or(|p| scene_difference(p, thumb) > self.params.motion_threshold);
        self.previous = Some(thumb.clone());
        if moving {
            self.still_since = Some(now);
            self.handled = false;
            return false;
        }
        let since = *self.still_since.get_or_insert(now);
        if self.handled || now.duration_since(since) < self.params.settle {
            return false;
        }
        self.handled = true;
        let Some(empty) = &self.empty else {
            self.empty = Some(thumb.clone());
            self.last_scene = Some(thumb.clone());
            return false;
        };
        if scene_difference(thumb, empty) <= self.params.change_threshold {
            // The desk is empty again (perhaps in other light): follow it, capture nothing.
            self.empty = Some(thumb.clone());
            self.last_scene = Some(thumb.clone());
            return false;
        }
        if self.last_scene.as_ref().is_some_and(|l| scene_difference(thumb, l) <= self.params.change_threshold) {
            return false; // the same photo, still there after a hand passed over it
        }
        self.last_scene = Some(thumb.clone());
        true
    }
}

/// The `interval` trigger.
#[derive(Debug)]
pub struct IntervalTrigger {
    every: Duration,
    last: Option<Instant>,
}

impl IntervalTrigger {
    /// Every `every`.
    pub fn new(every: Duration) -> IntervalTrigger {
        IntervalTrigger { every, last: None }
    }

    /// True when a capture is due.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.last.is_none_or(|l| now.duration_since(l) >= self.every) {
            self.last = Some(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 96;
    const H: u32 = 72;

    /// Deterministic sensor noise of +-2 levels.
    fn noise(x: u32, y: u32, t: u32) -> i32 {
        ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ t.wrapping_mul(1_299_709)) % 5) as i32 - 2
    }

    /// A desk, maybe with a photo (`photo` picks its pattern) and a hand at column `hand`.
    fn frame(photo: Option<u32>, hand: Option<u32>, t: u32) -> GrayImage {
        GrayImage::from_fn(W, H, |x, y| {
            let mut v = 90i32;
            if let Some(p) = photo {
                if (20..76).contains(&x) && (14..58).contains(&y) {
                    v = 40 + (((x / (4 + p)) + (y / 5)) % 2 * 150) as i32;
                }
            }
            if let Some(hx) = hand {
                if x >= hx && x < hx + 24 && y > 30 {
                    v = 200;
                }
            }
            image::Luma([(v + noise(x, y, t)).clamp(0, 255) as u8])
        })
    }

    /// Runs a script of (frames, photo, hand start, hand step) at 10 frames/s; returns the
    /// frame numbers at which it captured.
    fn run(script: &[(u32, Option<u32>, Option<i32>, i32)]) -> Vec<u32> {
        let mut trig = DocumentTrigger::new(SceneParams::default());
        let t0 = Instant::now();
        let mut t = 0u32;
        let mut captures = Vec::new();
        for &(frames, photo, hand, step) in script {
            for i in 0..frames {
                let hand_x = hand.map(|h| (h + step * i as i32).clamp(0, W as i32) as u32);
                if trig.feed(&frame(photo, hand_x, t), t0 + Duration::from_millis(100 * t as u64)) {
                    captures.push(t);
                }
                t += 1;
            }
        }
        captures
    }

    #[test]
    fn one_capture_per_photo_and_none_of_the_empty_desk() {
        let captures = run(&[
            (30, None, None, 0),        // empty desk, 3 s
            (8, Some(1), Some(90), -8), // hand brings photo 1 in
            (25, Some(1), None, 0),     // photo lies still 2.5 s -> capture once
            (6, Some(1), Some(10), 0),  // hand rests on it briefly (0.6 s, not settled)
            (30, Some(1), None, 0),     // still again: the same photo -> no second capture
            (8, None, Some(20), 8),     // hand takes it away
            (30, None, None, 0),        // empty desk -> nothing
            (8, Some(3), Some(90), -8), // next photo
            (30, Some(3), None, 0),     // -> capture
        ]);
        assert_eq!(captures.len(), 2, "captures at frames {captures:?}");
        assert!((53..=63).contains(&captures[0]), "first capture after 1.5 s of stillness: {captures:?}");
        assert!(captures[1] > 150, "{captures:?}");
    }

    #[test]
    fn an_empty_desk_in_changing_light_is_never_captured() {
        let mut trig = DocumentTrigger::new(SceneParams::default());
        let t0 = Instant::now();
        for t in 0..600u32 {
            // Light drifting by 30 levels over a minute, slowly.
            let shift = (t / 20) as i32;
            let img = GrayImage::from_fn(W, H, |x, y| image::Luma([(90 + shift + noise(x, y, t)).clamp(0, 255) as u8]));
            assert!(!trig.feed(&img, t0 + Duration::from_millis(100 * t as u64)), "captured an empty desk at frame {t}");
        }
    }

    #[test]
    fn interval_trigger_fires_every_period() {
        let mut i = IntervalTrigger::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let fired: Vec<u64> = (0..=12).filter(|s| i.due(t0 + Duration::from_secs(*s))).collect();
        assert_eq!(fired, vec![0, 5, 10]);
    }
}
