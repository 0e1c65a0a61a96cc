//! The one error type handlers return, rendered as a JSON body.
//!
//! Every client mistake becomes a 4xx with a body like
//! `{"error":"bad_request","message":"ms must be between 0 and 10000"}`, so a
//! user (or a test) can tell exactly what was wrong. Axum's own extractor
//! rejections are mapped here too: without that, malformed JSON would get a
//! plain-text body and an unknown route an empty one.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to the client. The variant picks the status code; the
/// message is shown to the client as is, so it must not leak internals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is syntactically wrong (bad JSON, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such resource or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the state of a resource.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: a bounded resource is busy; retrying later helps.
    #[error("{0}")]
    TooManyRequests(String),
    /// 422: well-formed JSON whose fields have the wrong type or value.
    #[error("{0}")]
    Unprocessable(String),
    /// 500: a bug; the message is generic on purpose.
    #[error("internal error")]
    Internal,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: &'a str,
}

impl ApiError {
    /// The HTTP status and the stable machine-readable code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_entity"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// What a 429 tells the client in `Retry-After` (seconds). A busy slot (a
/// CPU burn, an `/api/work` wait) frees when its request ends, which the
/// service cannot predict: a retry a second later is a fair next try.
const RETRY_AFTER_SECONDS: HeaderValue = HeaderValue::from_static("1");

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.to_string();
        let body = ErrorBody {
            error: code,
            message: &message,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, RETRY_AFTER_SECONDS);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => Self::Unprocessable(err.body_text()),
            JsonRejection::JsonSyntaxError(err) => Self::BadRequest(err.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                Self::UnsupportedMediaType("expected Content-Type: application/json".to_owned())
            }
            JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge("request body is larger than the limit".to_owned())
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// Fallback for paths no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no route for this path".to_owned())
}

/// Fallback for a known path with a method it does not accept.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed for this path".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_says_when_to_retry_and_other_errors_do_not() {
        let busy = ApiError::TooManyRequests("busy".to_owned()).into_response();
        assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(busy.headers().get(RETRY_AFTER), Some(&RETRY_AFTER_SECONDS));
        let bad = ApiError::BadRequest("bad".to_owned()).into_response();
        assert_eq!(bad.headers().get(RETRY_AFTER), None);
    }
}
