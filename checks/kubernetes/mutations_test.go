package kubernetes

import (
	"strings"
	"testing"
)

// mutation breaks a copy of the base in one way (old, once in file, becomes replacement); the
// checks must then report a problem containing want.
type mutation struct {
	name, file, old, replacement, want string
}

var mutations = []mutation{
	// The three breaks issue 10 names.
	{
		name:        "wrong selector label",
		file:        "servicemonitors.yaml",
		old:         "  selector:\n    matchLabels:\n      app.kubernetes.io/name: service\n",
		replacement: "  selector:\n    matchLabels:\n      app.kubernetes.io/name: services\n",
		want:        "scraping: ServiceMonitor service selects no Service",
	},
	{
		name:        "unknown field",
		file:        "service.yaml",
		old:         "  replicas: 2\n",
		replacement: "  replicas: 2\n  replica: 3\n",
		want:        `unknown field "replica"`,
	},
	{
		name:        "drifted rule",
		file:        "generated/prometheusrule.yaml",
		old:         "expr: up{job=\"service\"} == 0\n          for: 1m",
		replacement: "expr: up{job=\"service\"} == 0\n          for: 5m",
		want:        "sources: PrometheusRule service-alerts group 0 (host-and-service) differs from prometheus/rules/alerts.yml: rule 1",
	},
	{
		name:        "drifted rule, also as a generated file",
		file:        "generated/prometheusrule.yaml",
		old:         "expr: up{job=\"service\"} == 0\n          for: 1m",
		replacement: "expr: up{job=\"service\"} == 0\n          for: 5m",
		want:        "sources: generated/prometheusrule.yaml is out of date with its source",
	},
	// What else the checks claim to catch.
	{
		name:        "the release label the Operator selects on",
		file:        "kustomization.yaml",
		old:         "value: kube-prometheus-stack",
		replacement: "value: prometheus",
		want:        `selection: ServiceMonitor service has release="prometheus", not release=kube-prometheus-stack`,
	},
	{
		name:        "an endpoint port the Service does not have",
		file:        "servicemonitors.yaml",
		old:         "    - port: http\n",
		replacement: "    - port: metrics\n",
		want:        `scraping: ServiceMonitor service endpoint 0: port "metrics" is no port of Service service`,
	},
	{
		name:        "a Service that selects no pods",
		file:        "service.yaml",
		old:         "spec:\n  selector:\n    app.kubernetes.io/name: service\n",
		replacement: "spec:\n  selector:\n    app.kubernetes.io/name: svc\n",
		want:        "scraping: Service service selects the pods of no Deployment",
	},
	{
		name:        "a job the rules select on, renamed",
		file:        "servicemonitors.yaml",
		old:         "      relabelings:\n        - targetLabel: job\n          replacement: spanmetrics\n",
		replacement: "      relabelings:\n        - targetLabel: job\n          replacement: span-metrics\n",
		want:        `scraping: prometheus.yml's job "spanmetrics" is produced by no ServiceMonitor here`,
	},
	{
		name:        "the span metrics' sample limit dropped",
		file:        "servicemonitors.yaml",
		old:         "  sampleLimit: 50000\n",
		replacement: "",
		want:        `scraping: job "spanmetrics": sample limit 50000 in prometheus.yml, 0 in its ServiceMonitor`,
	},
	{
		name:        "a drifted dashboard copy",
		file:        "generated/grafana/dashboards/service.json",
		old:         `"title": "Service overview"`,
		replacement: `"title": "Service overview (k8s)"`,
		want:        "sources: ConfigMap grafana-dashboards key monitored-service-overview.json differs from grafana/dashboards/service.json",
	},
	{
		name:        "a drifted Collector config copy",
		file:        "generated/otel-collector/config.yaml",
		old:         "limit_mib: 400",
		replacement: "limit_mib: 300",
		want:        "differs from otel-collector/config.yaml",
	},
	{
		name:        "a dashboard without the sidecar's label",
		file:        "kustomization.yaml",
		old:         `grafana_dashboard: "1"`,
		replacement: `grafana_dashboards: "1"`,
		want:        `selection: ConfigMap grafana-dashboards (grafana/dashboards/service.json) lacks label grafana_dashboard="1"`,
	},
	{
		name:        "the alerting sidecar left off",
		file:        valuesFile,
		old:         "    alerts:\n      enabled: true\n",
		replacement: "    alerts:\n      enabled: false\n",
		want:        "grafana.sidecar.alerts.enabled must be true",
	},
	{
		name:        "a data source uid Grafana does not have",
		file:        valuesFile,
		old:         "      uid: tempo\n",
		replacement: "      uid: traces\n",
		want:        `grafana/dashboards/service.json uses data source uid "tempo"`,
	},
	{
		name:        "a shutdown longer than the grace period",
		file:        "service.yaml",
		old:         "terminationGracePeriodSeconds: 30",
		replacement: "terminationGracePeriodSeconds: 15",
		want:        "workloads: Deployment service: terminationGracePeriodSeconds is below the 19.5s the shutdown takes",
	},
	{
		name:        "Tempo's address left at compose's",
		file:        "otel-collector.yaml",
		old:         "            - name: TEMPO_OTLP_ENDPOINT\n              value: tempo.monitoring.svc:4317\n",
		replacement: "",
		want:        "TEMPO_OTLP_ENDPOINT is not set, so the Collector dials the compose host tempo:4317",
	},
	{
		name:        "a Collector memory limit below its memory_limiter",
		file:        "otel-collector.yaml",
		old:         "memory: 512Mi",
		replacement: "memory: 400Mi",
		want:        "memory limit 400Mi is not above the memory_limiter's 400Mi",
	},
	{
		name:        "a writable root filesystem",
		file:        "service.yaml",
		old:         "readOnlyRootFilesystem: true",
		replacement: "readOnlyRootFilesystem: false",
		want:        "container service: the root filesystem is writable",
	},
	{
		name:        "an image other than the one compose runs",
		file:        "otel-collector.yaml",
		old:         "image: otel/opentelemetry-collector-contrib:0.129.1",
		replacement: "image: otel/opentelemetry-collector-contrib:0.130.0",
		want:        "image otel/opentelemetry-collector-contrib:0.130.0, but compose.yaml / versions.yaml run otel/opentelemetry-collector-contrib:0.129.1",
	},
	{
		name:        "a port name the API server refuses",
		file:        "otel-collector.yaml",
		old:         "            - name: spanmetrics\n              containerPort: 8889\n",
		replacement: "            - name: spanmetrics-exporter\n              containerPort: 8889\n",
		want:        `metadata: Deployment otel-collector: container port name "spanmetrics-exporter"`,
	},
	{
		name:        "spans from the service kept out of the Collector",
		file:        "otel-collector.yaml",
		old:         "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: service\n",
		replacement: "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: app\n",
		want:        "traffic: Deployment service cannot reach Deployment otel-collector port otlp-grpc (4317/TCP) (its spans)",
	},
	{
		name:        "the Collector's OTLP port open to every pod",
		file:        "otel-collector.yaml",
		old:         "        - port: otlp-grpc\n",
		replacement: "        - port: otlp-grpc\n    - ports:\n        - port: 4317\n",
		want:        "traffic: a pod labelled app.kubernetes.io/name=service in namespace default can reach Deployment otel-collector port otlp-grpc (4317/TCP)",
	},
	{
		name:        "no NetworkPolicy in front of the Collector",
		file:        "otel-collector.yaml",
		old:         "kind: NetworkPolicy\nmetadata:\n  name: otel-collector\n  labels:\n    app.kubernetes.io/name: otel-collector\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: otel-collector\n",
		replacement: "kind: NetworkPolicy\nmetadata:\n  name: otel-collector\n  labels:\n    app.kubernetes.io/name: otel-collector\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: otelcol\n",
		want:        "traffic: an unlabelled pod in namespace monitored-service can reach Deployment otel-collector port otlp-grpc (4317/TCP)",
	},
	{
		name:        "Prometheus kept from a scrape port",
		file:        "otel-collector.yaml",
		old:         "        - port: spanmetrics\n",
		replacement: "",
		want:        "traffic: Prometheus (namespace monitoring) cannot reach Deployment otel-collector port spanmetrics (8889/TCP) (ServiceMonitor otel-collector)",
	},
	{
		name:        "Prometheus named by an address block instead of its pods",
		file:        "otel-collector.yaml",
		old:         "        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: monitoring\n          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: prometheus\n",
		replacement: "        - ipBlock:\n            cidr: 192.0.2.1/32\n",
		want:        "traffic: Prometheus (namespace monitoring) cannot reach Deployment otel-collector port telemetry (8888/TCP)",
	},
	{
		name:        "every pod of monitoring may scrape the Collector",
		file:        "otel-collector.yaml",
		old:         "              kubernetes.io/metadata.name: monitoring\n          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: prometheus\n",
		replacement: "              kubernetes.io/metadata.name: monitoring\n",
		want:        "traffic: an unlabelled pod in namespace monitoring can reach Deployment otel-collector port telemetry (8888/TCP)",
	},
	{
		name:        "spans from a service-labelled pod of any namespace",
		file:        "otel-collector.yaml",
		old:         "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: service\n",
		replacement: "        - namespaceSelector: {}\n          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: service\n",
		want:        "traffic: a pod labelled app.kubernetes.io/name=service in namespace default can reach Deployment otel-collector port otlp-grpc (4317/TCP)",
	},
	{
		name:        "egress denied to every pod of the namespace",
		file:        "otel-collector.yaml",
		old:         "        - port: spanmetrics\n",
		replacement: "        - port: spanmetrics\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: no-egress\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
		want:        "traffic: Deployment service cannot reach the cluster DNS port dns (53/UDP) (name lookups)",
	},
	{
		name:        "a selector the API server refuses",
		file:        "otel-collector.yaml",
		old:         "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: service\n",
		replacement: "        - podSelector:\n            matchExpressions:\n              - {key: app.kubernetes.io/name, operator: Sometimes, values: [service]}\n",
		want:        "traffic: NetworkPolicy otel-collector: ingress rule 0 peer 0 podSelector:",
	},
}

// TestEveryBreakIsCaught breaks a copy of the base once per mutation and expects the named
// problem, so each check is shown to fail when it should.
func TestEveryBreakIsCaught(t *testing.T) {
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			dir := baseCopy(t)
			edit(t, dir, m.file, m.old, m.replacement)
			problems := baseProblems(t, dir)
			for _, p := range problems {
				if strings.Contains(p, m.want) {
					return
				}
			}
			t.Errorf("%s: no problem contains %q; found:\n%s", m.name, m.want, strings.Join(problems, "\n"))
		})
	}
}

// TestTheUnbrokenCopyHasNoProblem: the copy itself passes, so a mutation's problem is its own.
func TestTheUnbrokenCopyHasNoProblem(t *testing.T) {
	if problems := baseProblems(t, baseCopy(t)); len(problems) > 0 {
		t.Errorf("a copy of the base has problems:\n%s", strings.Join(problems, "\n"))
	}
}
