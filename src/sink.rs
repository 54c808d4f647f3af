//! Where results land. Outputs appear atomically or not at all: bytes go to a temporary file
//! in the destination folder, which is flushed to disk (fsync) and then renamed over the final
//! name; the folder is synced too, so the rename survives a power cut.

use crate::base::{is_temp_name, TEMP_PREFIX};
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary file of a dead process is removed once it has not been written for this long.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(120);
/// Bytes of the destination's name kept in a temporary file's name.
const TEMP_NAME_KEEP: usize = 64;

/// The id of the process that wrote a temporary file, from its name, and whether it ran on
/// this machine (since its last boot): `.hued-tmp-<pid>-<n>-h<host>-<name>`. Names without the
/// host tag (older versions) are of an unknown machine.
fn temp_owner(name: &str) -> Option<(u32, bool)> {
    let mut fields = name.strip_prefix(TEMP_PREFIX)?.split('-');
    let pid = fields.next()?.parse().ok()?;
    let _counter = fields.next();
    let here = fields.next().and_then(|f| f.strip_prefix('h')).is_some_and(|tag| tag == host_tag());
    Some((pid, here))
}

/// Eight hex digits that tell this machine since its boot from any other (and from itself
/// before a reboot): a hash of the host name, the kernel's boot id and the process-id
/// namespace. A temporary file tagged
/// with it whose process is gone was left by a crash here and can be removed at once; one of
/// another machine (a share written by several stations) only once it has aged.
fn host_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let read = |p: &str| std::fs::read(p).unwrap_or_default();
        // The process-id namespace too: containers that share the host name and boot (host
        // networking) each count their processes apart.
        let pid_namespace = std::fs::read_link("/proc/self/ns/pid").map(|l| l.into_os_string().into_encoded_bytes()).unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(read("/proc/sys/kernel/hostname"))
            .chain_update(read("/proc/sys/kernel/random/boot_id"))
            .chain_update(pid_namespace)
            .finalize();
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// Whether a process with this id exists. Where /proc is missing nothing can be known, and
/// every process counts as alive (nothing is swept).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Removes the temporary files in `dir` (and below it, when `recursive`) that processes which
/// no longer exist left behind: a SIGKILL or a power cut mid-write. A temporary of this
/// machine goes as soon as its process is gone; one of an unknown machine (on a share, its
/// process id means nothing here) once it has not been written for two minutes. Symbolic
/// links are not followed. Returns the files removed.
pub(crate) fn sweep_stale_temps(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    // walkdir directly (links not followed, hidden names included, unreadable folders passed
    // over): the sink stays below the sources, whose walker serves photos, not temporaries.
    let walk = walkdir::WalkDir::new(dir).follow_links(false).max_depth(if recursive { usize::MAX } else { 1 });
    let temps = walk.into_iter().filter_map(Result::ok).filter(|e| !e.file_type().is_dir()).map(walkdir::DirEntry::into_path);
    let temp = |p: &PathBuf| p.file_name().is_some_and(|n| is_temp_name(&n.to_string_lossy()));
    let stale = |p: &PathBuf| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let Some((pid, here)) = temp_owner(&name) else { return false };
        let meta = std::fs::symlink_metadata(p).ok().filter(|m| m.is_file());
        let idle = || meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= STALE_TEMP_AGE);
        meta.is_some() && pid != std::process::id() && !process_alive(pid) && (here || idle())
    };
    temps.filter(temp).filter(stale).filter(|p| std::fs::remove_file(p).is_ok()).collect()
}

/// A file being written: a hidden temporary until [`AtomicFile::commit`]; dropped uncommitted,
/// it is removed and the destination is untouched.
pub(crate) struct AtomicFile {
    writer: Option<BufWriter<File>>,
    temp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing what will become `dest`.
    pub(crate) fn create(dest: &Path) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // The destination's name only helps a person who finds the temp file: at most 64 bytes
        // of it, so that any name that fits the file system also fits as a temporary.
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let mut cut = name.len().min(TEMP_NAME_KEEP);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let temp = dir.join(format!("{TEMP_PREFIX}{}-{}-h{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), host_tag(), &name[..cut]));
        // Created and registered under the registry's lock, so remove_live_temps never misses one.
        let mut live = live_temps();
        let file = File::options().read(true).write(true).create_new(true).open(&temp)?;
        live.push(temp.clone());
        drop(live);
        Ok(AtomicFile { writer: Some(BufWriter::with_capacity(1 << 20, file)), temp, dest: dest.to_path_buf() })
    }

    /// The writer for the content.
    pub(crate) fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer is present until commit")
    }

    /// Flushes, fsyncs and renames the file into place. On any error the temporary file is
    /// removed (a full disk must not fill up further with each retry).
    pub(crate) fn commit(self) -> io::Result<PathBuf> {
        self.place(None)
    }

    /// [`AtomicFile::commit`], but a file that appears at the destination meanwhile (another
    /// process placing its own file there) is replaced only if `may_replace` says so; if not,
    /// the temporary is removed and the error is `AlreadyExists`. Where the file system cannot
    /// rename without replacing (some network shares), it replaces, as `commit` does.
    pub(crate) fn commit_unless_taken(self, may_replace: &dyn Fn(&Path) -> bool) -> io::Result<PathBuf> {
        self.place(Some(may_replace))
    }

