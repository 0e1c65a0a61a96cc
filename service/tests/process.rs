//! Tests against the real `service` binary: traces reaching a real OTLP
//! receiver, behaviour with the collector unreachable, graceful shutdown on
//! SIGTERM, the healthcheck subcommand and configuration errors.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use common::{HttpClient, ServiceProcess, eventually, parse_exposition, run_to_exit};
use test_support::{OtlpReceiver, ReceivedSpan};

/// How long a `service` run that must stop by itself may take.
const EXIT_LIMIT: Duration = Duration::from_secs(20);

const SPAN_KIND_SERVER: i32 = 2;

fn traceparent_of(reply: &common::Reply) -> (String, String) {
    let value = reply
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no traceparent in {:?}", reply.headers));
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {value:?}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    (parts[1].to_owned(), parts[2].to_owned())
}

fn server_span<'a>(spans: &'a [ReceivedSpan], trace_id: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|span| span.trace_id == trace_id && span.kind == SPAN_KIND_SERVER)
        .unwrap_or_else(|| panic!("no server span in trace {trace_id}: {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_real_otlp_receiver() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    let mut service = ServiceProcess::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "service-under-test"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
        ],
    );
    let client = HttpClient::new();

    // 1. No traceparent: a new trace; the response names it.
    let fresh = client.get(&service.url("/api/items/2")).await;
    assert_eq!(fresh.status, 200);
    let (fresh_trace, fresh_span) = traceparent_of(&fresh);

    // 2. A caller's traceparent: the server span joins that trace.
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let request = http::Request::get(service.url("/api/cpu?ms=5"))
        .header("traceparent", format!("00-{parent_trace}-{parent_span}-01"))
        .body(Default::default())
        .expect("request");
    let joined = client.send(request).await;
    assert_eq!(joined.status, 200);
    let (joined_trace, joined_span) = traceparent_of(&joined);
    assert_eq!(joined_trace, parent_trace);

    // 3. An unmatched path: span named after the method only. Path and
    // user agent are long: the span keeps a bounded prefix of each.
    let long_path = format!("/no/such/page/{}", "x".repeat(5000));
    let request = http::Request::get(service.url(&long_path))
        .header("user-agent", "agent/".repeat(1000))
        .body(Default::default())
        .expect("request");
    let missing = client.send(request).await;
    assert_eq!(missing.status, 404);
    let (missing_trace, _) = traceparent_of(&missing);

    // SIGTERM flushes the batch: the spans must be at the receiver after exit.
    service.signal(libc::SIGTERM);
    let (status, _) = service.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    let spans = eventually(Duration::from_secs(5), "spans at the receiver", || {
        let spans = receiver.spans();
        [&fresh_trace, &joined_trace, &missing_trace]
            .iter()
            .all(|trace| {
                spans
                    .iter()
                    .any(|s| &s.trace_id == *trace && s.kind == SPAN_KIND_SERVER)
            })
            .then_some(spans)
    })
    .await;

    let fresh = server_span(&spans, &fresh_trace);
    assert_eq!(fresh.name, "GET /api/items/{id}");
    assert_eq!(
        fresh.span_id, fresh_span,
        "traceparent names the server span"
    );
    assert_eq!(
        fresh.parent_span_id, "",
        "a new trace has a root server span"
    );
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/api/items/{id}"),
        ("http.response.status_code", "200"),
        ("url.path", "/api/items/2"),
        ("url.scheme", "http"),
        ("network.protocol.version", "1.1"),
    ] {
        assert_eq!(
            fresh.attributes.get(key).map(String::as_str),
            Some(value),
            "{key} in {fresh:#?}"
        );
    }
    assert_eq!(
        fresh.resource.get("service.name").map(String::as_str),
        Some("service-under-test")
    );
    assert_eq!(
        fresh
            .resource
            .get("deployment.environment")
            .map(String::as_str),
        Some("test")
    );
    let store = spans
        .iter()
        .find(|s| s.trace_id == fresh_trace && s.name == "items.get")
        .unwrap_or_else(|| panic!("no items.get child span: {spans:#?}"));
    assert_eq!(store.parent_span_id, fresh.span_id);

    let joined = server_span(&spans, &joined_trace);
    assert_eq!(joined.name, "GET /api/cpu");
    assert_eq!(
        joined.parent_span_id, parent_span,
        "joins the caller's span"
    );
    assert_eq!(joined.span_id, joined_span);
    let burn = spans
        .iter()
        .find(|s| s.trace_id == joined_trace && s.name == "cpu.burn")
        .unwrap_or_else(|| panic!("no cpu.burn child span: {spans:#?}"));
    assert_eq!(burn.parent_span_id, joined.span_id);

    let missing = server_span(&spans, &missing_trace);
    assert_eq!(missing.name, "GET");
    assert!(!missing.attributes.contains_key("http.route"));
    assert_eq!(
        missing
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("404")
    );
    let path = &missing.attributes["url.path"];
    assert!(
        path.len() == 1024 && long_path.starts_with(path.as_str()),
        "{path}"
    );
    assert_eq!(missing.attributes["user_agent.original"].len(), 1024);

    // The access log line of each request carries its trace id.
    let output = service.output().join("\n");
    assert!(
        output.contains(&format!("trace_id={fresh_trace}")),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_traceparent_is_ignored_and_starts_a_new_trace() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    let mut service =
        ServiceProcess::start(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())]);
    let client = HttpClient::new();
    let malformed = [
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", // missing flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e473Z-00f067aa0ba902b7-01", // not hex
    ];
    let mut traces = Vec::new();
    for value in malformed {
        let request = http::Request::get(service.url("/api/items"))
            .header("traceparent", value)
            .body(Default::default())
            .expect("request");
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200, "traceparent {value:?}");
        let (trace, _) = traceparent_of(&reply);
        assert_ne!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(trace, "00000000000000000000000000000000");
        traces.push(trace);
    }
    service.signal(libc::SIGTERM);
    let (status, _) = service.wait_exit(Duration::from_secs(15));
    assert!(status.success());
    let spans = eventually(Duration::from_secs(5), "spans at the receiver", || {
        let spans = receiver.spans();
        traces
            .iter()
            .all(|trace| spans.iter().any(|s| &s.trace_id == trace))
            .then_some(spans)
    })
    .await;
    for trace in &traces {
        let span = server_span(&spans, trace);
        assert_eq!(span.parent_span_id, "", "a malformed parent is not joined");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_unreachable_requests_succeed_and_shutdown_is_bounded() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut service = ServiceProcess::start(
        &["--flush-timeout", "2s", "--log-format", "json"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let client = HttpClient::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..20 {
        let client = client.clone();
        let url = service.url("/api/items/1");
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let reply = client.get(&url).await;
                assert_eq!(reply.status, 200, "worker {worker}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "1,000 requests took {elapsed:?}"
    );
    let samples = parse_exposition(&client.get(&service.url("/metrics")).await.text());
    let ok = samples
        .iter()
        .find(|s| {
            s.name == "http_server_requests_total"
                && s.labels.get("http_route").map(String::as_str) == Some("/api/items/{id}")
        })
        .expect("item series");
    assert_eq!(ok.value, 1000.0);
    // Memory stays bounded while spans cannot leave: the queue drops, it
    // does not grow (a debug build, so the bound is loose).
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.pid()))
        .expect("read /proc status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    // The outage is reported once the first batch has failed (after the
    // exporter's own retries).
    eventually(Duration::from_secs(10), "the export failure report", || {
        service
            .output()
            .iter()
            .any(|line| line.contains("span export failing"))
            .then_some(())
    })
    .await;

    service.signal(libc::SIGTERM);
    // grace (idle: immediate) + flush timeout 2 s + margin
    let (status, took) = service.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");

    // ... but not once per batch.
    let output = service.output();
    let reports = output
        .iter()
        .filter(|line| line.contains("span export failing"))
        .count();
    assert!(
        (1..=2).contains(&reports),
        "{reports} export failure lines: {output:#?}"
    );
}

/// Waits until `count` GET requests are in flight: the gauge shows them
/// (plus the scrape itself).
async fn wait_in_flight(client: &HttpClient, service: &ServiceProcess, count: usize) {
    let metrics_url = service.url("/metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = parse_exposition(&client.get(&metrics_url).await.text());
        let active = samples
            .iter()
            .find(|s| {
                s.name == "http_server_active_requests"
                    && s.labels.get("http_request_method").map(String::as_str) == Some("GET")
            })
            .map_or(0.0, |s| s.value);
        if active >= (count + 1) as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} requests never got in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A receiver, and the service exporting each span to it within 20 ms.
async fn exporting_quickly() -> (OtlpReceiver, ServiceProcess) {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    let service = ServiceProcess::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
        ],
    );
    (receiver, service)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_leaves_ends_its_span_as_client_closed() {
    let (receiver, service) = exporting_quickly().await;
    let client = HttpClient::new();
    let mut leaving = tokio::net::TcpStream::connect(service.addr)
        .await
        .expect("connect");
    leaving
        .write_all(b"GET /api/work?ms=5000 HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("write");
    wait_in_flight(&client, &service, 1).await;
    drop(leaving);

    let span = eventually(
        Duration::from_secs(10),
        "the abandoned request's span",
        || {
            receiver
                .spans()
                .into_iter()
                .find(|span| span.name == "GET /api/work")
        },
    )
    .await;
    assert_eq!(
        span.attributes.get("error.type").map(String::as_str),
        Some("client_closed"),
        "{span:?}"
    );
    assert!(
        !span.attributes.contains_key("http.response.status_code"),
        "{span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonstandard_method_keeps_its_name_in_the_span_only() {
    let (receiver, service) = exporting_quickly().await;
    let client = HttpClient::new();
    let request = http::Request::builder()
        .method("PURGE")
        .uri(service.url("/"))
        .body(Default::default())
        .expect("request");
    assert_eq!(client.send(request).await.status, 405);
    let span = eventually(Duration::from_secs(10), "the PURGE request's span", || {
        receiver
            .spans()
            .into_iter()
            .find(|span| span.name == "HTTP /")
    })
    .await;
    assert_eq!(span.attributes["http.request.method"], "_OTHER", "{span:?}");
    assert_eq!(
        span.attributes["http.request.method_original"], "PURGE",
        "{span:?}"
    );
    let text = client.get(&service.url("/metrics")).await.text();
    assert!(!text.contains("PURGE"), "a metric label: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_shutdown_even_while_a_cpu_burn_runs() {
    let mut service =
        ServiceProcess::start(&["--telemetry", "metrics", "--shutdown-grace", "1s"], &[]);
    let client = HttpClient::new();
    let mut burn = tokio::net::TcpStream::connect(service.addr)
        .await
        .expect("connect");
    burn.write_all(b"GET /api/cpu?ms=10000 HTTP/1.1\r\nhost: service\r\n\r\n")
        .await
        .expect("send the burn request");
    wait_in_flight(&client, &service, 1).await;
    let signalled = Instant::now();
    service.signal(libc::SIGTERM);
    let (status, took) = service.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "exit status {status}");
    // Grace (1 s) plus the runtime's bounded stop, far from the 10 s burn.
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert!(signalled.elapsed() < Duration::from_secs(4));
    // The burn outlived the grace period: its connection closed unanswered.
    let mut answer = Vec::new();
    let _ = burn.read_to_end(&mut answer).await;
    assert!(
        answer.is_empty(),
        "unexpected answer: {}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut service = ServiceProcess::start(&["--telemetry", "metrics"], &[]);
    let client = HttpClient::new();
    const SLOW: usize = 5;
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let client = client.clone();
        let url = service.url("/api/work?ms=1500");
        slow.push(tokio::spawn(async move { client.get(&url).await }));
    }
    wait_in_flight(&client, &service, SLOW).await;
    let signalled = Instant::now();
    service.signal(libc::SIGTERM);

    // New connections are refused soon after the signal.
    let refused_deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect_timeout(&service.addr, Duration::from_millis(200)).is_ok() {
        assert!(
            Instant::now() < refused_deadline,
            "still accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for task in slow {
        let reply = task.await.expect("slow request task");
        assert_eq!(
            reply.status,
            200,
            "in-flight request failed: {}",
            reply.text()
        );
        assert_eq!(reply.json()["waited_ms"], 1500);
    }
    let (status, _) = service.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_reports_the_service_state() {
    let service = ServiceProcess::start(&["--telemetry", "off"], &[]);
    let healthy = run_to_exit(
        &["healthcheck", "--url", &service.url("/healthz")],
        &[],
        EXIT_LIMIT,
    );
    assert!(healthy.status.success(), "{healthy:?}");

    let not_found = run_to_exit(
        &["healthcheck", "--url", &service.url("/nope")],
        &[],
        EXIT_LIMIT,
    );
    assert!(!not_found.status.success());
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("404"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/healthz", closed.local_addr().expect("addr"));
    drop(closed);
    let down = run_to_exit(
        &["healthcheck", "--url", &url, "--timeout", "2s"],
        &[],
        EXIT_LIMIT,
    );
    assert!(!down.status.success());
}

/// Arguments, environment, and the setting the error must name.
type BadSetting = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_settings_fail_with_one_clear_line() {
    let cases: [BadSetting; 8] = [
        (&["--listen", "nowhere"], &[], "--listen"),
        (&[], &[("SERVICE_MAX_CPU_BURNS", "0")], "--max-cpu-burns"),
        (&[], &[("SERVICE_MAX_WORK_WAITS", "0")], "--max-work-waits"),
        (&["--cpu-drill", "maybe"], &[], "--cpu-drill"),
        (&["--telemetry", "loud"], &[], "--telemetry"),
        (
            &[],
            &[("OTEL_TRACES_SAMPLER_ARG", "2")],
            "--traces-sampler-arg",
        ),
        (
            &[],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
            "--otlp-endpoint",
        ),
        (&["--shutdown-grace", "5h"], &[], "--shutdown-grace"),
    ];
    for (args, envs, setting) in cases {
        let output = run_to_exit(args, envs, EXIT_LIMIT);
        assert!(!output.status.success(), "{args:?} {envs:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(setting),
            "first line {first:?} must name {setting}"
        );
        assert!(first.starts_with("error:"), "{first:?}");
    }

    // A port in use: a startup error naming the address and the fix.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let output = run_to_exit(
        &["--listen", &addr, "--traces-exporter", "none"],
        &[],
        EXIT_LIMIT,
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_each_requests_trace_id() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    let service = ServiceProcess::start(
        &["--log-format", "json"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let client = HttpClient::new();
    let reply = client.get(&service.url("/api/items")).await;
    let (trace_id, _) = traceparent_of(&reply);
    let line = eventually(Duration::from_secs(5), "the access log line", || {
        service
            .output()
            .into_iter()
            .find(|line| line.contains(&trace_id))
    })
    .await;
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(json["target"], "service::access", "{json}");
    assert_eq!(json["fields"]["trace_id"], trace_id.as_str(), "{json}");
    assert_eq!(json["fields"]["route"], "/api/items", "{json}");
    assert_eq!(json["fields"]["status"], 200, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filter_turns_the_access_log_off_also_with_traces_on() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    // The tests find the port in the `listening on` line (`service::server`).
    for filter in ["warn,service::server=info", "info,service::access=off"] {
        let mut service = ServiceProcess::start(
            &["--log-filter", filter],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
        );
        let client = HttpClient::new();
        let reply = client.get(&service.url("/api/items")).await;
        let (trace_id, _) = traceparent_of(&reply);
        // Exiting writes every line the service logged.
        service.signal(libc::SIGTERM);
        let (status, _) = service.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "exit status {status}");
        let logged: Vec<String> = service
            .output()
            .into_iter()
            .filter(|line| line.contains("service::access") || line.contains(&trace_id))
            .collect();
        assert!(logged.is_empty(), "--log-filter {filter}: {logged:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampler_and_exporter_environment_variables_are_honoured() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();

    // OTEL_TRACES_SAMPLER=always_off: the trace id is still propagated (flags
    // 00) but nothing is recorded or exported.
    let mut unsampled = ServiceProcess::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ],
    );
    let client = HttpClient::new();
    let reply = client.get(&unsampled.url("/")).await;
    let header = reply
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("traceparent")
        .to_owned();
    assert!(header.ends_with("-00"), "{header}");
    unsampled.signal(libc::SIGTERM);
    assert!(unsampled.wait_exit(Duration::from_secs(10)).0.success());
    assert!(receiver.spans().is_empty(), "always_off exported spans");

    // OTEL_TRACES_EXPORTER=none: no spans, no traceparent, metrics still on.
    let service = ServiceProcess::start(&[], &[("OTEL_TRACES_EXPORTER", "none")]);
    let reply = client.get(&service.url("/")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("traceparent").is_none());
    let metrics = client.get(&service.url("/metrics")).await.text();
    assert!(metrics.contains("http_server_requests_total{"), "{metrics}");
    assert!(
        service
            .output()
            .iter()
            .any(|line| line.contains("traces are off"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_does_not_slow_requests() {
    // Every export takes 3 s to be answered: longer than the whole test's
    // request phase is allowed to take.
    let receiver = OtlpReceiver::start_with_delay(Duration::from_secs(3)).await;
    let endpoint = receiver.endpoint();
    let mut service = ServiceProcess::start(
        &["--flush-timeout", "1s"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let client = HttpClient::new();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..500 {
        let sent = Instant::now();
        let reply = client.get(&service.url("/api/items/1")).await;
        assert_eq!(reply.status, 200);
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "slowest request took {slowest:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    service.signal(libc::SIGTERM);
    let (status, took) = service.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}
