//! One log line per response, at `info` under the target `service::access`:
//! method, route template, status, duration in microseconds and, when the
//! request is traced, its trace id (the link from a log line to its trace).
//! The line is formatted on the request's thread and written by the log's
//! own writer thread ([`crate::telemetry`]): a request never waits for
//! stdout.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::semconv::MethodLabel;

/// Logs every request once it is answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        AccessLogFuture {
            start: Instant::now(),
            method: MethodLabel::of(request.method()),
            route: request.extensions().get::<MatchedPath>().cloned(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The future of [`AccessLog`].
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: MethodLabel,
        route: Option<MatchedPath>,
    }
}

impl<F, RB, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        tracing::info!(
            target: "service::access",
            method = this.method.as_str(),
            route = this.route.as_ref().map_or("", MatchedPath::as_str),
            status = response.status().as_u16(),
            duration_us = u64::try_from(this.start.elapsed().as_micros()).unwrap_or(u64::MAX),
            trace_id = current_trace_id().map(tracing::field::display),
            "request finished"
        );
        Poll::Ready(Ok(response))
    }
}

/// The trace id of the current OpenTelemetry context (the server span's,
/// when [`super::trace`] runs outside this layer), if there is one.
fn current_trace_id() -> Option<TraceId> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.trace_id())
    })
}
