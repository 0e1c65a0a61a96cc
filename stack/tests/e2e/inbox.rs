//! Reading what the inbox received.

use serde_json::Value;

/// Notifications the inbox holds (newest first), as JSON.
pub async fn notifications(client: &reqwest::Client, inbox: &str) -> Vec<Value> {
    client
        .get(format!("{inbox}/api/notifications"))
        .send()
        .await
        .expect("inbox reachable")
        .json()
        .await
        .expect("inbox JSON")
}

/// The arrival time (Unix seconds) of the first notification whose alerts
/// include `alertname` with `status`.
pub fn delivered(notifications: &[Value], alertname: &str, status: &str) -> Option<f64> {
    notifications
        .iter()
        .filter(|n| {
            n["payload"]["alerts"].as_array().is_some_and(|alerts| {
                alerts
                    .iter()
                    .any(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
            })
        })
        .filter_map(|n| n["received_at_unix_ms"].as_f64())
        .map(|ms| ms / 1000.0)
        .reduce(f64::min)
}

/// The `instance` labels of the alerts named `alertname` with `status` in
/// any notification, sorted and without repeats.
pub fn instances(notifications: &[Value], alertname: &str, status: &str) -> Vec<String> {
    let mut found: Vec<String> = notifications
        .iter()
        .filter_map(|n| n["payload"]["alerts"].as_array())
        .flatten()
        .filter(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
        .filter_map(|a| a["labels"]["instance"].as_str().map(str::to_owned))
        .collect();
    found.sort();
    found.dedup();
    found
}
