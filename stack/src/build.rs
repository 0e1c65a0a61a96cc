//! `stack build`: the stack's Go programs built at their pins, into the
//! cache `stack up` and the tests use.

use std::process::ExitCode;

use crate::cli::BuildArgs;
use crate::programs::cache::{self, Cache};
use crate::programs::pins::{self, Pins, Program};
use crate::programs::{Builds, build_all};

/// `stack build`: builds the named programs (all by default).
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let repo = crate::repo::find(args.repo_dir.as_deref())?;
    let pins = Pins::load(&repo)?;
    let cache = Cache::new(args.cache_dir.unwrap_or_else(cache::default_root));
    let programs: Vec<Program> = if args.programs.is_empty() {
        pins::BUILT.to_vec()
    } else {
        args.programs
    };
    let Builds { built, failed } = build_all(&cache, &repo, &pins, &programs);
    if args.print_path {
        let dirs: Vec<String> = built
            .iter()
            .map(|(_, bin)| bin.display().to_string())
            .collect();
        println!("{}", dirs.join(":"));
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
