package grafana

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// inboxBinary is the workspace's inbox: $INBOX_BIN, or built here with cargo (a no-op after
// scripts/test's `cargo test`, which built it already).
func inboxBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("INBOX_BIN"); bin != "" {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "cargo", "build", "-p", "inbox", "--bin", "inbox", "--locked", "--message-format=json-render-diagnostics")
	cmd.Dir = repoRoot(t)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cargo build -p inbox: %v (or set INBOX_BIN to an inbox binary)", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var message struct {
			Target     struct{ Name string } `json:"target"`
			Executable string                `json:"executable"`
		}
		if json.Unmarshal([]byte(line), &message) == nil && message.Target.Name == "inbox" && message.Executable != "" {
			return message.Executable
		}
	}
	t.Fatal("cargo build -p inbox named no inbox executable")
	return ""
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// client bounds every request the tests make to the inbox.
var client = &http.Client{Timeout: 10 * time.Second}

// startInbox runs the inbox on a free loopback port with token and returns its base URL. The process
// is stopped (SIGTERM, then SIGKILL) when the test ends, whatever its outcome.
func startInbox(t *testing.T, token string) string {
	t.Helper()
	cmd := exec.Command(inboxBinary(t))
	cmd.Env = append(os.Environ(), "INBOX_TOKEN="+token, "INBOX_LISTEN=127.0.0.1:0", "RUST_LOG=info")
	cmd.SysProcAttr = stopWithTest()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logText strings.Builder
	exited := make(chan struct{})
	address := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			logMu.Lock()
			logText.WriteString(scanner.Text() + "\n")
			logMu.Unlock()
			if match := listening.FindStringSubmatch(scanner.Text()); match != nil {
				select {
				case address <- match[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("inbox log:\n%s", logText.String())
			logMu.Unlock()
		}
	})

	var base string
	select {
	case addr := <-address:
		base = "http://" + addr
	case <-exited:
		t.Fatal("the inbox exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("the inbox did not log its address within 30s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inbox at %s is not healthy (last error %v, status %s)", base, err, statusOf(resp))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	return resp.Status
}

// received is one notification as the inbox's JSON API lists it (inbox/src/history.rs).
type received struct {
	ID      int64  `json:"id"`
	Source  string `json:"source"`
	Payload struct {
		Version string `json:"version"`
		Status  string `json:"status"`
		OrgID   int64  `json:"orgId"`
		Title   string `json:"title"`
		Message string `json:"message"`
		Alerts  []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	} `json:"payload"`
}

// inboxNotifications lists what the inbox received, newest first.
func inboxNotifications(t *testing.T, base string) []received {
	t.Helper()
	resp, err := client.Get(base + "/api/notifications")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var list []received
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /api/notifications: %v: %s", err, body)
	}
	return list
}
