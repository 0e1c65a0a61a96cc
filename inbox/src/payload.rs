//! The webhook body, as one serde type for both senders.
//!
//! Alertmanager's webhook receiver posts its "version 4" payload. Grafana's
//! webhook contact point posts the same fields (it reuses Alertmanager's
//! template data) plus extras such as `orgId`, `title`, `state`, `message` and
//! per-alert `values`, and says `"version": "1"`. Unknown fields are ignored,
//! so one type accepts both; the extras we care about are optional.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels or annotations: string keys to string values.
pub type KeyValues = BTreeMap<String, String>;

/// A webhook notification: one group of alerts sharing a status.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Payload format version: `"4"` from Alertmanager, `"1"` from Grafana.
    #[serde(default)]
    pub version: String,
    /// `firing` when at least one alert of the group fires, else `resolved`.
    pub status: String,
    /// Name of the receiver / contact point that sent it.
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub group_labels: KeyValues,
    #[serde(default)]
    pub common_labels: KeyValues,
    #[serde(default)]
    pub common_annotations: KeyValues,
    /// Link back to the sender (Alertmanager or Grafana).
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// How many alerts the sender left out because of `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    pub alerts: Vec<Alert>,
    /// Grafana only: organisation id; its presence marks a Grafana payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<i64>,
    /// Grafana only: rendered title, e.g. `[FIRING:1] HostHighCpuUsage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Grafana only: rendered message (from the contact point's template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One alert inside a notification.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: KeyValues,
    #[serde(default)]
    pub annotations: KeyValues,
    /// RFC 3339 timestamps, kept as text: we display them, never compute.
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    /// The name to show: Grafana's relay rule sets `alertname` to its own
    /// title (`PrometheusAlertFiring`) and carries the Prometheus alert's
    /// name in `prometheus_alertname`, which is what a reader wants to see.
    pub fn name(&self) -> &str {
        self.labels
            .get("prometheus_alertname")
            .or_else(|| self.labels.get("alertname"))
            .map_or("?", String::as_str)
    }
}

/// Who sent a notification, guessed from the payload's shape.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Alertmanager,
    Grafana,
    Unknown,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Alertmanager => "alertmanager",
            Source::Grafana => "grafana",
            Source::Unknown => "unknown",
        })
    }
}

impl WebhookPayload {
    /// Grafana sets `orgId` and version 1; Alertmanager sends version 4.
    pub fn source(&self) -> Source {
        if self.org_id.is_some() || self.version == "1" {
            Source::Grafana
        } else if self.version == "4" {
            Source::Alertmanager
        } else {
            Source::Unknown
        }
    }

    /// Distinct alert names ([`Alert::name`]) in order of first appearance.
    pub fn alertnames(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for alert in &self.alerts {
            let name = alert.name();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}
