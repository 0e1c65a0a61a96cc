//! The CPU drill's switch and its limit on concurrent burns.
//!
//! At most [`CpuDrill::limit`] burns of `GET /api/cpu` run at once (one per
//! core unless `--max-cpu-burns` says otherwise): more answer 429 rather
//! than queueing work, so unauthenticated callers can keep at most that
//! many cores busy. `--cpu-drill off` turns the route into a 404.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{ServeConfig, Switch};

/// The drill's switch and burn permits.
#[derive(Debug, Clone)]
pub struct CpuDrill {
    /// `None` when the drill is off.
    permits: Option<Arc<Semaphore>>,
    limit: usize,
}

/// Why a burn may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `--cpu-drill off`.
    Off,
    /// `limit` burns are already running.
    Busy {
        /// The configured limit.
        limit: usize,
    },
}

impl CpuDrill {
    /// From `--cpu-drill` and `--max-cpu-burns` (default [`default_burn_limit`]).
    pub fn new(config: &ServeConfig) -> Self {
        let limit = config
            .max_cpu_burns
            .map_or_else(default_burn_limit, NonZeroUsize::get);
        let permits = (config.cpu_drill == Switch::On).then(|| Arc::new(Semaphore::new(limit)));
        Self { permits, limit }
    }

    /// Most burns running at once, or `None` when the drill is off.
    pub fn limit(&self) -> Option<usize> {
        self.permits.as_ref().map(|_| self.limit)
    }

    /// A slot for one burn, held until the permit is dropped.
    pub fn try_start(&self) -> Result<OwnedSemaphorePermit, Refused> {
        let permits = self.permits.as_ref().ok_or(Refused::Off)?;
        Arc::clone(permits)
            .try_acquire_owned()
            .map_err(|_| Refused::Busy { limit: self.limit })
    }
}

/// One burn per core this process may run on (CPU affinity and cgroup quota
/// included): a full drill keeps every core busy, which is what the high-CPU
/// alert needs, and nothing more.
pub fn default_burn_limit() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(switch: Switch, max: Option<usize>) -> CpuDrill {
        CpuDrill::new(&ServeConfig {
            cpu_drill: switch,
            max_cpu_burns: max.and_then(NonZeroUsize::new),
            ..ServeConfig::default()
        })
    }

    #[test]
    fn the_limit_is_the_configured_number_else_one_per_core() {
        assert_eq!(drill(Switch::On, Some(3)).limit(), Some(3));
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(drill(Switch::On, None).limit(), Some(cores));
        assert_eq!(drill(Switch::Off, Some(3)).limit(), None);
        assert_eq!(
            drill(Switch::Off, None).try_start().err(),
            Some(Refused::Off)
        );
    }

    #[test]
    fn the_semaphore_holds_exactly_the_limit() {
        let drill = drill(Switch::On, Some(2));
        let first = drill.try_start().expect("first");
        let _second = drill.try_start().expect("second");
        assert_eq!(drill.try_start().err(), Some(Refused::Busy { limit: 2 }));
        drop(first);
        assert!(drill.try_start().is_ok());
    }
}
