//! What the daemon builds from one version of its config, and builds again on a reload: the
//! watches, the cameras, the models they share and the kiosk page; and how it stops.

use super::*;

/// One configured watch, resolved.
pub(super) struct Watch {
    pub(super) root: PathBuf,
    pub(super) recursive: bool,
    pub(super) follow_symlinks: bool,
    pub(super) target: OutputTarget,
    /// The colorized-copy suffix in effect for this watch.
    pub(super) suffix: String,
    pub(super) filter: Arc<FileFilter>,
    pub(super) settings: Settings,
    pub(super) model: Arc<Model>,
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
    /// The `[colorize]` model, for camera captures.
    pub(super) camera_model: Option<Arc<Model>>,
    /// The `[colorize]` settings (credentials loaded), for camera captures and the page.
    pub(super) colorize_settings: Settings,
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

/// Loaded models by manifest and precision.
pub(super) type Models = HashMap<(PathBuf, Precision), Arc<Model>>;

/// Loads models (sharing one per manifest) and starts the watches of `config`.
pub(super) fn build(config: Config, tx: &mpsc::SyncSender<SourceEvent>, models: &mut Models, usr1: &Arc<AtomicBool>) -> anyhow::Result<Setup> {
    // Each config built gets its own generation: its watches' events and jobs carry it.
    static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
    if config.watch.is_empty() && config.camera.is_empty() && !config.web.enabled {
        anyhow::bail!("no [[watch]] folders, [[camera]] devices or [web] page configured: nothing to do");
    }
    let precision = config.colorize.precision;
    let credentials = crate::credentials::from_config(&config.provenance)?;
    let settings = |c: &crate::config::ColorizeConfig| Settings { credentials: credentials.clone(), ..Settings::from_config(c) };
    let mut load = |model: Option<&Path>| load_model(models, model, precision);
    let mut watches = Vec::new();
    for (i, w) in config.watch.iter().enumerate() {
        let c = w.colorize_settings(&config.colorize);
        let model = load(c.model.as_deref())?;
        if !w.path.is_dir() {
            anyhow::bail!("watch #{}: {} is not a folder", i + 1, w.path.display());
        }
        let filter = Arc::new(FileFilter::new(w, &c.suffix)?);
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
            suffix: c.suffix.clone(),
            filter,
            settings: settings(&c),
            model,
            rescan_every: (w.rescan_interval > 0.0).then(|| Duration::from_secs_f64(w.rescan_interval)),
            _source: source,
        });
    }
    let camera_model = if config.camera.is_empty() { None } else { Some(load(config.colorize.model.as_deref())?) };
    let cameras = start_cameras(&config.camera, tx, usr1);
    let colorize_settings = settings(&config.colorize);
    Ok(Setup { config, generation, watches, camera_model, colorize_settings, cameras })
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
        output_path(input, &target, &w.suffix)
    }
}

/// The model a config names (None: the shipped one), loaded once per manifest: watches, the
/// camera and the kiosk page that use the same model share it.
pub(super) fn load_model(models: &mut Models, model: Option<&Path>, precision: Precision) -> anyhow::Result<Arc<Model>> {
    let manifest = resolve_manifest(model)?;
    let key = (manifest, precision);
    Ok(match models.get(&key) {
        Some(m) => m.clone(),
        None => {
            let m = Arc::new(Model::load_with(&key.0, precision)?);
            crate::metrics::global().set_model(&m.manifest.name, &m.sha256);
            models.insert(key, m.clone());
            m
        }
    })
}

/// Starts the kiosk page with the `[colorize]` model and settings, if `[web]` is enabled.
pub(super) fn start_web(setup: &Setup, models: &mut Models, latest: &Latest) -> anyhow::Result<Option<WebServer>> {
    let config = &setup.config;
    if !config.web.enabled {
        return Ok(None);
    }
    let model = load_model(models, config.colorize.model.as_deref(), config.colorize.precision)?;
    // The `[colorize]` settings the build resolved (credentials loaded and tried once there).
    Ok(Some(crate::web::start(&config.web, model, setup.colorize_settings.clone(), latest.clone())?))
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
        let mut models = HashMap::new();
        // The old cameras must let go of their devices before the new ones open them.
        self.setup.cameras.clear();
        match build(config, &self.tx, &mut models, &self.usr1) {
            Ok(setup) => {
                self.settler.set_delay(Duration::from_secs_f64(setup.config.daemon.stability_delay));
                self.setup = setup;
                self.models = models;
                self.scan_backlog();
                log::info!("config reloaded: watching {} folder(s)", self.setup.watches.len());
                if web_changed {
                    log::warn!("web: changes to [web] take effect at the next restart");
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
        if let Some(web) = self.web.take() {
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
