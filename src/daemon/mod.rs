//! `hued run`: the service a scanning station runs all day. Folder watches feed one channel;
//! files wait in the [`settle::Settler`] until completely written, then go to a bounded queue
//! and its workers ([`worker::Pool`]), which run the same pipeline as `hued colorize`.
//!
//! Errors come in two tiers: a file's failure is logged, recorded in the state file and
//! survived; a config or model that cannot be loaded at start stops the daemon (exit 2).
//! SIGTERM/SIGINT stop it (exit 0) without waiting for the settle window; SIGHUP reloads
//! the config, keeping the old one when the new one is invalid.

pub mod settle;
pub mod state;
pub mod systemd;
pub mod worker;

use crate::base::Exit;
use crate::base::{output_path, OutputTarget};
use crate::config::{load_config, Config};
use crate::job::{Job, Settings};
use crate::metrics::Counted;
use crate::model::{resolve_manifest, Model, Precision};
use crate::pipeline::metadata::read_provenance;
use crate::pipeline::{Outcome, Written};
use crate::source::watch::{self, FileFilter, FolderWatch};
use crate::source::SourceEvent;
use crate::web::latest::Latest;
use crate::web::WebServer;
use settle::{FileStamp, Settler};
use state::{Record, State, Verdict};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Origin, Pool, WorkItem, WorkResult};

/// One configured watch, resolved.
struct Watch {
    root: PathBuf,
    recursive: bool,
    follow_symlinks: bool,
    target: OutputTarget,
    /// The colorized-copy suffix in effect for this watch.
    suffix: String,
    filter: Arc<FileFilter>,
    settings: Settings,
    model: Arc<Model>,
    /// How often the whole folder is listed again besides the events (`rescan_interval`).
    rescan_every: Option<Duration>,
    _source: FolderWatch,
}

