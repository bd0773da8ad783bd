package lock

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fast are short windows, so that a test of a dead holder takes a second.
var fast = Options{Stale: 500 * time.Millisecond, Beat: 25 * time.Millisecond, Poll: 10 * time.Millisecond}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type result struct {
	l   *Lock
	err error
	at  time.Time
}

// acquireAsync runs Acquire in the background.
func acquireAsync(ctx context.Context, srv Server, who Holder, opts Options) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := Acquire(ctx, srv, Plex("lab"), who, opts)
		ch <- result{l, err, time.Now()}
	}()
	return ch
}

func mustAcquire(t *testing.T, srv Server, who Holder, opts Options) *Lock {
	t.Helper()
	l, err := Acquire(testCtx(t), srv, Plex("lab"), who, opts)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing after %s", what, d)
		panic("unreachable")
	}
}

func notWithin[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: %+v, before %s", what, v, d)
	case <-time.After(d):
	}
}

const lab = "plex-lock-plex-lab"

// sameHolders reports whether hs is exactly want, once.
func sameHolders(hs []Holder, want Holder) bool {
	return len(hs) == 1 && hs[0].same(want)
}

func TestLockAcquireRelease(t *testing.T) {
	t.Parallel()
	f := newFake()
	before := now()
	l := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex up"}, fast)

	h, ok := f.holderIn(lab)
	host, _ := os.Hostname()
	if !ok || !h.same(l.Holder()) || h.Host != host || h.PID != os.Getpid() || h.Verb != "kubectl plex up" || h.ID == "" || h.Since.Before(before) {
		t.Fatalf("profile %s holds %+v (found %v); want this process, the verb, an id and since ≥ %s; Holder() = %+v", lab, h, ok, before, l.Holder())
	}
	if l.Profile() != lab {
		t.Errorf("Profile() = %q, want %q", l.Profile(), lab)
	}
	// The holder renews: the beat counter grows.
	time.Sleep(5 * fast.Beat)
	p, _ := f.get(lab)
	if _, beat := holderOf(&p); beat < 2 {
		t.Errorf("beat %d after five beat intervals; the holder is not renewing", beat)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if n := f.names(); len(n) != 0 {
		t.Errorf("profiles left after Release: %v", n)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Errorf("second Release: %v", err)
	}
	select {
	case <-l.Lost():
		t.Errorf("Lost closed after a clean release: %v", l.Err())
	default:
	}
}

func TestLockSecondWaitsForRelease(t *testing.T) {
	t.Parallel()
	f := newFake()
	a := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex up"}, fast)
	waits := make(chan Holder, 10)
	opts := fast
	opts.OnWait = func(h Holder) { waits <- h }
	done := acquireAsync(testCtx(t), f.view(), Holder{Verb: "kubectl plex join"}, opts)

	if h := within(t, waits, time.Second, "OnWait"); !h.same(a.Holder()) {
		t.Errorf("OnWait named %+v; want the holder %+v", h, a.Holder())
	}
	// A live holder is never taken over, however long the wait.
	notWithin(t, done, 3*fast.Stale, "the second Acquire returned while the first held the lock")
	if err := a.Release(testCtx(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	r := within(t, done, time.Second, "the second Acquire after the release")
	if r.err != nil {
		t.Fatalf("second Acquire: %v", r.err)
	}
	if h, _ := f.holderIn(lab); !h.same(r.l.Holder()) || h.Verb != "kubectl plex join" {
		t.Errorf("the lock names %+v; want the second run", h)
	}
	if len(waits) != 0 {
		t.Errorf("OnWait called again with %+v though the holder did not change", <-waits)
	}
	if err := r.l.Release(testCtx(t)); err != nil {
		t.Errorf("Release: %v", err)
	}
}

func TestLockNoWaitNamesHolder(t *testing.T) {
	t.Parallel()
	f := newFake()
	a := mustAcquire(t, f.view(), Holder{Host: "h1", PID: 123, Verb: "kubectl plex up"}, fast)
	defer a.Release(testCtx(t))

	start := time.Now()
	opts := fast
	opts.NoWait = true
	l, err := Acquire(testCtx(t), f.view(), Plex("lab"), Holder{Verb: "kubectl plex down"}, opts)
	if l != nil || !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire with NoWait on a held lock = %v, %v; want a HeldError", l, err)
	}
	if d := time.Since(start); d > fast.Stale/2 {
		t.Errorf("NoWait took %s; want an answer at once", d)
	}
	var he *HeldError
	if !errors.As(err, &he) || !he.Holder.same(a.Holder()) {
		t.Errorf("HeldError names %+v; want %+v", he, a.Holder())
	}
	for _, want := range []string{"plex lab is in use by host h1 pid 123 (kubectl plex up) since ", "--no-wait", "incus profile delete " + lab} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// deadLock leaves a lock behind as a run that was killed does.
func deadLock(f *fakeIncus, id string) (Holder, string) {
	dead := Holder{Host: "gone", PID: 7, Verb: "kubectl plex up", Since: now().Add(-time.Minute), ID: id}
	return dead, f.put(lockProfile(lab, Plex("lab"), dead, 5))
}

func TestLockDeadHolderTakenOver(t *testing.T) {
	t.Parallel()
	f := newFake()
	dead, _ := deadLock(f, "dead")
	var took []Holder
	var waited []Holder
	opts := fast
	opts.OnTakeOver = func(h Holder) { took = append(took, h) }
	opts.OnWait = func(h Holder) { waited = append(waited, h) }
	start := time.Now()
	l := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex up"}, opts)
	if d := time.Since(start); d < fast.Stale {
		t.Errorf("took over after %s; a holder may be judged dead only after %s without a renewal", d, fast.Stale)
	}
	if !sameHolders(waited, dead) || !sameHolders(took, dead) {
		t.Errorf("OnWait %+v, OnTakeOver %+v; want the dead holder once each", waited, took)
	}
	if h, _ := f.holderIn(lab); !h.same(l.Holder()) {
		t.Errorf("the lock names %+v; want the run that took it over", h)
	}
	if n := f.names(); !slices.Equal(n, []string{lab}) {
		t.Errorf("profiles %v after the takeover; want the lock alone (claims dropped)", n)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if n := f.names(); len(n) != 0 {
		t.Errorf("profiles left: %v", n)
	}
}

func TestLockOneOfTwoWaitersWins(t *testing.T) {
	t.Parallel()
	for round := 0; round < 2; round++ {
		f := newFake()
		dead, _ := deadLock(f, "dead")
		var takeovers atomic.Int32
		opts := fast
		opts.OnTakeOver = func(h Holder) {
			if !h.same(dead) {
				t.Errorf("OnTakeOver(%+v); want the dead holder", h)
			}
			takeovers.Add(1)
		}
		ctx := testCtx(t)
		one := acquireAsync(ctx, f.view(), Holder{Verb: "one"}, opts)
		two := acquireAsync(ctx, f.view(), Holder{Verb: "two"}, opts)
		var other <-chan result
		var r result
		select {
		case r = <-one:
			other = two
		case r = <-two:
			other = one
		case <-time.After(10 * fast.Stale):
			t.Fatal("neither waiter took over the dead holder's lock")
		}
		if r.err != nil {
			t.Fatalf("round %d: Acquire: %v", round, r.err)
		}
		// The loser waits for the winner, who is alive.
		notWithin(t, other, 2*fast.Stale, "both waiters hold the lock")
		if n := takeovers.Load(); n != 1 {
			t.Errorf("round %d: %d takeovers; want 1", round, n)
		}
		if err := r.l.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		r2 := within(t, other, time.Second, "the other waiter after the winner's release")
		if r2.err != nil {
			t.Fatalf("the other waiter: %v", r2.err)
		}
		if err := r2.l.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if n := f.names(); len(n) != 0 {
			t.Errorf("round %d: profiles left: %v", round, n)
		}
	}
}

// TestLockMutualExclusion has several runs take the lock in turn, some of
// them dying while they hold it; at no time may two live runs hold it.
func TestLockMutualExclusion(t *testing.T) {
	t.Parallel()
	f := newFake()
	ctx := testCtx(t)
	var holding atomic.Int32
	var wg sync.WaitGroup
	var deadViews []*view
	var deadLocks []*Lock
	var mu sync.Mutex
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				v := f.view()
				l, err := Acquire(ctx, v, Plex("lab"), Holder{Verb: "worker"}, fast)
				if err != nil {
					t.Errorf("worker %d: Acquire: %v", w, err)
					return
				}
				if n := holding.Add(1); n != 1 {
					t.Errorf("worker %d: %d runs hold the lock", w, n)
				}
				time.Sleep(time.Duration(w+1) * time.Millisecond)
				holding.Add(-1)
				if w == 0 && i < 2 {
					// Die holding it: no more renewals, no release.
					v.freeze()
					mu.Lock()
					deadViews, deadLocks = append(deadViews, v), append(deadLocks, l)
					mu.Unlock()
					continue
				}
				if err := l.Release(ctx); err != nil {
					t.Errorf("worker %d: Release: %v", w, err)
				}
			}
		}(w)
	}
	wg.Wait()
	// The dead come back to find their locks taken over.
	for i, v := range deadViews {
		v.thaw()
		within(t, deadLocks[i].Lost(), time.Second, "a frozen holder learning it lost the lock")
		if err := deadLocks[i].Release(ctx); !errors.Is(err, ErrLost) {
			t.Errorf("Release of a lock taken over = %v; want ErrLost", err)
		}
	}
	if n := f.names(); len(n) != 0 {
		t.Errorf("profiles left: %v", n)
	}
}

func TestLockHolderLearnsOfTakeover(t *testing.T) {
	t.Parallel()
	f := newFake()
	va := f.view()
	a := mustAcquire(t, va, Holder{Verb: "kubectl plex up"}, fast)
	workCtx, cancel := a.Context(context.Background())
	defer cancel()

	va.freeze() // SIGSTOP: no renewals, and no deadline of its own fires
	var took []Holder
	opts := fast
	opts.OnTakeOver = func(h Holder) { took = append(took, h) }
	b := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex down"}, opts)
	if !sameHolders(took, a.Holder()) {
		t.Errorf("OnTakeOver %+v; want the frozen holder", took)
	}
	va.thaw() // SIGCONT
	within(t, a.Lost(), time.Second, "the old holder learning it lost the lock")

	var le *LostError
	if err := a.Err(); !errors.As(err, &le) || le.By == nil || !le.By.same(b.Holder()) {
		t.Fatalf("Err() = %v; want a LostError naming the new holder %+v", err, b.Holder())
	}
	if !strings.Contains(le.Error(), "taken over by host ") || !strings.Contains(le.Error(), "(kubectl plex down)") {
		t.Errorf("LostError %q does not say who took it over", le)
	}
	within(t, workCtx.Done(), time.Second, "the work context")
	if c := context.Cause(workCtx); !errors.Is(c, ErrLost) {
		t.Errorf("the work context's cause is %v; want the LostError", c)
	}
	if err := a.Release(testCtx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("Release of the lost lock = %v; want the LostError", err)
	}
	if h, _ := f.holderIn(lab); !h.same(b.Holder()) {
		t.Fatalf("after the old holder's Release the lock names %+v; want the new holder, untouched", h)
	}
	if err := b.Release(testCtx(t)); err != nil {
		t.Errorf("the new holder's Release: %v", err)
	}
}

func TestLockLostWhenRenewalsFail(t *testing.T) {
	t.Parallel()
	f := newFake()
	va := f.view()
	opts := Options{Stale: 800 * time.Millisecond, Beat: 40 * time.Millisecond, Poll: 10 * time.Millisecond}
	a := mustAcquire(t, va, Holder{Verb: "kubectl plex up"}, opts)
	workCtx, cancel := a.Context(context.Background())
	defer cancel()

	start := time.Now()
	va.setFail(errors.New("dial unix /var/lib/incus/unix.socket: connect: connection refused"))
	within(t, a.Lost(), opts.Stale, "the holder giving up")
	// It gives up before any waiter could judge it dead.
	if d := time.Since(start); d >= opts.Stale {
		t.Errorf("gave up after %s; want before Stale (%s)", d, opts.Stale)
	}
	var le *LostError
	if err := a.Err(); !errors.As(err, &le) || le.By != nil || !strings.Contains(err.Error(), "could not renew it") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Err() = %v; want a LostError saying it could not renew, and why", err)
	}
	within(t, workCtx.Done(), time.Second, "the work context")

	// The server is back: Release still frees the lock, which was ours.
	va.setFail(nil)
	if err := a.Release(testCtx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("Release = %v; want the LostError again", err)
	}
	if n := f.names(); len(n) != 0 {
		t.Errorf("profiles left: %v", n)
	}
}

