//! What the provisioning files name across files: data source UIDs, contact
//! point names and receiver UIDs, for checks that every reference resolves.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::files::{array_at, str_at};

/// The text field `field` of each of `items` that has one.
fn texts_of(items: &[Value], field: &str) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| str_at(item, field))
        .map(str::to_owned)
        .collect()
}

/// UIDs of the data sources a provisioning file defines.
pub fn provisioned_datasource_uids(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "datasources"), "uid")
}

/// Data source UIDs a dashboard or alerting file refers to: every
/// `datasource: {uid}` / `datasource: "uid"` and `datasourceUid`, anywhere.
/// Grafana's built-in pseudo data sources (`__expr__`, `-- Grafana --`, ...)
/// are left out, as are template variables (`$ds`).
pub fn referenced_datasource_uids(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect_datasource_refs(doc, &mut found);
    found.retain(|uid| !uid.starts_with("__") && !uid.starts_with("--") && !uid.starts_with('$'));
    found
}

/// Data source UIDs `doc` refers to that no provisioning file defines
/// (`provisioned`): each would be a panel or rule that cannot query.
pub fn unprovisioned_datasource_uids(
    provisioned: &BTreeSet<String>,
    doc: &Value,
) -> BTreeSet<String> {
    referenced_datasource_uids(doc)
        .into_iter()
        .filter(|uid| !provisioned.contains(uid))
        .collect()
}

fn collect_datasource_refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("datasourceUid", Value::String(uid)) | ("datasource", Value::String(uid)) => {
                        found.insert(uid.clone());
                    }
                    ("datasource", Value::Object(ds)) => {
                        if let Some(Value::String(uid)) = ds.get("uid") {
                            found.insert(uid.clone());
                        }
                    }
                    _ => {}
                }
                collect_datasource_refs(child, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_datasource_refs(v, found)),
        _ => {}
    }
}

/// Names of the contact points an alerting file defines.
pub fn contact_point_names(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "contactPoints"), "name")
}

/// Receiver (integration) UIDs an alerting file provisions.
pub fn receiver_uids(doc: &Value) -> BTreeSet<String> {
    array_at(doc, "contactPoints")
        .iter()
        .flat_map(|cp| texts_of(array_at(cp, "receivers"), "uid"))
        .collect()
}

/// Receiver UIDs an alerting file deletes (`deleteContactPoints`).
pub fn deleted_receiver_uids(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "deleteContactPoints"), "uid")
}
