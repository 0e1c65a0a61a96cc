//! Waiting for the operator's "stop": Ctrl-C (SIGINT), SIGTERM, or SIGHUP
//! (the terminal running `stack` was closed: nobody is left to press Ctrl-C,
//! so stop cleanly rather than leave the stack running unattended).

/// Resolves on the first SIGINT, SIGTERM or SIGHUP.
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
        () = wait(SignalKind::hangup()) => {},
    }
}
