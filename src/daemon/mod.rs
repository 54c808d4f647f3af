//! `hued run`: the service a scanning station runs all day. Folder watches feed one channel;
//! files wait in the [`settle::Settler`] until completely written, then go to a bounded queue
//! and its workers ([`worker::Pool`]), which run the same pipeline as `hued colorize`.
//!
//! Errors come in two tiers: a file's failure is logged, recorded in the state file and
//! survived; a config or model that cannot be loaded at start stops the daemon (exit 2).
//! SIGTERM/SIGINT stop it (exit 0) without waiting for the settle window; SIGHUP reloads
//! the config, keeping the old one when the new one is invalid.

mod admit;
mod events;
mod finish;
pub(crate) mod settle;
mod setup;
pub(crate) mod state;
pub(crate) mod systemd;
pub(crate) mod worker;

use crate::base::Exit;
use crate::base::{output_path, OutputTarget};
use crate::config::ColorizeOverrides;
use crate::config::{load_config, Config};
use crate::job::{CurrentProfile, Job, Loaded, Profile};
use crate::pipeline::metadata::read_provenance;
use crate::pipeline::{Outcome, Written};
use crate::source::watch::{self, FileFilter, FolderWatch};
use crate::source::{SourceEvent, WatchId};
use crate::web::latest::Latest;
use crate::web::WebServer;
use settle::{FileStamp, Settler};
use setup::{build, start_web, Setup};
use state::{Record, State, Verdict};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Origin, Pool, WorkItem, WorkResult};

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
    /// Where each file handed on from the admission is in its life: queued in the pool,
    /// being colorized, or waiting for a retry. Before that a file is in the settler (not yet
    /// stable) or the ready list (checked, waiting for room in the pool).
    lifecycle: HashMap<PathBuf, Stage>,
    tx: mpsc::SyncSender<SourceEvent>,
    usr1: Arc<AtomicBool>,
    /// The newest result, for the kiosk view.
    latest: Latest,
    /// The kiosk page, when `[web]` is enabled, and the handle through which a reload gives it
    /// the new `[colorize]` profile; started once (a reload does not restart it).
    web: Option<(WebServer, CurrentProfile)>,
    /// Photos checked and ready while the work queue was full, in order.
    ready: std::collections::VecDeque<WorkItem>,
    /// Since when the state has changes not yet written.
    state_dirty: Option<Instant>,
    /// When records of vanished files were last dropped.
    last_prune: Instant,
    /// When `[metrics] textfile` was last written.
    metrics_written: Instant,
    /// When each watch with a `rescan_interval` was last listed.
    last_rescan: HashMap<WatchId, Instant>,
}

/// A file's stage once the admission has taken it.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Handed to the pool and not finished (a worker may have taken it before its `Started`
    /// arrives): a second event for it (a rename reports twice) must not queue it again.
    Queued,
    /// A worker is writing its copy to this output.
    Working(PathBuf),
    /// Failed for a passing reason: looked at again at this time.
    Retrying(Instant, Origin),
}

impl Daemon {
    /// Whether the file is queued or being colorized.
    fn in_work(&self, path: &Path) -> bool {
        matches!(self.lifecycle.get(path), Some(Stage::Queued | Stage::Working(_)))
    }

    /// The outputs being written now.
    fn working(&self) -> impl Iterator<Item = &PathBuf> {
        self.lifecycle.values().filter_map(|s| match s {
            Stage::Working(output) => Some(output),
            _ => None,
        })
    }
}

/// The state file is written at most this often (and at exit).
const STATE_WRITE_DELAY: Duration = Duration::from_secs(2);
/// Records of files that are gone are dropped at most this often (a stat per record).
const STATE_PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the daemon with the config at `config_path`; returns the exit code.
pub(crate) fn run(config_path: &Path) -> Exit {
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
    crate::budget::set_total(config.daemon.memory_budget_mb << 20);
    let (tx, rx) = mpsc::sync_channel::<SourceEvent>(4096);
    let setup = match build(config, &tx, &mut Loaded::default(), &usr1) {
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
    let web = match start_web(&setup, &latest) {
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
        lifecycle: HashMap::new(),
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

impl Daemon {
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
            let due: Vec<(Origin, PathBuf)> = self
                .lifecycle
                .iter()
                .filter_map(|(path, stage)| match stage {
                    Stage::Retrying(at, origin) if *at <= now => Some((*origin, path.clone())),
                    _ => None,
                })
                .collect();
            for (origin, path) in due {
                self.lifecycle.remove(&path);
                self.retouch(origin, path);
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
                self.lifecycle.insert(input, Stage::Queued);
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
            let queued = self.pool.len() + self.ready.len() + self.settler.len() + self.working().count();
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

    /// The metrics label of a job's source: its watched folder or camera device.
    fn source_label(&self, origin: Origin) -> String {
        match origin {
            Origin::Watch(id) => self.setup.watch(id).map_or_else(|| "watch:?".into(), |w| format!("watch:{}", w.root.display())),
            Origin::Camera(i) => self.setup.config.camera.get(i).map_or_else(|| "camera:?".into(), |c| format!("camera:{}", c.device.display())),
        }
    }
}
