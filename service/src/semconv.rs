//! The label vocabulary shared by metrics, spans and the access log: the
//! attribute names of the OpenTelemetry HTTP semantic conventions and the
//! rules that keep their values bounded whatever clients send.

use std::borrow::Cow;

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Version};

/// `http.request.method`
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.route`: the route template, never the raw path.
pub const HTTP_ROUTE: &str = "http.route";
/// `http.response.status_code`
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `error.type`
pub const ERROR_TYPE: &str = "error.type";
/// `url.path`
pub const URL_PATH: &str = "url.path";
/// `url.scheme`
pub const URL_SCHEME: &str = "url.scheme";
/// `network.protocol.version`
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

/// The method label: one of the nine standard methods, or `_OTHER`, so
/// clients cannot grow the label set by inventing methods.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// The route template axum matched (`/api/items/{id}`), or `None` for a
/// path no route matches. axum sets it before the route's layers run.
pub fn route<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
}

/// The server span name: `{METHOD} {route}`, the method alone without a
/// route, and `HTTP` for a method outside the standard nine.
pub fn span_name(method: &'static str, route: Option<&str>) -> Cow<'static, str> {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => Cow::Owned(format!("{method} {route}")),
        None => Cow::Borrowed(method),
    }
}

/// `network.protocol.version` of an HTTP version.
pub fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "unknown",
    }
}

/// Longest client-supplied text (path, user agent) copied into a span.
/// Spans wait in the export queue while the collector is slow or away;
/// without a cap, long URIs and headers (hyper accepts hundreds of KiB)
/// would make that queue's memory unbounded.
pub const MAX_ATTRIBUTE_BYTES: usize = 1024;

/// `text` cut to at most [`MAX_ATTRIBUTE_BYTES`], on a character boundary.
pub fn bounded(text: &str) -> &str {
    if text.len() <= MAX_ATTRIBUTE_BYTES {
        return text;
    }
    let mut end = MAX_ATTRIBUTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_collapse() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let custom = Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(method_label(&custom), "_OTHER");
    }

    #[test]
    fn span_names_follow_semconv() {
        assert_eq!(
            span_name("GET", Some("/api/items/{id}")),
            "GET /api/items/{id}"
        );
        assert_eq!(span_name("_OTHER", Some("/")), "HTTP /");
        assert_eq!(span_name("POST", None), "POST");
        assert_eq!(span_name("_OTHER", None), "HTTP");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ATTRIBUTE_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_ATTRIBUTE_BYTES && long.starts_with(cut));
        assert_eq!(bounded("/short"), "/short");
    }
}
