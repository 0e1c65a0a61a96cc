//! `GET /api/items`, `GET /api/items/{id}`, `POST /api/items`: JSON over
//! the [`ItemStore`](crate::store::ItemStore).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Item, NewItem};

/// `GET /api/items`
pub async fn list(State(state): State<AppState>) -> Json<Vec<Item>> {
    Json(state.items().list())
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
