//! Photos named on the command line: files, and folders of images (recursively with `-r`).

use crate::base::EXTENSIONS;
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
    /// The shard key of a path found in a walk (a broken link): only its shard reports it.
    /// None: every shard reports it (a folder no shard can list).
    pub key: Option<PathBuf>,
    /// An input of the run, with a report line; false for a warning only (a broken link that
    /// is not named like a photo: it may have been a folder, or anything).
    pub is_input: bool,
}

/// True when the file name is one of hued's own by its form alone: a `.compare.jpg` or a
/// temporary.
fn is_hued_side_file(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    crate::base::is_compare_name(path) || crate::base::is_temp_name(&name)
}

/// True when the file name has the form of one of hued's outputs: `<stem><suffix>.<ext>`, a
/// `.compare.jpg`, or a temporary. The daemon's watch filters events by this alone (cheap, on
/// every event, and its scanners do not name photos so).
pub fn has_hued_output_name(path: &Path, suffix: &str) -> bool {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    is_hued_side_file(path) || (!suffix.is_empty() && stem.ends_with(suffix))
}

/// True when the file is a colorized copy that hued made: a comparison sheet or temporary,
/// or a `<stem><suffix>.<ext>` that carries hued's provenance or has its original
/// `<stem>.<ext>` beside it (copies of BMPs carry no metadata). A photo that only has such a
/// name (someone else's `old.colorized.jpg`) is a photo.
pub fn is_hued_output(path: &Path, suffix: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if is_hued_side_file(path) {
        return true;
    }
    let stem = path.file_stem().unwrap_or_default().as_bytes();
    let Some(original_stem) = stem.strip_suffix(suffix.as_bytes()).filter(|s| !s.is_empty() && !suffix.is_empty()) else { return false };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("bmp")) {
        // A BMP has no place for metadata: its name is all there is to tell.
        return true;
    }
    let mut original = original_stem.to_vec();
    if let Some(ext) = path.extension() {
        original.push(b'.');
        original.extend_from_slice(ext.as_bytes());
    }
    path.with_file_name(std::ffi::OsStr::from_bytes(&original)).exists() || crate::pipeline::metadata::read_provenance(path).is_some()
}

/// True when the extension is one hued reads.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
}

/// One input of a streamed run: a photo to try, or a path refused with its reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A photo to colorize; `key` is what sharding hashes: its path relative to the folder
    /// argument it was found in, or the path as given.
    Photo {
        /// The file.
        path: PathBuf,
        /// The shard key.
        key: PathBuf,
        /// The folder below the folder argument it was found in ("" at its top), which
        /// `--out` mirrors; None for a photo named by itself.
        subfolder: Option<PathBuf>,
    },
    /// Not a photo to process.
    Rejected(Rejected),
}

/// A slice of the inputs: `index` of `count` (0-based). Every machine computes the same slices
/// from the same paths without talking to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This slice, 0..count.
    pub index: u64,
    /// How many slices.
    pub count: u64,
}

impl Shard {
    /// `K/N` (K from 0 to N-1).
    pub fn parse(spec: &str) -> Result<Shard, String> {
        let (k, n) = spec.split_once('/').ok_or_else(|| format!("--shard {spec}: expected K/N, e.g. 0/4 (K from 0 to N-1)"))?;
        let (index, count) = (k.trim().parse::<u64>(), n.trim().parse::<u64>());
        match (index, count) {
            (Ok(index), Ok(count)) if count > 0 && index < count => Ok(Shard { index, count }),
            _ => Err(format!("--shard {spec}: expected K/N with N ≥ 1 and K from 0 to N-1")),
        }
    }

