//! Compiling one program from its Go module into the cache.
//!
//! Every program except the Collector is built inside its downloaded module
//! (`go build ./cmd/x` in the module cache directory), not with
//! `go install module@version`: `go install` refuses modules whose go.mod has
//! `replace` or `exclude` lines (Prometheus), and inside the module its own
//! go.mod, with those lines, decides every dependency, as in upstream's
//! release builds. The Collector is assembled by the OpenTelemetry Collector
//! Builder from `otel-collector/builder.yaml`.
//!
//! A build goes to a scratch folder first and is renamed into place with its
//! `build.json` only when complete, so an interrupted build is never used.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::cache::{BuildInputs, Cache};
use super::error::BuildError;
use super::pins::{Pin, Program};
use super::prometheus_ui;
use super::toolchain::{download, go_command, run};

/// What [`build`] did.
#[derive(Debug)]
pub enum Outcome {
    /// A build of exactly these inputs was already in the cache.
    UpToDate(PathBuf),
    /// Built now, in this long.
    Built(PathBuf, Duration),
}

/// Builds `program` from `inputs` into `cache` unless a build of the same
/// inputs is there. `manifest` is the Collector builder manifest's path.
pub fn build(
    cache: &Cache,
    program: Program,
    pin: &Pin,
    inputs: &BuildInputs,
    manifest: &Path,
) -> Result<Outcome, BuildError> {
    if let Some(bin) = cache.fresh(program, inputs) {
        return Ok(Outcome::UpToDate(bin));
    }
    let go = super::go_binary().ok_or(BuildError::GoMissing)?;
    let started = Instant::now();
    let dir = cache.dir(program, inputs);
    let mut scratch = dir.clone().into_os_string();
    scratch.push(format!(".partial-{}", std::process::id()));
    let scratch = PathBuf::from(scratch);
    remove_abandoned(&dir, program);
    let _ = std::fs::remove_dir_all(&scratch);
    let built = build_into(&go, program, pin, inputs, manifest, &scratch);
    if built.is_err() {
        // Whatever step failed, a half-made build is not left behind.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    built?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&scratch, &dir).map_err(|source| {
        let _ = std::fs::remove_dir_all(&scratch);
        BuildError::Io {
            what: "moving the build into place at",
            path: dir.clone(),
            source,
        }
    })?;
    Ok(Outcome::Built(dir.join("bin"), started.elapsed()))
}

