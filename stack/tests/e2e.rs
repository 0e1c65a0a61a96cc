//! End to end, on the real Debian Prometheus, node_exporter and Alertmanager:
//! `stack up` on free ports, exact request counts in Prometheus, every
//! dashboard and relay query returning data, the CPU drill taking
//! `HostHighCpuUsage` from inactive through pending to firing and back with
//! notifications in the inbox, and `ServiceDown` reaching the inbox once the
//! service is stopped. Everything it starts is stopped, also on failure.
//!
//! Takes about five minutes: the rule's `for: 2m` is kept as written; only the
//! scrape and evaluation intervals are shortened to 1s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// The whole test must finish within this (issue 4, acceptance 6).
const BUDGET: Duration = Duration::from_secs(600);
/// Requests `load` sends for the exact-count check.
const N: u64 = 3000;

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped, so a
/// failing assertion never leaves processes behind.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    fn spawn(name: &'static str, mut command: Command) -> Self {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: only async-signal-safe prctl between fork and exec. If this
        // test process dies, the child gets SIGTERM (and stops its own children).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Sends `signal` and waits up to `within` for the exit status.
    fn stop(&mut self, signal: i32, within: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.stop(libc::SIGTERM, Duration::from_secs(20)).is_none() {
            eprintln!("e2e: {} ignored SIGTERM; killing", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("stack/ has a parent")
        .to_path_buf()
}

/// Returns the directory holding `stack`, `service` and `inbox`, building the
/// latter two first when they are missing or older than their sources.
///
/// `cargo test --workspace` has already built them (a package's binaries are
/// built for its integration tests), and a nested `cargo build -p service -p
/// inbox` would resolve features differently and recompile dozens of crates;
/// so build only when needed, e.g. under `cargo test -p stack`.
fn build_binaries() -> PathBuf {
    let stack = PathBuf::from(env!("CARGO_BIN_EXE_stack"));
    let dir = stack.parent().expect("binary dir").to_path_buf();
    let root = repo_root();
    let sources = [
        root.join("Cargo.lock"),
        root.join("service"),
        root.join("inbox"),
    ];
    let newest_source = sources.iter().filter_map(|p| newest_mtime(p)).max();
    let fresh = |name: &str| {
        let built = std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .ok();
        matches!((built, newest_source), (Some(b), Some(s)) if b >= s)
    };
    if fresh("service") && fresh("inbox") {
        return dir;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "-p", "service", "-p", "inbox"]);
    if dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p service -p inbox failed");
    for name in ["service", "inbox"] {
        assert!(
            dir.join(name).is_file(),
            "{name} not built in {}",
            dir.display()
        );
    }
    dir
}

/// Latest modification time of a file or of any file below a directory.
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "target")
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// Reads `stack.json` once `stack up` reports every component ready.
fn wait_for_manifest(state: &Path, stack: &mut Guard, within: Duration) -> Value {
    let path = state.join("stack.json");
    let deadline = Instant::now() + within;
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
            "stack up not ready after {within:?}"
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

struct Prometheus {
    client: reqwest::Client,
    base: String,
}

impl Prometheus {
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body: Value = response.json().await.expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// Instant query; returns the result array (a scalar becomes one element).
    async fn query(&self, promql: &str) -> Vec<Value> {
        let data = self.get("/api/v1/query", &[("query", promql)]).await;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                data["result"].as_array().cloned().unwrap_or_default()
            }
            Some("scalar") | Some("string") => vec![data["result"].clone()],
            other => panic!("unexpected result type {other:?} for {promql}"),
        }
    }

    /// Polls an instant query until it returns data; empty after `within`.
    async fn wait_non_empty(&self, promql: &str, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let result = self.query(promql).await;
            if !result.is_empty() || Instant::now() >= deadline {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn scalar(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).await;
        let value = result.first()?["value"][1].as_str()?;
        value.parse().ok()
    }

    /// State of an alerting rule: `inactive`, `pending` or `firing`, plus the
    /// `activeAt` of its alert when there is one.
    async fn rule_state(&self, alert: &str) -> Option<(String, Option<String>)> {
        let data = self.get("/api/v1/rules", &[("type", "alert")]).await;
        let groups = data["groups"].as_array()?;
        let rule = groups
            .iter()
            .filter_map(|g| g["rules"].as_array())
            .flatten()
            .find(|r| r["name"] == alert)?;
        let state = rule["state"].as_str()?.to_owned();
        let active_at = rule["alerts"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a["activeAt"].as_str())
            .map(str::to_owned);
        Some((state, active_at))
    }
}

/// Notifications the inbox holds (newest first), as JSON.
async fn inbox_notifications(client: &reqwest::Client, inbox: &str) -> Vec<Value> {
    client
        .get(format!("{inbox}/api/notifications"))
        .send()
        .await
        .expect("inbox reachable")
        .json()
        .await
        .expect("inbox JSON")
}

