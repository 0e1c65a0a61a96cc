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

// pod is one end of a connection: a Deployment's pods, or a pod outside the base.
type pod struct {
	what      string
	namespace string
	labels    map[string]string
}

// port is the destination port of a connection: its name on the destination pod ("" when unknown),
// number and protocol.
type port struct {
	name     string
	number   int32
	protocol corev1.Protocol
}

// spansWhy marks the flows that carry spans.
const spansWhy = "its spans"

// flow is a connection the stack needs.
type flow struct {
	from, to pod
	port     port
	why      string
}

// Pods outside the base that the stack talks to, as docs/scaling.md installs them: the Prometheus
// Operator labels every Prometheus pod app.kubernetes.io/name=prometheus; kube-dns is the cluster
// DNS's conventional label.
var (
	prometheusPod = pod{what: "Prometheus (namespace monitoring)", namespace: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	tempoPod      = pod{what: "Tempo", namespace: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "tempo"}}
	dnsPod        = pod{what: "the cluster DNS", namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	dnsPort       = port{name: "dns", number: 53, protocol: corev1.ProtocolUDP}
)

// trafficProblems evaluates the base's NetworkPolicies, ingress and egress, the way a network
// plugin that enforces them would. Every connection the stack needs must get through: the
// service's spans to the Collector, the Collector's to Tempo, Prometheus's scrapes, DNS lookups.
// And a pod a policy isolates must be reachable on each port only by the pods that need that port:
// not by another app's pod, nor by a pod with the right labels in the wrong namespace.
func trafficProblems(_ *testing.T, e env) []string {
	policies := all[*networkingv1.NetworkPolicy](e.objects)
	problems := selectorProblems(policies)
	namespaces := map[string]labels.Set{}
	for _, namespace := range all[*corev1.Namespace](e.objects) {
		namespaces[namespace.Name] = labels.Set(namespace.Labels)
	}
	cluster := network{policies: policies, namespaces: namespaces}

	flows, flowProblems := neededFlows(e)
	problems = append(problems, flowProblems...)
	for _, f := range flows {
		if !cluster.admits(f.from, f.to, f.port, false) {
			problems = append(problems, fmt.Sprintf("%s cannot reach %s port %s (%s): no NetworkPolicy rule lets it through",
				f.from.what, f.to.what, f.port, f.why))
		}
	}

	for _, deployment := range all[*appsv1.Deployment](e.objects) {
		to := deploymentPod(deployment)
		// The service's API is open to every pod by design; what receives spans must not be.
		receivesSpans := slices.ContainsFunc(flows, func(f flow) bool { return f.to.what == to.what && f.why == spansWhy })
		if !receivesSpans && !cluster.isolates(to, networkingv1.PolicyTypeIngress) {
			continue
		}
		for _, container := range deployment.Spec.Template.Spec.Containers {
			for _, containerPort := range container.Ports {
				destination := port{name: containerPort.Name, number: containerPort.ContainerPort, protocol: corev1.ProtocolTCP}
				for _, from := range strangers(flows, to, destination) {
					if cluster.admits(from, to, destination, true) {
						problems = append(problems, fmt.Sprintf("%s can reach %s port %s, which only the pods that need it should (NetworkPolicy)",
							from.what, to.what, destination))
					}
				}
			}
		}
	}
	return problems
}

func (p port) String() string {
	if p.name == "" {
		return fmt.Sprintf("%d/%s", p.number, p.protocol)
	}
	return fmt.Sprintf("%s (%d/%s)", p.name, p.number, p.protocol)
}

func deploymentPod(deployment *appsv1.Deployment) pod {
	return pod{what: "Deployment " + deployment.Name, namespace: deployment.Namespace, labels: deployment.Spec.Template.Labels}
}

// neededFlows are the connections the base makes: from the addresses its containers are given and
// the ports its ServiceMonitors scrape.
func neededFlows(e env) ([]flow, []string) {
	deployments := all[*appsv1.Deployment](e.objects)
	services := all[*corev1.Service](e.objects)
	var flows []flow
	var problems []string
	for _, deployment := range deployments {
		from := deploymentPod(deployment)
		flows = append(flows, flow{from: from, to: dnsPod, port: dnsPort, why: "name lookups"})
		for _, container := range deployment.Spec.Template.Spec.Containers {
			if endpoint := envValue(container, "OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint != "" {
				targets, err := serviceTargets(endpoint, deployment.Namespace, services, deployments)
				if err != nil || len(targets) == 0 {
					problems = append(problems, fmt.Sprintf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %s reaches no container port in the base (%v)",
						from.what, endpoint, err))
				}
				for _, to := range targets {
					flows = append(flows, flow{from: from, to: to.pod, port: to.port, why: spansWhy})
				}
			}
			if endpoint := envValue(container, "TEMPO_OTLP_ENDPOINT"); endpoint != "" {
				if _, number, err := net.SplitHostPort(endpoint); err == nil {
					n, _ := strconv.Atoi(number)
					flows = append(flows, flow{from: from, to: tempoPod, port: port{number: int32(n), protocol: corev1.ProtocolTCP}, why: spansWhy})
				}
			}
		}
	}
	for _, monitor := range all[*monitoringv1.ServiceMonitor](e.objects) {
		selected, err := selectedServices(monitor, services)
		if err != nil {
			continue // scrapingProblems reports it
		}
		for _, service := range selected {
			for _, endpoint := range monitor.Spec.Endpoints {
				for _, servicePort := range service.Spec.Ports {
					if servicePort.Name == endpoint.Port {
						for _, to := range portTargets(service, servicePort, deployments) {
							flows = append(flows, flow{from: prometheusPod, to: to.pod, port: to.port, why: "ServiceMonitor " + monitor.Name})
						}
					}
				}
			}
		}
	}
	return flows, problems
}

