//! Acceptance 1: `promtool check config`, `promtool check rules` and
//! `promtool test rules` are clean, and the unit tests cover every case the
//! issue lists - proven twice: by the test names and by mutating the rules
//! (a weakened rule must make the unit tests fail).

use std::path::Path;

use checks::files::{array_at, list, load_yaml, read, str_at};
use checks::grafana::duration_seconds;
use checks::tool;
use checks::{CheckError, repo_root};
use serde_json::Value;

fn promtool(args: &[&str]) -> Result<String, CheckError> {
    tool::run("promtool", args, &repo_root())
}

fn rule_files() -> Vec<std::path::PathBuf> {
    list(&repo_root().join("prometheus/rules"), &[".yml", ".yaml"])
        .expect("prometheus/rules is readable")
}

fn test_files() -> Vec<std::path::PathBuf> {
    list(&repo_root().join("prometheus/tests"), &[".yml", ".yaml"])
        .expect("prometheus/tests is readable")
}

#[test]
fn promtool_check_config_is_clean() {
    let output = promtool(&["check", "config", "prometheus/prometheus.yml"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn promtool_check_rules_is_clean() {
    let files = rule_files();
    assert!(!files.is_empty(), "no rule files in prometheus/rules");
    for file in files {
        let path = file.to_string_lossy();
        promtool(&["check", "rules", &path]).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let files = test_files();
    assert!(!files.is_empty(), "no promtool tests in prometheus/tests");
    for file in files {
        let path = file.to_string_lossy();
        promtool(&["test", "rules", &path]).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The alerting rules by name, from every rule file.
fn rules() -> Vec<Value> {
    rule_files()
        .iter()
        .flat_map(|f| {
            let doc = load_yaml(f).unwrap_or_else(|e| panic!("{e}"));
            array_at(&doc, "groups")
                .iter()
                .flat_map(|g| array_at(g, "rules").to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rule(name: &str) -> Value {
    rules()
        .into_iter()
        .find(|r| str_at(r, "alert") == Some(name))
        .unwrap_or_else(|| panic!("no alerting rule {name}"))
}

#[test]
fn rules_match_the_contract() {
    let cpu = rule("HostHighCpuUsage");
    assert_eq!(
        str_at(&cpu, "expr"),
        Some(
            r#"(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[1m]))) > 0.80"#
        )
    );
    assert_eq!(str_at(&cpu, "for"), Some("2m"));
    assert_eq!(cpu["labels"]["severity"], "warning");
    assert!(
        str_at(&cpu["annotations"], "description")
            .is_some_and(|d| d.contains("humanizePercentage")),
        "the description shows the measured value"
    );
    let service = rule("ServiceDown");
    assert_eq!(str_at(&service, "expr"), Some(r#"up{job="service"} == 0"#));
    assert_eq!(str_at(&service, "for"), Some("1m"));
    assert_eq!(service["labels"]["severity"], "critical");
    let absent = rule("ServiceNotDiscovered");
    assert_eq!(
        str_at(&absent, "expr"),
        Some(r#"absent(up{job="service"})"#)
    );
    assert_eq!(str_at(&absent, "for"), Some("1m"));
    assert_eq!(absent["labels"]["severity"], "critical");
    let node = rule("NodeExporterDown");
    assert_eq!(str_at(&node, "expr"), Some(r#"up{job="node"} == 0"#));
    assert_eq!(str_at(&node, "for"), Some("1m"));
    assert_eq!(node["labels"]["severity"], "critical");
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The runbook's base URL, written once in prometheus.yml's external labels.
fn runbook_base() -> String {
    let config =
        load_yaml(&repo_root().join("prometheus/prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    str_at(&config["global"]["external_labels"], "runbook_base")
        .unwrap_or_else(|| panic!("prometheus.yml has no external label runbook_base"))
        .to_owned()
}

#[test]
fn every_rule_has_summary_description_and_a_runbook_anchor_that_exists() {
    let root = repo_root();
    let text = read(&root.join("docs/runbook.md")).unwrap_or_else(|e| panic!("{e}"));
    let anchors: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(slug)
        .collect();
    for rule in rules() {
        let name = str_at(&rule, "alert").unwrap_or("?");
        let annotations = &rule["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(str_at(annotations, key).is_some(), "{name} has no {key}");
        }
        assert!(
            rule["labels"]["severity"].is_string(),
            "{name} has no severity"
        );
        let url = str_at(annotations, "runbook_url").unwrap_or("");
        let anchor = url
            .strip_prefix("{{ $externalLabels.runbook_base }}#")
            .unwrap_or_else(|| {
                panic!("{name}: runbook_url {url} must be {{{{ $externalLabels.runbook_base }}}}#<anchor>")
            });
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{name}: no heading for #{anchor} in docs/runbook.md ({anchors:?})"
        );
    }
}

/// The runbook base is one fact: prometheus.yml's external label, which the
/// rule unit tests, Grafana's relay rule and nothing sent to Alertmanager repeat.
#[test]
fn the_runbook_base_is_written_once_and_never_sent_as_a_label() {
    let base = runbook_base();
    assert!(base.starts_with("http"), "{base}");
    let config =
        load_yaml(&repo_root().join("prometheus/prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let drops = array_at(&config["alerting"], "alert_relabel_configs")
        .iter()
        .any(|r| {
            str_at(r, "action") == Some("labeldrop") && str_at(r, "regex") == Some("runbook_base")
        });
    assert!(
        drops,
        "alerts sent to Alertmanager must not carry runbook_base"
    );
    for file in test_files() {
        let tests = load_yaml(&file).unwrap_or_else(|e| panic!("{e}"));
        for group in array_at(&tests, "tests") {
            assert_eq!(
                str_at(&group["external_labels"], "runbook_base"),
                Some(base.as_str()),
                "{}: test group {:?}",
                file.display(),
                str_at(group, "name")
            );
        }
    }
    let relay = read(&repo_root().join("grafana/provisioning/alerting/rules.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        relay.contains(&format!("runbook_url: '{base}#")),
        "Grafana's relay rule links the runbook at another base than {base}"
    );
}

/// A unit-test group of prometheus/tests, simplified.
struct Case {
    name: String,
    /// `(eval seconds, alertname, fires?)` in file order.
    evals: Vec<(f64, String, bool)>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for file in test_files() {
        let doc = load_yaml(&file).unwrap_or_else(|e| panic!("{e}"));
        for test in array_at(&doc, "tests") {
            let evals = array_at(test, "alert_rule_test")
                .iter()
                .map(|t| {
                    let at = str_at(t, "eval_time")
                        .and_then(duration_seconds)
                        .unwrap_or(-1.0);
                    let alert = str_at(t, "alertname").unwrap_or("").to_owned();
                    (at, alert, !array_at(t, "exp_alerts").is_empty())
                })
                .collect();
            out.push(Case {
                name: str_at(test, "name").unwrap_or("").to_owned(),
                evals,
            });
        }
    }
    out
}

/// The cases the issue requires, as `(alert, words in the test name)`.
const REQUIRED: &[(&str, &str)] = &[
    ("HostHighCpuUsage", "fires after 2m above threshold"),
    ("HostHighCpuUsage", "does not fire before 2m"),
    ("HostHighCpuUsage", "does not fire below threshold"),
    (
        "HostHighCpuUsage",
        "does not fire when one core of several is saturated",
    ),
    ("HostHighCpuUsage", "resolves after the load stops"),
    ("ServiceDown", "fires after 1m down"),
    ("ServiceDown", "not before"),
    ("ServiceDown", "resolves"),
    ("ServiceNotDiscovered", "fires after 1m without a target"),
    ("ServiceNotDiscovered", "not before"),
    ("ServiceNotDiscovered", "resolves"),
    ("NodeExporterDown", "fires after 1m down"),
    ("NodeExporterDown", "not before"),
    ("NodeExporterDown", "resolves"),
];

#[test]
fn rule_unit_tests_cover_every_required_case() {
    let cases = cases();
    for (alert, words) in REQUIRED {
        let case = cases
            .iter()
            .find(|c| c.name.starts_with(alert) && c.name.contains(words))
            .unwrap_or_else(|| panic!("no promtool test named `{alert} ... {words} ...`"));
        let of_alert: Vec<_> = case.evals.iter().filter(|(_, a, _)| a == alert).collect();
        assert!(!of_alert.is_empty(), "{}: evaluates no {alert}", case.name);
        if words.starts_with("fires") {
            assert!(
                of_alert.iter().any(|(_, _, fires)| *fires),
                "{}: never expects {alert} firing",
                case.name
            );
        }
        if words.contains("not") {
            assert!(
                of_alert.iter().any(|(_, _, fires)| !fires),
                "{}: never expects {alert} silent",
                case.name
            );
        }
        if words.contains("resolves") {
            let fired_at = of_alert
                .iter()
                .filter(|(_, _, f)| *f)
                .map(|(t, _, _)| *t)
                .fold(f64::NAN, f64::min);
            assert!(
                of_alert.iter().any(|(t, _, fires)| !fires && *t > fired_at),
                "{}: no silent evaluation after {alert} fired",
                case.name
            );
        }
    }
}

/// Copies rules and tests into a temp dir (same layout, so the tests'
/// `../rules/...` paths hold), applies `replace` to the rules, and returns
/// promtool's verdict on the unit tests.
fn unit_tests_with_mutated_rules(from: &str, to: &str) -> Result<String, CheckError> {
    let root = repo_root();
    let dir = tool::temp_dir("promtool-mutation")?;
    let mut replaced = false;
    for file in rule_files() {
        let text = read(&file)?;
        replaced |= text.contains(from);
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("rules.yml");
        tool::write_file(
            dir.path(),
            &format!("rules/{name}"),
            &text.replace(from, to),
        )?;
    }
    assert!(
        replaced,
        "mutation {from:?} matches nothing in prometheus/rules"
    );
    let mut outputs = String::new();
    for file in test_files() {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("test.yml");
        let copied = tool::write_file(dir.path(), &format!("tests/{name}"), &read(&file)?)?;
        let copied = copied.to_string_lossy().into_owned();
        outputs.push_str(&tool::run(
            "promtool",
            &["test", "rules", &copied],
            Path::new(&root),
        )?);
    }
    Ok(outputs)
}

/// Each mutation weakens a rule in one way; the named unit test must catch it.
#[test]
fn weakened_rules_make_the_unit_tests_fail() {
    let mutations: &[(&str, &str, &str)] = &[
        (
            "> 0.80",
            "> 0.96",
            "HostHighCpuUsage fires after 2m above threshold",
        ),
        (
            "for: 2m",
            "for: 30s",
            "HostHighCpuUsage does not fire before 2m",
        ),
        (
            "> 0.80",
            "> 0.50",
            "HostHighCpuUsage does not fire below threshold",
        ),
        (
            "avg without (cpu, mode)",
            "min without (cpu, mode)",
            "HostHighCpuUsage does not fire when one core of several is saturated",
        ),
        (
            "[1m]",
            "[30m]",
            "HostHighCpuUsage resolves after the load stops",
        ),
        (
            r#"up{job="service"} == 0"#,
            r#"up{job="service"} == 1"#,
            "ServiceDown fires",
        ),
        (
            r#"absent(up{job="service"})"#,
            r#"absent(up{job="services"})"#,
            "ServiceNotDiscovered fires after 1m without a target, not before",
        ),
        (
            r#"up{job="node"} == 0"#,
            r#"up{job=~"node|service"} == 0"#,
            "NodeExporterDown fires",
        ),
    ];
    for (from, to, caught_by) in mutations {
        match unit_tests_with_mutated_rules(from, to) {
            Ok(output) => {
                panic!("rules with {from:?} -> {to:?} still pass the unit tests:\n{output}")
            }
            Err(CheckError::ToolFailed { output, .. }) => assert!(
                output.contains(caught_by),
                "{from:?} -> {to:?} failed, but not in test {caught_by:?}:\n{output}"
            ),
            Err(other) => panic!("{other}"),
        }
    }
}
