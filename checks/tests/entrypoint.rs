//! The compose entry point (`entrypoint/nginx.conf`) run by a real nginx in
//! front of the real service: it proxies, keeps `/metrics` off the public
//! port, and drops slow and idle clients as soon as the service would.
//!
//! Compose runs nginx 1.28.0, which cannot be built here; this runs Debian's
//! nginx (1.22), where every directive of the file means the same. Only what
//! Docker provides is replaced: the listen address, the replica's address
//! (Docker's DNS) and the paths nginx writes to.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checks::compose::services;
use checks::files::{load_yaml, read};
use checks::repo_root;

/// The service's `--header-timeout`, which nginx's timeouts match.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Kills the process when dropped, also when the test panics.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn nginx() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|path| path.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|path| path.is_file()))
        .expect(
            "nginx is missing: ./scripts/test installs it (sudo apt-get install -y --no-install-recommends nginx)",
        )
}

/// The service binary, built if `cargo test` has not built it already.
fn service_binary() -> PathBuf {
    let root = repo_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("debug/service");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "service", "--bin", "service"])
        .current_dir(&root)
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build -p service failed");
    binary
}

/// `text` with `old` replaced by `new`, which must occur exactly once.
fn replace_once(text: &str, old: &str, new: &str) -> String {
    assert_eq!(
        text.matches(old).count(),
        1,
        "nginx.conf should hold {old:?} once"
    );
    text.replacen(old, new, 1)
}

/// The entry point's config with only Docker's parts replaced.
fn local_config(dir: &Path, listen: SocketAddr, replica: SocketAddr) -> String {
    let text = read(&repo_root().join("entrypoint/nginx.conf")).unwrap_or_else(|e| panic!("{e}"));
    let text = replace_once(&text, "listen 5000;", &format!("listen {listen};"));
    let text = replace_once(
        &text,
        "set $replicas service:5000;",
        &format!("set $replicas {replica};"),
    );
    let d = dir.display();
    let paths = format!(
        "http {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
    );
    let text = replace_once(&text, "http {\n", &paths);
    format!("pid {d}/nginx.pid;\n{text}")
}

/// Sends `request` and returns the whole answer (the request asks to close).
fn exchange(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
}

/// How long the server keeps `stream` open without a byte from the client
/// (after what was already sent), at most `limit`, and what it sent.
fn held_open(mut stream: TcpStream, limit: Duration) -> (Duration, String) {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return (start.elapsed(), String::from_utf8_lossy(&received).into()),
            // A response to a complete request: keep waiting for the close.
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[test]
fn the_entry_point_proxies_hides_metrics_and_drops_slow_clients() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let _service = Running(
        Command::new(service_binary())
            .args(["--listen", &replica.to_string(), "--telemetry", "off"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the service"),
    );
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let config = dir.path().join("nginx.conf");
    std::fs::write(&config, local_config(dir.path(), listen, replica)).expect("write config");
    let _nginx = Running(
        Command::new(nginx())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config)
            // One process, so killing it stops nginx whole.
            .args(["-e", "stderr", "-g", "daemon off; master_process off;"])
            .spawn()
            .expect("start nginx"),
    );

    // Through nginx to the service, once both listen.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match get(listen, "/healthz") {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => break,
            other => assert!(
                Instant::now() < deadline,
                "no healthy answer through nginx: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let direct = get(replica, "/metrics").expect("the service's /metrics");
    assert!(direct.starts_with("HTTP/1.1 200"), "{direct}");
    let public = get(listen, "/metrics").expect("/metrics through nginx");
    assert!(public.starts_with("HTTP/1.1 404"), "{public}");
    assert!(!public.contains("http_server_requests_total"), "{public}");

    // A head that never ends, and a keep-alive connection left idle after
    // its answer: both are closed after the service's header timeout, not
    // nginx's defaults (60 s and 75 s).
    let mut slow = TcpStream::connect(listen).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .expect("partial head");
    let mut idle = TcpStream::connect(listen).expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .expect("request");
    let limit = HEADER_TIMEOUT * 3;
    let idle = std::thread::spawn(move || held_open(idle, limit));
    let (slow, _) = held_open(slow, limit);
    let (idle, answer) = idle.join().expect("idle client");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the idle client's answer: {answer}"
    );
    for (what, held) in [("a slow head", slow), ("an idle connection", idle)] {
        // Closed for the timeout, not for some error at once.
        assert!(
            held > HEADER_TIMEOUT - Duration::from_secs(2)
                && held < HEADER_TIMEOUT + Duration::from_secs(5),
            "nginx held {what} open for {held:?}"
        );
    }
}

/// nginx asks for as many open files as compose grants its container.
#[test]
fn compose_grants_the_open_files_nginx_asks_for() {
    let text = read(&repo_root().join("entrypoint/nginx.conf")).unwrap_or_else(|e| panic!("{e}"));
    let asked: u64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("worker_rlimit_nofile "))
        .and_then(|value| value.trim_end_matches(';').parse().ok())
        .expect("worker_rlimit_nofile in nginx.conf");
    let compose = load_yaml(&repo_root().join("compose.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let granted = services(&compose)["entrypoint"]["ulimits"]["nofile"].as_u64();
    assert_eq!(
        granted,
        Some(asked),
        "compose.yaml's entrypoint ulimits.nofile"
    );
}
