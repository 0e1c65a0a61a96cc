//! The telemetry middleware, one concern per layer, each a small tower
//! `Layer`. `axum::middleware::from_fn` would read shorter, but it boxes
//! the rest of the stack and its own future on every request: for the
//! three, 0.3 to 0.9 µs more per request on one thread
//! (`examples/optimisations.rs`) and 2 µs under the benchmark's load
//! (`bench/ab.sh`; docs/performance.md), over the 0.5 µs an optimisation
//! must save to stay.
//!
//! - [`metrics`]: counts every response and times it, and keeps the
//!   in-flight gauge (also for requests whose client hangs up);
//! - [`trace`]: the server span, joined to the caller's trace through an
//!   incoming `traceparent`, named back in the response's `traceparent`
//!   (written by `traceparent.rs`), and ended as `client_closed` when the
//!   client hangs up;
//! - [`access_log`]: one log line per response.
//!
//! The app (`app.rs`) installs them outermost, in that order, with
//! `Router::layer`, which wraps every endpoint and the fallback: so they see
//! every response, 404s, 405s, 413s and panics turned into 500s included,
//! and the route *template* axum matched (`MatchedPath`), never the raw path.
//! They wrap axum's services, which never fail (`Error = Infallible`): a
//! request is either answered or dropped because its client left, and each
//! layer accounts for both.

pub mod access_log;
pub mod metrics;
pub mod trace;
mod traceparent;
