//! Waiting until a component answers: poll an HTTP endpoint with a deadline,
//! giving up early when the process exits or the operator presses Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::process::Supervised;

/// Why a component never became ready.
#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    #[error("{name} exited ({status}) before it was ready; last lines of {log}:\n{tail}")]
    Exited {
        name: &'static str,
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "{name} not ready at {url} after {waited:?} (last: {last}); last lines of {log}:\n{tail}"
    )]
    Timeout {
        name: &'static str,
        url: String,
        waited: Duration,
        last: String,
        log: String,
        tail: String,
    },
    #[error("interrupted while waiting for {0}")]
    Interrupted(&'static str),
}

/// Polls `url` every 200 ms until it answers 2xx.
pub async fn wait_http(
    client: &reqwest::Client,
    component: &mut Supervised,
    url: &str,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), ReadyError> {
    let start = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ReadyError::Interrupted(component.name));
        }
        if let Some(status) = component.exit_status() {
            return Err(ReadyError::Exited {
                name: component.name,
                status: status.to_string(),
                log: component.log.display().to_string(),
                tail: component.log_tail(20),
            });
        }
        let last = match client.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("HTTP {}", response.status()),
            Err(error) => error.to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(ReadyError::Timeout {
                name: component.name,
                url: url.to_owned(),
                waited: timeout,
                last,
                log: component.log.display().to_string(),
                tail: component.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
