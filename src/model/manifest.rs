//! A model's manifest: everything the pipeline needs to know to feed a colorization model.
//! A third-party colorizer is added by writing one of these beside its ONNX file.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `models/<name>.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Model name, written into every output's provenance.
    pub name: String,
    /// The ONNX file, relative to the manifest.
    pub onnx: PathBuf,
    /// Lowercase hex sha256 of the ONNX file; checked at load.
    pub sha256: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// How to feed it.
    pub input: InputSpec,
    /// How to read what it gives back.
    pub output: OutputSpec,
}

/// The model's inputs. Layout is NCHW with N = 1.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name of the lightness input, shape (1, 1, H, W).
    pub l_name: String,
    /// The model sees `L * l_scale + l_offset`, with L* in 0..=100.
    pub l_scale: f32,
    /// See `l_scale`.
    #[serde(default)]
    pub l_offset: f32,
    /// Name of the hint input, shape (1, 3, H, W): a, b (times `hint_ab_scale`) and a mask.
    /// Absent when the model takes no hints.
    #[serde(default)]
    pub hints_name: Option<String>,
    /// Scale of the hint ab values. Default 1/110.
    #[serde(default = "default_hint_scale")]
    pub hint_ab_scale: f32,
    /// H and W must be multiples of this.
    pub size_multiple: u32,
    /// The default long side of the model's input.
    pub long_side: u32,
    /// Smallest allowed side.
    pub min_side: u32,
    /// Largest allowed side.
    pub max_side: u32,
}

fn default_hint_scale() -> f32 {
    1.0 / 110.0
}

/// The model's output.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Name of the ab output, shape (1, 2, H / downsample, W / downsample).
    pub name: String,
    /// Multiply the output by this to get Lab a and b.
    pub ab_scale: f32,
    /// The output's resolution divisor (1, 2, 4...).
    pub downsample: u32,
}

impl Manifest {
    /// Parses a manifest's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> anyhow::Result<Manifest> {
        let m: Manifest = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {}", origin.display(), e.to_string().trim()))?;
        let i = &m.input;
        anyhow::ensure!(
            i.size_multiple > 0 && i.min_side >= i.size_multiple && i.min_side <= i.long_side && i.long_side <= i.max_side,
            "{}: input sizes must satisfy size_multiple <= min_side <= long_side <= max_side",
            origin.display()
        );
        anyhow::ensure!(
            m.output.downsample > 0 && i.size_multiple.is_multiple_of(m.output.downsample),
            "{}: output.downsample must divide input.size_multiple",
            origin.display()
        );
        Ok(m)
    }

    /// The model input size (width, height) for an image: the long side becomes `long_side`
    /// (clamped to the manifest's limits), the short side keeps the aspect ratio rounded to a
    /// multiple of `size_multiple`. The small stretch this rounding makes (under 6 % for the
    /// default 256 px and 32 px multiple) is undone when colors are mapped back to full
    /// resolution, since each axis is mapped separately; unlike padding it wastes no compute
    /// and gives the model no artificial borders.
    pub fn input_size(&self, width: u32, height: u32, long_side: u32) -> (u32, u32) {
        let i = &self.input;
        let m = i.size_multiple;
        let long = if long_side == 0 { i.long_side } else { long_side };
        let long = (long / m * m).clamp(i.min_side, i.max_side);
        let round = |short: u32, long_px: u32| {
            let s = (short as f64 * long as f64 / long_px.max(1) as f64 / m as f64).round() as u32 * m;
            s.clamp(i.min_side, long)
        };
        if width >= height {
            (long, round(height, width))
        } else {
            (round(width, height), long)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Manifest {
        let text = include_str!("../../tests/fixtures/tiny-qdq.toml");
        Manifest::parse(text, Path::new("tiny-qdq.toml")).unwrap()
    }

    #[test]
    fn input_size_keeps_aspect_in_multiples() {
        let m = fixture();
        assert_eq!(m.input_size(4000, 3000, 256), (256, 192));
        assert_eq!(m.input_size(3000, 4000, 256), (192, 256));
        assert_eq!(m.input_size(1000, 1000, 0), (128, 128));
        // A very long panorama keeps the smallest allowed short side.
        assert_eq!(m.input_size(10000, 100, 256), (256, 32));
        // Requests beyond the manifest's limits are clamped.
        assert_eq!(m.input_size(100, 100, 4096), (512, 512));
    }

    #[test]
    fn bad_manifest_is_refused_with_its_name() {
        let e = Manifest::parse("name = 1", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().starts_with("x.toml:"), "{e}");
    }
}
