package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/status"
)

// otherRun is `kubectl plex up` of plex lab by another process, holding
// the plex's lock on f until the test releases it.
func otherRun(t *testing.T, f *fakeIncus) *lock.Lock {
	t.Helper()
	l, err := lock.Acquire(context.Background(), f, lock.Plex("lab"), lock.Holder{Host: "h", PID: 123, Verb: "kubectl plex up"}, lock.Options{NoWait: true})
	if err != nil {
		t.Fatalf("taking the lock as another run: %v", err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

// syncBuffer is a status log the test reads while a run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUpWaitsForTheRunHoldingThePlex(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	other := otherRun(t, f)

	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-2"), Target: f.target(), Kubeconfig: kc, Log: status.New(&log)})
	}()

	const waiting = " • lab: waiting for the plex, in use by host h pid 123 (kubectl plex up) since "
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), waiting) {
		if time.Now().After(deadline) {
			t.Fatalf("up did not say whom it waits for; log:\n%s", log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Many looks at the lock later, it still waits, and has made nothing.
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("up ended (%v) while another run held the plex; log:\n%s", err, log.String())
	default:
	}
	if got := f.names(); len(got) != 0 {
		t.Fatalf("up made %v while another run held the plex", got)
	}

	if err := other.Release(context.Background()); err != nil {
		t.Fatalf("releasing the other run's lock: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up after the other run: %v\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("up did not go on after the other run released the plex; log:\n%s", log.String())
	}

	out := log.String()
	if got := strings.Count(out, "waiting for the plex"); got != 2 {
		t.Errorf("the wait took %d lines, want one opened and closed; log:\n%s", got, out)
	}
	if !strings.Contains(out, " ✓ lab: waiting for the plex, in use by host h pid 123 (kubectl plex up)") {
		t.Errorf("the waiting line was not closed ✓; log:\n%s", out)
	}
	if got := f.names(); strings.Join(got, " ") != "lab1 lab2" {
		t.Errorf("instances %v after the wait, want [lab1 lab2]", got)
	}
	f.mu.Lock()
	_, held := f.profiles[lock.Plex("lab").ProfileName()]
	f.mu.Unlock()
	if held {
		t.Errorf("the lock profile is left after up")
	}
}

func TestUpNoWaitFailsNamingTheHolder(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	other := otherRun(t, f)

	var log bytes.Buffer
	start := time.Now()
	err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-2"), Target: f.target(), Kubeconfig: kc, NoWait: true, Log: status.New(&log)})
	if !errors.Is(err, lock.ErrHeld) {
		t.Fatalf("up --no-wait while another run holds the plex: %v, want ErrHeld", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("up --no-wait took %s to fail", d)
	}
	for _, want := range []string{"plex lab is in use by host h pid 123 (kubectl plex up) since ", "without --no-wait", "incus profile delete " + lock.Plex("lab").ProfileName()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.HasPrefix(err.Error(), "lab: plex lab") {
		t.Errorf("error %q names the plex twice", err)
	}
	if created, _ := f.since(mark{}); len(created) != 0 {
		t.Errorf("up --no-wait created %v", created)
	}
	if strings.Contains(log.String(), "waiting") {
		t.Errorf("up --no-wait printed a wait:\n%s", log.String())
	}
	if err := other.Err(); err != nil {
		t.Errorf("the holder's lock after up --no-wait: %v", err)
	}
}
