//! End to end, on the programs compose runs, built from their Go modules at
//! the versions.yaml pins (Prometheus 3.5, Alertmanager 0.28.1, node_exporter
//! 1.9.1, the Collector 0.129.1): `stack up` on free ports, exact request
//! counts in Prometheus; traces followed from the service through the
//! Collector to the trace store and back as span metrics and exemplars
//! ([`traces`]); every dashboard panel query returning the values the load
//! implies and the relay query showing the firing alert; the CPU drill
//! taking `HostHighCpuUsage` from inactive through pending to firing and
//! back with notifications in the inbox; and `ServiceDown` reaching the
//! inbox once one of the three service replicas is stopped, for that
//! instance only, and resolving once it runs again. Everything it starts is
//! stopped, also on failure.
//!
//! Takes about six minutes: the rule's `for: 2m` is kept as written; only the
//! scrape and evaluation intervals are shortened to 1s. Every step has a
//! deadline capped by one overall budget ([`clock::BUDGET`]).

#[path = "e2e/clock.rs"]
mod clock;
#[path = "e2e/expect.rs"]
mod expect;
#[path = "e2e/grafana.rs"]
mod grafana;
#[path = "e2e/inbox.rs"]
mod inbox;
#[path = "e2e/links.rs"]
mod links;
#[path = "e2e/processes.rs"]
mod processes;
#[path = "e2e/prometheus.rs"]
mod prometheus;
#[path = "e2e/screenshot.rs"]
mod screenshot;
#[path = "e2e/traces.rs"]
mod traces;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::OtlpReceiver;

use clock::{BUDGET, Clock};
use expect::Expect;
use grafana::Origin;
use processes::{Guard, STOP_WAIT, build_binaries, repo_root, restart, run_with_deadline};
use prometheus::{Prometheus, rfc3339_to_unix, unix_now};

/// Requests `load` sends for the exact-count check: whole cycles of the six
/// routes for each of the three replicas in turn (a multiple of 18).
const N: u64 = 3060;
/// Their pace (req/s): spread over several 1s scrapes (6 s), so every
/// counter series is seen rising and the rate() panels have a slope to show.
/// A load over within one scrape would leave rate() at exactly 0.
const LOAD_RATE: &str = "500";

