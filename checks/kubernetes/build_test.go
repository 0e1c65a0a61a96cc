package kubernetes

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one resource of the built base, decoded into its Go type.
type object struct {
	kind, name, namespace string
	value                 any
}

func (o object) String() string { return o.kind + " " + o.name }

// types are the Go types of every kind the base may contain, by apiVersion and kind: the
// Kubernetes API's own (k8s.io/api) and the Prometheus Operator's (monitoring/v1). A kind missing
// here is reported, so a new kind gets strict decoding too.
var types = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// build runs kustomize on the base in dir, as `kubectl apply -k` would, and decodes every object
// strictly: a field its type does not have, a duplicate field or a value of the wrong type (a
// quantity that does not parse, a string for a number) is a problem.
func build(dir string) ([]object, []string) {
	kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := kustomizer.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, []string{fmt.Sprintf("kustomize build %s: %v", dir, err)}
	}
	var objects []object
	var problems []string
	for _, resource := range resources.Resources() {
		what := resource.GetKind() + " " + resource.GetName()
		newValue, ok := types[resource.GetApiVersion()+"/"+resource.GetKind()]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no Go type for %s in checks/kubernetes (types)", what, resource.GetApiVersion()))
			continue
		}
		text, err := resource.AsYAML()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			continue
		}
		value := newValue()
		if err := yaml.UnmarshalStrict(text, value); err != nil {
			problems = append(problems, fmt.Sprintf("%s: strict decoding into %T: %v", what, value, err))
			continue
		}
		objects = append(objects, object{
			kind:      resource.GetKind(),
			name:      resource.GetName(),
			namespace: resource.GetNamespace(),
			value:     value,
		})
	}
	return objects, problems
}

// all returns the objects of type T (a pointer type such as *corev1.Service).
func all[T any](objects []object) []T {
	var out []T
	for _, o := range objects {
		if v, ok := o.value.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