    /// The slice a cluster engine gives this task: Slurm's array index (`SLURM_ARRAY_TASK_ID`,
    /// counted from `SLURM_ARRAY_TASK_MIN`) or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX`. `count` defaults to `SLURM_ARRAY_TASK_COUNT`. Returns the shard
    /// and the variable it came from.
    pub fn from_env(count: Option<u64>, env: impl Fn(&str) -> Option<String>) -> Result<(Shard, &'static str), String> {
        let num = |name: &str| env(name).and_then(|v| v.trim().parse::<u64>().ok());
        let (index, source) = if let Some(id) = num("SLURM_ARRAY_TASK_ID") {
            // An array is a range MIN-MAX with a STEP (--array=0-10:2: ids 0, 2, .. 10 are tasks
            // 0..5 of SLURM_ARRAY_TASK_COUNT = 6). A list (--array=3,7) is not: its tasks would
            // split the inputs another way than the run they resubmit, so it is refused.
            let (min, step) = (num("SLURM_ARRAY_TASK_MIN").unwrap_or(0), num("SLURM_ARRAY_TASK_STEP").unwrap_or(1).max(1));
            let ranged = match (num("SLURM_ARRAY_TASK_MAX"), num("SLURM_ARRAY_TASK_COUNT")) {
                (Some(max), Some(count)) => max >= min && (max - min) % step == 0 && (max - min) / step + 1 == count,
                _ => true,
            };
            if id < min || (id - min) % step != 0 || !ranged {
                return Err(format!(
                    "--shard auto: Slurm array task {id} is not one of an evenly stepped range of ids (from SLURM_ARRAY_TASK_MIN, _MAX, _STEP, _COUNT); for a list of ids, give --shard K/N"
                ));
            }
            ((id - min) / step, "SLURM_ARRAY_TASK_ID")
        } else if let Some(i) = num("JOB_COMPLETION_INDEX") {
            (i, "JOB_COMPLETION_INDEX")
        } else {
            return Err("--shard auto: neither SLURM_ARRAY_TASK_ID (Slurm array job) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set".into());
        };
        let count = count.or_else(|| num("SLURM_ARRAY_TASK_COUNT")).ok_or("--shard auto needs --shards N (how many tasks share the work)")?;
        if count == 0 || index >= count {
            return Err(format!("--shard auto: task index {index} (from {source}) is not below --shards {count}"));
        }
        Ok((Shard { index, count }, source))
    }

    /// Whether this slice takes the input with this key (a hash of its bytes, modulo count).
    pub fn takes(&self, key: &Path) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_os_str().as_encoded_bytes());
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % self.count == self.index
    }
}

/// Streams the inputs of `paths` (folders walked as they are read, one level unless
/// `recursive`) followed by those of a list file's `listed` paths. Nothing is collected: a
/// walk of a million files holds only the folders being walked.
pub fn stream<'a>(paths: &'a [PathBuf], listed: impl Iterator<Item = PathBuf> + 'a, recursive: bool) -> impl Iterator<Item = Input> + 'a {
    let given = paths.iter().flat_map(move |path| -> Box<dyn Iterator<Item = Input> + 'a> {
        if path.is_dir() {
            let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let sink = errors.clone();
            // Only the names that are hued's by their form are left out here; whether a
            // `<stem><suffix>.<ext>` is hued's copy (reading its metadata) is asked later, of
            // the inputs of this shard only.
            let photo = move |p: &Path| has_image_extension(p) && !is_hued_side_file(p);
            let root = path.clone();
            let unlistable = move |p: &Path, e: std::io::Error| {
                let rejected = if is_dangling_link(p) {
                    // A link to nothing (a moved disk, a deleted folder): reported once, by its
                    // own shard; not a folder that failed for every shard. Named like a photo,
                    // it is an input skipped; otherwise a warning; hidden (an editor's lock
                    // link), nothing.
                    let name = p.file_name().unwrap_or_default().as_encoded_bytes();
                    if name.starts_with(b".") {
                        return;
                    }
                    let key = p.strip_prefix(&root).unwrap_or(p).to_path_buf();
                    let is_input = has_image_extension(p);
                    let reason = if is_input { "a symbolic link to nothing: skipped" } else { "a symbolic link to nothing: not followed" };
                    Rejected { path: p.to_path_buf(), reason: reason.into(), is_error: false, key: Some(key), is_input }
                } else {
                    Rejected { path: p.to_path_buf(), reason: format!("cannot list folder: {e}"), is_error: true, key: None, is_input: true }
                };
                sink.borrow_mut().push(Input::Rejected(rejected))
            };
            let root = path.clone();
            let found = super::walk::stream(path, recursive, super::walk::FolderLinks::Follow, super::walk::Hidden::Skip, photo, unlistable).map(move |p| {
                let key = p.strip_prefix(&root).unwrap_or(&p).to_path_buf();
                let subfolder = Some(key.parent().map(Path::to_path_buf).unwrap_or_default());
                Input::Photo { path: p, key, subfolder }
            });
            // Listing errors are reported as they happen, between the photos (the walk calls
            // `unlistable` while it looks for the next photo; a last None drains the rest).
            Box::new(found.map(Some).chain(std::iter::once(None)).flat_map(move |photo| {
                let mut out: Vec<Input> = errors.borrow_mut().drain(..).collect();
                out.extend(photo);
                out
            }))
        } else {
            Box::new(std::iter::once(single(path.clone())))
        }
    });
    given.chain(listed.map(single))
}

