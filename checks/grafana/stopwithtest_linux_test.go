package grafana

import "syscall"

// stopWithTest makes the kernel kill a child process when the test binary dies without running its
// cleanups (a panic, `go test -timeout`), so no inbox is left listening.
func stopWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
