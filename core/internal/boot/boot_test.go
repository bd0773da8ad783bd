package boot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeRunner struct {
	outs []string
	errs []error
	n    int
}

func (f *fakeRunner) Run(_ context.Context, _ string, _ ...string) (string, error) {
	i := min(f.n, len(f.outs)-1)
	f.n++
	return f.outs[i], f.errs[i]
}

func TestWaitRetriesUntilAddress(t *testing.T) {
	r := &fakeRunner{outs: []string{"", "addr= ", "addr=10.0.0.5 \ncg=v2"}, errs: []error{errors.New("not running"), nil, nil}}
	out, err := Wait(context.Background(), r, "n1", Options{Address: "10.0.0.5", Every: time.Millisecond})
	if err != nil || !strings.Contains(out, "cg=v2") || r.n != 3 {
		t.Errorf("Wait: %q, %v after %d tries", out, err, r.n)
	}
}

func TestWaitWrongAddressTimesOut(t *testing.T) {
	r := &fakeRunner{outs: []string{"addr=10.0.0.9 "}, errs: []error{nil}}
	_, err := Wait(context.Background(), r, "n1", Options{Address: "10.0.0.5", Network: "br0", Every: time.Millisecond, Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "booted without its address 10.0.0.5 (got: addr=10.0.0.9)") || !strings.Contains(err.Error(), "network br0") {
		t.Errorf("err = %v", err)
	}
}

func TestWaitAnyAddress(t *testing.T) {
	r := &fakeRunner{outs: []string{"addr= ", "addr=10.0.0.7 "}, errs: []error{nil, nil}}
	if _, err := Wait(context.Background(), r, "n1", Options{Every: time.Millisecond}); err != nil || r.n != 2 {
		t.Errorf("Wait: %v after %d tries", err, r.n)
	}
}
