//! In-process cost of the telemetry per request, without sockets: drives
//! the service's router with `GET /` from 8 concurrent tasks and reports the
//! process CPU time per request. Spans are exported over OTLP/gRPC to
//! `ENDPOINT` (run `examples/otlp_sink.rs` there); the measurement ends once
//! every span has been exported, so the export work is included.
//!
//! ```sh
//! cargo run --release -p service --example overhead -- full 200000 http://127.0.0.1:14400
//! ```
//!
//! CPU time is noisy on a shared machine; instruction counts are not.
//! `service/bench/instructions.sh` runs this under `valgrind
//! --tool=callgrind` twice (N and 3N requests) and reports the difference
//! per request, which cancels start-up and shutdown.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use axum::body::Body;
use axum::http::Request;
use service::ServeConfig;
use service::config::{SamplerKind, Switch, TelemetryMode};
use tower::ServiceExt as _;

/// Concurrent request loops (the service sees 32 connections in the
/// benchmark; 8 are enough to keep both workers busy here).
const TASKS: usize = 8;

/// User + system CPU time of the whole process (all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".to_owned());
    let requests: usize = match args.next() {
        Some(text) => text.parse().context("REQUESTS must be a number")?,
        None => 200_000,
    };
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:14400".to_owned());
    // `defaults` is `full` with the access log on, as the service starts.
    let (telemetry, access_log) = match mode.as_str() {
        "off" => (TelemetryMode::Off, Switch::Off),
        "metrics" => (TelemetryMode::Metrics, Switch::Off),
        "full" => (TelemetryMode::Full, Switch::Off),
        "defaults" => (TelemetryMode::Full, Switch::On),
        other => anyhow::bail!("MODE must be off, metrics, full or defaults, not {other:?}"),
    };
    let config = ServeConfig {
        telemetry,
        access_log,
        otlp_endpoint: endpoint,
        traces_sampler: SamplerKind::AlwaysOn,
        // Room for every span: this loop outruns the exporter, and a dropped
        // span would be export work not measured.
        span_queue_size: requests + requests / 10 + 10,
        ..ServeConfig::default()
    };
    let telemetry = service::telemetry::init(&config)?;
    let app = service::app(&config, telemetry.telemetry())?;
    let run = |count: usize| {
        let router = app.router.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..TASKS {
                let router = router.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..count / TASKS {
                        let request = Request::get("/")
                            .header("user-agent", "overhead")
                            .body(Body::empty())?;
                        let response = router.clone().oneshot(request).await?;
                        ensure!(response.status() == 200, "status {}", response.status());
                        tokio::task::yield_now().await;
                    }
                    Ok(())
                }));
            }
            for task in tasks {
                task.await??;
            }
            anyhow::Ok(())
        }
    };
    // Warm-up: first requests bind the metric series and open the channel.
    run(requests / 10).await?;
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    run(requests).await?;
    // Export everything queued: its CPU belongs to these requests.
    telemetry.shutdown(Duration::from_secs(60)).await;
    let (cpu, wall) = (cpu_seconds() - cpu_before, started.elapsed());
    println!(
        "{mode}: {:.3} us CPU/req, {:.3} us wall/req",
        cpu * 1e6 / requests as f64,
        wall.as_secs_f64() * 1e6 / requests as f64
    );
    Ok(())
}
