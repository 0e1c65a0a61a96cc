//! Who listens where: every port a compose service listens on, by role.

use std::collections::BTreeMap;

use serde_json::Value;

use super::nginx::nginx_listen_ports;
use super::{Listen, Wiring};
use crate::collector;
use crate::compose::{environment, services};
use crate::files::array_at;

impl Wiring {
    /// Every port a compose service listens on, by role, and the source
    /// that says so.
    pub fn listens(&self) -> BTreeMap<String, Vec<Listen>> {
        let mut listens: BTreeMap<String, Vec<Listen>> = BTreeMap::new();
        let mut add = |host: &str, role: &str, port: u16, source: String| {
            listens.entry(host.to_owned()).or_default().push(Listen {
                role: role.to_owned(),
                port,
                source,
            });
        };
        for (role, port) in collector::listen_ports(&self.collector) {
            add(
                "otel-collector",
                role,
                port,
                format!("otel-collector/config.yaml ({role})"),
            );
        }
        if let Some(port) = self
            .tempo
            .pointer("/server/http_listen_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            add(
                "tempo",
                "http",
                port,
                "tempo/tempo.yaml server.http_listen_port".into(),
            );
        }
        if let Some(port) = self
            .tempo
            .pointer("/distributor/receivers/otlp/protocols/grpc/endpoint")
            .and_then(Value::as_str)
            .and_then(collector::endpoint_port)
        {
            add(
                "tempo",
                "otlp-grpc",
                port,
                "tempo/tempo.yaml distributor otlp grpc".into(),
            );
        }
        for port in nginx_listen_ports(&self.entrypoint) {
            add(
                "entrypoint",
                "http",
                port,
                "entrypoint/nginx.conf listen".into(),
            );
        }
        let services = services(&self.compose);
        for (service, variable) in [("service", "SERVICE_LISTEN"), ("inbox", "INBOX_LISTEN")] {
            if let Some(port) = services
                .get(service)
                .and_then(|s| environment(s).get(variable).cloned())
                .and_then(|listen| collector::endpoint_port(&listen))
            {
                add(
                    service,
                    "http",
                    port,
                    format!("compose.yaml {service} {variable}"),
                );
            }
        }
        // Programs configured by flags only: `--web.listen-address` in
        // compose, else the default their documentation gives.
        for (service, default) in [
            ("prometheus", 9090),
            ("alertmanager", 9093),
            ("node-exporter", 9100),
        ] {
            let flag = services.get(service).and_then(|s| {
                array_at(s, "command")
                    .iter()
                    .filter_map(Value::as_str)
                    .find_map(|arg| arg.strip_prefix("--web.listen-address="))
                    .and_then(collector::endpoint_port)
            });
            match flag {
                Some(port) => add(
                    service,
                    "http",
                    port,
                    format!("compose.yaml {service} --web.listen-address"),
                ),
                None => add(
                    service,
                    "http",
                    default,
                    format!("{service}'s default --web.listen-address"),
                ),
            }
        }
        listens
    }
}
