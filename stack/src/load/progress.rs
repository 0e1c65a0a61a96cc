//! The progress bar (drawn only on a terminal, hidden with `--json`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Limit;
use super::drive::Shared;

/// Draws the progress bar (only on a terminal) until the run stops.
pub fn spawn_progress(shared: Arc<Shared>, quiet: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let bar = match shared.plan.limit {
            Limit::Requests(n) => ProgressBar::new(n),
            Limit::Duration(d) => ProgressBar::new(d.as_secs().max(1)),
        };
        if quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let template = match shared.plan.limit {
            Limit::Requests(_) => "{bar:40} {pos}/{len} requests {msg}",
            Limit::Duration(_) => "{bar:40} {pos}/{len}s {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let done = shared
                .stats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .completed();
            let secs = shared.started.elapsed().as_secs_f64();
            match shared.plan.limit {
                Limit::Requests(_) => bar.set_position(done),
                Limit::Duration(_) => bar.set_position(secs as u64),
            }
            bar.set_message(format!(
                "{done} done, {:.0} req/s",
                done as f64 / secs.max(0.001)
            ));
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        bar.finish_and_clear();
    })
}
