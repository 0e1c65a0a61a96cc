//! The inbox's pages over real HTTP: the runbook at `/runbook`, with the
//! anchor every Prometheus alert's `runbook_url` points at, and the rows of
//! `/` for both senders' fixtures, field by field, under hostile text too.
//!
//! What a row must show is read from the fixtures themselves (name, instance,
//! severity, summary, description, runbook URL, times), so the test follows
//! them when the rules' annotations change.

mod common;

use std::time::Duration;

use common::{ALERTMANAGER, GRAFANA_FIRING, GRAFANA_RESOLVED};
use inbox::html::escape;
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "pages-token-5be1";
const ALERT_RULES: &str = include_str!("../../prometheus/rules/alerts.yml");

async fn start() -> String {
    common::start(TOKEN, 10, 64 * 1024).await
}

fn client() -> reqwest::Client {
    common::client(Duration::from_secs(10))
}

async fn post(base: &str, body: &str) {
    let (status, answer) = common::post_notification(&client(), base, TOKEN, body).await;
    assert_eq!(status, StatusCode::OK, "{body}: {answer}");
}

/// `(status, content type, body)` of `GET path`.
async fn get(base: &str, path: &str) -> (StatusCode, String, String) {
    let response = client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("get");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("text"))
}

/// The page's rows (notifications), newest first.
fn rows(page: &str) -> Vec<&str> {
    page.split("<tr><td>")
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap_or(row))
        .collect()
}

/// `(name, runbook_url)` of every rule in prometheus/rules/alerts.yml.
fn alert_rules() -> Vec<(String, String)> {
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(ALERT_RULES).expect("alerts.yml");
    let mut found = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let text = |value: &serde_yaml_ng::Value| value.as_str().unwrap_or_default().to_owned();
            found.push((
                text(&rule["alert"]),
                text(&rule["annotations"]["runbook_url"]),
            ));
        }
    }
    found
}

