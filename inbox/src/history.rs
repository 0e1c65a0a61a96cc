//! Bounded, in-memory notification history (a ring buffer).
//!
//! The inbox is a demo and test aid, not a database: it keeps the last N
//! notifications so memory stays bounded however many alerts arrive.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::payload::{Source, WebhookPayload};

/// A received notification with what the inbox learnt on arrival.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// Sequence number, starting at 1; survives eviction of older entries.
    pub id: u64,
    /// Arrival time, RFC 3339 (UTC, millisecond precision).
    pub received_at: String,
    /// Arrival time as Unix milliseconds, handy for scripts and tests.
    pub received_at_unix_ms: u128,
    pub source: Source,
    pub payload: WebhookPayload,
}

/// Thread-safe ring buffer of the latest notifications.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    items: VecDeque<Received>,
}

impl History {
    /// A history keeping at most `capacity` (at least 1) notifications.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            inner: Mutex::new(Inner {
                next_id: 1,
                items: VecDeque::with_capacity(capacity.min(1024)),
            }),
        }
    }

    /// Stores a notification, evicting the oldest when full; returns its record.
    pub fn push(&self, payload: WebhookPayload) -> Received {
        let now = SystemTime::now();
        let unix_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut inner = self.lock();
        let record = Received {
            id: inner.next_id,
            received_at: humantime::format_rfc3339_millis(now).to_string(),
            received_at_unix_ms: unix_ms,
            source: payload.source(),
            payload,
        };
        inner.next_id += 1;
        if inner.items.len() == self.capacity {
            inner.items.pop_front();
        }
        inner.items.push_back(record.clone());
        record
    }

    /// The stored notifications, newest first.
    pub fn newest_first(&self) -> Vec<Received> {
        self.lock().items.iter().rev().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a
        // way that matters here, so recover the guard instead of propagating.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