    fn place(mut self, may_replace: Option<&dyn Fn(&Path) -> bool>) -> io::Result<PathBuf> {
        let writer = self.writer.take().expect("commit once");
        let placed = writer.into_inner().map_err(|e| e.into_error()).and_then(|file| file.sync_all()).and_then(|()| match may_replace {
            None => std::fs::rename(&self.temp, &self.dest),
            Some(may_replace) => match rename_no_replace(&self.temp, &self.dest) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match may_replace(&self.dest) {
                    true => std::fs::rename(&self.temp, &self.dest),
                    false => Err(e),
                },
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => std::fs::rename(&self.temp, &self.dest),
                done => done,
            },
        });
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&self.temp);
            forget_live_temp(&self.temp);
            return Err(e);
        }
        forget_live_temp(&self.temp); // renamed: nothing of it is left to remove
        if let Some(dir) = self.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: some filesystems (SMB) refuse to open folders.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(std::mem::take(&mut self.dest))
    }
}

/// rename(2) that fails with EEXIST instead of replacing a file at `to` (Linux renameat2
/// with RENAME_NOREPLACE, called directly: glibc has a wrapper only from 2.28).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let (from, to) = (std::ffi::CString::new(from.as_os_str().as_bytes())?, std::ffi::CString::new(to.as_os_str().as_bytes())?);
    const RENAME_NOREPLACE: libc::c_uint = 1;
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), RENAME_NOREPLACE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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

/// Reads back what was written (signing reads the encoded copy while it writes the signed one).
impl io::Read for AtomicFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let writer = self.writer();
        writer.flush()?;
        writer.get_mut().read(buf)
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
            forget_live_temp(&self.temp);
        }
    }
}

/// The temporary files this process is writing now.
static LIVE_TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The registry, also after a panic while it was held (it stays a plain list of paths).
fn live_temps() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops `temp` from the registry once it is renamed into place or removed.
fn forget_live_temp(temp: &Path) {
    live_temps().retain(|t| t != temp);
}

/// Removes every temporary file this process is writing, for a process about to end on a
/// signal (`hued colorize` under SIGTERM from Slurm at its time limit, or Ctrl-C). Returns the
/// registry's lock, still held, so that no new temporary file can appear before the exit.
pub(crate) fn remove_live_temps() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    let mut live = live_temps();
    for temp in live.drain(..) {
        let _ = std::fs::remove_file(temp);
    }
    live
}

/// True when `output` exists and is newer than every one of `inputs` (the original, its sidecar,
/// its reference photo: `Job::depends_on`); false where the original cannot be read. Their change
/// time counts too: `rsync -t` or `cp -p` can put an old modification time on new content, but
/// the change time of a replaced file is always now.
pub(crate) fn is_up_to_date(inputs: &[PathBuf], output: &Path) -> bool {
    let Ok(out_meta) = std::fs::metadata(output) else { return false };
    let modified = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).ok()?;
        let changed = std::time::UNIX_EPOCH + std::time::Duration::new(m.ctime().max(0) as u64, m.ctime_nsec().clamp(0, 999_999_999) as u32);
        m.modified().ok().map(|t| t.max(changed))
    };
    // The original must be there; a sidecar or reference that is gone changes nothing (a
    // reference deleted meanwhile must not make every copy of its folder be redone).
    let Some((original, rest)) = inputs.split_first() else { return false };
    let newest_input = modified(original).map(|t| rest.iter().filter_map(|p| modified(p)).fold(t, std::time::SystemTime::max));
    out_meta.modified().ok().zip(newest_input).is_some_and(|(o, i)| o >= i)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_failed_commit_leaves_no_temp_file() {
        // The rename fails: the destination is a folder that is not empty.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.jpg");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("inside"), b"").unwrap();
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(&[7u8; 3 << 20]).unwrap();
        assert!(f.commit().is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.jpg")], "only the folder is left");
    }

    #[test]
    fn a_name_that_fits_the_file_system_fits_as_a_temporary_too() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join(format!("{}.colorized.jpg", "é".repeat(110)));
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(f.commit().unwrap(), dest);
        assert_eq!(std::fs::read(&dest).unwrap(), b"x");
    }

    #[test]
    fn sweeps_temp_files_of_dead_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // A process that has exited: its id is free (until reused, which only keeps its files).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".hued-tmp-{dead}-0-a.jpg"));
        let stale_below = dir.path().join("sub").join(format!(".hued-tmp-{dead}-1-b.jpg"));
        let ours = dir.path().join(format!(".hued-tmp-{}-0-c.jpg", std::process::id()));
        let other = dir.path().join(".hued-tmp-notapid-d.jpg");
        for p in [&stale, &stale_below, &ours, &other] {
            std::fs::write(p, b"partial").unwrap();
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
            std::fs::File::options().write(true).open(p).unwrap().set_modified(old).unwrap();
        }
        // A fresh one of a dead process may be another station's, writing on a share: kept.
        let fresh = dir.path().join(format!(".hued-tmp-{dead}-2-e.jpg"));
        std::fs::write(&fresh, b"partial").unwrap();
        assert_eq!(sweep_stale_temps(dir.path(), false), vec![stale.clone()]);
        assert_eq!(sweep_stale_temps(dir.path(), true), vec![stale_below.clone()]);
        assert!(ours.exists() && other.exists() && fresh.exists());
        // A fresh one tagged with this machine: its process is gone for sure (a SIGKILL).
        let crashed_here = dir.path().join(format!(".hued-tmp-{dead}-3-h{}-f.jpg", host_tag()));
        let elsewhere = dir.path().join(format!(".hued-tmp-{dead}-4-h00000000-g.jpg"));
        std::fs::write(&crashed_here, b"partial").unwrap();
        std::fs::write(&elsewhere, b"partial").unwrap();
        assert_eq!(sweep_stale_temps(dir.path(), false), vec![crashed_here]);
        assert!(elsewhere.exists() && fresh.exists());
    }
}
