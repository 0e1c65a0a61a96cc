//! Requests that never reach the router: hyper answers or drops them while
//! reading the request, and the server reports each to an [`Observer`].

/// Why a request ended before the router saw it (or without a response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// The request head does not parse: hyper answers 400.
    BadRequest,
    /// The URI is too long: hyper answers 414.
    UriTooLong,
    /// The head is larger than the limit: hyper answers 431.
    HeadTooLarge,
    /// The head did not arrive within the header timeout: closed without
    /// an answer.
    HeadTimeout,
    /// An HTTP/2 connection preface (an h2c client, a gRPC probe): this
    /// server speaks HTTP/1 only, and hyper closes without an answer.
    Http2Preface,
    /// The client closed the connection in the middle of a request.
    ClientClosed,
}

impl Rejection {
    /// The status hyper answered with, if it answered.
    pub fn status(self) -> Option<u16> {
        match self {
            Rejection::BadRequest => Some(400),
            Rejection::UriTooLong => Some(414),
            Rejection::HeadTooLarge => Some(431),
            Rejection::HeadTimeout | Rejection::Http2Preface | Rejection::ClientClosed => None,
        }
    }

    /// A short name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadRequest => "bad_request",
            Rejection::UriTooLong => "uri_too_long",
            Rejection::HeadTooLarge => "head_too_large",
            Rejection::HeadTimeout => "head_timeout",
            Rejection::Http2Preface => "http2_preface",
            Rejection::ClientClosed => "client_closed",
        }
    }

    /// What a connection's error says about its last request, if anything.
    pub(crate) fn of(error: &hyper::Error) -> Option<Self> {
        if error.is_parse_too_large() {
            // hyper's public API groups the two; its message tells them apart.
            return Some(if error.to_string().contains("URI") {
                Rejection::UriTooLong
            } else {
                Rejection::HeadTooLarge
            });
        }
        if error.is_parse_version_h2() {
            Some(Rejection::Http2Preface)
        } else if error.is_parse() {
            Some(Rejection::BadRequest)
        } else if error.is_timeout() {
            Some(Rejection::HeadTimeout)
        } else if error.is_incomplete_message() {
            Some(Rejection::ClientClosed)
        } else {
            None
        }
    }
}

/// Told about every request the router never saw.
pub trait Observer: Send + Sync + 'static {
    fn rejected(&self, rejection: Rejection);
}

/// Counting nothing.
impl Observer for () {
    fn rejected(&self, _: Rejection) {}
}
