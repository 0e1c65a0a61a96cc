//! Assembles the router with its middleware stack.
//!
//! Order matters (outermost first):
//!
//! 1. [`HttpTelemetryLayer`]: sees every request and response, including
//!    fallbacks and panics, so every response is counted exactly once.
//! 2. `CatchPanicLayer`: a handler panic becomes a JSON 500 (counted),
//!    not a dropped connection.
//! 3. `DefaultBodyLimit`: bodies over the limit make the JSON extractor
//!    answer 413.
//! 4. The routes, each wrapped by [`RouteTagLayer`] to report its template.

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::{ServeConfig, TelemetryMode, TracesExporter};
use crate::error::{self, ApiError};
use crate::http_telemetry::{HttpTelemetryLayer, RouteTagLayer};
use crate::metrics::{Metrics, MetricsError};
use crate::routes;
use crate::state::AppState;
use crate::telemetry;

/// The ready-to-serve router and the state behind it.
#[derive(Debug, Clone)]
pub struct App {
    /// Serve this with `axum::serve`.
    pub router: Router,
    /// Shared state (item store, metrics, readiness).
    pub state: AppState,
}

/// Builds the application for `config`: metrics pipeline, routes and
/// middleware. Tracing needs the global subscriber from
/// [`telemetry::init`]; without it no spans are recorded.
pub fn app(config: &ServeConfig) -> Result<App, MetricsError> {
    let metrics = Arc::new(Metrics::new(telemetry::resource(config))?);
    let state = AppState::new(metrics.clone());
    let record_metrics = config.telemetry != TelemetryMode::Off;
    let traces =
        config.telemetry == TelemetryMode::Full && config.traces_exporter == TracesExporter::Otlp;

    let mut router = routes::router()
        .route_layer(RouteTagLayer)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response));
    if record_metrics || traces {
        let http_metrics = record_metrics.then(|| Arc::new(metrics.http.clone()));
        router = router.layer(HttpTelemetryLayer::new(http_metrics, traces));
    }
    Ok(App {
        router: router.with_state(state.clone()),
        state,
    })
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}
