//! Every link a person follows: the links in README.md, the walkthrough and
//! the runbook that point at a component of the stack, and the links inside
//! a delivered notification, must open on the running native stack.

use std::collections::BTreeMap;

use serde_json::Value;

use super::processes::repo_root;

/// The component behind each port the docs use, by its `stack.json` name.
const DOC_PORTS: [(u16, &str); 6] = [
    (5000, "service-1"),
    (5080, "inbox"),
    (9090, "prometheus"),
    (9093, "alertmanager"),
    (9100, "node_exporter"),
    (13133, "otelcol"),
];

/// Links (`<http://...>` and `[text](http://...)`) to `localhost` or
/// `127.0.0.1` in `file`, outside code blocks: commands in code blocks are
/// examples to run (one of them is meant to get a 404), not links.
pub fn local_links(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(file)).expect("read doc");
    let mut links = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for (open, close) in [("<http", '>'), ("](http", ')')] {
            for part in line.split(open).skip(1) {
                let url = format!("http{}", part.split(close).next().unwrap_or(""));
                if url.contains("://localhost:") || url.contains("://127.0.0.1:") {
                    links.push(url);
                }
            }
        }
    }
    links
}

/// `url` with its `host:port` replaced by where that component runs in
/// this test; `None` for a component that does not run here (Grafana).
pub fn on_this_stack(url: &str, bases: &BTreeMap<&str, String>) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port: u16 = authority.rsplit_once(':')?.1.parse().ok()?;
    let name = DOC_PORTS.iter().find(|(p, _)| *p == port)?.1;
    Some(format!("{}{path}", bases.get(name)?))
}

/// Every absolute URL in a notification: its `externalURL`, and each
/// alert's `generatorURL` and annotations that are URLs.
pub fn notification_urls(notification: &Value) -> Vec<String> {
    let payload = &notification["payload"];
    let mut urls: Vec<String> = payload["externalURL"]
        .as_str()
        .into_iter()
        .map(str::to_owned)
        .collect();
    for alert in payload["alerts"].as_array().into_iter().flatten() {
        urls.extend(alert["generatorURL"].as_str().map(str::to_owned));
        for value in alert["annotations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            if let Some(text) = value.as_str()
                && text.contains("://")
            {
                urls.push(text.to_owned());
            }
        }
    }
    urls
}

/// GETs `url`; the status, or the error.
pub async fn status(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    client
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_come_from_outside_code_blocks_and_map_to_the_running_component() {
        let bases = BTreeMap::from([("prometheus", "http://127.0.0.1:4242".to_owned())]);
        assert_eq!(
            on_this_stack("http://127.0.0.1:9090/alerts", &bases).as_deref(),
            Some("http://127.0.0.1:4242/alerts")
        );
        assert_eq!(on_this_stack("http://localhost:3000/d/x", &bases), None);
        let walkthrough = local_links("docs/walkthrough.md");
        assert!(
            walkthrough.iter().any(|l| l.ends_with("9090/alerts")),
            "{walkthrough:?}"
        );
        assert!(
            !walkthrough.iter().any(|l| l.ends_with("/nope")),
            "{walkthrough:?}"
        );
    }
}
