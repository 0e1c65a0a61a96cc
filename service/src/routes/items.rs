//! `GET /api/items`, `GET /api/items/{id}`, `POST /api/items`: JSON over
//! the [`ItemStore`](crate::store::ItemStore).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{LINK, LOCATION};
use axum::response::{AppendHeaders, IntoResponse};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Item, NewItem};

/// Most items in one answer of `GET /api/items`.
pub const MAX_PAGE: usize = 100;

/// The query of `GET /api/items`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Items with ids above this one (0: from the first).
    #[serde(default)]
    after: u64,
    /// At most this many (1 to [`MAX_PAGE`]).
    #[serde(default = "max_page")]
    limit: usize,
}

fn max_page() -> usize {
    MAX_PAGE
}

/// `GET /api/items[?after=ID][&limit=N]`: a page of items by id, at most
/// [`MAX_PAGE`]. When more follow, a `Link` header (RFC 8288, as GitHub's
/// API pages) names the next page.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = format!(
        "after must be an item id and limit a whole number from 1 to {MAX_PAGE}, \
         e.g. ?after=100&limit=50"
    );
    let Query(PageQuery { after, limit }) =
        query.map_err(|_| ApiError::BadRequest(expected.clone()))?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(expected));
    }
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
