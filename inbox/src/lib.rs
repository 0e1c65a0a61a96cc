//! The notification inbox: the last stop of the alerting chain.
//!
//! Alertmanager (webhook receiver) and Grafana (webhook contact point) POST
//! their notifications to `/api/notifications` with a bearer token; the inbox
//! keeps the latest ones in a history bounded in count and in bytes, logs one
//! readable line per notification and shows them at `GET /` (HTML) and
//! `GET /api/notifications` (JSON, newest first, a bounded page at a time).
//! It runs as its own process, apart from the service it helps watch, so
//! that "the service is down" can still be delivered.

pub mod auth;
pub mod config;
pub mod healthcheck;
pub mod history;
pub mod html;
pub mod listing;
pub mod logline;
pub mod payload;
pub mod routes;
pub mod size;
pub mod summary;

use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

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
            init_logging();
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
    let app = routes::app(token, limits);
    tracing::info!(
        "keeping up to {} notifications and {} bytes of them; bodies up to {} bytes",
        limits.history,
        limits.history_bytes,
        limits.max_body
    );
    tracing::info!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (`docker stop`, `kill`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: under `stack up` the log goes to a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
}
