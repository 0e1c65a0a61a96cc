//! The in-memory item store behind `/api/items`.
//!
//! It keeps the newest [`ItemStore::CAPACITY`] items: an insert beyond that
//! evicts the oldest item (first in, first out), so clients cannot grow the
//! process's memory without bound and repeated load runs keep working. Ids
//! are never reused; an evicted id is gone. Store access runs in its own
//! span, the "real work" a trace shows under the server span.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::RwLock;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, Error, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

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

/// Body of `POST /api/items`: a JSON object; unknown fields are rejected so
/// typos surface.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// 1 to 100 characters, not blank.
    pub name: String,
    /// How many are in stock.
    pub quantity: u32,
}

/// The fields of [`NewItem`]. serde's derived struct impl also accepts a
/// JSON array (`["fig", 3]`, by position); [`NewItem`] only hands it maps.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItemFields {
    name: String,
    #[serde(deserialize_with = "quantity")]
    quantity: u32,
}

/// A `u32` whose errors say what a quantity may be, not `expected u32`.
fn quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    struct WholeNumber;
    impl Visitor<'_> for WholeNumber {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a whole number from 0 to {}", u32::MAX)
        }
        fn visit_u64<E: Error>(self, value: u64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
        }
        fn visit_i64<E: Error>(self, value: i64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }
        /// JSON has one number type: `3.0` and `1e2` are whole numbers too.
        fn visit_f64<E: Error>(self, value: f64) -> Result<u32, E> {
            if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
                Ok(value as u32)
            } else {
                Err(E::invalid_value(Unexpected::Float(value), &self))
            }
        }
    }
    deserializer.deserialize_u32(WholeNumber)
}

impl<'de> Deserialize<'de> for NewItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly;
        impl<'de> Visitor<'de> for ObjectOnly {
            type Value = NewItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a JSON object like {"name": "fig", "quantity": 3}"#)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NewItem, A::Error> {
                let fields = NewItemFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(NewItem {
                    name: fields.name,
                    quantity: fields.quantity,
                })
            }
        }
        deserializer.deserialize_map(ObjectOnly)
    }
}

/// The in-memory item store.
#[derive(Debug)]
pub struct ItemStore {
    items: RwLock<Items>,
}

#[derive(Debug)]
struct Items {
    by_id: BTreeMap<u64, Item>,
    /// The id the next insert gets: ids only grow, also across evictions.
    next_id: u64,
}

