//! Running the service: bind, serve, drain on a signal, flush, return.

use std::future::{Future, IntoFuture as _};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::app::{App, app};
use crate::config::ServeConfig;
use crate::metrics::MetricsError;
use crate::shutdown;
use crate::telemetry::{self, TelemetryError};

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
    /// Accepting connections failed.
    #[error("server error: {0}")]
    Io(#[from] io::Error),
}

/// Runs the service until SIGTERM/SIGINT, then shuts down gracefully (see
/// [`crate::shutdown`]). Logs `listening on ADDR` with the bound address,
/// which tells callers the port when `--listen` used port 0.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    let telemetry = telemetry::init(&config)?;
    let app = app(&config)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(telemetry = ?config.telemetry, "listening on {addr}");
    let metrics = app.state.clone();
    serve(listener, app, shutdown::signal(), config.shutdown_grace).await?;
    telemetry.shutdown(config.flush_timeout).await;
    metrics.metrics().shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// Serves `app` on `listener` until `signal` completes, then lets in-flight
/// requests finish for at most `grace`. Tests call this directly with their
/// own signal.
pub async fn serve(
    listener: TcpListener,
    app: App,
    signal: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let draining = Arc::new(Notify::new());
    let on_signal = draining.clone();
    let state = app.state.clone();
    let server = axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            signal.await;
            state.set_not_ready();
            tracing::info!(
                ?grace,
                "shutting down: no new connections, draining in-flight requests"
            );
            // notify_one keeps a permit if nobody waits yet: no lost wake-up.
            on_signal.notify_one();
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        () = async {
            draining.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "grace period over; dropping the requests still running");
            Ok(())
        }
    }
}
