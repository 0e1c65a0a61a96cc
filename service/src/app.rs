//! Assembles the router with its middleware stack.
//!
//! `Router::layer` wraps each endpoint, the 404 fallback included (only
//! layers added after `fallback` reach it). Order matters, outermost first:
//!
//! 1. [`RecordMetricsLayer`]: sees every request and response, including 404s,
//!    405s and panics, so every response is counted exactly once;
//! 2. [`ServerSpanLayer`]: the server span, current while the inner layers run;
//! 3. [`AccessLogLayer`]: one line per response, with the span's trace id;
//! 4. [`RequestTimeoutLayer`]: a request that takes longer than
//!    `--request-timeout` (a body trickling in, a stuck handler) is answered
//!    408;
//! 5. `CatchPanicLayer`: a handler panic becomes a JSON 500, counted under
//!    its route, not a dropped connection.
//!
//! The body limit is not here: it sits on the one handler that reads a
//! body ([`routes::router`]).

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::{ServeConfig, TelemetryMode};
use crate::cpu_drill::CpuDrill;
use crate::error::{self, ApiError};
use crate::metrics::{Metrics, MetricsError};
use crate::middleware::access_log::AccessLogLayer;
use crate::middleware::metrics::RecordMetricsLayer;
use crate::middleware::trace::ServerSpanLayer;
use crate::request_timeout::RequestTimeoutLayer;
use crate::routes;
use crate::state::AppState;
use crate::telemetry::Telemetry;
use crate::traces;

/// The ready-to-serve router and the state behind it.
#[derive(Debug, Clone)]
pub struct App {
    /// Serve this with [`crate::serve`].
    pub router: Router,
    /// Shared state (item store, metrics, readiness).
    pub state: AppState,
}

/// Builds the application for `config`: metrics pipeline, routes and
/// middleware, recording into `telemetry` (from [`crate::telemetry::init`]; the
/// default records metrics only).
pub fn app(config: &ServeConfig, telemetry: &Telemetry) -> Result<App, MetricsError> {
    assemble(routes::router(config.max_body_bytes), config, telemetry)
}

/// Wraps `routes` in the middleware stack (tests add routes of their own).
fn assemble(
    routes: Router<AppState>,
    config: &ServeConfig,
    telemetry: &Telemetry,
) -> Result<App, MetricsError> {
    let metrics = Metrics::new(traces::resource(config))?;
    if let Some(queue) = &telemetry.span_queue {
        queue.register(metrics.meter());
    }
    if let Some(writer) = telemetry.log_writer.clone() {
        metrics.observe_dropped_log_lines(move || writer.dropped_lines());
    }
    let metrics = Arc::new(metrics);
    let connection_cap = http_server::effective_max_connections(config.max_connections);
    let max_work_waits = config.max_work_waits.unwrap_or((connection_cap / 2).max(1));
    if max_work_waits >= connection_cap {
        tracing::warn!(
            max_work_waits,
            connection_cap,
            "--max-work-waits is not below the connection cap: clients waiting on /api/work can fill it and lock others out"
        );
    }
    let state = AppState::new(Arc::clone(&metrics), CpuDrill::new(config), max_work_waits);
    let on = config.telemetry != TelemetryMode::Off;
    let traces = telemetry
        .tracer
        .clone()
        .filter(|_| config.telemetry == TelemetryMode::Full);
    let access_log = telemetry.access_log.clone().filter(|_| on);
    let router = routes
        // A 405 is answered inside the route whose path matched, so it is
        // counted under that route.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        // One `layer` call for the whole stack: axum boxes every endpoint
        // once per call.
        .layer(
            ServiceBuilder::new()
                .option_layer(on.then(|| RecordMetricsLayer::new(metrics)))
                .option_layer(traces.map(ServerSpanLayer::new))
                .option_layer(access_log.map(AccessLogLayer::new))
                .layer(RequestTimeoutLayer::new(config.request_timeout))
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
        let routes = routes::router(config.max_body_bytes).route("/boom", get(boom));
        let app = assemble(routes, &config, &Telemetry::default()).expect("app");
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
