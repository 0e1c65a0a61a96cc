//! The request body as the router sees it: gathered into chunks of its
//! own memory, and watched for how long the handler waits for it.
//!
//! Why gather: hyper hands over each piece it reads as a slice of its read
//! buffer, which keeps the whole buffer (kilobytes) alive, and axum's
//! extractors hold every piece until the body ends. A client that sent its
//! body a byte per packet made each byte cost kilobytes: 16 unfinished
//! uploads of 2,000 bytes grew the service by 128 MiB
//! (`service/tests/hardening.rs`), and by 2.3 MiB with each piece merely
//! copied (a small allocation per byte). Gathered into chunks of up to
//! [`CHUNK`] bytes, handed on when full or when the body ends: 0.35 MiB.
//! No handler here streams its body, so holding the bytes back until then
//! delays nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};

use crate::registry::ConnectionState;

/// Bytes gathered before they are handed on: half the service's body
/// limit, so a body over a limit is refused at most this much past it.
const CHUNK: usize = 8 * 1024;

/// A request body, gathered (see the module docs) and watched: how long the
/// handler has been receiving it is the registry's `slow_body_since`.
pub struct WatchedBody<B = Incoming> {
    body: B,
    state: Arc<ConnectionState>,
    gathered: Vec<u8>,
    /// Trailers that came while bytes were gathered: handed on after them.
    trailers: Option<Frame<Bytes>>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// The body ended, or failed: nothing more comes from it.
    Ended,
    /// The client closed its connection in the middle of the body: no
    /// poll ever hands on the bytes gathered so far as if they were all.
    ClientLeft,
}

impl WatchedBody {
    /// Watches `body` unless it is empty (most requests): nothing to wait for.
    pub fn wrap(body: Incoming, state: &Arc<ConnectionState>) -> Body {
        if body.is_end_stream() {
            return Body::new(body);
        }
        Body::new(WatchedBody::new(body, state))
    }
}

impl<B> WatchedBody<B> {
    fn new(body: B, state: &Arc<ConnectionState>) -> Self {
        Self {
            body,
            state: Arc::clone(state),
            gathered: Vec::new(),
            trailers: None,
            phase: Phase::Reading,
        }
    }

    /// The gathered bytes as one frame.
    fn hand_on<E>(&mut self) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        let bytes = Bytes::from(std::mem::take(&mut self.gathered));
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

/// Whether `error` says the client closed its connection before the body
/// ended (hyper reports an early end of the stream, or a reset).
fn client_left(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            );
        }
        cause = error.source();
    }
    false
}

impl<B> HttpBody for WatchedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        while this.phase == Phase::Reading {
            let polled = Pin::new(&mut this.body).poll_frame(cx);
            if polled.is_pending() {
                // A body that trickles in is as slow as one that stops: the
                // wait counts on from the first byte the handler lacked.
                this.state.body_awaited();
            }
            match ready!(polled) {
                Some(Ok(frame)) => match frame.into_data() {
                    // Most bodies come whole, in one read: such a piece goes
                    // on as it is, keeping one read buffer alive at most.
                    Ok(data)
                        if this.gathered.is_empty()
                            && (data.len() >= CHUNK || this.body.is_end_stream()) =>
                    {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(data) => {
                        this.gathered.extend_from_slice(&data);
                        if this.gathered.len() >= CHUNK {
                            return this.hand_on();
                        }
                    }
                    Err(trailers) if this.gathered.is_empty() => {
                        return Poll::Ready(Some(Ok(trailers)));
                    }
                    Err(trailers) => {
                        this.trailers = Some(trailers);
                        return this.hand_on();
                    }
                },
                Some(Err(error)) => {
                    this.state.body_done();
                    this.gathered.clear();
                    if client_left(&error) {
                        // The connection drops the request (and this body)
                        // before the handler can answer an error nobody
                        // would receive: the app counts a client that left.
                        this.phase = Phase::ClientLeft;
                        this.state.client_left.notify_one();
                        return Poll::Pending;
                    }
                    this.phase = Phase::Ended;
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    this.state.body_done();
                    this.phase = Phase::Ended;
                }
            }
        }
        match this.phase {
            Phase::ClientLeft => Poll::Pending,
            _ if this.gathered.is_empty() => Poll::Ready(None),
            _ => this.hand_on(),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.phase == Phase::Ended && self.gathered.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let coming = self.body.size_hint();
        let gathered = self.gathered.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(upper) = coming.upper() {
            hint.set_upper(upper.saturating_add(gathered));
        }
        hint.set_lower(coming.lower().saturating_add(gathered));
        hint
    }
}

