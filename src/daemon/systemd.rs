//! systemd integration: readiness, watchdog pings and status lines (no-ops outside systemd).

use sd_notify::NotifyState;
use std::time::Duration;

/// Tells systemd the service is ready.
pub(crate) fn ready() {
    let _ = sd_notify::notify(false, &[NotifyState::Ready]);
}

/// Tells systemd the service is stopping.
pub(crate) fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Sets the status line `systemctl status` shows.
pub(crate) fn status(text: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(text)]);
}

/// Pings the watchdog.
pub(crate) fn watchdog() {
    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half its timeout, or None when it is off.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec / 2))
    } else {
        None
    }
}
