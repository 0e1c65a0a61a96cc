//! Liveness and readiness probes.
//!
//! `/healthz` answers 200 while the process serves HTTP at all. `/readyz`
//! answers 200 until shutdown starts, then 503. The listener closes at that
//! same moment, so a balancer mostly sees refused connections; the 503 is
//! for probes already on an open connection while requests drain.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// Liveness: the process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 until shutdown begins, 503 after.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_ready() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting down" })),
        )
    }
}
