//! The tower middleware that measures and traces every request.
//!
//! Two layers cooperate:
//!
//! * [`RouteTagLayer`] is installed with `Router::route_layer`, so it only
//!   runs for requests a route matched. It copies the route *template*
//!   (`/api/items/{id}`, never the raw path) from axum's `MatchedPath` into
//!   the response extensions.
//! * [`HttpTelemetryLayer`] wraps the whole router, so it also sees 404s,
//!   405s, 413s and panics turned into 500s. When the response is ready it
//!   reads the route tag (absent for unmatched paths), records the metrics
//!   once, finishes the server span and adds the `traceparent` header.
//!
//! Both futures are hand-written (no boxing, no extra task): this code runs
//! on every request and the benchmark holds it to a few percent of overhead.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Response};
use opentelemetry::Context as OtelContext;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::metrics::{HttpMetrics, METHOD_LABELS, method_index};
use crate::propagation::{HeaderExtractor, traceparent_value};
use crate::routes;

/// The matched route template, carried from [`RouteTagLayer`] to
/// [`HttpTelemetryLayer`] in the response extensions.
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub Cow<'static, str>);

/// Layer for `Router::route_layer`: tags responses with their route.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteTagLayer;

impl<S> Layer<S> for RouteTagLayer {
    type Service = RouteTag<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteTag { inner }
    }
}

/// Service produced by [`RouteTagLayer`].
#[derive(Debug, Clone)]
pub struct RouteTag<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for RouteTag<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = RouteTagFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| routes::intern(matched.as_str()));
        RouteTagFuture {
            inner: self.inner.call(request),
            route,
        }
    }
}

pin_project! {
    /// Future of [`RouteTag`].
    pub struct RouteTagFuture<F> {
        #[pin]
        inner: F,
        route: Option<Cow<'static, str>>,
    }
}

impl<F, RB, E> Future for RouteTagFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(MatchedRoute(route));
        }
        Poll::Ready(Ok(response))
    }
}

/// Layer that records metrics and (optionally) a server span per request.
#[derive(Debug, Clone)]
pub struct HttpTelemetryLayer {
    metrics: Option<Arc<HttpMetrics>>,
    traces: bool,
}

impl HttpTelemetryLayer {
    /// `metrics`: where to count; `traces`: whether to open server spans.
    pub fn new(metrics: Option<Arc<HttpMetrics>>, traces: bool) -> Self {
        Self { metrics, traces }
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTelemetry {
            inner,
            metrics: self.metrics.clone(),
            traces: self.traces,
        }
    }
}

/// Service produced by [`HttpTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct HttpTelemetry<S> {
    inner: S,
    metrics: Option<Arc<HttpMetrics>>,
    traces: bool,
}

/// Decrements the in-flight gauge when dropped, so a request whose client
/// disconnected mid-way (its future is dropped, no response is ever counted)
/// does not leave the gauge too high.
struct ActiveGuard {
    metrics: Arc<HttpMetrics>,
    method: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.metrics.active(self.method, -1);
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
        let active = self.metrics.as_ref().map(|metrics| {
            metrics.active(method_index, 1);
            ActiveGuard {
                metrics: metrics.clone(),
                method: method_index,
            }
        });
        let (span, otel) = if self.traces {
            server_span(&request, method)
        } else {
            (Span::none(), None)
        };
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        HttpTelemetryFuture {
            inner,
            start,
            method,
            active,
            span,
            otel,
        }
    }
}

/// Opens the server span, joined to the caller's trace when the request
/// carries a valid `traceparent` (an invalid one is ignored by the
/// propagator: the span starts a new trace).
fn server_span<B>(request: &Request<B>, method: &'static str) -> (Span, Option<OtelContext>) {
    // `None` records nothing: no empty attribute for clients without one.
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    // The name is refined to "{METHOD} {route}" once the router has matched;
    // semconv names an unknown method's span plain "HTTP".
    let name = if method == "_OTHER" { "HTTP" } else { method };
    let span = tracing::info_span!(
        target: "service::http",
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = Empty,
        http.response.status_code = Empty,
        "error.type" = Empty,
        url.path = request.uri().path(),
        url.scheme = "http",
        network.protocol.version = protocol_version(request.version()),
        user_agent.original = user_agent,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    // Fails only when no OpenTelemetry layer is installed: then there is no
    // trace to join anyway.
    let _ = span.set_parent(parent);
    // Starts the OpenTelemetry span now (sampling happens here), so the
    // trace id is known for the access log and the response header. (It is
    // not recorded as a span field: every field would also be exported as a
    // span attribute, and the trace id is already the span's own.)
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return (span, None);
    }
    (span, Some(context))
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
        active: Option<ActiveGuard>,
        span: Span,
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
        let result = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))
        };
        let mut response = result?;
        let elapsed = this.start.elapsed();
        let status = response.status().as_u16();
        let route = response.extensions().get::<MatchedRoute>().map(|m| &m.0);
        if let Some(guard) = this.active.as_ref() {
            guard.metrics.record(method, route, status, elapsed);
        }
        if !this.span.is_disabled() {
            if let Some(route) = route {
                this.span.record("http.route", route.as_ref());
                // The OpenTelemetry span is already started (see
                // `server_span`), so rename it directly: tracing-opentelemetry
                // only applies `otel.name` to spans not started yet.
                if let Some(otel) = this.otel.as_ref() {
                    let name = if method == "_OTHER" { "HTTP" } else { method };
                    otel.span().update_name(format!("{name} {route}"));
                }
            }
            this.span.record("http.response.status_code", status);
            if status >= 500 {
                this.span.record("error.type", status);
                this.span.record("otel.status_code", "ERROR");
            }
        }
        // The field values are only computed when the access log is enabled.
        let otel: &Option<OtelContext> = this.otel;
        let span: &mut Span = this.span;
        tracing::info!(
            target: "service::access",
            parent: &*span,
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
        if let Some(context) = otel.as_ref()
            && let Ok(value) =
                HeaderValue::from_str(&traceparent_value(context.span().span_context()))
        {
            response.headers_mut().insert("traceparent", value);
        }
        // Close the span now rather than when the connection task drops this
        // future, so the span's end time is the response time.
        *span = Span::none();
        drop(this.active.take());
        Poll::Ready(Ok(response))
    }
}
