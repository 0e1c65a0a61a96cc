//! What the inbox's HTTP tests share: the notification fixtures, an inbox
//! served on a free port, a client with a timeout, and a notification POST.
//! Each test file uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use inbox::auth::Token;
use reqwest::StatusCode;

pub const ALERTMANAGER: &str = include_str!("../fixtures/alertmanager-v4.json");
pub const GRAFANA_FIRING: &str = include_str!("../fixtures/grafana-firing.json");
pub const GRAFANA_RESOLVED: &str = include_str!("../fixtures/grafana-resolved.json");

/// Serves `app` on a free loopback port; the server task ends with the test
/// runtime. Returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The inbox router (bearer `token`, `history` notifications kept, bodies up
/// to `max_body` bytes), served by [`serve`].
pub async fn start(token: &str, history: usize, max_body: usize) -> String {
    let token = Token::new(token).expect("non-empty token");
    serve(inbox::routes::router(token, history, max_body)).await
}

/// A client whose requests give up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// `(status, answer)` of a JSON notification POSTed with bearer `token`.
pub async fn post_notification(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: &str,
) -> (StatusCode, String) {
    let response = client
        .post(format!("{base}/api/notifications"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.text().await.expect("answer"))
}
