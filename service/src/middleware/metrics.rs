//! Request metrics: a count and a duration sample per response, and the
//! in-flight gauge (see [`crate::metrics`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::metrics::Metrics;
use crate::semconv::MethodLabel;

/// Counts and times every response under its method, route template and
/// status.
#[derive(Debug, Clone)]
pub struct RecordMetricsLayer {
    metrics: Arc<Metrics>,
}

impl RecordMetricsLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RecordMetricsLayer {
    type Service = RecordMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordMetrics {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The service of [`RecordMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RecordMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> Service<Request<B>> for RecordMetrics<S>
where
    S: Service<Request<B>, Response = Response<RB>, Error = Infallible>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = RecordMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let in_flight = InFlight::start(Arc::clone(&self.metrics), &request);
        RecordMetricsFuture {
            inner: self.inner.call(request),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The future of [`RecordMetrics`].
    pub struct RecordMetricsFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, RB> Future for RecordMetricsFuture<F>
where
    F: Future<Output = Result<Response<RB>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(in_flight) = this.in_flight.take() {
            in_flight.answered(response.status());
        }
        Poll::Ready(Ok(response))
    }
}

/// One request in flight. Dropped unanswered when the client hangs up (the
/// server drops the request's future): it then still leaves the gauge, and
/// is counted with `error.type="client_closed"` and no status.
struct InFlight {
    metrics: Arc<Metrics>,
    start: Instant,
    method: MethodLabel,
    route: Option<MatchedPath>,
    answered: bool,
}

impl InFlight {
    fn start<B>(metrics: Arc<Metrics>, request: &Request<B>) -> Self {
        let method = MethodLabel::of(request.method());
        metrics.http.started(method);
        Self {
            metrics,
            start: Instant::now(),
            method,
            route: request.extensions().get::<MatchedPath>().cloned(),
            answered: false,
        }
    }

    fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    fn answered(mut self, status: axum::http::StatusCode) {
        self.metrics
            .http
            .record(self.method, self.route(), status, self.start.elapsed());
        self.answered = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.http.ended(self.method);
        if !self.answered {
            self.metrics
                .http
                .record_abandoned(self.method, self.route());
        }
    }
}
