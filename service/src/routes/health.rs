//! Liveness and readiness probes.
//!
//! `/healthz` answers 200 while the process serves HTTP at all. `/readyz`
//! answers 200 until shutdown starts, then 503: the service goes on serving
//! for the lame-duck period (`--shutdown-lame-duck`), so load balancers see
//! the 503 and stop sending before the listener closes.

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
