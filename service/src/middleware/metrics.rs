//! Request metrics: a count and a duration sample per response, and the
//! in-flight gauge.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::HttpMetrics;
use crate::semconv;
use crate::state::AppState;

/// Counts and times every response under its method, route template and
/// status.
pub async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let mut in_flight = InFlight::start(&state.metrics().http, &request);
    let response = next.run(request).await;
    in_flight.answered(&response, start);
    response
}

/// One request in flight. Dropped unanswered when the client hangs up (the
/// server drops the request's future): it then still leaves the gauge, and
/// is counted with `error.type="client_closed"` and no status.
struct InFlight<'a> {
    metrics: &'a HttpMetrics,
    method: &'static str,
    route: Option<MatchedPath>,
    answered: bool,
}

impl<'a> InFlight<'a> {
    fn start(metrics: &'a HttpMetrics, request: &Request) -> Self {
        let method = semconv::method_label(request.method());
        metrics.started(method);
        Self {
            metrics,
            method,
            route: request.extensions().get::<MatchedPath>().cloned(),
            answered: false,
        }
    }

    fn answered(&mut self, response: &Response, start: Instant) {
        let route = self.route.as_ref().map(MatchedPath::as_str);
        self.metrics
            .record(self.method, route, response.status(), start.elapsed());
        self.answered = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.ended(self.method);
        if !self.answered {
            let route = self.route.as_ref().map(MatchedPath::as_str);
            self.metrics.record_abandoned(self.method, route);
        }
    }
}