/// Reads `stack.json` once `stack up` reports every component ready.
fn wait_for_manifest(state: &Path, stack: &mut Guard, clock: &Clock) -> Value {
    let path = state.join("stack.json");
    let deadline = clock.deadline(Duration::from_secs(90));
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(manifest) = serde_json::from_str::<Value>(&text)
        {
            return manifest;
        }
        if let Ok(Some(status)) = stack.child.try_wait() {
            panic!(
                "stack up exited early ({status}); logs in {}",
                state.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "stack up not ready in time{}; logs in {}",
            clock.why(),
            state.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn component<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["components"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} missing from stack.json: {manifest}"))
}

/// `http://127.0.0.1:PORT` of a component (without the trailing path).
fn base_url(manifest: &Value, name: &str) -> String {
    let url = component(manifest, name)["url"].as_str().expect("url");
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(i) => url[..scheme_end + i].to_owned(),
        None => url.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_stack_counts_alerts_and_notifies() {
    let build_started = Instant::now();
    let bin = build_binaries();
    let clock = Clock::start();
    clock.log(&format!(
        "binaries ready in {:.1}s (not counted in the {BUDGET:?} budget)",
        build_started.elapsed().as_secs_f64()
    ));

    // Where Tempo would be: the Collector's trace export lands here.
    let trace_store = OtlpReceiver::start().await;
    let state = tempfile::tempdir().expect("temp state dir");
    let mut up = Command::new(bin.join("stack"));
    up.current_dir(repo_root())
        .args(["up", "--state-dir"])
        .arg(state.path())
        .arg("--service-bin")
        .arg(bin.join("service"))
        .arg("--inbox-bin")
        .arg(bin.join("inbox"))
        .args([
            "--replicas",
            "3",
            "--service-port",
            "0",
            "--inbox-port",
            "0",
            "--node-exporter-port",
            "0",
            "--prometheus-port",
            "0",
            "--alertmanager-port",
            "0",
            "--otlp-grpc-port",
            "0",
            "--otlp-http-port",
            "0",
            "--collector-metrics-port",
            "0",
            "--spanmetrics-port",
            "0",
            "--collector-health-port",
            "0",
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
            // The pinned builds must be in the cache already (./scripts/test
            // builds them): building here would eat the budget.
            "--no-build",
            "--no-install",
        ])
        .arg("--tempo-endpoint")
        .arg(trace_store.addr.to_string())
        .env_remove("INBOX_TOKEN")
        // Grafana cannot run here; never start one that happens to be installed.
        .env_remove("GF_SECURITY_ADMIN_PASSWORD")
        .stdin(Stdio::null());
    let mut stack = Guard::spawn("stack up", up);
    let manifest = wait_for_manifest(state.path(), &mut stack, &clock);
    clock.log("stack up: every component ready");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let prom = Prometheus {
        client: client.clone(),
        base: base_url(&manifest, "prometheus"),
    };
    // Three replicas, found by Prometheus through the targets file.
    let services: Vec<String> = ["service-1", "service-2", "service-3"]
        .iter()
        .map(|name| base_url(&manifest, name))
        .collect();
    let service = services[0].clone();
    let inbox = base_url(&manifest, "inbox");
    let pids: Vec<(String, i32)> = manifest["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or("?").to_owned();
            let pid = c["pid"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .expect("pid");
            (name, pid)
        })
        .collect();

    // --- every doc link to a component opens --------------------------------
    let bases: std::collections::BTreeMap<&str, String> = manifest["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?,
                base_url(&manifest, c["name"].as_str()?),
            ))
        })
        .collect();
    let mut opened = 0;
    for file in ["README.md", "docs/walkthrough.md", "docs/runbook.md"] {
        for link in links::local_links(file) {
            let Some(url) = links::on_this_stack(&link, &bases) else {
                clock.log(&format!(
                    "{file}: {link}: not part of the native stack here, skipped"
                ));
                continue;
            };
            let status = links::status(&client, &url).await;
            assert!(
                status.as_ref().is_ok_and(|s| (200..300).contains(s)),
                "{file}: {link} (here {url}) answered {status:?}"
            );
            opened += 1;
        }
    }
    clock.log(&format!(
        "{opened} links of README.md, the walkthrough and the runbook open"
    ));

    // --- 1. exact count --------------------------------------------------
    let mut load = Command::new(bin.join("stack"));
    load.args(["load", "--url", &services.join(",")])
        .args(["--requests", &N.to_string(), "--rate", LOAD_RATE, "--json"])
        .args([
            "--route",
            "/",
            "--route",
            "/api/items",
            "--route",
            "/api/items/1",
        ])
        .args([
            "--route",
            "POST /api/items",
            "--route",
            "/api/work?ms=1",
            "--route",
            "/no-such-page",
        ]);
    let output = run_with_deadline(load, clock.deadline(Duration::from_secs(60)), &clock).await;
    assert!(
        output.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("load --json summary");
    assert_eq!(summary["sent"], N, "{summary}");
    assert_eq!(summary["status"]["errors"], 0, "{summary}");
    assert_eq!(
        summary["status"]["4xx"],
        N / 6,
        "only /no-such-page is 404: {summary}"
    );
    assert_eq!(summary["status"]["5xx"], 0, "{summary}");
    clock.log(&format!("load sent {N} requests"));

    // Routes hit: their templates, and "" for the unmatched path.
    let count_query = r#"sum(http_server_requests_total{http_route=~"/|/api/items|/api/items/\\{id\\}|/api/work|"})"#;
    let deadline = clock.deadline(Duration::from_secs(30));
    loop {
        let seen = prom.scalar(count_query).await;
        if let Some(v) = seen {
            assert!(v <= N as f64, "Prometheus counts {v} > {N} sent");
            if v == N as f64 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus count stuck at {seen:?}, expected {N}{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Each instance got its third: whole cycles of the route list in turn.
    let per_instance = prom
        .query(&count_query.replace("sum(", "sum by (instance) ("))
        .await;
    let counts: Vec<f64> = per_instance
        .iter()
        .filter_map(|s| s["value"][1].as_str()?.parse().ok())
        .collect();
    assert_eq!(counts, vec![(N / 3) as f64; 3], "{per_instance:?}");
    clock.log(&format!(
        "acceptance 1: Prometheus answers {count_query} = {N}, {} on each of the 3 replicas",
        N / 3
    ));

    // --- traces, span metrics, the Collector's own metrics -----------------
    traces::requests_reach_the_store(&client, &service, &trace_store, &clock).await;
    traces::span_metrics_and_exemplars(&prom, &trace_store, N, &clock).await;
    traces::collector_metrics(&prom, &trace_store, &clock).await;

    // --- 2. node CPU series, dashboard and relay queries ------------------
    // Prometheus's first scrapes come ~5s after it starts (target discovery
    // is throttled) and rate() needs two samples: poll each query briefly.
    let cpu = prom
        .wait_non_empty(
            r#"node_cpu_seconds_total{job="node", mode="idle"}"#,
            clock.deadline(Duration::from_secs(30)),
        )
        .await;
    assert!(!cpu.is_empty(), "no node CPU series{}", clock.why());
    let queries = grafana::queries();
    let (relay, panels): (Vec<_>, Vec<_>) =
        queries.into_iter().partition(|q| q.origin == Origin::Relay);
    assert!(
        panels.len() >= 5,
        "expected the dashboard's panel queries, found {panels:?}"
    );
    assert!(!relay.is_empty(), "no Grafana relay rule query found");
    let mut checked = 0;
    for query in &panels {
        let expect = Expect::of(&query.expr, N);
        let deadline = clock.deadline(Duration::from_secs(20));
        let verdict = loop {
            let result = prom.query(&query.expr).await;
            let verdict = expect.check(&result).map_err(|e| (e, result));
            if verdict.is_ok() || Instant::now() >= deadline {
                break verdict;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if let Err((why, result)) = verdict {
            panic!(
                "{} {:?}: {why}{}\n  query: {}\n  expected: {expect:?}\n  result: {result:?}",
                query.file,
                query.origin,
                clock.why(),
                query.expr
            );
        }
        checked += 1;
    }
    clock.log(&format!(
        "acceptance 2: {} CPU series; {checked} panel queries hold their expected values",
        cpu.len()
    ));

    // --- the Collector stopped for 20 s under load -----------------------
    let _restarted_collector = traces::collector_outage(
        component(&manifest, "otelcol"),
        &bin.join("stack"),
        &client,
        &service,
        &trace_store,
        &clock,
    )
    .await;

    // --- 3. CPU drill -----------------------------------------------------
    // The rule must exist, else "inactive" below could never be seen and the
    // wait would only time out.
    let rule_known = prom.rule_state("HostHighCpuUsage").await.is_some();
    assert!(
        rule_known,
        "Prometheus has no alerting rule HostHighCpuUsage: are prometheus/rules/*.yml \
         loaded (rule_files in the generated {}/prometheus.yml)?",
        state.path().display()
    );
    // Start from a quiet host: the rule inactive while its expression has
    // data below the threshold, so the drill is what makes it cross.
    let busy_query =
        r#"1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[1m]))"#;
    let deadline = clock.deadline(Duration::from_secs(120));
    let busy_before = loop {
        let state = prom.rule_state("HostHighCpuUsage").await;
        let busy = prom.scalar(busy_query).await;
        if let (Some((state, _)), Some(busy)) = (&state, busy)
            && state == "inactive"
            && busy < 0.8
        {
            break busy;
        }
        assert!(
            Instant::now() < deadline,
            "host not quiet before the drill (rule {state:?}, busy share {busy:?}): \
             is something else loading the CPU?{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    clock.log(&format!(
        "HostHighCpuUsage inactive (CPU busy {:.0}%); starting CPU drill",
        busy_before * 100.0
    ));
    let mut drill_cmd = Command::new(bin.join("stack"));
    drill_cmd
        .args([
            "load",
            "--url",
            &service,
            "--cpu",
            "--duration",
            "8m",
            "--json",
        ])
        .stdout(Stdio::null());
    let mut drill = Guard::spawn("cpu drill", drill_cmd);
    let drill_started = unix_now();

    let mut seen_pending = false;
    let deadline = clock.deadline(Duration::from_secs(300));
    // When the episode that fired went pending: its firing alert's activeAt
    // (an earlier pending episode that fell back would give a stale time).
    let active_at = loop {
        if let Some((state, at)) = prom.rule_state("HostHighCpuUsage").await {
            if state == "pending" && !seen_pending {
                seen_pending = true;
                clock.log("HostHighCpuUsage pending");
            }
            if state == "firing" {
                break at;
            }
        }
        assert!(
            Instant::now() < deadline,
            "HostHighCpuUsage not firing within 5 minutes of drill{}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(
        seen_pending,
        "HostHighCpuUsage went to firing without being seen pending"
    );
    let crossed = rfc3339_to_unix(active_at.as_deref().expect("activeAt of the firing alert"));
    let fired = unix_now();
    clock.log(&format!(
        "HostHighCpuUsage firing {:.0}s after the drill started (threshold crossed after {:.0}s, \
         then `for: 2m`)",
        fired - drill_started,
        crossed - drill_started
    ));

    // The Grafana relay query sees the firing alert. Polled: the rules API
    // and the ALERTS series the query reads are updated at slightly
    // different moments of an evaluation.
    for query in &relay {
        let deadline = clock.deadline(Duration::from_secs(10));
        let result = loop {
            let result = prom.query(&query.expr).await;
            if expect::relays(&result, "HostHighCpuUsage") || Instant::now() >= deadline {
                break result;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(
            expect::relays(&result, "HostHighCpuUsage"),
            "{}: relay query does not show HostHighCpuUsage{}: {} -> {result:?}",
            query.file,
            clock.why(),
            query.expr
        );
    }
    clock.log("acceptance 2: relay rule query shows the firing alert");

    let deadline = clock.deadline(Duration::from_secs(90));
    let fired_at = loop {
        let notes = inbox::notifications(&client, &inbox).await;
        if let Some(at) = inbox::delivered(&notes, "HostHighCpuUsage", "firing") {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "no firing HostHighCpuUsage notification in the inbox{}: {notes:?}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let notes = inbox::notifications(&client, &inbox).await;
    let firing = notes
        .iter()
        .find(|n| {
            n["source"] == "alertmanager"
                && n["payload"]["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == "HostHighCpuUsage")
                })
        })
        .expect("Alertmanager's HostHighCpuUsage notification");
    let urls = links::notification_urls(firing);
    assert!(
        urls.len() >= 3,
        "externalURL, generatorURL, runbook_url: {urls:?}"
    );
    for url in &urls {
        let status = links::status(&client, url).await;
        assert!(
            status.as_ref().is_ok_and(|s| (200..300).contains(s)),
            "notification link {url} answered {status:?}"
        );
    }
    clock.log(&format!(
        "the notification's {} links all open: {urls:?}",
        urls.len()
    ));
    clock.log(&format!(
        "acceptance 3: threshold crossed -> firing notification delivered in {:.1}s \
         (rule `for: 2m` + Alertmanager group_wait)",
        fired_at - crossed
    ));

    // --- 3 (resolve) and 4 (ServiceDown), overlapped ----------------------
    drill.stop(libc::SIGINT, clock.within(Duration::from_secs(15)));
    let stopped_replica = component(&manifest, "service-2");
    let stopped_instance = services[1].trim_start_matches("http://").to_owned();
    let service_pid = pids
        .iter()
        .find(|(n, _)| n == "service-2")
        .map(|(_, p)| *p)
        .expect("service-2 pid");
    // SAFETY: the replica is a child of `stack up`, started by this test.
    unsafe {
        libc::kill(service_pid, libc::SIGTERM);
    }
    let stopped_at = unix_now();
    clock.log("drill stopped and replica service-2 stopped");

    let deadline = clock.deadline(Duration::from_secs(240));
    let (mut resolved, mut down) = (None, None);
    while resolved.is_none() || down.is_none() {
        let notes = inbox::notifications(&client, &inbox).await;
        if resolved.is_none()
            && let Some(at) = inbox::delivered(&notes, "HostHighCpuUsage", "resolved")
        {
            resolved = Some(at);
            clock.log(&format!(
                "acceptance 3: resolved notification {:.1}s after the drill stopped",
                at - stopped_at
            ));
        }
        if down.is_none()
            && let Some(at) = inbox::delivered(&notes, "ServiceDown", "firing")
        {
            down = Some(at);
            clock.log(&format!(
                "acceptance 4: ServiceDown notification {:.1}s after the replica stopped",
                at - stopped_at
            ));
        }
        assert!(
            Instant::now() < deadline,
            "missing notifications (resolved: {resolved:?}, ServiceDown: {down:?}){}; inbox: {notes:?}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let notes = inbox::notifications(&client, &inbox).await;
    assert_eq!(
        inbox::instances(&notes, "ServiceDown", "firing"),
        vec![stopped_instance.clone()],
        "ServiceDown for the stopped replica only"
    );
    let _restarted_replica = restart(stopped_replica);
    let restarted_at = unix_now();
    let deadline = clock.deadline(Duration::from_secs(120));
    loop {
        let notes = inbox::notifications(&client, &inbox).await;
        if inbox::instances(&notes, "ServiceDown", "resolved") == [stopped_instance.clone()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ServiceDown of {stopped_instance} not resolved after its restart{}; inbox: {notes:?}",
            clock.why()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    clock.log(&format!(
        "replica {stopped_instance} running again: ServiceDown resolved {:.1}s later",
        unix_now() - restarted_at
    ));

    // What a person sees in the inbox after the drill, rendered by a browser.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-inbox.png");
    let dom = screenshot::capture(&format!("{inbox}/"), &png);
    for text in [
        "HostHighCpuUsage",
        "High CPU usage on",
        "CPU busy share on",
        "/runbook#hosthighcpuusage",
        "firing",
        "resolved",
        "ServiceDown",
    ] {
        assert!(dom.contains(text), "the inbox page lacks {text:?}: {dom}");
    }
    clock.log(&format!(
        "inbox page rendered, checked, screenshot at {}",
        png.display()
    ));

    // --- 5 (live part; the full matrix is in inbox/tests/http.rs) ---------
    let unauthorized = client
        .post(format!("{inbox}/api/notifications"))
        .body("{}")
        .send()
        .await
        .expect("post to inbox")
        .status();
    assert_eq!(unauthorized, reqwest::StatusCode::UNAUTHORIZED);
    // What a person sees: the HTML page and the inbox's log lines.
    let page = client
        .get(format!("{inbox}/"))
        .send()
        .await
        .expect("inbox page")
        .text()
        .await
        .expect("inbox page text");
    for name in ["HostHighCpuUsage", "ServiceDown"] {
        assert!(page.contains(name), "inbox page lacks {name}: {page}");
    }
    let log_path = component(&manifest, "inbox")["log"]
        .as_str()
        .expect("inbox log")
        .to_owned();
    let log = std::fs::read_to_string(&log_path).expect("read inbox log");
    assert!(
        log.lines().any(|l| l.contains("FIRING")
            && l.contains("ServiceDown")
            && l.contains("alertmanager")),
        "no readable ServiceDown line in the inbox log:\n{log}"
    );

    // --- 6. clean shutdown ------------------------------------------------
    let status = stack
        .stop(libc::SIGTERM, clock.within(STOP_WAIT))
        .unwrap_or_else(|| panic!("stack up did not stop on SIGTERM in time{}", clock.why()));
    assert!(status.success(), "stack up exited with {status}");
    for (name, pid) in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{name} (pid {pid}) still running"
        );
    }
    clock.log("acceptance 6: every process stopped");
    let elapsed = clock.elapsed();
    assert!(elapsed < BUDGET, "took {elapsed:?}, budget {BUDGET:?}");
}
