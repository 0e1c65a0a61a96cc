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

pub mod drill;
mod drive;
pub mod failure;
pub mod mix;
mod progress;
pub mod summary;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cli::LoadArgs;
use drive::{MAX_IN_FLIGHT, Shared, closed_loop, open_loop};
use mix::Route;
use progress::spawn_progress;
use summary::Stats;

/// How long the check that the service answers may wait.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// When to stop issuing requests.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Requests(u64),
    Duration(Duration),
}

/// How to pace requests.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    Concurrency(usize),
    Rate(f64),
}

/// Everything a run needs, validated.
pub struct Plan {
    /// The instances' base URLs; requests go round them (see `drive::send`).
    pub bases: Vec<String>,
    pub routes: Vec<Route>,
    pub limit: Limit,
    pub pace: Pace,
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(execute(plan, &args))
}

fn plan(args: &LoadArgs) -> anyhow::Result<Plan> {
    let cores = online_cpus();
    let routes = if args.cpu {
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
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) if args.cpu => Limit::Duration(Duration::from_secs(240)),
        (None, None) => Limit::Duration(Duration::from_secs(10)),
    };
    let pace = match (args.rate, args.concurrency) {
        (Some(rate), _) => Pace::Rate(rate),
        // One burn per online core; `execute` caps it at the service's own
        // limit, which only the service knows.
        (None, requested) if args.cpu => Pace::Concurrency(requested.unwrap_or(cores)),
        (None, Some(c)) => Pace::Concurrency(c),
        (None, None) => Pace::Concurrency(8),
    };
    // `--url`'s parser has checked each one is a base URL.
    let bases = args.url.clone();
    if bases.is_empty() {
        bail!("--url: give at least one, e.g. --url http://127.0.0.1:5000");
    }
    if let Some(base) = bases
        .iter()
        .enumerate()
        .find_map(|(i, base)| bases[..i].contains(base).then_some(base))
    {
        bail!(
            "--url: {base} is given twice; give each instance once, or it takes more than its turn"
        );
    }
    Ok(Plan {
        bases,
        routes,
        limit,
        pace,
    })
}

async fn execute(mut plan: Plan, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()
        .context("building the HTTP client")?;
    for base in &plan.bases {
        answers(&client, base).await?;
    }
    if let (true, Pace::Concurrency(wanted)) = (args.cpu, plan.pace) {
        // Every instance runs with the same settings: the first one speaks
        // for the limit.
        let probe = drill::probe(&client, &plan.bases[0]).await;
        let (concurrency, note) = drill::fit(wanted, &probe, &plan.bases[0])?;
        plan.pace = Pace::Concurrency(concurrency);
        if let Some(note) = note {
            eprintln!("{note}");
        }
    }
    if !args.json {
        eprintln!(
            "load: {} -> {} ({}, {})",
            describe_routes(&plan.routes),
            plan.bases.join(", "),
            match plan.pace {
                Pace::Concurrency(c) => format!("concurrency {c}"),
                Pace::Rate(r) => format!("{r} req/s"),
            },
            match plan.limit {
                Limit::Requests(n) => summary::requests(n),
                Limit::Duration(d) => humantime::format_duration(d).to_string(),
            },
        );
    }
    let shared = Arc::new(Shared {
        client,
        stats: Mutex::new(Stats::new(&plan.routes)),
        // Before this run creates any, item 1 (a sample item of a fresh
        // service).
        created: plan.bases.iter().map(|_| AtomicU64::new(1)).collect(),
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
        let causes = &summary.status.errors_by_cause;
        // A slow service is running: asking whether it runs would mislead.
        let hint = if causes.timed_out == causes.total() {
            format!(
                "is --timeout {} too short?",
                humantime::format_duration(args.timeout)
            )
        } else {
            "is the service running?".to_owned()
        };
        eprintln!(
            "load: no request got a response from {} ({}); {hint}",
            shared.plan.bases.join(", "),
            causes.describe()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Fails unless something answers HTTP at `base` (any status will do):
/// without it, every request of the run would fail as fast as it is sent.
async fn answers(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let request = client.get(format!("{base}/healthz")).timeout(PROBE_TIMEOUT);
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error) => bail!(
            "nothing answers at {base} ({}); is the service running? (`stack up` starts it, and says so when it exits; \
             --url or STACK_SERVICE_URL points at a service on another address, e.g. the `Try:` line `stack up` printed)",
            cli_values::error_report(&error)
        ),
    }
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

/// Short description of the mix: the routes themselves when few, else a count
/// (the closing summary lists every route).
fn describe_routes(routes: &[Route]) -> String {
    let mut names: Vec<String> = Vec::new();
    for route in routes {
        let name = route.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() <= 3 {
        names.join(", ")
    } else {
        format!(
            "a mix of {} routes, {} requests a turn",
            names.len(),
            routes.len()
        )
    }
}

/// Ctrl-C, SIGTERM or SIGHUP: stop issuing, let in-flight requests finish, report.
async fn stop_on_signal(shared: Arc<Shared>) {
    http_server::stop_or_hangup_signal().await;
    shared.stop.store(true, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn plan_of(argv: &[&str]) -> anyhow::Result<Plan> {
        let mut full = vec!["stack", "load"];
        full.extend_from_slice(argv);
        let Command::Load(args) = Cli::try_parse_from(full)?.command else {
            unreachable!("load subcommand")
        };
        plan(&args)
    }

    #[test]
    fn rate_outside_the_timer_range_is_refused() {
        for rate in ["1e10", "1e-20", "0", "-5", "NaN", "inf"] {
            let flag = format!("--rate={rate}");
            let error = plan_of(&[&flag]).err().expect(rate).to_string();
            assert!(
                error.contains("expected a number from 0.001 to 1000000 such as 50 or 2.5"),
                "{rate}: {error}"
            );
        }
        for rate in ["0.001", "250", "1000000"] {
            assert!(plan_of(&["--rate", rate]).is_ok(), "{rate}");
        }
    }

    #[test]
    fn cpu_drill_runs_one_burn_per_online_core_unless_told() {
        // The service's own limit is applied at run time (`drill::fit`).
        let plan = plan_of(&["--cpu"]).expect("plan");
        assert!(matches!(plan.pace, Pace::Concurrency(c) if c == online_cpus()));
        let plan = plan_of(&["--cpu", "--concurrency", "64"]).expect("plan");
        assert!(matches!(plan.pace, Pace::Concurrency(64)));
        // Outside the drill, concurrency is the operator's choice.
        let plan = plan_of(&["--concurrency", "64"]).expect("plan");
        assert!(matches!(plan.pace, Pace::Concurrency(64)));
    }

    #[test]
    fn an_instance_is_given_once() {
        let error = plan_of(&["--url", "http://a:1,http://b:2", "--url", "http://A:1/"])
            .err()
            .expect("a duplicate")
            .to_string();
        assert!(error.contains("http://a:1 is given twice"), "{error}");
        let plan = plan_of(&["--url", "http://a:1", "--url", "http://a:2"]).expect("plan");
        assert_eq!(plan.bases.len(), 2);
    }
}
