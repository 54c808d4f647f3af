//! A channel-inner depthwise convolution kernel for x86_64 with AVX, filed into tract's own
//! kernel registry.
//!
//! tract runs a depthwise convolution channel-last through `depthwise_c_f32`, a kernel each
//! architecture may register; aarch64 and wasm have one, x86_64 (tract 0.23.9) has none. With
//! one registered, tract's optimizer lays the depthwise layers out channel-last by itself
//! (without, it keeps them channel-first, where the stride-2 and small-image layers run
//! mostly scalar). Measured on the shipped model (1 thread, 256x192, README "Performance"):
//! the 16 depthwise layers took 14.7 ms of a 50 ms inference; with this kernel 2.6 ms.
//!
//! The arithmetic is tract's generic loop's, in its order: the bias, then per tap one multiply
//! and one add (no FMA), so every output is bit-identical to the path it replaces (tested).
//! Written to tract's contract for the kernel (`tract_linalg::routines::DepthwiseCF32`); worth
//! offering upstream, after which this module goes.

use tract_linalg::isa::{Arch, Isa, IsaReq};
use tract_linalg::routines::{Func, Routine, RoutineFactory};

/// The kernel's name in tract's registry (what `routines::best_for` answers with).
pub(super) const NAME: &str = "hued_avx_depthwise_c_f32";

inventory::submit! {
    Routine {
        func: Func::DepthwiseC,
        arch: Some(Arch::X86_64),
        isa: IsaReq::ANY.needing(&[Isa::X86_64Avx]),
        boost: 0,
        round_trip: false,
        factory: RoutineFactory::DepthwiseCF32 { name: NAME, run: depthwise_c_f32 },
    }
}

