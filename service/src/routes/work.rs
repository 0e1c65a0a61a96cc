//! Load drills: `GET /api/work?ms=N` waits (simulated I/O) and
//! `GET /api/cpu?ms=N` keeps one core busy, both for at most
//! [`MAX_MS`] milliseconds.
//!
//! The CPU burn runs on tokio's blocking pool, so it never stalls the async
//! workers that serve other requests. At most [`MAX_CONCURRENT_BURNS`] run at
//! once; more answer 429 rather than queueing unbounded work.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `ms`.
pub const MAX_MS: u64 = 10_000;
/// Most CPU burns running at the same time.
pub const MAX_CONCURRENT_BURNS: usize = 32;

/// Query of both drills.
#[derive(Debug, Deserialize)]
pub struct DurationQuery {
    /// Milliseconds, 0 to [`MAX_MS`]; 100 when absent.
    ms: Option<u64>,
}

fn checked_duration(query: Result<Query<DurationQuery>, QueryRejection>) -> Result<u64, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::BadRequest(format!(
            "ms must be a whole number of milliseconds from 0 to {MAX_MS}, e.g. ?ms=250"
        ))
    })?;
    let ms = query.ms.unwrap_or(100);
    if ms > MAX_MS {
        return Err(ApiError::BadRequest(format!(
            "ms must be between 0 and {MAX_MS}, got {ms}"
        )));
    }
    Ok(ms)
}

/// `GET /api/work?ms=N`: sleeps asynchronously, like waiting on a database.
pub async fn work(
    query: Result<Query<DurationQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let ms = checked_duration(query)?;
    tokio::time::sleep(Duration::from_millis(ms))
        .instrument(tracing::debug_span!("work.wait", ms))
        .await;
    Ok(Json(json!({ "waited_ms": ms })))
}

/// `GET /api/cpu?ms=N`: burns one core for N ms on the blocking pool.
pub async fn cpu(
    State(state): State<AppState>,
    query: Result<Query<DurationQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let ms = checked_duration(query)?;
    let permit = BurnPermit::acquire(state).ok_or_else(|| {
        ApiError::TooManyRequests(format!(
            "{MAX_CONCURRENT_BURNS} CPU burns are already running; retry later"
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
    Ok(Json(json!({ "burned_ms": ms, "iterations": iterations })))
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

/// A slot in the burn limit, released on drop.
struct BurnPermit(AppState);

impl BurnPermit {
    fn acquire(state: AppState) -> Option<Self> {
        state
            .burns()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < MAX_CONCURRENT_BURNS).then_some(now + 1)
            })
            .ok()
            .map(|_| Self(state))
    }
}

impl Drop for BurnPermit {
    fn drop(&mut self) {
        self.0.burns().fetch_sub(1, Ordering::AcqRel);
    }
}
