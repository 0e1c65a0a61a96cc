package kubernetes

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"monitored-service/checks/gotest"
)

// configMapSources says which repository file each built ConfigMap key must equal, and which of
// Grafana's sidecars loads it ("" for none).
var configMapSources = []struct {
	configMap, key, source, sidecar string
}{
	{"otel-collector-config", "config.yaml", "otel-collector/config.yaml", ""},
	{"grafana-dashboards", "monitored-service-overview.json", "grafana/dashboards/service.json", "dashboards"},
	{"grafana-alerting", "monitored-service-rules.yaml", "grafana/provisioning/alerting/rules.yaml", "alerts"},
	{"grafana-alerting", "monitored-service-notifications.yaml", "grafana/provisioning/alerting/notifications.yaml", "alerts"},
}

// shippedDirs are the folders every file of which compose gives Grafana: each must reach a
// ConfigMap too, so a dashboard or alerting file added for compose is not forgotten here.
var shippedDirs = []string{"grafana/dashboards", "grafana/provisioning/alerting"}

// sourcesProblems: one source for each file. The generated files are what Generate makes now;
// the built ConfigMaps hold the repository files byte for byte; the PrometheusRule's groups equal
// prometheus/rules/alerts.yml's group for group; the Collector runs the config its ConfigMap holds.
func sourcesProblems(t *testing.T, e env) []string {
	problems := generatedProblems(e)
	for _, source := range configMapSources {
		configMap, err := find[*corev1.ConfigMap](e.objects, "ConfigMap", source.configMap)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		data, ok := configMap.Data[source.key]
		if !ok {
			problems = append(problems, fmt.Sprintf("ConfigMap %s has no key %s (for %s)", configMap.Name, source.key, source.source))
			continue
		}
		if data != string(gotest.ReadFile(t, filepath.Join(e.root, source.source))) {
			problems = append(problems, fmt.Sprintf("ConfigMap %s key %s differs from %s", configMap.Name, source.key, source.source))
		}
	}
	for _, dir := range shippedDirs {
		entries, err := os.ReadDir(filepath.Join(e.root, dir))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, entry := range entries {
			rel := path.Join(dir, entry.Name())
			shipped := false
			for _, source := range configMapSources {
				shipped = shipped || source.source == rel
			}
			if !entry.IsDir() && !shipped {
				problems = append(problems, fmt.Sprintf("%s reaches Grafana under compose but no ConfigMap here (configMapSources, kustomization.yaml)", rel))
			}
		}
	}
	problems = append(problems, ruleProblems(t, e)...)
	problems = append(problems, configMountProblems(e)...)
	return problems
}

// generatedProblems: the base's generated/ holds exactly what Generate makes from the repository.
func generatedProblems(e env) []string {
	want, err := Generate(e.root)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	dir := filepath.Join(e.dir, GeneratedDir)
	found := map[string]bool{}
	err = filepath.WalkDir(dir, func(file string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		found[rel] = true
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		switch expected, ok := want[rel]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s/%s is not generated from any source: remove it", GeneratedDir, rel))
		case !bytes.Equal(data, expected):
			problems = append(problems, fmt.Sprintf("%s/%s is out of date with its source: edit the source, then run `%s`", GeneratedDir, rel, Command))
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	for rel := range want {
		if !found[rel] {
			problems = append(problems, fmt.Sprintf("%s/%s is missing: run `%s`", GeneratedDir, rel, Command))
		}
	}
	return problems
}

// ruleFile is a Prometheus rule file decoded into the Operator's types: strictly, so a field the
// Operator would not carry over to Prometheus is a problem too.
type ruleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// ruleProblems: the built PrometheusRule's groups equal prometheus/rules/alerts.yml's.
func ruleProblems(t *testing.T, e env) []string {
	rules := all[*monitoringv1.PrometheusRule](e.objects)
	if len(rules) != 1 {
		return []string{fmt.Sprintf("%d PrometheusRules in the build, expected the one made from %s", len(rules), RulesSource)}
	}
	var source ruleFile
	if err := yaml.UnmarshalStrict(gotest.ReadFile(t, filepath.Join(e.root, RulesSource)), &source); err != nil {
		return []string{fmt.Sprintf("%s into the Operator's RuleGroup type: %v", RulesSource, err)}
	}
	built := rules[0].Spec.Groups
	var problems []string
	if len(built) != len(source.Groups) {
		problems = append(problems, fmt.Sprintf("PrometheusRule %s has %d groups, %s has %d", rules[0].Name, len(built), RulesSource, len(source.Groups)))
	}
	for i := 0; i < len(built) && i < len(source.Groups); i++ {
		if reflect.DeepEqual(built[i], source.Groups[i]) {
			continue
		}
		problems = append(problems, fmt.Sprintf("PrometheusRule %s group %d (%s) differs from %s: %s",
			rules[0].Name, i, built[i].Name, RulesSource, groupDifference(built[i], source.Groups[i])))
	}
	return problems
}

// groupDifference names the first rule (or the group field) where two groups differ.
func groupDifference(built, source monitoringv1.RuleGroup) string {
	for i := 0; i < len(built.Rules) && i < len(source.Rules); i++ {
		if !reflect.DeepEqual(built.Rules[i], source.Rules[i]) {
			return fmt.Sprintf("rule %d is %s, the source's is %s", i, jsonString(built.Rules[i]), jsonString(source.Rules[i]))
		}
	}
	if len(built.Rules) != len(source.Rules) {
		return fmt.Sprintf("%d rules, the source has %d", len(built.Rules), len(source.Rules))
	}
	built.Rules, source.Rules = nil, nil
	return fmt.Sprintf("group fields %s, the source's %s", jsonString(built), jsonString(source))
}

// configMountProblems: a container started with --config=PATH finds PATH in a mounted ConfigMap
// of the build (kustomize renames generated ConfigMaps; a reference it did not rewrite is caught).
func configMountProblems(e env) []string {
	var problems []string
	for _, deployment := range all[*appsv1.Deployment](e.objects) {
		pod := deployment.Spec.Template.Spec
		for _, container := range pod.Containers {
			for _, arg := range container.Args {
				file, ok := strings.CutPrefix(arg, "--config=")
				if !ok {
					continue
				}
				if err := configMapFile(e.objects, pod, container, file); err != nil {
					problems = append(problems, fmt.Sprintf("Deployment %s container %s: %s: %v", deployment.Name, container.Name, arg, err))
				}
			}
		}
	}
	return problems
}

func configMapFile(objects []object, pod corev1.PodSpec, container corev1.Container, file string) error {
	for _, mount := range container.VolumeMounts {
		if path.Dir(file) != path.Clean(mount.MountPath) {
			continue
		}
		for _, volume := range pod.Volumes {
			if volume.Name != mount.Name || volume.ConfigMap == nil {
				continue
			}
			configMap, err := find[*corev1.ConfigMap](objects, "ConfigMap", volume.ConfigMap.Name)
			if err != nil || configMap.Name != volume.ConfigMap.Name {
				return fmt.Errorf("volume %s names ConfigMap %s, which the build does not have", volume.Name, volume.ConfigMap.Name)
			}
			if _, ok := configMap.Data[path.Base(file)]; !ok {
				return fmt.Errorf("ConfigMap %s has no key %s", configMap.Name, path.Base(file))
			}
			return nil
		}
	}
	return fmt.Errorf("no ConfigMap is mounted at %s", path.Dir(file))
}
