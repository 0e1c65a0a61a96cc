//! The server span of each request, with W3C trace-context propagation.
//!
//! A valid incoming `traceparent` makes the span a child of the caller's;
//! an invalid one is ignored (the request starts a new trace). While the
//! request runs, the span's context is the current OpenTelemetry context,
//! so handler spans made with `tracing` (store access, CPU burn) become its
//! children through `tracing-opentelemetry`. The response names the span in
//! its own `traceparent`, so a client can look the trace up.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use axum::http::{Request, Response};
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::traceparent;
use crate::semconv::{self, MethodLabel, bounded};

/// Runs every request inside its server span.
#[derive(Debug, Clone)]
pub struct ServerSpanLayer {
    tracer: Arc<SdkTracer>,
}

impl ServerSpanLayer {
    /// Starts the spans with `tracer`.
    pub fn new(tracer: Arc<SdkTracer>) -> Self {
        Self { tracer }
    }
}

impl<S> Layer<S> for ServerSpanLayer {
    type Service = ServerSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerSpan {
            inner,
            tracer: Arc::clone(&self.tracer),
        }
    }
}

/// The service of [`ServerSpanLayer`].
#[derive(Debug, Clone)]
pub struct ServerSpan<S> {
    inner: S,
    tracer: Arc<SdkTracer>,
}

/// For axum's services, which always answer (`Infallible`): a failing
/// service would need its own `error.type` here.
impl<S, B, RB> Service<Request<B>> for ServerSpan<S>
where
    S: Service<Request<B>, Response = Response<RB>, Error = Infallible>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ServerSpanFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let parent = traceparent::extract(request.headers());
        let span = start_span(&self.tracer, &request, &parent);
        let cx = parent.with_span(span);
        ServerSpanFuture {
            inner: self.inner.call(request).with_context(cx.clone()),
            cx,
            answered: false,
        }
    }
}

pin_project! {
    /// The future of [`ServerSpan`]: the request, polled with the span's
    /// context current.
    pub struct ServerSpanFuture<F> {
        #[pin]
        inner: WithContext<F>,
        cx: Context,
        answered: bool,
    }

    impl<F> PinnedDrop for ServerSpanFuture<F> {
        /// Dropped unanswered: the client hung up, or the server cut the
        /// request (an upload evicted at the connection cap, a request
        /// still running when the shutdown's grace ran out); the span ends
        /// as the metrics count it, `client_closed`.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.answered {
                end_span_unanswered(this.cx);
            }
        }
    }
}

impl<F, RB> Future for ServerSpanFuture<F>
where
    F: Future<Output = Result<Response<RB>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(task));
        end_span(this.cx, response.status().as_u16());
        *this.answered = true;
        traceparent::inject(this.cx.span().span_context(), response.headers_mut());
        Poll::Ready(Ok(response))
    }
}

/// Starts the span with its final name and every request attribute
/// (semconv: samplers may read them).
fn start_span<B>(tracer: &SdkTracer, request: &Request<B>, parent: &Context) -> Span {
    let method = MethodLabel::of(request.method());
    let route = semconv::route(request);
    let mut attributes = Vec::with_capacity(8);
    attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.as_str()));
    if method == MethodLabel::Other {
        attributes.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD_ORIGINAL,
            bounded(request.method().as_str()).to_owned(),
        ));
    }
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

/// Ends the span of a request whose client left before the answer: no
/// status code, `error.type="client_closed"` (the metrics' value), and an
/// error status, as semconv asks for a failure other than the status code.
fn end_span_unanswered(cx: &Context) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, semconv::CLIENT_CLOSED));
    span.set_status(Status::error(
        "the client closed the connection before the answer",
    ));
    span.end();
}
