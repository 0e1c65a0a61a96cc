//! Grafana file-provisioning formats: the fields Grafana's documentation
//! marks required, plus what this project relies on (fixed UIDs).
//!
//! Sources: Grafana docs "Provision Grafana" (data sources, dashboard
//! providers) and "Use configuration files to provision alerting resources",
//! and the types Grafana parses them with
//! (`pkg/services/provisioning/alerting/{rules,contact_point,
//! notification_policy,text_templates}_types.go`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::Problem;
use crate::files::{array_at, str_at};

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

/// An alerting provisioning file (`provisioning/alerting/*.yaml`): rule
/// groups, contact points, notification policies and templates.
///
/// Docs-required: group `name`, `folder`, `interval`, `rules`; rule `uid`,
/// `title`, `condition`, `data`, `for`; query `refId`, `datasourceUid`,
/// `model`, and for data-source queries a `relativeTimeRange` with
/// `from` > `to` (Grafana rejects 0..0); a group `interval` that Grafana's
/// scheduler accepts ([`is_valid_rule_group_interval`]); contact point
/// `name`, `receivers`; contact point deletion `uid`;
/// receiver `uid`, `type`, `settings`; policy `receiver`; template `name`,
/// `template`.
pub fn validate_alerting(doc: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    require(doc, "apiVersion", Kind::Int, "", &mut problems);
    let sections = [
        "groups",
        "contactPoints",
        "policies",
        "templates",
        "deleteContactPoints",
    ];
    if !sections.iter().any(|s| doc.get(*s).is_some()) {
        problems.push(Problem::new(
            "",
            format!("defines none of {}", sections.join(", ")),
        ));
    }
    // `deleteContactPoints`: `uid` required, `orgId` defaults to 1
    // (`DeleteContactPointV1` in contact_point_types.go).
    for (i, delete) in array_at(doc, "deleteContactPoints").iter().enumerate() {
        require(
            delete,
            "uid",
            Kind::Text,
            &format!("deleteContactPoints[{i}]"),
            &mut problems,
        );
    }
    for (i, group) in array_at(doc, "groups").iter().enumerate() {
        validate_rule_group(group, &format!("groups[{i}]"), &mut problems);
    }
    for (i, cp) in array_at(doc, "contactPoints").iter().enumerate() {
        validate_contact_point(cp, &format!("contactPoints[{i}]"), &mut problems);
    }
    for (i, policy) in array_at(doc, "policies").iter().enumerate() {
        let at = format!("policies[{i}]");
        require(policy, "receiver", Kind::Text, &at, &mut problems);
        for key in ["group_wait", "group_interval", "repeat_interval"] {
            if policy.get(key).is_some() {
                require(policy, key, Kind::Duration, &at, &mut problems);
            }
        }
    }
    for (i, template) in array_at(doc, "templates").iter().enumerate() {
        let at = format!("templates[{i}]");
        require(template, "name", Kind::Text, &at, &mut problems);
        require(template, "template", Kind::Text, &at, &mut problems);
    }
    problems
}

/// Grafana's alert scheduler ticks every 10 s (its default `base_interval`).
/// A rule group's interval must be a non-zero multiple of it, or Grafana
/// rejects the group: `interval (15s) should be non-zero and divided exactly
/// by scheduler interval: 10` (`ValidateRuleGroupInterval` in
/// `pkg/services/ngalert/models/alert_rule.go`). During file provisioning that
/// error stops Grafana.
pub const SCHEDULER_BASE_INTERVAL_SECONDS: i64 = 10;

/// Whether Grafana accepts `interval` as a rule group interval: whole
/// seconds, non-zero, divisible by [`SCHEDULER_BASE_INTERVAL_SECONDS`].
pub fn is_valid_rule_group_interval(interval: &str) -> bool {
    duration_seconds(interval).is_some_and(|seconds| {
        seconds > 0.0
            && seconds.fract() == 0.0
            && (seconds as i64) % SCHEDULER_BASE_INTERVAL_SECONDS == 0
    })
}

