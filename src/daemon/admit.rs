//! Whether a stable file in a watched folder is colorized: the one place that decides (a link
//! the watch does not follow, a copy already up to date, a file settled or already in work,
//! hued's own copy, a sidecar that does not parse), and the job it becomes. The watch's name
//! filter has already passed it; the worker checks only that the file has not changed since.

use super::*;

/// What becomes of a stable file.
pub(super) enum Admission {
    /// Colorize it, as this job.
    Take(Job),
    /// Leave it (the reason is logged here where a person would want to know it).
    Leave,
}

impl Daemon {
    /// Decides about a stable file of watch `watch`.
    pub(super) fn admit(&self, watch: WatchId, path: &Path, stamp: &FileStamp) -> Admission {
        let Some(w) = self.setup.watch(watch) else {
            return Admission::Leave; // its watch went away in a reload
        };
        if !w.follow_symlinks && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            log::warn!("{}: is a symbolic link; skipped (set follow_symlinks = true for this watch to colorize links)", path.display());
            return Admission::Leave;
        }
        let output = Setup::output_for(w, path);
        if crate::sink::is_up_to_date(path, &output) {
            log::debug!("{}: up to date", path.display());
            return Admission::Leave;
        }
        if self.state.settled(path, stamp) || self.in_work(path) {
            return Admission::Leave;
        }
        if read_provenance(path).is_some() {
            log::debug!("{}: is a colorized copy made by hued; ignored", path.display());
            return Admission::Leave;
        }
        let hints = match crate::hints::sidecar_hints(path, w.model.has_hints(), &w.model.manifest.name) {
            Ok((h, warning)) => {
                if let Some(warning) = warning {
                    log::warn!("{}: {warning}", path.display());
                }
                h
            }
            Err(reason) => {
                // Not recorded as failed: saving a mended sidecar brings the photo back.
                log::error!("failed {}: {reason}; waiting for the sidecar to be mended", path.display());
                return Admission::Leave;
            }
        };
        Admission::Take(Job { input: path.to_path_buf(), output, compare: None, settings: w.settings.clone(), hints })
    }

    /// A stable file: queued if [`Daemon::admit`] takes it.
    pub(super) fn consider(&mut self, watch: WatchId, path: PathBuf, stamp: FileStamp) {
        let Admission::Take(job) = self.admit(watch, &path, &stamp) else { return };
        let Some(model) = self.setup.watch(watch).map(|w| w.model.clone()) else { return };
        match self.pool.push(WorkItem { job, model, stamp, origin: Origin::Watch(watch) }) {
            Ok(()) => {
                self.lifecycle.insert(path, Stage::Queued);
            }
            // Queue full: it waits, checked, in the ready list; nothing is read again for it
            // (the worker still compares its stamp before starting).
            Err(item) => self.ready.push_back(item),
        }
    }
}
