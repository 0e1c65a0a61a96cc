//! `stack load` reads items back by the id their `POST` got
//! (`/api/items/{created}`), so its reads keep finding items after the
//! service has evicted its oldest ones (it keeps the newest 10,000).

#[allow(dead_code)]
#[path = "e2e/clock.rs"]
mod clock;
#[allow(dead_code)]
#[path = "e2e/processes.rs"]
mod processes;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use processes::{Guard, build_binaries};

/// More `POST`s than the service keeps items.
const POSTS: u64 = 10_500;

#[test]
fn reads_of_created_items_find_them_past_the_store_s_capacity() {
    let bin = build_binaries();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut service = Command::new(bin.join("service"));
    service.args(["--listen", &format!("127.0.0.1:{port}")]);
    service.args(["--telemetry", "off", "--access-log", "off"]);
    let _service = Guard::spawn("service", service);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let output = Command::new(bin.join("stack"))
        .args(["load", "--url", &url, "--json", "--concurrency", "16"])
        .args(["--requests", &(2 * POSTS).to_string()])
        .args([
            "--route",
            "POST /api/items",
            "--route",
            "/api/items/{created}",
        ])
        .output()
        .expect("stack load runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the --json summary");
    let routes = summary["routes"].as_array().expect("routes");
    for route in ["POST /api/items", "GET /api/items/{created}"] {
        let counts = routes
            .iter()
            .find(|counts| counts["route"] == route)
            .unwrap_or_else(|| panic!("{route} in {summary}"));
        assert_eq!(counts["sent"], POSTS, "{summary}");
        assert_eq!(counts["ok"], POSTS, "every {route} succeeds: {summary}");
    }
}
