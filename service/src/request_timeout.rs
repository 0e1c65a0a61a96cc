//! The request timeout: a request that takes longer than
//! `--request-timeout` (a body trickling in, a stuck handler) is answered
//! 408.
//!
//! tower-http's `TimeoutLayer` does the same, but arms its timer before it
//! first polls the request, so every request registers a timer with the
//! runtime and removes it again, though most are answered in that first
//! poll. Here the timer is armed only when the request is still pending
//! after its first poll (the deadline then counts from that poll, a few
//! microseconds later than tower-http's). The test at the bottom checks
//! that both answer a quick, a slow and a stuck handler alike, at the same
//! (paused) time; `tests/hardening.rs` that a body trickling in gets 408,
//! counted under its route.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Answers 408 to a request not answered within `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    /// Requests get `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`RequestTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B, RB> Service<Request<B>> for RequestTimeout<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = RequestTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        RequestTimeoutFuture {
            inner: self.inner.call(request),
            sleep: None,
            timeout: self.timeout,
        }
    }
}

pin_project! {
    /// The future of [`RequestTimeout`].
    pub struct RequestTimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        timeout: Duration,
    }
}

impl<F, RB, E> Future for RequestTimeoutFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            return Poll::Ready(response);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                let mut response = Response::new(RB::default());
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                Poll::Ready(Ok(response))
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tokio::time::Instant;
    use tower::ServiceExt as _;
    use tower_http::timeout::TimeoutLayer;

    use super::RequestTimeoutLayer;

    const LIMIT: Duration = Duration::from_secs(30);

    fn routes() -> Router {
        Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(LIMIT / 2).await;
                    "slow"
                }),
            )
            .route("/stuck", get(std::future::pending::<&'static str>))
    }

    /// Status, body and (paused) time taken for `path`.
    async fn answer(router: Router, path: &str) -> (StatusCode, Vec<u8>, Duration) {
        let start = Instant::now();
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, body.to_vec(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_answered_as_tower_http_answers_them() {
        for path in ["/fast", "/slow", "/stuck"] {
            let kept = answer(routes().layer(RequestTimeoutLayer::new(LIMIT)), path).await;
            let plain = answer(
                routes().layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    LIMIT,
                )),
                path,
            )
            .await;
            assert_eq!(kept, plain, "{path}");
        }
        let (status, _, waited) =
            answer(routes().layer(RequestTimeoutLayer::new(LIMIT)), "/stuck").await;
        assert_eq!((status, waited), (StatusCode::REQUEST_TIMEOUT, LIMIT));
    }
}
