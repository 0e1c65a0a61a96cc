//! Every configuration file starts with a two-line comment: line 1 which
//! program reads it (`# Read by ...`), line 2 what it wires (`# Wires: ...`).
//! JSON cannot carry comments, so dashboards say it in their `description`.

use checks::files::{list, load_json, read, str_at};
use checks::repo_root;

#[test]
fn config_files_start_with_a_two_line_header() {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in [
        "prometheus",
        "prometheus/rules",
        "prometheus/tests",
        "alertmanager",
        "otel-collector",
        "tempo",
        "grafana/provisioning/datasources",
        "grafana/provisioning/dashboards",
        "grafana/provisioning/alerting",
        "grafana/optional/alerting",
        "deploy/kubernetes",
        "deploy/kubernetes/generated",
        ".",
    ] {
        files.extend(list(&root.join(dir), &[".yml", ".yaml"]).unwrap_or_else(|e| panic!("{e}")));
    }
    for extra in [
        "service/Dockerfile",
        "inbox/Dockerfile",
        ".dockerignore",
        ".env.example",
        "entrypoint/nginx.conf",
    ] {
        files.push(root.join(extra));
    }
    assert!(files.len() >= 15, "found only {files:?}");
    for file in files {
        let text = read(&file).unwrap_or_else(|e| panic!("{e}"));
        if let Some(problem) = header_problem(&text) {
            panic!("{}: {problem}", file.display());
        }
    }
    for file in list(&root.join("grafana/dashboards"), &[".json"]).unwrap_or_else(|e| panic!("{e}"))
    {
        let dashboard = load_json(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            str_at(&dashboard, "description").is_some_and(|d| d.len() > 40),
            "{} has no description",
            file.display()
        );
    }
}

/// Why `text` does not open with the convention's header, or `None` if it
/// does: `# Read by <program>...` then `# Wires: <what>`, each saying
/// something after the prefix.
fn header_problem(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let (first, second) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let said = |line: &str, prefix: &str| {
        line.strip_prefix(prefix)
            .is_some_and(|rest| rest.trim().len() >= 5)
    };
    if !said(first, "# Read by ") {
        return Some(format!(
            "line 1 must say which program reads the file (`# Read by ...`), got {first:?}"
        ));
    }
    if !said(second, "# Wires: ") {
        return Some(format!(
            "line 2 must say what the file wires (`# Wires: ...`), got {second:?}"
        ));
    }
    None
}

/// The header check rejects what the convention rules out.
#[test]
fn header_check_rejects_other_headers() {
    let good = "# Read by Prometheus (compose).\n# Wires: scrape jobs.\nglobal: {}\n";
    assert_eq!(header_problem(good), None);
    for bad in [
        "# Prometheus configuration file.\n# Scrapes everything we run.\n",
        "# Wires: scrape jobs.\n# Read by Prometheus (compose).\n",
        "# Read by Prometheus (compose).\nglobal: {}\n",
        "# Read by Prometheus (compose).\n# Wires:\n",
        "global: {}\n",
    ] {
        assert!(header_problem(bad).is_some(), "accepted {bad:?}");
    }
}
