// Package grafana tests the repository's Grafana files with Go modules Grafana publishes or builds on,
// all Apache-2.0: github.com/grafana/grafana-foundation-sdk/go (typed dashboard and alerting
// resources) and github.com/prometheus/alertmanager (the template engine Grafana's notification
// templates extend). Grafana's own notification code (github.com/grafana/alerting, like Grafana
// itself) is AGPL-3.0 and is not used here.
//
// Grafana itself cannot run on the machines this repository is tested on, so these tests stand in
// for it where published code allows: they decode what Grafana reads, render the notification
// templates, and deliver the resulting notifications to the real inbox.
package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"gopkg.in/yaml.v3"

	"monitored-service/checks/gotest"
)

// repoRoot is the repository root.
func repoRoot(t *testing.T) string {
	return gotest.RepoRoot(t, "versions.yaml")
}

// repoFiles lists the files of dir (relative to the repository root) whose names end in one of exts.
func repoFiles(t *testing.T, dir string, exts ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, entry := range entries {
		for _, ext := range exts {
			if !entry.IsDir() && strings.HasSuffix(entry.Name(), ext) {
				files = append(files, filepath.Join(repoRoot(t), dir, entry.Name()))
			}
		}
	}
	if len(files) == 0 {
		t.Fatalf("no %v files in %s", exts, dir)
	}
	return files
}

// mutatedCopy writes a copy of the repository file rel into a temporary directory with old replaced
// by replacement (which must occur), and returns the copy's path.
func mutatedCopy(t *testing.T, rel, old, replacement string) string {
	t.Helper()
	data := gotest.ReadFile(t, filepath.Join(repoRoot(t), rel))
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q: the mutation no longer applies", rel, old)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(rel))
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(replacement), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// decodeYAMLStrict decodes YAML into v; a key that v's type does not have is an error.
func decodeYAMLStrict(data []byte, v any) error {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	return decoder.Decode(v)
}

// nodeJSON re-encodes a YAML node as JSON, the form Grafana's types are decoded from.
func nodeJSON(node *yaml.Node) ([]byte, error) {
	var value any
	if err := node.Decode(&value); err != nil {
		return nil, err
	}
	return json.Marshal(value)
}

// decodeJSONStrict decodes JSON into v; an unknown field or trailing data is an error.
func decodeJSONStrict(data []byte, v any) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(v); err != nil {
		return err
	}
	if decoder.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// expandEnv expands $NAME and ${NAME} from env the way Grafana's provisioning does when it reads a
// value (pkg/services/provisioning/values: os.ExpandEnv on each part between "$$", which stands for
// a literal "$"). An unset variable is an error here; Grafana would silently use "".
func expandEnv(text string, env map[string]string) (string, error) {
	parts := strings.Split(text, "$$")
	var missing []string
	for i, part := range parts {
		parts[i] = os.Expand(part, func(name string) string {
			value, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return value
		})
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%q uses unset variables %v", text, missing)
	}
	return strings.Join(parts, "$"), nil
}

// expandEnvIn expands every string inside value (maps and lists included), as Grafana does for
// contact point settings.
func expandEnvIn(value any, env map[string]string) (any, error) {
	switch v := value.(type) {
	case string:
		return expandEnv(v, env)
	case map[string]any:
		out := make(map[string]any, len(v))
		for key, item := range v {
			expanded, err := expandEnvIn(item, env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			out[key] = expanded
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			expanded, err := expandEnvIn(item, env)
			if err != nil {
				return nil, err
			}
			out[i] = expanded
		}
		return out, nil
	default:
		return value, nil
	}
}

// missingRequired is the message of the SDK's strict decoders for a schema field that is absent.
const missingRequired = "required field is missing from input"

// strict runs one of the SDK's UnmarshalJSONStrict methods and keeps the errors that matter here: a
// field the type does not know, a field of the wrong type, a required field set to null. A required
// field that is absent is let through: the SDK's schemas mark fields required that Grafana fills
// with defaults when it loads the resource (a dashboard link's icon, a stat panel's orientation), and
// a misspelled field is still caught as unknown.
func strict(unmarshal func([]byte) error, data []byte) error {
	err := unmarshal(data)
	var all cog.BuildErrors
	if !errors.As(err, &all) {
		return err
	}
	var kept cog.BuildErrors
	for _, e := range all {
		if e.Message != missingRequired {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}
