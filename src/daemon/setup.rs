//! What the daemon builds from one version of its config, and builds again on a reload: the
//! watches, the cameras, the models they share and the kiosk page; and how it stops.

use super::*;

/// One configured watch, resolved.
pub(super) struct Watch {
    pub(super) root: PathBuf,
    pub(super) recursive: bool,
    pub(super) follow_symlinks: bool,
    pub(super) target: OutputTarget,
    pub(super) filter: Arc<FileFilter>,
    /// Its `[colorize]` settings (overrides applied) and model.
    pub(super) profile: Arc<Profile>,
    /// How often the whole folder is listed again besides the events (`rescan_interval`).
    pub(super) rescan_every: Option<Duration>,
    pub(super) _source: FolderWatch,
}

/// A running camera thread.
pub(super) struct Camera {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything built from one version of the config.
pub(super) struct Setup {
    pub(super) config: Config,
    /// Which build of the config this is (see [`WatchId`]).
    pub(super) generation: u64,
    pub(super) watches: Vec<Watch>,
    /// The `[colorize]` profile, for camera captures and the page (resolved where either is
    /// configured: a daemon of watches that all name their own model never loads the default).
    pub(super) colorize: Option<Arc<Profile>>,
    pub(super) cameras: Vec<Camera>,
}

/// Starts one capture thread per `[[camera]]`.
pub(super) fn start_cameras(cameras: &[crate::config::CameraConfig], tx: &mpsc::SyncSender<SourceEvent>, usr1: &Arc<AtomicBool>) -> Vec<Camera> {
    cameras
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let stop = Arc::new(AtomicBool::new(false));
            let thread = crate::source::camera::spawn(i, c.clone(), tx.clone(), stop.clone(), usr1.clone());
            Camera { stop, thread: Some(thread) }
        })
        .collect()
}

/// Resolves the profiles of `config` through `loaded` (sharing one model per manifest) and
/// starts its watches.
pub(super) fn build(config: Config, tx: &mpsc::SyncSender<SourceEvent>, loaded: &mut Loaded, usr1: &Arc<AtomicBool>) -> anyhow::Result<Setup> {
    // Each config built gets its own generation: its watches' events and jobs carry it.
    static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
    if config.watch.is_empty() && config.camera.is_empty() && !config.web.enabled {
        anyhow::bail!("no [[watch]] folders, [[camera]] devices or [web] page configured: nothing to do");
    }
    let none = ColorizeOverrides::default();
    let mut watches = Vec::new();
    for (i, w) in config.watch.iter().enumerate() {
        let profile = Arc::new(Profile::resolve(&config, Some(w), &none, loaded).map_err(|e| anyhow::anyhow!("watch #{}: {e}", i + 1))?);
        if !w.path.is_dir() {
            anyhow::bail!("watch #{}: {} is not a folder", i + 1, w.path.display());
        }
        let filter = Arc::new(FileFilter::new(w, &profile.colorize.suffix)?);
        // Temporary files of an earlier hued that was killed mid-write (SIGKILL, power cut).
        let mut swept = crate::sink::sweep_stale_temps(&w.path, w.recursive);
        if let Some(out) = w.output.as_deref() {
            swept.extend(crate::sink::sweep_stale_temps(out, true));
        }
        for p in &swept {
            log::warn!("removed {}: a temporary file left by a hued process that no longer runs", p.display());
        }
        let source = watch::start(WatchId { generation, index: i }, w, filter.clone(), tx.clone())?;
        watches.push(Watch {
            root: w.path.clone(),
            recursive: w.recursive,
            follow_symlinks: w.follow_symlinks,
            target: w.output.clone().map_or(OutputTarget::Beside, OutputTarget::Folder),
            filter,
            profile,
            rescan_every: (w.rescan_interval > 0.0).then(|| Duration::from_secs_f64(w.rescan_interval)),
            _source: source,
        });
    }
    let colorize = if config.camera.is_empty() && !config.web.enabled { None } else { Some(Arc::new(Profile::resolve(&config, None, &none, loaded)?)) };
    let cameras = start_cameras(&config.camera, tx, usr1);
    Ok(Setup { config, generation, watches, colorize, cameras })
}

impl Setup {
    /// The watch `id` names, if it is of this config.
    pub(super) fn watch(&self, id: WatchId) -> Option<&Watch> {
        self.watches.get(id.index).filter(|_| id.generation == self.generation)
    }

    /// This config's watches with their ids.
    pub(super) fn watch_ids(&self) -> impl Iterator<Item = (WatchId, &Watch)> {
        self.watches.iter().enumerate().map(|(index, w)| (WatchId { generation: self.generation, index }, w))
    }

