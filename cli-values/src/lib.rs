//! Parsers for settings (flags and their environment variables), used as
//! clap `value_parser`s by the service, the inbox and `stack`.
//!
//! They exist for their error messages: clap puts the setting's name in
//! front (`invalid value 'abc' for '--scrape-interval <..>': `) and these
//! say what the value should look like, with an example, so every binary
//! speaks in one voice: `expected <form> such as <example>, got "<value>"`.
//! The standard library's own messages (`invalid digit found in string`,
//! humantime's `expected number at 0`) name neither.
//!
//! [`error_report`] is the other half of that voice: the one line a binary
//! prints when it stops on an error.
//!
//! When the bad value was read from an environment variable, clap still
//! names only the flag; [`parse_command_line`] and [`note_env_source`] add
//! the variable.

mod env_source;
mod report;

use std::fmt::Display;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

pub use env_source::{note_env_source, parse_command_line};
pub use report::{error_report, with_causes};

/// A duration as humantime reads it: `500ms`, `10s`, `4m`, `1h30m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| expected("a duration", "500ms, 10s, 4m or 1h30m", text))
}

/// A parser for a duration of at least `min` (written as humantime does,
/// e.g. `1s`), for settings where less makes no sense: a zero scrape
/// interval, timeout or run.
pub fn duration_at_least(
    min: Duration,
    example: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |text: &str| {
        let form = format!("a duration of at least {}", humantime::format_duration(min));
        match duration(text) {
            Ok(value) if value >= min => Ok(value),
            _ => Err(expected(&form, example, text)),
        }
    }
}

/// A TCP port; 0 asks the system for a free one.
pub fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| expected("a port from 0 to 65535 (0: any free port)", "5000", text))
}

/// An IP address to listen on.
pub fn ip_addr(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| expected("an IP address", "127.0.0.1, 0.0.0.0 or ::1", text))
}

/// A listen address, `IP:PORT` (port 0: any free port).
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        expected(
            "IP:PORT (port 0: any free port)",
            "127.0.0.1:5000, 0.0.0.0:5000 or [::1]:5000",
            text,
        )
    })
}

/// An address to dial, `HOST:PORT`: a DNS name or an IPv4 address, or an
/// IPv6 address in brackets, and a port from 1. Checked when parsed: the
/// program that dials it would show a typo only when it starts.
pub fn host_port(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let valid = trimmed.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
            None => {
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            }
        };
        let port_ok = port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|port| port != 0);
        host_ok && port_ok
    });
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(expected(
            "HOST:PORT (an IPv6 address in brackets, no scheme)",
            "tempo:4317, 10.0.0.7:4317 or [::1]:4317",
            text,
        ))
    }
}

/// A parser for a whole number in `range`, for
/// `value_parser = whole_number(1..=16, "3")`.
pub fn whole_number<T>(
    range: RangeInclusive<T>,
    example: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let form = format!("a whole number from {} to {}", range.start(), range.end());
        match text.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(expected(&form, example, text)),
        }
    }
}

/// A parser for a decimal number in `range`, for
/// `value_parser = decimal(0.0..=1.0, "0.25")`.
pub fn decimal(
    range: RangeInclusive<f64>,
    example: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |text: &str| {
        let form = format!("a number from {} to {}", range.start(), range.end());
        match text.trim().parse::<f64>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(expected(&form, example, text)),
        }
    }
}

/// The one sentence every parser here answers with.
pub fn expected(form: &str, example: &str, got: &str) -> String {
    format!("expected {form} such as {example}, got {got:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn host_port_is_a_name_or_address_and_a_port() {
        for good in [
            "tempo:4317",
            "10.0.0.7:4317",
            "[::1]:4317",
            " my-host.example:1 ",
        ] {
            assert_eq!(host_port(good).as_deref(), Ok(good.trim()));
        }
        for bad in [
            "nohost",
            "http://tempo:4317",
            ":4317",
            "tempo:0",
            "tempo:port",
            "tempo:+1",
            "",
            "::1:4317",
            "[::1:4317",
            "a:b:4317",
            "tem\tpo:4317",
            "[nohost]:4317",
        ] {
            let error = host_port(bad).expect_err(bad);
            assert!(error.starts_with("expected HOST:PORT"), "{bad}: {error}");
        }
    }

    #[derive(Debug, Parser)]
    struct Settings {
        #[arg(long, value_parser = duration)]
        timeout: Option<Duration>,
        #[arg(long, value_parser = duration_at_least(Duration::from_secs(1), "15s"))]
        interval: Option<Duration>,
        #[arg(long, value_parser = port)]
        port: Option<u16>,
        #[arg(long, value_parser = ip_addr)]
        bind: Option<IpAddr>,
        #[arg(long, value_parser = socket_addr)]
        listen: Option<SocketAddr>,
        #[arg(long, value_parser = whole_number(1u8..=16, "3"))]
        replicas: Option<u8>,
        #[arg(long, value_parser = decimal(0.0..=1.0, "0.25"))]
        ratio: Option<f64>,
    }

    /// clap's whole message for `--flag value`: must be one `error:` line
    /// naming the flag, the form, an example and the value.
    fn refusal(flag: &str, value: &str) -> String {
        let error = Settings::try_parse_from(["bin", flag, value]).expect_err(value);
        let text = error.to_string();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{text}"
        );
        assert!(
            text.contains(flag) && text.contains(&format!("{value:?}")),
            "{text}"
        );
        text
    }

    #[test]
    fn bad_values_name_the_setting_the_form_and_an_example() {
        for (flag, value, says) in [
            ("--timeout", "forever", "a duration such as 500ms"),
            ("--timeout", "5", "a duration such as 500ms"),
            ("--interval", "0s", "a duration of at least 1s such as 15s"),
            ("--interval", "999ms", "a duration of at least 1s"),
            ("--interval", "soon", "a duration of at least 1s"),
            (
                "--port",
                "abc",
                "a port from 0 to 65535 (0: any free port) such as 5000",
            ),
            ("--port", "70000", "a port from 0 to 65535"),
            ("--bind", "localhost", "an IP address such as 127.0.0.1"),
            (
                "--listen",
                "1.2.3",
                "IP:PORT (port 0: any free port) such as 127.0.0.1:5000",
            ),
            ("--listen", "127.0.0.1", "IP:PORT"),
            ("--replicas", "40", "a whole number from 1 to 16 such as 3"),
            ("--replicas", "0", "a whole number from 1 to 16"),
            ("--ratio", "2", "a number from 0 to 1 such as 0.25"),
            ("--ratio", "NaN", "a number from 0 to 1"),
        ] {
            let text = refusal(flag, value);
            assert!(text.contains(says), "{flag} {value}: {text}");
        }
    }

    #[test]
    fn good_values_parse() {
        let settings = Settings::try_parse_from([
            "bin",
            "--timeout",
            "1h30m",
            "--interval",
            "1s",
            "--port",
            "0",
            "--bind",
            "::1",
            "--listen",
            "0.0.0.0:5000",
            "--replicas",
            "16",
            "--ratio",
            "0.5",
        ])
        .expect("valid settings");
        assert_eq!(settings.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(settings.interval, Some(Duration::from_secs(1)));
        assert_eq!(settings.port, Some(0));
        assert_eq!(settings.bind, Some("::1".parse().expect("ip")));
        assert_eq!(
            settings.listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 5000)))
        );
        assert_eq!(settings.replicas, Some(16));
        assert_eq!(settings.ratio, Some(0.5));
    }
}
