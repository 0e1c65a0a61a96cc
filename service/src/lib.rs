//! An Axum web service instrumented with OpenTelemetry.
//!
//! The service is the thing the monitoring stack watches: a few JSON
//! endpoints, two load drills and the probes, with request metrics exposed
//! for Prometheus on `/metrics` and traces exported over OTLP.
//!
//! # Endpoints
//!
//! | route | what it does |
//! |---|---|
//! | `GET /` | a greeting |
//! | `GET /api/items`, `GET /api/items/{id}`, `POST /api/items` | in-memory JSON store of the newest 10,000 items, listed 100 at a time (`?after=ID&limit=N`, the next page in a `Link` header) |
//! | `GET /api/work?ms=N` | waits N ms (simulated I/O), N ≤ 10000; at most `--max-work-waits` at once, more answer 429 |
//! | `GET /api/cpu?ms=N` | keeps one core busy for N ms on the blocking pool, N ≤ 10000; at most one burn per core at once (`--max-cpu-burns`), more get 429; 404 with `--cpu-drill off` |
//! | `GET /healthz`, `GET /readyz` | liveness, readiness (503 while shutting down) |
//! | `GET /metrics` | Prometheus text exposition |
//!
//! Client mistakes get a JSON 4xx (see [`error::ApiError`]); unknown routes a
//! JSON 404, wrong methods a JSON 405.
//!
//! # What is counted
//!
//! `http_server_requests_total` (and the duration histogram) is recorded
//! exactly once per response, by the outermost middleware
//! ([`middleware::metrics`]), for **every** response: the API, 404 (unknown
//! route), 405, 413, panics turned into 500, health probes (`/healthz`,
//! `/readyz`) and the `/metrics` scrapes themselves. A scrape is counted
//! after it has rendered, so the Nth scrape shows N-1 `/metrics` requests. A
//! request whose client disconnects before the response is ready is counted
//! with `error_type="client_closed"` and no status (and no duration sample),
//! and it leaves the in-flight gauge.
//!
//! Labels are bounded whatever clients send: `http_route` is the route
//! template (`/api/items/{id}`; also on a 405, where the path matched),
//! absent for unmatched paths (`""` in PromQL); methods outside the standard
//! nine are `_OTHER`; status codes are those the service produces. So random
//! paths and methods add at most a few series per method label; the test
//! `random_paths_and_methods_add_a_bounded_number_of_series` checks it.
//!
//! # Traces
//!
//! One server span per request named `{METHOD} {route}` (`GET` alone for an
//! unmatched path) with semantic-convention attributes, child spans for store
//! access and CPU burns. A valid incoming `traceparent` is joined; an invalid
//! one is ignored. The caller's `tracestate` (its first header field) is
//! cut to 512 characters by W3C trace context's rule for a longer one. The
//! response carries the server span's `traceparent`, and that `tracestate`
//! when there is one.
//! Each span is encoded where it ends and exported in batches by a thread
//! of its own; see [`traces`] and [`span_processor`]. Spans a full export
//! queue drops are counted on `/metrics` and logged at a limited rate
//! ([`span_queue`]).
//!
//! # Access log
//!
//! One line per response ([`middleware::access_log`]), written by a
//! separate thread in batches; `--access-log off` turns it off.

// Modules are private unless the binary, the examples or the tests use
// them. The docs are read with their private items (CI builds them with
// `--document-private-items`, which checks every link), so the overview
// links to private modules.
#![allow(rustdoc::private_intra_doc_links)]

// In dependency order: each module uses only those above it (a blank line
// between two modules keeps rustfmt from sorting them).
//
// Vocabulary and settings:
pub mod config;
mod error;
pub mod semconv;

// The request path, from the data up:
mod cpu_drill;
mod store;

mod metrics;

mod state;

mod routes;

mod log_writer;

pub mod middleware;
mod request_timeout;

// The span pipeline, then logging and tracing set up around it:
mod log_limit;
pub mod otlp;

mod export;
mod span_queue;

mod span_processor;

mod traces;

pub mod telemetry;

// Putting it together:
mod app;

mod server;

pub use app::{App, app};
pub use config::{Cli, Command, ServeConfig, TelemetryMode};
pub use server::{ServeError, run, serve};
pub use telemetry::Telemetry;
