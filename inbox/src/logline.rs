//! The one log line the inbox writes per notification.
//!
//! Status, alert names and receiver come from the sender. A newline or a
//! terminal escape in them would split the line or forge another one, and
//! spaces, commas or invisible and reordering Unicode (U+2028, U+202E,
//! zero-width spaces) would make a name read as more of the line than it
//! is. So each is written as it is only when made of the characters alert
//! names and statuses use, and otherwise quoted with Rust's escapes
//! (`"a\nb"`, `"\u{202e}"`).

use std::borrow::Cow;

use crate::history::Record;

/// `notification #3 FIRING HostHighCpuUsage (1 alert) from alertmanager receiver="inbox"`;
/// at most [`crate::summary::NAMES_SHOWN`] names, then `,…`.
pub fn line(record: &Record) -> String {
    let summary = &record.summary;
    let count = summary.alert_count;
    let mut names: Vec<Cow<'_, str>> = summary.names.iter().map(|name| word(name)).collect();
    if summary.more_names {
        names.push(Cow::Borrowed("…"));
    }
    format!(
        "notification #{} {} {} ({count} alert{}) from {} receiver={:?}",
        record.id,
        word(&summary.status.to_uppercase()),
        names.join(","),
        if count == 1 { "" } else { "s" },
        record.source,
        summary.receiver,
    )
}

/// `text` as it is when it has only ASCII letters, digits, `_`, `.`, `:`
/// and `-` (every Prometheus alert name, every status), else quoted and
/// escaped.
pub fn word(text: &str) -> Cow<'_, str> {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if plain {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("{text:?}"))
    }
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
    fn plain_words_stay_and_the_rest_is_quoted_and_escaped() {
        assert_eq!(word("HostHighCpuUsage"), "HostHighCpuUsage");
        assert_eq!(word("FIRING"), "FIRING");
        assert_eq!(word("a\nb\r\u{1b}[2Jc"), r#""a\nb\r\u{1b}[2Jc""#);
        assert_eq!(word("a b,c"), r#""a b,c""#);
        assert_eq!(word(""), r#""""#);
        for invisible in ['\u{2028}', '\u{2029}', '\u{202e}', '\u{200b}', '\u{feff}'] {
            let text = word(&format!("x{invisible}y")).into_owned();
            assert!(text.is_ascii(), "{invisible:?} came out as {text:?}");
        }
    }

    #[test]
    fn hostile_payload_stays_on_one_line() {
        let record = store(
            r#"{"version":"4","status":"firing\nFAKE resolved","receiver":"in\nbox",
                "alerts":[{"status":"firing","labels":{"alertname":"A\nnotification #9 RESOLVED"}}]}"#,
        );
        let text = line(&record);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r#""FIRING\nFAKE RESOLVED""#), "{text}");
    }

    #[test]
    fn a_name_cannot_pass_for_more_of_the_line() {
        let record = store(
            r#"{"version":"4","status":"firing","receiver":"inbox","alerts":[
                {"status":"firing","labels":{"alertname":"x,Forged (1 alert) from alertmanager receiver=\"inbox\""}},
                {"status":"firing","labels":{"alertname":"Real"}}]}"#,
        );
        let text = line(&record);
        assert!(
            text.contains(r#"FIRING "x,Forged (1 alert) from alertmanager receiver=\"inbox\"",Real (2 alerts)"#),
            "{text}"
        );
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
