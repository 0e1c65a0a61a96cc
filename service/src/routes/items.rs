//! A small in-memory JSON API: `GET /api/items`, `GET /api/items/{id}`,
//! `POST /api/items`.
//!
//! The store is capped ([`ItemStore::CAPACITY`]) so clients cannot grow the
//! process's memory without bound. Store access runs in its own span, the
//! "real work" a trace shows under the server span.

use std::collections::BTreeMap;
use std::sync::RwLock;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Assigned by the store, starting at 1.
    pub id: u64,
    /// 1 to 100 characters, not blank.
    pub name: String,
    /// How many are in stock.
    pub quantity: u32,
}

/// Body of `POST /api/items`. Unknown fields are rejected so typos surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// 1 to 100 characters, not blank.
    pub name: String,
    /// How many are in stock.
    pub quantity: u32,
}

/// The in-memory item store.
#[derive(Debug)]
pub struct ItemStore {
    items: RwLock<BTreeMap<u64, Item>>,
}

impl Default for ItemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ItemStore {
    /// Most items the store keeps; creating more answers 409.
    pub const CAPACITY: usize = 10_000;
    /// Longest accepted name, in characters.
    pub const MAX_NAME_CHARS: usize = 100;

    /// A store holding three sample items (ids 1 to 3).
    pub fn new() -> Self {
        let items = [("apple", 12), ("pear", 7), ("plum", 30)]
            .into_iter()
            .zip(1..)
            .map(|((name, quantity), id)| {
                let item = Item {
                    id,
                    name: name.to_owned(),
                    quantity,
                };
                (id, item)
            })
            .collect();
        Self {
            items: RwLock::new(items),
        }
    }

    /// All items, by id.
    #[tracing::instrument(level = "debug", name = "items.list", skip_all)]
    pub fn list(&self) -> Vec<Item> {
        self.read().values().cloned().collect()
    }

    /// The item with this id, if any.
    #[tracing::instrument(level = "debug", name = "items.get", skip(self))]
    pub fn get(&self, id: u64) -> Option<Item> {
        self.read().get(&id).cloned()
    }

    /// Validates and stores a new item.
    #[tracing::instrument(level = "debug", name = "items.insert", skip_all)]
    pub fn insert(&self, new: NewItem) -> Result<Item, ApiError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_NAME_CHARS {
            return Err(ApiError::Unprocessable(format!(
                "name must be 1 to {} characters and not blank",
                Self::MAX_NAME_CHARS
            )));
        }
        let mut items = self
            .items
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if items.len() >= Self::CAPACITY {
            return Err(ApiError::Conflict(format!(
                "the store is full ({} items)",
                Self::CAPACITY
            )));
        }
        let id = items.last_key_value().map_or(1, |(id, _)| id + 1);
        let item = Item {
            id,
            name: name.to_owned(),
            quantity: new.quantity,
        };
        items.insert(id, item.clone());
        Ok(item)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Item>> {
        // A panic while holding the lock cannot leave a half-written map
        // (inserts are single calls), so a poisoned lock is still usable.
        self.items
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

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
