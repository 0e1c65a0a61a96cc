//! Finding the repository checkout whose files `stack` runs: the configs,
//! `versions.yaml` and the Collector builder manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The checkout: `explicit` (`--repo-dir`), else the current directory,
/// else the checkout that built this binary.
pub fn find(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let looks_right = |dir: &Path| dir.join("versions.yaml").is_file();
    if let Some(dir) = explicit {
        if looks_right(dir) {
            return Ok(dir.canonicalize()?);
        }
        bail!(
            "--repo-dir {}: no versions.yaml there; pass the root of this repository's checkout",
            dir.display()
        );
    }
    let candidates = [
        std::env::current_dir().ok(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| looks_right(dir))
        .context(
            "cannot find the repository (versions.yaml): run from the checkout or pass --repo-dir",
        )
}
