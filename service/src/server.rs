//! Running the service: bind, serve with connection limits, drain on a
//! signal, flush, return.
//!
//! Connections are served by the workspace's `http-server` crate: header
//! and idle timeouts, a head size limit and a connection cap protect the
//! service from slow and idle clients. Requests hyper rejects before the
//! router sees them are counted in `http_server_requests_total` (with
//! `error.type`).
//!
//! Stopping, on SIGTERM or SIGINT:
//!
//! 1. `/readyz` turns 503, so load balancers stop sending new requests;
//! 2. for `--shutdown-lame-duck` the service keeps serving, telling every
//!    client `Connection: close`, so keep-alive connections end after a
//!    response rather than while a request is on its way;
//! 3. the listener closes; requests in progress get `--shutdown-grace` to
//!    finish; idle connections close;
//! 4. queued spans are flushed for at most `--flush-timeout` (also when
//!    the collector is down: the flush gives up, it never hangs);
//! 5. the process exits 0.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http_server::{Drain, Limits, Observer, Rejection, stop_signal};
use tokio::net::TcpListener;

use crate::app::{App, app};
use crate::config::ServeConfig;
use crate::metrics::MetricsError;
use crate::state::AppState;
use crate::telemetry::{self, TelemetryError};

/// Largest request head (request line and headers) the service reads.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Logging/tracing could not be installed.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The metrics pipeline could not be built.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another process using the port? choose another with --listen or SERVICE_LISTEN)"
    )]
    Bind {
        /// The address from `--listen`.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The listener's address could not be read.
    #[error("server error: {0}")]
    Io(#[from] io::Error),
}

/// Runs the service until SIGTERM/SIGINT, then shuts down gracefully (see
/// the module docs). Logs `listening on ADDR` with the bound address,
/// which tells callers the port when `--listen` used port 0.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    // The port first: a clash fails at once, before any pipeline starts.
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let telemetry = telemetry::init(&config)?;
    let app = app(&config, telemetry.telemetry())?;
    tracing::info!(telemetry = ?config.telemetry, "listening on {addr}");
    let state = app.state.clone();
    serve(listener, app, stop_signal(), &config).await;
    state.metrics().shutdown();
    telemetry.shutdown(config.flush_timeout).await;
    Ok(())
}

/// Serves `app` on `listener` with `config`'s limits until `signal`
/// completes, then drains. Tests call this directly with their own signal.
pub async fn serve(
    listener: TcpListener,
    app: App,
    signal: impl Future<Output = ()>,
    config: &ServeConfig,
) {
    let state = app.state.clone();
    let drain = Drain {
        lame_duck: config.shutdown_lame_duck,
        grace: config.shutdown_grace,
    };
    let stop = async move {
        signal.await;
        state.set_not_ready();
        tracing::info!(
            lame_duck = ?drain.lame_duck,
            grace = ?drain.grace,
            "shutting down: readiness fails, then the listener closes and requests in progress finish"
        );
    };
    let limits = Limits {
        header_timeout: config.header_timeout,
        max_head_bytes: MAX_HEAD_BYTES,
        max_connections: config.max_connections,
    };
    let observer = Arc::new(CountRejections(app.state.clone()));
    let stopped = http_server::serve(listener, app.router, limits, drain, stop, observer).await;
    if stopped.unfinished > 0 {
        tracing::warn!(
            grace = ?drain.grace,
            dropped = stopped.unfinished,
            "grace period over; dropping the requests still running"
        );
    }
}

/// Counts the requests the router never saw.
struct CountRejections(AppState);

impl Observer for CountRejections {
    fn rejected(&self, rejection: Rejection) {
        // A head that never completed may just be an idle keep-alive
        // connection timing out: not a request.
        if rejection != Rejection::HeadTimeout {
            self.0.metrics().http.record_rejection(rejection);
        }
    }
}
