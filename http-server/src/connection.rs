//! One client connection: HTTP/1 served by hyper into the router, closed
//! when evicted, drained when the server stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::header::{CONNECTION, HeaderValue};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
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
    /// Set when the server stops: responses say `Connection: close`.
    pub draining: AtomicBool,
    pub settle: Duration,
}

/// Counts a request as running while it is alive.
struct Running<'a>(&'a ConnectionState);

impl<'a> Running<'a> {
    fn enter(state: &'a ConnectionState) -> Self {
        state.running.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
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
            let state = Arc::clone(&state);
            let shared = Arc::clone(&shared);
            async move {
                let _running = Running::enter(&state);
                let response = shared.router.clone().oneshot(request.map(Body::new)).await;
                let Ok(mut response) = response;
                if shared.draining.load(Ordering::Relaxed) {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
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
        _ = async { closing.wait_for(|closing| *closing).await.map(drop) } => {
            if state.running.load(Ordering::Acquire) == 0 {
                // A request the client sent just before the listener closed
                // may still be on its way: give it a moment to arrive.
                tokio::select! {
                    result = connection.as_mut() => {
                        report(shared, result);
                        return;
                    }
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