/// Removes the unfinished builds of `program` next to `dir` whose process
/// no longer runs: a build interrupted by Ctrl-C, or by an older `stack`,
/// whose folders end in `.partial-<pid>` too.
fn remove_abandoned(dir: &Path, program: Program) {
    let Some(Ok(entries)) = dir.parent().map(std::fs::read_dir) else {
        return;
    };
    let prefix = format!("{}-", program.key());
    let running =
        |pid: u32| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((stem, pid)) = name.to_str().and_then(|name| name.rsplit_once(".partial-")) else {
            continue;
        };
        if stem.starts_with(&prefix) && pid.parse().is_ok_and(|pid| !running(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Downloads and builds `program` into `scratch`, with its `build.json`.
fn build_into(
    go: &Path,
    program: Program,
    pin: &Pin,
    inputs: &BuildInputs,
    manifest: &Path,
    scratch: &Path,
) -> Result<(), BuildError> {
    let bin = scratch.join("bin");
    create_dir(&bin)?;
    let module = pin.module.as_deref().unwrap_or_default();
    let source = download(go, module)?;
    match program {
        Program::Otelcol => build_collector(go, &source, manifest, scratch)?,
        Program::Prometheus => build_prometheus(go, &source, pin, scratch)?,
        _ => build_packages(go, &source, program, pin, &bin, &[])?,
    }
    let stamp = serde_json::to_string_pretty(inputs).unwrap_or_default();
    write(&scratch.join("build.json"), &stamp)
}

/// `go build` of each main package, inside the module's own directory.
fn build_packages(
    go: &Path,
    source: &Path,
    program: Program,
    pin: &Pin,
    bin: &Path,
    tags: &[&str],
) -> Result<(), BuildError> {
    let mut ldflags = "-s -w".to_owned();
    if let Some(symbol) = program.version_symbol() {
        ldflags.push_str(&format!(" -X {symbol}={}", pin.version()));
    }
    for (package, name) in pin.packages.iter().zip(program.binaries()) {
        let mut command = go_command(go, source);
        command.args(["build", "-trimpath", "-ldflags", &ldflags]);
        if !tags.is_empty() {
            command.arg("-tags").arg(tags.join(","));
        }
        command.arg("-o").arg(bin.join(name)).arg(package);
        run(command)?;
    }
    Ok(())
}

/// Prometheus with its web UI: the UI is built into a writable copy of
/// the module (the module cache is read-only), then embedded.
fn build_prometheus(go: &Path, module: &Path, pin: &Pin, scratch: &Path) -> Result<(), BuildError> {
    let npm = prometheus_ui::npm().ok_or(BuildError::NpmMissing)?;
    let source = scratch.join("src");
    let mut copy = Command::new("cp");
    copy.arg("-R").arg(module).arg(&source);
    run(copy)?;
    let mut writable = Command::new("chmod");
    writable.args(["-R", "u+w"]).arg(&source);
    run(writable)?;
    prometheus_ui::build(&npm, &source)?;
    let bin = scratch.join("bin");
    build_packages(
        go,
        &source,
        Program::Prometheus,
        pin,
        &bin,
        &[prometheus_ui::TAG],
    )?;
    // The copy with the UI's node_modules is only needed to compile.
    let _ = std::fs::remove_dir_all(&source);
    Ok(())
}

/// Builds the Collector builder, then lets it generate and compile the
/// Collector from the manifest into `scratch/bin`.
fn build_collector(
    go: &Path,
    builder_source: &Path,
    manifest: &Path,
    scratch: &Path,
) -> Result<(), BuildError> {
    let builder = scratch.join("builder");
    let mut command = go_command(go, builder_source);
    command
        .args(["build", "-trimpath", "-o"])
        .arg(&builder)
        .arg(".");
    run(command)?;

    let generated = scratch.join("src");
    let mut command = Command::new(&builder);
    command
        .arg("--config")
        .arg(manifest)
        .current_dir(scratch)
        .env("DIST_OUTPUT_PATH", &generated)
        .env("DIST_GO", go)
        .env("CGO_ENABLED", "0")
        .env("GOWORK", "off");
    run(command)?;

    let name = Program::Otelcol.binaries()[0];
    let built = generated.join(name);
    std::fs::rename(&built, scratch.join("bin").join(name)).map_err(|source| BuildError::Io {
        what: "the builder left no Collector binary at",
        path: built,
        source,
    })?;
    // The generated sources are only needed to compile.
    let _ = std::fs::remove_dir_all(&generated);
    let _ = std::fs::remove_file(&builder);
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    std::fs::write(path, text).map_err(|source| BuildError::Io {
        what: "cannot write",
        path: path.to_owned(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(path).map_err(|source| BuildError::Io {
        what: "cannot create",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_leaves_nothing_behind() {
        if super::super::go_binary().is_none() {
            eprintln!("skipped: no Go toolchain (CI installs one)");
            return;
        }
        let cache = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(cache.path().to_owned());
        // Go rejects this module path before asking the proxy.
        let pin = Pin {
            image: "prom/alertmanager:v0.0.0".to_owned(),
            module: Some("not a module@v0.0.0".to_owned()),
            packages: vec!["./cmd/alertmanager".to_owned()],
            go_modules: Default::default(),
        };
        let inputs = BuildInputs::new(&pin, "");
        let error = build(&cache, Program::Alertmanager, &pin, &inputs, Path::new(""))
            .expect_err("no such module");
        assert!(matches!(error, BuildError::Download { .. }), "{error}");
        let programs = cache.root().join("programs");
        let left: Vec<_> = std::fs::read_dir(&programs)
            .expect("the programs folder")
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn builds_abandoned_by_a_process_that_ended_are_removed() {
        let cache = tempfile::tempdir().expect("temp dir");
        let programs = cache.path().join("programs");
        let own = std::process::id();
        let ended = 999_999_999; // above any pid_max
        let folders = [
            ("tempo-2.8.2", true),
            (&format!("tempo-2.8.2.partial-{own}") as &str, true),
            (&format!("tempo-2.8.2.partial-{ended}"), false),
            // An older stack cut the version short.
            (&format!("tempo-2.8.partial-{ended}"), false),
            (&format!("prometheus-3.5.0.partial-{ended}"), true),
        ];
        for (folder, _) in &folders {
            std::fs::create_dir_all(programs.join(folder).join("bin")).expect("folder");
        }
        remove_abandoned(&programs.join("tempo-2.8.2"), Program::Tempo);
        for (folder, kept) in folders {
            assert_eq!(programs.join(folder).exists(), kept, "{folder}");
        }
    }
}
