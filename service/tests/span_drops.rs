//! Spans dropped because the export queue is full, or lost because the
//! receiver is down, are counted on `/metrics` and reported in the log at a
//! limited rate, never silently lost.

mod common;

use std::time::{Duration, Instant};

use common::{HttpClient, ServiceProcess, eventually, parse_exposition};
use test_support::OtlpReceiver;

/// The value of `name` with exactly these extra labels (besides the
/// `otel_component_*` ones).
fn sample(text: &str, name: &str, error_type: Option<&str>) -> Option<f64> {
    parse_exposition(text)
        .into_iter()
        .find(|s| s.name == name && s.labels.get("error_type").map(String::as_str) == error_type)
        .map(|s| s.value)
}

/// `N` of a log line's `field=N`.
fn count_in(line: &str, field: &str) -> Option<u64> {
    line.split(&format!("{field}="))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The first log line containing `text`, within 5 s.
async fn log_line(service: &ServiceProcess, text: &str) -> String {
    eventually(
        Duration::from_secs(5),
        &format!("a {text:?} log line"),
        || {
            service
                .output()
                .into_iter()
                .find(|line| line.contains(text))
        },
    )
    .await
}

/// Stops the service and returns its line with the run's total of spans
/// not delivered.
fn exit_line(service: &mut ServiceProcess) -> String {
    service.signal(libc::SIGTERM);
    let (status, _) = service.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    service
        .output()
        .into_iter()
        .find(|line| line.contains("lost_spans_total="))
        .expect("a line at exit with the run's total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_span_queue_is_counted_on_metrics_and_logged() {
    // Each export is answered after 2 s and the queue holds 8 spans: most of
    // the 300 requests' spans cannot be queued.
    let receiver = OtlpReceiver::start_with_delay(Duration::from_secs(2)).await;
    let endpoint = receiver.endpoint();
    let started = Instant::now();
    let mut service = ServiceProcess::start(
        &["--flush-timeout", "1s"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"),
        ],
    );
    let client = HttpClient::new();
    let metrics_url = service.url("/metrics");
    let before = client.get(&metrics_url).await.text();
    assert_eq!(
        sample(
            &before,
            "otel_sdk_processor_span_processed_total",
            Some("queue_full")
        ),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, "otel_sdk_processor_span_queue_capacity", None),
        Some(8.0)
    );
    for _ in 0..300 {
        assert_eq!(client.get(&service.url("/")).await.status, 200);
    }

    let text = client.get(&metrics_url).await.text();
    let dropped = sample(
        &text,
        "otel_sdk_processor_span_processed_total",
        Some("queue_full"),
    )
    .expect("the drop counter");
    // 300 spans, at most 8 queued and 4 at the exporter (plus the scrapes' own).
    assert!(dropped >= 280.0, "dropped {dropped}: {text}");
    let queued = sample(&text, "otel_sdk_processor_span_queue_size", None).expect("queue size");
    assert!(queued <= 8.0, "{queued}");

    // The first report comes within a second or so of the first drop.
    let line = log_line(&service, "spans dropped").await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("OTEL_BSP_MAX_QUEUE_SIZE"), "{line}");
    let logged = count_in(&line, "dropped_spans").unwrap_or_else(|| panic!("no count in {line:?}"));
    assert!(logged >= 1, "{line}");

    // At exit the drops not yet logged get their line: the lines add up to
    // the counter (read again: the scrapes' own spans may have been dropped).
    let total = sample(
        &client.get(&metrics_url).await.text(),
        "otel_sdk_processor_span_processed_total",
        Some("queue_full"),
    )
    .expect("the drop counter");
    service.signal(libc::SIGTERM);
    let (status, _) = service.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    // The flush gave up on the slow collector: the export thread, still
    // waiting, must not panic as the runtime shuts down.
    let errors = service.stderr();
    assert!(
        !errors.iter().any(|line| line.contains("panicked")),
        "{errors:#?}"
    );
    let lines: Vec<String> = service
        .output()
        .into_iter()
        .filter(|line| line.contains("spans dropped"))
        .collect();
    // At most one line per 10 s, plus the one at exit.
    let allowed = 2 + started.elapsed().as_secs() / 10;
    assert!(lines.len() as u64 <= allowed, "{lines:#?}");
    let sum: u64 = lines
        .iter()
        .filter_map(|line| count_in(line, "dropped_spans"))
        .sum();
    assert!(
        sum as f64 >= total,
        "logged {sum}, counted {total}: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_a_dead_receiver_never_got_are_counted_and_totalled_at_exit() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let mut service = ServiceProcess::start(
        &["--flush-timeout", "5s"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
        ],
    );
    let client = HttpClient::new();
    let metrics_url = service.url("/metrics");
    let lost = async |at_least: f64| {
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if sample(
                &text,
                "otel_sdk_exporter_span_exported_total",
                Some("unavailable"),
            )
            .is_some_and(|lost| lost >= at_least)
            {
                return text;
            }
            assert!(Instant::now() < deadline, "{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            text = client.get(&metrics_url).await.text();
        }
    };
    // The first failure is logged at once; the next ones wait for the
    // next report, 30 s later, or for the exit.
    for _ in 0..5 {
        assert_eq!(client.get(&service.url("/")).await.status, 200);
    }
    lost(5.0).await;
    for _ in 0..5 {
        assert_eq!(client.get(&service.url("/")).await.status, 200);
    }
    let text = lost(10.0).await;
    assert_eq!(
        sample(&text, "otel_sdk_exporter_span_exported_total", None),
        Some(0.0),
        "{text}"
    );
    let counted = sample(
        &text,
        "otel_sdk_exporter_span_exported_total",
        Some("unavailable"),
    )
    .expect("the counter");

    let line = exit_line(&mut service);
    let logged = count_in(&line, "lost_spans_total").unwrap_or_else(|| panic!("{line}"));
    assert!(
        logged as f64 >= counted,
        "logged {logged}, counted {counted}: {line}"
    );
    assert!(line.contains("unavailable: "), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_a_receiver_rejects_are_counted_as_rejected_and_logged() {
    // One span of every export is rejected through OTLP's partial success.
    let receiver = OtlpReceiver::start_rejecting(1).await;
    let endpoint = receiver.endpoint();
    let mut service = ServiceProcess::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
        ],
    );
    let client = HttpClient::new();
    let metrics_url = service.url("/metrics");
    for _ in 0..5 {
        assert_eq!(client.get(&service.url("/")).await.status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let (sent, rejected) = loop {
        let text = client.get(&metrics_url).await.text();
        let sent = sample(&text, "otel_sdk_exporter_span_exported_total", None);
        let rejected = sample(
            &text,
            "otel_sdk_exporter_span_exported_total",
            Some("rejected"),
        );
        if let (Some(sent), Some(rejected)) = (sent, rejected)
            && sent + rejected >= 5.0
        {
            break (sent, rejected);
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Every export took one rejection, and the rest counts as sent.
    let exports = receiver.requests.lock().expect("receiver lock").len() as f64;
    let received = receiver.spans().len() as f64;
    assert!(rejected >= 1.0, "{rejected}");
    assert!(
        rejected <= exports,
        "{rejected} rejected in {exports} exports"
    );
    assert!(
        sent + rejected <= received,
        "{sent} + {rejected} > {received}"
    );

    let line = log_line(&service, "rejected spans").await;
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!("{:?}", test_support::REJECTION_MESSAGE)),
        "the receiver's message, quoted: {line}"
    );
    let line = exit_line(&mut service);
    assert!(line.contains("rejected: "), "{line}");
}
