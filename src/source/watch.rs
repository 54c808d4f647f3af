//! Folder watches: inotify (or polling, for SMB/NFS mounts) events turned into
//! [`SourceEvent`]s on one bounded channel. Filtering happens right here, synchronously, so
//! the channel only carries candidate photos.

use super::{Arrival, SourceEvent};
use crate::config::WatchConfig;
use crate::source::args::{has_hued_output_name, has_image_extension};
use globset::{Glob, GlobSet, GlobSetBuilder};
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// Which file names a watch takes.
#[derive(Debug)]
pub struct FileFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
    suffix: String,
}

fn globset(globs: &[String]) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g)?);
    }
    Ok(b.build()?)
}

impl FileFilter {
    /// The filter of one `[[watch]]` entry; `suffix` marks hued's own outputs.
    pub fn new(w: &WatchConfig, suffix: &str) -> anyhow::Result<FileFilter> {
        let include = if w.include.is_empty() { None } else { Some(globset(&w.include)?) };
        Ok(FileFilter { include, exclude: globset(&w.exclude)?, suffix: suffix.to_string() })
    }

    /// True for a file name the watch should take: included (by default, a supported image
    /// extension), not excluded, not a dotfile, `*.tmp`, `*.part`, `*~`, or hued's own output.
    pub fn accepts(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
            return false;
        };
        if name.starts_with('.') || name.ends_with('~') || name.ends_with(".tmp") || name.ends_with(".part") {
            return false;
        }
        if has_hued_output_name(path, &self.suffix) || self.exclude.is_match(name.as_ref()) {
            return false;
        }
        match &self.include {
            Some(set) => set.is_match(name.as_ref()),
            None => has_image_extension(path),
        }
    }
}

/// A running watch; dropping it stops it.
pub struct FolderWatch {
    _watcher: Box<dyn Watcher + Send>,
}

/// Starts watching `w.path` (inotify, or polling when `w.poll`), sending accepted files to `tx`.
pub fn start(id: super::WatchId, w: &WatchConfig, filter: std::sync::Arc<FileFilter>, tx: SyncSender<SourceEvent>) -> anyhow::Result<FolderWatch> {
    let recursive = w.recursive;
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else {
            if let Err(e) = res {
                log::warn!("{id}: {e}");
            }
            return;
        };
        if event.need_rescan() {
            let _ = tx.send(SourceEvent::Rescan { watch: id });
            return;
        }
        let relevant = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Modify(_)
                | EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
                | EventKind::Any
        );
        if !relevant {
            return;
        }
        // Writers that announce the end of writing (a rename into the folder, a close after
        // writing) need not wait the whole stability delay. Polled shares never say so.
        use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
        let arrival = match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Arrival::MovedIn,
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Arrival::Closed,
            _ => Arrival::Changed,
        };
        // A rename reports [from, to]: only the destination can be a finished file.
        let paths = if event.paths.len() == 2 { &event.paths[1..] } else { &event.paths[..] };
        for path in paths {
            if recursive
                && matches!(event.kind, EventKind::Create(notify::event::CreateKind::Folder) | EventKind::Modify(notify::event::ModifyKind::Name(_)))
                && path.is_dir()
            {
                let _ = tx.send(SourceEvent::NewFolder { watch: id, path: path.clone() });
            } else if filter.accepts(path) {
                let _ = tx.send(SourceEvent::Touched { watch: id, path: path.clone(), arrival });
            } else if let Some(image) = crate::hints::image_of_sidecar(path).filter(|i| filter.accepts(i) && i.is_file()) {
                // A new or edited hints sidecar: its photo is colorized again with the hints.
                // (A sidecar says nothing about its photo's writing.)
                let _ = tx.send(SourceEvent::Touched { watch: id, path: image, arrival: Arrival::Changed });
            }
        }
    };
    let mode = if w.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    let mut watcher: Box<dyn Watcher + Send> = if w.poll {
        let config = notify::Config::default().with_poll_interval(Duration::from_secs_f64(w.poll_interval));
        Box::new(notify::PollWatcher::new(handler, config)?)
    } else {
        Box::new(notify::recommended_watcher(handler)?)
    };
    watcher.watch(&w.path, mode).map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", w.path.display()))?;
    Ok(FolderWatch { _watcher: watcher })
}

/// The files under `root` (into subfolders when `recursive`) that `filter` accepts, sorted.
pub fn scan(root: &Path, recursive: bool, filter: &FileFilter) -> Vec<PathBuf> {
    let unlistable = |dir: &Path, e: std::io::Error| log::warn!("cannot list {}: {e}", dir.display());
    super::walk::files(root, recursive, super::walk::FolderLinks::Skip, |p| filter.accepts(p), unlistable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(include: &[&str], exclude: &[&str]) -> WatchConfig {
        let text = format!("path = \"/s\"\ninclude = {include:?}\nexclude = {exclude:?}\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn default_filter_takes_images_and_ignores_temporaries_and_outputs() {
        let f = FileFilter::new(&watch(&[], &[]), ".colorized").unwrap();
        for ok in ["a.jpg", "B.TIF", "c.webp", "scan 01.png"] {
            assert!(f.accepts(Path::new(ok)), "{ok}");
        }
        for no in [".a.jpg", "a.jpg.tmp", "a.part", "a.jpg~", "a.colorized.jpg", "a.compare.jpg", ".hued-tmp-1-2-a.jpg", "notes.txt"] {
            assert!(!f.accepts(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn include_and_exclude_globs() {
        let f = FileFilter::new(&watch(&["*.tif"], &["draft*"]), ".colorized").unwrap();
        assert!(f.accepts(Path::new("x.tif")));
        assert!(!f.accepts(Path::new("x.jpg")));
        assert!(!f.accepts(Path::new("draft1.tif")));
    }
}
