//! One client connection: HTTP/1 served by hyper into the router, closed
//! when evicted or idle too long, drained when the server stops.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::header::{CONNECTION, HeaderValue};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::registry::ConnectionState;
use crate::rejection::{Observer, Rejection};

/// What every connection task shares.
pub struct Shared {
    pub builder: http1::Builder,
    pub router: Router,
    pub observer: Arc<dyn Observer>,
    pub settle: Duration,
    /// Set when the listener closes: every response from then on says
    /// `Connection: close`. (hyper's graceful shutdown adds that only to a
    /// response whose head is not written yet, and a client told nothing
    /// would send its next request into a closing connection.)
    pub closing: AtomicBool,
}

/// Counts a request as running while it is alive: from its complete head
/// until its response is written.
struct Running(Arc<ConnectionState>);

impl Running {
    fn enter(state: Arc<ConnectionState>) -> Self {
        state.running.fetch_add(1, Ordering::AcqRel);
        // Wakes a drain waiting for this connection's next request (no
        // permit is kept when nobody waits).
        state.started.notify_waiters();
        Self(state)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.mark_idle();
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    /// A response body that keeps its request [`Running`] until hyper has
    /// taken its last frame (or dropped it): the wait for the next request,
    /// which the idle sweep limits, starts only then.
    pub struct TrackedBody {
        #[pin]
        inner: Body,
        running: Option<Running>,
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.running.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `stream` until the client closes it, it is evicted, or the
/// server's drain ends it.
pub async fn run(
    stream: TcpStream,
    state: &Arc<ConnectionState>,
    shared: &Arc<Shared>,
    mut closing: watch::Receiver<bool>,
) {
    let service = {
        let state = Arc::clone(state);
        let shared = Arc::clone(shared);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let running = Running::enter(Arc::clone(&state));
            let shared = Arc::clone(&shared);
            async move {
                let response = shared.router.clone().oneshot(request.map(Body::new)).await;
                let Ok(mut response) = response;
                if shared.closing.load(Ordering::Acquire) {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response.map(|inner| TrackedBody {
                    inner,
                    running: Some(running),
                }))
            }
        })
    };
    let connection = shared
        .builder
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        // Dropping the connection closes the socket.
        () = state.evicted.notified() => return,
        () = state.expired.notified() => {
            tracing::debug!("no complete request head within the header timeout");
            shared.observer.rejected(Rejection::HeadTimeout);
            return;
        }
        _ = async { closing.wait_for(|closing| *closing).await.map(drop) } => {
            // Closing an idle keep-alive connection races with the client's
            // next request, which would get no answer. So the connection
            // ends after its next response (which says `Connection: close`),
            // or once it has been idle for `settle`.
            let started = state.started.notified();
            tokio::pin!(started);
            started.as_mut().enable();
            if state.running.load(Ordering::Acquire) == 0 {
                tokio::select! {
                    result = connection.as_mut() => {
                        report(shared, result);
                        return;
                    }
                    () = started => {}
                    () = tokio::time::sleep(shared.settle) => {}
                }
            }
            // Ends keep-alive: closes now if idle, else after the response.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    report(shared, result);
}

fn report(shared: &Shared, result: Result<(), hyper::Error>) {
    if let Err(error) = result
        && let Some(rejection) = Rejection::of(&error)
    {
        tracing::debug!(%error, rejection = rejection.as_str(), "request rejected");
        shared.observer.rejected(rejection);
    }
}