/// For each of `len` output positions `i` and each channel `c` below `channels`:
/// `output[i * out_stride + c] = bias[c] + Σ_t kernel[tap_indices[t] * k_stride + c] *
/// input[i * in_stride + offsets[t] + c]`, summed in tap order.
///
/// # Safety
/// tract's contract for `DepthwiseCF32`: `input.offset(i * in_stride + offsets[t] + c)` and
/// `kernel.add(tap_indices[t] * k_stride + c)` readable for every tap, every `i < len` and
/// every `c < channels`; `channels` values readable from `bias` and writable from
/// `output.offset(i * out_stride)` for every `i < len`; a CPU with AVX (tract's registry
/// checks that before selecting it).
#[target_feature(enable = "avx")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn depthwise_c_f32(
    input: *const f32,
    output: *mut f32,
    kernel: *const f32,
    tap_indices: &[usize],
    offsets: &[isize],
    bias: *const f32,
    channels: usize,
    k_stride: usize,
    len: usize,
    in_stride: isize,
    out_stride: isize,
) {
    use std::arch::x86_64::*;
    debug_assert_eq!(tap_indices.len(), offsets.len());
    // SAFETY (whole body): every pointer offset stays within the ranges the caller vouches for.
    unsafe {
        for i in 0..len as isize {
            let iptr = input.offset(i * in_stride);
            let optr = output.offset(i * out_stride);
            let mut c = 0usize;
            // 32 channels at a time: four independent accumulator chains for the adder.
            while c + 32 <= channels {
                let mut acc =
                    [_mm256_loadu_ps(bias.add(c)), _mm256_loadu_ps(bias.add(c + 8)), _mm256_loadu_ps(bias.add(c + 16)), _mm256_loadu_ps(bias.add(c + 24))];
                for (&tap, &offset) in tap_indices.iter().zip(offsets) {
                    let k = kernel.add(tap * k_stride + c);
                    let x = iptr.offset(offset).add(c);
                    for (j, acc) in acc.iter_mut().enumerate() {
                        let product = _mm256_mul_ps(_mm256_loadu_ps(k.add(8 * j)), _mm256_loadu_ps(x.add(8 * j)));
                        *acc = _mm256_add_ps(*acc, product);
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    _mm256_storeu_ps(optr.add(c + 8 * j), *acc);
                }
                c += 32;
            }
            while c + 8 <= channels {
                let mut acc = _mm256_loadu_ps(bias.add(c));
                for (&tap, &offset) in tap_indices.iter().zip(offsets) {
                    let product = _mm256_mul_ps(_mm256_loadu_ps(kernel.add(tap * k_stride + c)), _mm256_loadu_ps(iptr.offset(offset).add(c)));
                    acc = _mm256_add_ps(acc, product);
                }
                _mm256_storeu_ps(optr.add(c), acc);
                c += 8;
            }
            while c < channels {
                let mut sum = *bias.add(c);
                for (&tap, &offset) in tap_indices.iter().zip(offsets) {
                    sum += *kernel.add(tap * k_stride + c) * *iptr.offset(offset).add(c);
                }
                *optr.add(c) = sum;
                c += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same sums, the way tract's generic loop writes them.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        input: &[f32],
        kernel: &[f32],
        taps: &[usize],
        offsets: &[isize],
        bias: &[f32],
        channels: usize,
        k_stride: usize,
        len: usize,
        in_stride: isize,
        out_stride: isize,
        out: &mut [f32],
    ) {
        for i in 0..len {
            let base = i as isize * in_stride;
            let o = i * out_stride as usize;
            out[o..o + channels].copy_from_slice(&bias[..channels]);
            for (&t, &off) in taps.iter().zip(offsets) {
                for c in 0..channels {
                    out[o + c] += kernel[t * k_stride + c] * input[(base + off) as usize + c];
                }
            }
        }
    }

    #[test]
    fn matches_tracts_generic_loop_bit_for_bit() {
        if !std::is_x86_feature_detected!("avx") {
            eprintln!("skipped: this CPU has no AVX");
            return;
        }
        // Channel counts that exercise every branch (32-blocks, 8-blocks, the scalar tail), a
        // 3x3 kernel as tract lays it out for a channel-last image 5 wide, stride 2.
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        for channels in [1usize, 7, 8, 19, 32, 45, 96, 144] {
            let (width, len, stride) = (5usize, 2usize, 2isize);
            let k_stride = channels + 3;
            let taps: Vec<usize> = (0..9).collect();
            let offsets: Vec<isize> = (0..9).map(|t| ((t / 3) * width + t % 3) as isize * channels as isize).collect();
            let input: Vec<f32> = (0..width * 4 * channels).map(|_| next()).collect();
            let kernel: Vec<f32> = (0..9 * k_stride).map(|_| next()).collect();
            let bias: Vec<f32> = (0..channels).map(|_| next()).collect();
            let in_stride = stride * channels as isize;
            let out_stride = channels as isize;
            let mut expected = vec![0f32; len * channels];
            reference(&input, &kernel, &taps, &offsets, &bias, channels, k_stride, len, in_stride, out_stride, &mut expected);
            let mut got = vec![f32::NAN; len * channels];
            // SAFETY: the buffers above cover every read and write the contract names.
            unsafe {
                depthwise_c_f32(
                    input.as_ptr(),
                    got.as_mut_ptr(),
                    kernel.as_ptr(),
                    &taps,
                    &offsets,
                    bias.as_ptr(),
                    channels,
                    k_stride,
                    len,
                    in_stride,
                    out_stride,
                );
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "{channels} channels");
        }
    }

    #[test]
    fn tract_selects_it_on_this_cpu() {
        if !std::is_x86_feature_detected!("avx") {
            eprintln!("skipped: this CPU has no AVX");
            return;
        }
        let chosen = tract_linalg::routines::best_for(Func::DepthwiseC, tract_onnx::prelude::DatumType::F32, &tract_linalg::isa::native());
        assert_eq!(chosen.map(|r| r.name()), Some(NAME));
        assert!(tract_linalg::routines::depthwise_c_f32().is_some());
    }
}
