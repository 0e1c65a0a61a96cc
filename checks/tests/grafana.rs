//! Acceptance 4 and 5: Grafana's provisioning files carry every field
//! Grafana's documentation requires (a removed field is caught), every
//! PromQL expression parses, every data source UID used is provisioned, and
//! the dashboard and relay rule do what the issue asks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use checks::files::{array_at, list, load_json, load_yaml, remove_path, str_at};
use checks::grafana::{
    all_panels, contact_point_names, is_valid_rule_group_interval, provisioned_datasource_uids,
    referenced_datasource_uids, unprovisioned_datasource_uids, validate_alerting,
    validate_dashboard, validate_dashboard_providers, validate_datasources,
};
use checks::promql::{Expr, alert_rule_exprs, check_parse, dashboard_exprs};
use checks::tool;
use checks::{CheckError, Problem, into_result, repo_root};
use serde_json::Value;

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    list(&repo_root().join(dir), &[".yaml", ".yml"]).unwrap_or_else(|e| panic!("{e}"))
}

fn load(path: &Path) -> Value {
    load_yaml(path).unwrap_or_else(|e| panic!("{e}"))
}

fn dashboards() -> Vec<(String, Value)> {
    list(&repo_root().join("grafana/dashboards"), &[".json"])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                load_json(&p).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect()
}

/// Alerting files: the provisioned ones plus the optional integrations.
fn alerting_files() -> Vec<PathBuf> {
    let mut files = yaml_files("grafana/provisioning/alerting");
    files.extend(yaml_files("grafana/optional/alerting"));
    files
}