/// The arrival time (Unix seconds) of the first notification whose alerts
/// include `alertname` with `status`.
fn delivered(notifications: &[Value], alertname: &str, status: &str) -> Option<f64> {
    notifications
        .iter()
        .filter(|n| {
            n["payload"]["alerts"].as_array().is_some_and(|alerts| {
                alerts
                    .iter()
                    .any(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
            })
        })
        .filter_map(|n| n["received_at_unix_ms"].as_f64())
        .map(|ms| ms / 1000.0)
        .reduce(f64::min)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn rfc3339_to_unix(text: &str) -> f64 {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text))
        .unwrap_or_else(|e| panic!("bad timestamp {text:?}: {e}"))
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every `expr` in the dashboards and the Grafana alert rules, with Grafana's
/// macros and dashboard variables substituted.
fn grafana_queries() -> Vec<(String, String)> {
    let root = repo_root().join("grafana");
    let mut queries = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("dashboards"))
        .expect("grafana/dashboards")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read dashboard");
        let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
        let vars = dashboard_variables(&dashboard);
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        for expr in exprs {
            queries.push((file.display().to_string(), substitute(&expr, &vars)));
        }
    }
    let mut rule_files: Vec<PathBuf> = std::fs::read_dir(root.join("provisioning/alerting"))
        .expect("grafana/provisioning/alerting")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    rule_files.sort();
    for file in rule_files {
        let text = std::fs::read_to_string(&file).expect("read rules");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("rules YAML");
        let json = serde_json::to_value(&yaml).expect("YAML as JSON");
        let mut exprs = Vec::new();
        collect_exprs(&json, &mut exprs);
        for expr in exprs {
            queries.push((
                file.display().to_string(),
                substitute(&expr, &BTreeMap::new()),
            ));
        }
    }
    queries
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) if !expr.trim().is_empty() => {
                        out.push(expr.clone())
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// Values for a dashboard's template variables: the current selection, with
/// "All" as `.*`.
fn dashboard_variables(dashboard: &Value) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(name) = var["name"].as_str() else {
            continue;
        };
        let current = &var["current"]["value"];
        let value = match current {
            Value::String(s) if s == "$__all" => {
                var["allValue"].as_str().unwrap_or(".*").to_owned()
            }
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| if s == "$__all" { ".*" } else { s })
                .collect::<Vec<_>>()
                .join("|"),
            _ => var["query"].as_str().unwrap_or(".*").to_owned(),
        };
        vars.insert(name.to_owned(), value);
    }
    vars
}

fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("${__interval}", "15s")
        .replace("$__range", "5m")
        .replace("${__range}", "5m");
    // Longest names first so `$instance` never eats `$instance_name`.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = &vars[name];
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

