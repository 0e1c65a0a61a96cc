package kubernetes

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"monitored-service/checks/gotest"
)

// release is the Helm release name the base is labelled for: kube-prometheus-stack's Prometheus
// selects ServiceMonitors and PrometheusRules labelled release=<its release name> (the chart's
// default serviceMonitorSelector and ruleSelector), and ignores the others without a word.
const release = "kube-prometheus-stack"

// valuesFile holds the kube-prometheus-stack settings the base relies on, next to it.
const valuesFile = "kube-prometheus-stack.values.yaml"

// chartDatasources are the Grafana data source uids kube-prometheus-stack provisions itself.
var chartDatasources = []string{"prometheus", "alertmanager"}

// sidecar is one of the Grafana chart's sidecars (grafana.sidecar.dashboards / .alerts).
type sidecar struct {
	Enabled         *bool  `json:"enabled"`
	Label           string `json:"label"`
	LabelValue      string `json:"labelValue"`
	SearchNamespace string `json:"searchNamespace"`
}

// relabel is one of Prometheus's relabel rules, the fields the checks read.
type relabel struct {
	Action string `json:"action"`
	Regex  string `json:"regex"`
}

// values is the part of valuesFile the checks read.
type values struct {
	Prometheus struct {
		PrometheusSpec struct {
			EnableFeatures                          []string          `json:"enableFeatures"`
			ServiceMonitorSelectorNilUsesHelmValues *bool             `json:"serviceMonitorSelectorNilUsesHelmValues"`
			RuleSelectorNilUsesHelmValues           *bool             `json:"ruleSelectorNilUsesHelmValues"`
			ExternalLabels                          map[string]string `json:"externalLabels"`
			AdditionalAlertRelabelConfigs           []relabel         `json:"additionalAlertRelabelConfigs"`
		} `json:"prometheusSpec"`
	} `json:"prometheus"`
	Grafana struct {
		Sidecar struct {
			Dashboards sidecar `json:"dashboards"`
			Alerts     sidecar `json:"alerts"`
		} `json:"sidecar"`
		AdditionalDataSources []struct {
			UID string `json:"uid"`
		} `json:"additionalDataSources"`
	} `json:"grafana"`
}

func loadValues(t *testing.T, dir string) values {
	t.Helper()
	var v values
	decodeYAML(t, filepath.Join(dir, valuesFile), &v)
	return v
}

