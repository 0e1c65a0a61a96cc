//! `GET /api/notifications`: the stored notifications as a JSON array, newest
//! first, one bounded page at a time.
//!
//! `?limit=N` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `?before=ID`
//! (only notifications with a smaller id) select the page; a page also ends
//! before the notification that would take the body past
//! [`LIST_MAX_BYTES`]. When older notifications remain, the response says
//! where they start: `Link: </api/notifications?before=ID&limit=N>;
//! rel="next"`. The body stays a plain array of the same items as ever, so a
//! reader that fetches the list without parameters keeps working.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::json;

use crate::history::History;

/// Most bytes one response body holds.
pub const LIST_MAX_BYTES: usize = 2 << 20;
/// Notifications per page when `?limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most notifications per page.
pub const MAX_LIMIT: usize = 1000;

/// The query string, taken as text so that errors can say what is expected.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub limit: Option<String>,
    pub before: Option<String>,
}

/// A query parameter out of its accepted form.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("limit must be a whole number from 1 to {MAX_LIMIT}, e.g. ?limit=50 (got {0:?})")]
    Limit(String),
    #[error(
        "before must be a notification id (a whole number from 1), e.g. ?before=120 (got {0:?})"
    )]
    Before(String),
}

impl ListQuery {
    /// `(limit, before)`.
    pub fn parse(&self) -> Result<(usize, Option<u64>), QueryError> {
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| QueryError::Limit(text.clone()))?,
        };
        let before = match &self.before {
            None => None,
            Some(text) => Some(
                text.parse()
                    .ok()
                    .filter(|&before: &u64| before >= 1)
                    .ok_or_else(|| QueryError::Before(text.clone()))?,
            ),
        };
        Ok((limit, before))
    }
}

/// The page `query` asks for, or 400 with what was wrong.
pub fn respond(history: &History, query: &ListQuery) -> Response {
    let (limit, before) = match query.parse() {
        Ok(parsed) => parsed,
        Err(error) => {
            let body = Json(json!({ "error": error.to_string() }));
            return (StatusCode::BAD_REQUEST, body).into_response();
        }
    };
    // Two bytes for the brackets.
    let page = history.page(before, limit, LIST_MAX_BYTES - 2);
    let items: usize = page.records.iter().map(|record| record.json_len()).sum();
    let mut body = Vec::with_capacity(items + page.records.len() + 2);
    body.push(b'[');
    for (i, record) in page.records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        record.write_json(&mut body);
    }
    body.push(b']');
    drop(page.records);
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(next) = page.next_before {
        let link = format!("</api/notifications?before={next}&limit={limit}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        limit: Option<&str>,
        before: Option<&str>,
    ) -> Result<(usize, Option<u64>), QueryError> {
        ListQuery {
            limit: limit.map(str::to_owned),
            before: before.map(str::to_owned),
        }
        .parse()
    }

    #[test]
    fn limit_and_before_are_checked() {
        assert_eq!(parse(None, None).ok(), Some((DEFAULT_LIMIT, None)));
        assert_eq!(parse(Some("1000"), Some("7")).ok(), Some((1000, Some(7))));
        for bad in ["0", "1001", "-1", "ten", ""] {
            let error = parse(Some(bad), None).expect_err(bad).to_string();
            assert!(error.contains("e.g. ?limit=50"), "{error}");
        }
        for bad in ["0", "x", "1.5"] {
            let error = parse(None, Some(bad)).expect_err(bad).to_string();
            assert!(error.contains("e.g. ?before=120"), "{error}");
        }
    }
}
