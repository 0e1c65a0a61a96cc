//! Asking the test's Prometheus: instant queries and alerting rule state.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub struct Prometheus {
    pub client: reqwest::Client,
    pub base: String,
}

impl Prometheus {
    /// GET an API path; returns `data` of a successful answer.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body: Value = response.json().await.expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// Instant query; returns the result array (a scalar becomes one element).
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let data = self.get("/api/v1/query", &[("query", promql)]).await;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                data["result"].as_array().cloned().unwrap_or_default()
            }
            Some("scalar") | Some("string") => vec![data["result"].clone()],
            other => panic!("unexpected result type {other:?} for {promql}"),
        }
    }

    /// Polls an instant query until it returns data; empty at `deadline`.
    pub async fn wait_non_empty(&self, promql: &str, deadline: Instant) -> Vec<Value> {
        loop {
            let result = self.query(promql).await;
            if !result.is_empty() || Instant::now() >= deadline {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn scalar(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).await;
        let value = result.first()?["value"][1].as_str()?;
        value.parse().ok()
    }

    /// State of an alerting rule: `inactive`, `pending` or `firing`, plus the
    /// `activeAt` of its alert in that same state (when the current episode
    /// went pending), if there is one. `None` when the rule does not exist.
    pub async fn rule_state(&self, alert: &str) -> Option<(String, Option<String>)> {
        let data = self.get("/api/v1/rules", &[("type", "alert")]).await;
        let groups = data["groups"].as_array()?;
        let rule = groups
            .iter()
            .filter_map(|g| g["rules"].as_array())
            .flatten()
            .find(|r| r["name"] == alert)?;
        let state = rule["state"].as_str()?.to_owned();
        let active_at = rule["alerts"]
            .as_array()
            .and_then(|alerts| alerts.iter().find(|a| a["state"] == state.as_str()))
            .and_then(|a| a["activeAt"].as_str())
            .map(str::to_owned);
        Some((state, active_at))
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn rfc3339_to_unix(text: &str) -> f64 {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text))
        .unwrap_or_else(|e| panic!("bad timestamp {text:?}: {e}"))
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
