//! The pins in `versions.yaml` against what else names a version: compose's
//! image tags and the Collector builder manifest (`otel-collector/builder.yaml`),
//! whose components must be exactly those `otel-collector/config.yaml` uses.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::Problem;
use crate::compose::services;
use crate::files::{array_at, str_at};

/// `repository -> image` of every pin (`prom/prometheus -> prom/prometheus:v3.5.0`).
fn pinned_images(pins: &Value) -> Vec<(String, String)> {
    pins.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, pin)| str_at(pin, "image"))
        .filter_map(|image| {
            let (repository, _) = image.rsplit_once(':')?;
            Some((repository.to_owned(), image.to_owned()))
        })
        .collect()
}

/// Every compose service whose image is a pinned repository must run the
/// pinned tag, and every pin must be run by some service.
pub fn compose_matches_pins(compose: &Value, pins: &Value) -> Vec<Problem> {
    let pinned = pinned_images(pins);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (name, service) in services(compose) {
        let Some(image) = str_at(service, "image") else {
            continue;
        };
        let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
        if let Some((_, pin)) = pinned.iter().find(|(r, _)| r == repository) {
            used.insert(pin.clone());
            if image != pin {
                problems.push(Problem::new(
                    format!("services.{name}.image"),
                    format!("{image} differs from versions.yaml's {pin}"),
                ));
            }
        }
    }
    for (_, pin) in pinned {
        if !used.contains(&pin) {
            problems.push(Problem::new(
                "versions.yaml",
                format!("{pin} is pinned but no compose service runs it"),
            ));
        }
    }
    problems
}

/// The manifest sections, and the config sections whose components they provide.
const KINDS: [(&str, &str); 5] = [
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
    ("connectors", "connector"),
    ("extensions", "extension"),
];

/// `(section, module path, version)` of every `gomod` line of a manifest section.
fn manifest_modules(manifest: &Value, section: &str) -> Vec<(String, String)> {
    array_at(manifest, section)
        .iter()
        .filter_map(|entry| str_at(entry, "gomod"))
        .filter_map(|gomod| {
            let (module, version) = gomod.split_once(' ')?;
            Some((module.to_owned(), version.trim().to_owned()))
        })
        .collect()
}

/// The module a component type comes from by the Collector's naming rule:
/// type without underscores, then its kind (`memory_limiter` processor ->
/// `.../memorylimiterprocessor`).
fn module_name(component_type: &str, kind: &str) -> String {
    format!("{}{kind}", component_type.replace('_', ""))
}

/// The builder manifest provides exactly the components the config uses,
/// each at the pinned version; `dist.version` is the pinned release.
pub fn manifest_matches(manifest: &Value, config: &Value, pin: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let release = str_at(pin, "image")
        .and_then(|i| i.rsplit_once(':'))
        .map_or("", |(_, tag)| tag);
    if str_at(&manifest["dist"], "version") != Some(release) {
        problems.push(Problem::new(
            "dist.version",
            format!("must be the pinned release {release:?}"),
        ));
    }
    let components_version = str_at(pin, "module")
        .and_then(|m| m.split_once('@'))
        .map_or("", |(_, v)| v);
    for (section, kind) in KINDS {
        let modules = manifest_modules(manifest, section);
        let used: BTreeSet<String> = config
            .get(section)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys())
            .map(|id| module_name(id.split('/').next().unwrap_or(id), kind))
            .collect();
        let provided: BTreeSet<String> = modules
            .iter()
            .map(|(module, _)| module.rsplit('/').next().unwrap_or(module).to_owned())
            .collect();
        for missing in used.difference(&provided) {
            problems.push(Problem::new(
                section,
                format!(
                    "config.yaml uses a {kind} that needs module .../{missing}, not in the manifest"
                ),
            ));
        }
        for unused in provided.difference(&used) {
            problems.push(Problem::new(
                section,
                format!(".../{unused} is built in but config.yaml does not use it"),
            ));
        }
        for (module, version) in modules {
            if version != components_version {
                problems.push(Problem::new(
                    section,
                    format!("{module} {version}: must be the pinned {components_version}"),
                ));
            }
        }
    }
    problems
}
