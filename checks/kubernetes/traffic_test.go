package kubernetes

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prometheusPod is where kube-prometheus-stack's Prometheus runs (docs/scaling.md installs it in
// namespace `monitoring`) and the label the Prometheus Operator gives its pods.
var prometheusPod = source{
	what:      "Prometheus (namespace monitoring)",
	namespace: "monitoring",
	labels:    map[string]string{"app.kubernetes.io/name": "prometheus"},
}

// source is a pod that opens a connection.
type source struct {
	what      string
	namespace string
	labels    map[string]string
}

// target is a container port of a Deployment's pods.
type target struct {
	deployment *appsv1.Deployment
	port       corev1.ContainerPort
}

func (t target) String() string {
	return fmt.Sprintf("Deployment %s port %s (%d)", t.deployment.Name, t.port.Name, t.port.ContainerPort)
}

// trafficProblems evaluates the base's NetworkPolicies the way a network plugin that enforces them
// would: the service's spans must reach the Collector and Prometheus must reach every target its
// ServiceMonitors name, while a pod of any other app, in this namespace or another, must not be
// able to send the Collector spans.
func trafficProblems(_ *testing.T, e env) []string {
	policies := all[*networkingv1.NetworkPolicy](e.objects)
	deployments := all[*appsv1.Deployment](e.objects)
	services := all[*corev1.Service](e.objects)
	var problems []string
	check := func(from source, to target, why string) {
		ok, err := admitted(policies, from, to)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case !ok:
			problems = append(problems, fmt.Sprintf("%s cannot reach %s (%s): no NetworkPolicy rule lets it through", from.what, to, why))
		}
	}

	service, err := find[*appsv1.Deployment](e.objects, "Deployment", "service")
	if err != nil {
		return []string{err.Error()}
	}
	var otlp []target
	for _, container := range service.Spec.Template.Spec.Containers {
		endpoint := envValue(container, "OTEL_EXPORTER_OTLP_ENDPOINT")
		if endpoint == "" {
			continue
		}
		found, err := serviceTargets(endpoint, service.Namespace, services, deployments)
		if err != nil {
			problems = append(problems, fmt.Sprintf("Deployment service: OTEL_EXPORTER_OTLP_ENDPOINT %s: %v", endpoint, err))
		}
		otlp = append(otlp, found...)
	}
	if len(otlp) == 0 && len(problems) == 0 {
		problems = append(problems, "Deployment service sets no OTEL_EXPORTER_OTLP_ENDPOINT: its spans go nowhere in the base")
	}
	spans := source{what: "Deployment service", namespace: service.Namespace, labels: service.Spec.Template.Labels}
	for _, to := range otlp {
		check(spans, to, "its spans")
		for _, stranger := range []source{
			{what: "another pod in namespace " + service.Namespace, namespace: service.Namespace, labels: map[string]string{"app.kubernetes.io/name": "stranger"}},
			{what: "a pod in namespace default", namespace: "default", labels: map[string]string{"app.kubernetes.io/name": "stranger"}},
		} {
			ok, err := admitted(policies, stranger, to)
			if err == nil && ok {
				problems = append(problems, fmt.Sprintf("%s can reach %s: any app can send the Collector spans (no NetworkPolicy keeps it out)", stranger.what, to))
			}
		}
	}

	for _, monitor := range all[*monitoringv1.ServiceMonitor](e.objects) {
		selected, err := selectedServices(monitor, services)
		if err != nil {
			continue // scrapingProblems reports it
		}
		for _, svc := range selected {
			for _, endpoint := range monitor.Spec.Endpoints {
				for _, port := range svc.Spec.Ports {
					if port.Name != endpoint.Port {
						continue
					}
					for _, to := range portTargets(svc, port, deployments) {
						check(prometheusPod, to, "ServiceMonitor "+monitor.Name+" scrapes it")
					}
				}
			}
		}
	}
	return problems
}

