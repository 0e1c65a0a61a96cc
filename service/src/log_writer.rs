//! Where log lines go: a bounded in-memory buffer that a thread of its own
//! writes to stdout in batches.
//!
//! A request thread only appends its line to the buffer (one short lock, no
//! allocation, no wake-up); the writer thread wakes every [`FLUSH_EVERY`],
//! or when the buffer is half full, and writes everything buffered with one
//! call. When the writer falls behind and the buffer is full, new lines are
//! dropped and counted ([`LogWriter::dropped_lines`], on `/metrics`), so
//! logging never blocks a request and its memory stays bounded.
//!
//! `tracing-appender`'s non-blocking writer also keeps stdout off the
//! request path, but it hands over one line at a time through a channel
//! (one allocation and, at moderate load, one wake-up of its thread per
//! line) and writes them one by one; batching the writes is the point here.
//! The test at the bottom checks that the bytes written are exactly the
//! lines given, in order.

use std::io::{self, Write};
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Longest time a line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Most bytes buffered; a line that does not fit is dropped. 4 MiB holds
/// about 25,000 access-log lines: a burst of that many is logged in full
/// even while whatever reads stdout falls behind for a moment.
pub const CAPACITY: usize = 4 * 1024 * 1024;

/// A handle to the buffer; clones share it. One `write` is one line.
#[derive(Debug, Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Longest wait, at exit, for the last lines to be written: a stdout that
/// nobody reads (a full pipe) must not keep the process from exiting.
pub const LAST_WRITE_LIMIT: Duration = Duration::from_secs(2);

/// Stops the writer thread after a last write when dropped, waiting at most
/// [`LAST_WRITE_LIMIT`] for it.
#[derive(Debug)]
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled when the writer thread has written its last batch.
    finished: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    buffer: Vec<u8>,
    /// The writer was told the buffer is half full.
    woken: bool,
    closed: bool,
    /// The writer thread has written its last batch and returned.
    finished: bool,
}

impl LogWriter {
    /// Starts the writer thread, writing to `out` every `every` at least;
    /// at most `capacity` bytes wait. Fails only when the thread cannot
    /// start.
    pub fn new(
        out: impl Write + Send + 'static,
        capacity: usize,
        every: Duration,
    ) -> io::Result<(Self, LogWriterGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(capacity),
                ..State::default()
            }),
            wake: Condvar::new(),
            finished: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        });
        let writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || writer.run(out, every))?;
        let guard = LogWriterGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        Ok((Self { shared }, guard))
    }

    /// Lines dropped so far because the buffer was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Appends one line (or drops it, counted, when it does not fit).
    pub fn write_line(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.buffer.len() + line.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.buffer.extend_from_slice(line);
        if state.buffer.len() >= self.shared.capacity / 2 && !state.woken {
            state.woken = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: swap the buffer for an empty one, write it out.
    fn run(&self, mut out: impl Write, every: Duration) {
        // Tells the guard the thread is done however it ends, panics included.
        struct Finished<'a>(&'a Shared);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.lock().finished = true;
                self.0.finished.notify_all();
            }
        }
        let _finished = Finished(self);
        let mut batch = Vec::with_capacity(self.capacity);
        loop {
            let closed = {
                let mut state = self.lock();
                if !state.woken && !state.closed {
                    state = self
                        .wake
                        .wait_timeout(state, every)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                state.woken = false;
                mem::swap(&mut state.buffer, &mut batch);
                state.closed
            };
            if !batch.is_empty() {
                // Nowhere to report a failing stdout; the lines are lost.
                let _ = out.write_all(&batch).and_then(|()| out.flush());
                batch.clear();
            }
            if closed {
                return;
            }
        }
    }
}

impl LogWriterGuard {
    /// Has the writer thread write what is buffered and stop; waits for it
    /// at most `limit`. `false` when it was still writing (stdout blocked):
    /// the thread is left to the process's exit, and its lines with it.
    pub fn stop(mut self, limit: Duration) -> bool {
        self.stop_within(limit)
    }

    fn stop_within(&mut self, limit: Duration) -> bool {
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.wake.notify_one();
        let (state, _) = self
            .shared
            .finished
            .wait_timeout_while(state, limit, |state| !state.finished)
            .unwrap_or_else(PoisonError::into_inner);
        let finished = state.finished;
        drop(state);
        if finished {
            let _ = thread.join();
        }
        finished
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.stop_within(LAST_WRITE_LIMIT);
    }
}

impl Write for LogWriter {
    /// `tracing-subscriber` writes each formatted event with one call.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.write_line(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bytes_written_are_the_lines_in_order() {
        let sink = Sink::default();
        let (writer, guard) =
            LogWriter::new(sink.clone(), 4096, Duration::from_millis(5)).expect("writer thread");
        let mut expected = Vec::new();
        for n in 0..2000 {
            let line = format!("line {n} {}\n", "x".repeat(n % 50));
            writer.write_line(line.as_bytes());
            expected.extend_from_slice(line.as_bytes());
            if n % 100 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        drop(guard);
        let written = sink.0.lock().expect("sink").clone();
        if writer.dropped_lines() == 0 {
            assert!(written == expected, "the output differs from the lines");
        } else {
            // Drops only ever remove whole lines, keeping the others' order.
            let written = String::from_utf8(written).expect("utf-8");
            let expected = String::from_utf8(expected).expect("utf-8");
            let mut lines = expected.lines();
            for line in written.lines() {
                assert!(lines.any(|other| other == line), "{line:?} out of order");
            }
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts_whole_lines() {
        let sink = Sink::default();
        let (writer, guard) =
            LogWriter::new(sink.clone(), 10, Duration::from_secs(3600)).expect("writer thread");
        writer.write_line(b"abcd\n");
        writer.write_line(b"efgh\n"); // fills the buffer: the writer is woken
        writer.write_line(b"too long for it\n");
        drop(guard);
        assert!(writer.dropped_lines() >= 1);
        let written = sink.0.lock().expect("sink").clone();
        assert!(written.starts_with(b"abcd\n"), "{written:?}");
        assert!(!written.windows(3).any(|w| w == b"too"), "{written:?}");
    }

    /// A stdout that blocks every write, as a full pipe nobody reads does.
    struct Blocked(std::sync::mpsc::Receiver<()>);

    impl Write for Blocked {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            // Blocks until the test ends and drops the sender.
            let _ = self.0.recv();
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stdout_does_not_hold_up_the_stop() {
        let (unblock, blocked) = std::sync::mpsc::channel();
        let (writer, guard) = LogWriter::new(Blocked(blocked), 4096, Duration::from_millis(1))
            .expect("writer thread");
        writer.write_line(b"never written\n");
        let limit = Duration::from_millis(200);
        let started = std::time::Instant::now();
        assert!(!guard.stop(limit), "the write cannot have finished");
        let waited = started.elapsed();
        assert!(waited >= limit && waited < limit * 10, "{waited:?}");
        drop(unblock);
    }

    #[test]
    fn the_stop_waits_for_the_last_write() {
        let sink = Sink::default();
        let (writer, guard) =
            LogWriter::new(sink.clone(), 4096, Duration::from_secs(3600)).expect("writer thread");
        writer.write_line(b"last\n");
        assert!(guard.stop(Duration::from_secs(10)));
        assert_eq!(sink.0.lock().expect("sink").as_slice(), b"last\n");
    }
}
