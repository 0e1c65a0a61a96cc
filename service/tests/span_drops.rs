//! Spans dropped because the export queue is full are counted on `/metrics`
//! and reported in the log at a limited rate, never silently lost.

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

/// `dropped_spans=N` of a log line.
fn dropped_in(line: &str) -> Option<u64> {
    line.split("dropped_spans=")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
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
    let line = eventually(Duration::from_secs(5), "a `spans dropped` log line", || {
        service
            .output()
            .into_iter()
            .find(|line| line.contains("spans dropped"))
    })
    .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("OTEL_BSP_MAX_QUEUE_SIZE"), "{line}");
    let logged = dropped_in(&line).unwrap_or_else(|| panic!("no count in {line:?}"));
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
    let sum: u64 = lines.iter().filter_map(|line| dropped_in(line)).sum();
    assert!(
        sum as f64 >= total,
        "logged {sum}, counted {total}: {lines:#?}"
    );
}
