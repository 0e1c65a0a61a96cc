//! What the HTML page and the log line show of a notification, bounded.
//!
//! A notification may carry thousands of alerts with long texts; the page
//! and the log need only the first few, clipped. Keeping this summary next to
//! the stored JSON (instead of re-parsing the JSON per page view) costs at
//! most [`Summary::MAX_HEAP_BYTES`] per notification.

use std::mem::size_of;

use crate::payload::{Alert, KeyValues, WebhookPayload};

/// Most characters kept of any one text (name, status, summary, ...).
pub const TEXT_CHARS: usize = 160;
/// Most alerts summarised per notification.
pub const ALERTS_SHOWN: usize = 10;
/// Most distinct alert names kept per notification.
pub const NAMES_SHOWN: usize = 10;

/// Marks clipped text.
pub const ELLIPSIS: char = '…';
/// Bytes of one clipped text: each char up to 4 bytes, plus the ellipsis.
const TEXT_MAX_BYTES: usize = TEXT_CHARS * 4 + ELLIPSIS.len_utf8();

/// The bounded digest of one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub status: String,
    pub receiver: String,
    /// How many alerts the notification carries (all of them, not only shown ones).
    pub alert_count: usize,
    /// Distinct alert names ([`Alert::name`]) in order of first appearance.
    pub names: Vec<String>,
    /// More distinct names exist than [`NAMES_SHOWN`].
    pub more_names: bool,
    /// The first [`ALERTS_SHOWN`] alerts.
    pub alerts: Vec<AlertLine>,
}

/// One alert as the page shows it: every text the page's row shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertLine {
    pub name: String,
    pub status: String,
    /// The `instance` label, else empty.
    pub instance: String,
    /// The `severity` label, else empty.
    pub severity: String,
    /// The `summary` annotation, else empty.
    pub summary: String,
    /// The `description` annotation, else empty.
    pub description: String,
    /// The `runbook_url` annotation, else empty; a link only when absolute
    /// http(s) (the page decides, see `html::link`).
    pub runbook_url: String,
    /// When it ended if resolved (`endsAt`), else when it started (`startsAt`):
    /// a firing alert's `endsAt` is a placeholder or a guess.
    pub at: String,
}

impl Summary {
    /// The most heap memory one summary holds.
    pub const MAX_HEAP_BYTES: usize = (2 + NAMES_SHOWN + AlertLine::TEXTS * ALERTS_SHOWN)
        * TEXT_MAX_BYTES
        + NAMES_SHOWN * size_of::<String>()
        + ALERTS_SHOWN * size_of::<AlertLine>();

    pub fn of(payload: &WebhookPayload) -> Self {
        let mut names: Vec<&str> = Vec::with_capacity(NAMES_SHOWN);
        let mut more_names = false;
        for name in payload.alerts.iter().map(Alert::name) {
            if names.contains(&name) {
                continue;
            }
            if names.len() == NAMES_SHOWN {
                more_names = true;
                break;
            }
            names.push(name);
        }
        Self {
            status: clip(&payload.status),
            receiver: clip(&payload.receiver),
            alert_count: payload.alerts.len(),
            names: names.into_iter().map(clip).collect(),
            more_names,
            alerts: payload
                .alerts
                .iter()
                .take(ALERTS_SHOWN)
                .map(AlertLine::of)
                .collect(),
        }
    }

    /// Heap memory held, by allocation size.
    pub fn heap_bytes(&self) -> usize {
        let texts: usize = [&self.status, &self.receiver]
            .into_iter()
            .chain(&self.names)
            .chain(self.alerts.iter().flat_map(AlertLine::texts))
            .map(String::capacity)
            .sum();
        texts
            + self.names.capacity() * size_of::<String>()
            + self.alerts.capacity() * size_of::<AlertLine>()
    }
}

impl AlertLine {
    /// How many texts one holds.
    pub const TEXTS: usize = 8;

    fn of(alert: &Alert) -> Self {
        let text = |map: &KeyValues, key: &str| map.get(key).map_or_else(String::new, |t| clip(t));
        let at = if alert.status == "resolved" {
            &alert.ends_at
        } else {
            &alert.starts_at
        };
        Self {
            name: clip(alert.name()),
            status: clip(&alert.status),
            instance: text(&alert.labels, "instance"),
            severity: text(&alert.labels, "severity"),
            summary: text(&alert.annotations, "summary"),
            description: text(&alert.annotations, "description"),
            runbook_url: text(&alert.annotations, "runbook_url"),
            at: clip(at),
        }
    }

