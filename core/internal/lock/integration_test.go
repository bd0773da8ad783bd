package lock_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/internal/testenv"
)

// itest are the windows of the integration tests: short, but long enough
// for a real server's round trips.
var itest = lock.Options{Stale: 2 * time.Second, Beat: 200 * time.Millisecond, Poll: 200 * time.Millisecond}

const helperEnv = "PLEX_LOCK_HELPER_SCOPE"

// harness points the incus client configuration at the harness socket;
// a helper process inherits it.
func harness(t *testing.T) *testenv.Harness {
	t.Helper()
	h := testenv.Require(t)
	if os.Getenv(helperEnv) == "" {
		t.Setenv("INCUS_CONF", t.TempDir())
		t.Setenv("INCUS_SOCKET", h.Socket)
		t.Setenv("INCUS_REMOTE", "")
	}
	return h
}

// connect opens a connection of its own, as another client would.
func connect(t *testing.T) *incus.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := incus.Connect(ctx, incus.ConnectOptions{})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return s
}

// cleanUp deletes the scope's lock and any takeover claim on it.
func cleanUp(t *testing.T, h *testenv.Harness, s *incus.Server, scope lock.Scope) {
	t.Cleanup(func() {
		name := scope.ProfileName()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, p := range strings.Fields(h.Incus(t, "profile", "list", "--format=csv", "--columns=n")) {
			if strings.HasPrefix(p, name) {
				_ = s.DeleteProfile(ctx, p)
			}
		}
	})
}

// leftovers lists the profiles of the scope's lock and its claims.
func leftovers(t *testing.T, h *testenv.Harness, scope lock.Scope) []string {
	var out []string
	for _, p := range strings.Fields(h.Incus(t, "profile", "list", "--format=csv", "--columns=n")) {
		if strings.HasPrefix(p, scope.ProfileName()) {
			out = append(out, p)
		}
	}
	return out
}

func holderIn(t *testing.T, s *incus.Server, scope lock.Scope) lock.Holder {
	t.Helper()
	p, _, err := s.GetProfileETag(context.Background(), scope.ProfileName())
	if err != nil {
		t.Fatalf("reading the lock: %v", err)
	}
	var h lock.Holder
	if err := json.Unmarshal([]byte(p.Config["user.plex.lock.holder"]), &h); err != nil {
		t.Fatalf("the lock's holder %q: %v", p.Config["user.plex.lock.holder"], err)
	}
	return h
}

type result struct {
	l   *lock.Lock
	err error
	at  time.Time
}

func acquireAsync(ctx context.Context, s *incus.Server, scope lock.Scope, verb string, opts lock.Options) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := lock.Acquire(ctx, s, scope, lock.Holder{Verb: verb}, opts)
		ch <- result{l, err, time.Now()}
	}()
	return ch
}

// TestLockHelperProcess is the holder that TestIntegrationLockKilledHolder
// starts and kills: it takes the lock, says so, and renews it until killed.
func TestLockHelperProcess(t *testing.T) {
	scope := os.Getenv(helperEnv)
	if scope == "" {
		t.Skip("the holder process of TestIntegrationLockKilledHolder; it runs only as that test's child")
	}
	harness(t)
	l, err := lock.Acquire(context.Background(), connect(t), lock.Plex(scope), lock.Holder{Verb: "lock test holder"}, itest)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("held %s\n", l.Holder().ID)
	time.Sleep(time.Hour)
}

