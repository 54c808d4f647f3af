//! Stage 3, infer: shrink L to the model's input size, run the model, get ab at low resolution.

use super::hint_planes::hint_planes;
use super::prepare::Luma;
use crate::hints::Hint;
use crate::model::{AbLow, Model};
use fast_image_resize::{images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// Area-averages a float plane to `dst_w` x `dst_h` (each output pixel is the mean of the
/// input pixels it covers, so no detail aliases into the small image).
pub fn shrink_plane(src: &[f32], src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Vec<f32> {
    // A very thin photo is widened on its short side (the model needs at least its min_side)
    // while its long side shrinks. The resizer's first pass would widen it at the long side's
    // full length (a 1 x 20,000,000 PNG: 2.5 GB), so the shrinking axis goes first, alone.
    if dst_w > src_w && dst_h < src_h {
        let shrunk = resize_plane(src, src_w, src_h, src_w, dst_h);
        return resize_plane(&shrunk, src_w, dst_h, dst_w, dst_h);
    }
    if dst_h > src_h && dst_w < src_w {
        let shrunk = resize_plane(src, src_w, src_h, dst_w, src_h);
        return resize_plane(&shrunk, dst_w, src_h, dst_w, dst_h);
    }
    resize_plane(src, src_w, src_h, dst_w, dst_h)
}

fn resize_plane(src: &[f32], src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Vec<f32> {
    let src_img = ImageRef::new(src_w as u32, src_h as u32, bytemuck::cast_slice(src), PixelType::F32).expect("plane size matches its dimensions");
    let mut dst = Image::new(dst_w as u32, dst_h as u32, PixelType::F32);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    Resizer::new().resize(&src_img, &mut dst, &options).expect("F32 to F32 resize is supported");
    bytemuck::pod_collect_to_vec(dst.buffer())
}

/// Runs the model on `luma`, whose long side is brought to `long_side` (0: the manifest's),
/// with the user's color `hints` (none: the hint channels, if the model has them, get zeros).
/// Hints for a model without hint inputs are an error, not silently dropped.
pub fn infer(model: &Model, luma: &Luma, long_side: u32, hints: &[Hint]) -> anyhow::Result<AbLow> {
    let (w, h) = model.manifest.input_size(luma.width as u32, luma.height as u32, long_side);
    let small = shrink_plane(&luma.l, luma.width, luma.height, w as usize, h as usize);
    if hints.is_empty() {
        return model.run(&small, None, w, h);
    }
    anyhow::ensure!(model.has_hints(), "model {} takes no color hints", model.manifest.name);
    let planes = hint_planes(hints, luma.width as u32, luma.height as u32, w, h);
    model.run(&small, Some(&planes), w, h)
}
