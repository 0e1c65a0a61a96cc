//! HTTP routes of the inbox.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/notifications` | store a webhook payload (bearer token, body limit) |
//! | `GET /api/notifications` | stored notifications as JSON, newest first, a bounded page at a time ([`listing`]) |
//! | `GET /` | the newest ones as a small HTML page ([`html`]): per alert its name, instance, severity, summary, description, runbook link, sender and status |
//! | `GET /runbook` | docs/runbook.md as HTML, built in ([`runbook`]); each alert's section at `#<alert name in lower case>` |
//! | `GET /healthz` | 200 `ok` while the process serves |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::auth::{Token, require_bearer};
use crate::config::{DEFAULT_HISTORY_BYTES, Limits};
use crate::history::History;
use crate::html;
use crate::listing::{self, ListQuery};
use crate::logline;
use crate::page_cache::PageCache;
use crate::payload::{PayloadError, WebhookPayload};
use crate::runbook;
use crate::summary::Summary;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub history: History,
    pub limits: Limits,
    /// One body is parsed at a time: while it lasts, a parse takes up to
    /// about 30 times the body's size (see `docs/configuration.md`).
    parsing: Semaphore,
    page: PageCache,
    runbook: String,
}

/// [`app`] with the default `--history-bytes` (64 MiB) and `max_body` taken
/// as given, unchecked: for tests and embedding.
pub fn router(token: Token, history: usize, max_body: usize) -> Router {
    app(
        token,
        Limits {
            history,
            history_bytes: DEFAULT_HISTORY_BYTES.as_usize(),
            max_body,
        },
        &runbook::Links::default(),
    )
}

/// Builds the router: `token` guards the write endpoint, `limits` bound
/// request bodies (larger ones get 413) and what is kept; the runbook's
/// links to the stack's components follow `links`.
pub fn app(token: Token, limits: Limits, links: &runbook::Links) -> Router {
    let state = Arc::new(AppState {
        history: History::new(limits.history, limits.history_bytes),
        limits,
        parsing: Semaphore::new(1),
        page: PageCache::default(),
        runbook: runbook::page(links),
    });
    let write = Router::new()
        .route("/api/notifications", post(receive))
        .route_layer(middleware::from_fn_with_state(token, require_bearer));
    Router::new()
        .route("/", get(index))
        .route("/api/notifications", get(list))
        .route("/runbook", get(runbook_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(write)
        .layer(DefaultBodyLimit::max(limits.max_body))
        .with_state(state)
}

async fn runbook_page(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(state.runbook.clone())
}

/// Parses the body ourselves rather than with `Json<T>`: axum would answer 415
/// or 422 for some bad bodies, and the contract is one clear 400.
async fn receive(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(_parsing) = state.parsing.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the inbox is stopping".into(),
        );
    };
    let stored = WebhookPayload::parse(&body).and_then(|payload| {
        let json = payload.to_stored_json(state.limits.max_body, body.len())?;
        Ok((payload.source(), Summary::of(&payload), json))
    });
    drop(body);
    let (source, summary, json) = match stored {
        Ok(stored) => stored,
        Err(rejected) => {
            tracing::warn!(error = %rejected, "rejected notification body");
            let status = match rejected {
                PayloadError::Invalid(_) => StatusCode::BAD_REQUEST,
                PayloadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            };
            return error(status, rejected.to_string());
        }
    };
    match state.history.push(source, summary, json) {
        Ok(record) => {
            tracing::info!("{}", logline::line(&record));
            (StatusCode::OK, Json(json!({ "id": record.id }))).into_response()
        }
        Err(too_large) => error(StatusCode::PAYLOAD_TOO_LARGE, too_large.to_string()),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn list(State(state): State<Arc<AppState>>, Query(query): Query<ListQuery>) -> Response {
    listing::respond(&state.history, &query)
}

async fn index(State(state): State<Arc<AppState>>) -> Html<Bytes> {
    let newest = state.history.newest(html::ROWS);
    let build = || Bytes::from(html::page(&newest.records, newest.kept));
    Html(state.page.get_or_build(newest.version, build).await)
}
