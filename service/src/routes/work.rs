//! Load drills: `GET /api/work?ms=N` waits (simulated I/O) and
//! `GET /api/cpu?ms=N` keeps one core busy, both for at most
//! [`MAX_MS`] milliseconds.
//!
//! The CPU burn runs on tokio's blocking pool, so it never stalls the async
//! workers that serve other requests. At most [`CpuDrill::limit`] burns run
//! at once (one per available core unless `--max-cpu-burns` says otherwise):
//! more answer 429 rather than queueing work, so unauthenticated callers can
//! keep at most that many cores busy. `--cpu-drill off` turns the route into
//! a 404 for deployments that must not offer it at all.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::config::{ServeConfig, Switch};
use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `ms`.
pub const MAX_MS: u64 = 10_000;
/// `ms` when the query has none.
const DEFAULT_MS: u64 = 100;

/// The CPU drill's switch and its limit on concurrent burns.
#[derive(Debug, Clone)]
pub struct CpuDrill {
    /// `None` when the drill is off.
    permits: Option<Arc<Semaphore>>,
    limit: usize,
}

impl CpuDrill {
    /// From `--cpu-drill` and `--max-cpu-burns` (default [`default_burn_limit`]).
    pub fn new(config: &ServeConfig) -> Self {
        let limit = config
            .max_cpu_burns
            .map_or_else(default_burn_limit, NonZeroUsize::get);
        let permits = (config.cpu_drill == Switch::On).then(|| Arc::new(Semaphore::new(limit)));
        Self { permits, limit }
    }

    /// Most burns running at once, or `None` when the drill is off.
    pub fn limit(&self) -> Option<usize> {
        self.permits.as_ref().map(|_| self.limit)
    }
}

/// One burn per core this process may run on (CPU affinity and cgroup quota
/// included): a full drill keeps every core busy, which is what the high-CPU
/// alert needs, and nothing more.
pub fn default_burn_limit() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Reads the single `ms` parameter. The pairs are read as a list, not into a
/// struct, so a repeated `ms` gets its own message rather than serde's.
fn checked_duration(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<u64, ApiError> {
    let expected =
        format!("ms must be a whole number of milliseconds from 0 to {MAX_MS}, e.g. ?ms=250");
    let Query(pairs) = query.map_err(|_| ApiError::BadRequest(expected.clone()))?;
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(key, _)| key == "ms")
        .map(|(_, value)| value.as_str())
        .collect();
    let text = match values.as_slice() {
        [] => return Ok(DEFAULT_MS),
        [one] => *one,
        many => {
            return Err(ApiError::BadRequest(format!(
                "ms is given {} times: expected a single ms value, e.g. ?ms=250",
                many.len()
            )));
        }
    };
    let ms: u64 = text.parse().map_err(|_| ApiError::BadRequest(expected))?;
    if ms > MAX_MS {
        return Err(ApiError::BadRequest(format!(
            "ms must be between 0 and {MAX_MS}, got {ms}"
        )));
    }
    Ok(ms)
}

/// `GET /api/work?ms=N`: sleeps asynchronously, like waiting on a database.
pub async fn work(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let ms = checked_duration(query)?;
    tokio::time::sleep(Duration::from_millis(ms))
        .instrument(tracing::debug_span!("work.wait", ms))
        .await;
    Ok(Json(json!({ "waited_ms": ms })))
}

/// `GET /api/cpu?ms=N`: burns one core for N ms on the blocking pool. The
/// answer names the burn limit, so a load generator can size its drill.
pub async fn cpu(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let drill = state.cpu_drill();
    let Some(permits) = &drill.permits else {
        return Err(ApiError::NotFound(
            "the CPU drill is off on this service; start it with --cpu-drill on \
             (or SERVICE_CPU_DRILL=on) to enable /api/cpu"
                .to_owned(),
        ));
    };
    let limit = drill.limit;
    let ms = checked_duration(query)?;
    let permit = Arc::clone(permits).try_acquire_owned().map_err(|_| {
        ApiError::TooManyRequests(format!(
            "{limit} CPU burns are already running, the limit (--max-cpu-burns or \
             SERVICE_MAX_CPU_BURNS); retry later"
        ))
    })?;
    let span = tracing::debug_span!("cpu.burn", ms);
    // The permit moves into the burn: if the client hangs up, this handler is
    // dropped but the burn runs on, and must keep holding its slot.
    let iterations = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(|| burn(Duration::from_millis(ms)))
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "cpu burn task failed");
        ApiError::Internal
    })?;
    Ok(Json(json!({
        "burned_ms": ms,
        "iterations": iterations,
        "max_concurrent_burns": limit,
    })))
}

/// Spins until `duration` has passed; returns how many rounds it did so the
/// work cannot be optimised away.
fn burn(duration: Duration) -> u64 {
    let deadline = Instant::now() + duration;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        for _ in 0..10_000 {
            // xorshift: cheap, data-dependent, not removable by the optimiser.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
        }
        rounds += 1;
    }
    std::hint::black_box(state);
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(switch: Switch, max: Option<usize>) -> CpuDrill {
        CpuDrill::new(&ServeConfig {
            cpu_drill: switch,
            max_cpu_burns: max.and_then(NonZeroUsize::new),
            ..ServeConfig::default()
        })
    }

    #[test]
    fn the_limit_is_the_configured_number_else_one_per_core() {
        assert_eq!(drill(Switch::On, Some(3)).limit(), Some(3));
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(drill(Switch::On, None).limit(), Some(cores));
        assert_eq!(drill(Switch::Off, Some(3)).limit(), None);
    }

    #[test]
    fn the_semaphore_holds_exactly_the_limit() {
        let drill = drill(Switch::On, Some(2));
        let permits = drill.permits.expect("drill on");
        let first = Arc::clone(&permits).try_acquire_owned().expect("first");
        let _second = Arc::clone(&permits).try_acquire_owned().expect("second");
        assert!(Arc::clone(&permits).try_acquire_owned().is_err());
        drop(first);
        assert!(Arc::clone(&permits).try_acquire_owned().is_ok());
    }

    fn query(text: &str) -> Result<u64, ApiError> {
        let uri: http::Uri = format!("/api/work?{text}").parse().expect("uri");
        checked_duration(Query::try_from_uri(&uri))
    }

    #[test]
    fn ms_is_read_once_and_checked() {
        assert_eq!(query("ms=250").ok(), Some(250));
        assert_eq!(query("").ok(), Some(DEFAULT_MS));
        assert_eq!(query("other=1").ok(), Some(DEFAULT_MS));
        let repeated = query("ms=1&ms=2").expect_err("repeated").to_string();
        assert!(repeated.contains("single ms value"), "{repeated}");
        let bad = query("ms=soon").expect_err("not a number").to_string();
        assert!(bad.contains("whole number"), "{bad}");
        assert!(query("ms=10001").is_err());
    }
}
