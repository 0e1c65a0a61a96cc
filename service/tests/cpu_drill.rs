//! The CPU drill's limits: the burn cap follows `--max-cpu-burns` (else one
//! per core), a burn keeps its slot until it really ends, and
//! `--cpu-drill off` / `SERVICE_CPU_DRILL=off` turns `/api/cpu` into a 404.

mod common;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;

use common::{HttpClient, Reply, ServiceProcess, TestServer, active_requests};
use service::config::Switch;
use service::{ServeConfig, TelemetryMode};

fn config(max_burns: usize) -> ServeConfig {
    ServeConfig {
        telemetry: TelemetryMode::Metrics,
        max_cpu_burns: NonZeroUsize::new(max_burns),
        ..ServeConfig::default()
    }
}

/// Sends `GET /api/cpu?ms=0` until it answers `status`; returns that reply.
async fn poll_until(client: &HttpClient, url: &str, status: u16, limit: Duration) -> Reply {
    let deadline = Instant::now() + limit;
    loop {
        let reply = client.get(url).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {status} within {limit:?}; last: {} {}",
            reply.status,
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burn_limit_is_the_configured_number() {
    let server = TestServer::start(config(2)).await;
    let client = HttpClient::new();
    let probe = server.url("/api/cpu?ms=0");
    let started = Instant::now();
    let burns: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            // Long enough that both burns overlap the probes even on a busy host.
            let url = server.url("/api/cpu?ms=6000");
            tokio::spawn(async move {
                // A probe may hold a slot at the moment a burn arrives: that
                // burn is refused, and tries again.
                loop {
                    let reply = client.get(&url).await;
                    if reply.status != 429 {
                        return reply;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    let refused = poll_until(&client, &probe, 429, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_millis(6000),
        "too slow to tell"
    );
    refused.assert_json_error(429, "too_many_requests");
    let message = refused.message();
    assert!(
        message.contains("2 CPU burns") && message.contains("--max-cpu-burns"),
        "{message}"
    );
    for burn in burns {
        let reply = burn.await.expect("burn task");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["max_concurrent_burns"], 2);
    }
    assert_eq!(client.get(&probe).await.status, 200, "slots released");
}

#[tokio::test]
async fn the_default_limit_is_one_burn_per_core() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new().get(&server.url("/api/cpu?ms=0")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    assert_eq!(reply.json()["max_concurrent_burns"], cores);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burn_keeps_its_slot_after_the_client_hangs_up() {
    const BURN: Duration = Duration::from_millis(4000);
    let server = TestServer::start(config(1)).await;
    let client = HttpClient::new();
    let probe = server.url("/api/cpu?ms=0");
    let mut hung_up = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /api/cpu?ms={} HTTP/1.1\r\nhost: service\r\n\r\n",
        BURN.as_millis()
    );
    hung_up
        .write_all(request.as_bytes())
        .await
        .expect("send the burn request");
    let started = Instant::now();
    poll_until(&client, &probe, 429, Duration::from_secs(2)).await;
    drop(hung_up);
    // The handler is gone once the in-flight gauge shows only the scrape.
    let deadline = Instant::now() + Duration::from_secs(2);
    let metrics_url = server.url("/metrics");
    while active_requests(&client, &metrics_url, "GET").await > 1.0 {
        assert!(
            Instant::now() < deadline,
            "the hung-up request stays in flight"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let still = client.get(&probe).await;
    assert!(
        started.elapsed() < BURN - Duration::from_millis(500),
        "too slow to tell ({:?})",
        started.elapsed()
    );
    still.assert_json_error(429, "too_many_requests");
    poll_until(&client, &probe, 200, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= BURN - Duration::from_millis(100),
        "the slot was released after {:?}, before the burn ended",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_drill_off_answers_404_saying_how_to_enable_it() {
    let server = TestServer::start(ServeConfig {
        cpu_drill: Switch::Off,
        ..config(2)
    })
    .await;
    let reply = HttpClient::new().get(&server.url("/api/cpu?ms=5")).await;
    reply.assert_json_error(404, "not_found");
    let message = reply.message();
    assert!(
        message.contains("--cpu-drill on") && message.contains("SERVICE_CPU_DRILL=on"),
        "{message}"
    );
}

/// The documented environment variables, on the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_sets_the_switch_and_the_limit() {
    let client = HttpClient::new();
    let off = ServiceProcess::start(&["--telemetry", "metrics"], &[("SERVICE_CPU_DRILL", "off")]);
    client
        .get(&off.url("/api/cpu?ms=1"))
        .await
        .assert_json_error(404, "not_found");
    assert_eq!(client.get(&off.url("/api/work?ms=1")).await.status, 200);

    let capped = ServiceProcess::start(
        &["--telemetry", "metrics"],
        &[("SERVICE_MAX_CPU_BURNS", "3")],
    );
    let reply = client.get(&capped.url("/api/cpu?ms=0")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["max_concurrent_burns"], 3);
}
