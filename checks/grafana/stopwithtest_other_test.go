//go:build !linux

package grafana

import "syscall"

// stopWithTest: only Linux can tie a child's life to its parent's; elsewhere the cleanup stops it.
func stopWithTest() *syscall.SysProcAttr { return nil }
