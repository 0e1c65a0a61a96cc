package kubernetes

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"monitored-service/checks/gotest"
)

// repoRoot is the repository root.
func repoRoot(t *testing.T) string {
	return gotest.RepoRoot(t, filepath.Join(BaseDir, "kustomization.yaml"))
}

// decodeYAML decodes a repository YAML file into v, non-strictly (v names only what a check reads).
func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(gotest.ReadFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// baseCopy copies the base into a temporary directory and returns the copy's path, for a test
// that breaks it on purpose.
func baseCopy(t *testing.T) string {
	t.Helper()
	from := filepath.Join(repoRoot(t), BaseDir)
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if entry.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// edit replaces old (which must occur exactly once) with replacement in the file rel of dir.
func edit(t *testing.T, dir, rel, old, replacement string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	text := string(gotest.ReadFile(t, path))
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%s contains %q %d times, not once: the mutation no longer applies", rel, old, n)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(text, old, replacement, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
