//! Which requests `stack load` sends: parsing `--route` and the default mix.

use serde::Serialize;

/// In a route's path, stands for the id of the item this run created last
/// on the same instance (`POST /api/items` names it in `Location`), or 1
/// before the first. The service keeps only its newest 10,000 items, so a
/// fixed id read during a long run would soon answer 404. (Against a
/// service that already evicted item 1, the reads sent before the run's
/// first POST is answered still do.)
pub const CREATED: &str = "{created}";

/// One kind of request in the mix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub method: Method,
    /// Path and query, e.g. `/api/items/1`, `/api/items/{created}` or
    /// `/api/work?ms=5`.
    pub path: String,
}

/// The methods the generator can send (the service's endpoints need no more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

/// A `--route` value that could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route {0:?}: expected `[GET|POST] /path`")]
    Syntax(String),
    #[error("route {0:?}: method {1:?} is not supported (use GET or POST)")]
    Method(String, String),
}

impl Route {
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::Get,
            path: path.to_owned(),
        }
    }

    pub fn post(path: &str) -> Self {
        Self {
            method: Method::Post,
            path: path.to_owned(),
        }
    }

    /// Parses `PATH` or `METHOD PATH`.
    pub fn parse(spec: &str) -> Result<Self, RouteError> {
        let mut words = spec.split_whitespace();
        let (method, path) = match (words.next(), words.next(), words.next()) {
            (Some(path), None, None) => ("GET", path),
            (Some(method), Some(path), None) => (method, path),
            _ => return Err(RouteError::Syntax(spec.to_owned())),
        };
        if !path.starts_with('/') {
            return Err(RouteError::Syntax(spec.to_owned()));
        }
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            other => return Err(RouteError::Method(spec.to_owned(), other.to_owned())),
        };
        Ok(Self {
            method,
            path: path.to_owned(),
        })
    }

    /// The JSON body sent with POST: a valid new item for `POST /api/items`.
    pub fn body(&self) -> Option<&'static str> {
        (self.method == Method::Post).then_some(r#"{"name":"load","quantity":1}"#)
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        write!(f, "{method} {}", self.path)
    }
}

/// The default mix: mostly successful reads, some writes and slow calls, and
/// a few 404s (an unknown item and an unknown path) so error panels move too.
/// Items are read back by the id their `POST` got, which exists however
/// long the run.
pub fn default_mix() -> Vec<Route> {
    vec![
        Route::get("/"),
        Route::get("/api/items"),
        Route::get("/api/items/{created}"),
        Route::get("/api/items"),
        Route::post("/api/items"),
        Route::get("/api/items/{created}"),
        Route::get("/api/work?ms=10"),
        Route::get("/api/items"),
        // Ids start at 1: this item never exists, however long the run.
        Route::get("/api/items/0"),
        Route::get("/does-not-exist"),
    ]
}

/// The CPU drill's single route.
pub fn cpu_drill(ms: u32) -> Vec<Route> {
    vec![Route::get(&format!("/api/cpu?ms={ms}"))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_route_specs() {
        assert_eq!(
            Route::parse("/api/items").unwrap(),
            Route::get("/api/items")
        );
        assert_eq!(
            Route::parse("post /api/items").unwrap(),
            Route::post("/api/items")
        );
        assert!(Route::parse("DELETE /x").is_err());
        assert!(Route::parse("api/items").is_err());
        assert!(Route::parse("GET /a /b").is_err());
        assert!(Route::parse("").is_err());
    }
}
