//! Acceptance 2: `amtool check-config` is clean, and the routing is the one
//! the contract and docs describe.

use checks::compose::services;
use checks::files::{array_at, load_yaml, str_at};
use checks::{repo_root, tool};
use serde_json::json;

#[test]
fn amtool_check_config_is_clean() {
    let output = tool::run(
        "amtool",
        &["check-config", "alertmanager/alertmanager.yml"],
        &repo_root(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn every_alert_goes_to_the_inbox_with_demo_timing() {
    let config = load_yaml(&repo_root().join("alertmanager/alertmanager.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let route = &config["route"];
    assert_eq!(route["receiver"], "inbox");
    assert_eq!(route["group_by"], json!(["alertname", "instance"]));
    assert_eq!(route["group_wait"], "10s");
    assert_eq!(route["group_interval"], "30s");
    assert_eq!(route["repeat_interval"], "4h");
    assert!(
        route.get("routes").is_none(),
        "no sub-route may divert alerts away from the inbox"
    );

    let receivers = array_at(&config, "receivers");
    assert_eq!(receivers.len(), 1, "one receiver: the inbox");
    let hooks = array_at(&receivers[0], "webhook_configs");
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["url"], "http://inbox:5080/api/notifications");
    assert_eq!(hook["send_resolved"], true);
    let auth = &hook["http_config"]["authorization"];
    assert_eq!(auth["type"], "Bearer");
    assert_eq!(auth["credentials_file"], "/etc/alertmanager/inbox-token");
}

/// Alertmanager reads the token from a file: compose must put the secret
/// exactly where `credentials_file` points.
#[test]
fn compose_mounts_the_inbox_token_where_alertmanager_reads_it() {
    let root = repo_root();
    let config =
        load_yaml(&root.join("alertmanager/alertmanager.yml")).unwrap_or_else(|e| panic!("{e}"));
    let path = config
        .pointer("/receivers/0/webhook_configs/0/http_config/authorization/credentials_file")
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no credentials_file"));
    let compose = load_yaml(&root.join("compose.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let alertmanager = services(&compose)
        .get("alertmanager")
        .copied()
        .unwrap_or_else(|| panic!("no alertmanager service"));
    let secret = array_at(alertmanager, "secrets")
        .iter()
        .find(|s| str_at(s, "target") == Some(path))
        .unwrap_or_else(|| panic!("no compose secret mounted at {path}"));
    let source = str_at(secret, "source").unwrap_or("");
    assert_eq!(
        compose["secrets"][source]["environment"], "INBOX_TOKEN",
        "the secret is filled from INBOX_TOKEN, the token the inbox checks"
    );
}
