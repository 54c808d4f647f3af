//! The one folder walker, for command-line folders ([`super::args`]) and a watch's backlog
//! ([`super::watch`]), on walkdir. They differ only in policy, which the caller passes: whether
//! links to folders are followed, whether hidden names (a leading '.': editors', sync tools'
//! and hued's own temps) are walked, and what becomes of a folder that cannot be listed. The
//! sweep of hued's stale temporaries ([`crate::sink::sweep_stale_temps`]) walks on its own.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Whether a walk enters symbolic links to folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderLinks {
    /// Enter them (command-line folders: the user named the tree); loops are detected.
    Follow,
    /// Do not (watched folders: a link could lead anywhere).
    Skip,
}

/// Whether a walk looks at hidden files and folders (names with a leading '.').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// Skip them (photos: a hidden file is a temp or a sync tool's).
    Skip,
    /// Walk them too (the sweep of hued's own hidden temporaries).
    Include,
}

/// The files under `root` (one level unless `recursive`) that `accept` takes, streamed in the
/// order of a sorted depth-first walk: only the folders being walked are held, so a tree of a
/// million files starts yielding at once. `unlistable` hears of folders that cannot be read.
pub fn stream<'a>(
    root: &Path,
    recursive: bool,
    links: FolderLinks,
    hidden: Hidden,
    accept: impl Fn(&Path) -> bool + 'a,
    mut unlistable: impl FnMut(&Path, std::io::Error) + 'a,
) -> impl Iterator<Item = PathBuf> + 'a {
    let walk = WalkDir::new(root)
        .follow_links(links == FolderLinks::Follow)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| e.depth() == 0 || hidden == Hidden::Include || !e.file_name().to_string_lossy().starts_with('.'));
    walk.filter_map(move |entry| match entry {
        Ok(e) if e.file_type().is_dir() => None,
        Ok(e) => accept(e.path()).then(|| e.into_path()),
        Err(e) if e.loop_ancestor().is_some() => {
            // A link back to a folder above: its files are walked once, from the real folder.
            log::debug!("{}: a folder link that loops back; not entered", e.path().unwrap_or(Path::new("?")).display());
            None
        }
        Err(e) => {
            let path = e.path().unwrap_or(Path::new("?")).to_path_buf();
            if let Some(io) = e.into_io_error() {
                unlistable(&path, io);
            }
            None
        }
    })
}

/// [`stream`], collected.
pub fn files(root: &Path, recursive: bool, links: FolderLinks, accept: impl Fn(&Path) -> bool, unlistable: impl FnMut(&Path, std::io::Error)) -> Vec<PathBuf> {
    stream(root, recursive, links, Hidden::Skip, accept, unlistable).collect()
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
