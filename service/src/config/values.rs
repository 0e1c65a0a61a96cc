//! Parsers of the settings whose values clap cannot check by itself, and the
//! types they produce. Each error names the accepted form with an example;
//! clap prefixes it with the setting's name.

use std::num::NonZeroUsize;
use std::time::Duration;

/// Parsed `OTEL_RESOURCE_ATTRIBUTES`: `(key, value)` pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes(pub Vec<(String, String)>);

/// Longest accepted duration. Every duration setting is a timeout or a
/// delay of seconds or minutes: a longer one is almost surely a typo (`5h`
/// for `5s`), which would make shutdown or a hung request wait for hours.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses durations the way `humantime` writes them (`250ms`, `10s`, `2m`,
/// `1m 30s`), at most an hour; a bare number is seconds (`3`,
/// `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).map_err(|err| err.to_string()),
        Err(_) => humantime::parse_duration(text).map_err(|err| err.to_string()),
    };
    match parsed {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        Ok(_) => Err(format!("at most 1h, got {text:?}")),
        Err(err) => Err(format!(
            "expected a duration like 500ms, 10s or 2m ({err}), got {text:?}"
        )),
    }
}

/// Parses a duration whose bare number means milliseconds (the unit of the
/// `OTEL_BSP_*` delays), else like [`parse_duration`]; zero and more than
/// an hour are refused.
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<f64>() {
        Ok(millis) => Duration::try_from_secs_f64(millis / 1000.0).map_err(|err| err.to_string()),
        Err(_) => parse_duration(trimmed),
    };
    parsed
        .ok()
        .filter(|delay| !delay.is_zero() && *delay <= MAX_DURATION)
        .ok_or_else(|| {
            format!("expected milliseconds like 500, or a duration like 500ms or 2s (not zero, at most 1h), got {text:?}")
        })
}

/// Parses `key1=value1,key2=value2` as the OpenTelemetry spec defines it
/// (values may be percent-encoded; a bare `%` is kept as is).
pub fn parse_resource_attributes(text: &str) -> Result<ResourceAttributes, String> {
    let mut pairs = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!(
                "expected key=value pairs separated by commas, got {item:?}"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("empty key in {item:?}: expected key=value"));
        }
        let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
        pairs.push((key.to_owned(), value.into_owned()));
    }
    Ok(ResourceAttributes(pairs))
}

/// Highest `--max-cpu-burns`: far above any core count, low enough that a
/// typo cannot ask for millions of blocking threads.
pub const MAX_CPU_BURNS: usize = 4096;

/// Accepts a number of concurrent CPU burns, 1 to [`MAX_CPU_BURNS`].
pub fn parse_burn_limit(text: &str) -> Result<NonZeroUsize, String> {
    text.trim()
        .parse::<NonZeroUsize>()
        .ok()
        .filter(|limit| limit.get() <= MAX_CPU_BURNS)
        .ok_or_else(|| {
            format!(
                "expected a whole number from 1 to {MAX_CPU_BURNS}, e.g. 2 (to turn the drill off use --cpu-drill off), got {text:?}"
            )
        })
}

/// Accepts `http://host:port`. The exporter speaks plain gRPC only (the
/// Collector runs beside the service), so an https endpoint, or a bare
/// `host:port` that might mean one, is refused here rather than failing
/// later, at export time.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("expected a URL like http://localhost:4317, got {text:?}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) => Ok(text.to_owned()),
        (Some("https"), _) => Err(format!(
            "this build exports without TLS: expected a URL like http://localhost:4317 (for https, export to a Collector beside the service and let it forward over TLS), got {text:?}"
        )),
        _ => Err(format!(
            "expected a URL like http://localhost:4317 (scheme http and a host), got {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(parse_endpoint("http://otel-collector:4317").is_ok());
        assert!(parse_endpoint("otel-collector:4317").is_err());
        let https = parse_endpoint("https://otel-collector:4317").expect_err("no TLS");
        assert!(https.contains("without TLS"), "{https}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("-1").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn resource_attributes() {
        let parsed = parse_resource_attributes("deployment.environment=dev, team=a%2Cb")
            .expect("valid attributes");
        assert_eq!(
            parsed.0,
            vec![
                ("deployment.environment".to_owned(), "dev".to_owned()),
                ("team".to_owned(), "a,b".to_owned()),
            ]
        );
        assert!(parse_resource_attributes("novalue").is_err());
        let signed = parse_resource_attributes("a=%+f").expect("valid attributes");
        assert_eq!(signed.0, vec![("a".to_owned(), "%+f".to_owned())]);
    }

    #[test]
    fn millisecond_delays() {
        assert_eq!(parse_millis("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_millis("0.5"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_millis("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_millis("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_millis("3600000"), Ok(MAX_DURATION));
        for bad in ["0", "soon", "-5", "5h", "3600001", "1e22"] {
            let error = parse_millis(bad).expect_err(bad);
            assert!(error.contains("milliseconds like 500"), "{error}");
        }
    }

    #[test]
    fn burn_limits() {
        assert_eq!(parse_burn_limit("4").map(NonZeroUsize::get), Ok(4));
        for bad in ["0", "-1", "two", "4097"] {
            let error = parse_burn_limit(bad).expect_err(bad);
            assert!(error.contains("1 to 4096"), "{error}");
        }
    }
}