fn validate_rule_group(group: &Value, at: &str, problems: &mut Vec<Problem>) {
    require(group, "name", Kind::Text, at, problems);
    require(group, "folder", Kind::Text, at, problems);
    require(group, "interval", Kind::Duration, at, problems);
    if let Some(interval) = str_at(group, "interval")
        && is_duration(interval)
        && !is_valid_rule_group_interval(interval)
    {
        problems.push(Problem::new(
            format!("{at}.interval"),
            format!(
                "{interval} is not a non-zero multiple of Grafana's {SCHEDULER_BASE_INTERVAL_SECONDS}s \
                 scheduler interval; Grafana refuses the group and stops"
            ),
        ));
    }
    require(group, "rules", Kind::List, at, problems);
    for (j, rule) in array_at(group, "rules").iter().enumerate() {
        let at = format!("{at}.rules[{j}]");
        for key in ["uid", "title", "condition"] {
            require(rule, key, Kind::Text, &at, problems);
        }
        require(rule, "for", Kind::Duration, &at, problems);
        require(rule, "data", Kind::List, &at, problems);
        let ref_ids: Vec<&str> = array_at(rule, "data")
            .iter()
            .filter_map(|q| str_at(q, "refId"))
            .collect();
        if let Some(condition) = str_at(rule, "condition")
            && !ref_ids.contains(&condition)
        {
            problems.push(Problem::new(
                format!("{at}.condition"),
                format!("{condition:?} is not the refId of any query in data"),
            ));
        }
        if let Some(state) = str_at(rule, "noDataState")
            && !["NoData", "Alerting", "OK", "KeepLast"].contains(&state)
        {
            problems.push(Problem::new(
                format!("{at}.noDataState"),
                "must be NoData, Alerting, OK or KeepLast",
            ));
        }
        if let Some(state) = str_at(rule, "execErrState")
            && !["Error", "Alerting", "OK", "KeepLast"].contains(&state)
        {
            problems.push(Problem::new(
                format!("{at}.execErrState"),
                "must be Error, Alerting, OK or KeepLast",
            ));
        }
        for (k, query) in array_at(rule, "data").iter().enumerate() {
            let at = format!("{at}.data[{k}]");
            require(query, "refId", Kind::Text, &at, problems);
            require(query, "datasourceUid", Kind::Text, &at, problems);
            require(query, "model", Kind::Object, &at, problems);
            if str_at(query, "datasourceUid").is_some_and(|uid| uid != "__expr__") {
                validate_relative_time_range(query, &at, problems);
            }
        }
    }
}

fn validate_relative_time_range(query: &Value, at: &str, problems: &mut Vec<Problem>) {
    require(query, "relativeTimeRange", Kind::Object, at, problems);
    let Some(range) = query.get("relativeTimeRange") else {
        return;
    };
    let from = range.get("from").and_then(Value::as_i64);
    let to = range.get("to").and_then(Value::as_i64);
    match (from, to) {
        (Some(from), Some(to)) if from > to => {}
        _ => problems.push(Problem::new(
            format!("{at}.relativeTimeRange"),
            "needs integer seconds `from` > `to` (Grafana rejects an empty range)",
        )),
    }
}

fn validate_contact_point(cp: &Value, at: &str, problems: &mut Vec<Problem>) {
    require(cp, "name", Kind::Text, at, problems);
    require(cp, "receivers", Kind::List, at, problems);
    for (j, receiver) in array_at(cp, "receivers").iter().enumerate() {
        let at = format!("{at}.receivers[{j}]");
        require(receiver, "uid", Kind::Text, &at, problems);
        require(receiver, "type", Kind::Text, &at, problems);
        require(receiver, "settings", Kind::Object, &at, problems);
        let Some(settings) = receiver.get("settings") else {
            continue;
        };
        // The setting each integration cannot work without.
        let needed: &[&str] = match str_at(receiver, "type") {
            Some("webhook") | Some("slack") => &["url"],
            Some("email") => &["addresses"],
            _ => &[],
        };
        for key in needed {
            require(
                settings,
                key,
                Kind::Text,
                &format!("{at}.settings"),
                problems,
            );
        }
    }
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

/// The text field `field` of each of `items` that has one.
fn texts_of(items: &[Value], field: &str) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| str_at(item, field))
        .map(str::to_owned)
        .collect()
}

/// UIDs of the data sources a provisioning file defines.
pub fn provisioned_datasource_uids(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "datasources"), "uid")
}

/// Data source UIDs a dashboard or alerting file refers to: every
/// `datasource: {uid}` / `datasource: "uid"` and `datasourceUid`, anywhere.
/// Grafana's built-in pseudo data sources (`__expr__`, `-- Grafana --`, ...)
/// are left out, as are template variables (`$ds`).
pub fn referenced_datasource_uids(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect_datasource_refs(doc, &mut found);
    found.retain(|uid| !uid.starts_with("__") && !uid.starts_with("--") && !uid.starts_with('$'));
    found
}

/// Data source UIDs `doc` refers to that no provisioning file defines
/// (`provisioned`): each would be a panel or rule that cannot query.
pub fn unprovisioned_datasource_uids(
    provisioned: &BTreeSet<String>,
    doc: &Value,
) -> BTreeSet<String> {
    referenced_datasource_uids(doc)
        .into_iter()
        .filter(|uid| !provisioned.contains(uid))
        .collect()
}

fn collect_datasource_refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("datasourceUid", Value::String(uid)) | ("datasource", Value::String(uid)) => {
                        found.insert(uid.clone());
                    }
                    ("datasource", Value::Object(ds)) => {
                        if let Some(Value::String(uid)) = ds.get("uid") {
                            found.insert(uid.clone());
                        }
                    }
                    _ => {}
                }
                collect_datasource_refs(child, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_datasource_refs(v, found)),
        _ => {}
    }
}

/// Names of the contact points an alerting file defines.
pub fn contact_point_names(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "contactPoints"), "name")
}

/// Receiver (integration) UIDs an alerting file provisions.
pub fn receiver_uids(doc: &Value) -> BTreeSet<String> {
    array_at(doc, "contactPoints")
        .iter()
        .flat_map(|cp| texts_of(array_at(cp, "receivers"), "uid"))
        .collect()
}

/// Receiver UIDs an alerting file deletes (`deleteContactPoints`).
pub fn deleted_receiver_uids(doc: &Value) -> BTreeSet<String> {
    texts_of(array_at(doc, "deleteContactPoints"), "uid")
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
