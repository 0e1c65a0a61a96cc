//! The label vocabulary shared by metrics, spans and the access log: the
//! attribute names of the OpenTelemetry HTTP semantic conventions and the
//! rules that keep their values bounded whatever clients send.

use std::borrow::Cow;

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Version};

/// `http.request.method`
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method a client sent when it is
/// none of the standard ones (spans only: a metric label would be unbounded).
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.route`: the route template, never the raw path.
pub const HTTP_ROUTE: &str = "http.route";
/// `http.response.status_code`
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `error.type`
pub const ERROR_TYPE: &str = "error.type";
/// The `error.type` of a request whose client left before the answer.
pub const CLIENT_CLOSED: &str = "client_closed";
/// `url.path`
pub const URL_PATH: &str = "url.path";
/// `url.scheme`
pub const URL_SCHEME: &str = "url.scheme";
/// `network.protocol.version`
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

/// The `http.request.method` label: one of the nine standard methods, or
/// `_OTHER`, so clients cannot grow the label set by inventing methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodLabel {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other method.
    Other,
}

impl MethodLabel {
    /// Every label, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Delete,
        Self::Connect,
        Self::Options,
        Self::Trace,
        Self::Patch,
        Self::Other,
    ];

    /// The label of a request's method.
    pub fn of(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::CONNECT => Self::Connect,
            Method::OPTIONS => Self::Options,
            Method::TRACE => Self::Trace,
            Method::PATCH => Self::Patch,
            _ => Self::Other,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other => "_OTHER",
        }
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
pub fn span_name(method: MethodLabel, route: Option<&str>) -> Cow<'static, str> {
    let method = match method {
        MethodLabel::Other => "HTTP",
        known => known.as_str(),
    };
    match route {
        Some(route) => Cow::Owned([method, " ", route].concat()),
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
        assert_eq!(MethodLabel::of(&Method::GET).as_str(), "GET");
        assert_eq!(MethodLabel::of(&Method::PATCH).as_str(), "PATCH");
        let custom = Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(MethodLabel::of(&custom).as_str(), "_OTHER");
        for label in MethodLabel::ALL {
            let method = Method::from_bytes(label.as_str().as_bytes()).expect("a token");
            assert_eq!(MethodLabel::of(&method), label);
        }
    }

    #[test]
    fn span_names_follow_semconv() {
        let route = Some("/api/items/{id}");
        assert_eq!(span_name(MethodLabel::Get, route), "GET /api/items/{id}");
        assert_eq!(span_name(MethodLabel::Other, Some("/")), "HTTP /");
        assert_eq!(span_name(MethodLabel::Post, None), "POST");
        assert_eq!(span_name(MethodLabel::Other, None), "HTTP");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ATTRIBUTE_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_ATTRIBUTE_BYTES && long.starts_with(cut));
        assert_eq!(bounded("/short"), "/short");
    }
}
