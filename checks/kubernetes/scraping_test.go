package kubernetes

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// coveredByTheChart are prometheus/prometheus.yml's jobs for programs kube-prometheus-stack runs
// and scrapes itself (under its own job names; docs/scaling.md says what that changes).
var coveredByTheChart = []string{"node", "prometheus"}

// scrapingProblems follows each ServiceMonitor to the Services it selects and each Service to the
// pods it selects, as the Operator and Kubernetes would: a selector that matches nothing or a port
// name that does not exist is a target Prometheus silently never scrapes. The jobs the monitors
// produce must be prometheus/prometheus.yml's, which the rules and dashboards query.
func scrapingProblems(t *testing.T, e env) []string {
	var problems []string
	services := all[*corev1.Service](e.objects)
	jobs := map[string]bool{}
	// The sampleLimit of the monitor producing each job (0: none).
	sampleLimits := map[string]int64{}
	for _, monitor := range all[*monitoringv1.ServiceMonitor](e.objects) {
		what := "ServiceMonitor " + monitor.Name
		selected, err := selectedServices(monitor, services)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			continue
		}
		if len(selected) == 0 {
			problems = append(problems, fmt.Sprintf("%s selects no Service (selector %s): Prometheus scrapes nothing for it",
				what, metav1.FormatLabelSelector(&monitor.Spec.Selector)))
		}
		if len(monitor.Spec.Endpoints) == 0 {
			problems = append(problems, what+" has no endpoints")
		}
		for _, service := range selected {
			for i, endpoint := range monitor.Spec.Endpoints {
				if !slices.ContainsFunc(service.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == endpoint.Port }) {
					problems = append(problems, fmt.Sprintf("%s endpoint %d: port %q is no port of Service %s (%s)",
						what, i, endpoint.Port, service.Name, portNames(service)))
				}
				job := jobName(monitor, service, endpoint)
				jobs[job] = true
				if monitor.Spec.SampleLimit != nil {
					sampleLimits[job] = *monitor.Spec.SampleLimit
				}
			}
		}
	}
	for _, service := range services {
		problems = append(problems, servicePodProblems(service, all[*appsv1.Deployment](e.objects))...)
	}
	var compose struct {
		ScrapeConfigs []struct {
			JobName     string `json:"job_name"`
			SampleLimit int64  `json:"sample_limit"`
		} `json:"scrape_configs"`
	}
	decodeYAML(t, filepath.Join(e.root, "prometheus/prometheus.yml"), &compose)
	for _, job := range compose.ScrapeConfigs {
		if slices.Contains(coveredByTheChart, job.JobName) {
			continue
		}
		if !jobs[job.JobName] {
			problems = append(problems, fmt.Sprintf("prometheus.yml's job %q is produced by no ServiceMonitor here (jobs: %v)",
				job.JobName, sortedKeys(jobs)))
		} else if sampleLimits[job.JobName] != job.SampleLimit {
			problems = append(problems, fmt.Sprintf("job %q: sample limit %d in prometheus.yml, %d in its ServiceMonitor (0: none)",
				job.JobName, job.SampleLimit, sampleLimits[job.JobName]))
		}
	}
	return problems
}

// selectedServices are the Services a ServiceMonitor selects: by label, in its own namespace unless
// its namespaceSelector says otherwise.
func selectedServices(monitor *monitoringv1.ServiceMonitor, services []*corev1.Service) ([]*corev1.Service, error) {
	selector, err := metav1.LabelSelectorAsSelector(&monitor.Spec.Selector)
	if err != nil {
		return nil, err
	}
	if selector.Empty() {
		return nil, fmt.Errorf("an empty selector selects every Service")
	}
	var selected []*corev1.Service
	for _, service := range services {
		namespaces := monitor.Spec.NamespaceSelector
		inScope := namespaces.Any || slices.Contains(namespaces.MatchNames, service.Namespace) ||
			(len(namespaces.MatchNames) == 0 && service.Namespace == monitor.Namespace)
		if inScope && selector.Matches(labels.Set(service.Labels)) {
			selected = append(selected, service)
		}
	}
	return selected, nil
}

// jobName is the `job` label the Operator gives an endpoint's targets: the Service's name, or the
// value of its jobLabel label, then the endpoint's relabelings that set `job`.
func jobName(monitor *monitoringv1.ServiceMonitor, service *corev1.Service, endpoint monitoringv1.Endpoint) string {
	job := service.Name
	if value, ok := service.Labels[monitor.Spec.JobLabel]; ok && monitor.Spec.JobLabel != "" && value != "" {
		job = value
	}
	for _, relabel := range endpoint.RelabelConfigs {
		if relabel.TargetLabel == "job" && len(relabel.SourceLabels) == 0 && relabel.Replacement != nil &&
			(relabel.Action == "" || relabel.Action == "replace") {
			job = *relabel.Replacement
		}
	}
	return job
}

// servicePodProblems: a Service must select the pods of a Deployment in its namespace, and each of
// its target ports must be a port of their containers.
func servicePodProblems(service *corev1.Service, deployments []*appsv1.Deployment) []string {
	what := "Service " + service.Name
	if len(service.Spec.Selector) == 0 {
		return []string{what + " has no selector"}
	}
	selected := selectedDeployments(service, deployments)
	if len(selected) == 0 {
		return []string{fmt.Sprintf("%s selects the pods of no Deployment (selector %v)", what, service.Spec.Selector)}
	}
	var problems []string
	for _, deployment := range selected {
		for _, port := range service.Spec.Ports {
			if !podHasPort(deployment.Spec.Template.Spec, port.TargetPort) {
				problems = append(problems, fmt.Sprintf("%s port %s: target port %s is no container port of Deployment %s",
					what, port.Name, port.TargetPort.String(), deployment.Name))
			}
		}
	}
	return problems
}

// selectedDeployments are the Deployments in a Service's namespace whose pods its selector matches.
func selectedDeployments(service *corev1.Service, deployments []*appsv1.Deployment) []*appsv1.Deployment {
	var selected []*appsv1.Deployment
	for _, deployment := range deployments {
		if len(service.Spec.Selector) > 0 && deployment.Namespace == service.Namespace &&
			labels.SelectorFromSet(service.Spec.Selector).Matches(labels.Set(deployment.Spec.Template.Labels)) {
			selected = append(selected, deployment)
		}
	}
	return selected
}

func podHasPort(pod corev1.PodSpec, target intstr.IntOrString) bool {
	for _, container := range pod.Containers {
		if slices.ContainsFunc(container.Ports, func(port corev1.ContainerPort) bool { return containerPortIs(target, port) }) {
			return true
		}
	}
	return false
}

// containerPortIs says whether a Service's target port (a name or a number) is this container port.
func containerPortIs(target intstr.IntOrString, port corev1.ContainerPort) bool {
	if target.Type == intstr.String {
		return port.Name == target.StrVal
	}
	return port.ContainerPort == target.IntVal
}

func portNames(service *corev1.Service) string {
	names := make([]string, 0, len(service.Spec.Ports))
	for _, port := range service.Spec.Ports {
		names = append(names, port.Name)
	}
	return fmt.Sprintf("ports %v", names)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}
