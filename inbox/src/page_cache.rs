//! The `GET /` page, built once per version of the history and shared.
//!
//! A page is up to about 4.6 MB. Built for each request, 256 clients that
//! asked for it and did not read held 1.02 GB; shared as [`Bytes`], they
//! hold references to one copy per version they were sent (15 MB
//! measured, docs/configuration.md).

use axum::body::Bytes;
use tokio::sync::Mutex;

/// The newest page built, and the history version it shows.
#[derive(Debug, Default)]
pub struct PageCache {
    page: Mutex<Option<(u64, Bytes)>>,
}

impl PageCache {
    /// The page of history `version`, made by `build` unless a page of that
    /// version, or a newer one, is already built. Requests that arrive
    /// during a build wait for it rather than each building their own.
    pub async fn get_or_build(&self, version: u64, build: impl FnOnce() -> Bytes) -> Bytes {
        let mut cached = self.page.lock().await;
        if let Some((built_at, page)) = cached.as_ref()
            && *built_at >= version
        {
            return page.clone();
        }
        let page = build();
        *cached = Some((version, page.clone()));
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_is_built_once_per_version_and_shared() {
        let cache = PageCache::default();
        let mut builds = 0;
        let mut get = async |version: u64| {
            cache
                .get_or_build(version, || {
                    builds += 1;
                    Bytes::from(format!("page {version}"))
                })
                .await
        };
        let first = get(1).await;
        let again = get(1).await;
        assert_eq!(again.as_ptr(), first.as_ptr(), "the same bytes, not a copy");
        assert_eq!(get(2).await, "page 2");
        // A request that read the history before the last change gets the
        // newer page rather than rebuilding the older one.
        assert_eq!(get(1).await, "page 2");
        assert_eq!(builds, 2);
    }
}
