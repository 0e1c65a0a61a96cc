//! Serving an axum [`Router`] with the limits a service open to any client
//! needs, which `axum::serve` leaves unset (it starts no timer at all):
//!
//! - **Header timeout.** A request's head (request line and headers) must
//!   arrive within [`Limits::header_timeout`] of the connection becoming
//!   idle (accepted, or the last bytes of its last response sent), so the
//!   same limit closes keep-alive connections left idle, and those whose
//!   client stops reading its response: slow-header ("slowloris"), idle and
//!   stalled connections cannot pile up. A sweep of the open connections
//!   every eighth of the limit (at most every 5 ms) closes them, so one
//!   goes about 1 to 1.125 limits after it became idle. (hyper's own
//!   `header_read_timeout` is exact, but arms a timer for every request:
//!   docs/performance.md has what that cost.)
//! - **Head size.** A head larger than [`Limits::max_head_bytes`] (a long
//!   URI included) gets 431 from hyper, and no more than that is buffered.
//! - **Connection cap.** At most [`Limits::max_connections`] connections are
//!   open, never more than the file-descriptor limit allows. At the cap a
//!   new connection replaces the oldest one idle for longer than the
//!   patience (an eighth of the header timeout), else the one whose request
//!   has been receiving its body longest (for longer than the patience since
//!   the handler first lacked bytes), else the oldest idle one, so a flood
//!   of silent connections, stalled uploads or uploads sent a byte at a time
//!   cannot lock real clients out (`registry.rs` says why in this order).
//!   When requests really running fill the cap, a new connection is closed.
//!   What the cap closes and refuses is logged at most every 10 s
//!   (`cap_report.rs`).
//!   Body bytes are gathered out of hyper's read buffer (`body.rs`), so a
//!   body costs about its size however the client splits it.
//! - **Lame-duck drain.** When the stop future completes (the caller makes
//!   readiness fail first), the server goes on serving, new connections
//!   included, for [`Drain::lame_duck`], while load balancers notice. Then
//!   it closes the listener; each keep-alive connection ends after its next
//!   response, which says `Connection: close`, or after a short idle spell,
//!   never while a request the client sent is unanswered; requests in
//!   progress get [`Drain::grace`] to finish.
//!
//! Requests that hyper answers or drops before the router sees them (a bad
//! or too large head, a head that never completes, a client gone in the
//! middle of a request) are reported to an [`Observer`], so the caller can
//! count them.
//!
//! Both servers' processes also share their stop signal ([`stop_signal`])
//! and the probe of their `healthcheck` subcommands ([`healthcheck`]).

mod body;
mod cap_report;
mod connection;
pub mod healthcheck;
mod memory;
mod registry;
mod rejection;
mod signal;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use registry::{Admission, Registry};
pub use rejection::{Observer, Rejection};
pub use signal::{stop_or_hangup_signal, stop_signal};

/// How much each connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for a request's head to arrive; also how long a keep-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Largest request head, in bytes (at least 8 KiB, hyper's minimum).
    pub max_head_bytes: usize,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// How the server stops.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Serving on after the stop, new connections included.
    pub lame_duck: Duration,
    /// Then, with the listener closed, time for requests in progress.
    pub grace: Duration,
}

/// How the stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Requests still running when the grace period ended (dropped).
    pub unfinished: usize,
}

/// File descriptors kept for everything but client connections: log
/// files, the listener, the span exporter's connection, ...
const RESERVED_FDS: u64 = 64;

/// Once the listener is closed, a connection with no request running is
/// closed after this long without one: a client that sent a request just
/// before gets its answer (with `Connection: close`) instead.
const SETTLE: Duration = Duration::from_millis(100);

/// How often the accept loop looks again when every connection is busy.
const FULL_RETRY: Duration = Duration::from_millis(20);

/// How often idle connections are looked for: an eighth of the header
/// timeout, but not more often than every 5 ms.
fn sweep_every(header_timeout: Duration) -> Duration {
    (header_timeout / 8).max(Duration::from_millis(5))
}