/// Progress lines go straight to stderr, not through the test harness's
/// capture, so the timings show in every `cargo test` run.
fn log_step(start: Instant, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "e2e [{:>6.1}s] {what}",
        start.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_stack_counts_alerts_and_notifies() {
    let start = Instant::now();
    let bin = build_binaries();
    log_step(start, "binaries built");

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
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
            "--no-optional",
            "--no-install",
        ])
        .env_remove("INBOX_TOKEN")
        .stdin(Stdio::null());
    let mut stack = Guard::spawn("stack up", up);
    let manifest = wait_for_manifest(state.path(), &mut stack, Duration::from_secs(90));
    log_step(start, "stack up: every component ready");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let prom = Prometheus {
        client: client.clone(),
        base: base_url(&manifest, "prometheus"),
    };
    let service = base_url(&manifest, "service");
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

    // --- 1. exact count --------------------------------------------------
    let output = Command::new(bin.join("stack"))
        .args([
            "load",
            "--url",
            &service,
            "--requests",
            &N.to_string(),
            "--concurrency",
            "16",
            "--json",
        ])
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
        ])
        .output()
        .expect("run stack load");
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
    log_step(start, &format!("load sent {N} requests"));

    // Routes hit: their templates, and "" for the unmatched path.
    let count_query = r#"sum(http_server_requests_total{http_route=~"/|/api/items|/api/items/\\{id\\}|/api/work|"})"#;
    let deadline = Instant::now() + Duration::from_secs(30);
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
            "Prometheus count stuck at {seen:?}, expected {N}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    log_step(
        start,
        &format!("acceptance 1: Prometheus answers {count_query} = {N}"),
    );

    // --- 2. node CPU series, dashboard and relay queries ------------------
    // Prometheus's first scrapes come ~5s after it starts (target discovery
    // is throttled) and rate() needs two samples: poll each query briefly.
    let within = Duration::from_secs(30);
    let cpu = prom
        .wait_non_empty(r#"node_cpu_seconds_total{job="node", mode="idle"}"#, within)
        .await;
    assert!(!cpu.is_empty(), "no node CPU series");
    let queries = grafana_queries();
    assert!(
        queries.len() >= 5,
        "expected the dashboard's panel queries, found {queries:?}"
    );
    let (relay, panels): (Vec<_>, Vec<_>) = queries
        .into_iter()
        .partition(|(file, _)| file.contains("provisioning"));
    assert!(!relay.is_empty(), "no Grafana relay rule query found");
    for (file, query) in &panels {
        let result = prom.wait_non_empty(query, within).await;
        assert!(
            !result.is_empty(),
            "{file}: query returned no data: {query}"
        );
    }
    log_step(
        start,
        &format!(
            "acceptance 2: {} CPU series; {} panel queries return data",
            cpu.len(),
            panels.len()
        ),
    );

    // --- 3. CPU drill -----------------------------------------------------
    // Start from a quiet host: the rule inactive while its expression has
    // data below the threshold, so the drill is what makes it cross.
    let busy_query =
        r#"1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[1m]))"#;
    let deadline = Instant::now() + Duration::from_secs(120);
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
             is something else loading the CPU?"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    log_step(
        start,
        &format!(
            "HostHighCpuUsage inactive (CPU busy {:.0}%); starting CPU drill",
            busy_before * 100.0
        ),
    );
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
    let mut active_at = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some((state, at)) = prom.rule_state("HostHighCpuUsage").await {
            if state == "pending" && !seen_pending {
                seen_pending = true;
                log_step(start, "HostHighCpuUsage pending");
            }
            if let Some(at) = at {
                active_at.get_or_insert(at);
            }
            if state == "firing" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "HostHighCpuUsage not firing within 5 minutes of drill"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        seen_pending,
        "HostHighCpuUsage went to firing without being seen pending"
    );
    let crossed = rfc3339_to_unix(active_at.as_deref().expect("activeAt of the alert"));
    log_step(
        start,
        &format!(
            "HostHighCpuUsage firing ({:.0}s after threshold crossing, {:.0}s after drill start)",
            unix_now() - crossed,
            crossed - drill_started
        ),
    );

    // The Grafana relay query sees the firing alert.
    for (file, query) in &relay {
        let result = prom.query(query).await;
        let relays_cpu = result
            .iter()
            .any(|s| s["metric"]["alertname"] == "HostHighCpuUsage");
        assert!(
            relays_cpu,
            "{file}: relay query does not show HostHighCpuUsage: {query} -> {result:?}"
        );
    }
    log_step(
        start,
        "acceptance 2: relay rule query shows the firing alert",
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    let fired_at = loop {
        let notes = inbox_notifications(&client, &inbox).await;
        if let Some(at) = delivered(&notes, "HostHighCpuUsage", "firing") {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "no firing HostHighCpuUsage notification in the inbox: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    log_step(
        start,
        &format!(
            "acceptance 3: threshold crossed -> firing notification delivered in {:.1}s \
             (rule `for: 2m` + Alertmanager group_wait)",
            fired_at - crossed
        ),
    );

    // --- 3 (resolve) and 4 (ServiceDown), overlapped ----------------------
    drill.stop(libc::SIGINT, Duration::from_secs(15));
    let service_pid = pids
        .iter()
        .find(|(n, _)| n == "service")
        .map(|(_, p)| *p)
        .expect("service pid");
    // SAFETY: the service is a child of `stack up`, started by this test.
    unsafe {
        libc::kill(service_pid, libc::SIGTERM);
    }
    let stopped_at = unix_now();
    log_step(start, "drill stopped and service stopped");

    let deadline = Instant::now() + Duration::from_secs(240);
    let (mut resolved, mut down) = (None, None);
    while resolved.is_none() || down.is_none() {
        let notes = inbox_notifications(&client, &inbox).await;
        if resolved.is_none()
            && let Some(at) = delivered(&notes, "HostHighCpuUsage", "resolved")
        {
            resolved = Some(at);
            log_step(
                start,
                &format!(
                    "acceptance 3: resolved notification {:.1}s after the drill stopped",
                    at - stopped_at
                ),
            );
        }
        if down.is_none()
            && let Some(at) = delivered(&notes, "ServiceDown", "firing")
        {
            down = Some(at);
            log_step(
                start,
                &format!(
                    "acceptance 4: ServiceDown notification {:.1}s after the service stopped",
                    at - stopped_at
                ),
            );
        }
        assert!(
            Instant::now() < deadline,
            "missing notifications (resolved: {resolved:?}, ServiceDown: {down:?}); inbox: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

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
        .stop(libc::SIGTERM, Duration::from_secs(60))
        .expect("stack up stops on SIGTERM");
    assert!(status.success(), "stack up exited with {status}");
    for (name, pid) in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{name} (pid {pid}) still running"
        );
    }
    let elapsed = start.elapsed();
    log_step(start, "acceptance 6: every process stopped");
    assert!(elapsed < BUDGET, "took {elapsed:?}, budget {BUDGET:?}");
}
