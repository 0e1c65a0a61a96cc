//! The HTTP routes and the router that ties them together.

mod health;
mod items;
mod metrics;
mod root;
mod work;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// Every route of the service, without middleware.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root::greet))
        .route("/api/items", get(items::list).post(items::create))
        .route("/api/items/{id}", get(items::get_one))
        .route("/api/work", get(work::work))
        .route("/api/cpu", get(work::cpu))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
}
