//! Who dials what: every address a configuration file dials, with the
//! target it must reach.

use serde_json::Value;

use super::nginx::nginx_upstreams;
use super::{Dial, Target, Wiring};
use crate::compose::{environment, services};
use crate::files::{array_at, str_at};

impl Wiring {
    /// Every dial in the configuration with the target it must reach.
    pub fn dials(&self) -> Vec<Dial> {
        let mut dials = Vec::new();
        for job in array_at(&self.prometheus, "scrape_configs") {
            let name = str_at(job, "job_name").unwrap_or("?");
            let expect = match name {
                "service" => Some(Target::exact("service", "http")),
                "node" => Some(Target::exact("node-exporter", "http")),
                "otel-collector" => Some(Target::exact("otel-collector", "telemetry")),
                "spanmetrics" => Some(Target::exact("otel-collector", "prometheus-exporter")),
                "prometheus" => Some(Target::exact("prometheus", "http")),
                _ => None,
            };
            for sc in array_at(job, "static_configs") {
                for target in array_at(sc, "targets").iter().filter_map(Value::as_str) {
                    // Prometheus scraping itself: the prometheus service.
                    let target = target.replace("localhost:", "prometheus:");
                    dials.push(Dial::new(
                        format!("prometheus.yml job {name}"),
                        target,
                        expect.clone(),
                    ));
                }
            }
            for sd in array_at(job, "dns_sd_configs") {
                let port = sd.get("port").and_then(Value::as_u64).unwrap_or(0);
                for dns_name in array_at(sd, "names").iter().filter_map(Value::as_str) {
                    dials.push(Dial::new(
                        format!("prometheus.yml job {name} dns_sd_configs"),
                        format!("{dns_name}:{port}"),
                        expect.clone(),
                    ));
                }
            }
        }
        for am in self
            .prometheus
            .pointer("/alerting/alertmanagers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for sc in array_at(am, "static_configs") {
                for target in array_at(sc, "targets").iter().filter_map(Value::as_str) {
                    dials.push(Dial::new(
                        "prometheus.yml alerting",
                        target,
                        Some(Target::exact("alertmanager", "http")),
                    ));
                }
            }
        }
        for receiver in array_at(&self.alertmanager, "receivers") {
            for hook in array_at(receiver, "webhook_configs") {
                if let Some(url) = str_at(hook, "url") {
                    dials.push(Dial::new(
                        "alertmanager.yml webhook",
                        url,
                        Some(Target::exact("inbox", "http")),
                    ));
                }
            }
        }
        for (file, doc) in &self.datasources {
            for ds in array_at(doc, "datasources") {
                if let Some(url) = str_at(ds, "url") {
                    let uid = str_at(ds, "uid").unwrap_or("?");
                    let expect = match str_at(ds, "type") {
                        Some("prometheus") => Some(Target::exact("prometheus", "http")),
                        Some("tempo") => Some(Target::exact("tempo", "http")),
                        Some("alertmanager") => Some(Target::exact("alertmanager", "http")),
                        _ => None,
                    };
                    dials.push(Dial::new(format!("{file} datasource {uid}"), url, expect));
                }
            }
        }
        for (file, doc) in &self.alerting {
            for cp in array_at(doc, "contactPoints") {
                for receiver in array_at(cp, "receivers") {
                    if str_at(receiver, "type") == Some("webhook")
                        && let Some(url) = receiver.pointer("/settings/url").and_then(Value::as_str)
                    {
                        dials.push(Dial::new(
                            format!("{file} contact point"),
                            url,
                            Some(Target::exact("inbox", "http")),
                        ));
                    }
                }
            }
        }
        if let Some(exporters) = self.collector.get("exporters").and_then(Value::as_object) {
            for (id, exporter) in exporters {
                let expect = match id.as_str() {
                    "otlp/tempo" => Some(Target::exact("tempo", "otlp-grpc")),
                    _ if id.split('/').next() == Some("otlp") => {
                        Some(Target::dialled_host("otlp-grpc"))
                    }
                    _ => continue,
                };
                if let Some(endpoint) = str_at(exporter, "endpoint") {
                    dials.push(Dial::new(
                        format!("otel-collector exporter {id}"),
                        endpoint,
                        expect,
                    ));
                }
            }
        }
        for upstream in nginx_upstreams(&self.entrypoint) {
            dials.push(Dial::new(
                "entrypoint/nginx.conf proxy_pass",
                upstream,
                Some(Target::exact("service", "http")),
            ));
        }
        for (name, service) in services(&self.compose) {
            let env = environment(service);
            if let Some(endpoint) = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                let role = match env.get("OTEL_EXPORTER_OTLP_PROTOCOL").map(String::as_str) {
                    Some(protocol) if protocol.starts_with("http") => "otlp-http",
                    _ => "otlp-grpc",
                };
                dials.push(Dial::new(
                    format!("compose.yaml {name} OTEL_EXPORTER_OTLP_ENDPOINT"),
                    endpoint,
                    Some(Target::exact("otel-collector", role)),
                ));
            }
        }
        dials
    }
}
