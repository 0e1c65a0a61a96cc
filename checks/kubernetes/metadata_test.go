package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation"
)

// metadataProblems: what the API server would refuse that strict decoding lets through (names,
// label keys and values, port names, by apimachinery's validation functions), and every object in
// the base's one namespace.
func metadataProblems(_ *testing.T, e env) []string {
	var problems []string
	add := func(o object, format string, args ...any) {
		problems = append(problems, o.String()+": "+fmt.Sprintf(format, args...))
	}
	namespaces := all[*corev1.Namespace](e.objects)
	if len(namespaces) != 1 {
		problems = append(problems, fmt.Sprintf("the base has %d Namespaces, expected its own one", len(namespaces)))
		return problems
	}
	namespace := namespaces[0].Name
	for _, o := range e.objects {
		accessor, err := meta.Accessor(o.value)
		if err != nil {
			add(o, "%v", err)
			continue
		}
		nameErrors := validation.IsDNS1123Subdomain(o.name)
		if o.kind == "Service" || o.kind == "Namespace" {
			// Service and namespace names are DNS labels.
			nameErrors = validation.IsDNS1035Label(o.name)
		}
		for _, msg := range nameErrors {
			add(o, "name: %s", msg)
		}
		for key, value := range accessor.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(key), validation.IsValidLabelValue(value)...) {
				add(o, "label %s=%s: %s", key, value, msg)
			}
		}
		for key := range accessor.GetAnnotations() {
			for _, msg := range validation.IsQualifiedName(strings.ToLower(key)) {
				add(o, "annotation %s: %s", key, msg)
			}
		}
		if o.kind != "Namespace" && o.namespace != namespace {
			add(o, "in namespace %q, not the base's %q", o.namespace, namespace)
		}
	}
	for _, service := range all[*corev1.Service](e.objects) {
		for _, port := range service.Spec.Ports {
			for _, msg := range validation.IsValidPortName(port.Name) {
				problems = append(problems, fmt.Sprintf("Service %s: port name %q: %s", service.Name, port.Name, msg))
			}
		}
	}
	for _, deployment := range all[*appsv1.Deployment](e.objects) {
		for _, container := range deployment.Spec.Template.Spec.Containers {
			for _, port := range container.Ports {
				for _, msg := range validation.IsValidPortName(port.Name) {
					problems = append(problems, fmt.Sprintf("Deployment %s: container port name %q: %s", deployment.Name, port.Name, msg))
				}
			}
		}
	}
	return problems
}