impl<B> Drop for WatchedBody<B> {
    fn drop(&mut self) {
        self.state.body_done();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;
    use std::time::Duration;

    use http::HeaderMap;

    use super::*;
    use crate::registry::Registry;

    /// What a scripted body gives on one poll.
    enum Step {
        Frame(Frame<Bytes>),
        /// No bytes yet.
        Wait,
        Fail(io::ErrorKind),
    }

    /// A body that gives its steps in order, then ends.
    struct Scripted(VecDeque<Step>);

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
            match self.0.pop_front() {
                Some(Step::Frame(frame)) => Poll::Ready(Some(Ok(frame))),
                Some(Step::Wait) => Poll::Pending,
                Some(Step::Fail(kind)) => Poll::Ready(Some(Err(kind.into()))),
                None => Poll::Ready(None),
            }
        }
    }

    fn byte(b: u8) -> Step {
        Step::Frame(Frame::data(Bytes::copy_from_slice(&[b])))
    }

    fn watched(steps: impl IntoIterator<Item = Step>) -> WatchedBody<Scripted> {
        let registry = Registry::new(1, Duration::ZERO);
        let state = registry.admit().expect("room").state;
        WatchedBody::new(Scripted(steps.into_iter().collect()), &state)
    }

    /// What polling until the end hands on: data as bytes, trailers as their
    /// header count, and how many polls found nothing.
    fn drain(body: &mut WatchedBody<Scripted>) -> (Vec<Vec<u8>>, Vec<usize>, usize) {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut data, mut trailers, mut pending) = (Vec::new(), Vec::new(), 0);
        loop {
            match Pin::new(&mut *body).poll_frame(&mut cx) {
                Poll::Pending => pending += 1,
                Poll::Ready(None) => return (data, trailers, pending),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(bytes) => data.push(bytes.to_vec()),
                    Err(frame) => trailers.push(frame.into_trailers().map_or(0, |t| t.len())),
                },
                Poll::Ready(Some(Err(error))) => panic!("{error}"),
            }
        }
    }

    #[test]
    fn an_early_end_or_reset_is_a_client_that_left() {
        #[derive(Debug)]
        struct Wrapped(io::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("body error")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = |kind| Wrapped(io::Error::from(kind));
        assert!(client_left(&wrapped(io::ErrorKind::UnexpectedEof)));
        assert!(client_left(&wrapped(io::ErrorKind::ConnectionReset)));
        assert!(!client_left(&wrapped(io::ErrorKind::InvalidData)));
        assert!(!client_left(&std::fmt::Error));
    }

    #[test]
    fn bytes_that_trickle_in_are_handed_on_as_one_chunk_at_the_end() {
        let mut body = watched([byte(b'a'), Step::Wait, byte(b'b'), Step::Wait, byte(b'c')]);
        assert_eq!(drain(&mut body), (vec![b"abc".to_vec()], vec![], 2));
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_full_chunk_goes_on_at_once_and_trailers_after_the_bytes() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", http::HeaderValue::from_static("1"));
        let mut body = watched([
            Step::Frame(Frame::data(Bytes::from(vec![b'x'; CHUNK + 1]))),
            byte(b'y'),
            Step::Frame(Frame::trailers(trailers)),
        ]);
        let (data, trailers, _) = drain(&mut body);
        assert_eq!(data, [vec![b'x'; CHUNK + 1], b"y".to_vec()]);
        assert_eq!(trailers, [1]);
    }

    #[test]
    fn a_body_cut_short_by_the_client_is_never_handed_on() {
        let mut body = watched([byte(b'{'), Step::Fail(io::ErrorKind::UnexpectedEof)]);
        let mut cx = Context::from_waker(Waker::noop());
        // Later polls too: the inner body would now say it ended.
        for _ in 0..3 {
            assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        }
        assert!(!body.is_end_stream());
    }

    #[test]
    fn another_error_is_handed_on_and_nothing_after_it() {
        let mut body = watched([
            byte(b'{'),
            Step::Fail(io::ErrorKind::InvalidData),
            byte(b'}'),
        ]);
        let mut cx = Context::from_waker(Waker::noop());
        let polled = Pin::new(&mut body).poll_frame(&mut cx);
        assert!(matches!(polled, Poll::Ready(Some(Err(_)))));
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
    }
}
