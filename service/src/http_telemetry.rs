//! The tower middleware that measures and traces every request.
//!
//! [`HttpTelemetryLayer`] is installed with `Router::layer`, which in axum
//! wraps every endpoint: each route (with its 405 fallback and the panic
//! handler inside), and the fallback that answers unmatched paths. So it sees
//! every response the router produces, 404s, 405s, 413s and panics turned
//! into 500s included. axum sets `MatchedPath` before the endpoint runs, so
//! the route *template* (`/api/items/{id}`, never the raw path) is known when
//! the request starts; the fallback has none.
//!
//! When the response is ready the layer records the metrics once, finishes
//! the server span and adds the `traceparent` header. The future is
//! hand-written (no boxing, no extra task): this code runs on every request
//! and the benchmark holds it to a few percent of overhead.
//!
//! The server span is made with the OpenTelemetry API directly rather than
//! as a `tracing` span: that skips the `tracing` registry and the
//! field-to-attribute conversion on every request. While the request runs,
//! its OpenTelemetry context is attached to the polling thread, so the
//! `tracing` spans of handlers (store access, CPU burn) become its children
//! through `tracing-opentelemetry`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context as OtelContext, KeyValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::metrics::{HttpMetrics, METHOD_LABELS, method_index};
use crate::propagation::{HeaderExtractor, traceparent_bytes};
use crate::routes;

/// The response header naming the server span.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Layer that records metrics and (optionally) a server span per request.
///
/// It holds plain `'static` references, no `Arc`: axum clones the layered
/// service for every request, and a reference count that both cores bump
/// per request moves its cache line between them each time, which cost
/// more than the counting itself.
#[derive(Debug, Clone, Copy)]
pub struct HttpTelemetryLayer {
    metrics: Option<&'static HttpMetrics>,
    tracer: Option<&'static SdkTracer>,
}

impl HttpTelemetryLayer {
    /// `metrics`: where to count; `traces`: whether to open server spans with
    /// the tracer provider [`crate::telemetry::init`] installed (without one
    /// no spans are made). The SDK's tracer is used directly, not the
    /// global API's boxed one: one allocation and a few dynamic calls less
    /// per request.
    pub fn new(metrics: Option<&'static HttpMetrics>, traces: bool) -> Self {
        let tracer = traces.then(crate::telemetry::server_tracer).flatten();
        Self { metrics, tracer }
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTelemetry {
            inner,
            metrics: self.metrics,
            tracer: self.tracer,
        }
    }
}

/// Service produced by [`HttpTelemetryLayer`].
#[derive(Clone)]
pub struct HttpTelemetry<S> {
    inner: S,
    metrics: Option<&'static HttpMetrics>,
    tracer: Option<&'static SdkTracer>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for HttpTelemetry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTelemetry")
            .field("inner", &self.inner)
            .field("metrics", &self.metrics.is_some())
            .field("traces", &self.tracer.is_some())
            .finish()
    }
}

/// Decrements the in-flight gauge when dropped. A request whose client
/// disconnected mid-way has its future dropped before any response: the
/// guard then counts it too (`error.type="client_closed"`, no status), so
/// such requests, burns of `/api/cpu` included, show on `/metrics`.
struct ActiveGuard {
    metrics: &'static HttpMetrics,
    method: usize,
    route: Option<Cow<'static, str>>,
    answered: bool,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.metrics.active(self.method, -1);
        if !self.answered {
            self.metrics
                .record_abandoned(self.method, self.route.as_ref());
        }
    }
}

impl<S, B, RB> Service<Request<B>> for HttpTelemetry<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = HttpTelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method_index = method_index(request.method());
        let method = METHOD_LABELS[method_index];
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| routes::intern(matched.as_str()));
        let active = self.metrics.map(|metrics| {
            metrics.active(method_index, 1);
            ActiveGuard {
                metrics,
                method: method_index,
                route: route.clone(),
                answered: false,
            }
        });
        let otel = self
            .tracer
            .map(|tracer| server_span(tracer, &request, method, route.as_ref()));
        let inner = match &otel {
            Some(context) => {
                let _attached = context.clone().attach();
                self.inner.call(request)
            }
            None => self.inner.call(request),
        };
        HttpTelemetryFuture {
            inner,
            start,
            method,
            route,
            active,
            otel,
        }
    }
}

