//! Why a request got no HTTP response, sorted into a few causes so the
//! summary can say why without one line per failed request.

use std::error::Error as _;
use std::io;

use serde::Serialize;

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `--timeout` passed, or the connection attempt timed out.
    TimedOut,
    /// Nothing listens at the URL.
    Refused,
    /// The connection was reset, or closed before the answer came.
    Closed,
    /// Anything else: name resolution, TLS, a malformed answer...
    Other,
}

impl Failure {
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            return Self::TimedOut;
        }
        let mut cause = error.source();
        while let Some(error) = cause {
            if let Some(io) = error.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::TimedOut => return Self::TimedOut,
                    io::ErrorKind::ConnectionRefused => return Self::Refused,
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof => return Self::Closed,
                    _ => {}
                }
            }
            // The peer closed the connection before answering: hyper says
            // so in its own error, with no `io::Error` under it.
            if error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message)
            {
                return Self::Closed;
            }
            cause = error.source();
        }
        Self::Other
    }
}

/// Failed requests by cause (in `--json` as `status.errors_by_cause`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Causes {
    pub timed_out: u64,
    pub connection_refused: u64,
    pub connection_closed: u64,
    pub other: u64,
}

impl Causes {
    pub fn count(&mut self, failure: Failure) {
        *match failure {
            Failure::TimedOut => &mut self.timed_out,
            Failure::Refused => &mut self.connection_refused,
            Failure::Closed => &mut self.connection_closed,
            Failure::Other => &mut self.other,
        } += 1;
    }

    pub fn total(&self) -> u64 {
        self.timed_out + self.connection_refused + self.connection_closed + self.other
    }

    /// The causes that occurred, e.g. `timed out 10, connection closed 2`.
    pub fn describe(&self) -> String {
        [
            ("timed out", self.timed_out),
            ("connection refused", self.connection_refused),
            ("connection closed", self.connection_closed),
            ("other", self.other),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(cause, n)| format!("{cause} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt as _;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// What a test server does with each connection, after reading the request.
    #[derive(Clone, Copy)]
    enum Peer {
        /// Closes the connection without answering.
        Close,
        /// Resets the connection (RST).
        Reset,
        /// Keeps the connection open and never answers.
        Silent,
    }

    /// A server on a free port treating connections as `peer` says; its URL.
    async fn serve(peer: Peer) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let mut silent: Vec<TcpStream> = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                match peer {
                    Peer::Close => drop(stream),
                    Peer::Reset => {
                        let _ = stream.set_zero_linger();
                        drop(stream);
                    }
                    Peer::Silent => silent.push(stream),
                }
            }
        });
        url
    }

    async fn failure_at(url: &str) -> Failure {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .expect("client");
        let error = client.get(url).send().await.expect_err("no response");
        Failure::of(&error)
    }

    #[tokio::test]
    async fn sorts_real_failures_by_cause() {
        assert_eq!(
            failure_at(&serve(Peer::Silent).await).await,
            Failure::TimedOut
        );
        assert_eq!(failure_at(&serve(Peer::Close).await).await, Failure::Closed);
        assert_eq!(failure_at(&serve(Peer::Reset).await).await, Failure::Closed);
        // A port that was free a moment ago: nothing listens there.
        let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", unused.local_addr().expect("addr"));
        drop(unused);
        assert_eq!(failure_at(&url).await, Failure::Refused);
    }

    #[test]
    fn describes_only_the_causes_that_occurred() {
        let mut causes = Causes::default();
        assert_eq!(causes.describe(), "");
        for failure in [Failure::TimedOut, Failure::Closed, Failure::TimedOut] {
            causes.count(failure);
        }
        assert_eq!(causes.total(), 3);
        assert_eq!(causes.describe(), "timed out 2, connection closed 1");
    }
}
