//! Generates the native Prometheus config from `prometheus/prometheus.yml`.
//!
//! Same jobs, same rule files, same alerting wiring; only what differs on one
//! host changes:
//! - targets point at `127.0.0.1:<chosen port>`, and the service's job
//!   reads its instances from a file `stack up` keeps (see [`super::discovery`]);
//! - targets of components not running here (e.g. the Collector) are
//!   dropped, and so is a job left without targets;
//! - `rule_files` become absolute paths to the repository's own rule files
//!   (Prometheus resolves relative paths against the config file, which now
//!   lives in the state directory);
//! - optionally, shorter scrape/evaluation intervals for tests.

use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::discovery::{ServiceTargets, is_service_job, use_targets_file};
use super::ports::Ports;
use super::targets::{Rewritten, rewrite_target, rewrite_url};

/// Why the config could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot parse {file}: {source}")]
    Parse {
        file: String,
        source: serde_yaml_ng::Error,
    },
    #[error("{file}: {what}")]
    Shape { file: String, what: String },
    #[error("cannot write YAML: {0}")]
    Write(#[from] serde_yaml_ng::Error),
}

/// Knobs for tests and demos; `None` keeps the repository's values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intervals {
    pub scrape: Option<Duration>,
    pub evaluation: Option<Duration>,
}

/// The generated config and what was left out.
#[derive(Debug)]
pub struct Generated {
    pub yaml: String,
    pub dropped_jobs: Vec<String>,
}

/// Rewrites `source` (the text of `prometheus/prometheus.yml`, whose folder
/// is `config_dir`) for the components in `ports`; the service's job reads
/// its instances from `service_targets`.
pub fn generate(
    source: &str,
    config_dir: &Path,
    ports: &Ports,
    intervals: Intervals,
    service_targets: &ServiceTargets,
) -> Result<Generated, ConfigError> {
    const FILE: &str = "prometheus/prometheus.yml";
    let shape = |what: &str| ConfigError::Shape {
        file: FILE.into(),
        what: what.into(),
    };
    let mut root: Value = serde_yaml_ng::from_str(source).map_err(|source| ConfigError::Parse {
        file: FILE.into(),
        source,
    })?;
    let map = root
        .as_mapping_mut()
        .ok_or_else(|| shape("top level is not a mapping"))?;

    apply_intervals(map, intervals);
    rewrite_external_label_urls(map, ports);

    if let Some(rule_files) = map.get_mut("rule_files").and_then(Value::as_sequence_mut) {
        for entry in rule_files.iter_mut() {
            if let Some(path) = entry.as_str() {
                *entry = Value::from(absolute_rule_path(path, config_dir));
            }
        }
    }

    if let Some(managers) = map
        .get_mut("alerting")
        .and_then(|a| a.get_mut("alertmanagers"))
        .and_then(Value::as_sequence_mut)
    {
        for manager in managers.iter_mut() {
            rewrite_static_configs(manager, ports);
        }
    }

    let mut dropped_jobs = Vec::new();
    if let Some(jobs) = map
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
    {
        jobs.retain_mut(|job| {
            if let Some(map) = job.as_mapping_mut()
                && is_service_job(map)
            {
                use_targets_file(map, service_targets);
                return true;
            }
            let has_targets = rewrite_static_configs(job, ports);
            if !has_targets {
                let name = job.get("job_name").and_then(Value::as_str).unwrap_or("?");
                dropped_jobs.push(name.to_owned());
            }
            has_targets
        });
        if let Some(scrape) = intervals.scrape {
            for job in jobs.iter_mut().filter_map(Value::as_mapping_mut) {
                override_job_interval(job, scrape);
            }
        }
    }

    let yaml = serde_yaml_ng::to_string(&root)?;
    Ok(Generated { yaml, dropped_jobs })
}

/// Rewrites every `static_configs[].targets[]` of a job or alertmanager entry.
/// Returns whether anything is left to scrape (entries with other service
/// discovery mechanisms always count as having targets).
fn rewrite_static_configs(entry: &mut Value, ports: &Ports) -> bool {
    let Some(map) = entry.as_mapping_mut() else {
        return false;
    };
    let uses_other_discovery = map
        .keys()
        .filter_map(Value::as_str)
        .any(|k| k.ends_with("_sd_configs"));
    let Some(configs) = map
        .get_mut("static_configs")
        .and_then(Value::as_sequence_mut)
    else {
        return uses_other_discovery;
    };
    for config in configs.iter_mut() {
        if let Some(targets) = config.get_mut("targets").and_then(Value::as_sequence_mut) {
            targets.retain_mut(|target| {
                let Some(text) = target.as_str() else {
                    return true;
                };
                match rewrite_target(text, ports) {
                    Rewritten::Local(addr) => {
                        *target = Value::from(addr.to_string());
                        true
                    }
                    Rewritten::NotRunning => false,
                    Rewritten::Unknown => true,
                }
            });
        }
    }
    configs.retain(|c| {
        c.get("targets")
            .and_then(Value::as_sequence)
            .is_some_and(|t| !t.is_empty())
    });
    !configs.is_empty() || uses_other_discovery
}