    fn texts(&self) -> [&String; Self::TEXTS] {
        [
            &self.name,
            &self.status,
            &self.instance,
            &self.severity,
            &self.summary,
            &self.description,
            &self.runbook_url,
            &self.at,
        ]
    }
}

/// `text` cut to [`TEXT_CHARS`] characters, with an ellipsis when cut; the
/// allocation is exactly as long as the result.
fn clip(text: &str) -> String {
    match text.char_indices().nth(TEXT_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => {
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(&text[..end]);
            out.push(ELLIPSIS);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alert with every text the summary keeps set to `text`.
    fn alert(name: &str, text: &str) -> String {
        format!(
            r#"{{"status":"{text}","labels":{{"alertname":"{name}","instance":"{text}","severity":"{text}"}},
                "annotations":{{"summary":"{text}","description":"{text}","runbook_url":"{text}"}},
                "startsAt":"{text}","endsAt":"{text}"}}"#
        )
    }

    fn payload(alerts: &[String]) -> WebhookPayload {
        let body = format!(
            r#"{{"status":"firing","receiver":"inbox","alerts":[{}]}}"#,
            alerts.join(",")
        );
        WebhookPayload::parse(body.as_bytes()).expect("payload")
    }

    #[test]
    fn keeps_the_first_alerts_and_distinct_names() {
        let alerts: Vec<String> = (0..30)
            .map(|i| alert(&format!("A{}", i % 12), "x"))
            .collect();
        let summary = Summary::of(&payload(&alerts));
        assert_eq!(summary.alert_count, 30);
        assert_eq!(summary.alerts.len(), ALERTS_SHOWN);
        assert_eq!(summary.alerts[3].name, "A3");
        assert_eq!(summary.alerts[3].summary, "x");
        assert_eq!(summary.alerts[3].status, "x");
        assert_eq!(summary.names.len(), NAMES_SHOWN);
        assert!(summary.more_names);
        let few = Summary::of(&payload(&[alert("A", "x"), alert("A", "y")]));
        assert_eq!(few.names, ["A"]);
        assert!(!few.more_names);
    }

    #[test]
    fn an_alert_keeps_each_text_the_page_shows() {
        let body = r#"{"status":"firing","alerts":[
            {"status":"resolved","labels":{"alertname":"PrometheusAlertFiring","prometheus_alertname":"ServiceDown",
              "instance":"service:5000","severity":"critical"},
             "annotations":{"summary":"S","description":"D","runbook_url":"http://x/runbook#servicedown"},
             "startsAt":"2026-11-25T13:04:15Z","endsAt":"2026-11-25T13:09:00Z"},
            {"status":"firing","labels":{},"annotations":{"description":"only D"},
             "startsAt":"2026-11-25T13:04:15Z","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let summary = Summary::of(&WebhookPayload::parse(body.as_bytes()).expect("payload"));
        let resolved = &summary.alerts[0];
        assert_eq!(
            resolved.texts().map(String::as_str),
            [
                "ServiceDown",
                "resolved",
                "service:5000",
                "critical",
                "S",
                "D",
                "http://x/runbook#servicedown",
                "2026-11-25T13:09:00Z",
            ]
        );
        let firing = &summary.alerts[1];
        assert_eq!(
            firing.texts().map(String::as_str),
            [
                "?",
                "firing",
                "",
                "",
                "",
                "only D",
                "",
                "2026-11-25T13:04:15Z"
            ],
            "a firing alert is dated by its start; no summary is not the description"
        );
    }

    #[test]
    fn long_texts_are_clipped_and_the_size_bound_holds() {
        // 4-byte characters everywhere: the most bytes a clipped text can take.
        let long = "𝄞".repeat(TEXT_CHARS * 3);
        let alerts: Vec<String> = (0..50)
            .map(|i| alert(&format!("{i}{long}"), &long))
            .collect();
        let mut payload = payload(&alerts);
        payload.status = long.clone();
        payload.receiver = long.clone();
        let summary = Summary::of(&payload);
        assert_eq!(summary.status.chars().count(), TEXT_CHARS + 1);
        assert!(summary.status.ends_with(ELLIPSIS));
        assert!(summary.heap_bytes() <= Summary::MAX_HEAP_BYTES);
        assert!(
            summary.heap_bytes() > Summary::MAX_HEAP_BYTES * 9 / 10,
            "the bound is tight"
        );
    }
}
