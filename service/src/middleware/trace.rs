//! The server span of each request, with W3C trace-context propagation.
//!
//! A valid incoming `traceparent` makes the span a child of the caller's;
//! an invalid one is ignored (the request starts a new trace). While the
//! request runs, the span's context is the current OpenTelemetry context,
//! so handler spans made with `tracing` (store access, CPU burn) become its
//! children through `tracing-opentelemetry`. The response names the span in
//! its own `traceparent`, so a client can look the trace up.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

use crate::semconv::{self, bounded};

/// Runs the request inside its server span.
pub async fn trace(State(tracer): State<Arc<SdkTracer>>, request: Request, next: Next) -> Response {
    let propagator = TraceContextPropagator::new();
    let parent = propagator.extract(&HeaderExtractor(request.headers()));
    let cx = parent.with_span(server_span(&tracer, &request, &parent));
    let mut response = next.run(request).with_context(cx.clone()).await;
    end_span(&cx, response.status().as_u16());
    propagator.inject_context(&cx, &mut HeaderInjector(response.headers_mut()));
    response
}

/// Starts the span with its final name and every request attribute
/// (semconv: samplers may read them).
fn server_span(
    tracer: &SdkTracer,
    request: &Request,
    parent: &Context,
) -> opentelemetry_sdk::trace::Span {
    let method = semconv::method_label(request.method());
    let route = semconv::route(request);
    let mut attributes = vec![KeyValue::new(semconv::HTTP_REQUEST_METHOD, method)];
    if let Some(route) = route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
    }
    attributes.extend([
        KeyValue::new(semconv::URL_PATH, bounded(request.uri().path()).to_owned()),
        KeyValue::new(semconv::URL_SCHEME, "http"),
        KeyValue::new(
            semconv::NETWORK_PROTOCOL_VERSION,
            semconv::protocol_version(request.version()),
        ),
    ]);
    if let Some(agent) = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        attributes.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            bounded(agent).to_owned(),
        ));
    }
    tracer
        .span_builder(semconv::span_name(method, route))
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(tracer, parent)
}

/// Adds the response attributes and ends the span. Semconv: a 5xx is the
/// server's error; a 4xx is the client's and leaves the span's status unset.
fn end_span(cx: &Context, status: u16) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status),
    ));
    if status >= 500 {
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, status.to_string()));
        span.set_status(Status::error(""));
    }
    span.end();
}
