//! Shared state handed to every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::metrics::Metrics;
use crate::routes::ItemStore;

/// Cheap to clone: one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    items: ItemStore,
    metrics: Arc<Metrics>,
    ready: AtomicBool,
    burns: AtomicUsize,
}

impl AppState {
    /// State with the sample items and the given metrics pipeline.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                items: ItemStore::new(),
                metrics,
                ready: AtomicBool::new(true),
                burns: AtomicUsize::new(0),
            }),
        }
    }

    /// The item store.
    pub fn items(&self) -> &ItemStore {
        &self.inner.items
    }

    /// The metrics pipeline.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    /// Makes `/readyz` answer 503 (called when shutdown starts).
    pub fn set_not_ready(&self) {
        self.inner.ready.store(false, Ordering::Relaxed);
    }

    pub(crate) fn burns(&self) -> &AtomicUsize {
        &self.inner.burns
    }
}
