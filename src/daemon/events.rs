//! What the sources say: a touched file goes to the settler (and leaves the queue, if it was
//! there: it changed), a camera capture straight to the queue, a lost-events notice or a due
//! rescan lists the folder again, and the backlog at start lists every folder. Stable files
//! then go to [`Daemon::consider`].

use super::*;

impl Daemon {
    pub(super) fn scan_backlog(&mut self) {
        let now = Instant::now();
        for (id, w) in self.setup.watch_ids() {
            for path in watch::scan(&w.root, w.recursive, &w.filter) {
                self.settler.touch(id, path, now);
            }
        }
    }

    pub(super) fn on_event(&mut self, ev: SourceEvent) {
        let now = Instant::now();
        match ev {
            SourceEvent::Touched { watch, path, arrival } => {
                if self.setup.watch(watch).is_some() {
                    if self.pool.withdraw(&path) {
                        self.lifecycle.remove(&path);
                    }
                    self.ready.retain(|item| item.job.input != path);
                    self.settler.arrived(watch, path, arrival, now);
                }
            }
            SourceEvent::Captured { camera, path } => {
                let (Some(profile), Ok(stamp)) = (self.setup.colorize.clone(), FileStamp::of(&path)) else {
                    return;
                };
                let job = Job::new(path, &OutputTarget::Beside, profile);
                if let Err(item) = self.pool.push(WorkItem { job, stamp, origin: Origin::Camera(camera) }) {
                    log::error!("camera #{}: queue full; {} waits for the next restart", camera + 1, item.job.input.display());
                }
            }
            SourceEvent::Rescan { watch } => {
                if let Some(w) = self.setup.watch(watch) {
                    log::warn!("{watch}: events were lost (too many at once); scanning {} again", w.root.display());
                    for file in watch::scan(&w.root, w.recursive, &w.filter) {
                        self.settler.touch(watch, file, now);
                    }
                }
            }
            SourceEvent::NewFolder { watch, path } => {
                if let Some(w) = self.setup.watch(watch) {
                    for file in watch::scan(&path, true, &w.filter) {
                        self.settler.touch(watch, file, now);
                    }
                }
            }
        }
    }

    /// Lists the watches whose `rescan_interval` has passed again: every photo found goes
    /// through the stability check, and `consider` drops those already up to date or settled.
    pub(super) fn rescan_due(&mut self, now: Instant) {
        for (id, w) in self.setup.watch_ids() {
            let Some(every) = w.rescan_every else { continue };
            let last = self.last_rescan.entry(id).or_insert(now);
            if now.duration_since(*last) < every {
                continue;
            }
            *last = now;
            let files = watch::scan(&w.root, w.recursive, &w.filter);
            log::debug!("{id}: rescan of {} found {} photo(s)", w.root.display(), files.len());
            // `consider` drops files in flight, queued, settled or up to date.
            for file in files {
                self.settler.touch(id, file, now);
            }
        }
    }

    /// Looks at a file again: a watched one goes back through the stability check, a
    /// camera capture straight back to the queue.
    pub(super) fn retouch(&mut self, origin: Origin, path: PathBuf) {
        match origin {
            Origin::Camera(camera) => self.on_event(SourceEvent::Captured { camera, path }),
            Origin::Watch(watch) if self.setup.watch(watch).is_some() => self.settler.touch(watch, path, Instant::now()),
            Origin::Watch(_) => {} // its watch went away in a reload
        }
    }
}
