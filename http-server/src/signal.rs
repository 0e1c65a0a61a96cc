//! The stop signal of a server process, and of a command run from a
//! terminal.

use std::future::poll_fn;
use std::task::Poll;

use tokio::signal::unix::{SignalKind, signal};

/// Completes on the first SIGTERM (`docker stop`, `kill`, Kubernetes) or
/// SIGINT (Ctrl-C), logging which.
pub async fn stop_signal() {
    first_of(&[
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
    ])
    .await;
}

/// Like [`stop_signal`], and also completes on SIGHUP: the terminal
/// running the command was closed, nobody is left to press Ctrl-C, so the
/// command stops cleanly rather than run on unattended.
pub async fn stop_or_hangup_signal() {
    first_of(&[
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::hangup(), "SIGHUP"),
    ])
    .await;
}

/// Completes on the first of `kinds` to arrive, logging its name. A
/// handler that cannot be installed is logged and left out; with none
/// installed, Ctrl-C alone stops the process.
async fn first_of(kinds: &[(SignalKind, &'static str)]) {
    let mut handlers = Vec::with_capacity(kinds.len());
    for &(kind, name) in kinds {
        match signal(kind) {
            Ok(handler) => handlers.push((handler, name)),
            Err(error) => tracing::warn!(%error, "cannot install the {name} handler"),
        }
    }
    if handlers.is_empty() {
        tracing::warn!("no signal handler installed; only Ctrl-C stops the process");
        let _ = tokio::signal::ctrl_c().await;
        return;
    }
    let received = poll_fn(|cx| {
        for (handler, name) in &mut handlers {
            if handler.poll_recv(cx).is_ready() {
                return Poll::Ready(*name);
            }
        }
        Poll::Pending
    })
    .await;
    tracing::info!("{received} received");
}
