//! The open connections, oldest first, and which of them have a request
//! running: what the cap evicts, the idle sweep closes and the drain waits
//! for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What the server knows about one connection while it is open.
#[derive(Debug)]
pub struct ConnectionState {
    /// Requests the router is working on (more than one only for a
    /// pipelining client).
    pub running: AtomicUsize,
    /// Fired when the connection is evicted to make room for a new one.
    pub evicted: Notify,
    /// Fired when the sweep finds the connection idle too long.
    pub expired: Notify,
    /// Fired (to current waiters only) whenever a request starts.
    pub started: Notify,
    /// Fired when the client closes its connection in the middle of a
    /// request body: the request is dropped, as when a client leaves while
    /// its handler runs, rather than answered with an error nobody reads.
    pub client_left: Notify,
    /// Since when (milliseconds since `opened`) a request's handler has
    /// been receiving a body it had to wait for: from the first poll that
    /// found no bytes to the body's end. [`NOT_AWAITING`] when it is not.
    awaiting_body_since_ms: AtomicU64,
    /// When the connection was accepted.
    opened: Instant,
    /// When it was last busy (accepted, a request ended, response bytes
    /// sent), in milliseconds since `opened`.
    idle_since_ms: AtomicU64,
}

impl ConnectionState {
    fn new() -> Self {
        Self {
            running: AtomicUsize::new(0),
            evicted: Notify::new(),
            expired: Notify::new(),
            started: Notify::new(),
            client_left: Notify::new(),
            awaiting_body_since_ms: AtomicU64::new(NOT_AWAITING),
            opened: Instant::now(),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn is_idle(&self) -> bool {
        self.running.load(Ordering::Acquire) == 0
    }

    /// Milliseconds since the connection was accepted: the clock of
    /// `idle_since_ms` and `awaiting_body_since_ms`.
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Since when its request has been receiving a body it had to wait
    /// for, if for longer than `patience`: to the cap, such a connection is
    /// as good as idle (else a flood of stalled uploads, or of uploads that
    /// trickle in a byte at a time, would hold every place until the
    /// request timeout). The handler's first read of a body always waits
    /// (hyper reads it on demand), so this counts from the start of the
    /// body: at the cap, an upload slower than `patience` loses its place.
    fn slow_body_since(&self, patience: Duration) -> Option<Instant> {
        let since = self.awaiting_body_since_ms.load(Ordering::Relaxed);
        let patience = u64::try_from(patience.as_millis()).unwrap_or(u64::MAX);
        let slow = since != NOT_AWAITING
            && !self.is_idle()
            && self.elapsed_ms().saturating_sub(since) > patience;
        slow.then(|| self.opened + Duration::from_millis(since))
    }

    /// The handler found no body bytes to read: its wait starts now, unless
    /// it started earlier in this body.
    pub fn body_awaited(&self) {
        let _ = self.awaiting_body_since_ms.compare_exchange(
            NOT_AWAITING,
            self.elapsed_ms().min(NOT_AWAITING - 1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The body ended (read whole, failed, or dropped).
    pub fn body_done(&self) {
        self.awaiting_body_since_ms
            .store(NOT_AWAITING, Ordering::Relaxed);
    }

    /// The connection was busy until now: the wait for the next request
    /// head starts over.
    pub fn mark_idle(&self) {
        self.idle_since_ms
            .store(self.elapsed_ms(), Ordering::Release);
    }

    /// Whether no request has been running for longer than `limit`.
    pub fn idle_longer_than(&self, limit: Duration) -> bool {
        // `running` first: a request that just ended marked the time before
        // it stopped counting.
        self.is_idle() && {
            let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            self.opened.elapsed().saturating_sub(since) > limit
        }
    }
}

/// A place for a newly accepted connection.
pub struct Admission {
    pub id: u64,
    pub state: Arc<ConnectionState>,
}

/// `awaiting_body_since_ms` when no handler waits for body bytes.
const NOT_AWAITING: u64 = u64::MAX;

#[derive(Debug)]
pub struct Registry {
    max: usize,
    /// What the cap did since [`Registry::take_cap_counts`] last looked.
    cap: CapCounts,
    /// How long a request may wait for body bytes before, at the cap, its
    /// connection may make room for a new one.
    patience: Duration,
    inner: Mutex<Inner>,
}

/// Connections the cap closed or refused.
#[derive(Debug, Default)]
struct CapCounts {
    /// Slow uploads closed to make room: their requests were dropped.
    uploads_cut: AtomicU64,
    /// Connections with no request running closed to make room.
    idle_closed: AtomicU64,
    /// New connections closed unserved: every place was busy.
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// By id, which grows with each connection: the first is the oldest.
    open: BTreeMap<u64, Arc<ConnectionState>>,
}

impl Registry {
    pub fn new(max: usize, patience: Duration) -> Self {
        Self {
            max: max.max(1),
            cap: CapCounts::default(),
            patience,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the map consistent, so a panic elsewhere while
        // it was held changes nothing.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether [`Registry::admit`] would find a place now.
    pub fn can_admit(&self) -> bool {
        let inner = self.lock();
        inner.open.len() < self.max
            || inner
                .open
                .values()
                .any(|c| c.is_idle() || c.slow_body_since(self.patience).is_some())
    }

    /// A place for a new connection: a free one, or the place of one of
    /// these, told to close, in this order: the oldest connection idle for
    /// longer than the patience; the one whose request has been receiving
    /// its body longest (for longer than the patience); the oldest idle
    /// one. `None` when every connection is busy.
    ///
    /// A connection just accepted, or that just sent a response, has no
    /// request running until the next head is parsed: kept while it is
    /// that recent, a stream of new connections cannot close a real
    /// client's before its request arrives, and connections left idle still
    /// go before uploads in progress.
    pub fn admit(&self) -> Option<Admission> {
        let mut inner = self.lock();
        if inner.open.len() >= self.max {
            let long_idle = inner
                .open
                .iter()
                .find(|(_, c)| c.idle_longer_than(self.patience))
                .map(|(id, _)| (*id, &self.cap.idle_closed));
            let slowest_body = || {
                inner
                    .open
                    .iter()
                    .filter_map(|(id, c)| Some((c.slow_body_since(self.patience)?, *id)))
                    .min()
                    .map(|(_, id)| (id, &self.cap.uploads_cut))
            };
            let oldest_idle = || {
                inner
                    .open
                    .iter()
                    .find(|(_, c)| c.is_idle())
                    .map(|(id, _)| (*id, &self.cap.idle_closed))
            };
            let (evict, count) = long_idle.or_else(slowest_body).or_else(oldest_idle)?;
            count.fetch_add(1, Ordering::Relaxed);
            if let Some(evicted) = inner.open.remove(&evict) {
                // notify_one keeps the wake-up if the task is not waiting yet.
                evicted.evicted.notify_one();
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let state = Arc::new(ConnectionState::new());
        inner.open.insert(id, Arc::clone(&state));
        Some(Admission { id, state })
    }

    /// A new connection found no place and is closed unserved.
    pub fn refused(&self) {
        self.cap.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The cap: most connections open at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// `(uploads cut, idle closed, refused)` since the last call.
    pub fn take_cap_counts(&self) -> (u64, u64, u64) {
        let take = |count: &AtomicU64| count.swap(0, Ordering::Relaxed);
        (
            take(&self.cap.uploads_cut),
            take(&self.cap.idle_closed),
            take(&self.cap.refused),
        )
    }

    /// The connection closed (or was evicted).
    pub fn remove(&self, id: u64) {
        self.lock().open.remove(&id);
    }

    /// Tells every connection that has had no request running for longer
    /// than `limit` to close; returns how many were told. Each stays
    /// registered: its task looks again before it closes (a request may
    /// have started meanwhile) and leaves the registry on its way out.
    pub fn expire_idle(&self, limit: Duration) -> usize {
        let inner = self.lock();
        let mut told = 0;
        for connection in inner.open.values() {
            if connection.idle_longer_than(limit) {
                // notify_one keeps the wake-up if the task is not waiting yet.
                connection.expired.notify_one();
                told += 1;
            }
        }
        told
    }

    /// Requests running on all open connections.
    pub fn requests_running(&self) -> usize {
        self.lock()
            .open
            .values()
            .map(|c| c.running.load(Ordering::Acquire))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let registry = Registry::new(2, Duration::ZERO);
        let first = registry.admit().expect("room");
        let second = registry.admit().expect("room");
        first.state.running.store(1, Ordering::Release);
        assert!(registry.can_admit(), "the second is idle");
        let third = registry.admit().expect("the idle one is evicted");
        assert!(third.id > second.id);
        assert_eq!(
            registry.lock().open.keys().copied().collect::<Vec<_>>(),
            [first.id, third.id]
        );
        // The evicted connection's task sees the notification even though it
        // was not waiting yet.
        let woken = second.state.evicted.notified();
        tokio::pin!(woken);
        assert!(futures_ready(woken.as_mut()));
    }

    #[test]
    fn a_body_awaited_for_less_than_the_patience_keeps_its_place() {
        let registry = Registry::new(1, Duration::from_secs(3600));
        let uploading = registry.admit().expect("room");
        uploading.state.running.store(1, Ordering::Release);
        uploading.state.body_awaited();
        assert!(!registry.can_admit());
        assert!(registry.admit().is_none());
    }

    #[test]
    fn a_body_is_slow_from_its_first_wait_to_its_end() {
        let registry = Registry::new(1, Duration::from_millis(20));
        let uploading = registry.admit().expect("room");
        uploading.state.running.store(1, Ordering::Release);
        uploading.state.body_awaited();
        let first_wait = uploading
            .state
            .awaiting_body_since_ms
            .load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
        // Bytes came and the handler waits again: the body is as slow as before.
        uploading.state.body_awaited();
        assert_eq!(
            uploading
                .state
                .awaiting_body_since_ms
                .load(Ordering::Relaxed),
            first_wait
        );
        assert!(registry.can_admit(), "slow for longer than the patience");
        uploading.state.body_done();
        assert!(
            !registry.can_admit(),
            "read whole, the request is just busy"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_long_idle_goes_first_then_a_slow_upload_then_recent_idle() {
        const PATIENCE: Duration = Duration::from_secs(1);
        let registry = Registry::new(4, PATIENCE);
        let ids = |registry: &Registry| registry.lock().open.keys().copied().collect::<Vec<_>>();
        let long_idle = registry.admit().expect("room");
        let stalled = registry.admit().expect("room");
        stalled.state.running.store(1, Ordering::Release);
        stalled.state.body_awaited();
        let busy = registry.admit().expect("room");
        busy.state.running.store(1, Ordering::Release);
        tokio::time::advance(PATIENCE * 2).await;
        let recent = registry.admit().expect("room");

        let fifth = registry.admit().expect("the long idle one is evicted");
        assert_eq!(ids(&registry), [stalled.id, busy.id, recent.id, fifth.id]);
        let sixth = registry.admit().expect("then the stalled upload");
        assert_eq!(ids(&registry), [busy.id, recent.id, fifth.id, sixth.id]);
        let seventh = registry.admit().expect("then the oldest recent idle one");
        assert_eq!(ids(&registry), [busy.id, fifth.id, sixth.id, seventh.id]);
        assert_eq!(registry.take_cap_counts(), (1, 2, 0));
        assert_eq!(registry.take_cap_counts(), (0, 0, 0), "counted afresh");
        assert!(long_idle.id < recent.id);
    }

    #[test]
    fn when_every_connection_is_busy_there_is_no_room() {
        let registry = Registry::new(1, Duration::ZERO);
        let only = registry.admit().expect("room");
        only.state.running.store(1, Ordering::Release);
        assert!(!registry.can_admit());
        assert!(registry.admit().is_none());
        assert_eq!(registry.requests_running(), 1);
        registry.remove(only.id);
        assert!(registry.can_admit());
    }

    #[test]
    fn only_connections_idle_longer_than_the_limit_expire() {
        let registry = Registry::new(3, Duration::ZERO);
        let busy = registry.admit().expect("room");
        let idle = registry.admit().expect("room");
        busy.state.running.store(1, Ordering::Release);
        assert_eq!(registry.expire_idle(Duration::from_secs(3600)), 0);
        assert_eq!(registry.expire_idle(Duration::ZERO), 1, "only the idle one");
        // Told, not forgotten: its task leaves the registry when it closes.
        assert_eq!(
            registry.lock().open.keys().copied().collect::<Vec<_>>(),
            [busy.id, idle.id]
        );
        let woken = idle.state.expired.notified();
        tokio::pin!(woken);
        assert!(futures_ready(woken.as_mut()));
    }

    fn futures_ready(future: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        future.poll(&mut context).is_ready()
    }
}
