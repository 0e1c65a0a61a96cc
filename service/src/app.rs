//! Assembles the router with its middleware stack.
//!
//! `Router::layer` wraps each endpoint, the 404 fallback included (only
//! layers added after `fallback` reach it). Order matters, outermost first:
//!
//! 1. [`HttpTelemetryLayer`]: sees every request and response, including
//!    404s, 405s and panics, so every response is counted exactly once.
//! 2. `DefaultBodyLimit`: bodies over the limit make the JSON extractor
//!    answer 413.
//! 3. `TimeoutLayer`: a request that takes longer than `--request-timeout`
//!    (a body trickling in, a stuck handler) is answered 408.
//! 4. `CatchPanicLayer`: a handler panic becomes a JSON 500, counted under
//!    its route, not a dropped connection.

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{ServeConfig, TelemetryMode, TracesExporter};
use crate::error::{self, ApiError};
use crate::http_telemetry::HttpTelemetryLayer;
use crate::metrics::{HttpMetrics, Metrics, MetricsError};
use crate::routes;
use crate::state::AppState;
use crate::telemetry;

/// The ready-to-serve router and the state behind it.
#[derive(Debug, Clone)]
pub struct App {
    /// Serve this with [`crate::serve`].
    pub router: Router,
    /// Shared state (item store, metrics, readiness).
    pub state: AppState,
}

/// Builds the application for `config`: metrics pipeline, routes and
/// middleware. Tracing needs the global subscriber from
/// [`telemetry::init`]; without it no spans are recorded.
pub fn app(config: &ServeConfig) -> Result<App, MetricsError> {
    assemble(routes::router(), config)
}

/// Wraps `routes` in the middleware stack (tests add routes of their own).
fn assemble(routes: Router<AppState>, config: &ServeConfig) -> Result<App, MetricsError> {
    let metrics = Arc::new(Metrics::new(telemetry::resource(config))?);
    let state = AppState::new(metrics.clone(), routes::CpuDrill::new(config));
    let record_metrics = config.telemetry != TelemetryMode::Off;
    let traces =
        config.telemetry == TelemetryMode::Full && config.traces_exporter == TracesExporter::Otlp;

    let telemetry = (record_metrics || traces).then(|| {
        // Leaked, once per app: the middleware then holds a plain reference
        // (see `HttpTelemetryLayer`). An app lives as long as the process.
        let http_metrics: Option<&'static HttpMetrics> =
            record_metrics.then(|| &*Box::leak(Box::new(metrics.http.clone())));
        HttpTelemetryLayer::new(http_metrics, traces)
    });
    let router = routes
        // A 405 is answered inside the route whose path matched, so it is
        // counted under that route.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        // One `layer` call for the whole stack: axum boxes every endpoint
        // once per call, and each box is cloned and freed on every request.
        .layer(
            ServiceBuilder::new()
                .option_layer(telemetry)
                .layer(DefaultBodyLimit::max(config.max_body_bytes))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(CatchPanicLayer::custom(panic_response)),
        );
    Ok(App {
        router: router.with_state(state.clone()),
        state,
    })
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_counted_json_500() {
        let config = ServeConfig {
            telemetry: TelemetryMode::Metrics,
            ..ServeConfig::default()
        };
        let routes = routes::router().route("/boom", get(boom));
        let app = assemble(routes, &config).expect("app");
        let response = app
            .router
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), 500);
        let text = String::from_utf8(app.state.metrics().render().expect("render")).expect("utf-8");
        assert!(
            text.contains(
                r#"http_server_requests_total{http_request_method="GET",http_response_status_code="500",http_route="/boom"} 1"#
            ),
            "{text}"
        );
    }
}