func TestLockDeletedUnderHolder(t *testing.T) {
	t.Parallel()
	f := newFake()
	a := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex up"}, fast)
	if err := f.view().DeleteProfile(testCtx(t), lab); err != nil { // incus profile delete
		t.Fatal(err)
	}
	within(t, a.Lost(), time.Second, "the holder noticing")
	if err := a.Err(); !strings.Contains(err.Error(), "was deleted") {
		t.Errorf("Err() = %v; want it to say the profile was deleted", err)
	}
	if err := a.Release(testCtx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("Release = %v; want ErrLost", err)
	}
}

// TestLockAbandonedClaim: a waiter died in the middle of a takeover, after
// claiming it; the next waiter passes over the claim once it is stale.
func TestLockAbandonedClaim(t *testing.T) {
	t.Parallel()
	f := newFake()
	_, etag := deadLock(f, "dead")
	f.put(claimProfile(claimName(lab, etag, 0), Plex("lab"), Holder{Host: "gone-too", ID: "taker"}))
	start := time.Now()
	l := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex up"}, fast)
	if d := time.Since(start); d < 2*fast.Stale {
		t.Errorf("took over after %s; the claim must look stale first (2×%s)", d, fast.Stale)
	}
	if n := f.names(); !slices.Equal(n, []string{lab}) {
		t.Errorf("profiles %v; want the lock alone, both claims dropped", n)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Errorf("Release: %v", err)
	}
}