/// A place for a connection just accepted. The place the accept loop saw
/// may be gone by now (every connection became busy), and one may come
/// soon (an upload found slow once it has waited `patience`): the
/// connection waits that long, not in the registry, before it is closed.
async fn admit_soon(registry: &Registry, patience: Duration) -> Option<Admission> {
    let deadline = tokio::time::Instant::now() + patience + FULL_RETRY;
    loop {
        if let Some(admission) = registry.admit() {
            return Some(admission);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(FULL_RETRY).await;
    }
}

/// The connection cap that fits the open-file limit.
pub fn effective_max_connections(wanted: usize) -> usize {
    let mut limit = libc_rlimit_nofile().unwrap_or(u64::MAX);
    limit = limit.saturating_sub(RESERVED_FDS).max(1);
    wanted
        .min(usize::try_from(limit).unwrap_or(usize::MAX))
        .max(1)
}

fn libc_rlimit_nofile() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Serves `router` on `listener` until `stop` completes, then drains (see
/// the crate docs). Returns once every connection is closed or the grace
/// period is over.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    drain: Drain,
    stop: impl Future<Output = ()>,
    observer: Arc<dyn Observer>,
) -> Stopped {
    let max_connections = effective_max_connections(limits.max_connections);
    if max_connections < limits.max_connections {
        tracing::warn!(
            wanted = limits.max_connections,
            allowed = max_connections,
            "the open-file limit (ulimit -n) caps the connections"
        );
    }
    // A request body still coming a sweep interval after the handler first
    // lacked bytes is slow.
    let patience = sweep_every(limits.header_timeout);
    let registry = Arc::new(Registry::new(max_connections, patience));
    let mut builder = http1::Builder::new();
    builder.max_buf_size(limits.max_head_bytes.max(8192));
    let shared = Arc::new(connection::Shared {
        builder,
        router,
        observer,
        header_timeout: limits.header_timeout,
        settle: SETTLE,
        closing: AtomicBool::new(false),
    });
    let (closing, closing_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let reclaim = Arc::new(memory::Reclaim::default());
    let mut reclaim_check = tokio::time::interval(memory::CHECK_EVERY);
    let mut idle_sweep = tokio::time::interval(sweep_every(limits.header_timeout));
    idle_sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut cap_report = cap_report::CapReport::default();

    tokio::pin!(stop);
    let mut lame_duck = std::pin::pin!(tokio::time::sleep(Duration::MAX));
    let mut stopping = false;
    loop {
        let can_admit = registry.can_admit();
        tokio::select! {
            () = &mut stop, if !stopping => {
                stopping = true;
                lame_duck.as_mut().reset(tokio::time::Instant::now() + drain.lame_duck);
            }
            () = &mut lame_duck => break,
            accepted = listener.accept(), if can_admit => match accepted {
                Ok((stream, _)) => {
                    // Admitted here, so the next turn of the loop sees the
                    // place taken; only a connection that found none waits
                    // in its task.
                    let admitted = registry.admit();
                    let shared = Arc::clone(&shared);
                    let registry = Arc::clone(&registry);
                    let closing = closing_rx.clone();
                    let reclaim = Arc::clone(&reclaim);
                    tasks.spawn(async move {
                        let admitted = match admitted {
                            Some(admission) => Some(admission),
                            None => admit_soon(&registry, patience).await,
                        };
                        let Some(Admission { id, state }) = admitted else {
                            registry.refused();
                            return;
                        };
                        // Also when the connection's task panics (a handler
                        // without a panic layer): its place is given back.
                        let _leave = Leave(|| {
                            registry.remove(id);
                            reclaim.connection_closed();
                        });
                        connection::run(stream, &state, &shared, closing).await;
                    });
                }
                Err(error) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = tokio::time::sleep(FULL_RETRY), if !can_admit => {}
            Some(joined) = tasks.join_next() => {
                if let Err(error) = joined
                    && error.is_panic()
                {
                    tracing::error!("a connection's task panicked; the connection is closed");
                }
            }
            _ = reclaim_check.tick() => reclaim.check(),
            _ = idle_sweep.tick() => {
                registry.expire_idle(limits.header_timeout);
                cap_report.tick(&registry, tokio::time::Instant::now());
            }
        }
    }
    drop(listener);
    shared.closing.store(true, Ordering::Release);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(drain.grace, async {
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    None => break,
                    Some(Err(error)) if error.is_panic() => {
                        tracing::error!("a connection's task panicked; the connection is closed");
                    }
                    Some(_) => {}
                },
                // A head still trickling in is cut off as before the stop.
                _ = idle_sweep.tick() => {
                    registry.expire_idle(limits.header_timeout);
                }
            }
        }
    })
    .await;
    let unfinished = if drained.is_ok() {
        0
    } else {
        registry.requests_running()
    };
    tasks.abort_all();
    Stopped { unfinished }
}

/// Runs its closure when dropped, however the scope ends.
struct Leave<F: FnMut()>(F);

impl<F: FnMut()> Drop for Leave<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}
