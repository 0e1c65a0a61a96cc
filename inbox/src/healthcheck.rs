//! `inbox healthcheck`: a dependency-free HTTP probe for container healthchecks.
//!
//! Container images for this project carry no curl or wget, so the binary
//! probes itself: one HTTP/1.0 GET over a plain TCP socket, success when the
//! status line says 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("unsupported URL {0:?}: expected http://HOST:PORT/PATH")]
    BadUrl(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error("cannot reach {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} answered {1:?}, expected status 200")]
    Status(String, String),
}

/// The default probe URL for a listen address: loopback, same port.
pub fn default_url(listen: SocketAddr) -> String {
    format!("http://127.0.0.1:{}/healthz", listen.port())
}

/// GETs `url` and succeeds only on HTTP status 200, within `timeout`.
pub fn probe(url: &str, timeout: Duration) -> Result<(), ProbeError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::BadUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(ProbeError::BadUrl(url.to_owned()));
    }
    let with_port = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| ProbeError::Resolve(authority.to_owned(), e))?
        .next()
        .ok_or_else(|| ProbeError::BadUrl(url.to_owned()))?;
    let io = |e| ProbeError::Io(url.to_owned(), e);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").map_err(io)?;
    // The status line fits in the first read of a small buffer; we never need more.
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).map_err(io)?;
    let head = String::from_utf8_lossy(&buf[..n]);
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/") => Ok(()),
        _ => Err(ProbeError::Status(url.to_owned(), status_line)),
    }
}
