//! The server's limits, against raw TCP clients that misbehave on purpose.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::routing::{get, post};
use http_server::{Drain, Limits, Observer, Rejection, Stopped, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// A response larger than what the socket buffers on both sides hold.
const BIG: usize = 64 << 20;

#[derive(Default)]
struct Seen(Mutex<Vec<Rejection>>);

impl Observer for Seen {
    fn rejected(&self, rejection: Rejection) {
        self.0.lock().expect("lock").push(rejection);
    }
}

struct Server {
    addr: std::net::SocketAddr,
    seen: Arc<Seen>,
    /// Fired when a `/slow` request has reached its handler.
    slow_started: Arc<tokio::sync::Notify>,
    /// Fired when a `POST /upload` handler starts reading its body.
    upload_started: Arc<tokio::sync::Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Stopped>,
}

async fn start(max_connections: usize, drain: Drain) -> Server {
    start_timed(max_connections, drain, HEADER_TIMEOUT).await
}

/// A server whose header timeout is `header_timeout` (a slow body's
/// patience is an eighth of it).
async fn start_timed(max_connections: usize, drain: Drain, header_timeout: Duration) -> Server {
    let slow_started = Arc::new(tokio::sync::Notify::new());
    let started = slow_started.clone();
    let upload_started = Arc::new(tokio::sync::Notify::new());
    let reading = upload_started.clone();
    let slow_upload = slow_started.clone();
    let router = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(move || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/upload",
            post(move |query: RawQuery, body: Body| async move {
                reading.notify_one();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .map_or(0, |b| b.len());
                if query.0.as_deref() == Some("then=slow") {
                    slow_upload.notify_one();
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                bytes.to_string()
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = Limits {
        header_timeout,
        max_head_bytes: 8192,
        max_connections,
    };
    let observer: Arc<dyn Observer> = seen.clone();
    let task = tokio::spawn(serve(
        listener,
        router,
        limits,
        drain,
        async move {
            let _ = stopped.await;
        },
        observer,
    ));
    Server {
        addr,
        seen,
        slow_started,
        upload_started,
        stop: Some(stop),
        task,
    }
}

/// A connection whose `GET /slow` is running in its handler.
async fn slow_request_running(server: &Server) -> TcpStream {
    let stream = connect_and_send(server.addr, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await;
    server.slow_started.notified().await;
    stream
}

/// `count` connections whose upload handler runs and waits for the rest of
/// a 1000-byte body that never comes.
async fn stalled_uploads(server: &Server, count: usize) -> Vec<TcpStream> {
    let mut stalled = Vec::new();
    for _ in 0..count {
        let stream = connect_and_send(
            server.addr,
            b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{",
        )
        .await;
        server.upload_started.notified().await;
        stalled.push(stream);
    }
    stalled
}

const QUICK: Drain = Drain {
    lame_duck: Duration::from_millis(50),
    grace: Duration::from_secs(2),
};

/// A connection to `addr` that has sent `bytes`.
async fn connect_and_send(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// Sends `request` and reads until the server closes or `limit` passes.
async fn exchange(stream: &mut TcpStream, request: &[u8], limit: Duration) -> String {
    stream.write_all(request).await.expect("write");
    read_until_closed(stream, limit).await
}

async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn get_ok(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let server = start(100, QUICK).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let answer = read_until_closed(&mut silent, Duration::from_secs(3)).await;
    let waited = started.elapsed();
    assert!(answer.is_empty(), "{answer}");
    assert!(
        waited >= HEADER_TIMEOUT && waited < HEADER_TIMEOUT * 3,
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn a_slow_header_is_cut_off_and_reported() {
    let server = start(100, QUICK).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    let started = Instant::now();
    // One header line every 100 ms never completes the head in time.
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"x-slow: 1\r\n").await.is_err()
            || started.elapsed() > Duration::from_secs(3)
        {
            break started.elapsed();
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            break started.elapsed();
        }
    };
    assert!(
        closed < Duration::from_secs(2),
        "still open after {closed:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while !server
        .seen
        .0
        .lock()
        .expect("lock")
        .contains(&Rejection::HeadTimeout)
    {
        assert!(Instant::now() < deadline, "no HeadTimeout reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(100, QUICK).await;
    let mut client = connect_and_send(server.addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let answer = read_until_closed(&mut client, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_closed() {
    let server = start(100, QUICK).await;
    let mut client = connect_and_send(server.addr, b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n").await;
    // The server's writes stall once the buffers are full; after the
    // header timeout without progress it closes the connection, and what
    // was sent before is all there is to read.
    tokio::time::sleep(HEADER_TIMEOUT * 4).await;
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "still open after 10 s");
    assert!(received.len() < BIG, "the whole response arrived");
}

#[tokio::test]
async fn at_the_cap_a_client_that_pipelines_without_reading_makes_room() {
    let server = start(1, QUICK).await;
    let _stuck = connect_and_send(
        server.addr,
        &b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n".repeat(4),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = get_ok(server.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn at_the_cap_silent_connections_make_room_for_a_real_client() {
    let server = start(8, QUICK).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        let stream = connect_and_send(server.addr, b"GET / HTTP/1.1\r\n").await;
        silent.push(stream);
    }
    let started = Instant::now();
    let answer = get_ok(server.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn at_the_cap_stalled_uploads_make_room_for_a_real_client() {
    let server = start(4, QUICK).await;
    let _stalled = stalled_uploads(&server, 4).await;
    // Let in once the uploads have waited an eighth of the header timeout.
    let answer = get_ok(server.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn at_the_cap_a_new_client_keeps_its_place_over_stalled_uploads() {
    // A patience of 1 s: the client below stays that recent however slowly
    // this test runs.
    const TIMEOUT: Duration = Duration::from_secs(8);
    let server = start_timed(4, QUICK, TIMEOUT).await;
    let _stalled = stalled_uploads(&server, 4).await;
    // Past the patience: every upload is slow.
    tokio::time::sleep(TIMEOUT / 8 + Duration::from_millis(200)).await;
    // A client whose head is still on its way, then another connection: the
    // second takes a stalled upload's place, not the first client's.
    let mut client = TcpStream::connect(server.addr).await.expect("connect");
    let _next = TcpStream::connect(server.addr).await.expect("connect");
    let answer = exchange(
        &mut client,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn at_the_cap_an_upload_read_whole_is_not_cut() {
    let server = start(1, QUICK).await;
    let mut upload = connect_and_send(
        server.addr,
        b"POST /upload?then=slow HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{",
    )
    .await;
    // Its handler waits for the second byte, then gets it.
    server.upload_started.notified().await;
    upload.write_all(b"}").await.expect("write");
    // The body is read; the handler goes on running, a busy request.
    server.slow_started.notified().await;
    // A new client at the cap: it gets no place (and is closed) rather
    // than the upload's.
    let probe = tokio::spawn(get_ok(server.addr));
    let answer = read_until_closed(&mut upload, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n2"), "{answer}");
    probe.await.expect("probe");
}

#[tokio::test]
async fn hyper_level_rejections_are_answered_and_reported() {
    let server = start(100, QUICK).await;
    let cases: [(&[u8], &str, Rejection); 3] = [
        (
            b"NOT HTTP AT ALL\r\n\r\n",
            "HTTP/1.1 400",
            Rejection::BadRequest,
        ),
        (
            &[
                b"GET /".as_slice(),
                &[b'a'; 70_000],
                b" HTTP/1.1\r\nhost: x\r\n\r\n",
            ]
            .concat(),
            // Longer than the head limit: that limit answers first.
            "HTTP/1.1 431",
            Rejection::HeadTooLarge,
        ),
        (
            &[
                b"GET / HTTP/1.1\r\nx-big: ".as_slice(),
                &[b'a'; 20_000],
                b"\r\n\r\n",
            ]
            .concat(),
            "HTTP/1.1 431",
            Rejection::HeadTooLarge,
        ),
    ];
    let mut expected = Vec::new();
    for (request, status, rejection) in cases {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let answer = exchange(&mut stream, request, Duration::from_secs(2)).await;
        assert!(answer.starts_with(status), "{rejection:?}: {answer:?}");
        expected.push(rejection);
    }
    // hyper answers an HTTP/2 preface with nothing.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let answer = exchange(&mut stream, preface, Duration::from_secs(2)).await;
    assert_eq!(answer, "");
    expected.push(Rejection::Http2Preface);
    let stream = connect_and_send(server.addr, b"GET / HTTP/1.1\r\nhost: x\r\nx-half").await;
    drop(stream);
    expected.push(Rejection::ClientClosed);
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut seen = server.seen.0.lock().expect("lock").clone();
        seen.sort();
        if expected.iter().all(|r| seen.contains(r)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reported {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_the_stop() {
    let mut server = start(100, QUICK).await;
    let _silent = TcpStream::connect(server.addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let _ = server.stop.take().map(|stop| stop.send(()));
    let stopped = server.task.await.expect("serve");
    assert_eq!(stopped, Stopped { unfinished: 0 });
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_head_still_trickling_in_does_not_hold_up_the_stop() {
    let drain = Drain {
        lame_duck: Duration::ZERO,
        grace: Duration::from_secs(10),
    };
    let mut server = start(100, drain).await;
    let _trickling = connect_and_send(server.addr, b"GET / HTTP/1.1\r\nhost").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let _ = server.stop.take().map(|stop| stop.send(()));
    let stopped = server.task.await.expect("serve");
    assert_eq!(stopped, Stopped { unfinished: 0 });
    assert!(
        started.elapsed() < HEADER_TIMEOUT * 3,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn during_the_drain_requests_finish_and_clients_are_told_to_close() {
    let drain = Drain {
        lame_duck: Duration::from_millis(300),
        grace: Duration::from_secs(2),
    };
    let mut server = start(100, drain).await;
    let mut running = slow_request_running(&server).await;
    let _ = server.stop.take().map(|stop| stop.send(()));
    // In the lame-duck period new connections are still served.
    let answer = get_ok(server.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let slow = read_until_closed(&mut running, Duration::from_secs(2)).await;
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    assert!(
        slow.to_ascii_lowercase().contains("connection: close"),
        "{slow}"
    );
    assert_eq!(server.task.await.expect("serve"), Stopped { unfinished: 0 });
}

#[tokio::test]
async fn requests_still_running_at_the_end_of_the_grace_are_counted() {
    let drain = Drain {
        lame_duck: Duration::ZERO,
        grace: Duration::from_millis(100),
    };
    let mut server = start(100, drain).await;
    let _running = slow_request_running(&server).await;
    let _ = server.stop.take().map(|stop| stop.send(()));
    assert_eq!(server.task.await.expect("serve"), Stopped { unfinished: 1 });
}