    /// Where the copy of `input`, found by `w`, goes.
    pub(super) fn output_for(w: &Watch, input: &Path) -> PathBuf {
        let target = match &w.target {
            OutputTarget::Beside => OutputTarget::Beside,
            OutputTarget::Folder(dir) => {
                // Mirror the watched tree under the output folder.
                let rel = input.parent().and_then(|p| p.strip_prefix(&w.root).ok()).unwrap_or(Path::new(""));
                OutputTarget::Folder(dir.join(rel))
            }
        };
        output_path(input, &target, &w.profile.colorize.suffix)
    }
}

/// Starts the kiosk page with the `[colorize]` profile, if `[web]` is enabled; the handle it
/// returns is what a reload sets the page's next profile through.
pub(super) fn start_web(setup: &Setup, latest: &Latest) -> anyhow::Result<Option<(WebServer, CurrentProfile)>> {
    let config = &setup.config;
    let Some(profile) = setup.colorize.clone().filter(|_| config.web.enabled) else { return Ok(None) };
    let current = CurrentProfile::new(profile);
    Ok(Some((crate::web::start(&config.web, current.clone(), latest.clone())?, current)))
}

impl Daemon {
    pub(super) fn reload(&mut self) {
        log::info!("SIGHUP: reloading {}", self.config_path.display());
        let config = match load_config(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                log::error!("config reload failed, keeping the previous configuration: {e}");
                return;
            }
        };
        let web_changed = config.web != self.setup.config.web;
        // Reloaded models are loaded afresh (the file may have been replaced).
        let mut loaded = Loaded::default();
        // The old cameras must let go of their devices before the new ones open them.
        self.setup.cameras.clear();
        match build(config, &self.tx, &mut loaded, &self.usr1) {
            Ok(setup) => {
                self.settler.set_delay(Duration::from_secs_f64(setup.config.daemon.stability_delay));
                // The page's next upload is colorized with the new [colorize] profile (resolved
                // here where the new config has no camera and turns the page off: the page
                // runs on until the next restart).
                if let Some((_, current)) = &self.web {
                    let none = crate::config::ColorizeOverrides::default();
                    match setup.colorize.clone().map(Ok).unwrap_or_else(|| Profile::resolve(&setup.config, None, &none, &mut loaded).map(Arc::new)) {
                        Ok(profile) => current.set(profile),
                        Err(e) => log::error!("web: the page keeps its previous [colorize] settings: {e}"),
                    }
                }
                self.setup = setup;
                self.scan_backlog();
                log::info!("config reloaded: watching {} folder(s)", self.setup.watches.len());
                if web_changed {
                    log::warn!("web: changes to [web] take effect at the next restart ([colorize] ones at once)");
                }
            }
            Err(e) => {
                // The old cameras were stopped to free their devices: the old ones start again.
                self.setup.cameras = start_cameras(&self.setup.config.camera, &self.tx, &self.usr1);
                log::error!("config reload failed, keeping the previous configuration: {e:#}");
            }
        }
    }

    /// Stops taking work, lets the current files finish within the shutdown timeout, and
    /// otherwise abandons them, removing their temporary files.
    pub(super) fn shutdown(mut self, results: &Receiver<WorkResult>) -> Exit {
        systemd::stopping();
        if let Some((web, _)) = self.web.take() {
            log::info!("web: stopping; {} upload(s) in memory are dropped", web.held());
            drop(web);
        }
        log::info!("stopping: finishing {} file(s) in progress", self.working().count());
        self.flush_state();
        let workers = self.pool.stop();
        let deadline = Instant::now() + Duration::from_secs_f64(self.setup.config.daemon.shutdown_timeout);
        let mut exited = 0;
        while exited < workers.len() && Instant::now() < deadline {
            match results.recv_timeout(Duration::from_millis(50)) {
                Ok(WorkResult::Exited) => exited += 1,
                Ok(r) => self.on_result(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if exited < workers.len() {
            let prefix = format!("{}{}-", crate::base::TEMP_PREFIX, std::process::id());
            for output in self.working() {
                let dir = output.parent().unwrap_or(Path::new("."));
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            log::warn!("abandoned {} unfinished file(s) after {:.0} s", self.working().count(), self.setup.config.daemon.shutdown_timeout);
        } else {
            for w in workers {
                let _ = w.join();
            }
        }
        self.flush_state();
        log::info!("stopped");
        Exit::Success
    }
}