fn service_dashboard() -> Value {
    load_json(&repo_root().join("grafana/dashboards/service.json"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn provisioning_files_carry_every_required_field() {
    let mut checked = 0;
    let yaml: [(Vec<PathBuf>, Validator); 3] = [
        (
            yaml_files("grafana/provisioning/datasources"),
            validate_datasources,
        ),
        (
            yaml_files("grafana/provisioning/dashboards"),
            validate_dashboard_providers,
        ),
        (alerting_files(), validate_alerting),
    ];
    for (files, validate) in yaml {
        for path in files {
            into_result(path.display().to_string(), validate(&load(&path)))
                .unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    for (file, dashboard) in dashboards() {
        into_result(file, validate_dashboard(&dashboard)).unwrap_or_else(|e| panic!("{e}"));
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected datasources, providers, alerting files and a dashboard"
    );
}

type Validator = fn(&Value) -> Vec<Problem>;

/// Mutation test: take each real file, remove one required field, and the
/// validator must report exactly that field. Fields listed here are the ones
/// Grafana's provisioning docs mark required (plus uid/url, see
/// `validate_datasources`).
#[test]
fn removing_any_required_field_is_caught() {
    let root = repo_root();
    let cases: &[(&str, Validator, &[&str])] = &[
        (
            "grafana/provisioning/datasources/datasources.yaml",
            validate_datasources,
            &[
                "apiVersion",
                "datasources",
                "datasources.0.name",
                "datasources.0.type",
                "datasources.0.access",
                "datasources.0.uid",
                "datasources.0.url",
                "datasources.2.uid",
            ],
        ),
        (
            "grafana/provisioning/dashboards/dashboards.yaml",
            validate_dashboard_providers,
            &[
                "apiVersion",
                "providers",
                "providers.0.name",
                "providers.0.type",
                "providers.0.options.path",
            ],
        ),
        (
            "grafana/provisioning/alerting/rules.yaml",
            validate_alerting,
            &[
                "apiVersion",
                "groups.0.name",
                "groups.0.folder",
                "groups.0.interval",
                "groups.0.rules",
                "groups.0.rules.0.uid",
                "groups.0.rules.0.title",
                "groups.0.rules.0.condition",
                "groups.0.rules.0.data",
                "groups.0.rules.0.for",
                "groups.0.rules.0.data.0.refId",
                "groups.0.rules.0.data.0.datasourceUid",
                "groups.0.rules.0.data.0.model",
                "groups.0.rules.0.data.0.relativeTimeRange",
                "groups.0.rules.0.data.1.model",
            ],
        ),
        (
            "grafana/provisioning/alerting/notifications.yaml",
            validate_alerting,
            &[
                "apiVersion",
                "contactPoints.0.name",
                "contactPoints.0.receivers",
                "contactPoints.0.receivers.0.uid",
                "contactPoints.0.receivers.0.type",
                "contactPoints.0.receivers.0.settings",
                "contactPoints.0.receivers.0.settings.url",
                "policies.0.receiver",
                "templates.0.name",
                "templates.0.template",
            ],
        ),
        (
            "grafana/optional/alerting/email.yaml",
            validate_alerting,
            &["contactPoints.0.receivers.0.settings.addresses"],
        ),
        (
            "grafana/optional/alerting/slack-off.yaml",
            validate_alerting,
            &["deleteContactPoints.0.uid"],
        ),
    ];
    for (file, validate, fields) in cases {
        let original = load(&root.join(file));
        assert!(
            validate(&original).is_empty(),
            "{file} must be valid before mutation"
        );
        for field in *fields {
            let mut mutated = original.clone();
            assert!(
                remove_path(&mut mutated, field),
                "{file} has no {field} to remove"
            );
            let problems = validate(&mutated);
            // `a.0.b` is reported as `a[0].b`.
            let expected = field
                .split('.')
                .map(|p| {
                    if p.parse::<usize>().is_ok() {
                        format!("[{p}]")
                    } else {
                        format!(".{p}")
                    }
                })
                .collect::<String>()
                .trim_start_matches('.')
                .to_owned();
            assert!(
                problems.iter().any(|p| p.at == expected),
                "{file}: removing {field} was not reported at {expected}; got {problems:?}"
            );
        }
    }
    // The dashboard too.
    let dashboard = service_dashboard();
    for field in [
        "uid",
        "title",
        "panels",
        "panels.1.type",
        "panels.1.gridPos",
        "panels.1.id",
        "panels.1.title",
    ] {
        let mut mutated = dashboard.clone();
        assert!(remove_path(&mut mutated, field), "dashboard has no {field}");
        assert!(
            !validate_dashboard(&mutated).is_empty(),
            "removing {field} from the dashboard went unnoticed"
        );
    }
}

/// Grafana exits at startup when a provisioned rule group's interval is not
/// a multiple of its 10 s scheduler tick: the real file passes, and the
/// same file with 15s (the bug this guards against), 0s or 5s is reported at
/// the group's interval.
#[test]
fn a_rule_group_interval_grafana_refuses_is_caught() {
    let rules = load(&repo_root().join("grafana/provisioning/alerting/rules.yaml"));
    assert!(validate_alerting(&rules).is_empty());
    for bad in ["15s", "0s", "5s", "1500ms", "1m5s"] {
        let mut mutated = rules.clone();
        mutated["groups"][0]["interval"] = bad.into();
        let problems = validate_alerting(&mutated);
        assert!(
            problems
                .iter()
                .any(|p| p.at == "groups[0].interval" && p.message.contains("multiple")),
            "interval {bad} was accepted: {problems:?}"
        );
    }
    for good in ["10s", "20s", "1m", "1h"] {
        assert!(is_valid_rule_group_interval(good), "{good} rejected");
    }
}

fn all_exprs() -> Vec<Expr> {
    let mut exprs = Vec::new();
    for (file, dashboard) in dashboards() {
        exprs.extend(dashboard_exprs(&file, &dashboard));
    }
    for path in yaml_files("grafana/provisioning/alerting") {
        exprs.extend(alert_rule_exprs(&path.display().to_string(), &load(&path)));
    }
    exprs
}

#[test]
fn every_promql_expression_parses_with_promtool() {
    let exprs = all_exprs();
    assert!(
        exprs.len() >= 8,
        "expected the dashboard's and the relay rule's queries, found {exprs:?}"
    );
    check_parse(&exprs, &repo_root()).unwrap_or_else(|e| panic!("{e}"));
}

/// The parse check must catch a broken expression and an unknown variable.
#[test]
fn a_broken_expression_is_caught() {
    for broken in [
        "sum(rate(http_server_requests_total[$__rate_interval])",
        "up{job=\"$job\"}",
    ] {
        let exprs = vec![Expr {
            origin: "mutation".into(),
            expr: broken.into(),
        }];
        match check_parse(&exprs, &repo_root()) {
            Err(CheckError::ToolFailed { .. } | CheckError::Invalid { .. }) => {}
            other => panic!("{broken:?} was not rejected: {other:?}"),
        }
    }
}

#[test]
fn every_referenced_datasource_uid_is_provisioned() {
    let mut provisioned = BTreeSet::new();
    let mut documents = Vec::new();
    for path in yaml_files("grafana/provisioning/datasources") {
        let doc = load(&path);
        provisioned.extend(provisioned_datasource_uids(&doc));
        documents.push((path.display().to_string(), doc));
    }
    documents.extend(dashboards());
    for path in alerting_files() {
        documents.push((path.display().to_string(), load(&path)));
    }
    assert_eq!(
        provisioned,
        BTreeSet::from([
            "alertmanager".to_owned(),
            "prometheus".to_owned(),
            "tempo".to_owned()
        ])
    );
    let referenced: BTreeSet<String> = documents
        .iter()
        .flat_map(|(_, doc)| referenced_datasource_uids(doc))
        .collect();
    assert!(
        referenced.contains("prometheus") && referenced.contains("tempo"),
        "{referenced:?}"
    );
    for (file, doc) in &documents {
        let unknown = unprovisioned_datasource_uids(&provisioned, doc);
        assert!(
            unknown.is_empty(),
            "{file}: referenced but not provisioned: {unknown:?}"
        );
    }

    // And the check reports a mistyped UID, in a panel target and in a rule.
    let mut dashboard = service_dashboard();
    dashboard["panels"][1]["targets"][0]["datasource"]["uid"] = "promethues".into();
    assert_eq!(
        unprovisioned_datasource_uids(&provisioned, &dashboard),
        BTreeSet::from(["promethues".to_owned()])
    );
    let mut rules = load(&repo_root().join("grafana/provisioning/alerting/rules.yaml"));
    rules["groups"][0]["rules"][0]["data"][0]["datasourceUid"] = "prom".into();
    assert_eq!(
        unprovisioned_datasource_uids(&provisioned, &rules),
        BTreeSet::from(["prom".to_owned()])
    );
}

#[test]
fn datasources_link_metrics_traces_and_alerts() {
    let doc = load(&repo_root().join("grafana/provisioning/datasources/datasources.yaml"));
    let by_uid = |uid: &str| -> Value {
        array_at(&doc, "datasources")
            .iter()
            .find(|d| str_at(d, "uid") == Some(uid))
            .cloned()
            .unwrap_or_else(|| panic!("no datasource {uid}"))
    };
    let prometheus = by_uid("prometheus");
    assert_eq!(prometheus["type"], "prometheus");
    assert_eq!(prometheus["jsonData"]["manageAlerts"], true);
    assert_eq!(
        prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"],
        "tempo"
    );
    assert_eq!(
        prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["name"],
        "trace_id"
    );
    let tempo = by_uid("tempo");
    assert_eq!(tempo["type"], "tempo");
    assert_eq!(
        tempo["jsonData"]["tracesToMetrics"]["datasourceUid"],
        "prometheus"
    );
    let alertmanager = by_uid("alertmanager");
    assert_eq!(alertmanager["type"], "alertmanager");
    assert_eq!(alertmanager["jsonData"]["implementation"], "prometheus");
}

fn panel<'a>(dashboard: &'a Value, title_start: &str) -> &'a Value {
    all_panels(dashboard)
        .into_iter()
        .find(|p| str_at(p, "title").is_some_and(|t| t.starts_with(title_start)))
        .unwrap_or_else(|| panic!("no panel titled {title_start}..."))
}

fn exprs_of(panel: &Value) -> Vec<&str> {
    array_at(panel, "targets")
        .iter()
        .filter_map(|t| str_at(t, "expr"))
        .collect()
}

#[test]
fn request_count_and_host_cpu_sit_side_by_side_over_the_same_range() {
    let dashboard = service_dashboard();
    assert_eq!(dashboard["uid"], "service-overview");
    let count = panel(&dashboard, "Total requests");
    let cpu = panel(&dashboard, "Host CPU usage");
    assert_eq!(exprs_of(count), vec!["sum(http_server_requests_total)"]);
    assert!(exprs_of(cpu)[0].contains(r#"node_cpu_seconds_total{mode="idle"}"#));
    let (a, b) = (&count["gridPos"], &cpu["gridPos"]);
    assert_eq!(a["y"], b["y"], "same row");
    assert_eq!(a["h"], b["h"], "same height");
    let (ax, aw, bx) = (
        a["x"].as_i64().unwrap_or(-1),
        a["w"].as_i64().unwrap_or(-1),
        b["x"].as_i64().unwrap_or(-1),
    );
    assert!(ax + aw <= bx, "count left of CPU, not overlapping");
    for p in [count, cpu] {
        for key in ["timeFrom", "timeShift"] {
            assert!(
                p.get(key).is_none(),
                "{}: {key} would break the shared time range",
                p["title"]
            );
        }
    }
    // The 80% threshold is drawn on the CPU panel.
    let defaults = &cpu["fieldConfig"]["defaults"];
    assert_eq!(defaults["unit"], "percentunit");
    assert!(
        array_at(&defaults["thresholds"], "steps")
            .iter()
            .any(|s| s["value"].as_f64() == Some(0.8)),
        "no 0.8 threshold step"
    );
    assert!(
        str_at(&defaults["custom"]["thresholdsStyle"], "mode").is_some_and(|m| m.contains("line")),
        "threshold is not drawn as a line"
    );
}

#[test]
fn traffic_latency_errors_and_alerts_panels_are_present() {
    let dashboard = service_dashboard();
    let rate = exprs_of(panel(&dashboard, "Request rate by route and status")).join(" ");
    assert!(
        rate.contains("by (http_route, http_response_status_code)"),
        "{rate}"
    );

    let latency = panel(&dashboard, "Latency");
    let quantiles = exprs_of(latency);
    for q in ["0.50", "0.95", "0.99"] {
        assert!(
            quantiles
                .iter()
                .any(|e| e.starts_with(&format!("histogram_quantile({q},"))
                    && e.contains("http_server_request_duration_seconds_bucket")),
            "no p{q} query: {quantiles:?}"
        );
    }
    let links = array_at(latency, "links");
    assert!(
        links
            .iter()
            .any(|l| str_at(l, "url")
                .is_some_and(|u| u.starts_with("/explore") && u.contains("tempo"))),
        "the latency panel links to traces in Tempo"
    );

    let errors = exprs_of(panel(&dashboard, "Error ratio")).join(" ");
    assert!(
        errors.contains(r#"http_response_status_code=~"5..""#)
            && errors.trim_end().ends_with("or vector(0)"),
        "{errors}"
    );

    assert_eq!(panel(&dashboard, "Alerts")["type"], "alertlist");
    assert_eq!(
        panel(&dashboard, "Recent traces")["datasource"]["uid"],
        "tempo"
    );
    assert!(
        str_at(&dashboard, "description")
            .is_some_and(|d| d.contains("grafana/dashboards/service.json"))
    );
}

/// A promtool unit-test file that evaluates `expr` against synthetic
/// `ALERTS` series: one firing and one pending alert, then nothing firing.
/// It expects exactly one series per firing alert, labelled with
/// `prometheus_alertname` and without `alertname` (Grafana reserves it), and
/// the label-less 0 when nothing fires.
fn relay_unit_test(expr: &str) -> String {
    let quoted = Value::String(expr.to_owned()).to_string();
    format!(
        r#"rule_files: []
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'ALERTS{{alertname="HostHighCpuUsage",alertstate="firing",instance="host:9100",job="node",severity="warning"}}'
        values: '1x5'
      - series: 'ALERTS{{alertname="ServiceDown",alertstate="pending",instance="service:5000",job="service",severity="critical"}}'
        values: '1x5'
    promql_expr_test:
      - expr: {quoted}
        eval_time: 2m
        exp_samples:
          - labels: '{{prometheus_alertname="HostHighCpuUsage",instance="host:9100",job="node",severity="warning"}}'
            value: 1
  - interval: 1m
    input_series:
      - series: 'ALERTS{{alertname="ServiceDown",alertstate="pending",instance="service:5000",job="service",severity="critical"}}'
        values: '1x5'
    promql_expr_test:
      - expr: {quoted}
        eval_time: 2m
        exp_samples:
          - labels: '{{}}'
            value: 0
"#
    )
}

fn run_relay_unit_test(expr: &str) -> Result<String, CheckError> {
    let dir = tool::temp_dir("relay-query")?;
    let path = tool::write_file(dir.path(), "relay_test.yml", &relay_unit_test(expr))?;
    tool::run(
        "promtool",
        &["test", "rules", &path.to_string_lossy()],
        &repo_root(),
    )
}

/// The relay query, evaluated by Prometheus's own engine (promtool): one
/// series per firing alert carrying `prometheus_alertname` and no
/// `alertname`, 0 when nothing fires. The query that kept `alertname` (the
/// defect this guards against) fails the same test.
#[test]
fn relay_query_yields_prometheus_alertname_and_no_alertname() {
    let rules = load(&repo_root().join("grafana/provisioning/alerting/rules.yaml"));
    let exprs = alert_rule_exprs("rules.yaml", &rules);
    assert_eq!(exprs.len(), 1, "one relay query");
    run_relay_unit_test(&exprs[0].expr).unwrap_or_else(|e| panic!("{e}"));

    let keeps_alertname = r#"label_replace(max by (alertname, instance, job, severity) (ALERTS{alertstate="firing"}), "prometheus_alertname", "$1", "alertname", "(.+)") or on() vector(0)"#;
    match run_relay_unit_test(keeps_alertname) {
        Err(CheckError::ToolFailed { output, .. }) => {
            // Labels print sorted, so the reserved label opens promtool's got-line.
            assert!(output.contains("got: {alertname="), "{output}")
        }
        other => panic!("a relay query keeping alertname passed: {other:?}"),
    }
}

/// The latency panel shows exemplars: a query with `exemplar: true` on the
/// spanmetrics histogram, the only series here that carries them (the
/// service's own exporter writes no exemplars). The metric and label names
/// must be the ones the pinned Collector writes with this config: the
/// connector's default namespace `traces.span.metrics` (no `namespace`
/// override), duration unit `s` (the Prometheus exporter appends
/// `_seconds`), metric suffixes on, and `service.name` (a dimension every
/// spanmetrics series has) as `service_name`. Exemplars open traces through
/// the `trace_id` label the exporter writes.
#[test]
fn latency_panel_shows_spanmetrics_exemplars_from_the_collector() {
    let dashboard = service_dashboard();
    let latency = panel(&dashboard, "Latency");
    let with_exemplars: Vec<&Value> = array_at(latency, "targets")
        .iter()
        .filter(|t| t["exemplar"] == true)
        .collect();
    assert_eq!(
        with_exemplars.len(),
        1,
        "one exemplar query on the latency panel"
    );
    let expr = str_at(with_exemplars[0], "expr").unwrap_or("");
    assert!(
        expr.contains("traces_span_metrics_duration_seconds_bucket{service_name=\"service\"}"),
        "{expr}"
    );

    let collector =
        checks::files::load_yaml_with_env_defaults(&repo_root().join("otel-collector/config.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
    let spanmetrics = &collector["connectors"]["spanmetrics"];
    assert!(
        spanmetrics.get("namespace").is_none(),
        "a namespace override renames traces_span_metrics_*"
    );
    assert_eq!(spanmetrics["histogram"]["unit"], "s", "the _seconds suffix");
    assert_eq!(spanmetrics["exemplars"]["enabled"], true);
    let exporter = &collector["exporters"]["prometheus"];
    assert_ne!(
        exporter["add_metric_suffixes"], false,
        "the _seconds suffix"
    );
    assert_eq!(
        exporter["enable_open_metrics"], true,
        "exemplars need OpenMetrics"
    );
    let pipelines = &collector["service"]["pipelines"];
    assert!(
        array_at(&pipelines["metrics/spanmetrics"], "exporters")
            .iter()
            .any(|e| e == "prometheus")
    );

    let datasources = load(&repo_root().join("grafana/provisioning/datasources/datasources.yaml"));
    let prometheus = array_at(&datasources, "datasources")
        .iter()
        .find(|d| str_at(d, "uid") == Some("prometheus"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["name"], "trace_id",
        "the exemplar label the Collector's Prometheus exporter writes"
    );
}

#[test]
fn relay_rule_watches_firing_prometheus_alerts_and_notifies_the_inbox() {
    let root = repo_root();
    let rules = load(&root.join("grafana/provisioning/alerting/rules.yaml"));
    let exprs = alert_rule_exprs("rules.yaml", &rules);
    assert_eq!(exprs.len(), 1, "one relay query");
    assert!(
        exprs[0].expr.contains(r#"ALERTS{alertstate="firing"}"#),
        "{}",
        exprs[0].expr
    );
    assert!(
        exprs[0].expr.ends_with("or on() vector(0)"),
        "the relay query never returns empty"
    );
    let rule = &rules["groups"][0]["rules"][0];
    assert_eq!(
        rule["for"], "0s",
        "Prometheus already applied each rule's `for`"
    );
    assert_eq!(rule["data"][0]["model"]["instant"], true);

    let notifications = load(&root.join("grafana/provisioning/alerting/notifications.yaml"));
    let contact_points = contact_point_names(&notifications);
    let receiver = notifications["policies"][0]["receiver"]
        .as_str()
        .unwrap_or("");
    assert!(
        contact_points.contains(receiver),
        "policy routes to undefined contact point {receiver}"
    );
    let webhook = &notifications["contactPoints"][0]["receivers"][0];
    assert_eq!(webhook["type"], "webhook");
    let settings = &webhook["settings"];
    assert_eq!(settings["url"], "http://inbox:5080/api/notifications");
    assert_eq!(settings["authorization_scheme"], "Bearer");
    assert_eq!(settings["authorization_credentials"], "$INBOX_TOKEN");
    assert_eq!(
        webhook["disableResolveMessage"], false,
        "resolved notifications are sent"
    );

    // Every template a contact point uses is defined.
    let defined: String = array_at(&notifications, "templates")
        .iter()
        .filter_map(|t| str_at(t, "template"))
        .collect();
    for path in alerting_files() {
        let text = serde_json::to_string(&load(&path)).unwrap_or_default();
        for part in text.split("template \\\"").skip(1) {
            let name = part.split("\\\"").next().unwrap_or("");
            assert!(
                defined.contains(&format!("define \"{name}\"")),
                "{}: template {name} is not defined",
                path.display()
            );
        }
    }
    // Optional integrations join the same contact point the policy uses.
    for file in [
        "grafana/optional/alerting/slack.yaml",
        "grafana/optional/alerting/email.yaml",
    ] {
        assert!(
            contact_point_names(&load(&root.join(file))).contains(receiver),
            "{file} joins another contact point"
        );
    }
}
