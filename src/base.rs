//! The low pieces every layer may use, and which use nothing of hued's: how `hued` exits,
//! opening a file as a regular file only, the formats hued reads and their extensions, and
//! hued's own file names (copies, comparison sheets, temporaries). Keeping them here keeps the
//! import picture one-way: sources, the pipeline, the sink, the daemon and the page all import
//! this, and it imports none of them.

use image::ImageFormat;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How `hued` exits: the one list of its exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything done (or skipped with a reason).
    Success = 0,
    /// A photo failed (the others were done).
    Failed = 1,
    /// Bad usage, config or model: nothing was attempted.
    Usage = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// Opens a file for reading only if it is a regular file. A FIFO, socket or device node named
/// like a photo would block a plain open (a FIFO until someone writes to it) or never end: it is
/// opened non-blocking, checked on the open handle (no race with a rename), and refused.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = File::options().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file (a FIFO, socket, device or folder)"));
    }
    Ok(file)
}

/// The formats hued reads and writes.
pub const SUPPORTED: &[ImageFormat] = &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff, ImageFormat::Bmp, ImageFormat::WebP];

/// File extensions (lowercase) of [`SUPPORTED`] formats.
pub const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "bmp", "webp"];

/// Where a colorized copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Beside its original, named `<stem><suffix>.<ext>`.
    Beside,
    /// In this folder, with the same `<stem><suffix>.<ext>` name.
    Folder(PathBuf),
}

/// The name of the colorized copy of `input`: `<stem><suffix>.<ext>`, in the target folder.
/// Built on the name's bytes: two names that are not UTF-8 (`x\xff.jpg`, `x\xfe.jpg`) keep
/// their own copies (a lossy string made both `x\u{fffd}.colorized.jpg`).
pub fn output_path(input: &Path, target: &OutputTarget, suffix: &str) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut name = input.file_stem().unwrap_or_default().as_bytes().to_vec();
    name.extend_from_slice(suffix.as_bytes());
    if let Some(ext) = input.extension() {
        name.push(b'.');
        name.extend_from_slice(ext.as_bytes());
    }
    let name = std::ffi::OsString::from_vec(name);
    match target {
        OutputTarget::Beside => input.with_file_name(name),
        OutputTarget::Folder(dir) => dir.join(name),
    }
}

/// The side-by-side comparison image for `input`: `<name>.compare.jpg` beside its output, the
/// original's whole file name kept so that `a.jpg` and `a.png` get a sheet each.
pub fn compare_path(output: &Path, input: &Path) -> PathBuf {
    let mut name = input.file_name().unwrap_or_default().to_os_string();
    name.push(COMPARE_SUFFIX);
    output.with_file_name(name)
}

/// What ends a comparison sheet's name.
const COMPARE_SUFFIX: &str = ".compare.jpg";

/// True for a comparison sheet's name (`<name>.compare.jpg`, as [`compare_path`] makes them).
pub fn is_compare_name(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.file_name().is_some_and(|n| n.as_bytes().ends_with(COMPARE_SUFFIX.as_bytes()))
}

/// Every temporary file's name starts with this, then the writing process's id.
pub(crate) const TEMP_PREFIX: &str = ".hued-tmp-";
/// True for file names hued uses for its temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// IPTC's term for "edited using trained algorithmic media" (here: colors added by a model).
pub const DIGITAL_SOURCE_TYPE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

/// What became of one photo: the one vocabulary of the report (`outcome`), the counters
/// (`hued_files_total{outcome}`), the service's state and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoOutcome {
    /// Colorized.
    Done,
    /// Left alone on purpose (already in color, its copy up to date).
    Skipped,
    /// Not colorized: damaged, unsupported, or hued could not write the copy.
    Failed,
}

impl PhotoOutcome {
    /// The word in reports and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoOutcome::Done => "done",
            PhotoOutcome::Skipped => "skipped",
            PhotoOutcome::Failed => "failed",
        }
    }

    /// The word read back: a word hued does not write counts as a failure (a report line that
    /// does not say what became of its photo does not say it is done).
    pub fn from_word(word: &str) -> PhotoOutcome {
        match word {
            "done" => PhotoOutcome::Done,
            "skipped" => PhotoOutcome::Skipped,
            _ => PhotoOutcome::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        let p = Path::new("/scans/a/photo.tif");
        assert_eq!(output_path(p, &OutputTarget::Beside, ".colorized"), PathBuf::from("/scans/a/photo.colorized.tif"));
        assert_eq!(output_path(p, &OutputTarget::Folder("/out".into()), ".c"), PathBuf::from("/out/photo.c.tif"));
        let sheet = compare_path(Path::new("/out/photo.c.tif"), p);
        assert_eq!(sheet, PathBuf::from("/out/photo.tif.compare.jpg"));
        assert!(is_compare_name(&sheet) && !is_compare_name(Path::new("/out/photo.compare.png")));
    }
}

/// How a stage changed what a photo shows, in the words of a copy's Content Credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// Tones or colors adjusted by a rule (`c2pa.color_adjustments`): levels.
    Adjusted,
    /// Colors made by the trained model (`c2pa.edited`, its digital source type
    /// [`DIGITAL_SOURCE_TYPE`]).
    Colorized,
}

/// What one pipeline stage did to a photo: the record that every account of the work is made
/// of — the log line, `hued bench`'s table, the copy's XMP History and its Content Credentials'
/// actions — so that a new stage is its own module plus the push of its step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The stage ("decode", "prepare", "infer", "recombine", "encode").
    pub name: &'static str,
    /// What it did, as (key, value) pairs; empty where nothing is worth recording.
    pub parameters: Vec<(&'static str, String)>,
    /// How it changed what the photo shows; None where it did not (decoding, encoding).
    pub action: Option<StepAction>,
    /// Its wall time.
    pub time: std::time::Duration,
}

/// The stages a photo went through, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Steps(pub Vec<Step>);

impl Steps {
    /// The next stage's record.
    pub fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    /// The stages' time together.
    pub fn total(&self) -> std::time::Duration {
        self.0.iter().map(|s| s.time).sum()
    }

    /// What was done, for a copy's XMP History: each stage with parameters, as
    /// `stage: key value, key value; ...`.
    pub fn parameters(&self) -> String {
        self.0
            .iter()
            .filter(|s| !s.parameters.is_empty())
            .map(|s| format!("{}: {}", s.name, s.parameters.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let each: Vec<String> = self.0.iter().map(|s| format!("{} {:.0}", s.name, ms(s.time))).collect();
        write!(f, "{:.0} ms ({})", ms(self.total()), each.join(", "))
    }
}

/// Whether `path` is named as a BMP: a format that carries no metadata, so no provenance (hued's
/// own BMP copy and a person's BMP look alike).
pub fn is_bmp_name(path: &Path) -> bool {
    ImageFormat::from_path(path).is_ok_and(|f| f == ImageFormat::Bmp)
}
