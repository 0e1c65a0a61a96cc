//! The inbox over real HTTP: auth, body limit, bad bodies, and both senders'
//! payloads showing up in JSON and HTML. The Alertmanager fixture follows its
//! webhook v4 format. The Grafana fixtures were captured from Grafana's own
//! webhook notifier for this repository's relay rule
//! (grafana/provisioning/alerting/rules.yaml) firing and then resolving
//! (fixtures/README.md); checks/grafana fails when they stop matching the rule.
//! `alertname` is the rule title, the Prometheus alert is in `prometheus_alertname`.

mod common;

use std::time::Duration;

use common::{ALERTMANAGER, GRAFANA_FIRING, GRAFANA_RESOLVED};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "test-token-3f9c";
const MAX_BODY: usize = 16 * 1024;

async fn start() -> String {
    common::start(TOKEN, 10, MAX_BODY).await
}

fn client() -> reqwest::Client {
    common::client(Duration::from_secs(10))
}

async fn post(base: &str, auth: Option<&str>, body: impl Into<reqwest::Body>) -> StatusCode {
    let mut request = client()
        .post(format!("{base}/api/notifications"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.expect("send").status()
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let base = start().await;
    assert_eq!(
        post(&base, None, ALERTMANAGER).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&base, Some("Bearer wrong"), ALERTMANAGER).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&base, Some(&format!("Basic {TOKEN}")), ALERTMANAGER).await,
        StatusCode::UNAUTHORIZED
    );
    // A wrong token is refused before the body is looked at.
    assert_eq!(
        post(&base, Some("Bearer wrong"), vec![b'x'; MAX_BODY * 2]).await,
        StatusCode::UNAUTHORIZED
    );
    let list = list(&base).await;
    assert!(list.is_empty(), "rejected posts must not be stored");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let base = start().await;
    let mut big = ALERTMANAGER.trim_end().trim_end_matches('}').to_owned();
    big.push_str(&format!(", \"padding\": \"{}\"}}", "x".repeat(MAX_BODY)));
    assert_eq!(
        post(&base, Some(&bearer()), big).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn malformed_or_wrong_shape_is_400() {
    let base = start().await;
    for body in [
        "{not json",
        "",
        "[]",
        r#"{"status": "firing"}"#,
        r#"{"status": 3, "alerts": []}"#,
    ] {
        assert_eq!(
            post(&base, Some(&bearer()), body).await,
            StatusCode::BAD_REQUEST,
            "body {body:?}"
        );
    }
}

async fn list(base: &str) -> Vec<Value> {
    client()
        .get(format!("{base}/api/notifications"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json")
}

async fn page(base: &str) -> String {
    client()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn accepts_alertmanager_and_grafana_payloads() {
    let base = start().await;
    for body in [ALERTMANAGER, GRAFANA_FIRING, GRAFANA_RESOLVED] {
        assert_eq!(post(&base, Some(&bearer()), body).await, StatusCode::OK);
    }

    let list = list(&base).await;
    assert_eq!(list.len(), 3);
    // Newest first.
    assert_eq!(list[0]["source"], "grafana");
    assert_eq!(list[0]["payload"]["status"], "resolved");
    assert_eq!(list[0]["payload"]["title"], "[RESOLVED] HostHighCpuUsage ");
    assert_eq!(
        list[0]["payload"]["alerts"][0]["labels"]["prometheus_alertname"],
        "HostHighCpuUsage"
    );
    assert_eq!(list[1]["source"], "grafana");
    assert_eq!(list[1]["payload"]["status"], "firing");
    assert_eq!(list[1]["payload"]["title"], "[FIRING:1] HostHighCpuUsage ");
    assert_eq!(list[2]["source"], "alertmanager");
    assert_eq!(list[2]["payload"]["status"], "firing");
    assert_eq!(
        list[2]["payload"]["alerts"][0]["labels"]["alertname"],
        "HostHighCpuUsage"
    );
    assert_eq!(list[2]["id"], 1);

    // The page names the Prometheus alert, not the relay rule's title, firing
    // then resolved (tests/pages.rs checks the rows field by field).
    let page = page(&base).await;
    assert_eq!(page.matches("<b>HostHighCpuUsage</b>").count(), 3, "{page}");
    assert!(page.contains(r#"<span class="badge firing">"#), "{page}");
    assert!(page.contains(r#"<span class="badge resolved">"#), "{page}");
    assert!(!page.contains("PrometheusAlertFiring"), "{page}");
}

#[tokio::test]
async fn sender_text_is_escaped_in_the_page() {
    let base = start().await;
    let hostile = r#"{"version": "4", "status": "firing", "receiver": "inbox", "alerts": [
        {"status": "firing", "labels": {"alertname": "<b>ServiceDown</b> & friends"},
         "annotations": {"summary": "<script>alert(1)</script>"}}]}"#;
    assert_eq!(post(&base, Some(&bearer()), hostile).await, StatusCode::OK);
    let page = page(&base).await;
    assert!(
        page.contains("&lt;b&gt;ServiceDown&lt;/b&gt; &amp; friends"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>ServiceDown</b>"));
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn history_is_bounded_and_healthz_answers() {
    let base = start().await;
    for _ in 0..15 {
        assert_eq!(
            post(&base, Some(&bearer()), ALERTMANAGER).await,
            StatusCode::OK
        );
    }
    let list = list(&base).await;
    assert_eq!(list.len(), 10, "history keeps the last 10");
    assert_eq!(list[0]["id"], 15);
    assert_eq!(list[9]["id"], 6);

    let health = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let url = format!("{base}/healthz");
    tokio::task::spawn_blocking(move || inbox::healthcheck::probe(&url, Duration::from_secs(3)))
        .await
        .expect("join")
        .expect("healthcheck probe succeeds");
}
