package kubernetes

import (
	"fmt"
	"path/filepath"
	"testing"
)

// env is what a check reads: the built objects, the base they were built from and the repository
// whose files they must agree with.
type env struct {
	objects []object
	// dir is the base that was built (the repository's, or a broken copy).
	dir string
	// root is the repository root: the sources, compose.yaml, versions.yaml.
	root string
}

// checks run on every build; each returns one line per problem.
var checks = []struct {
	name string
	run  func(*testing.T, env) []string
}{
	{"metadata", metadataProblems},
	{"scraping", scrapingProblems},
	{"selection", selectionProblems},
	{"sources", sourcesProblems},
	{"traffic", trafficProblems},
	{"workloads", workloadProblems},
}

// baseProblems builds the base in dir and returns every problem any check finds in it, each
// prefixed with the check's name.
func baseProblems(t *testing.T, dir string) []string {
	t.Helper()
	objects, problems := build(dir)
	for i, p := range problems {
		problems[i] = "build: " + p
	}
	if objects == nil {
		return problems
	}
	e := env{objects: objects, dir: dir, root: repoRoot(t)}
	for _, check := range checks {
		for _, p := range check.run(t, e) {
			problems = append(problems, check.name+": "+p)
		}
	}
	return problems
}

// TestTheBaseBuildsDecodesStrictlyAndPassesEveryCheck is acceptance 2 for the repository's base:
// kustomize builds it, every object decodes strictly into its API type, and every check passes.
func TestTheBaseBuildsDecodesStrictlyAndPassesEveryCheck(t *testing.T) {
	dir := filepath.Join(repoRoot(t), BaseDir)
	objects, problems := build(dir)
	for _, p := range problems {
		t.Error(p)
	}
	if objects == nil {
		t.FailNow()
	}
	kinds := map[string]int{}
	for _, o := range objects {
		kinds[o.kind]++
	}
	// What the base is for (issue 10): the service and its Service, the Collector gateway, the
	// ServiceMonitors, the PrometheusRule, and ConfigMaps for the Collector and Grafana.
	for kind, least := range map[string]int{
		"Deployment": 2, "Service": 2, "ServiceMonitor": 2, "PrometheusRule": 1, "ConfigMap": 3,
		"PodDisruptionBudget": 1, "Namespace": 1,
	} {
		if kinds[kind] < least {
			t.Errorf("the base has %d %s, expected at least %d (%v)", kinds[kind], kind, least, kinds)
		}
	}
	e := env{objects: objects, dir: dir, root: repoRoot(t)}
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) {
			for _, p := range check.run(t, e) {
				t.Error(p)
			}
		})
	}
}

// find returns the object of type T named name (kustomize's hash suffix allowed for ConfigMaps).
func find[T any](objects []object, kind, name string) (T, error) {
	var zero T
	for _, o := range objects {
		v, ok := o.value.(T)
		if ok && o.kind == kind && (o.name == name || (kind == "ConfigMap" && hashSuffixed(o.name, name))) {
			return v, nil
		}
	}
	return zero, fmt.Errorf("no %s %s in the build", kind, name)
}

// hashSuffixed says whether built is name with the hash suffix configMapGenerator appends.
func hashSuffixed(built, name string) bool {
	return len(built) == len(name)+11 && built[:len(name)+1] == name+"-"
}
