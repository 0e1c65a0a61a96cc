//! Issuing requests: numbered tickets, the two pacing loops, one request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::failure::Failure;
use super::mix::CREATED;
use super::summary::{Outcome, Stats};
use super::{Limit, Plan};

/// Most requests in flight in open-loop mode; beyond this the generator
/// itself would become the bottleneck and the report would lie.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Shared between workers.
pub struct Shared {
    pub client: reqwest::Client,
    pub plan: Plan,
    pub next_ticket: AtomicU64,
    pub stop: AtomicBool,
    pub started: Instant,
    pub stats: Mutex<Stats>,
    /// Per instance (`plan.bases`), the id of the item last created there:
    /// what [`super::mix::CREATED`] stands for.
    pub created: Vec<AtomicU64>,
}

/// Takes the next request ticket, or `None` when the run is over.
fn claim(shared: &Shared) -> Option<u64> {
    if shared.stop.load(Ordering::Relaxed) {
        return None;
    }
    if let Limit::Duration(d) = shared.plan.limit
        && shared.started.elapsed() >= d
    {
        return None;
    }
    let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
    match shared.plan.limit {
        Limit::Requests(n) if ticket >= n => None,
        _ => Some(ticket),
    }
}

/// How long a closed-loop worker pauses after a 429: the service is at its
/// limit (CPU burns), and asking again at once would only spin.
const BACKOFF_429: Duration = Duration::from_millis(250);

pub async fn closed_loop(shared: &Arc<Shared>, concurrency: usize) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let shared = Arc::clone(shared);
        workers.spawn(async move {
            while let Some(ticket) = claim(&shared) {
                if let Outcome::Status(429) = send(&shared, ticket).await {
                    tokio::time::sleep(BACKOFF_429).await;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

pub async fn open_loop(shared: &Arc<Shared>, rate: f64) {
    // `--rate`'s parser keeps it within cli::MIN_RATE..=MAX_RATE, so this is a valid,
    // non-zero period.
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(period);
    // Burst: after a stall, catch up so the average rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        ticker.tick().await;
        let Some(ticket) = claim(shared) else { break };
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let shared = Arc::clone(shared);
        in_flight.spawn(async move {
            send(&shared, ticket).await;
            drop(permit);
        });
        // Reap finished tasks so the set does not grow for the whole run.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

async fn send(shared: &Shared, ticket: u64) -> Outcome {
    let routes = &shared.plan.routes;
    let bases = &shared.plan.bases;
    // Both lists are non-empty (`plan` checks). Each instance gets whole
    // cycles of the route list in turn, so the mix stays exact on each.
    let route = &routes[(ticket % routes.len() as u64) as usize];
    let cycle = ticket / routes.len() as u64;
    let instance = (cycle % bases.len() as u64) as usize;
    let base = &bases[instance];
    let created = &shared.created[instance];
    let url = if route.path.contains(CREATED) {
        let id = created.load(Ordering::Relaxed).to_string();
        format!("{base}{}", route.path.replace(CREATED, &id))
    } else {
        format!("{base}{}", route.path)
    };
    let request = match route.body() {
        Some(body) => shared
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body),
        None => shared.client.get(url),
    };
    let start = Instant::now();
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            if let Some(id) = created_id(&response) {
                // The latest answer, not the largest id: a service restarted
                // during the run gives low ids again. Answers that arrive
                // out of order lag by at most the requests in flight, far
                // fewer than the 10,000 items the service keeps.
                created.store(id, Ordering::Relaxed);
            }
            // Drain the body so the connection returns to the pool.
            let _ = response.bytes().await;
            Outcome::Status(status)
        }
        Err(error) => Outcome::Failed(Failure::of(&error)),
    };
    let latency = start.elapsed();
    shared
        .stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(route, outcome, latency);
    outcome
}

/// The id a `201 Created` names in its `Location` (`/api/items/42`).
fn created_id(response: &reqwest::Response) -> Option<u64> {
    if response.status() != reqwest::StatusCode::CREATED {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?;
    location.to_str().ok()?.rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, location: Option<&str>) -> reqwest::Response {
        let mut answer = hyper::Response::builder().status(status);
        if let Some(location) = location {
            answer = answer.header("location", location);
        }
        reqwest::Response::from(answer.body("").expect("response"))
    }

    #[test]
    fn the_created_id_is_read_from_a_201_s_location() {
        assert_eq!(created_id(&answer(201, Some("/api/items/42"))), Some(42));
        assert_eq!(
            created_id(&answer(201, Some("http://127.0.0.1:5000/api/items/7"))),
            Some(7)
        );
        assert_eq!(created_id(&answer(201, None)), None);
        assert_eq!(created_id(&answer(201, Some("/api/items/"))), None);
        assert_eq!(created_id(&answer(200, Some("/api/items/42"))), None);
    }
}
