//! The webhook body, as one serde type for both senders.
//!
//! Alertmanager's webhook receiver posts its "version 4" payload. Grafana's
//! webhook contact point posts the same fields (it reuses Alertmanager's
//! template data) plus extras such as `orgId`, `title`, `state`, `message` and
//! per-alert `values`, and says `"version": "1"`. Unknown fields are ignored,
//! so one type accepts both; the extras we care about are optional.
//!
//! The payload and each alert must be JSON objects. Serde's derived impls
//! would also take an array of field values (`[""]` is a valid `Alert`): no
//! sender writes that, and it lets a 256 KiB body hold 52,000 alerts that
//! take 34 times the body's size once parsed.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

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
    #[serde(deserialize_with = "objects")]
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
}

/// Why a body is not stored.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("not a webhook payload: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error(
        "the notification takes more than {limit} bytes once stored with every field filled in \
         (the limit is --max-body / INBOX_MAX_BODY): send fewer alerts per notification \
         (Alertmanager: max_alerts) or raise the limit, e.g. INBOX_MAX_BODY=1MiB"
    )]
    TooLarge { limit: usize },
}

impl WebhookPayload {
    /// Parses a webhook body; the payload and its alerts must be JSON objects.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let Object(payload) = serde_json::from_slice(body)?;
        Ok(payload)
    }

    /// The payload as compact JSON, every field present (the shape readers of
    /// `GET /api/notifications` see), refused when longer than `limit` bytes.
    /// Defaults filled in can make it longer than the body it came from.
    /// `expected` (the body's length serves) sizes the buffer up front, so
    /// that it is neither regrown nor shrunk by much: either leaves a freed
    /// block the allocator may keep.
    pub fn to_stored_json(&self, limit: usize, expected: usize) -> Result<Box<str>, PayloadError> {
        let mut out = Capped {
            buf: Vec::with_capacity(expected.min(limit)),
            limit,
        };
        serde_json::to_writer(&mut out, self).map_err(|_| PayloadError::TooLarge { limit })?;
        // serde_json writes UTF-8 only, so this never fails.
        let text = String::from_utf8(out.buf).map_err(|_| PayloadError::TooLarge { limit })?;
        Ok(text.into_boxed_str())
    }
}

/// A writer that fails instead of growing past `limit` bytes.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(io::Error::other("over the stored-size limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `T` read from a JSON object only (not from an array of its fields).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// A JSON array of objects.
fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<Object<T>>::deserialize(deserializer)?;
    Ok(items.into_iter().map(|Object(item)| item).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"status":"firing","alerts":[{"status":"firing"}]}"#;

    #[test]
    fn payload_and_alerts_must_be_objects() {
        assert!(WebhookPayload::parse(MINIMAL.as_bytes()).is_ok());
        // The array forms serde's derive would accept.
        for body in [
            r#"{"status":"firing","alerts":[[""]]}"#,
            r#"["4","firing","r","k",{},{},{},"",0,[]]"#,
        ] {
            let error = WebhookPayload::parse(body.as_bytes()).expect_err(body);
            assert!(
                error.to_string().contains("expected a JSON object"),
                "{error}"
            );
        }
    }

    #[test]
    fn stored_json_has_every_field_and_respects_the_limit() {
        let payload = WebhookPayload::parse(MINIMAL.as_bytes()).expect("parses");
        let json = payload.to_stored_json(4096, 0).expect("fits");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["receiver"], "");
        assert_eq!(value["alerts"][0]["labels"], serde_json::json!({}));
        assert_eq!(value["alerts"][0]["fingerprint"], "");
        assert!(json.len() > MINIMAL.len(), "defaults make it longer");
        assert!(payload.to_stored_json(json.len(), 0).is_ok());
        let error = payload
            .to_stored_json(json.len() - 1, 0)
            .expect_err("one byte short");
        assert!(error.to_string().contains("INBOX_MAX_BODY"), "{error}");
    }
}
