//! The benchmark's conventional peers: a hello-world instrumented the two
//! ways most axum services are. Both record the request counter and
//! duration histogram for `opentelemetry-prometheus` in a `from_fn`
//! middleware, and turn `tracing` spans into OpenTelemetry spans with
//! `tracing-opentelemetry`, exported by `opentelemetry-otlp`; SDK defaults
//! throughout. They differ in what makes the server span:
//!
//! - `trace-layer`: tower-http's `TraceLayer` makes a `tracing` span and
//!   an access-log line per request;
//! - `otel-axum`: as axum-tracing-opentelemetry's README shows (the
//!   typical community setup issue 8 measured): `OtelAxumLayer` makes the
//!   span (W3C context read from the request, HTTP semantic-convention
//!   attributes), `OtelInResponseLayer` names it in the response, and
//!   `TraceLayer` only writes the access-log line, which that README
//!   recommends. The log filter is `init-tracing-opentelemetry`'s default
//!   (`info`, and `trace` for `otel::tracing`, the target of the span).
//!
//! ```sh
//! cargo run --release -p service --example peer -- trace-layer 127.0.0.1:15002 http://127.0.0.1:14317
//! ```

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use axum_tracing_opentelemetry::middleware::{OtelAxumLayer, OtelInResponseLayer};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::{Encoder as _, Registry, TextEncoder};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone)]
struct Metrics {
    registry: Registry,
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let response = next.run(request).await;
    let attributes = [
        KeyValue::new("http.request.method", method),
        KeyValue::new("http.route", route),
        KeyValue::new(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        ),
    ];
    metrics.requests.add(1, &attributes);
    metrics
        .duration
        .record(start.elapsed().as_secs_f64(), &attributes);
    response
}

async fn render(State(metrics): State<Metrics>) -> Vec<u8> {
    let mut body = Vec::new();
    let _ = TextEncoder::new().encode(&metrics.registry.gather(), &mut body);
    body
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let otel_axum = match args.next().as_deref() {
        Some("trace-layer") => false,
        Some("otel-axum") => true,
        _ => anyhow::bail!("usage: peer trace-layer|otel-axum [ADDRESS] [OTLP_ENDPOINT]"),
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:15002".to_owned());
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:14317".to_owned());

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    // axum-tracing-opentelemetry reads the caller's context through the
    // global propagator.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = if otel_axum {
        "info,otel::tracing=trace"
    } else {
        "info"
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(tracing_subscriber::fmt::layer())
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("peer")))
        .init();

    let registry = Registry::new();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .build()?,
        )
        .build();
    let meter = meter_provider.meter("peer");
    let metrics = Metrics {
        registry,
        requests: meter.u64_counter("http.server.requests").build(),
        duration: meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .build(),
    };

    let app = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/metrics", get(render));
    let log = DefaultOnResponse::new().level(Level::INFO);
    let app = if otel_axum {
        app.layer(TraceLayer::new_for_http().on_response(log))
            .layer(OtelInResponseLayer)
            .layer(OtelAxumLayer::default())
    } else {
        app.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(log),
        )
    };
    let app = app
        .layer(from_fn_with_state(metrics.clone(), record))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Exports what the batch still holds.
    tracer_provider.shutdown()?;
    Ok(())
}

/// Ctrl-C or SIGTERM (how the benchmark stops it).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
