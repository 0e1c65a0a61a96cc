//! The HTTP routes and the router that ties them together.
//!
//! Route templates are constants so the telemetry middleware can turn axum's
//! `MatchedPath` back into a `&'static str` ([`intern`]) instead of
//! allocating a label value per request.

mod health;
mod items;
mod metrics;
mod root;
mod work;

use std::borrow::Cow;

use axum::Router;
use axum::routing::get;

pub use items::{Item, ItemStore, NewItem};

use crate::state::AppState;

/// `GET /`
pub const ROOT: &str = "/";
/// `GET|POST /api/items`
pub const ITEMS: &str = "/api/items";
/// `GET /api/items/{id}`
pub const ITEM: &str = "/api/items/{id}";
/// `GET /api/work?ms=N`
pub const WORK: &str = "/api/work";
/// `GET /api/cpu?ms=N`
pub const CPU: &str = "/api/cpu";
/// `GET /healthz`
pub const HEALTHZ: &str = "/healthz";
/// `GET /readyz`
pub const READYZ: &str = "/readyz";
/// `GET /metrics`
pub const METRICS: &str = "/metrics";

const ALL: [&str; 8] = [ROOT, ITEMS, ITEM, WORK, CPU, HEALTHZ, READYZ, METRICS];

/// Returns the static copy of a route template (allocates only for a route
/// missing from the list above, which would be a bug, not a client input).
pub fn intern(template: &str) -> Cow<'static, str> {
    match ALL.iter().find(|known| **known == template) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(template.to_owned()),
    }
}

/// Every route of the service, without middleware.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(ROOT, get(root::greet))
        .route(ITEMS, get(items::list).post(items::create))
        .route(ITEM, get(items::get_one))
        .route(WORK, get(work::work))
        .route(CPU, get(work::cpu))
        .route(HEALTHZ, get(health::healthz))
        .route(READYZ, get(health::readyz))
        .route(METRICS, get(metrics::metrics))
}
