//! One photo to colorize: where it is, where its copy goes, and the options that apply.

use crate::base::{compare_path, output_path, OutputTarget};
use crate::config::ColorizeConfig;
use crate::hints::Hint;
use std::path::PathBuf;

/// Levels correction: the mode and the stretch's black and white percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Auto (faded prints only), on (always), off.
    pub mode: crate::config::LevelsMode,
    /// Black point: this percentage of pixels may become pure black.
    pub low_percent: f32,
    /// White point: pixels above this percentile become pure white.
    pub high_percent: f32,
}

/// The per-photo settings, resolved from the config and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Chroma gain.
    pub vividness: f32,
    /// Levels correction: when, and at which percentiles.
    pub levels: Levels,
    /// Skip photos already in color.
    pub skip_color: bool,
    /// Pixel limit, in megapixels.
    pub max_megapixels: f64,
    /// JPEG quality.
    pub jpeg_quality: u8,
    /// PNG and TIFF compression.
    pub compression: crate::config::Compression,
    /// Model input long side (0 = manifest).
    pub model_long_side: u32,
    /// Also write a side-by-side comparison JPEG.
    pub compare: bool,
    /// Colorize photos already in color too, and redo copies that are up to date.
    pub force: bool,
    /// Sign each copy's Content Credentials with these (`[provenance]`); none: no manifest.
    pub credentials: Option<crate::credentials::Credentials>,
}

impl Settings {
    /// The settings a `[colorize]` section gives.
    pub fn from_config(c: &ColorizeConfig) -> Settings {
        Settings {
            vividness: c.vividness,
            levels: Levels { mode: c.levels, low_percent: c.levels_low_percent, high_percent: c.levels_high_percent },
            skip_color: c.skip_color,
            max_megapixels: c.max_megapixels,
            jpeg_quality: c.jpeg_quality,
            compression: c.compression,
            model_long_side: c.model_long_side,
            compare: false,
            force: false,
            credentials: None,
        }
    }
}

/// One photo to colorize.
#[derive(Debug, Clone)]
pub struct Job {
    /// The original; only ever opened for reading.
    pub input: PathBuf,
    /// The colorized copy.
    pub output: PathBuf,
    /// The comparison image, when asked for.
    pub compare: Option<PathBuf>,
    /// How.
    pub settings: Settings,
    /// The user's color hints for this photo (none: the model guesses every color).
    pub hints: Vec<Hint>,
}

impl Job {
    /// A job for `input`, its output named by `target` and `suffix`.
    pub fn new(input: PathBuf, target: &OutputTarget, suffix: &str, settings: Settings) -> Job {
        let output = output_path(&input, target, suffix);
        let compare = settings.compare.then(|| compare_path(&output, &input));
        Job { input, output, compare, settings, hints: Vec::new() }
    }
}
