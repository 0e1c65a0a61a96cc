//! One log line per response, at `info` under the target `service::access`:
//! method, route template, status, duration in microseconds and, when the
//! request is traced, its trace id (the link from a log line to its trace).
//! The line is formatted on the request's thread and written by the log's
//! own writer thread ([`crate::telemetry`]): a request never waits for
//! stdout.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt as _, TraceId};

use crate::semconv;

/// Logs the request once it is answered.
pub async fn access_log(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = semconv::method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    tracing::info!(
        target: "service::access",
        method,
        route = route.as_ref().map_or("", MatchedPath::as_str),
        status = response.status().as_u16(),
        duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        trace_id = current_trace_id().map(tracing::field::display),
        "request finished"
    );
    response
}

/// The trace id of the current OpenTelemetry context (the server span's,
/// when [`super::trace`] runs outside this layer), if there is one.
fn current_trace_id() -> Option<TraceId> {
    Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.trace_id())
    })
}
