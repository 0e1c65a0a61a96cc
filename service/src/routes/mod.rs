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
use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;

pub use items::{Item, ItemStore, NewItem};
pub use work::{CpuDrill, default_burn_limit};

use crate::metrics::METHOD_LABELS;
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

/// Every route template, in a fixed order (metric and span-name caches
/// are indexed by it).
pub const ALL: [&str; 8] = [ROOT, ITEMS, ITEM, WORK, CPU, HEALTHZ, READYZ, METRICS];

/// Returns the static copy of a route template (allocates only for a route
/// missing from the list above, which would be a bug, not a client input).
pub fn intern(template: &str) -> Cow<'static, str> {
    match known(template) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(template.to_owned()),
    }
}

/// The static copy of `text` if it is one of the route templates.
pub fn known(text: &str) -> Option<&'static str> {
    ALL.iter().find(|known| **known == text).copied()
}

/// Server span names `"{METHOD} {route}"` for every method label and
/// route, built once: naming a span then costs no allocation.
static SPAN_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    METHOD_LABELS
        .iter()
        .flat_map(|method| ALL.iter().map(move |route| format_span_name(method, route)))
        .collect()
});

/// `"{METHOD} {route}"`; semconv calls an unknown method `HTTP` in names.
fn format_span_name(method: &str, route: &str) -> String {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    format!("{method} {route}")
}

/// The server span name for `method` (a [`METHOD_LABELS`] value) on
/// `route`: static for the known routes, formatted otherwise.
pub fn span_name(method: &str, route: &str) -> Cow<'static, str> {
    let known_method = METHOD_LABELS.iter().position(|known| *known == method);
    let known_route = ALL.iter().position(|known| *known == route);
    match (known_method, known_route) {
        (Some(m), Some(r)) => Cow::Borrowed(SPAN_NAMES[m * ALL.len() + r].as_str()),
        _ => Cow::Owned(format_span_name(method, route)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_follow_semconv() {
        assert_eq!(span_name("GET", ITEM), "GET /api/items/{id}");
        assert_eq!(span_name("POST", ITEMS), "POST /api/items");
        assert_eq!(span_name("_OTHER", ROOT), "HTTP /");
        assert!(matches!(span_name("GET", METRICS), Cow::Borrowed(_)));
        assert_eq!(span_name("GET", "/not/a/route"), "GET /not/a/route");
    }
}
