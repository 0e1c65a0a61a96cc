// Package gotest holds what the tests of checks/grafana and checks/kubernetes share: the repository
// root, file reading that fails the test, and the licence rule on their build lists.
package gotest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is the repository root, two directories above the testing package (checks/NAME);
// marker, a path relative to the root, must exist there.
func RepoRoot(t testing.TB, marker string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, marker)); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	return root
}

// ReadFile reads path, failing the test when it cannot.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// AGPLModules are modules this workplace does not use at all (AGPL-3.0), tests included.
var AGPLModules = []string{
	"github.com/grafana/alerting",
	"github.com/grafana/grafana",
	"github.com/grafana/tempo",
	"github.com/grafana/loki",
	"github.com/grafana/k6",
	"go.k6.io/k6",
}

// NoAGPLModule fails the test for every module of AGPLModules (or below one) in the build list of
// the module the test runs in; name names that module in the failures.
func NoAGPLModule(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "all").Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	modules := 0
	for scanner.Scan() {
		path := strings.Fields(scanner.Text())[0]
		modules++
		for _, agpl := range AGPLModules {
			if path == agpl || strings.HasPrefix(path, agpl+"/") {
				t.Errorf("%s (AGPL-3.0) is in %s's build list", path, name)
			}
		}
	}
	if modules < 2 {
		t.Fatalf("go list -m all listed %d modules: check this test still means something", modules)
	}
}
