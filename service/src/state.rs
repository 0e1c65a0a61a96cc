//! Shared state handed to every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cpu_drill::CpuDrill;
use crate::metrics::Metrics;
use crate::store::ItemStore;

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
    cpu_drill: CpuDrill,
}

impl AppState {
    /// State with the sample items, the given metrics pipeline and CPU drill.
    pub fn new(metrics: Arc<Metrics>, cpu_drill: CpuDrill) -> Self {
        Self {
            inner: Arc::new(Inner {
                items: ItemStore::new(),
                metrics,
                ready: AtomicBool::new(true),
                cpu_drill,
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

    /// The CPU drill's switch and burn limit.
    pub fn cpu_drill(&self) -> &CpuDrill {
        &self.inner.cpu_drill
    }
}
