//! The inbox's memory and response bounds, measured on the real `inbox`
//! binary where memory is the question (VmRSS / VmHWM from /proc), and over
//! HTTP in-process where only sizes are: worst-case bodies posted hundreds of
//! times, the listing followed page by page, the HTML page under hostile
//! content, and settings that cannot hold refused at startup.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use inbox::config::Limits;
use inbox::listing::LIST_MAX_BYTES;
use inbox::payload::WebhookPayload;
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "limits-token-81d2";
const MIB: u64 = 1 << 20;
/// The defaults of `--max-body` and `--history-bytes`.
const MAX_BODY: usize = 256 << 10;
const HISTORY_BYTES: u64 = 64 * MIB;

/// The bound docs/configuration.md ("Inbox memory") documents for the
/// process: 1.05 x `--history-bytes` + 16 MiB + 40 x `--max-body`.
fn documented_rss_bound(history_bytes: u64, max_body: usize) -> u64 {
    history_bytes * 105 / 100 + 16 * MIB + 40 * max_body as u64
}

/// The `inbox` binary on a free loopback port with `args`, its log piped.
fn inbox(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inbox"));
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("INBOX_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped());
    command
}

/// The real `inbox` binary on a free loopback port, killed on drop.
struct InboxProcess {
    child: Child,
    base: String,
}

impl InboxProcess {
    fn start(args: &[&str]) -> Self {
        let mut child = inbox(args)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the inbox binary");
        let stdout = child.stdout.take().expect("stdout piped");
        let (lines, received) = mpsc::channel();
        // Keeps draining the log so the inbox never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut guard = Self {
            child,
            base: String::new(),
        };
        while guard.base.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .expect("inbox logs `listening on ADDR` within 20 s");
            if let Some(addr) = line.split("listening on ").nth(1) {
                guard.base = format!("http://{}", addr.trim());
            }
        }
        guard
    }

    /// `(VmRSS, VmHWM)` in bytes.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or_else(|| panic!("{name} in {status}"))
                * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for InboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    common::client(Duration::from_secs(30))
}

async fn post(client: &reqwest::Client, base: &str, body: &str) -> (StatusCode, String) {
    common::post_notification(client, base, TOKEN, body).await
}

