//! Load drills: `GET /api/work?ms=N` waits (simulated I/O) and
//! `GET /api/cpu?ms=N` keeps one core busy, both for at most
//! [`MAX_MS`] milliseconds.
//!
//! The CPU burn runs on tokio's blocking pool, so it never stalls the async
//! workers that serve other requests; [`crate::cpu_drill`] caps how many
//! run at once.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::query;
use crate::cpu_drill::Refused;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `ms`.
pub const MAX_MS: u64 = 10_000;
/// `ms` when the query has none.
const DEFAULT_MS: u64 = 100;

/// Reads the single `ms` parameter.
fn checked_duration(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<u64, ApiError> {
    let expected =
        format!("ms must be a whole number of milliseconds from 0 to {MAX_MS}, e.g. ?ms=250");
    let Query(pairs) = query.map_err(|_| ApiError::BadRequest(expected.clone()))?;
    let Some(text) = query::single(&pairs, "ms", "?ms=250")? else {
        return Ok(DEFAULT_MS);
    };
    let out_of_range =
        |got: String| ApiError::BadRequest(format!("ms must be between 0 and {MAX_MS}, got {got}"));
    match text.parse::<u64>() {
        Ok(ms) if ms <= MAX_MS => Ok(ms),
        Ok(ms) => Err(out_of_range(ms.to_string())),
        // Digits that overflow a u64 are a number, only far too large.
        Err(_) if digits(text.strip_prefix('+').unwrap_or(text)) => {
            Err(out_of_range(format!("a {}-digit number", text.len())))
        }
        Err(_) => Err(ApiError::BadRequest(expected)),
    }
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `GET /api/work?ms=N`: sleeps asynchronously, like waiting on a database.
/// At most `--max-work-waits` at once; more answer 429.
pub async fn work(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let ms = checked_duration(query)?;
    let _slot = state.try_start_wait().map_err(|limit| {
        ApiError::TooManyRequests(format!(
            "{limit} /api/work waits are already running, the limit (--max-work-waits or \
             SERVICE_MAX_WORK_WAITS); retry later"
        ))
    })?;
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
    // An unusable `ms` is reported before a busy drill, but not when the
    // drill is off.
    let Some(limit) = drill.limit() else {
        return Err(drill_off());
    };
    let ms = checked_duration(query)?;
    let permit = drill.try_start().map_err(|refused| match refused {
        Refused::Off => drill_off(),
        Refused::Busy { limit } => ApiError::TooManyRequests(format!(
            "{limit} CPU burns are already running, the limit (--max-cpu-burns or \
             SERVICE_MAX_CPU_BURNS); retry later"
        )),
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

fn drill_off() -> ApiError {
    ApiError::NotFound(
        "the CPU drill is off on this service; start it with --cpu-drill on \
         (or SERVICE_CPU_DRILL=on) to enable /api/cpu"
            .to_owned(),
    )
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
        for too_large in [
            "ms=10001",
            "ms=99999999999999999999",
            "ms=%2B99999999999999999999",
        ] {
            let error = query(too_large).expect_err(too_large).to_string();
            assert!(
                error.contains("between 0 and 10000"),
                "{too_large}: {error}"
            );
        }
    }
}
