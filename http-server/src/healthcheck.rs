//! The `healthcheck` subcommands of the service and the inbox: one HTTP probe
//! for container healthchecks.
//!
//! Their runtime images carry no curl or wget, so each binary probes itself.
//! The probe is one HTTP/1.0 GET over a plain `std` TCP socket, success when
//! the status line says 200: it needs no async runtime and no HTTP client,
//! and a healthcheck reads nothing more than that line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not an `http://HOST[:PORT][/PATH]` URL.
    #[error("unsupported URL {0:?}: expected http://HOST:PORT/PATH")]
    BadUrl(String),
    /// The host name does not resolve.
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
    /// Connecting, sending or receiving failed.
    #[error("cannot reach {0}: {1}")]
    Io(String, std::io::Error),
    /// No complete status line within the timeout.
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    /// A status other than 200 (the status line received).
    #[error("{0} answered {1:?}, expected status 200")]
    Status(String, String),
}

/// The default probe URL for a listen address: loopback, same port.
pub fn default_url(listen: SocketAddr) -> String {
    format!("http://127.0.0.1:{}/healthz", listen.port())
}

/// GETs `url` and succeeds only on HTTP status 200, all within `timeout`.
pub fn probe(url: &str, timeout: Duration) -> Result<(), ProbeError> {
    let deadline = Instant::now() + timeout;
    let (authority, path) = split_url(url)?;
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

    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ProbeError::Timeout(url.to_owned(), timeout)
        }
        _ => ProbeError::Io(url.to_owned(), e),
    };
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| ProbeError::Timeout(url.to_owned(), timeout))
    };
    let mut stream = TcpStream::connect_timeout(&addr, left()?).map_err(io)?;
    stream.set_write_timeout(Some(left()?)).map_err(io)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").map_err(io)?;

    // Read up to the end of the status line; the rest of the answer is not needed.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        stream.set_read_timeout(Some(left()?)).map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/") => Ok(()),
        _ => Err(ProbeError::Status(url.to_owned(), status_line)),
    }
}

/// `http://AUTHORITY/PATH` into its authority and path (`/` when absent).
fn split_url(url: &str) -> Result<(&str, &str), ProbeError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::BadUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(ProbeError::BadUrl(url.to_owned()));
    }
    Ok((authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:5000/healthz").unwrap(),
            ("127.0.0.1:5000", "/healthz")
        );
        assert_eq!(split_url("http://[::1]:80").unwrap(), ("[::1]:80", "/"));
        for bad in [
            "https://x/",
            "127.0.0.1:5000/healthz",
            "http:///healthz",
            "",
        ] {
            assert!(
                matches!(split_url(bad), Err(ProbeError::BadUrl(_))),
                "{bad:?} accepted"
            );
        }
    }
}
