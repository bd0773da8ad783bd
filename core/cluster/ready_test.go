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