/// A running camera thread.
struct Camera {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
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
struct Setup {
    config: Config,
    watches: Vec<Watch>,
    /// The `[colorize]` model and settings, for camera captures.
    camera_model: Option<Arc<Model>>,
    camera_settings: Settings,
    cameras: Vec<Camera>,
}

/// Starts one capture thread per `[[camera]]`.
fn start_cameras(cameras: &[crate::config::CameraConfig], tx: &mpsc::SyncSender<SourceEvent>, usr1: &Arc<AtomicBool>) -> Vec<Camera> {
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
type Models = HashMap<(PathBuf, Precision), Arc<Model>>;

/// Loads models (sharing one per manifest) and starts the watches of `config`.
fn build(config: Config, tx: &mpsc::SyncSender<SourceEvent>, models: &mut Models, usr1: &Arc<AtomicBool>) -> anyhow::Result<Setup> {
    if config.watch.is_empty() && config.camera.is_empty() && !config.web.enabled {
        anyhow::bail!("no [[watch]] folders, [[camera]] devices or [web] page configured: nothing to do");
    }
    let precision = config.colorize.precision;
    let credentials = crate::pipeline::credentials::from_config(&config.provenance)?;
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
        let source = watch::start(i, w, filter.clone(), tx.clone())?;
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
    let camera_settings = settings(&config.colorize);
    Ok(Setup { config, watches, camera_model, camera_settings, cameras })
}

impl Setup {
    fn output_for(&self, watch: usize, input: &Path) -> PathBuf {
        let w = &self.watches[watch];
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

struct Counts {
    done: usize,
}

/// The daemon's loop state.
struct Daemon {
    setup: Setup,
    config_path: PathBuf,
    settler: Settler,
    pool: Pool,
    state: State,
    counts: Counts,
    retries: Vec<(Instant, Origin, PathBuf)>,
    in_flight: HashMap<PathBuf, PathBuf>,
    models: Models,
    tx: mpsc::SyncSender<SourceEvent>,
    usr1: Arc<AtomicBool>,
    /// The newest result, for the kiosk view.
    latest: Latest,
    /// The kiosk page, when `[web]` is enabled; started once (a reload does not restart it).
    web: Option<WebServer>,
    /// Photos checked and ready while the work queue was full, in order.
    ready: std::collections::VecDeque<WorkItem>,
    /// Since when the state has changes not yet written.
    state_dirty: Option<Instant>,
    /// When records of vanished files were last dropped.
    last_prune: Instant,
    /// When `[metrics] textfile` was last written.
    metrics_written: Instant,
    /// When each watch with a `rescan_interval` was last listed.
    last_rescan: HashMap<usize, Instant>,
    /// Files handed to the pool and not finished: a worker may have taken one before its
    /// `Started` arrives, and a second event for it (a rename reports twice) must not queue
    /// it again.
    dispatched: std::collections::HashSet<PathBuf>,
}

/// The state file is written at most this often (and at exit).
const STATE_WRITE_DELAY: Duration = Duration::from_secs(2);
/// Records of files that are gone are dropped at most this often (a stat per record).
const STATE_PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the daemon with the config at `config_path`; returns the exit code.
pub fn run(config_path: &Path) -> Exit {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return Exit::Usage;
        }
    };
    let term = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    let usr1 = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, usr1.clone()).expect("signal handler");
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, term.clone()).expect("signal handler");
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()).expect("signal handler");

    crate::model::set_threads(config.colorize.threads);
    // Fixed for the process's life (a reload cannot change it: jobs may hold shares of it).
    crate::pipeline::budget::set_total(config.daemon.memory_budget_mb << 20);
    let (tx, rx) = mpsc::sync_channel::<SourceEvent>(4096);
    let mut models = HashMap::new();
    let setup = match build(config, &tx, &mut models, &usr1) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{}: {e:#}", config_path.display());
            return Exit::Usage;
        }
    };
    let d = &setup.config.daemon;
    if let Err(e) = std::fs::create_dir_all(&d.state_dir) {
        log::error!("cannot create state directory {}: {e}", d.state_dir.display());
        return Exit::Usage;
    }
    let latest = Latest::default();
    let web = match start_web(&setup.config, &mut models, &latest) {
        Ok(w) => w,
        Err(e) => {
            log::error!("{}: {e:#}", config_path.display());
            return Exit::Usage;
        }
    };
    let d = &setup.config.daemon;
    let (res_tx, res_rx) = mpsc::channel();
    let pool = Pool::start(d.workers, d.queue_capacity, res_tx);
    let mut daemon = Daemon {
        settler: Settler::new(Duration::from_secs_f64(d.stability_delay)),
        state: {
            let mut state = State::load(&d.state_dir);
            state.prune();
            state
        },
        setup,
        config_path: config_path.to_path_buf(),
        pool,
        counts: Counts { done: 0 },
        retries: Vec::new(),
        in_flight: HashMap::new(),
        models,
        tx,
        usr1,
        latest,
        web,
        // Written once at start: the load dropped the records of files that are gone.
        state_dirty: Some(Instant::now()),
        ready: Default::default(),
        last_prune: Instant::now(),
        // Due at once: a fleet sees a restarted station right away.
        metrics_written: Instant::now() - Duration::from_secs(3600),
        last_rescan: HashMap::new(),
        dispatched: Default::default(),
    };
    daemon.scan_backlog();
    systemd::ready();
    log::info!(
        "watching {} folder(s) and {} camera(s); {} file(s) in the backlog",
        daemon.setup.watches.len(),
        daemon.setup.cameras.len(),
        daemon.settler.len(),
    );
    daemon.main_loop(&rx, &res_rx, &term, &hup);
    daemon.shutdown(&res_rx)
}

