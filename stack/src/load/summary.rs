//! What `stack load` measured: counts by status class, latency percentiles
//! (HDR histogram, microsecond resolution) and per-route counts.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::failure::{Causes, Failure};
use super::mix::Route;

/// Outcome of one request.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// An HTTP status code came back.
    Status(u16),
    /// No response, and why.
    Failed(Failure),
}

/// Running totals, updated after every request.
#[derive(Debug)]
pub struct Stats {
    latency_us: Histogram<u64>,
    classes: [u64; 5],
    failures: Causes,
    per_route: Vec<RouteCounts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteCounts {
    pub route: String,
    pub sent: u64,
    pub ok: u64,
}

impl Stats {
    pub fn new(routes: &[Route]) -> Self {
        // 1 µs to 10 min at 3 significant digits: plenty for HTTP latency.
        let latency_us =
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid");
        let mut per_route: Vec<RouteCounts> = Vec::new();
        for route in routes {
            let name = route.to_string();
            if !per_route.iter().any(|r| r.route == name) {
                per_route.push(RouteCounts {
                    route: name,
                    sent: 0,
                    ok: 0,
                });
            }
        }
        Self {
            latency_us,
            classes: [0; 5],
            failures: Causes::default(),
            per_route,
        }
    }

    /// Records one finished request of `route`.
    pub fn record(&mut self, route: &Route, outcome: Outcome, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        let ok = match outcome {
            Outcome::Status(code) => {
                let class = usize::from(code / 100).clamp(1, 5) - 1;
                self.classes[class] += 1;
                (200..400).contains(&code)
            }
            Outcome::Failed(failure) => {
                self.failures.count(failure);
                false
            }
        };
        let name = route.to_string();
        if let Some(counts) = self.per_route.iter_mut().find(|r| r.route == name) {
            counts.sent += 1;
            counts.ok += u64::from(ok);
        }
    }

    pub fn completed(&self) -> u64 {
        self.classes.iter().sum::<u64>() + self.errors()
    }

    pub fn errors(&self) -> u64 {
        self.failures.total()
    }

    /// Freezes the totals into a report.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64();
        let completed = self.completed();
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
        let [c1, c2, c3, c4, c5] = self.classes;
        Summary {
            sent: completed,
            elapsed_secs: secs,
            requests_per_sec: if secs > 0.0 {
                completed as f64 / secs
            } else {
                0.0
            },
            status: StatusClasses {
                informational: c1,
                success: c2,
                redirect: c3,
                client_error: c4,
                server_error: c5,
                errors: self.errors(),
                errors_by_cause: self.failures,
            },
            latency_ms: Latency {
                p50: ms(0.50),
                p95: ms(0.95),
                p99: ms(0.99),
                max: self.latency_us.max() as f64 / 1000.0,
            },
            routes: self.per_route.clone(),
        }
    }
}

/// The closing report, printed as text or JSON (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Requests that finished (with a response or an error).
    pub sent: u64,
    pub elapsed_secs: f64,
    pub requests_per_sec: f64,
    pub status: StatusClasses,
    pub latency_ms: Latency,
    pub routes: Vec<RouteCounts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirect: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// No HTTP response at all.
    pub errors: u64,
    pub errors_by_cause: Causes,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// `1 request`, `2 requests`.
pub fn requests(count: u64) -> String {
    match count {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    }
}

impl Summary {
    /// Human-readable report.
    pub fn render(&self) -> String {
        let s = &self.status;
        let l = &self.latency_ms;
        let causes = s.errors_by_cause.describe();
        let causes = if causes.is_empty() {
            causes
        } else {
            format!(" ({causes})")
        };
        let mut out = format!(
            "sent {} in {:.2}s ({:.1} req/s)\n\
             status: 2xx {}  3xx {}  4xx {}  5xx {}  no response {}{causes}\n\
             latency: p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n",
            requests(self.sent),
            self.elapsed_secs,
            self.requests_per_sec,
            s.success,
            s.redirect,
            s.client_error,
            s.server_error,
            s.errors,
            l.p50,
            l.p95,
            l.p99,
            l.max,
        );
        out.push_str("by route (sent / 2xx-3xx):\n");
        for route in &self.routes {
            let _ = writeln!(
                out,
                "  {:<28} {:>8} / {}",
                route.route, route.sent, route.ok
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_is_singular() {
        assert_eq!(requests(1), "1 request");
        assert_eq!(requests(0), "0 requests");
        assert_eq!(requests(2), "2 requests");
    }

    #[test]
    fn counts_classes_and_routes() {
        let routes = vec![Route::get("/a"), Route::get("/b"), Route::get("/a")];
        let mut stats = Stats::new(&routes);
        stats.record(&routes[0], Outcome::Status(200), Duration::from_millis(1));
        stats.record(&routes[1], Outcome::Status(404), Duration::from_millis(2));
        stats.record(
            &routes[2],
            Outcome::Failed(Failure::TimedOut),
            Duration::from_millis(3),
        );
        let summary = stats.summary(Duration::from_secs(1));
        assert_eq!(summary.sent, 3);
        assert_eq!(summary.status.success, 1);
        assert_eq!(summary.status.client_error, 1);
        assert_eq!(summary.status.errors, 1);
        assert_eq!(summary.routes.len(), 2);
        assert_eq!(summary.routes[0].sent, 2);
        assert_eq!(summary.routes[0].ok, 1);
        assert!(summary.latency_ms.max >= 2.9);
    }

    #[test]
    fn says_why_requests_got_no_response() {
        let routes = vec![Route::get("/a")];
        let mut stats = Stats::new(&routes);
        for failure in [Failure::TimedOut, Failure::Refused, Failure::TimedOut] {
            stats.record(
                &routes[0],
                Outcome::Failed(failure),
                Duration::from_millis(1),
            );
        }
        stats.record(&routes[0], Outcome::Status(200), Duration::from_millis(1));
        let summary = stats.summary(Duration::from_secs(1));
        assert_eq!(summary.status.errors, 3);
        let text = summary.render();
        assert!(
            text.contains("no response 3 (timed out 2, connection refused 1)\n"),
            "{text}"
        );
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(
            json["status"]["errors_by_cause"],
            serde_json::json!({
                "timed_out": 2,
                "connection_refused": 1,
                "connection_closed": 0,
                "other": 0
            })
        );

        let fine = Stats::new(&routes).summary(Duration::from_secs(1)).render();
        assert!(fine.contains("no response 0\n"), "{fine}");
    }
}
