//! Bounded, in-memory notification history, accounted in bytes.
//!
//! The inbox is a demo and test aid, not a database: it keeps the latest
//! notifications, evicting the oldest while more than `count` are kept or
//! their [`Record::footprint`]s add up to more than `bytes`. A record is the
//! compact JSON the listing serves plus a bounded [`Summary`], so what is
//! counted is what the process holds, not the size of the parsed payload.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::payload::Source;
use crate::summary::Summary;

/// Bytes a record holds besides its payload JSON, at most.
pub const RECORD_OVERHEAD: usize = size_of::<Record>()
    + 2 * size_of::<usize>() // the Arc's counters
    + size_of::<Arc<Record>>() // its slot in the ring
    + HEAD_MAX_BYTES
    + RECEIVED_AT_BYTES
    + Summary::MAX_HEAP_BYTES;

/// `{"id":<u64>,"received_at":"<24>","received_at_unix_ms":<u128>,"source":"<12>","payload":`:
/// 69 bytes of fixed text, at most 20 digits, 24, 39 digits, 12.
const HEAD_MAX_BYTES: usize = 69 + 20 + RECEIVED_AT_BYTES + 39 + 12;
/// `2026-11-25T16:25:00.123Z`.
const RECEIVED_AT_BYTES: usize = 24;

/// A stored notification.
#[derive(Debug)]
pub struct Record {
    /// Sequence number, starting at 1; survives eviction of older entries.
    pub id: u64,
    /// Arrival time, RFC 3339 (UTC, millisecond precision).
    pub received_at: Box<str>,
    pub source: Source,
    pub summary: Summary,
    /// The listing item up to its payload: `{"id":..,"source":..,"payload":`.
    head: Box<str>,
    payload: Box<str>,
}

impl Record {
    /// Bytes this record keeps alive in the history.
    pub fn footprint(&self) -> usize {
        size_of::<Record>()
            + 2 * size_of::<usize>()
            + size_of::<Arc<Record>>()
            + self.head.len()
            + self.payload.len()
            + self.received_at.len()
            + self.summary.heap_bytes()
    }

    /// Length of [`Record::write_json`]'s output.
    pub fn json_len(&self) -> usize {
        self.head.len() + self.payload.len() + 1
    }

    /// Appends the listing item: `{"id":..,"received_at":..,"received_at_unix_ms":..,"source":..,"payload":{..}}`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(self.payload.as_bytes());
        out.push(b'}');
    }
}

/// The record would not fit even in an empty history.
#[derive(Debug, thiserror::Error)]
#[error(
    "the notification takes {size} bytes, more than the whole history may hold ({limit} bytes, --history-bytes / INBOX_HISTORY_BYTES)"
)]
pub struct TooLarge {
    pub size: usize,
    pub limit: usize,
}

/// The newest records up to a page's limits, and where the next page starts.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Arc<Record>>,
    /// Set when older records remain: pass it as `before` for the next page.
    pub next_before: Option<u64>,
}

/// Thread-safe history of the latest notifications.
#[derive(Debug)]
pub struct History {
    max_count: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    bytes: usize,
    items: VecDeque<Arc<Record>>,
}

impl History {
    /// A history of at most `max_count` (at least 1) records taking at most
    /// `max_bytes` by [`Record::footprint`].
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        let max_count = max_count.max(1);
        Self {
            max_count,
            max_bytes,
            inner: Mutex::new(Inner {
                next_id: 1,
                bytes: 0,
                items: VecDeque::with_capacity(max_count.min(1024)),
            }),
        }
    }

    /// Stores a notification (its payload as stored JSON), evicting the
    /// oldest ones until both limits hold again; returns its record.
    pub fn push(
        &self,
        source: Source,
        summary: Summary,
        payload: Box<str>,
    ) -> Result<Arc<Record>, TooLarge> {
        let now = SystemTime::now();
        let unix_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let received_at = humantime::format_rfc3339_millis(now)
            .to_string()
            .into_boxed_str();
        let mut inner = self.lock();
        let id = inner.next_id;
        let head = format!(
            r#"{{"id":{id},"received_at":"{received_at}","received_at_unix_ms":{unix_ms},"source":"{source}","payload":"#
        );
        let record = Arc::new(Record {
            id,
            received_at,
            source,
            summary,
            head: head.into_boxed_str(),
            payload,
        });
        let size = record.footprint();
        if size > self.max_bytes {
            return Err(TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        inner.next_id += 1;
        while inner.items.len() >= self.max_count || inner.bytes + size > self.max_bytes {
            let Some(oldest) = inner.items.pop_front() else {
                break;
            };
            inner.bytes -= oldest.footprint();
        }
        inner.bytes += size;
        inner.items.push_back(Arc::clone(&record));
        Ok(record)
    }

    /// Records with an id below `before` (all when `None`), newest first: at
    /// most `limit` of them, and only whole ones whose JSON, with a comma
    /// between each two, fits in `max_json_bytes`.
    pub fn page(&self, before: Option<u64>, limit: usize, max_json_bytes: usize) -> Page {
        let inner = self.lock();
        let mut records = Vec::new();
        let mut used = 0;
        let mut next_before = None;
        for record in inner.items.iter().rev() {
            if before.is_some_and(|before| record.id >= before) {
                continue;
            }
            let separator = usize::from(!records.is_empty());
            if records.len() == limit || used + separator + record.json_len() > max_json_bytes {
                // A record too large for any page (only with unchecked
                // limits) is skipped rather than ending the listing.
                next_before = Some(
                    records
                        .last()
                        .map_or(record.id, |last: &Arc<Record>| last.id),
                );
                break;
            }
            used += separator + record.json_len();
            records.push(Arc::clone(record));
        }
        Page {
            records,
            next_before,
        }
    }

    /// How many records are kept, and their total footprint in bytes.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.items.len(), inner.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a
        // way that matters here, so recover the guard instead of propagating.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
