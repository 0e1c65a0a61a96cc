//! Slow, idle, abusive and departing clients against the real `service`
//! binary: the limits of the `http-server` crate as the service configures
//! them, what they cost in memory, and what is counted.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::{
    HttpClient, ServiceProcess, eventually, label_key, parse_exposition, raise_open_files,
};

/// Reads until the peer closes or `limit` passes; `true` when it closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// One `GET path` on a new connection; the status line, if any came in time.
async fn probe(addr: SocketAddr, path: &str, limit: Duration) -> Option<String> {
    tokio::time::timeout(limit, async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.lines().next().map(str::to_owned)
    })
    .await
    .ok()
    .flatten()
}

/// Acceptance 1: 1,100 connections that each send one header line, against
/// a service limited to 1,024 open files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_flood_neither_locks_out_a_probe_nor_lingers() {
    assert!(
        raise_open_files() >= 1400,
        "this test needs `ulimit -Hn` of 1400 or more"
    );
    let header_timeout = Duration::from_secs(3);
    let service = ServiceProcess::start_with_open_files(
        &["--telemetry", "metrics", "--header-timeout", "3s"],
        1024,
    );
    let attack_started = Instant::now();
    let mut attack = Vec::new();
    for _ in 0..1100 {
        let mut stream = TcpStream::connect(service.addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        attack.push(stream);
    }
    for _ in 0..5 {
        let started = Instant::now();
        let status = probe(service.addr, "/healthz", Duration::from_secs(1)).await;
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 200 OK"),
            "probe during the flood after {:?}",
            started.elapsed()
        );
    }
    let limit = header_timeout + Duration::from_secs(1);
    let waits = attack
        .into_iter()
        .map(|mut stream| tokio::spawn(async move { closed_within(&mut stream, limit).await }));
    let mut open = 0;
    for wait in waits {
        if !wait.await.expect("join") {
            open += 1;
        }
    }
    assert_eq!(
        open,
        0,
        "attack connections still open {:?} after the flood began",
        attack_started.elapsed()
    );
}

/// Acceptance 2: heads that never end and idle keep-alive connections cost
/// bounded memory, given back once they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_big_heads_and_idle_connections() {
    const PEAK_BOUND_KIB: u64 = 64 * 1024;
    let files = raise_open_files();
    assert!(
        files >= 11_000,
        "this test needs `ulimit -Hn` of 11000 or more, not {files}"
    );
    let service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let client = HttpClient::new();
    for _ in 0..20 {
        assert_eq!(client.get(&service.url("/api/items")).await.status, 200);
    }
    let start_kib = service.memory_kib("VmRSS");

    let header = vec![b'a'; 400 * 1024];
    let mut big = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(service.addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: t\r\nx-big: ")
            .await
            .expect("write");
        big.push(stream);
    }
    let writes = big.into_iter().map(|mut stream| {
        let header = header.clone();
        // The service answers 431 and closes once its 16 KiB are full.
        tokio::spawn(async move {
            let _ = stream.write_all(&header).await;
        })
    });
    for write in writes {
        write.await.expect("join");
    }
    let big_peak = service.memory_kib("VmHWM");

    let mut idle = Vec::new();
    for _ in 0..10_000 {
        let mut stream = TcpStream::connect(service.addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .expect("write");
        idle.push(stream);
    }
    let idle_peak = service.memory_kib("VmHWM");
    drop(idle);
    let settled = eventually(Duration::from_secs(15), "memory given back", || {
        let now = service.memory_kib("VmRSS");
        (now < start_kib + 16 * 1024).then_some(now)
    })
    .await;
    println!(
        "service RSS: {start_kib} KiB at start; peak {big_peak} KiB after 1,000 unfinished \
         400 KB heads, {idle_peak} KiB after 10,000 idle connections; {settled} KiB after they closed"
    );
    assert!(idle_peak < PEAK_BOUND_KIB, "peak {idle_peak} KiB");
}

/// One keep-alive client until the listener closes: requests without a
/// response are counted in `lost`.
async fn keep_alive_client(addr: SocketAddr, answered: Arc<AtomicU64>, lost: Arc<AtomicU64>) {
    let request = b"GET /api/items/1 HTTP/1.1\r\nhost: t\r\n\r\n";
    'connections: loop {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            return;
        };
        loop {
            if stream.write_all(request).await.is_err() {
                lost.fetch_add(1, Ordering::Relaxed);
                continue 'connections;
            }
            match read_response(&mut stream).await {
                Some(close) => {
                    answered.fetch_add(1, Ordering::Relaxed);
                    if close {
                        continue 'connections;
                    }
                }
                None => {
                    lost.fetch_add(1, Ordering::Relaxed);
                    continue 'connections;
                }
            }
        }
    }
}

