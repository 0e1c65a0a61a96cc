//! The healthcheck probe against real listeners on port 0.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use http_server::healthcheck::{ProbeError, probe};

const TIMEOUT: Duration = Duration::from_secs(3);

/// Serves one connection: reads the request head, then writes `answer` in
/// the given pieces. Returns the probe URL and the request received.
fn answer_once(pieces: &'static [&'static str]) -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://{}/healthz", listener.local_addr().expect("addr"));
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut buf).expect("read request");
            assert!(n > 0, "request head incomplete");
            request.extend_from_slice(&buf[..n]);
        }
        for piece in pieces {
            stream.write_all(piece.as_bytes()).expect("write answer");
            stream.flush().expect("flush");
            thread::sleep(Duration::from_millis(20));
        }
        String::from_utf8(request).expect("utf-8 request")
    });
    (url, server)
}

#[test]
fn a_200_passes() {
    let (url, server) = answer_once(&["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]);
    probe(&url, TIMEOUT).expect("200 passes");
    let request = server.join().expect("server");
    assert!(
        request.starts_with("GET /healthz HTTP/1.0\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
}

#[test]
fn a_status_line_in_pieces_is_read_whole() {
    let (url, server) = answer_once(&["HTTP/1.1 2", "00 OK\r\n\r\n"]);
    probe(&url, TIMEOUT).expect("200 passes");
    server.join().expect("server");
}

#[test]
fn a_503_fails_and_names_the_status() {
    let (url, server) =
        answer_once(&["HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"]);
    let error = probe(&url, TIMEOUT).expect_err("503 fails");
    assert!(matches!(error, ProbeError::Status(..)), "{error:?}");
    assert!(error.to_string().contains("503"), "{error}");
    server.join().expect("server");
}

#[test]
fn an_unreachable_port_fails() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://{}/healthz", closed.local_addr().expect("addr"));
    drop(closed);
    let error = probe(&url, TIMEOUT).expect_err("nothing listens");
    assert!(matches!(error, ProbeError::Io(..)), "{error:?}");
}

#[test]
fn a_silent_server_fails_within_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://{}/healthz", listener.local_addr().expect("addr"));
    let started = Instant::now();
    let error = probe(&url, Duration::from_millis(300)).expect_err("no answer");
    assert!(matches!(error, ProbeError::Timeout(..)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn a_bad_url_fails_before_connecting() {
    for url in [
        "https://127.0.0.1:1/healthz",
        "127.0.0.1:1/healthz",
        "http:///healthz",
    ] {
        let error = probe(url, TIMEOUT).expect_err(url);
        assert!(matches!(error, ProbeError::BadUrl(_)), "{url}: {error:?}");
    }
}
