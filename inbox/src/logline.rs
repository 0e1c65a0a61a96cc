//! The one log line the inbox writes per notification.
//!
//! Status, alert names and receiver come from the sender; a newline or
//! terminal escape in them would split the line or forge another one, so
//! control characters are written escaped (`\n`, `\u{1b}`).

use crate::history::Received;

/// `notification #3 FIRING HostHighCpuUsage (1 alert) from alertmanager receiver="inbox"`.
pub fn line(record: &Received) -> String {
    let payload = &record.payload;
    let count = payload.alerts.len();
    format!(
        "notification #{} {} {} ({count} alert{}) from {} receiver={:?}",
        record.id,
        one_line(&payload.status.to_uppercase()),
        one_line(&payload.alertnames().join(",")),
        if count == 1 { "" } else { "s" },
        record.source,
        payload.receiver,
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
    use super::*;
    use crate::history::History;
    use crate::payload::WebhookPayload;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\r\u{1b}[2Jc"), "a\\nb\\r\\u{1b}[2Jc");
        assert_eq!(one_line("HostHighCpuUsage"), "HostHighCpuUsage");
    }

    #[test]
    fn hostile_payload_stays_on_one_line() {
        let payload: WebhookPayload = serde_json::from_str(
            r#"{"version":"4","status":"firing\nFAKE resolved","receiver":"in\nbox",
                "alerts":[{"status":"firing","labels":{"alertname":"A\nnotification #9 RESOLVED"}}]}"#,
        )
        .expect("payload");
        let record = History::new(1).push(payload);
        let text = line(&record);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r"FIRING\nFAKE RESOLVED"), "{text}");
    }

    #[test]
    fn grafana_relay_shows_the_prometheus_alert_name() {
        let payload: WebhookPayload = serde_json::from_str(
            r#"{"version":"1","orgId":1,"status":"firing","receiver":"ops",
                "alerts":[{"status":"firing","labels":{"alertname":"PrometheusAlertFiring",
                "prometheus_alertname":"ServiceDown"}}]}"#,
        )
        .expect("payload");
        let text = line(&History::new(1).push(payload));
        assert!(
            text.contains("FIRING ServiceDown (1 alert) from grafana"),
            "{text}"
        );
    }
}
