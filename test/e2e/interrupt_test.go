//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/cli"
)

// TestE2EInterrupt sends Ctrl-C (SIGINT) to `kubectl plex up` while kubeadm
// init runs on the first node: up must stop, delete the instances it made,
// say so, and exit with 130 as after any Ctrl-C.
func TestE2EInterrupt(t *testing.T) {
	const name = "plexint"
	e, h := newEnv(t, name, "testdata/interrupt.yaml")
	bin, home := e.bin, e.home

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "up", "-f", e.spec, "--kubeconfig", e.kubeconfig)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	var out strings.Builder
	var sent time.Time
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if sent.IsZero() && strings.Contains(line, "kubeadm init on "+name+"1") {
			// Let kubeadm get going, then interrupt it.
			time.Sleep(2 * time.Second)
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatalf("SIGINT: %v", err)
			}
			sent = time.Now()
		}
	}
	err = cmd.Wait()
	t.Logf("kubectl plex up, interrupted:\n%s", out.String())
	if sent.IsZero() {
		t.Fatalf("up never reached kubeadm init (err %v)", err)
	}
	t.Logf("FIGURE up: Ctrl-C to exit, cleanup included: %s", time.Since(sent).Round(100*time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("up did not stop within the test's time limit after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitInterrupted {
		t.Fatalf("interrupted up: %v; want exit code %d", err, cli.ExitInterrupted)
	}
	// One line says which step was interrupted and what was cleaned up.
	if !strings.Contains(out.String(), name+": interrupted while kubeadm init on "+name+"1; removed the 2 instance(s) this run made") {
		t.Errorf("interrupted up did not say, in one line, where it was interrupted and what it removed")
	}
	if left := strings.TrimSpace(h.Incus(t, "list", "user.plex.plex="+name, "-c", "n", "-f", "csv")); left != "" {
		t.Fatalf("instances left after an interrupted up: %s", left)
	}
}
