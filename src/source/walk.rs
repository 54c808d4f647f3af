//! The one folder walker, for command-line folders ([`super::args`]) and a watch's backlog
//! ([`super::watch`]). They differ only in policy, which the caller passes: whether links to
//! folders are followed, and what becomes of a folder that cannot be listed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a walk does with a symbolic link to a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderLinks {
    /// Walk into it (a folder named on the command line may be a link farm); each real
    /// folder is walked once, so a link loop ends.
    Follow,
    /// Leave it (a watch only sees events of its own tree, so its backlog stays there too).
    Skip,
}

/// The files under `root` that `accept` takes, sorted; into subfolders when `recursive`.
/// Hidden entries (a leading '.') are passed over. A folder that cannot be listed goes to
/// `unlistable` with its error, and the walk goes on.
pub fn files(
    root: &Path,
    recursive: bool,
    links: FolderLinks,
    accept: impl Fn(&Path) -> bool,
    mut unlistable: impl FnMut(&Path, std::io::Error),
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        if links == FolderLinks::Follow && !seen.insert(folder.canonicalize().unwrap_or_else(|_| folder.clone())) {
            continue;
        }
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) => {
                unlistable(&folder, e);
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let is_folder = match links {
                FolderLinks::Follow => path.is_dir(),
                FolderLinks::Skip => entry.file_type().is_ok_and(|t| t.is_dir()),
            };
            if is_folder {
                if recursive {
                    folders.push(path);
                }
            } else if accept(&path) {
                found.push(path);
            }
        }
    }
    // Path order is by component, so this is the order of a sorted depth-first walk.
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_skips_hidden_and_follows_links_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["b.jpg", "a/x.jpg", "a/.hidden.jpg", ".cache/y.jpg", "c/z.txt", "c/d/w.jpg"] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("c"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root, root.join("c/loop")).unwrap();
        let jpg = |p: &Path| p.extension().is_some_and(|e| e == "jpg");
        let rel = |v: Vec<PathBuf>| v.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect::<Vec<_>>();
        let never = |p: &Path, e: std::io::Error| panic!("{}: {e}", p.display());
        assert_eq!(rel(files(root, true, FolderLinks::Skip, jpg, never)), ["a/x.jpg", "b.jpg", "c/d/w.jpg"]);
        let followed = rel(files(root, true, FolderLinks::Follow, jpg, never));
        assert!(followed.contains(&"link/d/w.jpg".to_string()), "{followed:?}");
        assert!(followed.len() <= 6, "a link loop is walked once: {followed:?}");
        assert_eq!(rel(files(root, false, FolderLinks::Skip, jpg, never)), ["b.jpg"]);
        let mut errors = Vec::new();
        files(&root.join("missing"), true, FolderLinks::Skip, jpg, |p, _| errors.push(p.to_path_buf()));
        assert_eq!(errors, [root.join("missing")]);
    }
}
