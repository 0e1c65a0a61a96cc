package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"monitored-service/checks/gotest"
)

// grafanaPayload is the part of a Grafana webhook body (inbox/tests/fixtures/grafana-*.json) that
// Alertmanager's template data has too: the fields the templates are rendered from.
type grafanaPayload struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []payloadAlert    `json:"alerts"`
}

// payloadAlert holds an alert's times as the body writes them (RFC 3339, endsAt zero while firing).
type payloadAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// sharedFields is data's view of the fields grafanaPayload holds.
func sharedFields(data *template.Data) grafanaPayload {
	out := grafanaPayload{
		Receiver: data.Receiver, Status: data.Status, ExternalURL: data.ExternalURL,
		GroupLabels: data.GroupLabels, CommonLabels: data.CommonLabels, CommonAnnotations: data.CommonAnnotations,
	}
	for _, alert := range data.Alerts {
		out.Alerts = append(out.Alerts, payloadAlert{
			Status: alert.Status, Labels: alert.Labels, Annotations: alert.Annotations,
			StartsAt: alert.StartsAt.Format(time.RFC3339Nano), EndsAt: alert.EndsAt.Format(time.RFC3339Nano),
			GeneratorURL: alert.GeneratorURL,
		})
	}
	return out
}

// TestWebhookDeliversToTheInbox stands in for Grafana's webhook notifier, which cannot be used
// (github.com/grafana/alerting is AGPL-3.0): it sends the bodies Grafana's notifier sent for the
// relay rule (the inbox's fixtures, see inbox/tests/fixtures/README.md) with the title and message
// the provisioned templates render today, the way the provisioned webhook integration says (its URL
// path, method and Authorization header, with $INBOX_TOKEN expanded), to a real inbox process.
func TestWebhookDeliversToTheInbox(t *testing.T) {
	relay := loadRelay(t, filepath.Join(repoRoot(t), "grafana/provisioning/alerting/notifications.yaml"))
	webhook := relay.webhook.Settings
	provisioned, err := url.Parse(webhook.URL)
	if err != nil {
		t.Fatal(err)
	}
	authorization := webhook.authorization()
	if authorization != "Bearer "+testEnv["INBOX_TOKEN"] {
		t.Fatalf("the webhook's Authorization header would be %q, want the bearer $INBOX_TOKEN", authorization)
	}
	// The inbox's token is the one Grafana's environment holds; the provisioned URL names the inbox
	// by its compose service name, the test's inbox listens on a free loopback port.
	inbox := startInbox(t, testEnv["INBOX_TOKEN"])
	endpoint := inbox + provisioned.Path

	var bodies [][]byte
	for _, c := range notificationCases {
		data, title, message := renderCase(t, relay, c)
		fixturePath := filepath.Join(repoRoot(t), "inbox/tests/fixtures", c.fixture)
		fixture := gotest.ReadFile(t, fixturePath)

		// The captured body and today's relay rule must describe the same notification, or the
		// fixture no longer shows what Grafana would send.
		var captured grafanaPayload
		if err := json.Unmarshal(fixture, &captured); err != nil {
			t.Fatalf("%s: %v", fixturePath, err)
		}
		for _, difference := range differences(flatten(t, captured), flatten(t, sharedFields(data))) {
			t.Errorf("%s no longer matches the relay rule's %s notification: %s", c.fixture, c.status, difference)
		}

		var body map[string]any
		if err := json.Unmarshal(fixture, &body); err != nil {
			t.Fatal(err)
		}
		body["title"], body["message"] = title, message
		encoded, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, encoded)
		if status := send(t, webhook.method(), endpoint, authorization, encoded); status/100 != 2 {
			t.Fatalf("%s %s (%s notification): %d, want 2xx", webhook.method(), endpoint, c.status, status)
		}
	}

	// What the inbox shows: both from Grafana, firing then resolved (newest first), with the texts.
	list := inboxNotifications(t, inbox)
	if len(list) != 2 {
		t.Fatalf("the inbox holds %d notifications, expected 2", len(list))
	}
	for i, c := range []notificationCase{notificationCases[1], notificationCases[0]} {
		got := list[i]
		if got.Source != "grafana" || got.Payload.Status != c.status || got.Payload.Title != c.wantTitle ||
			got.Payload.Message != c.wantMessage || got.Payload.Version != "1" || got.Payload.OrgID != 1 {
			t.Errorf("notification %d: got source %q status %q title %q message %q version %q orgId %d, want grafana %s %q %q 1 1",
				got.ID, got.Source, got.Payload.Status, got.Payload.Title, got.Payload.Message,
				got.Payload.Version, got.Payload.OrgID, c.status, c.wantTitle, c.wantMessage)
		}
		if len(got.Payload.Alerts) != 1 || got.Payload.Alerts[0].Status != c.status ||
			got.Payload.Alerts[0].Labels["prometheus_alertname"] != "HostHighCpuUsage" {
			t.Errorf("notification %d: expected the one HostHighCpuUsage alert, %s, got %+v", got.ID, c.status, got.Payload.Alerts)
		}
	}
	if list[0].ID <= list[1].ID {
		t.Errorf("the resolved notification (#%d) must arrive after the firing one (#%d)", list[0].ID, list[1].ID)
	}

	// The inbox refuses a sender without the token, or with another one, and stores nothing.
	for _, auth := range []string{"", "Bearer not-the-token"} {
		if status := send(t, webhook.method(), endpoint, auth, bodies[0]); status != http.StatusUnauthorized {
			t.Errorf("POST with Authorization %q: %d, want 401", auth, status)
		}
	}
	if n := len(inboxNotifications(t, inbox)); n != 2 {
		t.Errorf("a refused POST was stored: the inbox holds %d notifications", n)
	}
}

// flatten turns v's JSON form into path -> value ("alerts.0.labels.severity" -> "warning").
func flatten(t *testing.T, v any) map[string]string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, node any)
	walk = func(prefix string, node any) {
		switch node := node.(type) {
		case map[string]any:
			for key, child := range node {
				walk(prefix+key+".", child)
			}
		case []any:
			for i, child := range node {
				walk(fmt.Sprintf("%s%d.", prefix, i), child)
			}
		default:
			out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(node)
		}
	}
	walk("", tree)
	return out
}

// differences lists, sorted, each path whose value differs between the fixture and the rule.
func differences(fixture, rule map[string]string) []string {
	var out []string
	for _, path := range slices.Sorted(maps.Keys(fixture)) {
		if want, ok := rule[path]; !ok || want != fixture[path] {
			out = append(out, fmt.Sprintf("%s is %q in the fixture, %q from the rule", path, fixture[path], want))
		}
	}
	for _, path := range slices.Sorted(maps.Keys(rule)) {
		if _, ok := fixture[path]; !ok {
			out = append(out, fmt.Sprintf("%s is missing from the fixture (%q from the rule)", path, rule[path]))
		}
	}
	return out
}

// send makes one webhook request and returns its status code.
func send(t *testing.T, method, endpoint, authorization string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, endpoint, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
