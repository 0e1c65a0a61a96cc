//! Acceptance tests for the request metrics: exact counts, bounded
//! cardinality, and a valid exposition according to `promtool`.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{HttpClient, Sample, TestServer, label_key, parse_exposition};
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// One kind of request of the exact-count mix, with the answer it must get
/// and the `http_route` label it must be counted under ("" = unmatched).
struct Kind {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: u16,
    route: &'static str,
}

const MIX: &[Kind] = &[
    Kind {
        method: "GET",
        path: "/",
        body: None,
        status: 200,
        route: "/",
    },
    Kind {
        method: "HEAD",
        path: "/",
        body: None,
        status: 200,
        route: "/",
    },
    Kind {
        method: "GET",
        path: "/api/items",
        body: None,
        status: 200,
        route: "/api/items",
    },
    Kind {
        method: "GET",
        path: "/api/items/2",
        body: None,
        status: 200,
        route: "/api/items/{id}",
    },
    Kind {
        method: "GET",
        path: "/api/items/999999",
        body: None,
        status: 404,
        route: "/api/items/{id}",
    },
    Kind {
        method: "GET",
        path: "/api/items/abc",
        body: None,
        status: 400,
        route: "/api/items/{id}",
    },
    Kind {
        method: "POST",
        path: "/api/items",
        body: Some(r#"{"name":"fig","quantity":3}"#),
        status: 201,
        route: "/api/items",
    },
    Kind {
        method: "POST",
        path: "/api/items",
        body: Some(r#"{"name":"#),
        status: 400,
        route: "/api/items",
    },
    Kind {
        method: "POST",
        path: "/api/items",
        body: Some(r#"{"name":1,"quantity":"x"}"#),
        status: 422,
        route: "/api/items",
    },
    Kind {
        method: "GET",
        path: "/api/work?ms=0",
        body: None,
        status: 200,
        route: "/api/work",
    },
    Kind {
        method: "GET",
        path: "/api/work?ms=nope",
        body: None,
        status: 400,
        route: "/api/work",
    },
    Kind {
        method: "GET",
        path: "/api/cpu?ms=0",
        body: None,
        status: 200,
        route: "/api/cpu",
    },
    Kind {
        method: "GET",
        path: "/api/cpu?ms=10001",
        body: None,
        status: 400,
        route: "/api/cpu",
    },
    Kind {
        method: "GET",
        path: "/healthz",
        body: None,
        status: 200,
        route: "/healthz",
    },
    Kind {
        method: "GET",
        path: "/readyz",
        body: None,
        status: 200,
        route: "/readyz",
    },
    Kind {
        method: "GET",
        path: "/does/not/exist",
        body: None,
        status: 404,
        route: "",
    },
    Kind {
        method: "PUT",
        path: "/nothing-here",
        body: None,
        status: 404,
        route: "",
    },
    Kind {
        method: "BREW",
        path: "/coffee",
        body: None,
        status: 404,
        route: "",
    },
    Kind {
        method: "DELETE",
        path: "/api/items",
        body: None,
        status: 405,
        route: "/api/items",
    },
];

type SeriesKey = (String, String, String); // method, route, status

fn series_of(samples: &[Sample], name: &str) -> BTreeMap<SeriesKey, f64> {
    let mut series = BTreeMap::new();
    for sample in samples.iter().filter(|sample| sample.name == name) {
        let label = |key: &str| sample.labels.get(key).cloned().unwrap_or_default();
        let known = [
            "http_request_method",
            "http_route",
            "http_response_status_code",
        ];
        let extra: Vec<_> = sample
            .labels
            .keys()
            .filter(|key| !known.contains(&key.as_str()) && key.as_str() != "le")
            .collect();
        assert!(
            extra.is_empty(),
            "unexpected labels {extra:?} on {sample:?}"
        );
        let key = (
            label("http_request_method"),
            label("http_route"),
            label("http_response_status_code"),
        );
        let previous = series.insert(key, sample.value);
        assert!(previous.is_none(), "duplicate series {sample:?}");
    }
    series
}

fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH" => {
            method
        }
        _ => "_OTHER",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_exactly_once() {
    const WORKERS: usize = 64;
    const PER_WORKER: usize = 160; // 64 * 160 = 10,240 requests
    // Every worker may be in a CPU burn at once: the burn limit is not what
    // this test is about (tests/cpu_drill.rs is).
    let config = service::ServeConfig {
        telemetry: service::TelemetryMode::Metrics,
        max_cpu_burns: std::num::NonZeroUsize::new(WORKERS),
        ..service::ServeConfig::default()
    };
    let server = Arc::new(TestServer::start(config).await);
    let client = HttpClient::new();

    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let client = client.clone();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent: BTreeMap<SeriesKey, u64> = BTreeMap::new();
            for round in 0..PER_WORKER {
                let kind = &MIX[(worker * PER_WORKER + round) % MIX.len()];
                let body = kind.body.map(|text| ("application/json", text.as_bytes()));
                let reply = client
                    .request(kind.method, &server.url(kind.path), body)
                    .await;
                assert_eq!(
                    reply.status,
                    kind.status,
                    "{} {}: {}",
                    kind.method,
                    kind.path,
                    reply.text()
                );
                let key = (
                    method_label(kind.method).to_owned(),
                    kind.route.to_owned(),
                    kind.status.to_string(),
                );
                *sent.entry(key).or_default() += 1;
            }
            sent
        }));
    }
    let mut expected: BTreeMap<SeriesKey, u64> = BTreeMap::new();
    for task in tasks {
        for (key, count) in task.await.expect("worker finished") {
            *expected.entry(key).or_default() += count;
        }
    }
    let total: u64 = expected.values().sum();
    assert_eq!(total, (WORKERS * PER_WORKER) as u64);
    assert!(
        expected
            .keys()
            .any(|(_, route, status)| route.is_empty() && status == "404")
    );

    // First scrape: the scrape itself is not yet counted.
    let exposition = client.get(&server.url("/metrics")).await;
    assert_eq!(exposition.status, 200);
    let samples = parse_exposition(&exposition.text());

    let as_f64: BTreeMap<SeriesKey, f64> = expected
        .iter()
        .map(|(key, count)| (key.clone(), *count as f64))
        .collect();
    let counted = series_of(&samples, "http_server_requests_total");
    assert_eq!(counted, as_f64, "counter series differ from what was sent");
    let histogram_counts = series_of(&samples, "http_server_request_duration_seconds_count");
    assert_eq!(
        histogram_counts, as_f64,
        "histogram counts differ from what was sent"
    );
    // The +Inf bucket of every histogram series holds all its samples.
    for sample in samples.iter().filter(|s| {
        s.name == "http_server_request_duration_seconds_bucket"
            && s.labels.get("le").is_some_and(|le| le == "+Inf")
    }) {
        let key = label_key(sample, &["le"]);
        let count = samples
            .iter()
            .find(|s| {
                s.name == "http_server_request_duration_seconds_count" && label_key(s, &[]) == key
            })
            .expect("count for bucket");
        assert_eq!(sample.value, count.value, "{key:?}");
    }
    // Nothing in flight except the scrape itself.
    for sample in samples
        .iter()
        .filter(|s| s.name == "http_server_active_requests")
    {
        let method = sample.labels.get("http_request_method").map(String::as_str);
        let expected_active = if method == Some("GET") { 1.0 } else { 0.0 };
        assert_eq!(sample.value, expected_active, "{sample:?}");
    }

    // Second scrape: the first one is now counted, once.
    let samples = parse_exposition(&client.get(&server.url("/metrics")).await.text());
    let counted = series_of(&samples, "http_server_requests_total");
    let scrapes = counted.get(&("GET".to_owned(), "/metrics".to_owned(), "200".to_owned()));
    assert_eq!(scrapes, Some(&1.0));
}