/// Reads one response; `Some(close)` with whether the server said
/// `Connection: close`, `None` when the connection ended first.
async fn read_response(stream: &mut TcpStream) -> Option<bool> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())?;
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Some(head.contains("connection: close"));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Acceptance 3: SIGTERM under keep-alive load, ten times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_keep_alive_load_answers_and_counts_every_request() {
    raise_open_files();
    for round in 0..10 {
        let mut service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
        let answered = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..64)
            .map(|_| {
                tokio::spawn(keep_alive_client(
                    service.addr,
                    answered.clone(),
                    lost.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        service.signal(libc::SIGTERM);
        let (status, took) = service.wait_exit(Duration::from_secs(12));
        for client in clients {
            client.await.expect("client");
        }
        assert!(status.success(), "round {round}: {status}");
        let answered = answered.load(Ordering::Relaxed);
        assert_eq!(
            lost.load(Ordering::Relaxed),
            0,
            "round {round}: {answered} answered"
        );
        let logged = service
            .output()
            .iter()
            .filter(|line| line.contains("request finished") && line.contains("/api/items/{id}"))
            .count() as u64;
        assert_eq!(
            logged, answered,
            "round {round}: every answered request recorded"
        );
        assert!(
            took < Duration::from_secs(3),
            "round {round}: exit took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_does_not_delay_the_exit() {
    let mut service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let _silent = TcpStream::connect(service.addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    service.signal(libc::SIGTERM);
    let (status, took) = service.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    assert!(
        !service
            .output()
            .iter()
            .any(|line| line.contains("dropping")),
        "no request was running: {:?}",
        service.output()
    );
}

/// The `http_server_requests_total` samples, by label set.
async fn request_series(
    client: &HttpClient,
    service: &ServiceProcess,
) -> Vec<(Vec<(String, String)>, f64)> {
    let text = client.get(&service.url("/metrics")).await.text();
    parse_exposition(&text)
        .into_iter()
        .filter(|s| s.name == "http_server_requests_total")
        .map(|s| (label_key(&s, &[]), s.value))
        .collect()
}

/// Acceptance 5: hyper's own rejections and client hang-ups are counted,
/// with labels from a closed set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_abandoned_requests_are_counted_with_bounded_labels() {
    let service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let client = HttpClient::new();
    let raw = |bytes: Vec<u8>| async move {
        let mut stream = TcpStream::connect(service.addr).await.expect("connect");
        let _ = stream.write_all(&bytes).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut sink)).await;
        String::from_utf8_lossy(&sink).into_owned()
    };
    assert!(
        raw(b"BROKEN\r\n\r\n".to_vec())
            .await
            .starts_with("HTTP/1.1 400")
    );
    let big = [
        b"GET / HTTP/1.1\r\nx-big: ".as_slice(),
        &[b'a'; 20_000],
        b"\r\n\r\n",
    ]
    .concat();
    assert!(raw(big).await.starts_with("HTTP/1.1 431"));
    let mut half = TcpStream::connect(service.addr).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\nhost")
        .await
        .expect("write");
    drop(half);
    let mut leaving = TcpStream::connect(service.addr).await.expect("connect");
    leaving
        .write_all(b"GET /api/work?ms=3000 HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(leaving);

    let has = |series: &[(Vec<(String, String)>, f64)], error: &str, status: Option<&str>| {
        series.iter().any(|(labels, value)| {
            let get = |key: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            *value >= 1.0
                && get("error_type") == Some(error)
                && get("http_response_status_code") == status
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let series = request_series(&client, &service).await;
        if has(&series, "bad_request", Some("400"))
            && has(&series, "head_too_large", Some("431"))
            && has(&series, "client_closed", None)
            && series.iter().any(|(labels, _)| {
                labels.contains(&("http_route".into(), "/api/work".into()))
                    && labels.contains(&("error_type".into(), "client_closed".into()))
            })
        {
            break;
        }
        assert!(Instant::now() < deadline, "not counted: {series:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let before: BTreeSet<_> = request_series(&client, &service)
        .await
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    let mut rng = rand::rng();
    for _ in 0..5000 {
        let mut garbage: Vec<u8> = (0..rng.random_range(1..200))
            .map(|_| rng.random())
            .collect();
        garbage.extend_from_slice(b"\r\n\r\n");
        let mut stream = TcpStream::connect(service.addr).await.expect("connect");
        let _ = stream.write_all(&garbage).await;
    }
    let after: BTreeSet<_> = request_series(&client, &service)
        .await
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    let added: Vec<_> = after.difference(&before).collect();
    assert!(
        added.len() <= 4,
        "5,000 random requests added series {added:?}"
    );
}

/// The request timeout: a request whose body trickles in is answered 408
/// once the timeout passes, and counted under its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_is_answered_408_and_counted() {
    let timeout = Duration::from_secs(1);
    let service =
        ServiceProcess::start(&["--telemetry", "metrics", "--request-timeout", "1s"], &[]);
    let mut stream = TcpStream::connect(service.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /api/items HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"na",
        )
        .await
        .expect("write");
    let sent = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(2).any(|pair| pair == b"\r\n") {
        match tokio::time::timeout(timeout * 5, stream.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => answer.extend_from_slice(&buffer[..read]),
            other => panic!("no status line within 5 s: {other:?}"),
        }
    }
    let waited = sent.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        waited >= timeout && waited < timeout * 3,
        "answered after {waited:?}"
    );

    let client = HttpClient::new();
    let series = request_series(&client, &service).await;
    let counted = series.iter().any(|(labels, value)| {
        *value == 1.0
            && [
                ("http_request_method", "POST"),
                ("http_route", "/api/items"),
                ("http_response_status_code", "408"),
            ]
            .iter()
            .all(|(key, want)| labels.contains(&((*key).to_owned(), (*want).to_owned())))
    });
    assert!(counted, "{series:?}");
}

/// `POST /api/items` on a new connection, with the head and the first body
/// byte sent, `length` bytes announced.
async fn upload_started(addr: SocketAddr, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let head = format!(
        "POST /api/items HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

/// A body sent a byte per packet costs memory in proportion to its size,
/// not to its packets: every byte hyper reads arrives as a slice of its
/// read buffer, which would keep kilobytes alive per byte until the body
/// ends (the `http-server` crate gathers them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_per_packet_costs_its_size() {
    const UPLOADS: usize = 16;
    const BYTES: usize = 2000;
    let service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let client = HttpClient::new();
    assert_eq!(client.get(&service.url("/api/items")).await.status, 200);
    let start_kib = service.memory_kib("VmRSS");
    let drips: Vec<_> = (0..UPLOADS)
        .map(|_| {
            let addr = service.addr;
            tokio::spawn(async move {
                // Announced one byte more than sent: the bodies stay unfinished.
                let mut stream = upload_started(addr, BYTES + 2).await;
                for _ in 0..BYTES {
                    stream.write_all(b" ").await.expect("write");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                stream
            })
        })
        .collect();
    let mut held = Vec::new();
    for drip in drips {
        held.push(drip.await.expect("join"));
    }
    let grown = service.memory_kib("VmRSS").saturating_sub(start_kib);
    println!(
        "service RSS grew {grown} KiB for {UPLOADS} bodies of {BYTES} bytes sent a byte per packet"
    );
    // 32,000 bytes in all; kilobytes per byte would be over 100 MiB.
    assert!(grown < 4 * 1024, "RSS grew {grown} KiB");
}

/// At the connection cap, uploads whose bytes keep trickling in (a byte
/// every 200 ms, never idle long enough to look stalled) make room for
/// new clients instead of locking them out until the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_trickling_uploads_make_room_for_a_probe() {
    const CAP: usize = 32;
    let service = ServiceProcess::start(
        &[
            "--telemetry",
            "metrics",
            "--max-connections",
            "32",
            "--header-timeout",
            "2s",
        ],
        &[],
    );
    let mut uploads = Vec::new();
    for _ in 0..CAP {
        uploads.push(upload_started(service.addr, 1000).await);
    }
    let drip = tokio::spawn(async move {
        loop {
            for stream in &mut uploads {
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // An eighth of the header timeout, and a little more.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..3 {
        let status = probe(service.addr, "/healthz", Duration::from_secs(2)).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    }
    drip.abort();
}

/// A client that closes its connection in the middle of its body gets no
/// answer, so none is counted: the request counts as `client_closed` under
/// its route, not as the 400 the handler would have answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_in_the_middle_of_its_body_is_counted_as_gone() {
    let service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let client = HttpClient::new();
    let leaving = upload_started(service.addr, 100).await;
    // The handler starts reading the body and waits for the rest.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(leaving);
    let on_items = |labels: &Vec<(String, String)>, key: &str, value: &str| {
        labels.contains(&("http_route".into(), "/api/items".into()))
            && labels.contains(&(key.into(), value.into()))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let series = request_series(&client, &service).await;
        if series
            .iter()
            .any(|(labels, _)| on_items(labels, "error_type", "client_closed"))
        {
            assert!(
                !series.iter().any(|(labels, _)| on_items(
                    labels,
                    "http_response_status_code",
                    "400"
                )),
                "{series:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not counted: {series:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
