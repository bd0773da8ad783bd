package action

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/status"
)

func TestRunOrderAndStop(t *testing.T) {
	var out bytes.Buffer
	log := status.New(&out)
	var ran []string
	step := func(name string, err error) Action {
		return New(name, func(context.Context) error { ran = append(ran, name); return err })
	}
	boom := errors.New("boom")
	err := Run(context.Background(), log, step("one", nil), If(false, step("skipped", nil)), step("two", boom), step("three", nil))
	if !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want boom", err)
	}
	if strings.Join(ran, ",") != "one,two" {
		t.Errorf("ran %v, want one,two", ran)
	}
	s := out.String()
	if !strings.Contains(s, "✓ one") || !strings.Contains(s, "✗ two") || strings.Contains(s, "three") || strings.Contains(s, "skipped") {
		t.Errorf("status lines:\n%s", s)
	}
}

func TestRunTitleFunc(t *testing.T) {
	var out bytes.Buffer
	n := 0
	err := Run(context.Background(), status.New(&out),
		New("count", func(context.Context) error { n = 3; return nil }),
		Action{TitleFunc: func() string { return strings.Repeat("x", n) }, Do: func(context.Context) error { return nil }})
	if err != nil || !strings.Contains(out.String(), "✓ xxx") {
		t.Errorf("%v\n%s", err, out.String())
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Run(ctx, status.Discard(),
		New("Waiting for 3 node(s) to boot", func(context.Context) error { cancel(); return ctx.Err() }),
		New("never", func(context.Context) error { t.Error("ran after cancel"); return nil }))
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted while waiting for 3 node(s) to boot") {
		t.Errorf("err = %v", err)
	}
}

func TestReverter(t *testing.T) {
	boom := errors.New("boom")
	for _, retain := range []bool{false, true} {
		var undone []string
		rv := NewReverter(status.Discard(), retain)
		for _, n := range []string{"a", "b", "c"} {
			rv.Add("instance", n, func(context.Context) error { undone = append(undone, n); return nil })
		}
		rv.Add("profile", "p", func(context.Context) error { undone = append(undone, "p"); return nil })
		err := rv.Fail(boom)
		if !errors.Is(err, boom) {
			t.Fatalf("retain=%v: %v", retain, err)
		}
		if retain {
			if len(undone) != 0 || !strings.Contains(err.Error(), "kept the 3 instance(s) and 1 profile(s)") {
				t.Errorf("retain: undone %v, err %v", undone, err)
			}
			continue
		}
		if strings.Join(undone, ",") != "p,c,b,a" {
			t.Errorf("undone %v, want newest first", undone)
		}
		if !strings.Contains(err.Error(), "removed the 3 instance(s) and 1 profile(s) this run made") {
			t.Errorf("err = %v", err)
		}
		if rv.Fail(boom); len(undone) != 4 {
			t.Errorf("a second Fail undid again: %v", undone)
		}
	}
}

func TestReverterSuccessKeeps(t *testing.T) {
	rv := NewReverter(status.Discard(), false)
	rv.Add("instance", "a", func(context.Context) error { t.Error("undone after success"); return nil })
	if err := rv.Fail(nil); err != nil {
		t.Fatal(err)
	}
	if rv.Len() != 0 {
		t.Errorf("steps left after success: %d", rv.Len())
	}
}

func TestReverterUndoFailure(t *testing.T) {
	rv := NewReverter(status.Discard(), false)
	rv.Add("instance", "a", func(context.Context) error { return errors.New("busy") })
	err := rv.Fail(errors.New("boom"))
	if err == nil || !strings.Contains(err.Error(), "cleaning up also failed") || !strings.Contains(err.Error(), "removing instance a: busy") {
		t.Errorf("err = %v", err)
	}
}
