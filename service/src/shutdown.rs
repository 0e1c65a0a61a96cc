//! Graceful shutdown: wait for SIGTERM or SIGINT, then drain.
//!
//! The sequence, driven by [`crate::server::run`]:
//!
//! 1. the signal arrives: `/readyz` turns 503 and the listener closes;
//! 2. in-flight requests run to completion, for at most `--shutdown-grace`;
//!    idle keep-alive connections are closed;
//! 3. queued spans are flushed for at most `--flush-timeout` (also when the
//!    collector is down: the flush gives up, it never hangs);
//! 4. the process exits 0.

/// Completes when SIGTERM or SIGINT (Ctrl-C) arrives.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                tracing::warn!("cannot install SIGTERM handler; only Ctrl-C stops the service");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    }
}