func TestLockCreateAnswerLost(t *testing.T) {
	t.Parallel()
	f := newFake()
	v := f.view()
	v.loseCreateAnswer = true
	l := mustAcquire(t, v, Holder{Verb: "kubectl plex up"}, fast)
	if h, _ := f.holderIn(lab); !h.same(l.Holder()) {
		t.Errorf("the lock names %+v; want this run", h)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Errorf("Release: %v", err)
	}
}

func TestLockWaitCanceled(t *testing.T) {
	t.Parallel()
	f := newFake()
	a := mustAcquire(t, f.view(), Holder{Host: "h1", PID: 9, Verb: "kubectl plex up"}, fast)
	defer a.Release(testCtx(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*fast.Poll)
	defer cancel()
	_, err := Acquire(ctx, f.view(), Plex("lab"), Holder{}, fast)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held by host h1 pid 9") {
		t.Errorf("Acquire past its deadline = %v; want the deadline, naming the holder", err)
	}
}

func TestLockOptions(t *testing.T) {
	for _, tc := range []struct {
		in      Options
		want    Options
		wantErr bool
	}{
		{in: Options{}, want: Options{Stale: 30 * time.Second, Beat: 3 * time.Second, Poll: time.Second}},
		{in: Options{Stale: 300 * time.Millisecond}, want: Options{Stale: 300 * time.Millisecond, Beat: 100 * time.Millisecond, Poll: 100 * time.Millisecond}},
		{in: Options{Stale: time.Second, Beat: 500 * time.Millisecond}, wantErr: true},
		{in: Options{Stale: -time.Second}, wantErr: true},
		{in: Options{Poll: -time.Second}, wantErr: true},
	} {
		got, err := tc.in.withDefaults()
		if (err != nil) != tc.wantErr {
			t.Errorf("%+v: error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (got.Stale != tc.want.Stale || got.Beat != tc.want.Beat || got.Poll != tc.want.Poll) {
			t.Errorf("%+v: got %s/%s/%s, want %s/%s/%s", tc.in, got.Stale, got.Beat, got.Poll, tc.want.Stale, tc.want.Beat, tc.want.Poll)
		}
	}
	if _, err := Acquire(testCtx(t), newFake().view(), Scope{Name: "lab"}, Holder{}, fast); err == nil {
		t.Error("Acquire of a scope without a kind: no error")
	}
}

// TestLockReleaseLeavesStaleLock: a run that was stopped for longer than
// Stale−Beat and then releases must not delete the lock, since a waiter may
// be taking it over at that moment; the lock is left to go stale.
func TestLockReleaseLeavesStaleLock(t *testing.T) {
	t.Parallel()
	f := newFake()
	va := f.view()
	a := mustAcquire(t, va, Holder{Verb: "kubectl plex up"}, fast)
	va.freeze()
	time.Sleep(fast.Stale)
	va.thaw()
	if err := a.Release(testCtx(t)); err != nil && !errors.Is(err, ErrLost) {
		t.Fatalf("Release = %v; want nil or ErrLost", err)
	}
	if h, ok := f.holderIn(lab); !ok || !h.same(a.Holder()) {
		t.Fatalf("after Release the lock names %+v (found %v); want it left in place", h, ok)
	}
	// It frees itself: a waiter takes it over.
	b := mustAcquire(t, f.view(), Holder{Verb: "kubectl plex down"}, fast)
	if err := b.Release(testCtx(t)); err != nil {
		t.Errorf("Release: %v", err)
	}
}
