//! Waiting for the operator's "stop": Ctrl-C (SIGINT) or SIGTERM.

/// Resolves on the first SIGINT or SIGTERM.
pub async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    // If a handler cannot be installed we simply never see that signal.
    let wait = |kind| async move {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = wait(SignalKind::interrupt()) => {},
        () = wait(SignalKind::terminate()) => {},
    }
}
