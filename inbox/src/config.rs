//! Command-line flags (each with an environment variable) for the inbox.
//!
//! `inbox` alone serves; `inbox healthcheck` probes a running inbox and is
//! what container healthchecks call, because the runtime image has no curl.

use std::net::SocketAddr;
use std::ops::RangeInclusive;

use clap::{Args, Parser, Subcommand};
use cli_values::{duration, socket_addr, whole_number};

use crate::history::RECORD_OVERHEAD;
use crate::listing::LIST_MAX_BYTES;
use crate::size::ByteSize;

/// Default listen address; the port is the one every other component expects.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:5080";

/// Receives alert notifications (Alertmanager webhook v4 and Grafana webhook
/// payloads) and shows the latest ones at `GET /`.
#[derive(Debug, Parser)]
#[command(name = "inbox", version, about, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings of the server (used when no subcommand is given).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the log line
    /// `listening on ADDR` tells which).
    #[arg(long, env = "INBOX_LISTEN", default_value = DEFAULT_LISTEN, value_parser = socket_addr)]
    pub listen: SocketAddr,

    /// Bearer token that senders must present (`Authorization: Bearer TOKEN`).
    /// Required: an inbox that anyone can write to is not an alerting channel.
    #[arg(long, env = "INBOX_TOKEN", required = true, hide_env_values = true)]
    pub token: Option<String>,

    /// How many notifications to keep at most (1 to 10000); the oldest are
    /// dropped first.
    #[arg(long, env = "INBOX_HISTORY", default_value_t = 200,
          value_parser = whole_number(1..=MAX_HISTORY, "200"))]
    pub history: u32,

    /// Most memory the kept notifications may take, counted as the compact
    /// JSON and page summary actually stored (bytes, or with KiB/MiB/GiB,
    /// up to 1GiB); the oldest are dropped first. It bounds the inbox's
    /// memory: see "Inbox memory" in docs/configuration.md.
    #[arg(long, env = "INBOX_HISTORY_BYTES", default_value_t = DEFAULT_HISTORY_BYTES)]
    pub history_bytes: ByteSize,

    /// Links of the runbook (`GET /runbook`) to the stack's components that
    /// run on other addresses than its defaults: `FROM=TO,...`, e.g.
    /// `127.0.0.1:9090=127.0.0.1:19090` (`stack up` sets it when it moved
    /// the ports).
    #[arg(long, env = "INBOX_RUNBOOK_LINKS", default_value = "")]
    pub runbook_links: crate::runbook::Links,

    /// Largest accepted request body, and largest stored payload once every
    /// field is filled in (1KiB to 1MiB); larger ones get 413.
    #[arg(long, env = "INBOX_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: ByteSize,

    /// Time for a request's headers to arrive, and longest idle time of a
    /// keep-alive connection (e.g. `10s`).
    #[arg(long, env = "INBOX_HEADER_TIMEOUT", default_value = "10s",
          value_parser = duration)]
    pub header_timeout: std::time::Duration,

    /// Longest time for a whole request, body included (e.g. `30s`);
    /// slower ones get 408.
    #[arg(long, env = "INBOX_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = duration)]
    pub request_timeout: std::time::Duration,

    /// Most client connections open at once (never more than `ulimit -n`
    /// allows); at the limit a new connection replaces a connection left
    /// idle, a stalled upload, or a connection that has just become idle.
    #[arg(long, env = "INBOX_MAX_CONNECTIONS", default_value_t = 256,
          value_parser = whole_number(1usize..=1_000_000, "256"))]
    pub max_connections: usize,
}

/// Most notifications `--history` may keep.
pub const MAX_HISTORY: u32 = 10_000;

/// Accepted `--max-body`. The top keeps one notification within a listing
/// page ([`LIST_MAX_BYTES`]) and the parse of one body (up to about 30 times
/// its size while it lasts) modest.
pub const MAX_BODY_RANGE: RangeInclusive<ByteSize> = ByteSize::kib(1)..=ByteSize::mib(1);

/// Default `--history-bytes`.
pub const DEFAULT_HISTORY_BYTES: ByteSize = ByteSize::mib(64);

/// Default `--max-body`.
pub const DEFAULT_MAX_BODY: ByteSize = ByteSize::kib(256);

/// Most `--history-bytes`.
pub const MAX_HISTORY_BYTES: ByteSize = ByteSize::gib(1);

const _: () = assert!(
    (MAX_BODY_RANGE.end().0 as usize) + RECORD_OVERHEAD + 2 <= LIST_MAX_BYTES,
    "a listing page must hold the largest notification"
);

