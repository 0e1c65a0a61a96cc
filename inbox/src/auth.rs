//! Bearer-token check for the write endpoint.
//!
//! It runs as middleware, before the body is read, so an unauthenticated
//! sender gets 401 without the inbox buffering its body first.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The secret senders must present.
#[derive(Clone)]
pub struct Token(Arc<[u8]>);

/// The configured token is empty (or only whitespace).
#[derive(Debug, thiserror::Error)]
#[error("the inbox token is empty: pass --token TOKEN or set INBOX_TOKEN to a non-empty secret")]
pub struct EmptyToken;

impl Token {
    /// The configured secret, without surrounding whitespace: the presented
    /// bearer value is trimmed too, and a token file or env var often ends
    /// in a newline that is not part of the secret.
    pub fn new(token: &str) -> Result<Self, EmptyToken> {
        let token = token.trim();
        if token.is_empty() {
            return Err(EmptyToken);
        }
        Ok(Self(token.as_bytes().into()))
    }

    /// Compares in constant time (for equal lengths) so response timing does
    /// not reveal how many leading bytes of a guess were right.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.ct_eq(candidate).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Rejects requests without `Authorization: Bearer <token>` with 401.
pub async fn require_bearer(State(token): State<Token>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer(value.as_bytes()));
    match presented {
        Some(candidate) if token.matches(candidate) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response(),
    }
}

/// The credentials of a `Bearer` authorization header (scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_header() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn token_compares_whole_value() {
        let token = Token::new("secret").expect("non-empty");
        assert!(token.matches(b"secret"));
        assert!(!token.matches(b"secre"));
        assert!(!token.matches(b"secret2"));
        assert!(!token.matches(b""));
    }

    #[test]
    fn configured_token_is_trimmed_like_the_presented_one() {
        let token = Token::new("  secret\n").expect("non-empty");
        let presented = bearer(b"Bearer secret").expect("bearer");
        assert!(token.matches(presented));
        assert!(!token.matches(b"  secret\n"));
    }

    #[test]
    fn empty_token_is_refused() {
        assert!(Token::new("").is_err());
        assert!(Token::new(" \n\t").is_err());
    }
}
