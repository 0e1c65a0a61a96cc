package kubernetes

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"monitored-service/checks/gotest"
)

// The service's probes (service/src/lib.rs): liveness, and readiness, which answers 503 once
// shutdown starts.
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
)

// workloadProblems: every Deployment runs 2+ replicas, with probes, requests and limits, non-root
// with a read-only root filesystem; the service's shutdown fits its grace period; the Collector
// gets every address its config defaults to a compose host, and memory above its memory_limiter;
// every image is the one compose runs or versions.yaml pins.
func workloadProblems(t *testing.T, e env) []string {
	var problems []string
	images := pinnedImages(t, e.root)
	for _, deployment := range all[*appsv1.Deployment](e.objects) {
		add := func(format string, args ...any) {
			problems = append(problems, "Deployment "+deployment.Name+": "+fmt.Sprintf(format, args...))
		}
		if deployment.Spec.Replicas == nil || *deployment.Spec.Replicas < 2 {
			add("fewer than 2 replicas")
		}
		pod := deployment.Spec.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			add("mounts a service account token it does not use (automountServiceAccountToken)")
		}
		security := pod.SecurityContext
		if security == nil || security.RunAsNonRoot == nil || !*security.RunAsNonRoot {
			add("runAsNonRoot is not set")
		}
		if security == nil || security.SeccompProfile == nil || security.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			add("no RuntimeDefault seccomp profile (Pod Security `restricted` requires one)")
		}
		for _, container := range pod.Containers {
			for _, p := range containerProblems(container, images) {
				add("container %s: %s", container.Name, p)
			}
		}
	}
	problems = append(problems, shutdownProblems(e)...)
	problems = append(problems, collectorProblems(t, e)...)
	return problems
}

func containerProblems(container corev1.Container, images map[string]string) []string {
	var problems []string
	repository, _, _ := strings.Cut(container.Image, ":")
	switch pinned, ok := images[repository]; {
	case !ok:
		problems = append(problems, fmt.Sprintf("image %s is neither run by compose.yaml nor pinned in versions.yaml", container.Image))
	case pinned != container.Image:
		problems = append(problems, fmt.Sprintf("image %s, but compose.yaml / versions.yaml run %s", container.Image, pinned))
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": container.ReadinessProbe, "liveness": container.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			problems = append(problems, "no HTTP "+name+" probe")
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		request, limit := container.Resources.Requests[name], container.Resources.Limits[name]
		switch {
		case request.IsZero() || limit.IsZero():
			problems = append(problems, fmt.Sprintf("%s request and limit must both be set", name))
		case request.Cmp(limit) > 0:
			problems = append(problems, fmt.Sprintf("%s request %s above its limit %s", name, request.String(), limit.String()))
		}
	}
	security := container.SecurityContext
	switch {
	case security == nil:
		problems = append(problems, "no securityContext")
	default:
		if security.AllowPrivilegeEscalation == nil || *security.AllowPrivilegeEscalation {
			problems = append(problems, "allowPrivilegeEscalation is not false")
		}
		if security.ReadOnlyRootFilesystem == nil || !*security.ReadOnlyRootFilesystem {
			problems = append(problems, "the root filesystem is writable (readOnlyRootFilesystem)")
		}
		if security.Capabilities == nil || !slices.Contains(security.Capabilities.Drop, "ALL") {
			problems = append(problems, "capabilities are not dropped (drop: [ALL])")
		}
	}
	return problems
}

// pinnedImages maps image repositories to the image compose.yaml runs or versions.yaml pins.
func pinnedImages(t *testing.T, root string) map[string]string {
	images := map[string]string{}
	var pins map[string]struct {
		Image string `json:"image"`
	}
	decodeYAML(t, filepath.Join(root, "versions.yaml"), &pins)
	var compose struct {
		Services map[string]struct {
			Image string `json:"image"`
		} `json:"services"`
	}
	decodeYAML(t, filepath.Join(root, "compose.yaml"), &compose)
	for _, pin := range pins {
		repository, _, _ := strings.Cut(pin.Image, ":")
		images[repository] = pin.Image
	}
	for _, service := range compose.Services {
		repository, _, _ := strings.Cut(service.Image, ":")
		images[repository] = service.Image
	}
	return images
}

