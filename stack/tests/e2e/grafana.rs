//! The PromQL Grafana would run: every dashboard panel query (tagged with
//! its panel) and the relay alert rule's query (tagged as relay), with
//! Grafana's macros and dashboard variables substituted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::processes::repo_root;

/// Where a query comes from: said explicitly, never guessed from its path.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A dashboard panel, by title.
    Panel(String),
    /// The Grafana alert rule that relays Prometheus alerts.
    Relay,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub origin: Origin,
    /// Path relative to the repository, for messages.
    pub file: String,
    pub expr: String,
}

pub fn queries() -> Vec<Query> {
    let root = repo_root();
    let relative = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    let mut queries = Vec::new();
    for file in files_with(&root.join("grafana/dashboards"), &["json"]) {
        let text = std::fs::read_to_string(&file).expect("read dashboard");
        let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
        let vars = dashboard_variables(&dashboard);
        let mut panels = Vec::new();
        collect_panels(&dashboard, &mut panels);
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
            let mut exprs = Vec::new();
            collect_exprs(&panel["targets"], &mut exprs);
            for expr in exprs {
                queries.push(Query {
                    origin: Origin::Panel(title.clone()),
                    file: relative(&file),
                    expr: substitute(&expr, &vars),
                });
            }
        }
    }
    let alerting = root.join("grafana/provisioning/alerting");
    for file in files_with(&alerting, &["yaml", "yml"]) {
        let text = std::fs::read_to_string(&file).expect("read rules");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("rules YAML");
        let json = serde_json::to_value(&yaml).expect("YAML as JSON");
        let mut exprs = Vec::new();
        // Only alert rules (`groups`) query Prometheus; templates and
        // contact points in the same folder hold no PromQL.
        collect_exprs(&json["groups"], &mut exprs);
        for expr in exprs {
            queries.push(Query {
                origin: Origin::Relay,
                file: relative(&file),
                expr: substitute(&expr, &BTreeMap::new()),
            });
        }
    }
    queries
}

/// Files directly in `dir` with one of `extensions`, sorted.
fn files_with(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    files.sort();
    files
}

/// Every panel that has targets, including panels nested in rows.
fn collect_panels<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    for panel in value["panels"].as_array().into_iter().flatten() {
        if panel["targets"].is_array() {
            out.push(panel);
        }
        collect_panels(panel, out);
    }
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
