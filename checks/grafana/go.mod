// Tests Grafana's provisioning files with Go modules Grafana publishes or builds on, all Apache-2.0
// (Grafana itself cannot run here). Test-only: nothing in this module is built into the stack.
//
// versions.yaml pins the versions (grafana.go_modules for the foundation SDK, alertmanager.module for
// Alertmanager); pins_test.go fails when this file builds others. github.com/grafana/alerting and
// every other AGPL module are not used (pins_test.go fails if one enters the build list).
module monitored-service/checks/grafana

go 1.24

require (
	github.com/grafana/grafana-foundation-sdk/go v0.0.22
	github.com/prometheus/alertmanager v0.28.1
	github.com/prometheus/common v0.61.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.20.5 // indirect
	github.com/prometheus/client_model v0.6.1 // indirect
	github.com/prometheus/procfs v0.15.1 // indirect
	github.com/shurcooL/httpfs v0.0.0-20230704072500-f1e31cf0ba5c // indirect
	github.com/shurcooL/vfsgen v0.0.0-20230704071429-0000e147ea92 // indirect
	golang.org/x/sys v0.28.0 // indirect
	golang.org/x/text v0.21.0 // indirect
	google.golang.org/protobuf v1.35.2 // indirect
)

require monitored-service/checks/gotest v0.0.0

// The shared test helpers live in this repository.
replace monitored-service/checks/gotest => ../gotest
