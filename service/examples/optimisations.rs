//! What each optimisation the service keeps saves per request: the plain
//! way and the kept way, timed side by side on the same inputs in one run.
//! An optimisation stays only if it saves at least 0.5 µs per request. The
//! encoder and the log line each have a test next to them that their output
//! equals the plain version's; the middleware are held to the behaviour
//! tests (`tests/`), which count, trace and log every kind of response.
//!
//! ```sh
//! cargo run --release -p service --example optimisations
//! ```
//!
//! | kept | plain | where |
//! |---|---|---|
//! | OTLP protobuf written straight from `SpanData` | `opentelemetry-proto` structs encoded by `prost` (what `opentelemetry-otlp` does) | `otlp/encode.rs` |
//! | access-log line formatted by hand | a `tracing::info!` event formatted by `tracing-subscriber` | `middleware/access_log.rs` |
//! | the three telemetry middleware as tower `Layer`s | `axum::middleware::from_fn` | `middleware/` |
//!
//! Not here: two optimisations that pay only under the benchmark's load,
//! where the plain build and the kept one ran side by side (`bench/ab.sh`
//! does that; docs/performance.md). The request metrics' bound
//! series (`metrics/http.rs`): alone on one thread the plain SDK calls cost
//! only about 0.3 µs more, but with both cores serving they contend on the
//! SDK's shared series map (2.7 µs of CPU per request over `--telemetry off`
//! for the plain calls, 0.6 µs for the bound series). The `traceparent`
//! response header written by hand (`middleware/traceparent.rs`): 0.35 µs
//! on one thread, 0.8 to 2.5 µs of CPU per request under load.
//!
//! Each figure is the fastest of several rounds (the least disturbed by
//! other work on the machine), in ns per request: one span, one log line,
//! one pass through three middleware.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use prost::Message as _;
use service::config::LogFormat;
use service::middleware::access_log::Entry;
use service::otlp::encode;
use service::semconv::{self, MethodLabel};
use tracing_subscriber::layer::SubscriberExt as _;

const ROUNDS: usize = 7;
const ITERATIONS: u32 = 20_000;
/// Spans per export batch (the service's default batch size).
const BATCH: usize = 2048;
/// The saving an optimisation must show to stay.
const THRESHOLD_NS: f64 = 500.0;

/// The fastest round of `ITERATIONS` calls of `step`, in ns per call.
fn time(step: impl FnMut()) -> f64 {
    time_calls(ITERATIONS, step)
}

/// The fastest round of `calls` calls of `step`, in ns per call.
fn time_calls(calls: u32, mut step: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                step();
            }
            started.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .fold(f64::INFINITY, f64::min)
}

/// A server span as the service exports it for `GET /api/items/{id}`.
fn server_span(n: u64) -> SpanData {
    let start = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(u128::from(n) << 64 | 0x4bf9),
            SpanId::from(n + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: Cow::Owned("GET /api/items/{id}".to_owned()),
        start_time: start,
        end_time: start + Duration::from_micros(40),
        attributes: vec![
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(semconv::HTTP_ROUTE, "/api/items/{id}".to_owned()),
            KeyValue::new(semconv::URL_PATH, "/api/items/17".to_owned()),
            KeyValue::new(semconv::URL_SCHEME, "http"),
            KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"),
            KeyValue::new(semconv::USER_AGENT_ORIGINAL, "curl/7.88.1".to_owned()),
            KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("service").build(),
    }
}

/// ns per span to encode a batch (the batch is cloned for each call both
/// ways: the export consumes it).
fn otlp() -> (f64, f64) {
    let resource = Resource::builder().with_service_name("service").build();
    let batch: Vec<SpanData> = (0..BATCH as u64).map(server_span).collect();
    let per_span = |ns: f64| ns / BATCH as f64;
    let batches = ITERATIONS / 1000;
    let plain = time_calls(batches, || {
        let resource_spans = group_spans_by_resource_and_scope(
            batch.clone(),
            &ResourceAttributesWithSchema::from(&resource),
        );
        black_box(ExportTraceServiceRequest { resource_spans }.encode_to_vec());
    });
    let kept = time_calls(batches, || {
        let mut encoded = service::otlp::Batch::default();
        for span in batch.clone() {
            encoded.push(&span.instrumentation_scope, &encode::span(&span));
        }
        black_box(encoded.request(&resource));
    });
    (per_span(plain), per_span(kept))
}

fn access_log() -> (f64, f64) {
    let entry = Entry {
        method: MethodLabel::Get,
        route: "/api/items/{id}",
        status: 200,
        duration_us: 132,
        trace_id: Some(TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::sink);
    let subscriber = tracing_subscriber::registry().with(layer);
    let plain = tracing::subscriber::with_default(subscriber, || time(|| entry.emit_event()));
    let kept = time(|| {
        black_box(entry.line(SystemTime::now(), LogFormat::Text));
    });
    (plain, kept)
}

/// Three pass-through middleware around a router, written both ways: what
/// the framework costs, the middleware's own work left out.
fn middleware() -> (f64, f64) {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::middleware::{Next, from_fn};
    use axum::response::Response;
    use axum::routing::get;
    use tower::ServiceBuilder;
    use tower::ServiceExt as _;
    use tower::util::MapResponseLayer;

    async fn pass(request: Request<Body>, next: Next) -> Response {
        next.run(request).await
    }
    let routes = || Router::new().route("/", get(|| async { "hello" }));
    let with_from_fn = routes().layer(
        ServiceBuilder::new()
            .layer(from_fn(pass))
            .layer(from_fn(pass))
            .layer(from_fn(pass)),
    );
    let with_layers = routes().layer(
        ServiceBuilder::new()
            .layer(MapResponseLayer::new(std::convert::identity::<Response>))
            .layer(MapResponseLayer::new(std::convert::identity::<Response>))
            .layer(MapResponseLayer::new(std::convert::identity::<Response>)),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    // One `block_on` per 100 requests, the same both ways.
    const PER_CALL: u32 = 100;
    let time_router = |router: &Router| {
        let per_call = time_calls(ITERATIONS / PER_CALL, || {
            runtime.block_on(async {
                for _ in 0..PER_CALL {
                    let request = Request::get("/").body(Body::empty()).expect("a request");
                    black_box(router.clone().oneshot(request).await.expect("infallible"));
                }
            });
        });
        per_call / f64::from(PER_CALL)
    };
    (time_router(&with_from_fn), time_router(&with_layers))
}

fn main() {
    println!(
        "| optimisation | plain ns/request | kept ns/request | saved µs/request | pays (≥ 0.5 µs) |"
    );
    println!("|---|---|---|---|---|");
    type Measure = fn() -> (f64, f64);
    let rows: [(&str, Measure); 3] = [
        ("OTLP encoding (per span)", otlp),
        ("access-log line", access_log),
        ("three middleware as tower layers", middleware),
    ];
    for (name, measure) in rows {
        let (plain, kept) = measure();
        let saved = plain - kept;
        println!(
            "| {name} | {plain:.0} | {kept:.0} | {:.2} | {} |",
            saved / 1000.0,
            if saved >= THRESHOLD_NS { "yes" } else { "no" }
        );
    }
}
