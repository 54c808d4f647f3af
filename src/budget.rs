//! One memory budget for the whole process: every photo being colorized (folder watches,
//! camera, kiosk page) holds its estimated peak memory from the moment its size is known until
//! it is done, so concurrent jobs cannot add up past what the service may use (the unit's
//! `MemoryMax`). A photo that alone needs more than the whole budget fails at once, with a
//! message; one that fits waits for room.

use std::sync::{Condvar, Mutex, OnceLock};

/// Peak bytes per pixel of one job, measured: a 50 MP 16-bit PNG peaked at 705 MB (gray) and
/// 735 MB (RGB) in `hued colorize` (about 14.5 bytes a pixel with the model); 16 leaves room.
pub const BYTES_PER_PIXEL: u64 = 16;
/// Per job, beside the pixels: decoder buffers, the model's activations, encoder buffers.
pub const BYTES_PER_JOB: u64 = 64 << 20;

struct Budget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

static BUDGET: OnceLock<Budget> = OnceLock::new();

/// Sets the process's budget in bytes (once; the daemon does it at start from
/// `daemon.memory_budget_mb`). Without it, jobs are not limited (the command line colorizes
/// one photo at a time).
pub fn set_total(bytes: u64) {
    let _ = BUDGET.set(Budget { total: bytes, used: Mutex::new(0), freed: Condvar::new() });
}

/// The estimated peak memory of colorizing a photo of this size.
pub fn estimate(width: u32, height: u32) -> u64 {
    width as u64 * height as u64 * BYTES_PER_PIXEL + BYTES_PER_JOB
}

/// The whole budget in bytes, if one is set.
pub fn total() -> Option<u64> {
    BUDGET.get().map(|b| b.total)
}

/// A share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation(u64);

impl Reservation {
    /// How many bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(b) = BUDGET.get() {
            *b.used.lock().unwrap() -= self.0;
            b.freed.notify_all();
        }
    }
}

/// Reserves `bytes`, waiting while other jobs hold too much. Err(total) when `bytes` alone is
/// over the whole budget: that photo can never be colorized here.
pub fn reserve(bytes: u64) -> Result<Reservation, u64> {
    let Some(b) = BUDGET.get() else {
        return Ok(Reservation(0));
    };
    if bytes > b.total {
        return Err(b.total);
    }
    let mut used = b.used.lock().unwrap();
    while *used + bytes > b.total {
        used = b.freed.wait(used).unwrap();
    }
    *used += bytes;
    Ok(Reservation(bytes))
}

/// Reserves `bytes` if they fit now, without waiting: for memory a job needs on top of what it
/// already holds (a job waiting for more while holding its share could wait for ever beside
/// others doing the same). None: not now.
pub fn try_reserve(bytes: u64) -> Option<Reservation> {
    let Some(b) = BUDGET.get() else {
        return Some(Reservation(0));
    };
    let mut used = b.used.lock().unwrap();
    if *used + bytes > b.total {
        return None;
    }
    *used += bytes;
    Some(Reservation(bytes))
}
