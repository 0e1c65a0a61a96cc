//! One client connection: HTTP/1 served by hyper into the router, closed
//! when evicted or idle too long, drained when the server stops.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use http::header::{CONNECTION, HeaderValue};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::body::WatchedBody;
use crate::registry::ConnectionState;
use crate::rejection::{Observer, Rejection};

/// What every connection task shares.
pub struct Shared {
    pub builder: http1::Builder,
    pub router: Router,
    pub observer: Arc<dyn Observer>,
    /// How long a connection may wait for a request head (see the sweep in
    /// the crate docs).
    pub header_timeout: Duration,
    pub settle: Duration,
    /// Set when the listener closes: every response from then on says
    /// `Connection: close`. (hyper's graceful shutdown adds that only to a
    /// response whose head is not written yet, and a client told nothing
    /// would send its next request into a closing connection.)
    pub closing: AtomicBool,
}

/// Counts a request as running while the router works on it.
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
    /// The client's socket, noting every write that makes progress: the
    /// wait for the next request head counts from the last response bytes
    /// sent, so a slow reader is not cut off while its response moves, and
    /// one that stops reading is closed like an idle connection.
    pub struct WatchedStream {
        #[pin]
        stream: TcpStream,
        state: Arc<ConnectionState>,
    }
}

impl WatchedStream {
    fn note(state: &ConnectionState, written: &io::Result<usize>) {
        if matches!(written, Ok(bytes) if *bytes > 0) {
            state.mark_idle();
        }
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().stream.poll_read(cx, buf)
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = ready!(this.stream.poll_write(cx, buf));
        Self::note(this.state, &written);
        Poll::Ready(written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = ready!(this.stream.poll_write_vectored(cx, bufs));
        Self::note(this.state, &written);
        Poll::Ready(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }
}

/// Resolves once the sweep has found the connection idle too long and it
/// still is. The callers poll the connection first, so a head that arrived
/// in time has been parsed and its request counts as running by then.
async fn expiry(state: &ConnectionState, limit: Duration) {
    loop {
        state.expired.notified().await;
        if state.idle_longer_than(limit) {
            return;
        }
    }
}

/// Resolves when the connection is to be dropped at once, with the request
/// it may be running: evicted at the cap, or its client left mid-body.
async fn dropped(state: &ConnectionState) {
    tokio::select! {
        () = state.evicted.notified() => {}
        () = state.client_left.notified() => {}
    }
}

fn report_expiry(shared: &Shared) {
    tracing::debug!("no request head within the header timeout");
    shared.observer.rejected(Rejection::HeadTimeout);
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
            let state = Arc::clone(&state);
            let shared = Arc::clone(&shared);
            async move {
                // On the first poll: hyper does not poll a pipelined
                // request's future before the previous response is out.
                let request = request.map(|body| WatchedBody::wrap(body, &state));
                let _running = Running::enter(state);
                let response = shared.router.clone().oneshot(request).await;
                let Ok(mut response) = response;
                if shared.closing.load(Ordering::Acquire) {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        })
    };
    let stream = WatchedStream {
        stream,
        state: Arc::clone(state),
    };
    let connection = shared
        .builder
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let limit = shared.header_timeout;
    let result = tokio::select! {
        biased;
        result = connection.as_mut() => result,
        // Dropping the connection closes the socket.
        () = dropped(state) => return,
        () = expiry(state, limit) => return report_expiry(shared),
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
                    biased;
                    result = connection.as_mut() => {
                        report(shared, result);
                        return;
                    }
                    () = dropped(state) => return,
                    () = started => {}
                    () = tokio::time::sleep(shared.settle) => {}
                }
            }
            // Ends keep-alive: closes now if idle, else after the response;
            // a head still trickling in is cut off by the sweep as before.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                biased;
                result = connection.as_mut() => result,
                () = dropped(state) => return,
                () = expiry(state, limit) => return report_expiry(shared),
            }
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
