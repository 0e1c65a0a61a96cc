//! A log line when the connection cap closes or refuses connections, at
//! most one per [`REPORT_EVERY`] with the counts since the last: a slow
//! upload cut at the cap has its request dropped, which the service counts
//! as `client_closed`, so only this line tells the operator that the server
//! itself was shedding connections.

use std::time::Duration;

use tokio::time::Instant;

use crate::registry::Registry;

/// Shortest interval between two lines.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct CapReport {
    last: Option<Instant>,
}

impl CapReport {
    /// Logs what the cap did since the last line, if anything and if a line
    /// is due; returns the line.
    pub fn tick(&mut self, registry: &Registry, now: Instant) -> Option<String> {
        if self.last.is_some_and(|last| now < last + REPORT_EVERY) {
            return None;
        }
        let (uploads_cut, idle_closed, refused) = registry.take_cap_counts();
        if uploads_cut + idle_closed + refused == 0 {
            return None;
        }
        let since = self.last.map_or_else(
            || "since start".to_owned(),
            |last| format!("in the last {}s", now.duration_since(last).as_secs()),
        );
        self.last = Some(now);
        let line = format!(
            "connection cap ({}) reached {since}: {uploads_cut} slow uploads cut (their requests \
             are dropped, counted as client_closed), {idle_closed} idle connections closed and \
             {refused} new connections refused (every place busy); if real clients hit it, \
             raise --max-connections",
            registry.max()
        );
        tracing::warn!(uploads_cut, idle_closed, refused, "{line}");
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_line_says_what_the_cap_did_at_most_every_report_interval() {
        let registry = Registry::new(1, Duration::ZERO);
        let mut report = CapReport::default();
        let start = Instant::now();
        assert_eq!(report.tick(&registry, start), None, "nothing happened");

        let busy = registry.admit().expect("room");
        busy.state.running.store(1, Ordering::Release);
        assert!(registry.admit().is_none());
        registry.refused();
        let line = report.tick(&registry, start).expect("a line");
        assert!(
            line.contains("connection cap (1) reached since start"),
            "{line}"
        );
        assert!(line.contains("1 new connections refused"), "{line}");

        registry.refused();
        assert_eq!(
            report.tick(&registry, start + REPORT_EVERY / 2),
            None,
            "not yet due"
        );
        let line = report.tick(&registry, start + REPORT_EVERY).expect("due");
        assert!(line.contains("in the last 10s"), "{line}");
        assert!(line.contains("0 slow uploads cut"), "{line}");
        assert!(line.contains("1 new connections refused"), "{line}");
    }
}
