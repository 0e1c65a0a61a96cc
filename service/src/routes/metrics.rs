//! `GET /metrics`: the Prometheus text exposition.
//!
//! A scrape is itself a request and is counted, but only after its response
//! is produced: scrape number N shows N-1 `/metrics` requests.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Encodes the current value of every series.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let body = state.metrics().render().map_err(|err| {
        tracing::error!(error = %err, "cannot render /metrics");
        ApiError::Internal
    })?;
    Ok(([(CONTENT_TYPE, Metrics::content_type())], body))
}