/// Starts the server span, as a child of the caller's span when the request
/// carries a valid `traceparent` (an invalid one is ignored by the
/// propagator: the span starts a new trace). Returns the context holding it.
fn server_span<B>(
    tracer: &SdkTracer,
    request: &Request<B>,
    method: &'static str,
    route: Option<&Cow<'static, str>>,
) -> OtelContext {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    // Semconv: "{METHOD} {route}", or the method alone without a route; an
    // unknown method is named plain "HTTP".
    let name = match route {
        Some(route) => routes::span_name(method, route),
        None if method == "_OTHER" => Cow::Borrowed("HTTP"),
        None => Cow::Borrowed(method),
    };
    // Every request attribute goes in at the start (semconv: samplers may
    // read them), into a vector with room for the two added at the end: the
    // SDK keeps this vector, so the span's attributes are never reallocated.
    let mut attributes = Vec::with_capacity(SPAN_ATTRIBUTES);
    attributes.push(KeyValue::new("http.request.method", method));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.clone()));
    }
    let path = request.uri().path();
    // A path equal to a route template (`/`, `/api/items`, `/metrics`...)
    // borrows the static copy instead of allocating.
    attributes.push(KeyValue::new(
        "url.path",
        match routes::known(path) {
            Some(known) => Value::from(known),
            None => Value::from(bounded(path).to_owned()),
        },
    ));
    attributes.push(KeyValue::new("url.scheme", "http"));
    attributes.push(KeyValue::new(
        "network.protocol.version",
        protocol_version(request.version()),
    ));
    if let Some(agent) = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        attributes.push(KeyValue::new(
            "user_agent.original",
            bounded(agent).to_owned(),
        ));
    }
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// Attributes a server span can have: six from the request, two from the
/// response.
const SPAN_ATTRIBUTES: usize = 8;

/// Longest client-supplied text (path, user agent) copied into a span. A
/// span waits in the export queue (up to `--span-queue-size` of them) while
/// the collector is slow or away; without a cap, long URIs and headers
/// (hyper accepts hundreds of KiB) would make that queue's memory unbounded.
const MAX_ATTRIBUTE_BYTES: usize = 1024;

/// `text` cut to at most [`MAX_ATTRIBUTE_BYTES`], on a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MAX_ATTRIBUTE_BYTES {
        return text;
    }
    let mut end = MAX_ATTRIBUTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "unknown",
    }
}

pin_project! {
    /// Future of [`HttpTelemetry`].
    pub struct HttpTelemetryFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: &'static str,
        route: Option<Cow<'static, str>>,
        active: Option<ActiveGuard>,
        otel: Option<OtelContext>,
    }
}

impl<F, RB, E> Future for HttpTelemetryFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let method: &'static str = this.method;
        let result = match this.otel.as_ref() {
            Some(context) => {
                // Handler spans created during this poll find their parent here.
                let _attached = context.clone().attach();
                ready!(this.inner.poll(cx))
            }
            None => ready!(this.inner.poll(cx)),
        };
        let mut response = result?;
        let elapsed = this.start.elapsed();
        let status = response.status().as_u16();
        let route = this.route.as_ref();
        if let Some(guard) = this.active.as_mut() {
            guard.metrics.record(guard.method, route, status, elapsed);
            guard.answered = true;
        }
        let otel: Option<OtelContext> = this.otel.take();
        if let Some(context) = otel.as_ref() {
            finish_span(context, status);
        }
        // The field values are only computed when the access log is enabled.
        tracing::info!(
            target: "service::access",
            method,
            route = route.map(|r| r.as_ref()).unwrap_or(""),
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            trace_id = %otel
                .as_ref()
                .map(|context| context.span().span_context().trace_id().to_string())
                .unwrap_or_default(),
            "request finished"
        );
        if let Some(context) = otel.as_ref() {
            let span = context.span();
            let span_context = span.span_context();
            if span_context.is_valid()
                && let Ok(value) = HeaderValue::from_bytes(&traceparent_bytes(span_context))
            {
                response.headers_mut().insert(TRACEPARENT, value);
            }
        }
        drop(this.active.take());
        Poll::Ready(Ok(response))
    }
}

/// Adds the response attributes to the span and ends it.
fn finish_span(context: &OtelContext, status: u16) {
    let span = context.span();
    if span.is_recording() {
        // One at a time: a temporary vector would be one more allocation.
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            // Semconv: 4xx are the client's errors, not the server span's.
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
            span.set_status(Status::error(""));
        }
    }
    span.end();
}
