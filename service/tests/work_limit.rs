//! The limit on concurrent `GET /api/work` waits: beyond it a wait is
//! answered 429 at once, so clients that loop on long waits cannot fill the
//! connection cap with running requests and lock everyone else out.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::{HttpClient, TestServer};
use service::{ServeConfig, TelemetryMode};

const LONG_WAIT: &[u8] = b"GET /api/work?ms=10000 HTTP/1.1\r\nHost: test\r\n\r\n";

/// Opens a connection and asks for a long wait on it.
async fn ask_for_a_long_wait(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(LONG_WAIT).await.expect("send");
    stream
}

/// The status of the answer on `stream`, if one comes within `limit`.
async fn status_within(stream: &mut TcpStream, limit: Duration) -> Option<u16> {
    let mut head = [0; 12];
    tokio::time::timeout(limit, stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_beyond_the_limit_are_refused_and_cannot_fill_the_connection_cap() {
    let server = TestServer::start(ServeConfig {
        telemetry: TelemetryMode::Metrics,
        max_connections: 8,
        // The default: half the connection cap.
        ..ServeConfig::default()
    })
    .await;

    // Four waits take the four slots, one after another so that which ones
    // run is known; each of the next four is refused at once.
    let mut running = Vec::new();
    for _ in 0..4 {
        let mut stream = ask_for_a_long_wait(&server).await;
        assert_eq!(
            status_within(&mut stream, Duration::from_millis(300)).await,
            None
        );
        running.push(stream);
    }
    let mut refused = Vec::new();
    for _ in 0..4 {
        let mut stream = ask_for_a_long_wait(&server).await;
        assert_eq!(
            status_within(&mut stream, Duration::from_secs(5)).await,
            Some(429)
        );
        refused.push(stream);
    }

    // Eight connections are open, the cap: a new client still gets in, in
    // place of a refused (idle) one, and its answer names the limit.
    let client = HttpClient::new();
    let health = tokio::time::timeout(Duration::from_secs(5), client.get(&server.url("/healthz")))
        .await
        .expect("a new client is answered at the connection cap");
    assert_eq!(health.status, 200);
    let probe = client.get(&server.url("/api/work?ms=0")).await;
    probe.assert_json_error(429, "too_many_requests");
    assert!(
        probe.message().contains("4 /api/work waits"),
        "{}",
        probe.message()
    );

    // A client that leaves gives its slot back.
    running.pop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = client.get(&server.url("/api/work?ms=0")).await;
        if reply.status == 200 {
            assert_eq!(reply.json()["waited_ms"], 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slot came free: {} {}",
            reply.status,
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((running, refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_follows_max_work_waits() {
    let server = TestServer::start(ServeConfig {
        telemetry: TelemetryMode::Metrics,
        max_work_waits: Some(1),
        ..ServeConfig::default()
    })
    .await;
    let mut running = ask_for_a_long_wait(&server).await;
    assert_eq!(
        status_within(&mut running, Duration::from_millis(300)).await,
        None
    );
    let refused = HttpClient::new().get(&server.url("/api/work?ms=0")).await;
    refused.assert_json_error(429, "too_many_requests");
    assert!(
        refused.message().contains("1 /api/work waits"),
        "{}",
        refused.message()
    );
}
