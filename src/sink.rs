//! Where results land. Outputs appear atomically or not at all: bytes go to a temporary file
//! in the destination folder, which is flushed to disk (fsync) and then renamed over the final
//! name; the folder is synced too, so the rename survives a power cut.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a colorized copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Beside its original, named `<stem><suffix>.<ext>`.
    Beside,
    /// In this folder, with the same `<stem><suffix>.<ext>` name.
    Folder(PathBuf),
}

/// The name of the colorized copy of `input`: `<stem><suffix>.<ext>`, in the target folder.
pub fn output_path(input: &Path, target: &OutputTarget, suffix: &str) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    let name = match input.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    match target {
        OutputTarget::Beside => input.with_file_name(name),
        OutputTarget::Folder(dir) => dir.join(name),
    }
}

/// The side-by-side comparison image for `input`: `<stem>.compare.jpg` beside its output.
pub fn compare_path(output: &Path, input: &Path) -> PathBuf {
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    output.with_file_name(format!("{stem}.compare.jpg"))
}

/// True for file names hued uses for its temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".hued-tmp-")
}

/// A file being written: a hidden temporary until [`AtomicFile::commit`]; dropped uncommitted,
/// it is removed and the destination is untouched.
pub struct AtomicFile {
    writer: Option<BufWriter<File>>,
    temp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing what will become `dest`.
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            ".hued-tmp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            dest.file_name().unwrap_or_default().to_string_lossy()
        ));
        let file = File::options().write(true).create_new(true).open(&temp)?;
        Ok(AtomicFile { writer: Some(BufWriter::with_capacity(1 << 20, file)), temp, dest: dest.to_path_buf() })
    }

    /// The writer for the content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer is present until commit")
    }

    /// Flushes, fsyncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let file = self.writer.take().expect("commit once").into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.dest)?;
        if let Some(dir) = self.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: some filesystems (SMB) refuse to open folders.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(std::mem::take(&mut self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.writer().seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
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
        assert_eq!(compare_path(Path::new("/out/photo.c.tif"), p), PathBuf::from("/out/photo.compare.jpg"));
    }

    #[test]
    fn commit_replaces_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.jpg");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"new").unwrap();
        assert!(!dest.exists(), "nothing at the final name before commit");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"abandoned").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }
}
