//! What each Grafana query must return on the running stack, so that a
//! panel that shows nothing useful (no data, NaN, a constant fallback)
//! fails the test instead of passing as "non-empty".

use serde_json::Value;

/// Route templates the exact-count load hits ("" is the unmatched path).
pub const LOAD_ROUTES: [&str; 5] = ["/", "/api/items", "/api/items/{id}", "/api/work", ""];

/// What a dashboard query must return seconds after the load, judged from
/// its expression. Every value must also be finite: histogram_quantile over
/// no observations gives NaN, which is not data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// Every value above zero (latency quantiles, increases over the load).
    Positive,
    /// Every value within 0..=1 (a share of CPU time).
    Fraction,
    /// Exactly zero: the load got no 5xx, so the 5xx share is 0 (not merely
    /// the `or vector(0)` fallback being non-empty).
    Zero,
    /// At least this (a counter total that also counts /metrics scrapes).
    AtLeast(f64),
    /// Request rate: every series of a route the load hit above zero.
    LoadRoutesPositive,
    /// Some data, nothing more known.
    Finite,
}

impl Expect {
    /// The expectation for a panel query, given the load sent `sent` requests.
    pub fn of(expr: &str, sent: u64) -> Self {
        if expr.contains("histogram_quantile") {
            Expect::Positive
        } else if expr.contains(r#"=~"5.."#) {
            Expect::Zero
        } else if expr.contains("node_cpu_seconds_total") {
            Expect::Fraction
        } else if expr.contains("rate(http_server_requests_total") {
            Expect::LoadRoutesPositive
        } else if expr.contains("increase(http_server_requests_total") {
            Expect::Positive
        } else if expr.contains("http_server_requests_total") {
            Expect::AtLeast(sent as f64)
        } else {
            Expect::Finite
        }
    }

    /// `Ok` when `result` meets the expectation, else what is wrong.
    pub fn check(self, result: &[Value]) -> Result<(), String> {
        if result.is_empty() {
            return Err("no data".into());
        }
        let mut load_series = 0;
        for sample in result {
            let value = sample_value(sample).ok_or_else(|| format!("no number in {sample}"))?;
            if !value.is_finite() {
                return Err(format!("value {value} in {sample}"));
            }
            let ok = match self {
                Expect::Finite => true,
                Expect::Positive => value > 0.0,
                Expect::Fraction => (0.0..=1.0).contains(&value),
                Expect::Zero => value == 0.0,
                Expect::AtLeast(min) => value >= min,
                Expect::LoadRoutesPositive => {
                    // A series without a route label is a total: it counts.
                    let route = sample["metric"]["http_route"].as_str();
                    if route.is_none_or(|r| LOAD_ROUTES.contains(&r)) {
                        load_series += 1;
                        value > 0.0
                    } else {
                        value >= 0.0
                    }
                }
            };
            if !ok {
                return Err(format!("{sample} does not meet {self:?}"));
            }
        }
        if self == Expect::LoadRoutesPositive && load_series == 0 {
            return Err("no series for the routes the load hit".into());
        }
        Ok(())
    }
}

/// The value of one result element: a vector sample or a scalar.
fn sample_value(sample: &Value) -> Option<f64> {
    let pair = if sample["value"].is_array() {
        &sample["value"]
    } else {
        sample
    };
    // Prometheus writes "NaN" and "+Inf", which parse (and then fail `is_finite`).
    pair[1].as_str()?.parse().ok()
}

/// Whether a relay query result carries the firing Prometheus alert `name`.
/// The relay copies the Prometheus name into `prometheus_alertname` (Grafana
/// overwrites `alertname` with its rule title); older forms of the query
/// keep only `alertname`, so either label is accepted.
pub fn relays(result: &[Value], name: &str) -> bool {
    result
        .iter()
        .any(|s| s["metric"]["prometheus_alertname"] == name || s["metric"]["alertname"] == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(route: Option<&str>, value: &str) -> Value {
        let metric = match route {
            Some(r) => json!({ "http_route": r }),
            None => json!({}),
        };
        json!({ "metric": metric, "value": [1.0, value] })
    }

    #[test]
    fn nan_and_fallback_zero_do_not_pass_as_data() {
        let nan = [sample(None, "NaN")];
        assert!(Expect::Finite.check(&nan).is_err());
        assert!(Expect::Positive.check(&[sample(None, "0")]).is_err());
        assert!(Expect::Positive.check(&[]).is_err());
        assert!(Expect::Zero.check(&[sample(None, "0.5")]).is_err());
        assert!(Expect::Zero.check(&[sample(None, "0")]).is_ok());
    }

    #[test]
    fn request_rate_needs_the_load_routes_moving() {
        let idle = [
            sample(Some("/api/items"), "0"),
            sample(Some("/metrics"), "1"),
        ];
        assert!(Expect::LoadRoutesPositive.check(&idle).is_err());
        let only_scrapes = [sample(Some("/metrics"), "1")];
        assert!(Expect::LoadRoutesPositive.check(&only_scrapes).is_err());
        let busy = [
            sample(Some("/api/items"), "3.5"),
            sample(Some("/readyz"), "0"),
        ];
        assert!(Expect::LoadRoutesPositive.check(&busy).is_ok());
    }

    #[test]
    fn classifies_the_dashboard_queries() {
        let rate = "sum by (http_route) (rate(http_server_requests_total[1m]))";
        assert_eq!(Expect::of(rate, 10), Expect::LoadRoutesPositive);
        let p99 = "histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))";
        assert_eq!(Expect::of(p99, 10), Expect::Positive);
        let spans = "histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_seconds_bucket[1m])))";
        assert_eq!(Expect::of(spans, 10), Expect::Positive);
        assert_eq!(
            Expect::of("sum(http_server_requests_total)", 10),
            Expect::AtLeast(10.0)
        );
    }

    #[test]
    fn relay_accepts_either_label() {
        let new = [json!({ "metric": { "prometheus_alertname": "HostHighCpuUsage" } })];
        let old = [json!({ "metric": { "alertname": "HostHighCpuUsage" } })];
        let other = [json!({ "metric": { "prometheus_alertname": "ServiceDown" } })];
        assert!(relays(&new, "HostHighCpuUsage"));
        assert!(relays(&old, "HostHighCpuUsage"));
        assert!(!relays(&other, "HostHighCpuUsage"));
    }
}
