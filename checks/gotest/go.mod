// Test helpers that the Go modules checks/grafana and checks/kubernetes share; each requires this
// module through a `replace` to ../gotest. Standard library only.
module monitored-service/checks/gotest

go 1.24
