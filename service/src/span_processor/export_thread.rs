//! What the span processor shares with its export thread, and the thread.
//!
//! Request threads append encoded spans to the batch being filled; the
//! export thread takes full batches as soon as they are full, the one
//! filling once the delay has passed, and everything when a flush or the
//! stop asks for it. Once the thread has stopped (or could not start, or
//! panicked) the processor is closed: what was queued and every later span
//! is counted as dropped, and a flush fails at once instead of waiting.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use crate::otlp::Batch;
use crate::span_queue::SpanQueue;

/// Most bytes of encoded spans in one export request. Receivers refuse
/// larger messages (the Collector's OTLP receiver takes 4 MiB by default),
/// and a refused batch is lost whole: 2048 spans with long paths and user
/// agents come to about 5.7 MiB, so a batch also closes at this size.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The state behind one processor.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// Wakes the export thread: a batch is full, or a flush was asked.
    work: Condvar,
    /// Wakes those waiting for a flush.
    flushed: Condvar,
    queue: Arc<SpanQueue>,
    batch_size: usize,
}

#[derive(Debug)]
struct State {
    /// Full batches first; the last one may be filling.
    batches: VecDeque<Batch>,
    resource: Resource,
    /// Flushes asked for and done, counted: a flush waits for its number.
    flushes_asked: u64,
    flushes_done: u64,
    /// How the last flush went.
    flush_result: Result<(), String>,
    stopping: bool,
    /// No more spans are taken: the stop's last batches are on their way.
    closed: bool,
    /// The export thread has ended.
    ended: bool,
}

impl Shared {
    /// Batches of at most `batch_size` spans, admitted by `queue`.
    pub fn new(queue: Arc<SpanQueue>, batch_size: usize) -> Self {
        Self {
            state: Mutex::new(State {
                batches: VecDeque::new(),
                resource: Resource::builder_empty().build(),
                flushes_asked: 0,
                flushes_done: 0,
                flush_result: Ok(()),
                stopping: false,
                closed: false,
                ended: false,
            }),
            work: Condvar::new(),
            flushed: Condvar::new(),
            batch_size: batch_size.min(queue.capacity()).max(1),
            queue,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No update of the state is left half done by a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits one span of `scope`, encoded as `span`, or counts it dropped.
    pub fn push(&self, scope: &InstrumentationScope, span: &[u8]) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            self.queue.discard(1);
            return;
        }
        if state.batches.back().is_none_or(|batch| self.is_full(batch)) {
            state.batches.push_back(Batch::default());
        }
        let last = state.batches.len() - 1;
        let batch = &mut state.batches[last];
        batch.push(scope, span);
        let full = self.is_full(batch);
        drop(state);
        if full {
            self.work.notify_one();
        }
    }

    pub fn set_resource(&self, resource: &Resource) {
        self.lock().resource = resource.clone();
    }

