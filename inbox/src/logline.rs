//! The one log line the inbox writes per notification.
//!
//! Status, alert names and receiver come from the sender; a newline or
//! terminal escape in them would split the line or forge another one, so
//! control characters are written escaped (`\n`, `\u{1b}`).

use crate::history::Record;

/// `notification #3 FIRING HostHighCpuUsage (1 alert) from alertmanager receiver="inbox"`;
/// at most [`crate::summary::NAMES_SHOWN`] names, then `,…`.
pub fn line(record: &Record) -> String {
    let summary = &record.summary;
    let count = summary.alert_count;
    let mut names = summary.names.join(",");
    if summary.more_names {
        names.push_str(",…");
    }
    format!(
        "notification #{} {} {} ({count} alert{}) from {} receiver={:?}",
        record.id,
        one_line(&summary.status.to_uppercase()),
        one_line(&names),
        if count == 1 { "" } else { "s" },
        record.source,
        summary.receiver,
    )
}

/// `text` with every control character escaped, so it stays on one line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::history::History;
    use crate::payload::WebhookPayload;
    use crate::summary::Summary;

    fn store(body: &str) -> Arc<Record> {
        let payload = WebhookPayload::parse(body.as_bytes()).expect("payload");
        let json = payload.to_stored_json(1 << 20, body.len()).expect("fits");
        History::new(1, 1 << 20)
            .push(payload.source(), Summary::of(&payload), json)
            .expect("stored")
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\r\u{1b}[2Jc"), "a\\nb\\r\\u{1b}[2Jc");
        assert_eq!(one_line("HostHighCpuUsage"), "HostHighCpuUsage");
    }

    #[test]
    fn hostile_payload_stays_on_one_line() {
        let record = store(
            r#"{"version":"4","status":"firing\nFAKE resolved","receiver":"in\nbox",
                "alerts":[{"status":"firing","labels":{"alertname":"A\nnotification #9 RESOLVED"}}]}"#,
        );
        let text = line(&record);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r"FIRING\nFAKE RESOLVED"), "{text}");
    }

    #[test]
    fn grafana_relay_shows_the_prometheus_alert_name() {
        let text = line(&store(
            r#"{"version":"1","orgId":1,"status":"firing","receiver":"ops",
                "alerts":[{"status":"firing","labels":{"alertname":"PrometheusAlertFiring",
                "prometheus_alertname":"ServiceDown"}}]}"#,
        ));
        assert!(
            text.contains("FIRING ServiceDown (1 alert) from grafana"),
            "{text}"
        );
    }
}
