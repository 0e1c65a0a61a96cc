//! How Prometheus finds the service's instances natively: file-based
//! service discovery. The job that scrapes the service (in compose, by a
//! static target or a DNS name on the service's port) reads a targets file
//! that `stack up` writes as each instance becomes ready, so one service or
//! `--replicas N` of them are found the same way, never by a list written
//! into the config.
//!
//! An instance that dies stays in the file on purpose: Prometheus then fails
//! to scrape it and `ServiceDown` fires for that instance alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_yaml_ng::{Mapping, Value};

use super::roles::{Replica, Role};

/// The targets file of the service job.
#[derive(Debug, Clone)]
pub struct ServiceTargets {
    path: PathBuf,
}

impl ServiceTargets {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the file (`[{"targets": [...]}]`, Prometheus's file SD format)
    /// at once: Prometheus never reads half of it.
    pub fn write(&self, instances: &[SocketAddr]) -> anyhow::Result<()> {
        let targets: Vec<String> = instances.iter().map(ToString::to_string).collect();
        let json = serde_json::json!([{ "targets": targets }]);
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json.to_string())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Whether a scrape job targets the service: a static target or a DNS name
/// on the service's contract port.
pub fn is_service_job(job: &Mapping) -> bool {
    let port = Role::Service(Replica::FIRST).default_port();
    let static_target = job
        .get("static_configs")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|config| config.get("targets").and_then(Value::as_sequence))
        .flatten()
        .filter_map(Value::as_str)
        .any(|target| {
            target
                .rsplit_once(':')
                .is_some_and(|(_, p)| p == port.to_string())
        });
    let dns_name = job
        .get("dns_sd_configs")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .any(|config| config.get("port").and_then(Value::as_u64) == Some(u64::from(port)));
    static_target || dns_name
}

/// Replaces a job's discovery with the targets file.
pub fn use_targets_file(job: &mut Mapping, targets: &ServiceTargets) {
    job.remove("static_configs");
    job.remove("dns_sd_configs");
    let mut file_sd = Mapping::new();
    file_sd.insert(
        "files".into(),
        Value::Sequence(vec![targets.path().to_string_lossy().into_owned().into()]),
    );
    job.insert(
        "file_sd_configs".into(),
        Value::Sequence(vec![Value::Mapping(file_sd)]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> Mapping {
        serde_yaml_ng::from_str(yaml).expect("yaml")
    }

    #[test]
    fn the_service_job_is_found_by_its_port_however_compose_discovers_it() {
        assert!(is_service_job(&job(
            "job_name: service\nstatic_configs: [{targets: ['service:5000']}]"
        )));
        assert!(is_service_job(&job(
            "job_name: service\ndns_sd_configs: [{names: [service], type: A, port: 5000}]"
        )));
        assert!(!is_service_job(&job(
            "job_name: node\nstatic_configs: [{targets: ['node-exporter:9100']}]"
        )));
    }

    #[test]
    fn the_targets_file_replaces_the_job_discovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let targets = ServiceTargets::new(dir.path().join("service.json"));
        let mut service =
            job("job_name: service\ndns_sd_configs: [{names: [service], type: A, port: 5000}]");
        use_targets_file(&mut service, &targets);
        assert!(service.get("dns_sd_configs").is_none());
        let files = &service["file_sd_configs"][0]["files"][0];
        assert_eq!(files.as_str(), targets.path().to_str());

        let instances: Vec<SocketAddr> = vec!["127.0.0.1:5000".parse().expect("addr")];
        targets.write(&instances).expect("write");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(targets.path()).expect("read"))
                .expect("json");
        assert_eq!(
            written,
            serde_json::json!([{ "targets": ["127.0.0.1:5000"] }])
        );
    }
}