// serviceTargets resolves an address such as http://otel-collector:4317 (a Service in namespace,
// or NAME.NAMESPACE.svc...) to the container ports behind that Service port.
func serviceTargets(address, namespace string, services []*corev1.Service, deployments []*appsv1.Deployment) ([]target, error) {
	parsed, err := url.Parse(address)
	if err != nil {
		return nil, err
	}
	host, portText, err := net.SplitHostPort(parsed.Host)
	if err != nil {
		return nil, err
	}
	number, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	name, rest, _ := strings.Cut(host, ".")
	if rest != "" {
		namespace, _, _ = strings.Cut(rest, ".")
	}
	for _, svc := range services {
		if svc.Name != name || svc.Namespace != namespace {
			continue
		}
		for _, port := range svc.Spec.Ports {
			if int(port.Port) == number {
				return portTargets(svc, port, deployments), nil
			}
		}
		return nil, fmt.Errorf("Service %s has no port %d (%s)", svc.Name, number, portNames(svc))
	}
	return nil, fmt.Errorf("no Service %s in namespace %s", name, namespace)
}

// portTargets are the container ports a Service port forwards to.
func portTargets(svc *corev1.Service, port corev1.ServicePort, deployments []*appsv1.Deployment) []target {
	var targets []target
	for _, deployment := range deployments {
		pod := deployment.Spec.Template
		if deployment.Namespace != svc.Namespace || len(svc.Spec.Selector) == 0 ||
			!labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, container := range pod.Spec.Containers {
			for _, containerPort := range container.Ports {
				if portMatches(port.TargetPort, containerPort) {
					targets = append(targets, target{deployment: deployment, port: containerPort})
				}
			}
		}
	}
	return targets
}

func portMatches(port intstr.IntOrString, containerPort corev1.ContainerPort) bool {
	if port.Type == intstr.String {
		return port.StrVal == containerPort.Name
	}
	return port.IntVal == containerPort.ContainerPort
}

// admitted says whether the policies let a TCP connection from `from` to `to` in. A pod no policy
// selects for ingress accepts everything; a selected pod accepts what one of their rules allows.
func admitted(policies []*networkingv1.NetworkPolicy, from source, to target) (bool, error) {
	isolated := false
	for _, policy := range policies {
		selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
		if err != nil {
			return false, fmt.Errorf("NetworkPolicy %s: podSelector: %v", policy.Name, err)
		}
		if policy.Namespace != to.deployment.Namespace || !selector.Matches(labels.Set(to.deployment.Spec.Template.Labels)) ||
			!governsIngress(policy) {
			continue
		}
		isolated = true
		for _, rule := range policy.Spec.Ingress {
			peerOK, err := anyPeer(policy, rule.From, from)
			if err != nil {
				return false, err
			}
			if peerOK && anyPort(rule.Ports, to.port) {
				return true, nil
			}
		}
	}
	return !isolated, nil
}

// governsIngress: an unset policyTypes means Ingress (the API server's default).
func governsIngress(policy *networkingv1.NetworkPolicy) bool {
	return len(policy.Spec.PolicyTypes) == 0 || slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

// anyPeer: an empty list allows every source. An ipBlock counts as matching every pod: pod
// addresses are unknown offline, and a block wide enough to let strangers in must be reported.
func anyPeer(policy *networkingv1.NetworkPolicy, peers []networkingv1.NetworkPolicyPeer, from source) (bool, error) {
	if len(peers) == 0 {
		return true, nil
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			return true, nil
		}
		namespaceOK := from.namespace == policy.Namespace
		if peer.NamespaceSelector != nil {
			selector, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
			if err != nil {
				return false, fmt.Errorf("NetworkPolicy %s: namespaceSelector: %v", policy.Name, err)
			}
			// Every namespace carries its name in this label.
			namespaceOK = selector.Matches(labels.Set{"kubernetes.io/metadata.name": from.namespace})
		}
		podOK := true
		if peer.PodSelector != nil {
			selector, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
			if err != nil {
				return false, fmt.Errorf("NetworkPolicy %s: podSelector: %v", policy.Name, err)
			}
			podOK = selector.Matches(labels.Set(from.labels))
		}
		if namespaceOK && podOK {
			return true, nil
		}
	}
	return false, nil
}

// anyPort: an empty list allows every port; a named port is the container port's name.
func anyPort(ports []networkingv1.NetworkPolicyPort, to corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, port := range ports {
		if port.Protocol != nil && *port.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case port.Port == nil:
			return true
		case port.Port.Type == intstr.String:
			if port.Port.StrVal == to.Name {
				return true
			}
		case port.EndPort != nil:
			if port.Port.IntVal <= to.ContainerPort && to.ContainerPort <= *port.EndPort {
				return true
			}
		case port.Port.IntVal == to.ContainerPort:
			return true
		}
	}
	return false
}