/// A symbolic link whose target does not exist.
fn is_dangling_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) && std::fs::metadata(p).is_err()
}

/// A photo named by itself. Whether a `<stem><suffix>.<ext>` is hued's copy is asked later,
/// with the other inputs of its shard.
fn single(path: PathBuf) -> Input {
    if is_hued_side_file(&path) {
        Input::Rejected(Rejected { path, reason: "is a colorized copy made by hued".into(), is_error: false, key: None, is_input: true })
    } else {
        Input::Photo { key: path.clone(), path, subfolder: None }
    }
}

/// The longest entry of a list file, and the most bytes of empty entries in a row: a path is
/// at most 4 KB; past this the file is not a list of paths (/dev/zero, a photo given by
/// mistake), and reading on would take all memory or never end.
pub const MAX_LIST_LINE: usize = 1 << 20;

/// The paths of a list file (`--files-from`): one per line, or NUL-separated with `nul`.
/// Empty entries are skipped; a line's trailing CR is dropped. Read as it goes. An entry over
/// [`MAX_LIST_LINE`] (or that many bytes without a path) is an error naming its line number,
/// after which nothing more is read.
pub fn list_file(mut reader: impl std::io::BufRead, nul: bool) -> impl Iterator<Item = std::io::Result<PathBuf>> {
    use std::io::{BufRead, Read};
    use std::os::unix::ffi::OsStringExt;
    let separator = if nul { b'\0' } else { b'\n' };
    let (mut line, mut empty_run, mut empty_from, mut stopped) = (0usize, 0usize, 0usize, false);
    std::iter::from_fn(move || {
        while !stopped {
            let mut bytes = Vec::new();
            line += 1;
            let n = match (&mut reader).take(MAX_LIST_LINE as u64 + 1).read_until(separator, &mut bytes) {
                Ok(n) => n,
                Err(e) => {
                    stopped = true;
                    return Some(Err(e));
                }
            };
            if n == 0 {
                return None;
            }
            if bytes.len() > MAX_LIST_LINE && bytes.last() != Some(&separator) {
                stopped = true;
                return Some(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {line} is longer than 1 MiB: not a list of paths"))));
            }
            if bytes.last() == Some(&separator) {
                bytes.pop();
            }
            if !nul && bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            if bytes.is_empty() {
                if empty_run == 0 {
                    empty_from = line;
                }
                empty_run += n;
                if empty_run > MAX_LIST_LINE {
                    stopped = true;
                    return Some(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("line {empty_from} starts more than 1 MiB of empty entries: not a list of paths"),
                    )));
                }
                continue;
            }
            empty_run = 0;
            return Some(Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes))));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_input_exactly_once_and_agree_everywhere() {
        let keys: Vec<PathBuf> = (0..1000).map(|i| PathBuf::from(format!("box{}/scan{i:05}.tif", i % 7))).collect();
        let mut sizes = Vec::new();
        for index in 0..4 {
            let shard = Shard::parse(&format!("{index}/4")).unwrap();
            sizes.push(keys.iter().filter(|k| shard.takes(k)).count());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 1000, "each input in exactly one shard");
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "roughly even: {sizes:?}");
        // Stable: the hash of a path, nothing else (these values must never change between releases).
        let taken: Vec<bool> = (0..4).map(|i| Shard { index: i, count: 4 }.takes(Path::new("box1/scan00001.tif"))).collect();
        assert_eq!(taken.iter().filter(|&&t| t).count(), 1);
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shard_comes_from_slurm_or_kubernetes() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(
            Shard::from_env(None, env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")])).unwrap(),
            (Shard { index: 2, count: 4 }, "SLURM_ARRAY_TASK_ID")
        );
        assert_eq!(Shard::from_env(Some(8), env(&[("JOB_COMPLETION_INDEX", "7")])).unwrap(), (Shard { index: 7, count: 8 }, "JOB_COMPLETION_INDEX"));
        assert!(Shard::from_env(None, env(&[("JOB_COMPLETION_INDEX", "7")])).unwrap_err().contains("--shards"));
        assert!(Shard::from_env(Some(4), env(&[("JOB_COMPLETION_INDEX", "4")])).is_err());
        assert!(Shard::from_env(Some(4), env(&[])).unwrap_err().contains("neither"));
    }

    #[test]
    fn a_stepped_slurm_array_counts_its_tasks_and_a_list_or_gap_is_refused() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        // --array=0-10:2: ids 0, 2, .. 10 are tasks 0..5 of 6 (id 4 was task 4, over the count).
        let stepped = |id: &'static str| {
            env(match id {
                "4" => &[
                    ("SLURM_ARRAY_TASK_ID", "4"),
                    ("SLURM_ARRAY_TASK_MIN", "0"),
                    ("SLURM_ARRAY_TASK_MAX", "10"),
                    ("SLURM_ARRAY_TASK_STEP", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "6"),
                ],
                _ => &[
                    ("SLURM_ARRAY_TASK_ID", "10"),
                    ("SLURM_ARRAY_TASK_MIN", "0"),
                    ("SLURM_ARRAY_TASK_MAX", "10"),
                    ("SLURM_ARRAY_TASK_STEP", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "6"),
                ],
            })
        };
        assert_eq!(Shard::from_env(None, stepped("4")).unwrap().0, Shard { index: 2, count: 6 });
        assert_eq!(Shard::from_env(None, stepped("10")).unwrap().0, Shard { index: 5, count: 6 });
        // --array=3,7 (a resubmission of two tasks): not a range; its split would be another one.
        let listed = env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "3"), ("SLURM_ARRAY_TASK_MAX", "7"), ("SLURM_ARRAY_TASK_COUNT", "2")]);
        assert!(Shard::from_env(None, listed).unwrap_err().contains("--shard K/N"));
        // An id below the minimum was taken as task 0 (a second task 0).
        let below = env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert!(Shard::from_env(None, below).is_err());
    }

    #[test]
    fn list_files_take_lines_or_nul_separated_names() {
        let lines: Vec<PathBuf> = list_file(&b"a.jpg\r\n\nb c.tif\n"[..], false).map(Result::unwrap).collect();
        assert_eq!(lines, [PathBuf::from("a.jpg"), PathBuf::from("b c.tif")]);
        let nul: Vec<PathBuf> = list_file(&b"new\nline.jpg\0d.png\0"[..], true).map(Result::unwrap).collect();
        assert_eq!(nul, [PathBuf::from("new\nline.jpg"), PathBuf::from("d.png")]);
        // An over-long line, and a run of empty entries, are errors naming where they start.
        let mut long = b"a.jpg\n\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LIST_LINE + 5));
        let read: Vec<_> = list_file(&long[..], false).collect();
        assert_eq!(read.len(), 2);
        assert!(read[1].as_ref().unwrap_err().to_string().contains("line 3 is longer than 1 MiB"));
        let zeros = vec![0u8; MAX_LIST_LINE + 2];
        let read: Vec<_> = list_file(&zeros[..], true).collect();
        assert_eq!(read.len(), 1);
        assert!(read[0].as_ref().unwrap_err().to_string().contains("line 1 starts more than 1 MiB of empty"));
    }
}
