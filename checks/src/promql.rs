//! PromQL expressions in Grafana files, and checking that they parse.
//!
//! Grafana sends panel and alert queries to Prometheus after replacing its
//! macros (`$__rate_interval`, ...). There is no offline `promtool query`,
//! but `promtool check rules` parses every `expr` of a rule file, so the
//! expressions are written into a generated file of recording rules.

use std::path::Path;

use serde_json::Value;

use crate::files::{array_at, str_at};
use crate::tool;
use crate::{CheckError, Problem};

/// Values the Grafana macros get before parsing, the same ones the
/// end-to-end test of `stack` uses against a live Prometheus. Longer names
/// come first so `$__interval` never eats the start of `$__interval_ms`.
pub const MACROS: &[(&str, &str)] = &[
    ("${__rate_interval}", "1m"),
    ("$__rate_interval", "1m"),
    ("${__interval_ms}", "15000"),
    ("$__interval_ms", "15000"),
    ("${__interval}", "15s"),
    ("$__interval", "15s"),
    ("${__range}", "5m"),
    ("$__range", "5m"),
];

/// A PromQL expression and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// Human-readable origin, e.g. `service.json panel 4 "Latency" target B`.
    pub origin: String,
    /// The expression as written in the file (macros not replaced).
    pub expr: String,
}

/// Every `targets[].expr` of every panel of a dashboard, including panels
/// nested in collapsed rows.
pub fn dashboard_exprs(file: &str, dashboard: &Value) -> Vec<Expr> {
    let mut found = Vec::new();
    collect_panel_exprs(file, array_at(dashboard, "panels"), &mut found);
    found
}

fn collect_panel_exprs(file: &str, panels: &[Value], found: &mut Vec<Expr>) {
    for panel in panels {
        let id = panel.get("id").map(Value::to_string).unwrap_or_default();
        let title = str_at(panel, "title").unwrap_or("");
        for target in array_at(panel, "targets") {
            if let Some(expr) = str_at(target, "expr") {
                let ref_id = str_at(target, "refId").unwrap_or("?");
                found.push(Expr {
                    origin: format!("{file} panel {id} {title:?} target {ref_id}"),
                    expr: expr.to_owned(),
                });
            }
        }
        collect_panel_exprs(file, array_at(panel, "panels"), found);
    }
}

/// Every `data[].model.expr` of every rule in a Grafana alerting
/// provisioning file (server-side expressions such as `reduce` have none).
pub fn alert_rule_exprs(file: &str, alerting: &Value) -> Vec<Expr> {
    let mut found = Vec::new();
    for group in array_at(alerting, "groups") {
        for rule in array_at(group, "rules") {
            let uid = str_at(rule, "uid").unwrap_or("?");
            for query in array_at(rule, "data") {
                if let Some(expr) = query.get("model").and_then(|m| str_at(m, "expr")) {
                    let ref_id = str_at(query, "refId").unwrap_or("?");
                    found.push(Expr {
                        origin: format!("{file} rule {uid} query {ref_id}"),
                        expr: expr.to_owned(),
                    });
                }
            }
        }
    }
    found
}

/// Replaces the Grafana macros in [`MACROS`].
pub fn substitute_macros(expr: &str) -> String {
    MACROS
        .iter()
        .fold(expr.to_owned(), |text, (macro_name, value)| {
            text.replace(macro_name, value)
        })
}

/// Dashboard variables left after [`substitute_macros`] (`$name`,
/// `${name}`): Prometheus would reject them, and Grafana only fills in
/// variables the dashboard defines. `$1`-style `label_replace` references
/// are not variables.
pub fn leftover_variables(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'$' {
            continue;
        }
        let rest = &expr[i + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            found.push(format!("${name}"));
        }
    }
    found
}

/// A Prometheus rule file with one recording rule per expression (macros
/// replaced). JSON string quoting is valid YAML double-quoted scalar syntax.
pub fn rule_file(exprs: &[Expr]) -> String {
    let mut text = String::from("groups:\n  - name: grafana-expressions\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let quoted = Value::String(substitute_macros(&expr.expr)).to_string();
        text.push_str(&format!(
            "      # {}\n      - record: grafana_expr_{i}\n        expr: {quoted}\n",
            expr.origin.replace('\n', " ")
        ));
    }
    text
}

/// Checks that every expression parses: no leftover variables, and
/// `promtool check rules` accepts the generated rule file. The error names
/// the expressions' origins.
pub fn check_parse(exprs: &[Expr], workdir: &Path) -> Result<(), CheckError> {
    let problems: Vec<Problem> = exprs
        .iter()
        .flat_map(|e| {
            leftover_variables(&substitute_macros(&e.expr))
                .into_iter()
                .map(move |v| {
                    Problem::new(&e.origin, format!("unknown variable {v} in {:?}", e.expr))
                })
        })
        .collect();
    crate::into_result("Grafana PromQL expressions", problems)?;

    let dir = tool::temp_dir("grafana-promql")?;
    let path = tool::write_file(dir.path(), "grafana-expressions.yml", &rule_file(exprs))?;
    let path_text = path.to_string_lossy().into_owned();
    tool::run("promtool", &["check", "rules", &path_text], workdir).map_err(
        |error| match error {
            CheckError::ToolFailed {
                command,
                status,
                output,
            } => CheckError::ToolFailed {
                command,
                status,
                output: format!(
                    "{output}\nrule index -> origin:\n{}",
                    exprs
                        .iter()
                        .enumerate()
                        .map(|(i, e)| format!("  grafana_expr_{i}: {} = {}", e.origin, e.expr))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            },
            other => other,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_are_replaced_longest_first() {
        assert_eq!(
            substitute_macros("rate(x[$__rate_interval]) + rate(y[${__interval}]) $__interval_ms"),
            "rate(x[1m]) + rate(y[15s]) 15000"
        );
    }

    #[test]
    fn leftover_variables_ignore_label_replace_groups() {
        assert!(leftover_variables(r#"label_replace(up, "a", "$1", "b", "(.*)")"#).is_empty());
        assert_eq!(leftover_variables("up{job=\"$job\"}"), vec!["$job"]);
        assert_eq!(leftover_variables("up{job=\"${job}\"}"), vec!["$job"]);
    }

    #[test]
    fn exprs_are_found_in_nested_row_panels() {
        let dashboard = serde_json::json!({"panels": [
            {"id": 1, "type": "row", "panels": [
                {"id": 2, "title": "t", "targets": [{"refId": "A", "expr": "up"}]}
            ]}
        ]});
        let exprs = dashboard_exprs("d.json", &dashboard);
        assert_eq!(exprs.len(), 1);
        assert_eq!(exprs[0].expr, "up");
    }
}
