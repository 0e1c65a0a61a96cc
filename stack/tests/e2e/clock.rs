//! The test's clock: one budget for the whole run, enforced step by step.

use std::time::{Duration, Instant};

/// The whole test, once the binaries are built, must finish within this
/// (issue 4, acceptance 6).
pub const BUDGET: Duration = Duration::from_secs(600);

/// Started once the binaries are built (building is not part of the
/// budget). Every step's deadline is capped at the end of the budget, so
/// the budget is enforced as the test runs, not checked after the fact.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    end: Instant,
}

impl Clock {
    pub fn start() -> Self {
        let start = Instant::now();
        Self {
            start,
            end: start + BUDGET,
        }
    }

    /// `step` from now, but never past the end of the budget.
    pub fn deadline(&self, step: Duration) -> Instant {
        (Instant::now() + step).min(self.end)
    }

    /// `step`, shortened to what is left of the budget.
    pub fn within(&self, step: Duration) -> Duration {
        self.deadline(step)
            .saturating_duration_since(Instant::now())
    }

    /// Appended to a timeout's failure message: says when it was the budget
    /// (not the step's own limit) that ran out.
    pub fn why(&self) -> String {
        if Instant::now() >= self.end {
            format!(" (the test's {BUDGET:?} budget ran out)")
        } else {
            String::new()
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Progress lines go straight to stderr, not through the test harness's
    /// capture, so the timings show in every `cargo test` run.
    pub fn log(&self, what: &str) {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "e2e [{:>6.1}s] {what}",
            self.elapsed().as_secs_f64()
        );
    }
}
