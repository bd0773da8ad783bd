//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestE2ELock starts two `kubectl plex up` of one plex at once: one brings
// it up while the other waits, naming it, and then finds nothing to do.
// Then `up --no-wait`, while another up holds the plex, fails at once
// naming the holder.
func TestE2ELock(t *testing.T) {
	const (
		name    = "plexlock"
		profile = "plex-lock-plex-" + name // the lock, while a run holds it
	)
	e, h := newEnv(t, name, "testdata/lock.yaml")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	waitingFor := func(r *bgRun) string {
		return fmt.Sprintf("%s: waiting for the plex, in use by host %s pid %d (kubectl plex up) since ", name, host, r.cmd.Process.Pid)
	}

	// 1. Two ups at once: both succeed, one after the other.
	a := e.start("up", "-f", e.spec)
	b := e.start("up", "-f", e.spec)
	a.wait(t, 10*time.Minute)
	b.wait(t, 10*time.Minute)
	if a.err != nil || b.err != nil {
		t.Fatalf("two ups at once: %v and %v; both should succeed, one after the other", a.err, b.err)
	}
	aOut, bOut := a.output(), b.output()
	// The second is the one that waited for the first.
	first, secondOut := a, bOut
	if strings.Contains(aOut, "waiting for the plex") {
		first, secondOut = b, aOut
	}
	if strings.Contains(first.output(), "waiting for the plex") || !strings.Contains(secondOut, waitingFor(first)) {
		t.Fatalf("exactly one up should wait, naming the other (%q); outputs:\n--- pid %d:\n%s\n--- pid %d:\n%s",
			waitingFor(first), a.cmd.Process.Pid, aOut, b.cmd.Process.Pid, bOut)
	}
	if strings.Count(secondOut, "waiting for the plex") != 2 { // opened, then closed ✓
		t.Errorf("the waiting up printed more than its one waiting line:\n%s", secondOut)
	}
	if !strings.Contains(secondOut, "no changes") {
		t.Fatalf("the up that waited did not adopt what the first made (no \"no changes\"):\n%s", secondOut)
	}
	if strings.Contains(h.Incus(t, "profile", "list", "-f", "csv", "-c", "n"), profile) {
		t.Fatalf("lock profile %s left after both ups ended", profile)
	}

	// 2. --no-wait while an up holds the plex. The holder is stopped
	// (SIGSTOP) once it has the lock, for a few seconds, well under the
	// 7.5 s after which it would give the lock up: the plex stays held
	// however quickly its up would have finished.
	holder := e.start("up", "-f", e.spec)
	waitEvery(t, 100*time.Millisecond, "the holder to take the lock "+profile, time.Minute, func() (bool, error) {
		return strings.Contains(h.Incus(t, "profile", "list", "-f", "csv", "-c", "n"), profile), nil
	})
	if err := holder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
	start := time.Now()
	out, err := e.plexWithin(30*time.Second, "up", "-f", e.spec, "--no-wait")
	took := time.Since(start)
	if err := holder.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT: %v", err)
	}
	if err == nil {
		t.Fatalf("up --no-wait succeeded while another up held the plex:\n%s", out)
	}
	if took > 10*time.Second {
		t.Errorf("up --no-wait took %s to fail; it should not wait", took.Round(100*time.Millisecond))
	}
	want := fmt.Sprintf("is in use by host %s pid %d (kubectl plex up)", host, holder.cmd.Process.Pid)
	if !strings.Contains(out, want) || !strings.Contains(out, "--no-wait") {
		t.Errorf("up --no-wait should name the holder (%q) and say what to do:\n%s", want, out)
	}
	if strings.Contains(out, "waiting for the plex") {
		t.Errorf("up --no-wait waited:\n%s", out)
	}
	holder.wait(t, 5*time.Minute)
	if holder.err != nil {
		t.Fatalf("the up that held the plex: %v", holder.err)
	}

	// 3. down, and nothing is left: no instance, no lock.
	e.mustPlex("down", name)
	if left := strings.TrimSpace(h.Incus(t, "list", "user.plex.plex="+name, "-c", "n", "-f", "csv")); left != "" {
		t.Fatalf("instances left after down: %s", left)
	}
	if strings.Contains(h.Incus(t, "profile", "list", "-f", "csv", "-c", "n"), profile) {
		t.Fatalf("lock profile %s left after down", profile)
	}
}

// bgRun is a kubectl-plex run in the background.
type bgRun struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // once done is closed

	mu  sync.Mutex
	out strings.Builder
}

func (r *bgRun) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(p)
}

// output is what the run printed so far.
func (r *bgRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// start runs the kubectl-plex binary in the background, as plex runs it in
// the foreground; the test's end kills it if it still runs.
func (e *env) start(args ...string) *bgRun {
	e.t.Helper()
	argv := append(append([]string{}, args...), "--kubeconfig", e.kubeconfig)
	r := &bgRun{cmd: exec.Command(e.bin, argv...), done: make(chan struct{})}
	r.cmd.Env = append(os.Environ(), "HOME="+e.home, "XDG_CONFIG_HOME="+filepath.Join(e.home, ".config"))
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		e.t.Fatalf("starting kubectl plex %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait waits for the run to end, and logs what it printed.
func (r *bgRun) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.done:
		t.Logf("kubectl plex %s (pid %d, %v):\n%s", strings.Join(r.cmd.Args[1:], " "), r.cmd.Process.Pid, r.err, r.output())
	case <-time.After(timeout):
		t.Fatalf("kubectl plex %s (pid %d) still runs after %s:\n%s", strings.Join(r.cmd.Args[1:], " "), r.cmd.Process.Pid, timeout, r.output())
	}
}

// plexWithin is plex with a time limit.
func (e *env) plexWithin(timeout time.Duration, args ...string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append([]string{}, args...), "--kubeconfig", e.kubeconfig)
	cmd := exec.CommandContext(ctx, e.bin, argv...)
	cmd.Env = append(os.Environ(), "HOME="+e.home, "XDG_CONFIG_HOME="+filepath.Join(e.home, ".config"))
	out, err := cmd.CombinedOutput()
	e.t.Logf("kubectl plex %s:\n%s", strings.Join(args, " "), out)
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("still running after %s", timeout))
	}
	return string(out), err
}
