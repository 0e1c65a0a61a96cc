// Package kubernetes makes the generated part of deploy/kubernetes (a kustomize base) from the
// repository's own files, and its tests check the base offline: kustomize builds it in-process,
// every object is decoded strictly into the Kubernetes API types and the Prometheus Operator's
// monitoring/v1 types, selectors and ports are followed from ServiceMonitor to Service to pod,
// and what was generated still equals its source.
//
// kustomize reads no file outside the base's folder, so the files compose mounts cannot be named
// from there: Generate copies them into deploy/kubernetes/generated/ (byte for byte) and wraps
// prometheus/rules/alerts.yml into a PrometheusRule; `go -C checks/kubernetes run ./cmd/generate`
// writes them, and the tests fail while a generated file differs from what Generate makes.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// BaseDir is the kustomize base, relative to the repository root.
	BaseDir = "deploy/kubernetes"
	// GeneratedDir holds what Generate makes, relative to BaseDir.
	GeneratedDir = "generated"
	// RulesSource is the rule file compose and `stack up` load into Prometheus.
	RulesSource = "prometheus/rules/alerts.yml"
	// RuleFile is the PrometheusRule made from RulesSource, relative to GeneratedDir.
	RuleFile = "prometheusrule.yaml"
	// Command is how to run Generate, for messages.
	Command = "go -C checks/kubernetes run ./cmd/generate"
)

// Copied are the repository files GeneratedDir holds copies of, at the same relative paths.
var Copied = []string{
	"otel-collector/config.yaml",
	"grafana/dashboards/service.json",
	"grafana/provisioning/alerting/rules.yaml",
	"grafana/provisioning/alerting/notifications.yaml",
}

// Generate returns the content of every file of GeneratedDir (by path relative to it), made
// from the repository at root.
func Generate(root string) (map[string][]byte, error) {
	files := make(map[string][]byte, len(Copied)+1)
	for _, rel := range Copied {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil, err
		}
		files[rel] = data
	}
	alerts, err := os.ReadFile(filepath.Join(root, RulesSource))
	if err != nil {
		return nil, err
	}
	rule, err := PrometheusRule(alerts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RulesSource, err)
	}
	files[RuleFile] = rule
	return files, nil
}

// ruleHeader opens the generated PrometheusRule; the source's `groups:` follows under spec.
const ruleHeader = `# Read by the Prometheus Operator (kube-prometheus-stack), which gives the groups to Prometheus as a rule file.
# Wires: GENERATED from ` + RulesSource + ` (its groups, unchanged) by ` + "`" + Command + "`" + `: edit that file, not this one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: service-alerts
  labels:
    app.kubernetes.io/name: service
spec:
`

// PrometheusRule wraps a Prometheus rule file into a PrometheusRule whose spec is the file's
// content: the file's leading comment block (its header, which speaks of that file) is left out,
// every other line is kept, comments included, indented under `spec:`.
func PrometheusRule(rules []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(rules), "\n")
	start := 0
	for start < len(lines) && (strings.HasPrefix(lines[start], "#") || strings.TrimSpace(lines[start]) == "") {
		start++
	}
	if start == len(lines) {
		return nil, fmt.Errorf("no content after the leading comments")
	}
	var out bytes.Buffer
	out.WriteString(ruleHeader)
	for _, line := range lines[start:] {
		// A second document, or a directive, cannot be nested under spec.
		if strings.HasPrefix(line, "---") || strings.HasPrefix(line, "...") || strings.HasPrefix(line, "%") {
			return nil, fmt.Errorf("holds more than one YAML document")
		}
		if strings.TrimSpace(line) != "" {
			out.WriteString("  ")
		}
		out.WriteString(line)
	}
	return out.Bytes(), nil
}

// Write writes what Generate makes into the base of the repository at root.
func Write(root string) error {
	files, err := Generate(root)
	if err != nil {
		return err
	}
	for rel, data := range files {
		path := filepath.Join(root, BaseDir, GeneratedDir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
