//! The work queue and its workers. The queue is bounded and holds each file once; a file
//! touched again while it waits is taken out (it goes back through the stability check), so
//! it is processed once, with its final content.

use super::settle::FileStamp;
use crate::job::Job;
use crate::pipeline::{self, JobError, Outcome};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A photo ready for a worker.
pub(crate) struct WorkItem {
    /// What to do (its profile carries the settings and the model).
    pub job: Job,
    /// The content the stability check approved.
    pub stamp: FileStamp,
    /// Where it came from.
    pub origin: Origin,
}

/// Where a job came from: which `[[watch]]` or `[[camera]]` entry (by index in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A file in a watched folder.
    Watch(crate::source::WatchId),
    /// A capture of a document camera.
    Camera(usize),
}

/// What a worker reports.
pub(crate) enum WorkResult {
    /// It started on a file (the daemon tracks this to clean up on shutdown).
    Started {
        /// The original.
        input: PathBuf,
        /// Its output.
        output: PathBuf,
    },
    /// It finished one.
    Finished {
        /// The original.
        input: PathBuf,
        /// Where it came from.
        origin: Origin,
        /// The content processed.
        stamp: FileStamp,
        /// How it went; `Ok(None)` when the file changed after it was queued.
        result: Result<Option<Outcome>, JobError>,
        /// Wall time.
        elapsed: Duration,
    },
    /// A worker exited (on shutdown).
    Exited,
}

struct Queue {
    items: VecDeque<WorkItem>,
    paths: HashSet<PathBuf>,
    stop: bool,
}

/// The queue shared by the daemon and its workers.
pub(crate) struct Pool {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    capacity: usize,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` threads reporting to `results`.
    pub(crate) fn start(workers: usize, capacity: usize, results: Sender<WorkResult>) -> Pool {
        let queue = Arc::new((Mutex::new(Queue { items: VecDeque::new(), paths: HashSet::new(), stop: false }), Condvar::new()));
        let handles = (0..workers)
            .map(|i| {
                let queue = queue.clone();
                let results = results.clone();
                std::thread::Builder::new().name(format!("hued-worker-{i}")).spawn(move || work(&queue, &results)).expect("spawn worker")
            })
            .collect();
        Pool { queue, capacity, handles }
    }

    /// Queues an item; gives it back when the queue is full or the file is already queued.
    // The Err is not an error but the item handed back to wait in the ready list: boxing it
    // would allocate for every full-queue push.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push(&self, item: WorkItem) -> Result<(), WorkItem> {
        let (lock, cv) = &*self.queue;
        let mut q = lock.lock().unwrap();
        if q.items.len() >= self.capacity || q.paths.contains(&item.job.input) {
            return Err(item);
        }
        q.paths.insert(item.job.input.clone());
        q.items.push_back(item);
        cv.notify_one();
        Ok(())
    }

    /// Takes a file out of the queue (it was touched again); true if it was there.
    pub(crate) fn withdraw(&self, path: &Path) -> bool {
        let mut q = self.queue.0.lock().unwrap();
        if q.paths.remove(path) {
            q.items.retain(|i| i.job.input != path);
            true
        } else {
            false
        }
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.0.lock().unwrap().items.len()
    }

    /// Free places in the queue.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Stops handing out work; workers exit after their current file. Returns the threads.
    pub(crate) fn stop(&mut self) -> Vec<JoinHandle<()>> {
        let (lock, cv) = &*self.queue;
        let mut q = lock.lock().unwrap();
        q.stop = true;
        q.items.clear();
        q.paths.clear();
        cv.notify_all();
        std::mem::take(&mut self.handles)
    }
}

/// One photo through the pipeline, a panic included: a bug met by one file fails that file
/// (permanently, logged with its message) and the worker goes on with the next.
fn colorize_guarded(item: &WorkItem) -> Result<Outcome, JobError> {
    pipeline::guarded(|| pipeline::colorize(&item.job), |error| JobError { path: item.job.input.clone(), error })
}

fn work(queue: &(Mutex<Queue>, Condvar), results: &Sender<WorkResult>) {
    loop {
        let item = {
            let (lock, cv) = queue;
            let mut q = lock.lock().unwrap();
            loop {
                if q.stop {
                    let _ = results.send(WorkResult::Exited);
                    return;
                }
                if let Some(item) = q.items.pop_front() {
                    q.paths.remove(&item.job.input);
                    break item;
                }
                q = cv.wait(q).unwrap();
            }
        };
        let start = Instant::now();
        let input = item.job.input.clone();
        let result = if FileStamp::of(&input).ok() != Some(item.stamp) {
            Ok(None)
        } else {
            let _ = results.send(WorkResult::Started { input: input.clone(), output: item.job.output.clone() });
            let made_dir = match item.job.output.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
                    .map_err(|source| JobError { path: input.clone(), error: pipeline::PipelineError::Write { path: dir.to_path_buf(), source } }),
                _ => Ok(()),
            };
            made_dir.and_then(|()| colorize_guarded(&item).map(Some))
        };
        let _ = results.send(WorkResult::Finished { input, origin: item.origin, stamp: item.stamp, result, elapsed: start.elapsed() });
    }
}
