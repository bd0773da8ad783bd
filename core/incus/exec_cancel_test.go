package incus

// Ctrl-C while a command runs: the context ends, Exec sends SIGTERM on the
// control socket, and closes that socket (on which incusd kills the
// command) when the command has not ended within execGrace.

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func setExecGrace(t *testing.T, d time.Duration) {
	t.Helper()
	old := execGrace
	execGrace = d
	t.Cleanup(func() { execGrace = old })
}

type execResult struct {
	code int
	err  error
	took time.Duration
}

// execThenCancel starts sleep, cancels the context once the fake runs it,
// and returns what Exec returned and the command the fake ran.
func execThenCancel(t *testing.T, f *fakeIncus, s *Server) (execResult, *fakeExec) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan execResult, 1)
	go func() {
		code, err := s.Exec(ctx, "c1", []string{"sleep"}, ExecOptions{})
		res <- execResult{code: code, err: err}
	}()
	e := f.nextExec(t)
	// Let Exec settle into waiting for the operation.
	time.Sleep(50 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	select {
	case r := <-res:
		r.took = time.Since(cancelled)
		return r, e
	case <-time.After(20 * time.Second):
		t.Fatal("Exec did not return after its context ended")
		return execResult{}, nil
	}
}

func TestExecCancelSendsSIGTERM(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		// A long grace: Exec must return when the command ends on SIGTERM,
		// not when the grace runs out.
		setExecGrace(t, 10*time.Second)
		r, e := execThenCancel(t, f, s)
		if !errors.Is(r.err, context.Canceled) || r.code != -1 {
			t.Errorf("Exec = %d, %v; want -1 and an error wrapping context.Canceled", r.code, r.err)
		}
		if r.took > 3*time.Second {
			t.Errorf("Exec took %v after the cancel, though the command ended on SIGTERM", r.took)
		}
		signals, closed, code := e.ended(t)
		if !reflect.DeepEqual(signals, []int{15}) {
			t.Errorf("the command got signals %v, want [15] (SIGTERM)", signals)
		}
		if closed {
			t.Error("Exec closed the control socket (a kill) though the command ended on SIGTERM")
		}
		if code != 143 {
			t.Errorf("the command ended %d, want 143 (SIGTERM)", code)
		}
	})
}

func TestExecCancelKillsAfterGrace(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		const grace = 300 * time.Millisecond
		setExecGrace(t, grace)
		f.mu.Lock()
		f.ignoreTERM = true
		f.mu.Unlock()
		r, e := execThenCancel(t, f, s)
		if !errors.Is(r.err, context.Canceled) || r.code != -1 {
			t.Errorf("Exec = %d, %v; want -1 and an error wrapping context.Canceled", r.code, r.err)
		}
		if r.took < grace || r.took > grace+5*time.Second {
			t.Errorf("Exec returned %v after the cancel; want the grace (%v) and then promptly", r.took, grace)
		}
		signals, closed, code := e.ended(t)
		if !reflect.DeepEqual(signals, []int{15}) {
			t.Errorf("the command got signals %v, want [15] (SIGTERM)", signals)
		}
		if !closed {
			t.Error("the control socket was not closed after the grace, so incusd would not kill the command")
		}
		if code != 137 {
			t.Errorf("the command ended %d, want 137 (killed)", code)
		}
	})
}
