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

    /// How many notifications to keep in memory; older ones are dropped.
    #[arg(long, env = "INBOX_HISTORY", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub history: u32,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "INBOX_MAX_BODY", default_value_t = 256 * 1024)]
    pub max_body: usize,
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
