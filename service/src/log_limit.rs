//! At most one log line per interval, for reports of trouble that repeats
//! (failing exports, dropped spans) and would otherwise flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets a report through at most once per `every`.
#[derive(Debug)]
pub struct LogLimit {
    every: Duration,
    last: Mutex<Option<Instant>>,
}

/// A report let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Time since the previous report; `None` for the first.
    pub since_last: Option<Duration>,
}

impl LogLimit {
    /// No report yet; then at most one per `every`.
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
        }
    }

    /// Lets a report through, and records it, unless one went through less
    /// than `every` ago; `force` (a last report at exit) skips that check.
    pub fn pass(&self, force: bool) -> Option<Pass> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let since_last = last.map(|at| now.duration_since(at));
        if !force && since_last.is_some_and(|since| since < self.every) {
            return None;
        }
        *last = Some(now);
        Some(Pass { since_last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_interval_unless_forced() {
        let limit = LogLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.pass(false), Some(Pass { since_last: None }));
        assert_eq!(limit.pass(false), None);
        let forced = limit.pass(true).expect("forced");
        assert!(forced.since_last.is_some_and(|since| since < limit.every));

        let short = LogLimit::new(Duration::ZERO);
        assert!(short.pass(false).is_some() && short.pass(false).is_some());
    }
}
