package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// testEnv stands in for the environment Grafana expands provisioning files with.
var testEnv = map[string]string{
	"INBOX_TOKEN":       "inbox-token-from-the-environment",
	"SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/x",
	"ALERT_EMAIL_TO":    "ops@example.org",
}

var registerPlugins sync.Once

// decodeDashboard decodes dashboard JSON with the SDK's strict decoder: an unknown field, a field of
// the wrong type or a missing required field anywhere in the typed parts (panels, targets, panel
// options and custom field config of every panel type the SDK knows) is an error.
func decodeDashboard(path string) (*dashboard.Dashboard, error) {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var decoded dashboard.Dashboard
	if err := strict(decoded.UnmarshalJSONStrict, data); err != nil {
		return nil, err
	}
	if err := decodeFieldConfigs(data); err != nil {
		return nil, err
	}
	return &decoded, nil
}

// decodeFieldConfigs decodes each panel's fieldConfig strictly: the SDK's dashboard decoder is
// strict for the custom part of it (per panel type) but not for the common part (unit, min, ...).
func decodeFieldConfigs(data []byte) error {
	var raw struct {
		Panels []rawPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var check func(path string, panels []rawPanel) error
	check = func(path string, panels []rawPanel) error {
		for i, panel := range panels {
			at := fmt.Sprintf("%s[%d]", path, i)
			if panel.FieldConfig != nil {
				var source dashboard.FieldConfigSource
				if err := strict(source.UnmarshalJSONStrict, panel.FieldConfig); err != nil {
					return fmt.Errorf("%s.fieldConfig: %w", at, err)
				}
			}
			if err := check(at+".panels", panel.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	return check("panels", raw.Panels)
}

type rawPanel struct {
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Panels      []rawPanel      `json:"panels"`
}

func alertingFiles(t *testing.T) []string {
	files := repoFiles(t, "grafana/provisioning/alerting", ".yaml", ".yml")
	return append(files, repoFiles(t, "grafana/optional/alerting", ".yaml", ".yml")...)
}

func TestDashboardsDecodeStrictly(t *testing.T) {
	for _, path := range repoFiles(t, "grafana/dashboards", ".json") {
		decoded, err := decodeDashboard(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(decoded.Panels) == 0 {
			t.Fatalf("%s: no panels decoded", path)
		}
	}
}

// totalRequestsGridPos is the position of the dashboard's first visualisation (panels[1], after a row).
const totalRequestsGridPos = `"gridPos": {
        "h": 9,
        "w": 12,
        "x": 0,
        "y": 1
      }`

func TestMisspelledPanelFieldFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/dashboards/service.json", totalRequestsGridPos,
		strings.Replace(totalRequestsGridPos, "gridPos", "gridPoss", 1))
	_, err := decodeDashboard(path)
	if err == nil || !strings.Contains(err.Error(), "panels[1].Panel: unexpected field 'gridPoss'") {
		t.Fatalf("expected the misspelled field gridPoss to be rejected, got %v", err)
	}
}

func TestPanelFieldOfWrongTypeFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/dashboards/service.json", `"lineWidth": 2`, `"lineWidth": "2"`)
	_, err := decodeDashboard(path)
	if err == nil || !strings.Contains(err.Error(), "lineWidth") {
		t.Fatalf("expected lineWidth as a string to be rejected, got %v", err)
	}
}

func TestAlertingFilesDecodeStrictly(t *testing.T) {
	for _, path := range alertingFiles(t) {
		if _, err := loadAlertingFile(path, testEnv); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

func TestProvisionedAlertingResources(t *testing.T) {
	root := repoRoot(t)
	rules, err := loadAlertingFile(filepath.Join(root, "grafana/provisioning/alerting/rules.yaml"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Groups) != 1 || len(rules.Groups[0].Rules) != 1 {
		t.Fatalf("expected one group with the relay rule, got %+v", rules.Groups)
	}
	notifications := loadNotifications(t)
	if len(notifications.Templates) != 1 || len(notifications.Policies) != 1 {
		t.Fatalf("expected one template and one policy, got %d and %d", len(notifications.Templates), len(notifications.Policies))
	}
	point := notifications.ContactPoints[0]
	if got := *notifications.Policies[0].Receiver; got != point.Name {
		t.Fatalf("the policy routes to %q, the contact point is %q", got, point.Name)
	}
	webhooks := point.Webhooks
	if len(point.Integrations) != 1 || len(webhooks) != 1 {
		t.Fatalf("expected the contact point's one integration to be a webhook, got %d integrations, %d webhooks",
			len(point.Integrations), len(webhooks))
	}
	settings := webhooks[0].Settings
	if settings.AuthorizationScheme != "Bearer" || settings.AuthorizationCredentials != testEnv["INBOX_TOKEN"] {
		t.Fatalf("the webhook must send the expanded $INBOX_TOKEN as a bearer token, got %q %q",
			settings.AuthorizationScheme, settings.AuthorizationCredentials)
	}
	if webhooks[0].DisableResolveMessage {
		t.Fatal("resolved notifications must be sent")
	}
}

func TestContactPointSettingOfWrongTypeFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/provisioning/alerting/notifications.yaml", "httpMethod: POST", "httpMethod: 5")
	_, err := loadAlertingFile(path, testEnv)
	if err == nil || !strings.Contains(err.Error(), "httpMethod") {
		t.Fatalf("expected httpMethod as a number to be rejected, got %v", err)
	}
}

func TestUnknownContactPointSettingFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/provisioning/alerting/notifications.yaml", "          title:", "          titel:")
	_, err := loadAlertingFile(path, testEnv)
	if err == nil || !strings.Contains(err.Error(), `unknown field "titel"`) {
		t.Fatalf("expected the misspelled setting titel to be rejected, got %v", err)
	}
}

func TestWebhookMethodGrafanaDoesNotSupportFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/provisioning/alerting/notifications.yaml", "httpMethod: POST", "httpMethod: GET")
	_, err := loadAlertingFile(path, testEnv)
	if err == nil || !strings.Contains(err.Error(), `httpMethod "GET"`) {
		t.Fatalf("expected httpMethod GET to be rejected, got %v", err)
	}
}

func TestUnknownContactPointFieldFails(t *testing.T) {
	path := mutatedCopy(t, "grafana/provisioning/alerting/notifications.yaml",
		"disableResolveMessage: false", "disableResolveMesage: false")
	_, err := loadAlertingFile(path, testEnv)
	if err == nil || !strings.Contains(err.Error(), "disableResolveMesage") {
		t.Fatalf("expected the misspelled disableResolveMesage to be rejected, got %v", err)
	}
}

func TestUnsetVariableInSettingsFails(t *testing.T) {
	path := filepath.Join(repoRoot(t), "grafana/provisioning/alerting/notifications.yaml")
	_, err := loadAlertingFile(path, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "INBOX_TOKEN") {
		t.Fatalf("expected the unset INBOX_TOKEN to be reported, got %v", err)
	}
}

func loadNotifications(t *testing.T) *alertingFile {
	t.Helper()
	path := filepath.Join(repoRoot(t), "grafana/provisioning/alerting/notifications.yaml")
	file, err := loadAlertingFile(path, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(file.ContactPoints) != 1 {
		t.Fatalf("expected one contact point, got %d", len(file.ContactPoints))
	}
	return file
}
