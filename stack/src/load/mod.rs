//! `stack load`: an HTTP traffic generator for the service, and the CPU drill.
//!
//! Two pacing modes:
//! - closed loop (`--concurrency C`): C workers each send a request, wait for
//!   the answer, send the next. Throughput follows the service's latency.
//! - open loop (`--rate R`): a request starts every 1/R seconds whatever the
//!   latency (bounded in flight), which is how real users behave.
//!
//! Either stops after `--requests N` (exactly N: workers claim numbered
//! tickets) or `--duration D`, or on Ctrl-C. Requests cycle through the route
//! list in order, so the split between routes is exact and reproducible.

pub mod mix;
pub mod summary;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::cli::LoadArgs;
use mix::Route;
use summary::{Outcome, Stats};

/// Most requests in flight in open-loop mode; beyond this the generator
/// itself would become the bottleneck and the report would lie.
const MAX_IN_FLIGHT: usize = 4096;

/// When to stop issuing requests.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Requests(u64),
    Duration(Duration),
}

/// How to pace requests.
#[derive(Debug, Clone, Copy)]
enum Pace {
    Concurrency(usize),
    Rate(f64),
}

/// Everything a run needs, validated.
struct Plan {
    base: String,
    routes: Vec<Route>,
    limit: Limit,
    pace: Pace,
}

/// Shared between workers.
struct Shared {
    client: reqwest::Client,
    plan: Plan,
    next_ticket: AtomicU64,
    stop: AtomicBool,
    started: Instant,
    stats: Mutex<Stats>,
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(execute(plan, &args))
}

fn plan(args: &LoadArgs) -> anyhow::Result<Plan> {
    let cores = online_cpus();
    let routes = if args.cpu {
        if args.cpu_ms == 0 || args.cpu_ms > 10_000 {
            bail!("--cpu-ms must be 1..=10000 (the service's /api/cpu limit)");
        }
        mix::cpu_drill(args.cpu_ms)
    } else if args.routes.is_empty() {
        mix::default_mix()
    } else {
        args.routes
            .iter()
            .map(|spec| Route::parse(spec))
            .collect::<Result<_, _>>()?
    };
    let limit = match (args.requests, args.duration) {
        (Some(0), _) => bail!("--requests must be at least 1"),
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) if args.cpu => Limit::Duration(Duration::from_secs(240)),
        (None, None) => Limit::Duration(Duration::from_secs(10)),
    };
    let pace = match (args.rate, args.concurrency) {
        (Some(rate), _) if !(rate.is_finite() && rate > 0.0) => {
            bail!("--rate must be a positive number of requests per second")
        }
        (Some(rate), _) => Pace::Rate(rate),
        (None, Some(0)) => bail!("--concurrency must be at least 1"),
        (None, Some(c)) => Pace::Concurrency(c),
        (None, None) if args.cpu => Pace::Concurrency(cores),
        (None, None) => Pace::Concurrency(8),
    };
    let base = args.url.trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--url {base:?}: expected http://HOST:PORT");
    }
    Ok(Plan {
        base,
        routes,
        limit,
        pace,
    })
}

async fn execute(plan: Plan, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()
        .context("building the HTTP client")?;
    if !args.json {
        eprintln!(
            "load: {} -> {} ({}, {})",
            describe_routes(&plan.routes),
            plan.base,
            match plan.pace {
                Pace::Concurrency(c) => format!("concurrency {c}"),
                Pace::Rate(r) => format!("{r} req/s"),
            },
            match plan.limit {
                Limit::Requests(n) => format!("{n} requests"),
                Limit::Duration(d) => humantime::format_duration(d).to_string(),
            },
        );
    }
    let shared = Arc::new(Shared {
        client,
        stats: Mutex::new(Stats::new(&plan.routes)),
        plan,
        next_ticket: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        started: Instant::now(),
    });

    let progress = spawn_progress(Arc::clone(&shared), args.json);
    let stopper = tokio::spawn(stop_on_signal(Arc::clone(&shared)));
    match shared.plan.pace {
        Pace::Concurrency(c) => closed_loop(&shared, c).await,
        Pace::Rate(rate) => open_loop(&shared, rate).await,
    }
    stopper.abort();
    let elapsed = shared.started.elapsed();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = progress.await;

    let stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    let summary = stats.summary(elapsed);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.render());
    }
    if summary.sent > 0 && stats.errors() == summary.sent {
        eprintln!(
            "load: no request got a response; is the service running at {}?",
            shared.plan.base
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// CPUs the kernel has online: the ones node_exporter reports and the CPU
/// alert averages over (a cgroup CPU quota may allow fewer to be busy).
fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions; a negative answer means unknown.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn describe_routes(routes: &[Route]) -> String {
    let names: Vec<String> = routes.iter().map(ToString::to_string).collect();
    names.join(", ")
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

async fn closed_loop(shared: &Arc<Shared>, concurrency: usize) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let shared = Arc::clone(shared);
        workers.spawn(async move {
            while let Some(ticket) = claim(&shared) {
                send(&shared, ticket).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

async fn open_loop(shared: &Arc<Shared>, rate: f64) {
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

async fn send(shared: &Shared, ticket: u64) {
    let routes = &shared.plan.routes;
    // `len() >= 1` is guaranteed by `plan`; modulo keeps the mix exact.
    let route = &routes[(ticket % routes.len() as u64) as usize];
    let url = format!("{}{}", shared.plan.base, route.path);
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
            // Drain the body so the connection returns to the pool.
            let _ = response.bytes().await;
            Outcome::Status(status)
        }
        Err(_) => Outcome::Error,
    };
    let latency = start.elapsed();
    shared
        .stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(route, outcome, latency);
}

/// Ctrl-C or SIGTERM: stop issuing, let in-flight requests finish, report.
async fn stop_on_signal(shared: Arc<Shared>) {
    crate::signals::wait_for_stop().await;
    shared.stop.store(true, Ordering::Relaxed);
}

/// Draws the progress bar (only on a terminal) until the run stops.
fn spawn_progress(shared: Arc<Shared>, quiet: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let bar = match shared.plan.limit {
            Limit::Requests(n) => ProgressBar::new(n),
            Limit::Duration(d) => ProgressBar::new(d.as_secs().max(1)),
        };
        if quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let template = match shared.plan.limit {
            Limit::Requests(_) => "{bar:40} {pos}/{len} requests {msg}",
            Limit::Duration(_) => "{bar:40} {pos}/{len}s {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let done = shared
                .stats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .completed();
            let secs = shared.started.elapsed().as_secs_f64();
            match shared.plan.limit {
                Limit::Requests(_) => bar.set_position(done),
                Limit::Duration(_) => bar.set_position(secs as u64),
            }
            bar.set_message(format!(
                "{done} done, {:.0} req/s",
                done as f64 / secs.max(0.001)
            ));
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        bar.finish_and_clear();
    })
}
