//! Helpers shared by the integration tests: an in-process server on port 0,
//! a pooled HTTP client, a Prometheus exposition parser, a guard for the
//! real binary; the OTLP/gRPC trace receiver comes from `test-support`.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use service::ServeConfig;
use tokio::sync::oneshot;

/// An in-process service on `127.0.0.1:<free port>`, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(config: ServeConfig) -> Self {
        let app = service::app(&config, &service::Telemetry::default()).expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let signal = async move {
                let _ = stopped.await;
            };
            let config = ServeConfig {
                shutdown_grace: Duration::from_secs(5),
                ..config
            };
            service::serve(listener, app, signal, &config).await;
        });
        Self {
            addr,
            stop: Some(stop),
        }
    }

    /// Metrics on, no spans (in-process tests have no tracing subscriber).
    pub async fn with_metrics() -> Self {
        let config = ServeConfig {
            telemetry: service::TelemetryMode::Metrics,
            ..ServeConfig::default()
        };
        Self::start(config).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.text()))
    }

    /// The `message` of a JSON error body ("" when there is none).
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a JSON error body with this status and `error` code.
    pub fn assert_json_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        let content_type = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type:?}"
        );
        let body = self.json();
        assert_eq!(body["error"], code, "body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {body}"
        );
    }
}

/// A pooled HTTP/1 client for the tests.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(128)
            .build_http();
        Self { inner }
    }

    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Reply {
        let uri = request.uri().clone();
        let response = tokio::time::timeout(Duration::from_secs(30), self.inner.request(request))
            .await
            .unwrap_or_else(|_| panic!("no answer from {uri} within 30s"))
            .unwrap_or_else(|err| panic!("request to {uri} failed: {err}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|err| panic!("reading body of {uri} failed: {err}"))
            .to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn request(&self, method: &str, url: &str, body: Option<(&str, &[u8])>) -> Reply {
        let mut builder = http::Request::builder()
            .method(http::Method::from_bytes(method.as_bytes()).expect("valid method"))
            .uri(url);
        let body = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                Full::new(Bytes::copy_from_slice(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        self.send(builder.body(body).expect("valid request")).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.request("GET", url, None).await
    }
}

/// One sample line of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (0.0.4): comments, label sets with
/// escaped values (`\\`, `\"`, `\n`), values including `+Inf`/`NaN`.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|err| panic!("{err}: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if rest.starts_with('{') {
        rest = &rest[1..];
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let key = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            rest = &rest[end + 1..];
            labels.insert(key, value);
        }
    }
    let value_text = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().map_err(|_| "bad value")?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// The label set as a sorted `(key, value)` list, handy as a map key.
pub fn label_key(sample: &Sample, skip: &[&str]) -> Vec<(String, String)> {
    sample
        .labels
        .iter()
        .filter(|(key, _)| !skip.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The real `service` binary, killed on drop (also when a test panics).
pub struct ServiceProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Every stdout line so far (filled by a reader thread).
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Every stderr line (panics land there), also echoed, and the thread
    /// that reads them.
    errors: Arc<Mutex<Vec<String>>>,
    error_reader: Option<std::thread::JoinHandle<()>>,
}

/// `service ARGS` with `envs`, listening on a free loopback port unless
/// told otherwise. Hermetic: `SERVICE_*`, `OTEL_*` and `RUST_LOG` from the
/// developer's or CI's environment must not change what a test starts.
pub fn service_command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_service"));
    command.args(args).env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("SERVICE_") || key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command.env("SERVICE_LISTEN", "127.0.0.1:0");
    for (key, value) in envs {
        command.env(key, value);
    }
    command
}

/// Runs [`service_command`] to its exit, for settings that must stop it at
/// startup; kills it and panics if it is still running after `limit`.
pub fn run_to_exit(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = service_command(args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the service binary");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "service {args:?} {envs:?} still running after {limit:?}: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

impl ServiceProcess {
    /// Starts [`service_command`] and waits (up to 20 s) for its
    /// `listening on ADDR` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_command(service_command(args, envs))
    }

    /// Like [`ServiceProcess::start`], with at most `files` open files
    /// (`ulimit -n`), soft and hard.
    pub fn start_with_open_files(args: &[&str], files: u64) -> Self {
        use std::os::unix::process::CommandExt as _;
        let mut command = service_command(args, &[]);
        // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: files,
                    rlim_max: files,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::start_command(command)
    }

    fn start_command(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn the service binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let errors = Arc::new(Mutex::new(Vec::new()));
        let error_sink = errors.clone();
        let error_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                error_sink.lock().expect("errors lock").push(line);
            }
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (found_tx, found_rx) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("listening on ")
                    .nth(1)
                    .map(|rest| {
                        let end = rest
                            .find(|c: char| !(c.is_ascii_hexdigit() || ".:[]".contains(c)))
                            .unwrap_or(rest.len());
                        &rest[..end]
                    })
                    .and_then(|addr| addr.parse::<SocketAddr>().ok())
                {
                    let _ = found_tx.send(addr);
                }
                sink.lock().expect("lines lock").push(line);
            }
        });
        let mut process = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            errors,
            error_reader: Some(error_reader),
        };
        match found_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => process.addr = addr,
            Err(_) => panic!(
                "service did not log `listening on` within 20s; output: {:?}",
                process.lines.lock().expect("lines lock")
            ),
        }
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of our own child has no memory effects.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits for exit up to `limit`; panics (and the guard kills) on overrun.
    pub fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "service did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }

    /// Every stderr line of a service that has exited ([`Self::wait_exit`]).
    pub fn stderr(&mut self) -> Vec<String> {
        if let Some(reader) = self.error_reader.take() {
            // The pipe closed with the process: the reader is at its end.
            reader.join().expect("stderr reader");
        }
        self.errors.lock().expect("errors lock").clone()
    }

    /// A line of `/proc/PID/status` in KiB, e.g. `VmRSS` or `VmHWM` (peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }
}

/// Raises this process's open-file limit to its hard limit and returns it:
/// tests that open thousands of connections need the descriptors.
pub fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `http_server_active_requests` gauge for `method` at `metrics_url`
/// (the scrape that reads it counts as one); 0 before the first request.
pub async fn active_requests(client: &HttpClient, metrics_url: &str, method: &str) -> f64 {
    parse_exposition(&client.get(metrics_url).await.text())
        .into_iter()
        .find(|s| {
            s.name == "http_server_active_requests"
                && s.labels.get("http_request_method").map(String::as_str) == Some(method)
        })
        .map_or(0.0, |s| s.value)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
