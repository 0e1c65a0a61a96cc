package grafana

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

const (
	wantFiringTitle   = "[FIRING:1] HostHighCpuUsage "
	wantFiringMessage = "Firing:\n" +
		"- HostHighCpuUsage on node-exporter:9100 (severity warning) since 2026-11-25 13:04:15 UTC\n" +
		"  HostHighCpuUsage is firing on node-exporter:9100\n" +
		"  Runbook: http://localhost:5080/runbook#hosthighcpuusage\n"
	wantResolvedTitle   = "[RESOLVED] HostHighCpuUsage "
	wantResolvedMessage = "Resolved:\n" +
		"- HostHighCpuUsage on node-exporter:9100 at 2026-11-25 13:09:00 UTC (started 13:04:15)\n"
)

// renderedPath is where the rendered texts are written for a person to read:
// $GRAFANA_RENDERED, or target/grafana/notifications.txt in the repository.
func renderedPath(t *testing.T) string {
	if path := os.Getenv("GRAFANA_RENDERED"); path != "" {
		return path
	}
	return filepath.Join(repoRoot(t), "target", "grafana", "notifications.txt")
}

// notificationCase is one notification of the relay rule: HostHighCpuUsage firing, then resolved.
type notificationCase struct {
	status                 string
	endsAt                 time.Time
	wantTitle, wantMessage string
	fixture                string // inbox/tests/fixtures/<fixture>: what Grafana sent for it
}

var notificationCases = []notificationCase{
	{"firing", time.Time{}, wantFiringTitle, wantFiringMessage, "grafana-firing.json"},
	{"resolved", resolvedAt, wantResolvedTitle, wantResolvedMessage, "grafana-resolved.json"},
}

// renderCase renders c's title and message from the provisioned templates (Alertmanager's template
// engine, see loadRelay) and returns them with the data they were rendered from.
func renderCase(t *testing.T, relay *relay, c notificationCase) (data *template.Data, title, message string) {
	t.Helper()
	data = relay.data(relay.alert(t, hostHighCPU, c.endsAt))
	if data.Status != c.status {
		t.Fatalf("%s: Alertmanager computed status %q (is the clock before %s?)", c.status, data.Status, resolvedAt)
	}
	title, message, err := relay.render(data)
	if err != nil {
		t.Fatalf("%s: %v", c.status, err)
	}
	return data, title, message
}

func TestProvisionedTemplatesRenderFiringAndResolved(t *testing.T) {
	relay := loadRelay(t, filepath.Join(repoRoot(t), "grafana/provisioning/alerting/notifications.yaml"))
	var report strings.Builder
	report.WriteString("# The provisioned inbox.title / inbox.message rendered by checks/grafana with Alertmanager's\n" +
		"# template engine (which Grafana's extends) for the relay rule's HostHighCpuUsage notifications.\n\n")
	for _, c := range notificationCases {
		_, title, message := renderCase(t, relay, c)
		if title != c.wantTitle {
			t.Errorf("%s title:\n got %q\nwant %q", c.status, title, c.wantTitle)
		}
		if message != c.wantMessage {
			t.Errorf("%s message:\n got %q\nwant %q", c.status, message, c.wantMessage)
		}
		fmt.Fprintf(&report, "=== %s notification (contact point %q)\ntitle: %s\n%s\n", c.status, relay.receiver, title, message)
	}

	path := renderedPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered notifications written to %s", path)
}

func TestTemplateReadingAFieldThatDoesNotExistFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/provisioning/alerting/notifications.yaml", ".Status | toUpper", ".Statuz | toUpper")
	relay := loadRelay(t, path)
	_, _, err := relay.render(relay.data(relay.alert(t, hostHighCPU, time.Time{})))
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Statuz") {
		t.Fatalf("expected rendering .Statuz to fail, got %v", err)
	}
}