/// The body of the finding: `max_body` bytes of array-form alerts (`[""]`),
/// which serde's derived impls would take as alerts.
fn array_form_body(max_body: usize) -> String {
    alerts_body(r#"[""]"#, max_body)
}

/// `max_body` bytes of the alerts that take the most memory to parse per
/// body byte (about 24 times): a one-entry map costs a whole B-tree node.
fn costliest_parse_body(max_body: usize) -> String {
    alerts_body(
        r#"{"status":"","labels":{"":""},"annotations":{"":""}}"#,
        max_body,
    )
}

/// `max_body` bytes of the smallest alert objects with the usual fields.
fn minimal_objects_body(max_body: usize) -> String {
    alerts_body(
        r#"{"status":"firing","labels":{},"annotations":{}}"#,
        max_body,
    )
}

fn alerts_body(alert: &str, max_body: usize) -> String {
    let head = r#"{"version":"4","status":"firing","alerts":["#;
    let count = (max_body - head.len() - 2) / (alert.len() + 1);
    let body = format!("{head}{}]}}", vec![alert; count].join(","));
    assert!(body.len() <= max_body && body.len() > max_body - alert.len() - 2);
    body
}

/// The accepted body that costs the most to keep: its stored form is the
/// body itself and just fits `max_body`, and its first alerts fill the page
/// summary with the longest texts (4-byte characters).
fn worst_accepted_body(max_body: usize) -> String {
    let long = "𝄞".repeat(200);
    let rich: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"status":"{long}","labels":{{"alertname":"{i}{long}","instance":"{long}","severity":"{long}"}},"annotations":{{"summary":"{long}","description":"{long}","runbook_url":"{long}"}},"startsAt":"{long}"}}"#
            )
        })
        .collect();
    let stored = |fillers: usize| {
        let mut alerts = rich.clone();
        alerts.extend(std::iter::repeat_n(r#"{"status":""}"#.to_owned(), fillers));
        let body = format!(
            r#"{{"version":"4","status":"{long}","receiver":"{long}","alerts":[{}]}}"#,
            alerts.join(",")
        );
        let payload = WebhookPayload::parse(body.as_bytes()).expect("valid payload");
        payload
            .to_stored_json(usize::MAX, body.len())
            .expect("serialises")
            .into_string()
    };
    let base = stored(0).len();
    let per_filler = stored(1).len() - base;
    let body = stored((max_body - base) / per_filler);
    assert!(body.len() <= max_body && body.len() + per_filler > max_body);
    body
}

/// Every page of the listing from the newest on, following `Link: rel="next"`.
async fn all_pages(client: &reqwest::Client, base: &str, query: &str) -> Vec<(usize, Vec<Value>)> {
    let mut pages = Vec::new();
    let mut next = Some(format!("/api/notifications{query}"));
    while let Some(path) = next.take() {
        assert!(pages.len() < 1000, "the listing does not end");
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), StatusCode::OK);
        next = response
            .headers()
            .get("link")
            .and_then(|value| value.to_str().ok())
            .and_then(|link| link.strip_prefix('<'))
            .and_then(|link| link.split_once(">; rel=\"next\""))
            .map(|(path, _)| path.to_owned());
        let body = response.bytes().await.expect("body");
        let items: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
        pages.push((body.len(), items));
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worst_case_posts_keep_the_process_under_the_documented_bound() {
    // About 20 s in a debug build on 2 busy cores; a hang fails instead of waiting.
    tokio::time::timeout(Duration::from_secs(240), worst_case_posts())
        .await
        .expect("the memory test finishes within 240 s");
}

async fn worst_case_posts() {
    // --history 10000 so that the byte budget, not the count, is what binds.
    let inbox = InboxProcess::start(&["--history", "10000"]);
    let client = client();
    let base = &inbox.base;
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let (rss_start, _) = inbox.memory();
    let bound = documented_rss_bound(HISTORY_BYTES, MAX_BODY);
    let started = Instant::now();

    let array_form = array_form_body(MAX_BODY);
    let minimal = minimal_objects_body(MAX_BODY);
    let costliest = costliest_parse_body(MAX_BODY);
    let worst = worst_accepted_body(MAX_BODY);
    // Three senders at once, 200 rounds each: the parses take turns.
    let mut senders = Vec::new();
    for body in [array_form, minimal, costliest] {
        let (client, base) = (client.clone(), base.clone());
        senders.push(tokio::spawn(async move {
            for _ in 0..200 {
                let (status, answer) = post(&client, &base, &body).await;
                let expected =
                    if body.starts_with(r#"{"version":"4","status":"firing","alerts":[[""]"#) {
                        (StatusCode::BAD_REQUEST, "expected a JSON object")
                    } else {
                        (StatusCode::PAYLOAD_TOO_LARGE, "INBOX_MAX_BODY")
                    };
                assert_eq!(status, expected.0, "{answer}");
                assert!(answer.contains(expected.1), "{answer}");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    let (rss_rejected, hwm_rejected) = inbox.memory();
    let mut last_id = 0;
    for _ in 0..300 {
        let (status, answer) = post(&client, base, &worst).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let answer: Value = serde_json::from_str(&answer).expect("JSON answer");
        last_id = answer["id"].as_u64().expect("id");
    }
    let (rss_stored, hwm_stored) = inbox.memory();
    let posting = started.elapsed();

    let pages = all_pages(&client, base, "").await;
    let (_, hwm_listed) = inbox.memory();
    let kept: Vec<u64> = pages
        .iter()
        .flat_map(|(_, items)| items.iter().map(|item| item["id"].as_u64().expect("id")))
        .collect();
    let largest_page = pages.iter().map(|(size, _)| *size).max().unwrap_or(0);

    eprintln!(
        "inbox memory (MiB): start {:.1}, after 600 rejected worst-case posts {:.1} (peak {:.1}), after 300 worst accepted \
         {:.1} (peak {:.1}), peak after listing {:.1}; kept {} notifications in {} pages, largest {} bytes; \
         bound {:.1}; posting took {posting:?}",
        mib(rss_start),
        mib(rss_rejected),
        mib(hwm_rejected),
        mib(rss_stored),
        mib(hwm_stored),
        mib(hwm_listed),
        kept.len(),
        pages.len(),
        largest_page,
        mib(bound),
    );
    // The rejected bodies leave nothing behind worth a megabyte per post.
    assert!(
        rss_rejected < rss_start + 32 * MIB,
        "rejected posts grew RSS to {}",
        mib(rss_rejected)
    );
    assert!(
        hwm_stored <= bound,
        "peak {} MiB over the bound",
        mib(hwm_stored)
    );
    assert!(
        hwm_listed <= bound,
        "peak {} MiB over the bound",
        mib(hwm_listed)
    );
    // The byte budget bound what was kept: newest first, contiguous, and no
    // more than fit in --history-bytes.
    let record_max = Limits::record_max(MAX_BODY) as u64;
    assert!(kept.len() as u64 <= HISTORY_BYTES / (worst.len() as u64));
    assert!(
        kept.len() as u64 >= HISTORY_BYTES / record_max,
        "kept only {}",
        kept.len()
    );
    let expected: Vec<u64> = (0..kept.len() as u64).map(|i| last_id - i).collect();
    assert_eq!(kept, expected);
    assert!(
        largest_page <= LIST_MAX_BYTES,
        "a page of {largest_page} bytes"
    );
    assert!(
        pages.len() > 1,
        "64 MiB of notifications take several pages"
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// Limits that keep everything the size tests post, up to 1 MiB bodies.
const ROOMY: Limits = Limits {
    history: 1000,
    history_bytes: 1 << 30,
    max_body: 1 << 20,
};

/// The inbox router in-process on a free loopback port (for size checks,
/// where the process's memory is not the question).
async fn serve(limits: Limits) -> String {
    common::serve(inbox::routes::app(
        inbox::auth::Token::new(TOKEN).expect("token"),
        limits,
        &inbox::runbook::Links::default(),
    ))
    .await
}

/// A notification of about `size` bytes: one alert with a long summary.
fn sized_body(size: usize) -> String {
    format!(
        r#"{{"version":"4","status":"firing","receiver":"inbox","alerts":[{{"status":"firing",
            "labels":{{"alertname":"Big"}},"annotations":{{"summary":"{}"}}}}]}}"#,
        "s".repeat(size)
    )
}

#[tokio::test]
async fn the_listing_comes_in_bounded_pages_of_the_same_items() {
    let base = serve(ROOMY).await;
    let client = client();
    for _ in 0..12 {
        let (status, answer) = post(&client, &base, &sized_body(600_000)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for _ in 0..3 {
        post(&client, &base, &sized_body(10)).await;
    }

    let pages = all_pages(&client, &base, "").await;
    let ids: Vec<u64> = pages
        .iter()
        .flat_map(|(_, items)| items.iter().map(|item| item["id"].as_u64().expect("id")))
        .collect();
    assert_eq!(
        ids,
        (1..=15).rev().collect::<Vec<u64>>(),
        "every notification once, newest first"
    );
    for (size, items) in &pages {
        assert!(*size <= LIST_MAX_BYTES, "a page of {size} bytes");
        assert!(!items.is_empty());
    }
    assert_eq!(pages[0].1.len(), 6, "3 small and 3 large fit in 2 MiB");
    // Each item keeps the shape readers rely on.
    let item = &pages[1].1[0];
    let mut keys: Vec<&str> = item
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "id",
            "payload",
            "received_at",
            "received_at_unix_ms",
            "source"
        ]
    );
    assert_eq!(item["source"], "alertmanager");
    assert_eq!(item["payload"]["alerts"][0]["labels"]["alertname"], "Big");
    assert_eq!(item["payload"]["alerts"][0]["status"], "firing");
    assert_eq!(item["payload"]["commonLabels"], serde_json::json!({}));

    let five = all_pages(&client, &base, "?limit=5").await;
    assert_eq!(
        five.iter()
            .map(|(_, items)| items.len())
            .collect::<Vec<_>>(),
        [5, 3, 3, 3, 1]
    );
    let response = client
        .get(format!("{base}/api/notifications?limit=2&before=14"))
        .send()
        .await
        .expect("list");
    let link = response
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        link.as_deref(),
        Some(r#"</api/notifications?before=12&limit=2>; rel="next""#)
    );
    let items: Vec<Value> = response.json().await.expect("JSON");
    assert_eq!(
        items.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        [13, 12]
    );
    let last = all_pages(&client, &base, "?before=3").await;
    assert_eq!(last.len(), 1, "no next page after id 1");
    assert_eq!(last[0].1.len(), 2);

    for (query, expected) in [
        ("limit=0", "e.g. ?limit=50"),
        ("limit=1001", "e.g. ?limit=50"),
        ("limit=many", "e.g. ?limit=50"),
        ("before=0", "e.g. ?before=120"),
        ("before=-3", "e.g. ?before=120"),
    ] {
        let response = client
            .get(format!("{base}/api/notifications?{query}"))
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.expect("JSON error");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{query}: {error}");
    }
}

#[tokio::test]
async fn the_html_page_is_bounded_under_hostile_content() {
    let base = serve(ROOMY).await;
    let client = client();
    // Quotes become 6 bytes each once escaped: the most a text can grow.
    // Every text a row shows of an alert is filled.
    let quotes = "\\\"".repeat(1000);
    let alert = format!(
        r#"{{"status":"{quotes}","labels":{{"alertname":"{quotes}","instance":"{quotes}","severity":"{quotes}"}},
            "annotations":{{"summary":"{quotes}","description":"{quotes}","runbook_url":"{quotes}"}},"startsAt":"{quotes}"}}"#
    );
    let body = format!(
        r#"{{"version":"4","status":"{quotes}","receiver":"{quotes}","alerts":[{}]}}"#,
        vec![alert; 25].join(",")
    );
    for _ in 0..60 {
        let (status, answer) = post(&client, &base, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.len() <= inbox::html::MAX_PAGE_BYTES,
        "{} bytes",
        page.len()
    );
    assert!(
        page.len() > inbox::html::MAX_PAGE_BYTES / 2,
        "the bound is not loose"
    );
    assert!(page.contains("The newest 50 of 60 kept."));
    assert_eq!(page.matches("<tr><td>").count(), inbox::html::ROWS);
    assert!(page.contains("<small>and 15 more</small>"));
    // The sender's quotes arrive escaped, never as markup.
    assert!(page.contains("&quot;&quot;"));
    assert!(!page.contains("\"\""));
    eprintln!(
        "HTML page: {} of at most {} bytes",
        page.len(),
        inbox::html::MAX_PAGE_BYTES
    );
}

/// Runs the binary with `args` and `envs` to its exit (within 20 s):
/// `(success, stdout, stderr)`.
fn run_to_exit(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut child = inbox(args)
        .envs(envs.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the inbox binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("inbox {args:?} {envs:?} still running after 20 s: it should refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Flags, environment, and the message the inbox must refuse them with.
type RefusedCase = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn settings_that_cannot_hold_are_refused_at_startup() {
    let cases: [RefusedCase; 5] = [
        (
            &["--max-body", "2MiB"],
            &[],
            "--max-body / INBOX_MAX_BODY is 2MiB, outside the range 1KiB to 1MiB",
        ),
        (
            &[],
            &[("INBOX_MAX_BODY", "512")],
            "--max-body / INBOX_MAX_BODY is 512, outside",
        ),
        (
            &[],
            &[("INBOX_HISTORY_BYTES", "100KiB")],
            "--history-bytes / INBOX_HISTORY_BYTES is 100KiB, less than one notification may take with --max-body 256KiB",
        ),
        (
            &["--history-bytes", "2GiB"],
            &[],
            "INBOX_HISTORY_BYTES is 2GiB, above 1GiB",
        ),
        (
            &["--history-bytes", "64MB"],
            &[],
            "expected a whole number of bytes, optionally followed by KiB, MiB or GiB such as 262144 or 64MiB, got \"64MB\"",
        ),
    ];
    for (args, envs, expected) in cases {
        let (success, stdout, stderr) = run_to_exit(args, envs);
        assert!(!success, "{args:?} {envs:?} started");
        assert!(!stdout.contains("listening on"), "{stdout}");
        let line = stderr
            .lines()
            .find(|line| line.contains(expected))
            .unwrap_or_else(|| panic!("{args:?} {envs:?}: no {expected:?} in {stderr}"));
        assert!(
            line.contains("e.g. ") || line.contains("such as "),
            "no example in {line}"
        );
    }
}

/// A stdout that nobody reads (a full pipe) neither stops the inbox from
/// taking notifications, which it logs a line each, nor from exiting.
#[tokio::test]
async fn a_stdout_nobody_reads_blocks_neither_notifications_nor_the_exit() {
    let mut child = inbox(&[])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the inbox binary");
    // Read up to the address, then never again (the pipe stays open).
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    let base = loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("read the log");
        assert!(read > 0, "the inbox exited before listening");
        if let Some(addr) = line.split("listening on ").nth(1) {
            break format!("http://{}", addr.trim());
        }
    };
    let client = client();
    // About 100 bytes of log each: several times what a pipe buffers.
    for n in 0..3000 {
        let body = format!(
            r#"{{"version":"4","status":"firing","receiver":"inbox","alerts":[{{"status":"firing","labels":{{"alertname":"Unread{n}"}}}}]}}"#
        );
        let answer =
            tokio::time::timeout(Duration::from_secs(5), post(&client, &base, &body)).await;
        assert!(
            matches!(answer, Ok((StatusCode::OK, _))),
            "notification {n}: {answer:?}"
        );
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: signals the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let stopped = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if stopped.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdout);
}
