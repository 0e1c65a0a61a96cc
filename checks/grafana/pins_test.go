package grafana

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"monitored-service/checks/gotest"
)

// pin is one entry of versions.yaml, with the keys `stack` accepts (stack/src/programs/pins.rs).
type pin struct {
	Image     string            `yaml:"image"`
	Module    string            `yaml:"module"`
	Packages  []string          `yaml:"packages"`
	GoModules map[string]string `yaml:"go_modules"`
}

func loadPins(t *testing.T) map[string]pin {
	t.Helper()
	var pins map[string]pin
	if err := decodeYAMLStrict(gotest.ReadFile(t, filepath.Join(repoRoot(t), "versions.yaml")), &pins); err != nil {
		t.Fatalf("versions.yaml: %v", err)
	}
	return pins
}

func TestGrafanaPinIsTheReleaseComposeRuns(t *testing.T) {
	pins := loadPins(t)
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(gotest.ReadFile(t, filepath.Join(repoRoot(t), "compose.yaml")), &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if got, want := compose.Services["grafana"].Image, pins["grafana"].Image; got == "" || got != want {
		t.Errorf("compose.yaml runs %q, versions.yaml (grafana.image) says %q", got, want)
	}
}

// listedModule is what `go list -m -json` says of a module in this module's build list.
type listedModule struct {
	Path, Version string
	Replace       *struct{ Path, Version string }
}

// listModule asks the go command which version of path this module builds with (its go.mod and
// Go's minimal version selection decide; go.sum makes it reproducible).
func listModule(t *testing.T, path string) listedModule {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", path).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	var module listedModule
	if err := json.Unmarshal(out, &module); err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	return module
}

func checkBuilds(t *testing.T, path, version, pinnedBy string) {
	t.Helper()
	module := listModule(t, path)
	switch {
	case module.Replace != nil:
		t.Errorf("%s is replaced by %s %s in go.mod", path, module.Replace.Path, module.Replace.Version)
	case module.Version != version:
		t.Errorf("%s: go.mod builds %s, versions.yaml (%s) pins %s", path, module.Version, pinnedBy, version)
	}
}

// TestGoModBuildsThePinnedVersions: the SDK is Grafana 12.1's, and the template engine is the
// Alertmanager the stack runs (versions.yaml's alertmanager.module), so one bump moves both.
func TestGoModBuildsThePinnedVersions(t *testing.T) {
	pins := loadPins(t)
	sdk := pins["grafana"].GoModules
	if len(sdk) == 0 {
		t.Fatal("versions.yaml: grafana.go_modules is empty")
	}
	for path, version := range sdk {
		checkBuilds(t, path, version, "grafana.go_modules")
	}
	path, version, ok := strings.Cut(pins["alertmanager"].Module, "@")
	if !ok || path != "github.com/prometheus/alertmanager" {
		t.Fatalf("versions.yaml: alertmanager.module is %q, expected github.com/prometheus/alertmanager@VERSION",
			pins["alertmanager"].Module)
	}
	checkBuilds(t, path, version, "alertmanager.module")
}

func TestNoAGPLModuleInTheBuildList(t *testing.T) {
	gotest.NoAGPLModule(t, "checks/grafana")
}
