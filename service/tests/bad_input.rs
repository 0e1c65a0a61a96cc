//! Every kind of bad input gets a clear JSON 4xx, never a 5xx or a panic.
//! One test per case, each against its own in-process server.

mod common;

use common::{HttpClient, TestServer};

const JSON: &str = "application/json";

#[tokio::test]
async fn malformed_json_is_400() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new()
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, b"{\"name\": \"fig\",")),
        )
        .await;
    reply.assert_json_error(400, "bad_request");
}

#[tokio::test]
async fn wrong_field_types_are_422() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new()
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, br#"{"name": 42, "quantity": "many"}"#)),
        )
        .await;
    reply.assert_json_error(422, "unprocessable_entity");
}

#[tokio::test]
async fn missing_and_unknown_fields_are_422() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    let missing = client
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, br#"{"name": "fig"}"#)),
        )
        .await;
    missing.assert_json_error(422, "unprocessable_entity");
    let unknown = client
        .request(
            "POST",
            &server.url("/api/items"),
            Some((
                JSON,
                br#"{"name": "fig", "quantity": 1, "colour": "green"}"#,
            )),
        )
        .await;
    unknown.assert_json_error(422, "unprocessable_entity");
}

#[tokio::test]
async fn an_array_body_is_422_not_an_item_by_position() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for body in [&br#"["seq", 5]"#[..], b"[]", br#""fig""#] {
        let reply = client
            .request("POST", &server.url("/api/items"), Some((JSON, body)))
            .await;
        reply.assert_json_error(422, "unprocessable_entity");
        let message = reply.message();
        assert!(message.contains("expected a JSON object"), "{message}");
    }
    let items = client.get(&server.url("/api/items")).await.json();
    assert!(
        !items.to_string().contains("seq"),
        "an array body was stored: {items}"
    );
}

#[tokio::test]
async fn blank_or_long_names_are_422() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    let blank = client
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, br#"{"name": "  ", "quantity": 1}"#)),
        )
        .await;
    blank.assert_json_error(422, "unprocessable_entity");
    let long = format!(r#"{{"name": "{}", "quantity": 1}}"#, "x".repeat(101));
    let long = client
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, long.as_bytes())),
        )
        .await;
    long.assert_json_error(422, "unprocessable_entity");
}

#[tokio::test]
async fn missing_content_type_is_415() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new()
        .request(
            "POST",
            &server.url("/api/items"),
            Some(("text/plain", br#"{"name": "fig", "quantity": 1}"#)),
        )
        .await;
    reply.assert_json_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let server = TestServer::with_metrics().await;
    let name = "x".repeat(64 * 1024);
    let body = format!(r#"{{"name": "{name}", "quantity": 1}}"#);
    let reply = HttpClient::new()
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, body.as_bytes())),
        )
        .await;
    reply.assert_json_error(413, "payload_too_large");
}

#[tokio::test]
async fn non_numeric_query_parameter_is_400() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for path in ["/api/work?ms=soon", "/api/cpu?ms=-5", "/api/cpu?ms=1.5"] {
        client
            .get(&server.url(path))
            .await
            .assert_json_error(400, "bad_request");
    }
}

#[tokio::test]
async fn a_repeated_query_parameter_is_400_naming_the_single_value_expected() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for path in ["/api/work?ms=1&ms=2", "/api/cpu?ms=5&ms=5"] {
        let reply = client.get(&server.url(path)).await;
        reply.assert_json_error(400, "bad_request");
        let message = reply.message();
        assert!(
            message.contains("given 2 times") && message.contains("single ms value"),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn out_of_range_query_parameter_is_400() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for path in [
        "/api/work?ms=10001",
        "/api/cpu?ms=999999",
        "/api/cpu?ms=99999999999999999999999",
    ] {
        let reply = client.get(&server.url(path)).await;
        reply.assert_json_error(400, "bad_request");
    }
}

#[tokio::test]
async fn non_numeric_id_is_400() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new().get(&server.url("/api/items/pear")).await;
    reply.assert_json_error(400, "bad_request");
}

