//! Alerting provisioning files: rule groups, contact points, notification
//! policies and templates.

use serde_json::Value;

use super::{Kind, duration_seconds, is_duration, require};
use crate::Problem;
use crate::files::{array_at, str_at};

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
