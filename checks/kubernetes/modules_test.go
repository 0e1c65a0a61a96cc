package kubernetes

import (
	"testing"

	"monitored-service/checks/gotest"
)

func TestNoAGPLModuleInTheBuildList(t *testing.T) {
	gotest.NoAGPLModule(t, "checks/kubernetes")
}