    /// Has everything queued sent, waiting at most `timeout`; with `stop`,
    /// the export thread then ends.
    pub fn flush(&self, stop: bool, timeout: Duration) -> OTelSdkResult {
        let mut state = self.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        if state.ended {
            return Err(not_running());
        }
        state.stopping = stop;
        state.flushes_asked += 1;
        let ticket = state.flushes_asked;
        self.work.notify_one();
        let (state, _) = self
            .flushed
            .wait_timeout_while(state, timeout, |state| {
                state.flushes_done < ticket && !state.ended
            })
            .unwrap_or_else(PoisonError::into_inner);
        if state.flushes_done >= ticket {
            state
                .flush_result
                .clone()
                .map_err(OTelSdkError::InternalFailure)
        } else if state.ended {
            Err(not_running())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    /// Asks the export thread to send what is queued and end, without
    /// waiting.
    pub fn stop_soon(&self) {
        let mut state = self.lock();
        if !state.stopping {
            state.stopping = true;
            state.flushes_asked += 1;
            self.work.notify_one();
        }
    }

    /// The export thread has ended (or never started): what is queued, and
    /// every later span, is dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.ended = true;
        let queued: usize = state.batches.drain(..).map(|batch| batch.len()).sum();
        drop(state);
        self.queue.discard(queued);
        self.flushed.notify_all();
    }

    /// Whether `batch` takes no more spans: it holds the batch size, or
    /// [`MAX_BATCH_BYTES`].
    fn is_full(&self, batch: &Batch) -> bool {
        batch.len() >= self.batch_size || batch.bytes() >= MAX_BATCH_BYTES
    }

    /// How many batches at the front are full.
    fn full_batches(&self, state: &State) -> usize {
        state
            .batches
            .iter()
            .take_while(|batch| self.is_full(batch))
            .count()
    }
}

fn not_running() -> OTelSdkError {
    OTelSdkError::InternalFailure("the span export thread is not running".to_owned())
}

/// Starts the export thread, which sends each batch with `export`.
pub fn spawn(
    shared: Arc<Shared>,
    delay: Duration,
    export: impl FnMut(&Batch, &Resource) -> Result<(), String> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("span-export".to_owned())
        .spawn(move || {
            // The exporter's own work must not make spans.
            let _suppressed = Context::enter_telemetry_suppressed_scope();
            // Closes the processor however the loop ends, a panic included.
            let _closing = Closing(&shared);
            run(&shared, delay, export);
        })
}

struct Closing<'a>(&'a Shared);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The export loop; returns once the stop's flush is done.
fn run(
    shared: &Shared,
    delay: Duration,
    mut export: impl FnMut(&Batch, &Resource) -> Result<(), String>,
) {
    // A span waits at most `delay` after everything was last sent.
    let mut due = deadline(delay);
    loop {
        let mut state = shared.lock();
        // How many batches to send (all of them, or the full ones at the
        // front); the flush to answer.
        let (take, flush) = loop {
            if state.flushes_asked > state.flushes_done {
                break (state.batches.len(), Some(state.flushes_asked));
            }
            let now = Instant::now();
            if now >= due && !state.batches.is_empty() {
                break (state.batches.len(), None);
            }
            let full = shared.full_batches(&state);
            if full > 0 {
                break (full, None);
            }
            if now >= due {
                due = deadline(delay);
            }
            state = shared
                .work
                .wait_timeout(state, due.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        let all = take == state.batches.len();
        let batches: Vec<Batch> = state.batches.drain(..take).collect();
        let stop = flush.is_some() && state.stopping;
        // Spans that end from now on are not sent: they are dropped, counted.
        state.closed |= stop;
        let resource = state.resource.clone();
        drop(state);

        let mut lost = 0;
        for batch in batches {
            shared.queue.handed_on(batch.len());
            if export(&batch, &resource).is_err() {
                lost += batch.len();
            }
        }
        if all {
            due = deadline(delay);
        }
        if let Some(ticket) = flush {
            let mut state = shared.lock();
            state.flushes_done = ticket;
            state.flush_result = match lost {
                0 => Ok(()),
                lost => Err(format!("{lost} spans could not be exported")),
            };
            drop(state);
            shared.flushed.notify_all();
            if stop {
                return;
            }
        }
    }
}

/// `delay` from now; an hour for a delay past the clock's range.
fn deadline(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_closes_at_its_byte_limit() {
        let queue = Arc::new(SpanQueue::new(1000));
        let shared = Shared::new(Arc::clone(&queue), 1000);
        let scope = InstrumentationScope::builder("test").build();
        let span = vec![0; 3000];
        for _ in 0..800 {
            assert!(queue.reserve());
            shared.push(&scope, &span);
        }
        let state = shared.lock();
        let sizes: Vec<usize> = state.batches.iter().map(Batch::bytes).collect();
        assert!(sizes.len() >= 3, "{sizes:?}");
        assert!(
            sizes
                .iter()
                .all(|&bytes| bytes < MAX_BATCH_BYTES + span.len()),
            "{sizes:?}"
        );
        assert_eq!(shared.full_batches(&state), sizes.len() - 1);
    }

    #[test]
    fn once_the_thread_is_gone_spans_are_dropped_and_a_flush_fails_at_once() {
        let queue = Arc::new(SpanQueue::new(16));
        let shared = Arc::new(Shared::new(Arc::clone(&queue), 2));
        let exporting = Arc::clone(&shared);
        let thread = spawn(exporting, Duration::from_secs(3600), |_, _| {
            panic!("an exporter bug")
        })
        .expect("spawn");
        let scope = InstrumentationScope::builder("test").build();
        let end_span = || {
            assert!(queue.reserve());
            shared.push(&scope, b"span");
        };
        // The first two fill a batch, whose export panics; the third waits.
        (0..3).for_each(|_| end_span());
        assert!(thread.join().is_err());
        end_span();

        assert_eq!(queue.exported(), 2);
        assert_eq!(queue.discarded(), 2, "the one queued and the one after");
        assert_eq!(queue.dropped(), 0, "not for a full queue");
        assert_eq!(queue.queued(), 0);
        let error = shared
            .flush(false, Duration::from_secs(60))
            .expect_err("no thread");
        assert!(error.to_string().contains("not running"), "{error}");
    }
}
