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
        // The sidecar first (a few lines, read where there is one): the reference it names is
        // one of the files the copy is made from.
        let model = &w.profile.model;
        let (sidecar, warning) = match crate::hints::sidecar_for(path, model.has_hints(), &model.manifest.name) {
            Ok(s) => s,
            Err(reason) => {
                // Not recorded as failed: saving a mended sidecar brings the photo back.
                log::error!("failed {}: {reason}; waiting for the sidecar to be mended", path.display());
                return Admission::Leave;
            }
        };
        let reference_path = sidecar.reference.clone().or_else(|| w.profile.colorize.reference.clone());
        // Up to date by time, and hued's own copy (a person's newer file at the copy's name is
        // not: the job then fails, naming it, and the failure is recorded once for this stamp).
        // A BMP carries no provenance: its time alone tells.
        if crate::sink::is_up_to_date(&crate::job::inputs_of(path, reference_path), &output)
            && (read_provenance(&output).is_some() || crate::base::is_bmp_name(&output))
        {
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
        if let Some(warning) = warning {
            log::warn!("{}: {warning}", path.display());
        }
        // A sidecar's reference must be a photo inside the watched folder: whoever can drop a
        // sidecar there must not make hued read (and copy colors from) any image it can read.
        if let Some(r) = &sidecar.reference {
            let inside = std::fs::canonicalize(r).ok().zip(std::fs::canonicalize(&w.root).ok()).is_some_and(|(r, root)| r.starts_with(root));
            if !inside {
                log::error!("failed {}: its sidecar's reference {} is not a file inside the watched folder {}", path.display(), r.display(), w.root.display());
                return Admission::Leave;
            }
        }
        Admission::Take(Job {
            input: path.to_path_buf(),
            output,
            compare: None,
            profile: w.profile.clone(),
            hints: sidecar.hints,
            reference: sidecar.reference,
        })
    }

    /// A stable file: queued if [`Daemon::admit`] takes it.
    pub(super) fn consider(&mut self, watch: WatchId, path: PathBuf, stamp: FileStamp) {
        let Admission::Take(job) = self.admit(watch, &path, &stamp) else { return };
        match self.pool.push(WorkItem { job, stamp, origin: Origin::Watch(watch) }) {
            Ok(()) => {
                self.lifecycle.insert(path, Stage::Queued);
            }
            // Queue full: it waits, checked, in the ready list; nothing is read again for it
            // (the worker still compares its stamp before starting).
            Err(item) => self.ready.push_back(item),
        }
    }
}
