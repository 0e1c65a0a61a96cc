package kubernetes

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// agplModules are modules this workplace does not use at all (AGPL-3.0), tests included.
var agplModules = []string{
	"github.com/grafana/alerting",
	"github.com/grafana/grafana",
	"github.com/grafana/tempo",
	"github.com/grafana/loki",
	"github.com/grafana/k6",
	"go.k6.io/k6",
}

func TestNoAGPLModuleInTheBuildList(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "all").Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	modules := 0
	for scanner.Scan() {
		path := strings.Fields(scanner.Text())[0]
		modules++
		for _, agpl := range agplModules {
			if path == agpl || strings.HasPrefix(path, agpl+"/") {
				t.Errorf("%s (AGPL-3.0) is in checks/kubernetes's build list", path)
			}
		}
	}
	if modules < 2 {
		t.Fatalf("go list -m all listed %d modules: check this test still means something", modules)
	}
}
