//! Bounded, in-memory notification history, accounted in bytes.
//!
//! The inbox is a demo and test aid, not a database: it keeps the latest
//! notifications, evicting the oldest while more than a count are kept or
//! their [`Record::footprint`]s add up to more than a byte budget. A record is the
//! compact JSON the listing serves plus a bounded [`Summary`], so what is
//! counted is what the process holds, not the size of the parsed payload.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::payload::Source;
use crate::summary::Summary;

/// Bytes a record holds besides its payload JSON, at most.
pub const RECORD_OVERHEAD: usize =
    RECORD_FIXED_BYTES + HEAD_MAX_BYTES + RECEIVED_AT_BYTES + Summary::MAX_HEAP_BYTES;

/// The record itself, the `Arc`'s two counters, its slot in the ring.
const RECORD_FIXED_BYTES: usize =
    size_of::<Record>() + 2 * size_of::<usize>() + size_of::<Arc<Record>>();

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
        RECORD_FIXED_BYTES
            + self.head.len()
            + self.payload.len()
            + self.received_at.len()
            + self.summary.heap_bytes()
    }

    /// Length of the listing item ([`Record::write_json_part`]).
    pub fn json_len(&self) -> usize {
        self.head.len() + self.payload.len() + 1
    }

    /// Appends the listing item: `{"id":..,"received_at":..,"received_at_unix_ms":..,"source":..,"payload":{..}}`.
    #[cfg(test)]
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_part(0, usize::MAX, out);
    }

    /// Appends at most `max` bytes of the listing item, from byte `from` on;
    /// returns how many it appended.
    pub fn write_json_part(&self, from: usize, max: usize, out: &mut Vec<u8>) -> usize {
        let mut skip = from;
        let mut left = max;
        for part in [self.head.as_bytes(), self.payload.as_bytes(), b"}"] {
            let rest = part.get(skip..).unwrap_or_default();
            skip = skip.saturating_sub(part.len());
            let take = rest.len().min(left);
            out.extend_from_slice(&rest[..take]);
            left -= take;
        }
        max - left
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

/// The newest records, as [`History::newest`] reads them.
#[derive(Debug)]
pub struct Newest {
    /// Newest first.
    pub records: Vec<Arc<Record>>,
    /// How many records the history keeps.
    pub kept: usize,
    /// Changes with every record added, and so with every eviction: what
    /// is built from these records holds until the version changes.
    pub version: u64,
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

    /// The newest `limit` records, newest first, read at once with how many
    /// are kept and the history's version.
    pub fn newest(&self, limit: usize) -> Newest {
        let inner = self.lock();
        Newest {
            records: inner.items.iter().rev().take(limit).cloned().collect(),
            kept: inner.items.len(),
            version: inner.next_id,
        }
    }

    /// How many records are kept, and their total footprint in bytes: what
    /// the tests below hold the bounds to ([`History::newest`] serves the
    /// page).
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
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

/// Records for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::payload::WebhookPayload;

    /// Stores a notification whose stored payload JSON is `padding` bytes
    /// longer than the smallest.
    pub fn push(history: &History, padding: usize) -> Result<Arc<Record>, TooLarge> {
        let body = format!(
            r#"{{"version":"4","status":"firing","receiver":"{}","alerts":[{{"status":"firing"}}]}}"#,
            "r".repeat(padding)
        );
        let payload = WebhookPayload::parse(body.as_bytes()).expect("payload");
        let json = payload.to_stored_json(1 << 20, body.len()).expect("fits");
        history.push(payload.source(), Summary::of(&payload), json)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::push;
    use super::*;

    fn ids(records: &[Arc<Record>]) -> Vec<u64> {
        records.iter().map(|record| record.id).collect()
    }

    #[test]
    fn record_is_the_listing_item_and_its_footprint_is_bounded() {
        let history = History::new(10, 1 << 20);
        let record = push(&history, 1000).expect("stored");
        let mut out = Vec::new();
        record.write_json(&mut out);
        assert_eq!(out.len(), record.json_len());
        let item: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(item["id"], 1);
        assert_eq!(item["source"], "alertmanager");
        assert_eq!(
            item["received_at"].as_str().map(str::len),
            Some(RECEIVED_AT_BYTES)
        );
        assert!(
            item["received_at_unix_ms"]
                .as_u64()
                .is_some_and(|ms| ms > 1_700_000_000_000)
        );
        assert_eq!(item["payload"]["alerts"][0]["status"], "firing");
        assert!(record.head.len() <= HEAD_MAX_BYTES);
        assert!(record.footprint() <= record.payload.len() + RECORD_OVERHEAD);
        assert_eq!(history.usage(), (1, record.footprint()));
    }

    #[test]
    fn evicts_oldest_by_bytes_and_by_count() {
        let one = push(&History::new(1, 1 << 20), 10_000)
            .expect("stored")
            .footprint();
        let by_bytes = History::new(100, 3 * one + one / 2);
        for _ in 0..10 {
            push(&by_bytes, 10_000).expect("stored");
        }
        // Ids 8 to 10 take up to one more digit than id 1 did.
        let (count, bytes) = by_bytes.usage();
        assert_eq!(count, 3);
        assert!((3 * one..=3 * one + 3).contains(&bytes), "{bytes}");
        assert_eq!(
            ids(&by_bytes.page(None, 100, usize::MAX).records),
            [10, 9, 8]
        );

        let by_count = History::new(4, 1 << 30);
        for _ in 0..10 {
            push(&by_count, 10).expect("stored");
        }
        assert_eq!(by_count.usage().0, 4);
        assert_eq!(
            ids(&by_count.page(None, 100, usize::MAX).records),
            [10, 9, 8, 7]
        );
    }

    #[test]
    fn a_record_larger_than_the_budget_is_refused_and_keeps_the_rest() {
        let history = History::new(10, 20_000);
        push(&history, 10).expect("stored");
        let error = push(&history, 30_000).expect_err("too large");
        assert!(error.to_string().contains("INBOX_HISTORY_BYTES"), "{error}");
        assert_eq!(history.usage().0, 1);
        assert_eq!(push(&history, 10).expect("stored").id, 2, "no id spent");
    }

    #[test]
    fn pages_respect_limit_before_and_bytes() {
        let history = History::new(100, 1 << 30);
        for _ in 0..10 {
            push(&history, 1000).expect("stored");
        }
        let page = history.page(None, 3, usize::MAX);
        assert_eq!(
            (ids(&page.records), page.next_before),
            (vec![10, 9, 8], Some(8))
        );
        let page = history.page(Some(8), 100, usize::MAX);
        assert_eq!(
            (ids(&page.records), page.next_before),
            (vec![7, 6, 5, 4, 3, 2, 1], None)
        );
        let newest = history.page(None, 2, usize::MAX).records;
        let two = newest[0].json_len() + 1 + newest[1].json_len();
        let page = history.page(None, 100, two);
        assert_eq!(
            (ids(&page.records), page.next_before),
            (vec![10, 9], Some(9))
        );
        let page = history.page(None, 100, two - 1);
        assert_eq!((ids(&page.records), page.next_before), (vec![10], Some(10)));
        // A record larger than a page is skipped, not a dead end.
        let page = history.page(Some(5), 100, newest[1].json_len() - 2);
        assert_eq!((ids(&page.records), page.next_before), (vec![], Some(4)));
    }
}
