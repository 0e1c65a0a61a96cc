//! The trace half: a request followed from the service through the real
//! Collector to the trace store, and back to Prometheus as span metrics and
//! exemplars; the Collector's own metrics; a Collector outage that loses no
//! request.
//!
//! The trace store is [`test_support::OtlpReceiver`] at `--tempo-endpoint`:
//! Tempo cannot be built here (the Go module proxy refuses
//! github.com/grafana/tempo), so the test receives the Collector's Tempo
//! export itself and reads the spans exactly as the Collector sent them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{OtlpReceiver, ReceivedSpan};

use super::clock::Clock;
use super::processes::{Guard, restart, run_with_deadline};
use super::prometheus::{Prometheus, unix_now};

/// OTLP's `SPAN_KIND_SERVER`.
const KIND_SERVER: i32 = 2;

/// A caller's trace context, as an upstream service would send it.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The trace id in a response's `traceparent` header.
async fn traced_get(client: &reqwest::Client, url: &str, traceparent: Option<&str>) -> String {
    let mut request = client.get(url);
    if let Some(header) = traceparent {
        request = request.header("traceparent", header);
    }
    let response = request.send().await.expect("request to the service");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let header = response
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{url}: no traceparent in the response"))
        .to_owned();
    header
        .split('-')
        .nth(1)
        .unwrap_or_else(|| panic!("malformed traceparent {header:?}"))
        .to_owned()
}