#[tokio::test]
async fn the_runbook_has_the_anchor_of_every_alert() {
    let base = start().await;
    let (status, content_type, page) = get(&base, "/runbook").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for id in ["hosthighcpuusage", "servicedown", "nodeexporterdown"] {
        assert!(page.contains(&format!(" id=\"{id}\"")), "no #{id}");
    }
    let rules = alert_rules();
    assert!(rules.len() >= 3, "{rules:?}");
    for (name, runbook_url) in rules {
        // The annotation's fragment is the alert's name in lower case, and the
        // runbook's heading of that name is the element with that id.
        let fragment = runbook_url.rsplit_once('#').map(|(_, anchor)| anchor);
        assert_eq!(fragment, Some(name.to_lowercase().as_str()), "{name}");
        let heading = format!("<h2 id=\"{}\">{name}</h2>", name.to_lowercase());
        assert!(page.contains(&heading), "no {heading} on /runbook");
    }
    // Links stay as written; nothing runs.
    assert!(page.contains(r#"<a href="http://127.0.0.1:9090/alerts">"#));
    assert!(!page.contains("<script"));
}

/// What the row of a fixture must show, read from the fixture's one alert.
fn expect_row(row: &str, fixture: &str, sender: &str) {
    let payload: Value = serde_json::from_str(fixture).expect("fixture");
    let alert = &payload["alerts"][0];
    let text = |value: &Value| escape(value.as_str().unwrap_or_default());
    let labels = &alert["labels"];
    let name = if labels["prometheus_alertname"].is_string() {
        &labels["prometheus_alertname"]
    } else {
        &labels["alertname"]
    };
    let instance = text(&labels["instance"]);
    let annotations = &alert["annotations"];
    let status = alert["status"].as_str().unwrap_or_default();
    let when = if status == "resolved" {
        format!("ended {}", text(&alert["endsAt"]))
    } else {
        format!("since {}", text(&alert["startsAt"]))
    };
    for part in [
        format!("<span class=\"badge {}\">", sender.to_lowercase()),
        format!(">{sender}</span>"),
        format!("<span class=\"badge {status}\">{status}</span>"),
        format!("<b>{}</b>", text(name)),
        format!("<span class=\"sev\">{}</span>", text(&labels["severity"])),
        format!("<small>{when}</small>"),
        format!("<br>{}", text(&annotations["summary"])),
        format!(
            "<span class=\"desc\">{}</span>",
            text(&annotations["description"])
        ),
    ] {
        assert!(row.contains(&part), "no {part} in {row}");
    }
    assert_eq!(
        row.matches(&format!("<code>{instance}</code>")).count(),
        1,
        "the instance once: {row}"
    );
    let url = text(&annotations["runbook_url"]);
    assert!(!url.is_empty(), "{fixture}");
    let runbook = if url.starts_with("http://") || url.starts_with("https://") {
        format!("Runbook: <a href=\"{url}\" rel=\"noreferrer\">{url}</a>")
    } else {
        assert!(!row.contains("<a "), "a relative URL stays text: {row}");
        format!("Runbook: {url}")
    };
    assert!(row.contains(&runbook), "no {runbook} in {row}");
    assert!(!row.contains("PrometheusAlertFiring"), "{row}");
}

#[tokio::test]
async fn rows_show_each_alert_of_both_senders() {
    let base = start().await;
    let (_, _, empty) = get(&base, "/").await;
    assert!(empty.contains("No notifications yet."));
    for body in [ALERTMANAGER, GRAFANA_FIRING, GRAFANA_RESOLVED] {
        post(&base, body).await;
    }
    let (status, content_type, page) = get(&base, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains(r#"<meta http-equiv="refresh" content="10">"#));
    assert!(page.contains(r#"<a href="/runbook">"#));
    assert!(!page.contains("<script"));
    let rows = rows(&page);
    assert_eq!(rows.len(), 3, "{page}");
    expect_row(rows[0], GRAFANA_RESOLVED, "Grafana");
    expect_row(rows[1], GRAFANA_FIRING, "Grafana");
    expect_row(rows[2], ALERTMANAGER, "Alertmanager");
    // The Alertmanager fixture's runbook URL is absolute: a link.
    assert!(rows[2].contains("<a href=\"https://"), "{}", rows[2]);
}

#[tokio::test]
async fn a_notification_groups_its_alerts_firing_first() {
    let base = start().await;
    post(
        &base,
        r#"{"version":"4","status":"firing","receiver":"inbox","alerts":[
            {"status":"resolved","labels":{"alertname":"ServiceDown","instance":"a:5000"},
             "startsAt":"2026-11-25T13:00:00Z","endsAt":"2026-11-25T13:05:00Z"},
            {"status":"firing","labels":{"alertname":"HostHighCpuUsage","instance":"b:9100"},
             "startsAt":"2026-11-25T13:04:00Z","endsAt":"0001-01-01T00:00:00Z"},
            {"status":"resolved","labels":{"alertname":"NodeExporterDown","instance":"c:9100"},
             "startsAt":"2026-11-25T13:01:00Z","endsAt":"2026-11-25T13:06:00Z"}]}"#,
    )
    .await;
    let (_, _, page) = get(&base, "/").await;
    let row = rows(&page)[0];
    let at = |part: &str| {
        row.find(part)
            .unwrap_or_else(|| panic!("no {part} in {row}"))
    };
    assert_eq!(row.matches("<span class=\"badge firing\">").count(), 1);
    assert_eq!(row.matches("<span class=\"badge resolved\">").count(), 1);
    assert!(at("badge firing") < at("<b>HostHighCpuUsage</b>"));
    assert!(at("<b>HostHighCpuUsage</b>") < at("badge resolved"));
    assert!(at("badge resolved") < at("<b>ServiceDown</b>"));
    assert!(at("<b>ServiceDown</b>") < at("<b>NodeExporterDown</b>"));
    assert!(row.contains("since 2026-11-25T13:04:00Z"));
    assert!(row.contains("ended 2026-11-25T13:05:00Z"));
    assert!(row.contains("ended 2026-11-25T13:06:00Z"));
    assert!(
        !row.contains("0001-01-01"),
        "a firing alert's endsAt is no time"
    );
}

#[tokio::test]
async fn hostile_text_stays_escaped_and_only_http_urls_are_links() {
    let base = start().await;
    let hostile = "<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>";
    let alerts: Vec<String> = [
        "javascript:alert(document.cookie)",
        "JAVASCRIPT://%0Aalert(1)",
        "data:text/html,<script>alert(3)</script>",
        "https://runbooks.example/a?b=1&c=\\\"><script>alert(4)</script>",
    ]
    .iter()
    .map(|url| {
        format!(
            r#"{{"status":"firing","labels":{{"alertname":"{hostile}","instance":"{hostile}","severity":"{hostile}"}},
                "annotations":{{"summary":"{hostile}","description":"{hostile}","runbook_url":"{url}"}},
                "startsAt":"{hostile}"}}"#
        )
    })
    .collect();
    post(
        &base,
        &format!(
            r#"{{"version":"4","status":"{hostile}","receiver":"{hostile}","alerts":[{}]}}"#,
            alerts.join(",")
        ),
    )
    .await;
    let (_, _, page) = get(&base, "/").await;
    let row = rows(&page)[0];
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    let escaped =
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;";
    // Receiver, and per alert name, instance, severity, since, summary, description.
    assert_eq!(row.matches(escaped).count(), 1 + 4 * 6, "{row}");
    for url in [
        "Runbook: javascript:alert(document.cookie)</div>",
        "Runbook: JAVASCRIPT://%0Aalert(1)</div>",
        "Runbook: data:text/html,&lt;script&gt;alert(3)&lt;/script&gt;</div>",
    ] {
        assert!(row.contains(url), "no {url} in {row}");
    }
    assert_eq!(row.matches("<a ").count(), 1, "only the https URL: {row}");
    assert!(row.contains(
        "<a href=\"https://runbooks.example/a?b=1&amp;c=&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;\" rel=\"noreferrer\">"
    ));
}
