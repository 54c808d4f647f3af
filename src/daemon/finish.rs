//! What happens when a photo is finished: its outcome recorded in the state, counted, logged,
//! shown in the kiosk view, or retried; and the state written at most every few seconds.

use super::*;

impl Daemon {
    pub(super) fn on_result(&mut self, r: WorkResult) {
        match r {
            WorkResult::Started { input, output } => {
                log::debug!("started {}", input.display());
                self.lifecycle.insert(input, Stage::Working(output));
            }
            WorkResult::Exited => {}
            WorkResult::Finished { input, origin, stamp, result, elapsed } => {
                self.lifecycle.remove(&input);
                let record = |verdict, reason: String, attempts| Record { stamp, verdict, reason, attempts };
                let Some(result) = result.transpose() else {
                    // Changed since it was queued: it goes back through the stability check.
                    self.retouch(origin, input);
                    return;
                };
                crate::metrics::global().count(&self.source_label(origin), crate::pipeline::photo_outcome(&result));
                match result {
                    Ok(Outcome::Done(Written { output, steps, warning, .. })) => {
                        if let Some(w) = warning {
                            log::warn!("{}: {w}", input.display());
                        }
                        log::info!("done {} -> {} in {steps}", input.display(), output.display());
                        self.latest.record(input.clone(), output);
                        self.counts.done += 1;
                        if self.state.files.remove(&input).is_some() {
                            self.state_changed();
                        }
                    }
                    Ok(Outcome::Skipped(reason)) => {
                        log::info!("skipped {}: {reason}", input.display());
                        self.state.files.insert(input, record(Verdict::Skipped, reason.to_string(), 0));
                        self.state_changed();
                    }
                    Err(e) if e.error.is_transient() => {
                        let attempts = self.state.files.get(&input).map_or(0, |r| r.attempts) + 1;
                        let max = self.setup.config.daemon.max_retry_delay;
                        let delay = Duration::from_secs_f64((2f64.powi(attempts as i32 - 1)).min(max));
                        log::warn!("failed {e} (after {} ms); retrying in {:.0} s", elapsed.as_millis(), delay.as_secs_f64());
                        self.lifecycle.insert(input.clone(), Stage::Retrying(Instant::now() + delay, origin));
                        self.state.files.insert(input, record(Verdict::Retrying, e.error.to_string(), attempts));
                        self.state_changed();
                    }
                    Err(e) => {
                        log::error!("failed {e}; not retried until the file changes");
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
    pub(super) fn state_changed(&mut self) {
        self.state_dirty.get_or_insert_with(Instant::now);
    }

    /// Writes the state if it changed, first dropping the records of files that are gone.
    pub(super) fn flush_state(&mut self) {
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
}