impl Default for ItemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ItemStore {
    /// Most items the store keeps; an insert beyond evicts the oldest.
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
            .collect::<BTreeMap<_, _>>();
        let next_id = items.len() as u64 + 1;
        Self {
            items: RwLock::new(Items {
                by_id: items,
                next_id,
            }),
        }
    }

    /// Up to `limit` items with ids above `after`, by id, and whether more
    /// follow. A page, not the whole store: 10,000 items of long names make
    /// a 6 MB body, which a client that does not read keeps in the
    /// service's memory, once per connection.
    #[tracing::instrument(level = "debug", name = "items.list", skip(self))]
    pub fn page(&self, after: u64, limit: usize) -> (Vec<Item>, bool) {
        let items = self.read();
        let mut rest = items
            .by_id
            .range(after.saturating_add(1)..)
            .map(|(_, item)| item);
        let page: Vec<Item> = rest.by_ref().take(limit).cloned().collect();
        (page, rest.next().is_some())
    }

    /// The item with this id, if any.
    #[tracing::instrument(level = "debug", name = "items.get", skip(self))]
    pub fn get(&self, id: u64) -> Option<Item> {
        self.read().by_id.get(&id).cloned()
    }

    /// Validates and stores a new item, evicting the oldest one when the
    /// store holds [`Self::CAPACITY`] items.
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
        while items.by_id.len() >= Self::CAPACITY {
            items.by_id.pop_first();
        }
        let id = items.next_id;
        items.next_id += 1;
        let item = Item {
            id,
            name: name.to_owned(),
            quantity: new.quantity,
        };
        items.by_id.insert(id, item.clone());
        Ok(item)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Items> {
        // A panic while holding the lock cannot leave a half-written map
        // (inserts are single calls), so a poisoned lock is still usable.
        self.items
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_item(name: &str) -> NewItem {
        NewItem {
            name: name.to_owned(),
            quantity: 1,
        }
    }

    #[test]
    fn a_full_store_evicts_the_oldest_items_first() {
        let store = ItemStore::new();
        let extra = 5;
        let total = ItemStore::CAPACITY + extra;
        // The three sample items count towards the capacity.
        for n in 4..=total {
            let item = store
                .insert(new_item(&format!("item {n}")))
                .expect("insert");
            assert_eq!(item.id, n as u64);
        }
        let (items, more) = store.page(0, usize::MAX);
        assert!(!more);
        assert_eq!(items.len(), ItemStore::CAPACITY);
        assert_eq!(items.first().map(|item| item.id), Some(extra as u64 + 1));
        assert_eq!(items.last().map(|item| item.id), Some(total as u64));
        assert!(store.get(1).is_none(), "the oldest sample item is evicted");
        assert!(store.get(extra as u64).is_none());
        assert!(store.get(extra as u64 + 1).is_some());
        let next = store.insert(new_item("one more")).expect("still accepts");
        assert_eq!(next.id, total as u64 + 1, "ids are never reused");
        assert_eq!(store.page(0, usize::MAX).0.len(), ItemStore::CAPACITY);
    }

    #[test]
    fn pages_go_through_the_items_by_id() {
        let store = ItemStore::new();
        for n in 4..=10 {
            store
                .insert(new_item(&format!("item {n}")))
                .expect("insert");
        }
        let ids = |(items, more): (Vec<Item>, bool)| {
            (items.iter().map(|item| item.id).collect::<Vec<_>>(), more)
        };
        assert_eq!(ids(store.page(0, 4)), (vec![1, 2, 3, 4], true));
        assert_eq!(ids(store.page(4, 4)), (vec![5, 6, 7, 8], true));
        assert_eq!(ids(store.page(8, 4)), (vec![9, 10], false));
        assert_eq!(ids(store.page(6, 4)), (vec![7, 8, 9, 10], false));
        assert_eq!(ids(store.page(10, 4)), (vec![], false));
        assert_eq!(ids(store.page(u64::MAX, 4)), (vec![], false));
    }

    #[test]
    fn only_a_json_object_is_an_item() {
        let item: NewItem =
            serde_json::from_str(r#"{"name": "fig", "quantity": 3}"#).expect("an object");
        assert_eq!((item.name.as_str(), item.quantity), ("fig", 3));
        for body in [r#"["seq", 5]"#, r#"[]"#, r#""fig""#, "3"] {
            let error = serde_json::from_str::<NewItem>(body)
                .expect_err(body)
                .to_string();
            assert!(error.contains("expected a JSON object"), "{body}: {error}");
        }
        let unknown = serde_json::from_str::<NewItem>(r#"{"name": "fig", "quantity": 3, "x": 1}"#)
            .expect_err("unknown field")
            .to_string();
        assert!(unknown.contains("unknown field `x`"), "{unknown}");
    }

    #[test]
    fn a_quantity_is_a_whole_number_that_fits() {
        for (quantity, read) in [("0", 0), ("4294967295", u32::MAX), ("3.0", 3), ("1e2", 100)] {
            let body = format!(r#"{{"name": "fig", "quantity": {quantity}}}"#);
            let item: NewItem = serde_json::from_str(&body).expect(quantity);
            assert_eq!(item.quantity, read, "{quantity}");
        }
        for (quantity, refusal) in [
            ("-1", "invalid value: integer `-1`"),
            ("4294967296", "invalid value: integer `4294967296`"),
            (
                "99999999999999999999",
                "invalid value: floating point `1e+20`",
            ),
            ("1.5", "invalid value: floating point `1.5`"),
            (r#""3""#, r#"invalid type: string "3""#),
        ] {
            let body = format!(r#"{{"name": "fig", "quantity": {quantity}}}"#);
            let error = serde_json::from_str::<NewItem>(&body)
                .expect_err(quantity)
                .to_string();
            assert!(
                error.contains(refusal)
                    && error.contains("expected a whole number from 0 to 4294967295"),
                "{quantity}: {error}"
            );
        }
    }
}