// TestIntegrationLockKilledHolder: a process holds the lock and is killed;
// of two clients waiting for it, exactly one takes it over after the stale
// window, never before the kill, and the other gets it when that one
// releases.
func TestIntegrationLockKilledHolder(t *testing.T) {
	h := harness(t)
	s1, s2 := connect(t), connect(t)
	scope := lock.Plex(fmt.Sprintf("itest-killed-%d", os.Getpid()))
	cleanUp(t, h, s1, scope)

	child := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	child.Env = append(os.Environ(), helperEnv+"="+scope.Name)
	var stderr bytes.Buffer
	child.Stderr = &stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	var heldID string
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "held %s", &heldID); err != nil {
			t.Fatalf("the holder process said %q; stderr:\n%s", line, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the holder process did not take the lock; stderr:\n%s", stderr.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var waitedFor, tookFrom []lock.Holder
	opts := itest
	opts.OnWait = func(h lock.Holder) { mu.Lock(); waitedFor = append(waitedFor, h); mu.Unlock() }
	opts.OnTakeOver = func(h lock.Holder) { mu.Lock(); tookFrom = append(tookFrom, h); mu.Unlock() }
	one := acquireAsync(ctx, s1, scope, "waiter one", opts)
	two := acquireAsync(ctx, s2, scope, "waiter two", opts)

	// The holder is alive and renews: nobody takes it, however long.
	select {
	case r := <-one:
		t.Fatalf("waiter one returned while the holder lived: %+v", r)
	case r := <-two:
		t.Fatalf("waiter two returned while the holder lived: %+v", r)
	case <-time.After(2 * itest.Stale):
	}
	mu.Lock()
	if len(waitedFor) != 2 || waitedFor[0].ID != heldID || waitedFor[1].ID != heldID || waitedFor[0].PID != child.Process.Pid || waitedFor[0].Verb != "lock test holder" {
		t.Errorf("OnWait got %+v; want the holder process (pid %d, id %s) once per waiter", waitedFor, child.Process.Pid, heldID)
	}
	mu.Unlock()

	if err := child.Process.Kill(); err != nil { // SIGKILL: no release, no last words
		t.Fatal(err)
	}
	_ = child.Wait()
	killed := time.Now()

	var won result
	var other <-chan result
	select {
	case won = <-one:
		other = two
	case won = <-two:
		other = one
	case <-time.After(itest.Stale + 10*time.Second):
		t.Fatalf("no waiter took over %s after the holder was killed", itest.Stale+10*time.Second)
	}
	if won.err != nil {
		t.Fatalf("Acquire: %v", won.err)
	}
	// The waiters saw the last renewal at most a beat and a poll before
	// the kill, and wait Stale from there.
	if d := won.at.Sub(killed); d < itest.Stale-itest.Beat-itest.Poll {
		t.Errorf("took over %s after the kill; want no sooner than the stale window (%s) allows", d, itest.Stale)
	} else {
		t.Logf("took over %s after the kill (stale window %s)", d.Round(time.Millisecond), itest.Stale)
	}
	if got := holderIn(t, s1, scope); got.ID != won.l.Holder().ID {
		t.Errorf("the lock names %+v; want the winner %+v", got, won.l.Holder())
	}
	mu.Lock()
	if len(tookFrom) != 1 || tookFrom[0].ID != heldID {
		t.Errorf("OnTakeOver got %+v; want the killed holder, once", tookFrom)
	}
	mu.Unlock()

	// The winner is alive: the other waits on.
	select {
	case r := <-other:
		t.Fatalf("the other waiter returned while the winner held the lock: %+v", r)
	case <-time.After(itest.Stale + itest.Poll):
	}
	if got := leftovers(t, h, scope); len(got) != 1 {
		t.Errorf("profiles %v; want the lock alone, its claims dropped", got)
	}
	if err := won.l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	var r result
	select {
	case r = <-other:
	case <-time.After(5 * time.Second):
		t.Fatal("the other waiter did not get the lock after the winner released it")
	}
	if r.err != nil {
		t.Fatalf("the other waiter: %v", r.err)
	}
	if err := r.l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := leftovers(t, h, scope); len(got) != 0 {
		t.Errorf("profiles left after both released: %v", got)
	}
}

// TestIntegrationLockNoWait: with another client holding the lock, NoWait
// fails at once and names the holder; once it is released, NoWait takes it.
func TestIntegrationLockNoWait(t *testing.T) {
	h := harness(t)
	s1, s2 := connect(t), connect(t)
	scope := lock.Plex(fmt.Sprintf("itest-nowait-%d", os.Getpid()))
	cleanUp(t, h, s1, scope)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a, err := lock.Acquire(ctx, s1, scope, lock.Holder{Host: "itest-host", Verb: "kubectl plex up"}, itest)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	opts := itest
	opts.NoWait = true
	start := time.Now()
	_, err = lock.Acquire(ctx, s2, scope, lock.Holder{Verb: "kubectl plex down"}, opts)
	var he *lock.HeldError
	if !errors.As(err, &he) || he.Holder.ID != a.Holder().ID {
		t.Fatalf("NoWait on a held lock = %v; want a HeldError naming %+v", err, a.Holder())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("NoWait took %s", d)
	}
	want := fmt.Sprintf("plex %s is in use by host itest-host pid %d (kubectl plex up) since ", scope.Name, os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q; want it to say %q", err, want)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	b, err := lock.Acquire(ctx, s2, scope, lock.Holder{Verb: "kubectl plex down"}, opts)
	if err != nil {
		t.Fatalf("NoWait on a free lock: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := leftovers(t, h, scope); len(got) != 0 {
		t.Errorf("profiles left: %v", got)
	}
}