fn random_segment(rng: &mut impl rand::Rng, len: usize) -> String {
    rng.sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_paths_and_methods_add_a_bounded_number_of_series() {
    const REQUESTS: usize = 10_000;
    const WORKERS: usize = 64;
    let server = Arc::new(TestServer::with_metrics().await);
    let client = HttpClient::new();
    // Warm up with the normal routes so "before" already has their series.
    for path in ["/", "/api/items", "/healthz"] {
        assert_eq!(client.get(&server.url(path)).await.status, 200);
    }
    let before = parse_exposition(&client.get(&server.url("/metrics")).await.text());

    // Distinct random paths, half under unmatched prefixes, half under the
    // item route (matched template, random id); assorted and invented methods.
    let mut rng = rand::rng();
    let mut plan = Vec::with_capacity(REQUESTS);
    for index in 0..REQUESTS {
        let segment = random_segment(&mut rng, 12);
        let path = if index % 2 == 0 {
            format!("/{segment}/{index}")
        } else {
            format!("/api/items/{segment}{index}")
        };
        let method = match rng.random_range(0..8) {
            0 => "GET".to_owned(),
            1 => "POST".to_owned(),
            2 => "PUT".to_owned(),
            3 => "DELETE".to_owned(),
            4 => "PATCH".to_owned(),
            5 => "OPTIONS".to_owned(),
            6 => "HEAD".to_owned(),
            _ => format!("X{}", random_segment(&mut rng, 6).to_uppercase()),
        };
        plan.push((method, path));
    }
    let plan = Arc::new(plan);
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let client = client.clone();
        let server = server.clone();
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            for (method, path) in plan.iter().skip(worker).step_by(WORKERS) {
                let reply = client.request(method, &server.url(path), None).await;
                assert!(
                    (400..500).contains(&reply.status),
                    "{method} {path} -> {}",
                    reply.status
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker finished");
    }

    let after_text = client.get(&server.url("/metrics")).await.text();
    let after = parse_exposition(&after_text);
    let series = |samples: &[Sample], name: &str| samples.iter().filter(|s| s.name == name).count();
    let added_counters = series(&after, "http_server_requests_total")
        - series(&before, "http_server_requests_total");
    // At most: 10 method values (9 standard + _OTHER) x 2 route values
    // (unmatched, /api/items/{id}) x 3 statuses (400, 404, 405), plus the
    // /metrics scrape itself.
    assert!(added_counters <= 61, "{added_counters} new counter series");
    let added_samples = after.len() - before.len();
    // Each counter series brings one histogram (14 buckets + +Inf + sum +
    // count); each method at most one active-requests series.
    assert!(
        added_samples <= 61 * (1 + 17) + 10,
        "{added_samples} new samples"
    );
    assert!(
        !plan
            .iter()
            .any(|(_, path)| after_text.contains(path.as_str())),
        "a raw path leaked into the exposition"
    );
    for sample in &after {
        if let Some(method) = sample.labels.get("http_request_method") {
            assert_eq!(
                method,
                method_label(method),
                "unbounded method label {sample:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_passes_promtool_check_metrics() {
    let promtool = "promtool";
    if Command::new(promtool).arg("--version").output().is_err() {
        panic!(
            "promtool not found on PATH: run ./scripts/test, which builds the pinned \
             promtool with `stack build` and puts it first on PATH"
        );
    }
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api/items/1"),
        ("GET", "/api/items/404"),
        ("GET", "/unknown"),
        ("BREW", "/coffee"),
        ("DELETE", "/api/items"),
        ("GET", "/metrics"),
    ] {
        client.request(method, &server.url(path), None).await;
    }
    let exposition = client.get(&server.url("/metrics")).await;
    assert_eq!(exposition.status, 200);
    let content_type = exposition
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&exposition.body)
        .expect("write exposition");
    let output = child.wait_with_output().expect("promtool finished");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\nexposition:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        exposition.text()
    );
}