/// Polls the receiver until `trace_id` has a server span and a child of it.
async fn wait_for_trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    deadline: Instant,
    clock: &Clock,
) -> (ReceivedSpan, ReceivedSpan) {
    loop {
        let spans = receiver.spans();
        let server = spans
            .iter()
            .find(|s| s.trace_id == trace_id && s.kind == KIND_SERVER);
        if let Some(server) = server
            && let Some(child) = spans.iter().find(|s| s.parent_span_id == server.span_id)
        {
            return (server.clone(), child.clone());
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} not at the trace store in time{}; it holds {} spans",
            clock.why(),
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_server_span(span: &ReceivedSpan) {
    assert_eq!(span.name, "GET /api/items/{id}", "{span:?}");
    let attribute = |key: &str| span.attributes.get(key).map(String::as_str);
    assert_eq!(attribute("http.request.method"), Some("GET"), "{span:?}");
    assert_eq!(attribute("http.route"), Some("/api/items/{id}"), "{span:?}");
    assert_eq!(
        attribute("http.response.status_code"),
        Some("200"),
        "{span:?}"
    );
    assert_eq!(attribute("url.scheme"), Some("http"), "{span:?}");
    assert_eq!(
        span.resource.get("service.name").map(String::as_str),
        Some("service"),
        "{span:?}"
    );
}

/// Acceptance 1: a request with a caller's `traceparent` and one without
/// reach the trace store, server span and child, in the caller's trace.
pub async fn requests_reach_the_store(
    client: &reqwest::Client,
    service: &str,
    receiver: &OtlpReceiver,
    clock: &Clock,
) {
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let continued = traced_get(client, &format!("{service}/api/items/1"), Some(&caller)).await;
    assert_eq!(continued, CALLER_TRACE, "the caller's trace id is kept");
    let fresh = traced_get(client, &format!("{service}/api/items/2"), None).await;
    assert_ne!(fresh, CALLER_TRACE);

    let deadline = clock.deadline(Duration::from_secs(30));
    let (server, child) = wait_for_trace(receiver, &continued, deadline, clock).await;
    assert_server_span(&server);
    assert_eq!(
        server.parent_span_id, CALLER_SPAN,
        "child of the caller's span"
    );
    assert_eq!(child.trace_id, CALLER_TRACE);
    let (server, _) = wait_for_trace(receiver, &fresh, deadline, clock).await;
    assert_server_span(&server);
    assert_eq!(
        server.parent_span_id, "",
        "a new trace starts at the server span"
    );
    clock.log(&format!(
        "traces: {continued} (caller's) and {fresh} reached the trace store through the Collector, \
         server span {:?} with child {:?}",
        server.name, child.name
    ));
}

/// Acceptance 2: span metrics count the load, and an exemplar on the
/// latency histogram names a trace the store holds.
pub async fn span_metrics_and_exemplars(
    prom: &Prometheus,
    receiver: &OtlpReceiver,
    sent: u64,
    clock: &Clock,
) {
    let calls = r#"sum(traces_span_metrics_calls_total{service_name="service",span_kind="SPAN_KIND_SERVER",http_route=~"/|/api/items|/api/items/\\{id\\}|/api/work|"})"#;
    // The connector flushes every 15s; the first flush of a series reports 0.
    let deadline = clock.deadline(Duration::from_secs(60));
    loop {
        let counted = prom.scalar(calls).await.unwrap_or(0.0);
        if counted >= sent as f64 {
            clock.log(&format!(
                "span metrics: {counted} server spans counted for {sent} requests"
            ));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "span metrics count {counted} < {sent} requests sent{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let query = r#"traces_span_metrics_duration_seconds_bucket{service_name="service"}"#;
    let now = unix_now();
    let data = prom
        .get(
            "/api/v1/query_exemplars",
            &[
                ("query", query),
                ("start", &format!("{:.0}", now - 600.0)),
                ("end", &format!("{:.0}", now + 1.0)),
            ],
        )
        .await;
    let trace_ids: Vec<String> = data
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!trace_ids.is_empty(), "no exemplars on {query}: {data}");
    let stored: Vec<String> = receiver.spans().into_iter().map(|s| s.trace_id).collect();
    let found = trace_ids.iter().find(|id| stored.contains(id));
    let found = found.unwrap_or_else(|| {
        panic!(
            "none of the {} exemplar trace ids is at the trace store",
            trace_ids.len()
        )
    });
    clock.log(&format!(
        "exemplars: {} on the latency histogram; trace {found} is at the trace store",
        trace_ids.len()
    ));
}

/// Acceptance 3: the Collector's own metrics account for every span.
pub async fn collector_metrics(prom: &Prometheus, receiver: &OtlpReceiver, clock: &Clock) {
    let delivered = receiver.spans().len() as f64;
    let accepted_query = r#"sum(otelcol_receiver_accepted_spans_total{job="otel-collector"})"#;
    let deadline = clock.deadline(Duration::from_secs(20));
    let accepted = loop {
        let accepted = prom.scalar(accepted_query).await.unwrap_or(0.0);
        if accepted >= delivered {
            break accepted;
        }
        assert!(
            Instant::now() < deadline,
            "Collector accepted {accepted} spans < {delivered} delivered{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for failed in [
        r#"sum(otelcol_exporter_send_failed_spans_total{job="otel-collector"}) or vector(0)"#,
        r#"sum(otelcol_receiver_refused_spans_total{job="otel-collector"}) or vector(0)"#,
    ] {
        assert_eq!(prom.scalar(failed).await, Some(0.0), "{failed}");
    }
    clock.log(&format!(
        "Collector metrics: {accepted} spans accepted (>= {delivered} delivered), 0 failed, 0 refused"
    ));
}

/// Acceptance 4: the Collector stops for 20 s under load; no request
/// fails, and once it runs again new traces arrive without restarting the
/// service. Returns the restarted Collector, to be stopped by the caller.
pub async fn collector_outage(
    collector: &Value,
    stack_bin: &Path,
    client: &reqwest::Client,
    service: &str,
    receiver: &OtlpReceiver,
    clock: &Clock,
) -> Guard {
    let pid = collector["pid"].as_i64().expect("otelcol pid");
    // SAFETY: the Collector is a child of `stack up`, started by this test.
    unsafe {
        libc::kill(i32::try_from(pid).expect("pid fits i32"), libc::SIGTERM);
    }
    let mut load = Command::new(stack_bin);
    load.args([
        "load",
        "--url",
        service,
        "--duration",
        "20s",
        "--rate",
        "50",
        "--json",
    ])
    .args(["--route", "/api/items/1", "--route", "/"]);
    let output = run_with_deadline(load, clock.deadline(Duration::from_secs(60)), clock).await;
    let summary: Value = serde_json::from_slice(&output.stdout).expect("load --json summary");
    for class in ["errors", "4xx", "5xx"] {
        assert_eq!(summary["status"][class], 0, "during the outage: {summary}");
    }
    assert!(summary["sent"].as_u64().unwrap_or(0) >= 500, "{summary}");

    let guard = restart(collector);
    let health = collector["url"].as_str().expect("otelcol url");
    let deadline = clock.deadline(Duration::from_secs(30));
    while !client
        .get(health)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "Collector not healthy again{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let after = traced_get(client, &format!("{service}/api/items/1"), None).await;
    let deadline = clock.deadline(Duration::from_secs(30));
    wait_for_trace(receiver, &after, deadline, clock).await;
    clock.log(&format!(
        "Collector outage: {} requests in 20 s, none failed; after its restart trace {after} \
         reached the store, service not restarted",
        summary["sent"]
    ));
    guard
}