// target is a container port of a Deployment's pods.
type target struct {
	pod  pod
	port port
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
	for _, service := range services {
		if service.Name != name || service.Namespace != namespace {
			continue
		}
		for _, servicePort := range service.Spec.Ports {
			if int(servicePort.Port) == number {
				return portTargets(service, servicePort, deployments), nil
			}
		}
		return nil, fmt.Errorf("Service %s has no port %d (%s)", service.Name, number, portNames(service))
	}
	return nil, fmt.Errorf("no Service %s in namespace %s", name, namespace)
}

// portTargets are the container ports a Service port forwards to.
func portTargets(service *corev1.Service, servicePort corev1.ServicePort, deployments []*appsv1.Deployment) []target {
	var targets []target
	for _, deployment := range selectedDeployments(service, deployments) {
		for _, container := range deployment.Spec.Template.Spec.Containers {
			for _, containerPort := range container.Ports {
				if containerPortIs(servicePort.TargetPort, containerPort) {
					targets = append(targets, target{
						pod:  deploymentPod(deployment),
						port: port{name: containerPort.Name, number: containerPort.ContainerPort, protocol: corev1.ProtocolTCP},
					})
				}
			}
		}
	}
	return targets
}

// strangers are the pods that must not reach port of `to`: every pod that needs another port,
// each of them (and an unlabelled pod) in this namespace, in `default` and in `monitoring`, and
// another app's pod. Those that need this very port are left out.
func strangers(flows []flow, to pod, destination port) []pod {
	needs := func(from pod) bool {
		return slices.ContainsFunc(flows, func(f flow) bool {
			return f.to.what == to.what && f.port.number == destination.number &&
				f.from.namespace == from.namespace && labels.Equals(f.from.labels, from.labels)
		})
	}
	looks := []map[string]string{{}, {"app.kubernetes.io/name": "another-app"}}
	for _, f := range flows {
		looks = append(looks, f.from.labels)
	}
	var out []pod
	for _, namespace := range []string{to.namespace, "default", prometheusPod.namespace} {
		for _, podLabels := range looks {
			what := "an unlabelled pod in namespace " + namespace
			if len(podLabels) > 0 {
				what = fmt.Sprintf("a pod labelled %s in namespace %s", labels.Set(podLabels), namespace)
			}
			candidate := pod{what: what, namespace: namespace, labels: podLabels}
			if !needs(candidate) && !slices.ContainsFunc(out, func(p pod) bool { return p.what == candidate.what }) {
				out = append(out, candidate)
			}
		}
	}
	return out
}

// network is the base's NetworkPolicies and the labels of its namespaces.
type network struct {
	policies   []*networkingv1.NetworkPolicy
	namespaces map[string]labels.Set
}

// admits says whether a connection gets through: the egress policies selecting `from` and the
// ingress policies selecting `to` must each allow it (a pod no policy selects for a direction
// allows everything in that direction). `wide` says how to take an ipBlock, which cannot be
// matched to pod addresses offline: as allowing everyone when looking for holes, as allowing
// no pod when proving that a needed connection works.
func (n network) admits(from, to pod, destination port, wide bool) bool {
	ingress := n.allows(to, networkingv1.PolicyTypeIngress, from, destination, wide)
	egress := n.allows(from, networkingv1.PolicyTypeEgress, to, destination, wide)
	return ingress && egress
}