// selectionProblems: every object that kube-prometheus-stack picks up by label carries that label
// (the `release` label for the Operator, the sidecars' labels for Grafana), and the values file
// configures the sidecars to look for exactly those labels in the base's namespace.
func selectionProblems(t *testing.T, e env) []string {
	var problems []string
	v := loadValues(t, e.dir)
	spec := v.Prometheus.PrometheusSpec
	for _, setting := range []struct {
		name  string
		value *bool
	}{
		{"serviceMonitorSelectorNilUsesHelmValues", spec.ServiceMonitorSelectorNilUsesHelmValues},
		{"ruleSelectorNilUsesHelmValues", spec.RuleSelectorNilUsesHelmValues},
	} {
		if setting.value == nil || !*setting.value {
			problems = append(problems, fmt.Sprintf("%s: prometheus.prometheusSpec.%s must be true: the base relies on the release label", valuesFile, setting.name))
		}
	}
	// The rules' runbook links start with the external label runbook_base, as compose's Prometheus
	// has it; it must not reach Alertmanager as a label.
	var compose struct {
		Global struct {
			ExternalLabels map[string]string `json:"external_labels"`
		} `json:"global"`
	}
	decodeYAML(t, filepath.Join(repoRoot(t), "prometheus", "prometheus.yml"), &compose)
	if want := compose.Global.ExternalLabels["runbook_base"]; spec.ExternalLabels["runbook_base"] != want {
		problems = append(problems, fmt.Sprintf("%s: prometheus.prometheusSpec.externalLabels.runbook_base must be %q, as in prometheus/prometheus.yml (the rules' runbook links start with it)", valuesFile, want))
	}
	if !slices.Contains(spec.AdditionalAlertRelabelConfigs, relabel{Action: "labeldrop", Regex: "runbook_base"}) {
		problems = append(problems, valuesFile+": prometheus.prometheusSpec.additionalAlertRelabelConfigs must drop runbook_base (a link for annotations, not an alert label)")
	}
	if !slices.Contains(spec.EnableFeatures, "exemplar-storage") {
		problems = append(problems, valuesFile+": prometheus.prometheusSpec.enableFeatures lacks exemplar-storage (the span metrics' trace ids)")
	}
	for _, o := range e.objects {
		var labels map[string]string
		switch value := o.value.(type) {
		case *monitoringv1.ServiceMonitor:
			labels = value.Labels
		case *monitoringv1.PrometheusRule:
			labels = value.Labels
		default:
			continue
		}
		if labels["release"] != release {
			problems = append(problems, fmt.Sprintf("%s has release=%q, not release=%s: kube-prometheus-stack's Prometheus ignores it",
				o, labels["release"], release))
		}
	}
	for _, source := range configMapSources {
		if source.sidecar == "" {
			continue
		}
		configMap, err := find[*corev1.ConfigMap](e.objects, "ConfigMap", source.configMap)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		car := map[string]sidecar{"dashboards": v.Grafana.Sidecar.Dashboards, "alerts": v.Grafana.Sidecar.Alerts}[source.sidecar]
		where := fmt.Sprintf("ConfigMap %s (%s)", configMap.Name, source.source)
		switch value, ok := configMap.Labels[car.Label]; {
		case car.Label == "":
			problems = append(problems, fmt.Sprintf("%s: grafana.sidecar.%s.label is not set", valuesFile, source.sidecar))
		case !ok || (car.LabelValue != "" && value != car.LabelValue):
			problems = append(problems, fmt.Sprintf("%s lacks label %s=%q: Grafana's %s sidecar does not load it",
				where, car.Label, car.LabelValue, source.sidecar))
		}
		if car.SearchNamespace != "ALL" && car.SearchNamespace != configMap.Namespace {
			problems = append(problems, fmt.Sprintf("%s: grafana.sidecar.%s.searchNamespace %q does not include namespace %s of %s",
				valuesFile, source.sidecar, car.SearchNamespace, configMap.Namespace, where))
		}
		if source.sidecar == "alerts" && (car.Enabled == nil || !*car.Enabled) {
			problems = append(problems, fmt.Sprintf("%s: grafana.sidecar.alerts.enabled must be true (the chart's default is false) for %s", valuesFile, where))
		}
	}
	problems = append(problems, datasourceProblems(t, e, v)...)
	return problems
}

// datasourceProblems: every data source uid the dashboard and the alerting files name is one
// kube-prometheus-stack provisions, or one the values file adds.
func datasourceProblems(t *testing.T, e env, v values) []string {
	known := slices.Clone(chartDatasources)
	for _, ds := range v.Grafana.AdditionalDataSources {
		known = append(known, ds.UID)
	}
	var problems []string
	for _, source := range configMapSources {
		if source.sidecar == "" {
			continue
		}
		var document any
		if err := yaml.Unmarshal(gotest.ReadFile(t, filepath.Join(e.root, source.source)), &document); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", source.source, err))
			continue
		}
		for _, uid := range datasourceUIDs(document) {
			if !slices.Contains(known, uid) {
				problems = append(problems, fmt.Sprintf("%s uses data source uid %q, which kube-prometheus-stack does not provision (%v; add it to %s)",
					source.source, uid, known, valuesFile))
			}
		}
	}
	return problems
}

// datasourceUIDs lists the uids of `datasource: {uid}` objects and `datasourceUid` fields in a
// Grafana document, leaving out Grafana's built-in expression and mixed sources.
func datasourceUIDs(document any) []string {
	var uids []string
	var walk func(any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			for key, value := range n {
				if uid, ok := value.(string); ok && key == "datasourceUid" {
					uids = append(uids, uid)
				}
				if ds, ok := value.(map[string]any); ok && key == "datasource" {
					if uid, ok := ds["uid"].(string); ok {
						uids = append(uids, uid)
					}
				}
				walk(value)
			}
		case []any:
			for _, item := range n {
				walk(item)
			}
		}
	}
	walk(document)
	var kept []string
	for _, uid := range uids {
		if uid != "__expr__" && uid != "-- Mixed --" && uid != "-- Grafana --" && !slices.Contains(kept, uid) {
			kept = append(kept, uid)
		}
	}
	return kept
}

// jsonString is for messages: a value as compact JSON.
func jsonString(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