/// The model a config names (None: the shipped one), loaded once per manifest: watches, the
/// camera and the kiosk page that use the same model share it.
fn load_model(models: &mut Models, model: Option<&Path>, precision: Precision) -> anyhow::Result<Arc<Model>> {
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
fn start_web(config: &Config, models: &mut Models, latest: &Latest) -> anyhow::Result<Option<WebServer>> {
    if !config.web.enabled {
        return Ok(None);
    }
    let model = load_model(models, config.colorize.model.as_deref(), config.colorize.precision)?;
    let credentials = crate::pipeline::credentials::from_config(&config.provenance)?;
    let settings = Settings { credentials, ..Settings::from_config(&config.colorize) };
    Ok(Some(crate::web::start(&config.web, model, settings, latest.clone())?))
}

impl Daemon {
    fn scan_backlog(&mut self) {
        let now = Instant::now();
        for (i, w) in self.setup.watches.iter().enumerate() {
            for path in watch::scan(&w.root, w.recursive, &w.filter) {
                self.settler.touch(i, path, now);
            }
        }
    }

    fn main_loop(&mut self, rx: &Receiver<SourceEvent>, results: &Receiver<WorkResult>, term: &AtomicBool, hup: &AtomicBool) {
        let watchdog = systemd::watchdog_interval();
        let mut last_ping = Instant::now();
        let mut last_status = String::new();
        while !term.load(Ordering::Relaxed) {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ev) => self.on_event(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(ev) = rx.try_recv() {
                self.on_event(ev);
            }
            if hup.swap(false, Ordering::Relaxed) {
                self.reload();
            }
            let now = Instant::now();
            self.rescan_due(now);
            let due: Vec<_> = self.retries.iter().filter(|r| r.0 <= now).map(|r| (r.1, r.2.clone())).collect();
            self.retries.retain(|r| r.0 > now);
            for (w, p) in due {
                self.retouch(w, p);
            }
            // Checked files waiting for room first; new ones only once they are all queued.
            while self.pool.room() > 0 {
                let Some(item) = self.ready.pop_front() else {
                    break;
                };
                let input = item.job.input.clone();
                if let Err(item) = self.pool.push(item) {
                    self.ready.push_front(item);
                    break;
                }
                self.dispatched.insert(input);
            }
            if self.pool.room() > 0 && self.ready.is_empty() {
                for (watch, path, stamp) in self.settler.poll(now) {
                    self.consider(watch, path, stamp);
                }
            }
            while let Ok(r) = results.try_recv() {
                self.on_result(r);
            }
            if self.state_dirty.is_some_and(|t| t.elapsed() >= STATE_WRITE_DELAY) {
                self.flush_state();
            }
            if let Some(interval) = watchdog {
                if last_ping.elapsed() >= interval {
                    systemd::watchdog();
                    last_ping = Instant::now();
                }
            }
            let queued = self.pool.len() + self.ready.len() + self.settler.len() + self.in_flight.len();
            crate::metrics::global().set_queued(queued);
            if let Some(path) = &self.setup.config.metrics.textfile {
                if self.metrics_written.elapsed().as_secs_f64() >= self.setup.config.metrics.interval {
                    self.metrics_written = Instant::now();
                    if let Err(e) = crate::metrics::global().write_textfile(path) {
                        log::warn!("cannot write metrics to {}: {e}", path.display());
                    }
                }
            }
            let status =
                format!("watching {} folders; {} done, {} failed, {queued} queued", self.setup.watches.len(), self.counts.done, self.state.failed_count());
            if status != last_status {
                systemd::status(&status);
                last_status = status;
            }
        }
    }

    fn on_event(&mut self, ev: SourceEvent) {
        let now = Instant::now();
        match ev {
            SourceEvent::Touched { watch, path, arrival } => {
                if watch < self.setup.watches.len() {
                    if self.pool.withdraw(&path) {
                        self.dispatched.remove(&path);
                    }
                    self.ready.retain(|item| item.job.input != path);
                    self.settler.arrived(watch, path, arrival, now);
                }
            }
            SourceEvent::Captured { camera, path } => {
                let (Some(model), Ok(stamp)) = (self.setup.camera_model.clone(), FileStamp::of(&path)) else {
                    return;
                };
                let suffix = &self.setup.config.colorize.suffix;
                let job = Job::new(path, &OutputTarget::Beside, suffix, self.setup.camera_settings.clone());
                if let Err(item) = self.pool.push(WorkItem { job, model, stamp, origin: Origin::Camera(camera) }) {
                    log::error!("camera #{}: queue full; {} waits for the next restart", camera + 1, item.job.input.display());
                }
            }
            SourceEvent::Rescan { watch } => {
                if let Some(w) = self.setup.watches.get(watch) {
                    log::warn!("watch #{}: events were lost (too many at once); scanning {} again", watch + 1, w.root.display());
                    for file in watch::scan(&w.root, w.recursive, &w.filter) {
                        self.settler.touch(watch, file, now);
                    }
                }
            }
            SourceEvent::NewFolder { watch, path } => {
                if let Some(w) = self.setup.watches.get(watch) {
                    for file in watch::scan(&path, true, &w.filter) {
                        self.settler.touch(watch, file, now);
                    }
                }
            }
        }
    }

    /// Lists the watches whose `rescan_interval` has passed again: every photo found goes
    /// through the stability check, and `consider` drops those already up to date or settled.
    fn rescan_due(&mut self, now: Instant) {
        for (i, w) in self.setup.watches.iter().enumerate() {
            let Some(every) = w.rescan_every else { continue };
            let last = self.last_rescan.entry(i).or_insert(now);
            if now.duration_since(*last) < every {
                continue;
            }
            *last = now;
            let files = watch::scan(&w.root, w.recursive, &w.filter);
            log::debug!("watch #{}: rescan of {} found {} photo(s)", i + 1, w.root.display(), files.len());
            // `consider` drops files in flight, queued, settled or up to date.
            for file in files {
                self.settler.touch(i, file, now);
            }
        }
    }

    /// The metrics label of a job's source: its watched folder or camera device.
    fn source_label(&self, origin: Origin) -> String {
        match origin {
            Origin::Watch(i) => self.setup.watches.get(i).map_or_else(|| "watch:?".into(), |w| format!("watch:{}", w.root.display())),
            Origin::Camera(i) => self.setup.config.camera.get(i).map_or_else(|| "camera:?".into(), |c| format!("camera:{}", c.device.display())),
        }
    }

    /// Looks at a file again: a watched one goes back through the stability check, a
    /// camera capture straight back to the queue.
    fn retouch(&mut self, origin: Origin, path: PathBuf) {
        match origin {
            Origin::Camera(camera) => self.on_event(SourceEvent::Captured { camera, path }),
            Origin::Watch(watch) if watch < self.setup.watches.len() => self.settler.touch(watch, path, Instant::now()),
            Origin::Watch(_) => {} // its watch went away in a reload
        }
    }

    /// A stable file: queue it unless it needs no work.
    fn consider(&mut self, watch: usize, path: PathBuf, stamp: FileStamp) {
        if watch >= self.setup.watches.len() {
            return; // its watch went away in a reload
        }
        if !self.setup.watches[watch].follow_symlinks && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            log::warn!("{}: is a symbolic link; skipped (set follow_symlinks = true for this watch to colorize links)", path.display());
            return;
        }
        let output = self.setup.output_for(watch, &path);
        if crate::sink::is_up_to_date(&path, &output) {
            log::debug!("{}: up to date", path.display());
            return;
        }
        if self.state.settled(&path, &stamp) || self.in_flight.contains_key(&path) || self.dispatched.contains(&path) {
            return;
        }
        if read_provenance(&path).is_some() {
            log::debug!("{}: is a colorized copy made by hued; ignored", path.display());
            return;
        }
        let w = &self.setup.watches[watch];
        let hints = match crate::hints::sidecar_hints(&path, w.model.has_hints(), &w.model.manifest.name) {
            Ok((h, warning)) => {
                if let Some(warning) = warning {
                    log::warn!("{}: {warning}", path.display());
                }
                h
            }
            Err(reason) => {
                // Not recorded as failed: saving a mended sidecar brings the photo back.
                log::error!("failed {}: {reason}; waiting for the sidecar to be mended", path.display());
                return;
            }
        };
        let job = Job { input: path.clone(), output, compare: None, settings: w.settings.clone(), hints };
        match self.pool.push(WorkItem { job, model: w.model.clone(), stamp, origin: Origin::Watch(watch) }) {
            Ok(()) => {
                self.dispatched.insert(path);
            }
            // Queue full: it waits, checked, in the ready list; nothing is read again for it
            // (the worker still compares its stamp before starting).
            Err(item) => self.ready.push_back(item),
        }
    }

    fn on_result(&mut self, r: WorkResult) {
        match r {
            WorkResult::Started { input, output } => {
                log::debug!("started {}", input.display());
                self.in_flight.insert(input, output);
            }
            WorkResult::Exited => {}
            WorkResult::Finished { input, origin, stamp, result, elapsed } => {
                self.in_flight.remove(&input);
                self.dispatched.remove(&input);
                let record = |verdict, reason: String, attempts| Record { stamp, verdict, reason, attempts };
                match result {
                    Ok(None) => self.retouch(origin, input),
                    Ok(Some(Outcome::Done(Written { output, times, warning, .. }))) => {
                        if let Some(w) = warning {
                            log::warn!("{}: {w}", input.display());
                        }
                        log::info!("done {} -> {} in {times}", input.display(), output.display());
                        self.latest.record(input.clone(), output);
                        self.counts.done += 1;
                        crate::metrics::global().count(&self.source_label(origin), Counted::Done);
                        if self.state.files.remove(&input).is_some() {
                            self.state_changed();
                        }
                    }
                    Ok(Some(Outcome::Skipped(reason))) => {
                        log::info!("skipped {}: {reason}", input.display());
                        crate::metrics::global().count(&self.source_label(origin), Counted::Skipped);
                        self.state.files.insert(input, record(Verdict::Skipped, reason.to_string(), 0));
                        self.state_changed();
                    }
                    Err(e) if e.error.is_transient() => {
                        let attempts = self.state.files.get(&input).map_or(0, |r| r.attempts) + 1;
                        let max = self.setup.config.daemon.max_retry_delay;
                        let delay = Duration::from_secs_f64((2f64.powi(attempts as i32 - 1)).min(max));
                        log::warn!("failed {e} (after {} ms); retrying in {:.0} s", elapsed.as_millis(), delay.as_secs_f64());
                        crate::metrics::global().count(&self.source_label(origin), Counted::Failed);
                        self.retries.push((Instant::now() + delay, origin, input.clone()));
                        self.state.files.insert(input, record(Verdict::Retrying, e.error.to_string(), attempts));
                        self.state_changed();
                    }
                    Err(e) => {
                        log::error!("failed {e}; not retried until the file changes");
                        crate::metrics::global().count(&self.source_label(origin), Counted::Failed);
                        self.state.files.insert(input, record(Verdict::Failed, e.error.to_string(), 1));
                        self.state_changed();
                    }
                }
            }
        }
    }

    /// Notes that the state changed; it is written at most every STATE_WRITE_DELAY (and at
    /// exit): written after every record, 400 skipped files cost 23.5 MB of writes, 10,000
    /// about 15 GB, on an SD card.
    fn state_changed(&mut self) {
        self.state_dirty.get_or_insert_with(Instant::now);
    }

    /// Writes the state if it changed, first dropping the records of files that are gone.
    fn flush_state(&mut self) {
        if self.state_dirty.take().is_none() {
            return;
        }
        if self.last_prune.elapsed() >= STATE_PRUNE_INTERVAL {
            self.state.prune();
            self.last_prune = Instant::now();
        }
        match self.state.save(&self.setup.config.daemon.state_dir) {
            Ok(()) => log::debug!("state: saved {} record(s)", self.state.files.len()),
            Err(e) => log::warn!("cannot save state in {}: {e}", self.setup.config.daemon.state_dir.display()),
        }
    }

    fn reload(&mut self) {
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
    fn shutdown(mut self, results: &Receiver<WorkResult>) -> Exit {
        systemd::stopping();
        if let Some(web) = self.web.take() {
            log::info!("web: stopping; {} upload(s) in memory are dropped", web.held());
            drop(web);
        }
        log::info!("stopping: finishing {} file(s) in progress", self.in_flight.len());
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
            for output in self.in_flight.values() {
                let dir = output.parent().unwrap_or(Path::new("."));
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            log::warn!("abandoned {} unfinished file(s) after {:.0} s", self.in_flight.len(), self.setup.config.daemon.shutdown_timeout);
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
