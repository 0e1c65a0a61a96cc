//! `service healthcheck`: a tiny HTTP probe for container HEALTHCHECKs.
//!
//! Container images built from `debian:*-slim` or distroless have no curl;
//! the service binary probes itself instead.

use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// Only `http://` URLs are supported.
    #[error("unsupported URL {0}: use http://HOST:PORT/PATH")]
    Scheme(http::Uri),
    /// Connecting or sending failed.
    #[error("request to {url} failed: {source}")]
    Request {
        /// The probed URL.
        url: http::Uri,
        /// What went wrong.
        source: hyper_util::client::legacy::Error,
    },
    /// No answer within the timeout.
    #[error("no answer from {url} within {timeout:?}")]
    Timeout {
        /// The probed URL.
        url: http::Uri,
        /// The limit.
        timeout: Duration,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The probed URL.
        url: http::Uri,
        /// The status received.
        status: http::StatusCode,
    },
}

/// GETs `url` and succeeds only on a 200 within `timeout`.
pub async fn check(url: &http::Uri, timeout: Duration) -> Result<(), HealthcheckError> {
    if url.scheme_str() != Some("http") {
        return Err(HealthcheckError::Scheme(url.clone()));
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let probe = async {
        let response =
            client
                .get(url.clone())
                .await
                .map_err(|source| HealthcheckError::Request {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        // Read the body so the connection closes cleanly; its content is not needed.
        let _ = response.into_body().collect().await;
        if status == http::StatusCode::OK {
            Ok(())
        } else {
            Err(HealthcheckError::Status {
                url: url.clone(),
                status,
            })
        }
    };
    tokio::time::timeout(timeout, probe)
        .await
        .map_err(|_| HealthcheckError::Timeout {
            url: url.clone(),
            timeout,
        })?
}
