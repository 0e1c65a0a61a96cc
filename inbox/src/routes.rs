//! HTTP routes of the inbox.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/notifications` | store a webhook payload (bearer token, body limit) |
//! | `GET /api/notifications` | stored notifications as JSON, newest first |
//! | `GET /` | the same as a small HTML page |
//! | `GET /healthz` | 200 `ok` while the process serves |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::auth::{Token, require_bearer};
use crate::history::History;
use crate::html;
use crate::logline;
use crate::payload::WebhookPayload;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub history: History,
}

/// Builds the router: `token` guards the write endpoint, `max_body` bounds
/// request bodies (larger ones get 413), `history` bounds what is kept.
pub fn router(token: Token, history: usize, max_body: usize) -> Router {
    let state = Arc::new(AppState {
        history: History::new(history),
    });
    let write = Router::new()
        .route("/api/notifications", post(receive))
        .route_layer(middleware::from_fn_with_state(token, require_bearer));
    Router::new()
        .route("/", get(index))
        .route("/api/notifications", get(list))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(write)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Parses the body ourselves rather than with `Json<T>`: axum would answer 415
/// or 422 for some bad bodies, and the contract is one clear 400.
async fn receive(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let payload: WebhookPayload = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::warn!(%error, "rejected notification body");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("not a webhook payload: {error}") })),
            )
                .into_response();
        }
    };
    let record = state.history.push(payload);
    tracing::info!("{}", logline::line(&record));
    (StatusCode::OK, Json(json!({ "id": record.id }))).into_response()
}

async fn list(State(state): State<Arc<AppState>>) -> Response {
    Json(state.history.newest_first()).into_response()
}

async fn index(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(html::page(&state.history.newest_first()))
}
