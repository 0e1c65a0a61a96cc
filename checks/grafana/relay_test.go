package grafana

import (
	"bytes"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	tmpltext "text/template"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

// externalURL is Grafana's root URL as compose configures it (GF_SERVER_ROOT_URL's default).
const externalURL = "http://localhost:3000/"

// hostHighCPU is the series the relay rule's query returns while Prometheus's HostHighCpuUsage fires
// on the node exporter: `max by (prometheus_alertname, instance, job, severity)` keeps these labels.
var hostHighCPU = model.LabelSet{
	"prometheus_alertname": "HostHighCpuUsage",
	"instance":             "node-exporter:9100",
	"job":                  "node",
	"severity":             "warning",
}

// The times of the notifications: those of the inbox's fixtures, captured from Grafana's notifier.
var (
	firingSince = time.Date(2026, 11, 25, 13, 4, 15, 0, time.UTC)
	resolvedAt  = time.Date(2026, 11, 25, 13, 9, 0, 0, time.UTC)
)

// relay is the provisioned relay rule with what rendering and delivering its notifications needs:
// the policy's receiver and grouping, the notification templates and the webhook integration.
type relay struct {
	file     *alertingFile // rules.yaml
	groupBy  []model.LabelName
	receiver string
	tmpl     *template.Template
	webhook  webhookIntegration
}

// loadRelay reads the relay rule, the policy, the contact point and the notification templates as
// provisioned, and parses the templates with Alertmanager's template engine.
//
// Grafana's notification templates are Alertmanager's engine extended (more functions, more fields
// on each alert: values, silence and dashboard URLs, ...); Grafana's extension is in
// github.com/grafana/alerting, AGPL-3.0, so it is not used. The provisioned templates read only what
// both have (.Status, .Alerts.Firing/.Resolved, .Labels, .Annotations, .StartsAt, .EndsAt, toUpper),
// so Alertmanager's engine renders them as Grafana does; a template that starts using a
// Grafana-only function or field fails here and needs Grafana to be checked.
func loadRelay(t *testing.T, notificationsPath string) *relay {
	t.Helper()
	rules, err := loadAlertingFile(filepath.Join(repoRoot(t), "grafana/provisioning/alerting/rules.yaml"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	notifications, err := loadAlertingFile(notificationsPath, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, provisioned := range notifications.Templates {
		if err := tmpl.Parse(strings.NewReader(*provisioned.Template)); err != nil {
			t.Fatalf("template %s: %v", *provisioned.Name, err)
		}
	}
	if tmpl.ExternalURL, err = url.Parse(externalURL); err != nil {
		t.Fatal(err)
	}
	policy := notifications.Policies[0]
	var groupBy []model.LabelName
	for _, label := range policy.GroupBy {
		groupBy = append(groupBy, model.LabelName(label))
	}
	if len(notifications.ContactPoints) != 1 || len(notifications.ContactPoints[0].Webhooks) != 1 {
		t.Fatal("expected one contact point with one webhook integration")
	}
	return &relay{
		file: rules, groupBy: groupBy, receiver: *policy.Receiver, tmpl: tmpl,
		webhook: notifications.ContactPoints[0].Webhooks[0],
	}
}

// alert is one series of the relay rule as Grafana notifies it: the series' labels, the rule's
// labels and the two Grafana adds that notifications show (alertname = the rule's title,
// grafana_folder = its folder), and the rule's annotations expanded against those labels. Grafana's
// private `__`-prefixed labels and annotations are not in a notification's data (the captured
// fixtures have none), so they are left out. A zero endsAt is firing; a past one is resolved.
func (r *relay) alert(t *testing.T, series model.LabelSet, endsAt time.Time) *types.Alert {
	t.Helper()
	group := r.file.Groups[0]
	rule := group.Rules[0]
	labels := series.Clone()
	for name, value := range rule.Labels {
		labels[model.LabelName(name)] = model.LabelValue(value)
	}
	labels[model.AlertNameLabel] = model.LabelValue(rule.Title)
	labels["grafana_folder"] = model.LabelValue(group.Folder)

	annotations := model.LabelSet{}
	for name, text := range rule.Annotations {
		annotations[model.LabelName(name)] = model.LabelValue(expandAnnotation(t, name, text, labels))
	}
	generatorURL, err := url.JoinPath(externalURL, "alerting/grafana", *rule.Uid, "view")
	if err != nil {
		t.Fatal(err)
	}
	return &types.Alert{Alert: model.Alert{
		Labels: labels, Annotations: annotations,
		StartsAt: firingSince, EndsAt: endsAt, GeneratorURL: generatorURL + "?orgId=1",
	}}
}

// expandAnnotation expands a rule annotation as Grafana does when the rule fires: `$labels` is the
// alert's labels. Grafana's expander is in grafana/grafana (AGPL-3.0, not a published module), so
// this is text/template with the same `$labels` variable and Alertmanager's template functions
// (toLower, toUpper, ...). A label the alert does not have is an error here; Grafana would write
// "<no value>" into the notification.
func expandAnnotation(t *testing.T, name, text string, labels model.LabelSet) string {
	t.Helper()
	tmpl, err := tmpltext.New(name).Option("missingkey=error").
		Funcs(tmpltext.FuncMap(template.DefaultFuncs)).
		Parse("{{- $labels := .Labels -}}" + text)
	if err != nil {
		t.Fatalf("annotation %s: %v", name, err)
	}
	values := map[string]string{}
	for label, value := range labels {
		values[string(label)] = string(value)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{"Labels": values}); err != nil {
		t.Fatalf("annotation %s: %v", name, err)
	}
	return out.String()
}

// data is what the templates are executed with for one group of alerts under the provisioned policy:
// the receiver, the group labels (the policy's group_by) and the alerts, assembled by Alertmanager.
func (r *relay) data(alerts ...*types.Alert) *template.Data {
	groupLabels := model.LabelSet{}
	for _, name := range r.groupBy {
		if value, ok := alerts[0].Labels[name]; ok {
			groupLabels[name] = value
		}
	}
	return r.tmpl.Data(r.receiver, groupLabels, alerts...)
}

// render expands the webhook's title and message settings for data.
func (r *relay) render(data *template.Data) (title, message string, err error) {
	if title, err = r.tmpl.ExecuteTextString(r.webhook.Settings.Title, data); err != nil {
		return "", "", err
	}
	if message, err = r.tmpl.ExecuteTextString(r.webhook.Settings.Message, data); err != nil {
		return "", "", err
	}
	return title, message, nil
}
