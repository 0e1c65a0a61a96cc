//! The HTTP routes and the router that ties them together.

mod health;
mod items;
mod metrics;
mod query;
mod root;
mod work;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler as _;
use axum::routing::get;

use crate::state::AppState;

/// Every route of the service, without the telemetry middleware.
/// `max_body_bytes` limits the one request body the service reads (`POST
/// /api/items`): a larger one makes its JSON extractor answer 413. Only
/// extractors read the limit, so it sits on the one handler that has one,
/// and other requests do not pay for it.
pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/", get(root::greet))
        .route(
            "/api/items",
            get(items::list).post(items::create.layer(DefaultBodyLimit::max(max_body_bytes))),
        )
        .route("/api/items/{id}", get(items::get_one))
        .route("/api/work", get(work::work))
        .route("/api/cpu", get(work::cpu))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
}
