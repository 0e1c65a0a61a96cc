// Command generate writes deploy/kubernetes/generated/ from the repository's own files (see
// package kubernetes). Run it from checks/kubernetes: `go -C checks/kubernetes run ./cmd/generate`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	kubernetes "monitored-service/checks/kubernetes"
)

func main() {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(root, kubernetes.BaseDir, "kustomization.yaml"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "generate: run it in checks/kubernetes (%s): %v\n", kubernetes.Command, err)
		os.Exit(1)
	}
	if err := kubernetes.Write(root); err != nil {
		fmt.Fprintf(os.Stderr, "generate: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s\n", filepath.Join(kubernetes.BaseDir, kubernetes.GeneratedDir))
}
