//! Every configuration file starts with a two-line comment: which program
//! reads it and what it wires. JSON cannot carry comments, so dashboards say
//! it in their `description`.

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
        ".",
    ] {
        files.extend(list(&root.join(dir), &[".yml", ".yaml"]).unwrap_or_else(|e| panic!("{e}")));
    }
    for extra in [
        "service/Dockerfile",
        "inbox/Dockerfile",
        ".dockerignore",
        ".env.example",
    ] {
        files.push(root.join(extra));
    }
    assert!(files.len() >= 15, "found only {files:?}");
    for file in files {
        let text = read(&file).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().take(2).collect();
        assert!(
            lines.len() == 2 && lines.iter().all(|l| l.starts_with("# ") && l.len() > 10),
            "{} does not start with a two-line `# ` header",
            file.display()
        );
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