#[tokio::test]
async fn unknown_id_is_404() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new()
        .get(&server.url("/api/items/424242"))
        .await;
    reply.assert_json_error(404, "not_found");
}

#[tokio::test]
async fn unknown_route_is_404() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new().get(&server.url("/no/such/route")).await;
    reply.assert_json_error(404, "not_found");
}

#[tokio::test]
async fn unsupported_method_is_405() {
    let server = TestServer::with_metrics().await;
    let reply = HttpClient::new()
        .request("DELETE", &server.url("/api/items/1"), None)
        .await;
    reply.assert_json_error(405, "method_not_allowed");
    let allow = reply
        .headers
        .get(http::header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(allow.contains("GET"), "Allow: {allow:?}");
}

#[tokio::test]
async fn the_good_paths_still_work() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    let created = client
        .request(
            "POST",
            &server.url("/api/items"),
            Some((JSON, br#"{"name": "fig", "quantity": 3}"#)),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_u64().expect("id");
    let location = created
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    assert_eq!(location, format!("/api/items/{id}"));
    let fetched = client.get(&server.url(&location)).await;
    assert_eq!(fetched.json()["name"], "fig");
    let work = client.get(&server.url("/api/work?ms=5")).await;
    assert_eq!(work.json()["waited_ms"], 5);
    let cpu = client.get(&server.url("/api/cpu?ms=5")).await;
    assert_eq!(cpu.json()["burned_ms"], 5);
    assert_eq!(client.get(&server.url("/")).await.status, 200);
    assert_eq!(client.get(&server.url("/readyz")).await.status, 200);
}

#[tokio::test]
async fn a_bad_page_of_items_is_400() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for (query, message) in [
        ("limit=0", "limit must be a whole number from 1 to 100"),
        ("limit=101", "limit must be a whole number from 1 to 100"),
        ("limit=many", "limit must be a whole number from 1 to 100"),
        ("after=-1", "after must be an item id"),
        ("after=x", "after must be an item id"),
        ("limit=1&limit=2", "limit is given 2 times"),
        ("after=1&limit=5&after=2", "after is given 2 times"),
    ] {
        let reply = client
            .get(&server.url(&format!("/api/items?{query}")))
            .await;
        reply.assert_json_error(400, "bad_request");
        assert!(
            reply.message().contains(message),
            "{query}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn the_items_are_listed_page_by_page() {
    let server = TestServer::with_metrics().await;
    let client = HttpClient::new();
    for n in 0..250 {
        let body = format!(r#"{{"name": "item {n}", "quantity": {n}}}"#);
        let created = client
            .request(
                "POST",
                &server.url("/api/items"),
                Some((JSON, body.as_bytes())),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    // The three sample items and the 250 new ones, 100 at most per page,
    // each page naming the next in its Link header.
    let mut ids = Vec::new();
    let mut next = Some("/api/items".to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let reply = client.get(&server.url(&path)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let page = reply.json();
        let page = page.as_array().expect("a JSON array");
        assert!(page.len() <= 100, "{path}: {}", page.len());
        ids.extend(page.iter().map(|item| item["id"].as_u64().expect("id")));
        pages += 1;
        next = reply
            .headers
            .get(http::header::LINK)
            .and_then(|link| link.to_str().ok())
            .and_then(|link| link.strip_prefix('<')?.strip_suffix(">; rel=\"next\""))
            .map(str::to_owned);
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, (1..=253).collect::<Vec<u64>>());

    let small = client
        .get(&server.url("/api/items?after=250&limit=2"))
        .await;
    let ids: Vec<u64> = small
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [251, 252]);
    let link = small.headers.get(http::header::LINK).expect("a next page");
    assert_eq!(link, "</api/items?after=252&limit=2>; rel=\"next\"");
}
