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
pub fn stream<'a>(paths: &'a [PathBuf], listed: impl Iterator<Item = PathBuf> + 'a, recursive: bool, suffix: &'a str) -> impl Iterator<Item = Input> + 'a {
    let given = paths.iter().flat_map(move |path| -> Box<dyn Iterator<Item = Input> + 'a> {
        if path.is_dir() {
            let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let sink = errors.clone();
            let photo = move |p: &Path| has_image_extension(p) && !is_hued_output(p, suffix);
            let unlistable = move |p: &Path, e: std::io::Error| {
                sink.borrow_mut().push(Input::Rejected(Rejected { path: p.to_path_buf(), reason: format!("cannot list folder: {e}"), is_error: true }))
            };
            let root = path.clone();
            let found = super::walk::stream(path, recursive, super::walk::FolderLinks::Follow, super::walk::Hidden::Skip, photo, unlistable).map(move |p| {
                let key = p.strip_prefix(&root).unwrap_or(&p).to_path_buf();
                Input::Photo { path: p, key }
            });
            // Listing errors are reported as they happen, between the photos (the walk calls
            // `unlistable` while it looks for the next photo; a last None drains the rest).
            Box::new(found.map(Some).chain(std::iter::once(None)).flat_map(move |photo| {
                let mut out: Vec<Input> = errors.borrow_mut().drain(..).collect();
                out.extend(photo);
                out
            }))
        } else {
            Box::new(std::iter::once(single(path.clone(), suffix)))
        }
    });
    given.chain(listed.map(move |p| single(p, suffix)))
}

fn single(path: PathBuf, suffix: &str) -> Input {
    if is_hued_output(&path, suffix) {
        Input::Rejected(Rejected { path, reason: "is a colorized copy made by hued".into(), is_error: false })
    } else {
        Input::Photo { key: path.clone(), path }
    }
}

/// The paths of a list file (`--files-from`): one per line, or NUL-separated with `nul`.
/// Empty entries are skipped; a line's trailing CR is dropped. Read as it goes.
pub fn list_file(reader: impl std::io::BufRead, nul: bool) -> impl Iterator<Item = std::io::Result<PathBuf>> {
    use std::os::unix::ffi::OsStringExt;
    reader.split(if nul { b'\0' } else { b'\n' }).filter_map(move |entry| match entry {
        Ok(mut bytes) => {
            if !nul && bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            (!bytes.is_empty()).then(|| Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes))))
        }
        Err(e) => Some(Err(e)),
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
    }
}
