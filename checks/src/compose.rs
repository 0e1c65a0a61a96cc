//! Reading `compose.yaml`: bind mounts, ports, environment, images.
//!
//! Only what the checks need is modelled, on top of the generic value the
//! compose-spec JSON schema has already validated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::Problem;
use crate::files::str_at;

/// The services of a compose file, by name.
pub fn services(compose: &Value) -> BTreeMap<String, &Value> {
    compose
        .get("services")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

/// A host path mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub service: String,
    /// Host path as written (relative to the compose file, or absolute).
    pub source: String,
    /// Path inside the container.
    pub target: String,
}

/// Every bind mount (short `src:dst[:mode]` syntax whose source is a path,
/// or long syntax with `type: bind`). Named volumes are not bind mounts.
pub fn bind_mounts(compose: &Value) -> Vec<BindMount> {
    let mut mounts = Vec::new();
    for (service, definition) in services(compose) {
        for volume in crate::files::array_at(definition, "volumes") {
            let (source, target) = match volume {
                Value::String(spec) => {
                    let mut parts = spec.splitn(3, ':');
                    let source = parts.next().unwrap_or("");
                    let target = parts.next().unwrap_or("");
                    (source.to_owned(), target.to_owned())
                }
                Value::Object(_) if str_at(volume, "type") == Some("bind") => (
                    str_at(volume, "source").unwrap_or("").to_owned(),
                    str_at(volume, "target").unwrap_or("").to_owned(),
                ),
                _ => continue,
            };
            if source.starts_with('.') || source.starts_with('/') {
                mounts.push(BindMount {
                    service: service.clone(),
                    source,
                    target,
                });
            }
        }
    }
    mounts
}

/// Relative bind-mount sources, build contexts and Dockerfiles that do not
/// exist under `root` (absolute host paths such as `/` are the host's
/// business and are skipped).
pub fn missing_files(compose: &Value, root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    for mount in bind_mounts(compose) {
        if mount.source.starts_with('.') && !root.join(&mount.source).exists() {
            problems.push(Problem::new(
                format!("services.{}.volumes", mount.service),
                format!("mounted path {} does not exist", mount.source),
            ));
        }
    }
    for (service, definition) in services(compose) {
        let Some(build) = definition.get("build") else {
            continue;
        };
        let context = match build {
            Value::String(context) => context.as_str(),
            _ => str_at(build, "context").unwrap_or("."),
        };
        let dockerfile = str_at(build, "dockerfile").unwrap_or("Dockerfile");
        let path = root.join(context).join(dockerfile);
        if !path.is_file() {
            problems.push(Problem::new(
                format!("services.{service}.build"),
                format!("Dockerfile {} does not exist", path.display()),
            ));
        }
    }
    problems
}

/// A `ports:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// Host address: the default of `${VAR:-addr}`, a literal, or `None`
    /// (all interfaces).
    pub host_ip: Option<String>,
    /// Whether the host address comes from an environment variable.
    pub host_ip_overridable: bool,
    pub published: Option<u16>,
    pub target: u16,
}

/// Parses a short-syntax port such as `"${BIND:-127.0.0.1}:9090:9090"`,
/// `"3000:3000"` or `"5000"`. Returns `None` for what it does not
/// understand (ranges, protocols), which the checks then report.
pub fn parse_port(spec: &str) -> Option<PortMapping> {
    let (ip_expr, rest) = if let Some(stripped) = spec.strip_prefix("${") {
        let end = stripped.find('}')?;
        let rest = stripped[end + 1..].strip_prefix(':')?;
        (Some(&spec[..end + 3]), rest)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() == 3 {
            (Some(parts[0]), &spec[parts[0].len() + 1..])
        } else {
            (None, spec)
        }
    };
    let mut numbers = rest.split(':');
    let first: u16 = numbers.next()?.parse().ok()?;
    let (published, target) = match numbers.next() {
        Some(second) => (Some(first), second.parse().ok()?),
        None => (None, first),
    };
    let (host_ip, overridable) = match ip_expr {
        Some(expr) if expr.starts_with("${") => {
            let inner = &expr[2..expr.len() - 1];
            (inner.split_once(":-").map(|(_, d)| d.to_owned()), true)
        }
        Some(ip) => (Some(ip.to_owned()), false),
        None => (None, false),
    };
    Some(PortMapping {
        host_ip,
        host_ip_overridable: overridable,
        published,
        target,
    })
}

/// Port mappings of one service (short syntax; long syntax `target`/`published`).
pub fn port_mappings(service: &Value) -> Vec<PortMapping> {
    crate::files::array_at(service, "ports")
        .iter()
        .filter_map(|p| match p {
            Value::String(spec) => parse_port(spec),
            Value::Number(n) => {
                n.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .map(|t| PortMapping {
                        host_ip: None,
                        host_ip_overridable: false,
                        published: None,
                        target: t,
                    })
            }
            _ => Some(PortMapping {
                host_ip: str_at(p, "host_ip").map(str::to_owned),
                host_ip_overridable: false,
                published: p.get("published").and_then(|v| {
                    v.as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
                target: p
                    .get("target")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())?,
            }),
        })
        .collect()
}

/// Container ports a service declares: `ports` targets and `expose`.
pub fn container_ports(service: &Value) -> BTreeSet<u16> {
    let mut ports: BTreeSet<u16> = port_mappings(service).iter().map(|p| p.target).collect();
    for exposed in crate::files::array_at(service, "expose") {
        let port = match exposed {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        };
        ports.extend(port);
    }
    ports
}

/// A service's environment (map or `KEY=value` list form).
pub fn environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                (k.clone(), text)
            })
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|item| item.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forms() {
        let p = parse_port("${PROMETHEUS_BIND:-127.0.0.1}:9090:9090").expect("parses");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert!(p.host_ip_overridable);
        assert_eq!((p.published, p.target), (Some(9090), 9090));
        let p = parse_port("3000:3000").expect("parses");
        assert_eq!((p.host_ip, p.published, p.target), (None, Some(3000), 3000));
        let p = parse_port("127.0.0.1:80:8080").expect("parses");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.target, 8080);
        assert_eq!(parse_port("5000").map(|p| p.target), Some(5000));
    }
}