// shutdownProblems: the service's pods stop within terminationGracePeriodSeconds: the preStop
// sleep (endpoints removal), then the service's lame duck, request grace and span flush, which
// its environment sets explicitly, plus a second for the runtime to stop.
func shutdownProblems(e env) []string {
	deployment, err := find[*appsv1.Deployment](e.objects, "Deployment", "service")
	if err != nil {
		return []string{err.Error()}
	}
	pod := deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		return []string{fmt.Sprintf("Deployment service has %d containers, expected the service's one", len(pod.Containers))}
	}
	container := pod.Containers[0]
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, "Deployment service: "+fmt.Sprintf(format, args...))
	}
	if probe := container.ReadinessProbe; probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != readinessPath {
		add("readiness probe must GET %s (it turns 503 when shutdown starts)", readinessPath)
	}
	if probe := container.LivenessProbe; probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != livenessPath {
		add("liveness probe must GET %s", livenessPath)
	}
	var sleep time.Duration
	if hook := container.Lifecycle; hook == nil || hook.PreStop == nil || hook.PreStop.Sleep == nil || hook.PreStop.Sleep.Seconds < 1 {
		add("no preStop sleep: Kubernetes sends SIGTERM while the pod is still in the Service's endpoints")
	} else {
		sleep = time.Duration(hook.PreStop.Sleep.Seconds) * time.Second
	}
	total := sleep + time.Second
	for _, name := range []string{"SERVICE_SHUTDOWN_LAME_DUCK", "SERVICE_SHUTDOWN_GRACE", "SERVICE_FLUSH_TIMEOUT"} {
		value := envValue(container, name)
		d, err := time.ParseDuration(value)
		if err != nil {
			add("set %s explicitly (terminationGracePeriodSeconds depends on it): %v", name, err)
		}
		total += d
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second < total {
		add("terminationGracePeriodSeconds is below the %s the shutdown takes (preStop, lame duck, grace, flush, 1s)", total)
	}
	return problems
}

func envValue(container corev1.Container, name string) string {
	for _, env := range container.Env {
		if env.Name == name {
			return env.Value
		}
	}
	return ""
}

// envDefault is `${env:NAME:-default}` in the Collector's config.
var envDefault = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}`)

// collectorProblems: the Collector Deployment sets every variable whose default in
// otel-collector/config.yaml names a compose host (a listen address or port stays), and its memory
// limit is above the memory_limiter's limit_mib, so the limiter refuses data before the kernel
// kills the container.
func collectorProblems(t *testing.T, e env) []string {
	deployment, err := find[*appsv1.Deployment](e.objects, "Deployment", "otel-collector")
	if err != nil {
		return []string{err.Error()}
	}
	if len(deployment.Spec.Template.Spec.Containers) != 1 {
		return []string{fmt.Sprintf("Deployment otel-collector has %d containers, expected the Collector's one", len(deployment.Spec.Template.Spec.Containers))}
	}
	container := deployment.Spec.Template.Spec.Containers[0]
	text := gotest.ReadFile(t, filepath.Join(e.root, "otel-collector/config.yaml"))
	var problems []string
	for _, match := range envDefault.FindAllStringSubmatch(string(text), -1) {
		name, fallback := match[1], match[2]
		host, _, found := strings.Cut(fallback, ":")
		composeHost := found && host != "" && host != "0.0.0.0" && host != "localhost" && host != "127.0.0.1"
		if composeHost && envValue(container, name) == "" {
			problems = append(problems, fmt.Sprintf("Deployment %s: %s is not set, so the Collector dials the compose host %s",
				deployment.Name, name, fallback))
		}
	}
	var config struct {
		Processors struct {
			MemoryLimiter struct {
				LimitMiB int64 `json:"limit_mib"`
			} `json:"memory_limiter"`
		} `json:"processors"`
	}
	decodeYAML(t, filepath.Join(e.root, "otel-collector/config.yaml"), &config)
	limiter := resource.NewQuantity(config.Processors.MemoryLimiter.LimitMiB<<20, resource.BinarySI)
	limit := container.Resources.Limits[corev1.ResourceMemory]
	if limiter.IsZero() || limit.Cmp(*limiter) <= 0 {
		problems = append(problems, fmt.Sprintf("Deployment %s: memory limit %s is not above the memory_limiter's %s",
			deployment.Name, limit.String(), limiter.String()))
	}
	return problems
}
