//! Command-line flags (each with an environment variable) for the inbox.
//!
//! `inbox` alone serves; `inbox healthcheck` probes a running inbox and is
//! what container healthchecks call, because the runtime image has no curl.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

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
    #[arg(long, env = "INBOX_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Bearer token that senders must present (`Authorization: Bearer TOKEN`).
    /// Required: an inbox that anyone can write to is not an alerting channel.
    #[arg(long, env = "INBOX_TOKEN", required = true, hide_env_values = true)]
    pub token: Option<String>,

    /// How many notifications to keep in memory (1 to 10000); older ones
    /// are dropped. Together with --max-body it bounds the inbox's memory.
    #[arg(long, env = "INBOX_HISTORY", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=MAX_HISTORY))]
    pub history: u32,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "INBOX_MAX_BODY", default_value_t = 256 * 1024)]
    pub max_body: usize,

    /// Time for a request's headers to arrive, and longest idle time of a
    /// keep-alive connection (e.g. `10s`).
    #[arg(long, env = "INBOX_HEADER_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,

    /// Longest time for a whole request, body included (e.g. `30s`);
    /// slower ones get 408.
    #[arg(long, env = "INBOX_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,

    /// Most client connections open at once (never more than `ulimit -n`
    /// allows); at the limit a new connection replaces the oldest idle one.
    #[arg(long, env = "INBOX_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
}

/// Most notifications `--history` may keep.
pub const MAX_HISTORY: i64 = 10_000;

/// Most bytes of notifications the history may hold in the worst case
/// (every kept notification as large as the body limit).
pub const MAX_HISTORY_BYTES: u64 = 1 << 30;

/// `--history` times `--max-body` could hold more than [`MAX_HISTORY_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error(
    "--history {history} x --max-body {max_body} could keep up to {} MiB of notifications in memory \
     (limit {} MiB): lower INBOX_HISTORY or INBOX_MAX_BODY",
    worst_case(*.history, *.max_body) >> 20,
    MAX_HISTORY_BYTES >> 20
)]
pub struct HistoryTooLarge {
    pub history: u32,
    pub max_body: usize,
}

fn worst_case(history: u32, max_body: usize) -> u64 {
    u64::from(history).saturating_mul(u64::try_from(max_body).unwrap_or(u64::MAX))
}

impl ServeArgs {
    /// Refuses settings whose worst case would not fit the memory bound.
    pub fn check_memory_bound(&self) -> Result<(), HistoryTooLarge> {
        if worst_case(self.history, self.max_body) > MAX_HISTORY_BYTES {
            return Err(HistoryTooLarge {
                history: self.history,
                max_body: self.max_body,
            });
        }
        Ok(())
    }
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
    fn history_is_capped() {
        assert!(serve_args(&["--history", "10000"]).is_ok());
        let error = serve_args(&["--history", "10001"]).expect_err("above the cap");
        assert!(error.to_string().contains("1..=10000"), "{error}");
    }

    #[test]
    fn history_times_body_limit_is_bounded() {
        let defaults = serve_args(&[]).expect("defaults");
        assert!(defaults.check_memory_bound().is_ok());
        let huge = serve_args(&["--history", "10000", "--max-body", "1048576"]).expect("parses");
        let error = huge
            .check_memory_bound()
            .expect_err("10000 x 1 MiB is too much");
        assert!(error.to_string().contains("INBOX_HISTORY"), "{error}");
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