/// External labels that are URLs of components here (the runbook base, the
/// inbox's) point at this host's ports, like the targets.
fn rewrite_external_label_urls(map: &mut Mapping, ports: &Ports) {
    let labels = map
        .get_mut("global")
        .and_then(|g| g.get_mut("external_labels"))
        .and_then(Value::as_mapping_mut);
    for value in labels.into_iter().flat_map(|l| l.values_mut()) {
        if let Some(local) = value.as_str().and_then(|url| rewrite_url(url, ports)) {
            *value = Value::from(local);
        }
    }
}

fn apply_intervals(map: &mut Mapping, intervals: Intervals) {
    if intervals.scrape.is_none() && intervals.evaluation.is_none() {
        return;
    }
    let global = map
        .entry(Value::from("global"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !global.is_mapping() {
        *global = Value::Mapping(Mapping::new());
    }
    let Some(global) = global.as_mapping_mut() else {
        return;
    };
    if let Some(scrape) = intervals.scrape {
        global.insert("scrape_interval".into(), prom_duration(scrape).into());
        // Prometheus rejects a timeout longer than the interval.
        global.insert("scrape_timeout".into(), prom_duration(scrape).into());
    }
    if let Some(eval) = intervals.evaluation {
        global.insert("evaluation_interval".into(), prom_duration(eval).into());
    }
}

/// A job's own interval would beat the global override; align it too.
fn override_job_interval(job: &mut Mapping, scrape: Duration) {
    if job.contains_key("scrape_interval") {
        job.insert("scrape_interval".into(), prom_duration(scrape).into());
    }
    if job.contains_key("scrape_timeout") {
        job.insert("scrape_timeout".into(), prom_duration(scrape).into());
    }
}

/// Prometheus duration syntax, in milliseconds (`1500ms`), at least 1ms.
pub fn prom_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// Relative rule paths resolve against the repository's `prometheus/`
/// folder; `/etc/prometheus/...` (the container mount) maps there too.
fn absolute_rule_path(path: &str, config_dir: &Path) -> String {
    let relative = path.strip_prefix("/etc/prometheus/").unwrap_or(path);
    if Path::new(relative).is_absolute() {
        return relative.to_owned();
    }
    config_dir.join(relative).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::ports::free_ports;
    use crate::up::roles::Role;

    const SOURCE: &str = r#"
global:
  scrape_interval: 15s
  external_labels:
    runbook_base: http://localhost:5080/runbook
rule_files:
  - rules/*.yml
  - /etc/prometheus/extra.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["alertmanager:9093"]
scrape_configs:
  - job_name: service
    static_configs:
      - targets: ["service:5000"]
  - job_name: otel-collector
    scrape_interval: 30s
    static_configs:
      - targets: ["otel-collector:8888"]
  - job_name: prometheus
    scrape_interval: 30s
    static_configs:
      - targets: ["localhost:9090"]
"#;

    #[test]
    fn rewrites_targets_rules_and_intervals() {
        let ports = free_ports(&[Role::Prometheus, Role::Alertmanager, Role::Inbox]);
        let targets = ServiceTargets::new("/state/targets/service.json".into());
        let generated = generate(
            SOURCE,
            Path::new("/repo/prometheus"),
            &ports,
            Intervals {
                scrape: Some(Duration::from_secs(1)),
                evaluation: Some(Duration::from_millis(500)),
            },
            &targets,
        )
        .expect("generate");
        assert_eq!(generated.dropped_jobs, vec!["otel-collector".to_owned()]);
        let v: Value = serde_yaml_ng::from_str(&generated.yaml).expect("yaml");
        assert_eq!(v["global"]["scrape_interval"], Value::from("1000ms"));
        assert_eq!(v["global"]["scrape_timeout"], Value::from("1000ms"));
        assert_eq!(v["global"]["evaluation_interval"], Value::from("500ms"));
        let inbox = ports.url(Role::Inbox).expect("inbox");
        assert_eq!(
            v["global"]["external_labels"]["runbook_base"],
            Value::from(format!("{inbox}/runbook"))
        );
        assert_eq!(
            v["rule_files"][0],
            Value::from("/repo/prometheus/rules/*.yml")
        );
        assert_eq!(
            v["rule_files"][1],
            Value::from("/repo/prometheus/extra.yml")
        );
        let am = format!("127.0.0.1:{}", ports.get(Role::Alertmanager).unwrap());
        assert_eq!(
            v["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
            Value::from(am)
        );
        assert_eq!(
            v["scrape_configs"][0]["file_sd_configs"][0]["files"][0],
            Value::from("/state/targets/service.json")
        );
        assert!(v["scrape_configs"][0].get("static_configs").is_none());
        assert_eq!(
            v["scrape_configs"][1]["job_name"],
            Value::from("prometheus")
        );
        assert_eq!(
            v["scrape_configs"][1]["scrape_interval"],
            Value::from("1000ms")
        );
    }

    #[test]
    fn rejects_non_yaml() {
        let ports = free_ports(&[]);
        let targets = ServiceTargets::new("/t.json".into());
        assert!(
            generate(
                "[: nope",
                Path::new("/"),
                &ports,
                Intervals::default(),
                &targets
            )
            .is_err()
        );
    }
}
