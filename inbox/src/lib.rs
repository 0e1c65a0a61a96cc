//! The notification inbox: the last stop of the alerting chain.
//!
//! Alertmanager (webhook receiver) and Grafana (webhook contact point) POST
//! their notifications to `/api/notifications` with a bearer token; the inbox
//! keeps the latest ones in a history bounded in count and in bytes, logs one
//! readable line per notification and shows them at `GET /` (HTML) and
//! `GET /api/notifications` (JSON, newest first, a bounded page at a time).
//! It also serves the alert runbook at `GET /runbook`, where the alerts'
//! `runbook_url` annotations point.
//! It runs as its own process, apart from the service it helps watch, so
//! that "the service is down" can still be delivered.

// Modules are private unless the binary or the tests use them; the docs
// are read with their private items (CI: `--document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

pub mod auth;
pub mod config;
mod history;
pub mod html;
pub mod listing;
mod logline;
mod page_cache;
pub mod payload;
pub mod routes;
pub mod runbook;
mod size;
mod summary;

/// The probe of `inbox healthcheck`, shared with the service.
pub use http_server::healthcheck;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;
use http_server::{Drain, Limits, stop_signal};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Cli, Command, ServeArgs};

/// Runs the command line: serve, or probe with `healthcheck`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Healthcheck { url }) => {
            let url = url.unwrap_or_else(|| healthcheck::default_url(cli.serve.listen));
            healthcheck::probe(&url, Duration::from_secs(3))?;
            Ok(())
        }
        None => {
            // Dropped last: the log's last lines are written (for at most
            // about a second) after the server has stopped.
            let _log = init_logging();
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve(cli.serve))
        }
    }
}

/// Binds, logs `listening on ADDR` with the real address, serves until
/// SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = auth::Token::new(args.token.as_deref().unwrap_or_default())?;
    let limits = args.limits()?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another inbox running? choose another with --listen / INBOX_LISTEN)",
            args.listen
        )
    })?;
    let app = routes::app(token, limits, &args.runbook_links).layer(
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, args.request_timeout),
    );
    tracing::info!(
        "keeping up to {} notifications and {} bytes of them; bodies up to {} bytes",
        limits.history,
        limits.history_bytes,
        limits.max_body
    );
    tracing::info!("listening on {}", listener.local_addr()?);
    // Slow and idle senders are cut off like the service's (see `http-server`);
    // the inbox is behind no load balancer, so it stops without a lame duck.
    let connections = Limits {
        header_timeout: args.header_timeout,
        max_head_bytes: 16 * 1024,
        max_connections: args.max_connections,
    };
    let drain = Drain {
        lame_duck: Duration::ZERO,
        grace: Duration::from_secs(5),
    };
    http_server::serve(
        listener,
        app,
        connections,
        drain,
        stop_signal(),
        Arc::new(()),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// Logs to stdout through a thread of its own (`tracing-appender`): a
/// stdout nobody reads (a full pipe) then costs dropped lines, not request
/// workers blocked in a write and an inbox that no longer answers.
fn init_logging() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: under `stack up` the log goes to a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
    guard
}
