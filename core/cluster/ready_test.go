package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPollAPIDone(t *testing.T) {
	n := 0
	err := pollAPI(context.Background(), 10*time.Second, 10*time.Millisecond, func(context.Context) (bool, error) {
		n++
		if n == 1 {
			return false, errors.New("connection refused")
		}
		return n >= 3, nil
	}, func() error { return errors.New("not done") })
	if err != nil || n != 3 {
		t.Fatalf("pollAPI = %v after %d checks, want nil after 3 (an error is retried)", err, n)
	}
}

func TestPollAPITimeout(t *testing.T) {
	err := pollAPI(context.Background(), 300*time.Millisecond, 50*time.Millisecond, func(context.Context) (bool, error) {
		return false, nil
	}, func() error { return errors.New("node lab2 not Ready") })
	if err == nil || err.Error() != "node lab2 not Ready" {
		t.Fatalf("err = %v, want notDone's error", err)
	}
	err = pollAPI(context.Background(), 300*time.Millisecond, 50*time.Millisecond, func(context.Context) (bool, error) {
		return false, errors.New("connection refused")
	}, func() error { return errors.New("not done") })
	if err == nil || !strings.Contains(err.Error(), "the API server did not answer within 300ms: connection refused") {
		t.Fatalf("err = %v, want one saying the API server did not answer", err)
	}
}

// TestPollAPICheckCutShortByTimeout: a check that the deadline cuts short
// (client-go's rate limiter refuses a call made on the deadline) does not
// turn "not Ready" into "the API server did not answer".
func TestPollAPICheckCutShortByTimeout(t *testing.T) {
	n := 0
	err := pollAPI(context.Background(), 300*time.Millisecond, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		n++
		if n < 3 {
			return false, nil
		}
		d, _ := ctx.Deadline()
		time.Sleep(time.Until(d) + 10*time.Millisecond)
		return false, errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline")
	}, func() error { return errors.New("node lab2 not Ready") })
	if err == nil || err.Error() != "node lab2 not Ready" {
		t.Fatalf("err = %v, want notDone's error: the API server answered before the timeout cut the last check", err)
	}
	// A check that never got an answer before the cut still reports it.
	err = pollAPI(context.Background(), 100*time.Millisecond, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		d, _ := ctx.Deadline()
		time.Sleep(time.Until(d) + 10*time.Millisecond)
		return false, errors.New("dial tcp 10.0.0.1:6443: i/o timeout")
	}, func() error { return errors.New("not done") })
	if err == nil || !strings.Contains(err.Error(), "did not answer within 100ms: dial tcp") {
		t.Fatalf("err = %v, want one saying the API server did not answer", err)
	}
}

func TestPollAPICancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	err := pollAPI(ctx, time.Minute, 50*time.Millisecond, func(context.Context) (bool, error) {
		return false, nil
	}, func() error { return errors.New("not done") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
