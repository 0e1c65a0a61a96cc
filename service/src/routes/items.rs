//! `GET /api/items`, `GET /api/items/{id}`, `POST /api/items`: JSON over
//! the [`ItemStore`](crate::store::ItemStore).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{LINK, LOCATION};
use axum::response::{AppendHeaders, IntoResponse};

use super::query;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Item, NewItem};

/// Most items in one answer of `GET /api/items`.
pub const MAX_PAGE: usize = 100;

/// `GET /api/items[?after=ID][&limit=N]`: a page of items by id, at most
/// [`MAX_PAGE`]. When more follow, a `Link` header (RFC 8288, as GitHub's
/// API pages) names the next page.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    const EXAMPLE: &str = "?after=100&limit=50";
    let Query(pairs) =
        query.map_err(|_| ApiError::BadRequest(format!("the query must look like {EXAMPLE}")))?;
    let after = match query::single(&pairs, "after", EXAMPLE)? {
        None => 0,
        Some(text) => text.parse().map_err(|_| {
            ApiError::BadRequest(format!("after must be an item id, e.g. {EXAMPLE}"))
        })?,
    };
    let limit = match query::single(&pairs, "limit", EXAMPLE)? {
        None => MAX_PAGE,
        Some(text) => text
            .parse()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE}, e.g. {EXAMPLE}"
                ))
            })?,
    };
    let (items, more) = state.items().page(after, limit);
    let next = items
        .last()
        .filter(|_| more)
        .map(|last| format!("</api/items?after={}&limit={limit}>; rel=\"next\"", last.id));
    Ok((AppendHeaders(next.map(|link| (LINK, link))), Json(items)))
}

/// `GET /api/items/{id}`: 400 for a non-numeric id, 404 for an unknown one.
pub async fn get_one(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<Item>, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::BadRequest("id must be a non-negative integer, e.g. /api/items/1".to_owned())
    })?;
    state
        .items()
        .get(id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no item with id {id}")))
}

/// `POST /api/items`: 201 with the stored item and its `Location`.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewItem>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(new) = body?;
    let item = state.items().insert(new)?;
    let location = format!("/api/items/{}", item.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(item)))
}
