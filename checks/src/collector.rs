//! OpenTelemetry Collector configuration: pipelines may only name components
//! the file defines, and the ports it listens on.
//!
//! Rules from the Collector's configuration docs: a pipeline `<type>[/name]`
//! lists `receivers` (receivers or connectors), optional `processors` and
//! `exporters` (exporters or connectors); a connector must be an exporter of
//! one pipeline and a receiver of another; `service.extensions` name defined
//! extensions. Defining a component no pipeline uses is legal but a mistake,
//! so it is reported too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::Problem;
use crate::files::{array_at, str_at};

/// Component ids (`otlp`, `otlp/tempo`) defined in one top-level section.
fn defined(config: &Value, section: &str) -> BTreeSet<String> {
    config
        .get(section)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn names(value: &Value, key: &str) -> Vec<String> {
    array_at(value, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Checks every pipeline and extension reference; returns all problems.
pub fn validate_pipelines(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let receivers = defined(config, "receivers");
    let processors = defined(config, "processors");
    let exporters = defined(config, "exporters");
    let connectors = defined(config, "connectors");
    let extensions = defined(config, "extensions");

    let pipelines = config
        .get("service")
        .and_then(|s| s.get("pipelines"))
        .and_then(Value::as_object);
    let Some(pipelines) = pipelines else {
        problems.push(Problem::new("service.pipelines", "no pipelines defined"));
        return problems;
    };

    let mut used = BTreeSet::new();
    let mut connector_as_exporter = BTreeSet::new();
    let mut connector_as_receiver = BTreeSet::new();
    for (name, pipeline) in pipelines {
        let at = format!("service.pipelines.{name}");
        let signal = name.split('/').next().unwrap_or("");
        if !["traces", "metrics", "logs"].contains(&signal) {
            problems.push(Problem::new(
                &at,
                "pipeline name must start with traces, metrics or logs",
            ));
        }
        let pipeline_receivers = names(pipeline, "receivers");
        let pipeline_exporters = names(pipeline, "exporters");
        if pipeline_receivers.is_empty() {
            problems.push(Problem::new(&at, "needs at least one receiver"));
        }
        if pipeline_exporters.is_empty() {
            problems.push(Problem::new(&at, "needs at least one exporter"));
        }
        for id in pipeline_receivers {
            if connectors.contains(&id) {
                connector_as_receiver.insert(id.clone());
            } else if !receivers.contains(&id) {
                problems.push(Problem::new(
                    format!("{at}.receivers"),
                    format!("{id:?} is neither a defined receiver nor a connector"),
                ));
            }
            used.insert(id);
        }
        let pipeline_processors = names(pipeline, "processors");
        if let Some(pos) = pipeline_processors
            .iter()
            .position(|p| p.split('/').next() == Some("memory_limiter"))
            && pos != 0
        {
            problems.push(Problem::new(
                format!("{at}.processors"),
                "memory_limiter must come first so it can refuse data before others buffer it",
            ));
        }
        for id in pipeline_processors {
            if !processors.contains(&id) {
                problems.push(Problem::new(
                    format!("{at}.processors"),
                    format!("{id:?} is not a defined processor"),
                ));
            }
            used.insert(id);
        }
        for id in pipeline_exporters {
            if connectors.contains(&id) {
                connector_as_exporter.insert(id.clone());
            } else if !exporters.contains(&id) {
                problems.push(Problem::new(
                    format!("{at}.exporters"),
                    format!("{id:?} is neither a defined exporter nor a connector"),
                ));
            }
            used.insert(id);
        }
    }
    for id in &connectors {
        if !connector_as_exporter.contains(id) || !connector_as_receiver.contains(id) {
            problems.push(Problem::new(
                format!("connectors.{id}"),
                "a connector must be an exporter in one pipeline and a receiver in another",
            ));
        }
    }
    let service_extensions = config
        .get("service")
        .map(|s| names(s, "extensions"))
        .unwrap_or_default();
    for id in &service_extensions {
        if !extensions.contains(id) {
            problems.push(Problem::new(
                "service.extensions",
                format!("{id:?} is not a defined extension"),
            ));
        }
    }
    for (section, ids) in [
        ("receivers", &receivers),
        ("processors", &processors),
        ("exporters", &exporters),
        ("connectors", &connectors),
    ] {
        for id in ids.iter().filter(|id| !used.contains(*id)) {
            problems.push(Problem::new(
                format!("{section}.{id}"),
                "defined but used by no pipeline",
            ));
        }
    }
    for id in extensions
        .iter()
        .filter(|id| !service_extensions.contains(id))
    {
        problems.push(Problem::new(
            format!("extensions.{id}"),
            "defined but not enabled in service.extensions",
        ));
    }
    problems
}

/// The port of a `host:port` endpoint.
pub fn endpoint_port(endpoint: &str) -> Option<u16> {
    endpoint.rsplit(':').next()?.parse().ok()
}

/// The ports the Collector listens on, by role: `otlp-grpc`, `otlp-http`,
/// `prometheus-exporter`, `telemetry`, `health-check`. Missing roles are
/// simply absent.
pub fn listen_ports(config: &Value) -> BTreeMap<&'static str, u16> {
    let mut ports = BTreeMap::new();
    let protocols = config
        .get("receivers")
        .and_then(|r| r.get("otlp"))
        .and_then(|o| o.get("protocols"));
    for (role, protocol) in [("otlp-grpc", "grpc"), ("otlp-http", "http")] {
        if let Some(port) = protocols
            .and_then(|p| p.get(protocol))
            .and_then(|p| str_at(p, "endpoint"))
            .and_then(endpoint_port)
        {
            ports.insert(role, port);
        }
    }
    if let Some(port) = config
        .get("exporters")
        .and_then(|e| e.get("prometheus"))
        .and_then(|p| str_at(p, "endpoint"))
        .and_then(endpoint_port)
    {
        ports.insert("prometheus-exporter", port);
    }
    if let Some(port) = config
        .get("extensions")
        .and_then(|e| e.get("health_check"))
        .and_then(|h| str_at(h, "endpoint"))
        .and_then(endpoint_port)
    {
        ports.insert("health-check", port);
    }
    let readers = config
        .pointer("/service/telemetry/metrics/readers")
        .and_then(Value::as_array);
    for reader in readers.into_iter().flatten() {
        if let Some(port) = reader
            .pointer("/pull/exporter/prometheus/port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            ports.insert("telemetry", port);
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_and_unused_components_are_reported() {
        let config = serde_json::json!({
            "receivers": {"otlp": {}},
            "exporters": {"debug": {}, "unused": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug", "missing"]}}}
        });
        let problems = validate_pipelines(&config);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{text:?}");
        assert!(text.iter().any(|p| p.contains("\"missing\"")));
        assert!(text.iter().any(|p| p.contains("exporters.unused")));
    }
}
