//! Shared state handed to every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// Slots for `GET /api/work` waits (see `--max-work-waits`).
    work_waits: Arc<Semaphore>,
    max_work_waits: usize,
}

impl AppState {
    /// State with the sample items, the given metrics pipeline and CPU
    /// drill, and at most `max_work_waits` waits of `GET /api/work` at once.
    pub fn new(metrics: Arc<Metrics>, cpu_drill: CpuDrill, max_work_waits: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                items: ItemStore::new(),
                metrics,
                ready: AtomicBool::new(true),
                cpu_drill,
                work_waits: Arc::new(Semaphore::new(max_work_waits)),
                max_work_waits,
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

    /// A slot for one `/api/work` wait, held until the permit is dropped,
    /// or the limit when every slot is taken.
    pub fn try_start_wait(&self) -> Result<OwnedSemaphorePermit, usize> {
        Arc::clone(&self.inner.work_waits)
            .try_acquire_owned()
            .map_err(|_| self.inner.max_work_waits)
    }
}
