//! Grafana file-provisioning formats: the fields Grafana's documentation
//! marks required, plus what this project relies on (fixed UIDs).
//!
//! Sources: Grafana docs "Provision Grafana" (data sources, dashboard
//! providers) and "Use configuration files to provision alerting resources",
//! and the types Grafana parses them with
//! (`pkg/services/provisioning/alerting/{rules,contact_point,
//! notification_policy,text_templates}_types.go`).

mod alerting;
mod references;

use serde_json::Value;

use crate::Problem;
use crate::files::{array_at, str_at};

pub use alerting::{
    SCHEDULER_BASE_INTERVAL_SECONDS, is_valid_rule_group_interval, validate_alerting,
};
pub use references::{
    contact_point_names, deleted_receiver_uids, provisioned_datasource_uids, receiver_uids,
    referenced_datasource_uids, unprovisioned_datasource_uids,
};

/// What a required field must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A non-empty string.
    Text,
    /// An integer.
    Int,
    /// A non-empty list.
    List,
    /// A non-empty object.
    Object,
    /// A Prometheus-style duration such as `15s` or `1m30s`.
    Duration,
}

/// Records a problem unless `value[key]` is present and of `kind`.
fn require(value: &Value, key: &str, kind: Kind, at: &str, problems: &mut Vec<Problem>) {
    let path = if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    };
    let Some(field) = value.get(key) else {
        problems.push(Problem::new(path, "required field is missing"));
        return;
    };
    let ok = match kind {
        Kind::Text => field.as_str().is_some_and(|s| !s.trim().is_empty()),
        Kind::Int => field.as_i64().is_some(),
        Kind::List => field.as_array().is_some_and(|a| !a.is_empty()),
        Kind::Object => field.as_object().is_some_and(|o| !o.is_empty()),
        Kind::Duration => field.as_str().is_some_and(is_duration),
    };
    if !ok {
        problems.push(Problem::new(
            path,
            format!("must be {kind:?} (got {field})").to_lowercase(),
        ));
    }
}

/// Whether `text` is a Prometheus duration: one or more `<number><unit>`
/// with unit ms, s, m, h, d, w or y (e.g. `0s`, `1m30s`).
pub fn is_duration(text: &str) -> bool {
    duration_seconds(text).is_some()
}

/// The length of a Prometheus duration in seconds, `None` if `text` is not
/// one (see [`is_duration`]).
pub fn duration_seconds(text: &str) -> Option<f64> {
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, seconds) = [
            ("ms", 0.001),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
            ("d", 86_400.0),
            ("w", 604_800.0),
            ("y", 31_536_000.0),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        total += number * seconds;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// A data sources provisioning file (`provisioning/datasources/*.yaml`).
///
/// Docs-required per data source: `name`, `type`, `access`. This project
/// also requires `uid` (dashboards and rules refer to it) and `url`.
pub fn validate_datasources(doc: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    require(doc, "apiVersion", Kind::Int, "", &mut problems);
    require(doc, "datasources", Kind::List, "", &mut problems);
    for (i, ds) in array_at(doc, "datasources").iter().enumerate() {
        let at = format!("datasources[{i}]");
        for key in ["name", "type", "access", "uid", "url"] {
            require(ds, key, Kind::Text, &at, &mut problems);
        }
        if let Some(access) = str_at(ds, "access")
            && access != "proxy"
            && access != "direct"
        {
            problems.push(Problem::new(
                format!("{at}.access"),
                "must be proxy or direct",
            ));
        }
    }
    problems
}

/// A dashboard providers file (`provisioning/dashboards/*.yaml`).
///
/// Docs-required per provider: `name`, `type`, `options.path`.
pub fn validate_dashboard_providers(doc: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    require(doc, "apiVersion", Kind::Int, "", &mut problems);
    require(doc, "providers", Kind::List, "", &mut problems);
    for (i, provider) in array_at(doc, "providers").iter().enumerate() {
        let at = format!("providers[{i}]");
        require(provider, "name", Kind::Text, &at, &mut problems);
        require(provider, "type", Kind::Text, &at, &mut problems);
        require(provider, "options", Kind::Object, &at, &mut problems);
        if let Some(options) = provider.get("options") {
            require(
                options,
                "path",
                Kind::Text,
                &format!("{at}.options"),
                &mut problems,
            );
        }
    }
    problems
}

/// A dashboard JSON model: `uid`, `title`, `panels`, and per panel `type`
/// and `gridPos` (plus `id` and `title` for panels that are not rows).
pub fn validate_dashboard(doc: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    require(doc, "uid", Kind::Text, "", &mut problems);
    require(doc, "title", Kind::Text, "", &mut problems);
    require(doc, "panels", Kind::List, "", &mut problems);
    for (i, panel) in array_at(doc, "panels").iter().enumerate() {
        let at = format!("panels[{i}]");
        require(panel, "type", Kind::Text, &at, &mut problems);
        require(panel, "gridPos", Kind::Object, &at, &mut problems);
        if str_at(panel, "type") != Some("row") {
            require(panel, "id", Kind::Int, &at, &mut problems);
            require(panel, "title", Kind::Text, &at, &mut problems);
        }
    }
    problems
}

/// Every panel of a dashboard, rows' nested panels included.
pub fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a [Value], out: &mut Vec<&'a Value>) {
        for panel in panels {
            out.push(panel);
            walk(array_at(panel, "panels"), out);
        }
    }
    let mut out = Vec::new();
    walk(array_at(dashboard, "panels"), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_values() {
        assert_eq!(duration_seconds("1m30s"), Some(90.0));
        assert_eq!(duration_seconds("2m"), Some(120.0));
    }

    #[test]
    fn durations() {
        for ok in ["0s", "15s", "1m30s", "4h", "500ms"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "1x", "1m 30s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn relative_time_range_zero_is_rejected() {
        let doc = serde_json::json!({"apiVersion": 1, "groups": [{
            "name": "g", "folder": "f", "interval": "1m", "rules": [{
                "uid": "u", "title": "t", "condition": "A", "for": "0s",
                "data": [{"refId": "A", "datasourceUid": "prometheus", "model": {"expr": "up"},
                          "relativeTimeRange": {"from": 0, "to": 0}}]}]}]});
        let problems = validate_alerting(&doc);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].at.ends_with("relativeTimeRange"));
    }
}