/// Settings that cannot work together; each message names the setting, the
/// accepted values and an example.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error(
        "--max-body / INBOX_MAX_BODY is {0}, outside the range {min} to {max}: give a size in it, e.g. --max-body 256KiB",
        min = MAX_BODY_RANGE.start(),
        max = MAX_BODY_RANGE.end()
    )]
    MaxBody(ByteSize),
    #[error(
        "--history-bytes / INBOX_HISTORY_BYTES is {value}, less than one notification may take with \
         --max-body {max_body} ({needed} bytes): give at least that, up to {MAX_HISTORY_BYTES}, e.g. --history-bytes 64MiB"
    )]
    HistoryBytesTooSmall {
        value: ByteSize,
        max_body: ByteSize,
        needed: usize,
    },
    #[error(
        "--history-bytes / INBOX_HISTORY_BYTES is {0}, above {MAX_HISTORY_BYTES}: give a size up to {MAX_HISTORY_BYTES}, e.g. --history-bytes 64MiB"
    )]
    HistoryBytesTooLarge(ByteSize),
}

/// The checked limits the server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most notifications kept.
    pub history: usize,
    /// Most bytes kept, by [`crate::history::Record::footprint`].
    pub history_bytes: usize,
    /// Largest body, and largest stored payload JSON.
    pub max_body: usize,
}

impl Limits {
    /// Most bytes one stored notification can take with this body limit.
    pub fn record_max(max_body: usize) -> usize {
        max_body + RECORD_OVERHEAD
    }
}

impl ServeArgs {
    /// Refuses settings whose bound cannot hold: a body limit out of range,
    /// or a history that could not keep even one notification.
    pub fn limits(&self) -> Result<Limits, LimitsError> {
        if !MAX_BODY_RANGE.contains(&self.max_body) {
            return Err(LimitsError::MaxBody(self.max_body));
        }
        let needed = Limits::record_max(self.max_body.as_usize());
        if self.history_bytes > MAX_HISTORY_BYTES {
            return Err(LimitsError::HistoryBytesTooLarge(self.history_bytes));
        }
        if self.history_bytes.as_usize() < needed {
            return Err(LimitsError::HistoryBytesTooSmall {
                value: self.history_bytes,
                max_body: self.max_body,
                needed,
            });
        }
        Ok(Limits {
            history: self.history as usize,
            history_bytes: self.history_bytes.as_usize(),
            max_body: self.max_body.as_usize(),
        })
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 when the inbox answers `GET /healthz` with 200, 1 otherwise.
    Healthcheck {
        /// URL to probe (plain http only). Defaults to
        /// `http://127.0.0.1:<port of --listen>/healthz`.
        #[arg(long, env = "INBOX_HEALTHCHECK_URL")]
        url: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec!["inbox", "--token", "t"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|cli| cli.serve)
    }

    #[test]
    fn bad_values_name_the_setting_the_form_and_an_example() {
        for (flag, value) in [
            ("--listen", "localhost"),
            ("--history", "0"),
            ("--max-connections", "many"),
            ("--header-timeout", "5"),
        ] {
            let text = serve_args(&[flag, value]).expect_err(value).to_string();
            assert!(text.contains(flag), "{text}");
            assert!(text.contains("such as "), "{text}");
            assert!(text.contains(&format!("got {value:?}")), "{text}");
        }
    }

    fn limits(extra: &[&str]) -> Result<Limits, LimitsError> {
        serve_args(extra).expect("parses").limits()
    }

    #[test]
    fn history_is_capped() {
        assert!(serve_args(&["--history", "10000"]).is_ok());
        let error = serve_args(&["--history", "10001"]).expect_err("above the cap");
        assert!(error.to_string().contains("from 1 to 10000"), "{error}");
    }

    #[test]
    fn defaults_and_the_extremes_are_accepted() {
        let defaults = limits(&[]).expect("defaults");
        assert_eq!(
            defaults,
            Limits {
                history: 200,
                history_bytes: 64 << 20,
                max_body: 256 << 10,
            }
        );
        // Any count goes with any body limit: the byte budget bounds memory.
        assert!(
            limits(&[
                "--history",
                "10000",
                "--max-body",
                "1MiB",
                "--history-bytes",
                "1GiB"
            ])
            .is_ok()
        );
        let needed = Limits::record_max(1024).to_string();
        assert!(limits(&["--max-body", "1KiB", "--history-bytes", &needed]).is_ok());
    }

    #[test]
    fn impossible_settings_are_refused_with_the_setting_and_an_example() {
        let cases: [(&[&str], &str); 4] = [
            (
                &["--max-body", "2MiB"],
                "--max-body / INBOX_MAX_BODY is 2MiB, outside the range 1KiB to 1MiB",
            ),
            (
                &["--max-body", "100"],
                "--max-body / INBOX_MAX_BODY is 100, outside the range",
            ),
            (
                &["--history-bytes", "256KiB"],
                "--history-bytes / INBOX_HISTORY_BYTES is 256KiB, less than one notification",
            ),
            (
                &["--history-bytes", "2GiB"],
                "INBOX_HISTORY_BYTES is 2GiB, above 1GiB",
            ),
        ];
        for (args, expected) in cases {
            let error = limits(args).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
            assert!(error.contains(", e.g. --"), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        let error = serve_args(&["--history-bytes", "64MB"]).expect_err("unit");
        assert!(
            error.to_string().contains("such as 262144 or 64MiB"),
            "{error}"
        );
    }
}
