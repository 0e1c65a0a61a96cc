//! Giving memory back after a burst of connections.
//!
//! Each connection allocates buffers for its request head. After thousands
//! of connections close, glibc's allocator keeps the freed memory in its
//! per-thread arenas, and the process stays at its peak size for good
//! (measured: 16 MB at start, 44 MB with 10,000 connections, still 42 MB
//! long after they closed). `malloc_trim` hands the free pages back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the server looks at how many connections closed.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Closed connections since the last trim that make one worthwhile.
const TRIM_AFTER: u64 = 256;

/// Counts closed connections and trims the heap after a burst of them.
#[derive(Debug, Default)]
pub struct Reclaim {
    closed: AtomicU64,
}

impl Reclaim {
    pub fn connection_closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Called every [`CHECK_EVERY`]: trims when enough connections closed.
    pub fn check(&self) {
        if self.closed.load(Ordering::Relaxed) >= TRIM_AFTER {
            self.closed.store(0, Ordering::Relaxed);
            trim();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
