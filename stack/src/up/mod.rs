//! `stack up`: the whole monitoring chain on this host, without Docker.
//!
//! Order of events:
//! 0. lock the state directory ([`lock`]): one `stack up` per directory;
//! 1. find the programs ([`locate`]: the pinned builds, building them when
//!    Go is installed, else PATH and Debian's packages);
//! 2. choose ports (flags; 0 = any free port) by binding them, and hold each
//!    until just before its component starts, so nothing else takes it;
//! 3. generate the Prometheus and Alertmanager configs from the repository's
//!    files into the state directory (the Collector and Tempo read theirs
//!    unchanged, with addresses from the environment);
//! 4. start inbox, Tempo, the Collector, service, node_exporter,
//!    Alertmanager, Prometheus, then Grafana: receivers before senders,
//!    waiting for each to answer;
//! 5. print what runs where (and what does not, and why), write
//!    `stack.json`, and wait for Ctrl-C / SIGTERM / SIGHUP (the terminal
//!    was closed);
//! 6. stop every component in reverse order and exit 0.
//!
//! A component that dies while the stack is up is reported, not restarted,
//! and the others keep running: stopping the service on purpose is how the
//! `ServiceDown` alert is demonstrated.

pub mod alertmanager_config;
pub mod binaries;
pub mod components;
pub mod discovery;
pub mod grafana;
pub mod locate;
pub mod lock;
pub mod packages;
pub mod port_error;
pub mod ports;
pub mod private;
pub mod process;
pub mod prometheus_config;
pub mod ready;
pub mod report;
pub mod roles;
pub mod state;
pub mod targets;
pub mod traces;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::UpArgs;
use crate::programs::pins::Program;
pub use components::Launch;
use discovery::ServiceTargets;
use ports::Ports;
use process::Supervised;
use roles::{Replica, Role};
use state::{Manifest, ManifestEntry, NewStateDir, StateDir};
use traces::TraceStore;

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    // One thread: children are spawned from the main thread, which lives as
    // long as the stack, as the parent-death signal requires.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(up(args))
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            http_server::stop_or_hangup_signal().await;
            stop.store(true, Ordering::Relaxed);
        }
    });

    // Before anything else touches the state directory (or the ports a
    // running stack holds): a second `stack up` on it stops here.
    let created = !args.state_dir.exists();
    let state = StateDir::create(&args.state_dir)?;
    let _lock = lock::StateLock::acquire(&state.root)?;
    // Only once locked: a run that found it locked removes nothing.
    let made = NewStateDir::new(&state.root, created);

    let repo = crate::repo::find(args.repo_dir.as_deref())?;
    let service_bin =
        binaries::workspace_binary("service", "--service-bin", args.service_bin.as_deref())?;
    let inbox_bin = binaries::workspace_binary("inbox", "--inbox-bin", args.inbox_bin.as_deref())?;
    let located = locate::locate(&args, &repo)?;
    let grafana = if args.no_optional {
        Err("--no-optional".to_owned())
    } else {
        grafana::detect()
    };
    let otelcol = located.get(Program::Otelcol).map(|f| f.path.clone());
    let store = match (&args.tempo_endpoint, located.get(Program::Tempo)) {
        (Some(endpoint), _) => TraceStore::External(endpoint.clone()),
        (None, Some(_)) => TraceStore::Local,
        (None, None) => TraceStore::Absent,
    };

    let mut roles = vec![
        Role::Inbox,
        Role::NodeExporter,
        Role::Alertmanager,
        Role::Prometheus,
    ];
    roles.extend(Replica::all(args.replicas).map(Role::Service));
    if otelcol.is_some() {
        roles.extend(traces::COLLECTOR_ROLES);
        if store == TraceStore::Local {
            roles.extend(traces::TEMPO_ROLES);
        }
    }
    if grafana.is_ok() {
        roles.push(Role::Grafana);
    }
    let (ports, mut reserved) = Ports::choose(&args, &roles)?;
    // From here on, what the run writes (logs above all) stays.
    made.keep();
    state.remove_manifest();
    let (token, token_file) = state.token(args.inbox_token.as_deref())?;

    // Generated configs.
    let service_targets = ServiceTargets::new(state.file("service-targets.json"));
    service_targets.write(&[])?;
    let prom_source = read(&repo.join("prometheus/prometheus.yml"))?;
    let generated = prometheus_config::generate(
        &prom_source,
        &repo.join("prometheus"),
        &ports,
        prometheus_config::Intervals {
            scrape: args.scrape_interval,
            evaluation: args.evaluation_interval,
        },
        &service_targets,
    )?;
    if !generated.dropped_jobs.is_empty() {
        note!(
            "stack: scrape jobs without a local component, left out: {}",
            generated.dropped_jobs.join(", ")
        );
    }
    let prom_config = state.file("prometheus.yml");
    write(&prom_config, HEADER_PROMETHEUS, &generated.yaml)?;
    let am_source = read(&repo.join("alertmanager/alertmanager.yml"))?;
    let (am_yaml, local_hooks) = alertmanager_config::generate(&am_source, &ports, &token_file)?;
    if local_hooks == 0 {
        note!("stack: warning: no Alertmanager webhook points at the inbox");
    }
    let am_config = state.file("alertmanager.yml");
    write(&am_config, HEADER_ALERTMANAGER, &am_yaml)?;

    let bins = components::Binaries {
        service: service_bin,
        inbox: inbox_bin,
        prometheus: located.path(Program::Prometheus)?,
        node_exporter: located.path(Program::NodeExporter)?,
        alertmanager: located.path(Program::Alertmanager)?,
    };
    let mut launches = components::core(
        &bins,
        &ports,
        &state,
        &token,
        &prom_config,
        &am_config,
        args.replicas,
    )?;
    // The trace half starts before the service, which sends it spans.
    let mut trace_half = Vec::new();
    if let Some(otelcol) = &otelcol {
        if store == TraceStore::Local {
            let tempo = located.path(Program::Tempo)?;
            trace_half.push(traces::tempo(&tempo, &repo, &state, &ports)?);
        }
        trace_half.push(traces::collector(otelcol, &repo, &ports, &store));
    }
    let service_at = launches
        .iter()
        .position(|l| l.role == Role::Service(Replica::FIRST))
        .unwrap_or(0);
    launches.splice(service_at..service_at, trace_half);
    if let Ok(grafana) = &grafana {
        launches.push(grafana.launch(&repo, &state, &ports, &token)?);
    }

    // Start and wait, one by one; an error drops `running`, stopping them all.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the HTTP client")?;
    let mut running: Vec<Supervised> = Vec::new();
    let mut manifest = Vec::new();
    let mut instances = Vec::new();
    for launch in launches {
        let base = ports
            .url(launch.role)
            .context("internal: no port for a started role")?;
        let log = state.log(launch.name);
        let (command, env) = state::shown_command(&launch.command);
        reserved.release(&launch.listens);
        let mut child = Supervised::spawn(launch.name, launch.command, &log)?;
        let ready = format!("{base}{}", launch.ready_path);
        let waited = ready::wait_http(&client, &mut child, &ready, args.ready_timeout, &stop).await;
        if let Err(error) = waited {
            if matches!(error, ready::ReadyError::Interrupted(_)) {
                note!("stack: {error}; stopping");
                drop(child);
                stop_all(&mut running);
                return Ok(ExitCode::SUCCESS);
            }
            return Err(error.into());
        }
        note!("stack: {} ready (pid {})", launch.name, child.pid());
        if let Role::Service(_) = launch.role {
            instances.extend(ports.addr(launch.role));
            service_targets.write(&instances)?;
        }
        manifest.push(ManifestEntry {
            name: launch.name,
            pid: child.pid(),
            url: format!("{base}{}", launch.show_path),
            log,
            command,
            env,
        });
        running.push(child);
    }

    let manifest = Manifest {
        state_dir: state.root.clone(),
        inbox_token_file: token_file.clone(),
        components: manifest,
    };
    state.write_manifest(&manifest)?;
    report::running(&manifest.components, &ports, &located, &store, &state);
    report::not_running(&located, &grafana, &store, otelcol.is_some());

    supervise(&mut running, &stop).await;
    note!("stack: stopping");
    stop_all(&mut running);
    state.remove_manifest();
    note!("stack: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Waits for the stop signal, reporting components that exit on their own.
async fn supervise(running: &mut [Supervised], stop: &AtomicBool) {
    let mut reported = vec![false; running.len()];
    while !stop.load(Ordering::Relaxed) {
        for (child, reported) in running.iter_mut().zip(reported.iter_mut()) {
            if *reported {
                continue;
            }
            if let Some(status) = child.exit_status() {
                *reported = true;
                note!(
                    "stack: {} exited ({status}); the rest keep running (log: {}). Ctrl-C stops all.",
                    child.name,
                    child.log.display()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops in reverse start order: senders before their receivers.
fn stop_all(running: &mut Vec<Supervised>) {
    while let Some(mut child) = running.pop() {
        child.stop();
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write(path: &Path, header: &str, body: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{header}{body}"))
        .with_context(|| format!("writing {}", path.display()))
}

const HEADER_PROMETHEUS: &str = "# Read by Prometheus under `stack up`; GENERATED from prometheus/prometheus.yml, do not edit.\n\
# Wires: the same jobs and rules, with targets rewritten to this host's ports.\n";
const HEADER_ALERTMANAGER: &str = "# Read by Alertmanager under `stack up`; GENERATED from alertmanager/alertmanager.yml, do not edit.\n\
# Wires: the same routes, with the inbox webhook on this host and its token from the state directory.\n";