// allows: the policies of direction that select `subject` let it talk to `peer` on destination.
func (n network) allows(subject pod, direction networkingv1.PolicyType, peer pod, destination port, wide bool) bool {
	selecting := n.selecting(subject, direction)
	if len(selecting) == 0 {
		return true
	}
	for _, policy := range selecting {
		for _, rule := range rules(policy, direction) {
			if n.anyPeer(policy.Namespace, rule.peers, peer, wide) && anyPort(rule.ports, destination) {
				return true
			}
		}
	}
	return false
}

// isolates: some policy selects the pod for direction, so only what one allows gets through.
func (n network) isolates(subject pod, direction networkingv1.PolicyType) bool {
	return len(n.selecting(subject, direction)) > 0
}

func (n network) selecting(subject pod, direction networkingv1.PolicyType) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, policy := range n.policies {
		if policy.Namespace == subject.namespace && matches(&policy.Spec.PodSelector, subject.labels) && governs(policy, direction) {
			out = append(out, policy)
		}
	}
	return out
}

// rule is an ingress or egress rule: its peers (`from` or `to`) and ports.
type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

func rules(policy *networkingv1.NetworkPolicy, direction networkingv1.PolicyType) []rule {
	var out []rule
	if direction == networkingv1.PolicyTypeIngress {
		for _, r := range policy.Spec.Ingress {
			out = append(out, rule{peers: r.From, ports: r.Ports})
		}
	} else {
		for _, r := range policy.Spec.Egress {
			out = append(out, rule{peers: r.To, ports: r.Ports})
		}
	}
	return out
}

// governs: the API server's default for an unset policyTypes is Ingress, plus Egress when the
// policy has egress rules.
func governs(policy *networkingv1.NetworkPolicy, direction networkingv1.PolicyType) bool {
	if len(policy.Spec.PolicyTypes) > 0 {
		return slices.Contains(policy.Spec.PolicyTypes, direction)
	}
	return direction == networkingv1.PolicyTypeIngress || len(policy.Spec.Egress) > 0
}

// anyPeer: an empty list allows every pod; a peer with only a podSelector means the policy's
// namespace; a namespaceSelector and a podSelector in one peer must both match.
func (n network) anyPeer(policyNamespace string, peers []networkingv1.NetworkPolicyPeer, p pod, wide bool) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			if wide {
				return true
			}
			continue
		}
		namespaceOK := p.namespace == policyNamespace
		if peer.NamespaceSelector != nil {
			// Every namespace carries its name in this label; the base's own have their labels too.
			namespaceLabels := labels.Merge(n.namespaces[p.namespace], labels.Set{"kubernetes.io/metadata.name": p.namespace})
			namespaceOK = matches(peer.NamespaceSelector, namespaceLabels)
		}
		if namespaceOK && (peer.PodSelector == nil || matches(peer.PodSelector, p.labels)) {
			return true
		}
	}
	return false
}

// anyPort: an empty list allows every port; a named port is the destination pod's port name.
func anyPort(ports []networkingv1.NetworkPolicyPort, destination port) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		protocol := corev1.ProtocolTCP
		if p.Protocol != nil {
			protocol = *p.Protocol
		}
		switch {
		case protocol != destination.protocol:
			return false
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			return destination.name != "" && p.Port.StrVal == destination.name
		case p.EndPort != nil:
			return p.Port.IntVal <= destination.number && destination.number <= *p.EndPort
		default:
			return p.Port.IntVal == destination.number
		}
	})
}

// matches reports whether a selector matches; selectorProblems reports the invalid ones, which
// match nothing here.
func matches(selector *metav1.LabelSelector, set map[string]string) bool {
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	return err == nil && parsed.Matches(labels.Set(set))
}

// selectorProblems: every selector of every policy must be valid (the API server refuses the
// policy otherwise).
func selectorProblems(policies []*networkingv1.NetworkPolicy) []string {
	var problems []string
	check := func(policy *networkingv1.NetworkPolicy, where string, selector *metav1.LabelSelector) {
		if selector == nil {
			return
		}
		if _, err := metav1.LabelSelectorAsSelector(selector); err != nil {
			problems = append(problems, fmt.Sprintf("NetworkPolicy %s: %s: %v", policy.Name, where, err))
		}
	}
	for _, policy := range policies {
		check(policy, "podSelector", &policy.Spec.PodSelector)
		for _, direction := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			for i, r := range rules(policy, direction) {
				for j, peer := range r.peers {
					where := fmt.Sprintf("%s rule %d peer %d", strings.ToLower(string(direction)), i, j)
					check(policy, where+" namespaceSelector", peer.NamespaceSelector)
					check(policy, where+" podSelector", peer.PodSelector)
				}
			}
		}
	}
	return problems
}
