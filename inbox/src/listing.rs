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
//!
//! The body is written [`PIECE_BYTES`] at a time as hyper asks for more, from
//! the page's records (shared with the history): a client that does not read
//! holds what hyper buffers for its connection, not a copy of the page. (Built
//! whole, 250 such clients of 2 MiB pages held 0.5 GB; docs/configuration.md.)

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::json;

use crate::history::{History, Record};

/// Most bytes one response body holds.
pub const LIST_MAX_BYTES: usize = 2 << 20;
/// Notifications per page when `?limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most notifications per page.
pub const MAX_LIMIT: usize = 1000;
/// Bytes of the body written at a time.
pub const PIECE_BYTES: usize = 16 * 1024;

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
    let length = items + page.records.len().saturating_sub(1) + 2;
    let pieces = Pieces::new(page.records);
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        Body::from_stream(futures::stream::iter(pieces)),
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

/// The JSON array of `records`, a piece at a time.
struct Pieces {
    records: std::vec::IntoIter<Arc<Record>>,
    /// The record being written, and how many of its bytes are written.
    current: Option<(Arc<Record>, usize)>,
    /// `[` is written.
    opened: bool,
    /// `]` is written.
    closed: bool,
}

impl Pieces {
    fn new(records: Vec<Arc<Record>>) -> Self {
        Self {
            records: records.into_iter(),
            current: None,
            opened: false,
            closed: false,
        }
    }
}

impl Iterator for Pieces {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.closed {
            return None;
        }
        let mut piece = Vec::with_capacity(PIECE_BYTES);
        while piece.len() < PIECE_BYTES {
            let Some((record, written)) = &mut self.current else {
                let Some(record) = self.records.next() else {
                    piece.extend_from_slice(if self.opened { b"]" } else { b"[]" });
                    self.closed = true;
                    break;
                };
                piece.push(if self.opened { b',' } else { b'[' });
                self.opened = true;
                self.current = Some((record, 0));
                continue;
            };
            let room = PIECE_BYTES - piece.len();
            *written += record.write_json_part(*written, room, &mut piece);
            if *written == record.json_len() {
                self.current = None;
            }
        }
        Some(Ok(Bytes::from(piece)))
    }
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

    /// What the pieces must add up to: the page built whole.
    fn whole(records: &[Arc<Record>]) -> Vec<u8> {
        let mut out = vec![b'['];
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            record.write_json(&mut out);
        }
        out.push(b']');
        out
    }

    #[tokio::test]
    async fn the_body_is_the_page_in_bounded_pieces() {
        let history = History::new(1000, 1 << 30);
        assert_eq!(whole(&[]), b"[]");
        for padding in [500, 0, 1000, 3 * PIECE_BYTES, 7] {
            for _ in 0..30 {
                crate::history::testing::push(&history, padding).expect("stored");
            }
            let records = history.page(None, MAX_LIMIT, usize::MAX).records;
            let pieces: Vec<Bytes> = Pieces::new(records.clone())
                .map(|p| p.expect("infallible"))
                .collect();
            assert!(pieces.len() > 1, "{} pieces", pieces.len());
            for piece in &pieces {
                assert!(piece.len() <= PIECE_BYTES + 1, "{}", piece.len());
            }
            assert_eq!(pieces.concat(), whole(&records));

            let query = ListQuery {
                limit: Some(MAX_LIMIT.to_string()),
                before: None,
            };
            let response = respond(&history, &query);
            let length = response.headers()[header::CONTENT_LENGTH].clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(body, whole(&records));
            assert_eq!(length, body.len().to_string().as_str());
            // And, read by a JSON parser, the records newest first.
            let items: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("JSON");
            let ids: Vec<u64> = items
                .iter()
                .filter_map(|item| item["id"].as_u64())
                .collect();
            let expected: Vec<u64> = records.iter().map(|record| record.id).collect();
            assert_eq!(ids, expected);
        }
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
