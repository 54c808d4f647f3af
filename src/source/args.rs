//! Photos named on the command line: files, and folders of images (recursively with `-r`).

use crate::pipeline::decode::EXTENSIONS;
use std::path::{Path, PathBuf};

/// An input that is not a photo to process, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The path as given or found.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
    /// An error (the run fails) rather than a skip.
    pub is_error: bool,
}

/// True when the file name looks like one hued wrote: `<stem><suffix>.<ext>`,
/// a `.compare.jpg`, or a temporary.
pub fn is_hued_output(path: &Path, suffix: &str) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    stem.ends_with(suffix) || stem.ends_with(".compare") || crate::sink::is_temp_name(&name)
}

/// True when the extension is one hued reads.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
}

/// Expands command-line paths into the photos to process. Files named explicitly are always
/// attempted (a wrong one then fails with its reason), except hued's own outputs.
pub fn collect(paths: &[PathBuf], recursive: bool, suffix: &str) -> (Vec<PathBuf>, Vec<Rejected>) {
    let (mut found, mut rejected) = (Vec::new(), Vec::new());
    for path in paths {
        if path.is_dir() {
            let photo = |p: &Path| has_image_extension(p) && !is_hued_output(p, suffix);
            let unlistable =
                |p: &Path, e: std::io::Error| rejected.push(Rejected { path: p.to_path_buf(), reason: format!("cannot list folder: {e}"), is_error: true });
            found.extend(super::walk::files(path, recursive, super::walk::FolderLinks::Follow, photo, unlistable));
        } else if is_hued_output(path, suffix) {
            rejected.push(Rejected { path: path.clone(), reason: "is a colorized copy made by hued".into(), is_error: false });
        } else {
            found.push(path.clone());
        }
    }
    (found, rejected)
}
