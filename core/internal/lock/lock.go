// Package lock lets one run at a time work on a plex (or a registry
// instance), across every client of the Incus server, and frees the lock
// when its holder dies.
//
// A lock is an Incus profile, "plex-lock-<kind>-<name>", so everyone who
// can reach the server sees it and nothing on any client's disk matters. Its
// config names the holder (user.plex.lock.holder: host, pid, verb, since and
// a random id) and counts the holder's renewals (user.plex.lock.beat).
//
//   - Acquire creates the profile. Creating is the one step Incus does
//     atomically: of many clients creating one name, exactly one succeeds.
//   - The holder renews every Beat: it reads the profile, checks the id is
//     its own, and writes beat+1 with If-Match. Each renewal changes the
//     profile's ETag.
//   - A waiter polls every Poll. It judges the holder dead when the ETag has
//     not changed for Stale by the waiter's own clock, so clocks on
//     different hosts never need to agree.
//   - Taking over a dead holder's lock is serialised by creating a claim
//     profile named after the stale ETag ("<lock>-t<hash>-0"): only the
//     waiter that creates it writes the lock, with If-Match of the stale
//     ETag, then reads it back, then deletes the claim. Incus's If-Match on
//     a profile is not a compare-and-swap (it is checked in one transaction
//     and written in another; concurrent writers with the same ETag all
//     succeed), which is why the claim, an atomic create, decides who
//     writes. A claim that itself goes stale (its taker died mid-takeover)
//     is passed over by creating the next one ("…-1").
//   - Release reads the lock and deletes it if its id is still ours and
//     this run renewed it less than Stale−Beat ago (DELETE takes no
//     If-Match, so an older lock is left for a waiter to take over rather
//     than risk deleting the waiter's fresh one).
//
// What is left to chance is a run stopped for longer than Stale in the
// middle of one of its own requests and resumed at the very moment another
// takes its lock over; even then the read-backs and the next renewal tell
// the loser within one Beat.
//
// A holder that cannot renew for Stale/2 (by the monotonic or the wall
// clock, so that a suspended laptop counts) stops renewing and reports the
// lock lost before any waiter can judge it dead; one that finds another id
// in the profile, or finds it gone, reports it lost at once. Lost closes
// Lost(), cancels the contexts made by Context, and makes Release return
// the *LostError. The holder must then stop changing the plex and must not
// undo what it made: the run that took over may already be adopting it.
//
// The lock is not re-entrant: a process that acquires a scope it holds
// waits for itself. A run that needs both a plex and its registry takes the
// plex first.
package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// Server is what a lock needs of Incus; *incus.Server has it. Errors must
// answer incus.IsExists, incus.IsNotFound and incus.IsChanged as its do.
type Server interface {
	// CreateProfileExclusive creates a profile, or fails IsExists.
	CreateProfileExclusive(ctx context.Context, p incus.Profile) error
	// GetProfileETag reads a profile and its ETag, or fails IsNotFound.
	GetProfileETag(ctx context.Context, name string) (*incus.Profile, string, error)
	// UpdateProfileIfMatch writes a profile read with etag, or fails
	// IsChanged (or IsNotFound).
	UpdateProfileIfMatch(ctx context.Context, p incus.Profile, etag string) error
	// DeleteProfile deletes a profile plex made; a missing one is no error.
	DeleteProfile(ctx context.Context, name string) error
}

var _ Server = (*incus.Server)(nil)

// Options tune Acquire. The zero value waits, with the defaults below.
type Options struct {
	// NoWait fails at once with a *HeldError when the lock is held.
	NoWait bool
	// Stale is how long a holder's lock may go unrenewed, as a waiter sees
	// it, before the waiter takes it over. Default 30s: the holder gives up
	// after Stale/2 without a renewal, and an incusd busy deleting or
	// snapshotting large instances on a loaded host has been seen to answer
	// nothing for several seconds.
	Stale time.Duration
	// Beat is how often the holder renews. At most Stale/3. Default 3s.
	Beat time.Duration
	// Poll is how often a waiter looks at the lock. Default 1s.
	Poll time.Duration
	// OnWait is called when Acquire starts to wait, and again whenever the
	// lock changes hands meanwhile, with who holds it: the caller prints
	// "waiting for plex lab: held by host h pid 123 (kubectl plex up) since
	// 10:01:02".
	OnWait func(Holder)
	// OnTakeOver is called when Acquire took the lock from a holder that
	// had stopped renewing it: that run died mid-way, and what it was doing
	// may be half done.
	OnTakeOver func(dead Holder)
}

// Defaults of Options.
const (
	DefaultStale = 30 * time.Second
	DefaultBeat  = 3 * time.Second
	DefaultPoll  = time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.Stale == 0 {
		o.Stale = DefaultStale
	}
	if o.Beat == 0 {
		o.Beat = min(DefaultBeat, o.Stale/3)
	}
	if o.Poll == 0 {
		o.Poll = min(DefaultPoll, o.Stale/3)
	}
	if o.Stale < 0 || o.Beat <= 0 || o.Poll <= 0 || o.Beat*3 > o.Stale {
		return o, fmt.Errorf("lock options: Stale %s, Beat %s, Poll %s: all must be positive and Beat at most Stale/3, so that a live holder renews several times before waiters judge it dead", o.Stale, o.Beat, o.Poll)
	}
	return o, nil
}

// releaseTimeout bounds Release, which runs even when its context is done.
const releaseTimeout = 30 * time.Second

// Lock is a held lock. Release it when the work is done, on every path.
type Lock struct {
	srv     Server
	scope   Scope
	name    string
	holder  Holder
	opts    Options
	stop    context.CancelFunc // ends the heartbeat and its request in flight
	stopped chan struct{}      // closed when the heartbeat has ended
	lost    chan struct{}

	mu  sync.Mutex
	err *LostError
	// renewed is when the last renewal that succeeded started (or the lock
	// was taken): waiters cannot judge the lock stale until Stale after it.
	renewed time.Time

	releaseOnce sync.Once
	releaseErr  error
}

// Holder is this run as the lock names it.
func (l *Lock) Holder() Holder { return l.holder }

// Profile is the Incus profile that is the lock.
func (l *Lock) Profile() string { return l.name }

// Lost is closed when the lock is lost; Err then says why.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err is nil while the lock is held, and the *LostError once it is not.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return nil
	}
	return l.err
}

// Context returns a context that is canceled when parent is, or when the
// lock is lost; context.Cause then is the *LostError. Run the work under it.
func (l *Lock) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-l.lost:
			cancel(l.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Release stops renewing the lock and deletes it if it is still this run's.
// It does its work even when ctx is already done, since a run that the user
// interrupted must still free its lock; it takes at most 30s.
//
// A lock this run has not renewed for Stale−Beat (renewals failed, or the
// process was stopped) is left in place: a waiter may be taking it over at
// this moment, and a delete would remove the waiter's lock. It frees itself
// for the waiters.
//
// Release returns the *LostError if the lock was lost at any point (the
// caller has usually seen it already through Context), or why the lock
// could not be deleted; it then frees itself Stale after this run's last
// renewal. A second call returns what the first did.
func (l *Lock) Release(ctx context.Context) error {
	l.releaseOnce.Do(func() { l.releaseErr = l.release(ctx) })
	return l.releaseErr
}

func (l *Lock) release(ctx context.Context) error {
	l.stop()
	<-l.stopped
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	lost := l.Err()
	p, _, err := l.srv.GetProfileETag(ctx, l.name)
	switch {
	case incus.IsNotFound(err):
		if lost != nil {
			return lost
		}
		return l.deleted()
	case err != nil:
		return fmt.Errorf("releasing the lock on %s: %w; it frees itself %s after this run's last renewal", l.scope, err, l.opts.Stale)
	}
	if h, _ := holderOf(p); h.ID != l.holder.ID {
		if lost != nil {
			return lost
		}
		return &LostError{Scope: l.scope, By: &h}
	}
	// Incus's DELETE takes no If-Match: between that read and this delete,
	// only a waiter that judged this run dead could take the lock over, and
	// none can while the last renewal is younger than Stale.
	l.mu.Lock()
	renewed := l.renewed
	l.mu.Unlock()
	if elapsed(renewed) >= l.opts.Stale-l.opts.Beat {
		return lost
	}
	if err := l.srv.DeleteProfile(ctx, l.name); err != nil {
		return fmt.Errorf("releasing the lock on %s: %w; it frees itself %s after this run's last renewal", l.scope, err, l.opts.Stale)
	}
	return lost
}

// lose records the first reason the lock is lost.
func (l *Lock) lose(e *LostError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = e
		close(l.lost)
	}
}

// hold starts renewing a lock just taken, with the content written as
// beat 0. The heartbeat runs until Release, whatever happens to the
// caller's context: a run's undo after a Ctrl-C still needs the lock.
func hold(ctx context.Context, srv Server, scope Scope, name string, h Holder, opts Options) *Lock {
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lock{srv: srv, scope: scope, name: name, holder: h, opts: opts, stop: stop, stopped: make(chan struct{}), lost: make(chan struct{}), renewed: time.Now()}
	go l.heartbeat(hctx)
	return l
}

// heartbeat renews the lock every Beat until ctx ends (Release) or the lock
// is lost.
func (l *Lock) heartbeat(ctx context.Context) {
	defer close(l.stopped)
	t := time.NewTicker(l.opts.Beat)
	defer t.Stop()
	// Waiters take over Stale after they last saw a change; giving up at
	// half of that, checked once per Beat (at most Stale/3), leaves a
	// margin for the last renewal's own time on the way.
	deadline := l.opts.Stale / 2
	l.mu.Lock()
	last := l.renewed
	l.mu.Unlock()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if since := elapsed(last); since >= deadline {
			if lost := l.giveUp(ctx, since, lastErr); ctx.Err() == nil {
				l.lose(lost)
			}
			return
		}
		// A slow answer is still a renewal: one try may take until the
		// deadline, not just one Beat.
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, max(l.opts.Beat, deadline-elapsed(last)))
		err := l.renew(rctx)
		cancel()
		var lost *LostError
		switch {
		case err == nil:
			last, lastErr = start, nil
			l.mu.Lock()
			l.renewed = start
			l.mu.Unlock()
		case errors.As(err, &lost):
			l.lose(lost)
			return
		case ctx.Err() != nil:
			return
		default:
			lastErr = err
		}
	}
}

// elapsed is the time since t by the monotonic clock, or by the wall clock
// when that is more: the monotonic clock stops while a machine sleeps.
func elapsed(t time.Time) time.Duration {
	return max(time.Since(t), time.Now().Round(0).Sub(t.Round(0)))
}

// giveUp says why a lock that could not be renewed in time is lost. It
// reads the lock once more, without writing, to name who took it over if
// someone did: a holder that was stopped (SIGSTOP, a laptop's sleep) for
// longer than Stale usually was.
func (l *Lock) giveUp(ctx context.Context, since time.Duration, lastErr error) *LostError {
	rctx, cancel := context.WithTimeout(ctx, l.opts.Beat)
	defer cancel()
	p, _, err := l.srv.GetProfileETag(rctx, l.name)
	if err == nil {
		if h, _ := holderOf(p); h.ID != l.holder.ID {
			return &LostError{Scope: l.scope, By: &h}
		}
	} else if incus.IsNotFound(err) {
		return l.deleted()
	}
	e := fmt.Errorf("could not renew it for %s, and waiters take it over after %s", since.Round(100*time.Millisecond), l.opts.Stale)
	if lastErr != nil {
		e = fmt.Errorf("%w: %w", e, lastErr)
	}
	return &LostError{Scope: l.scope, Err: e}
}

// deleted is the loss of a lock whose profile someone deleted.
func (l *Lock) deleted() *LostError {
	return &LostError{Scope: l.scope, Err: fmt.Errorf("its profile %s was deleted while this run held it", l.name)}
}

// renew makes one renewal. It returns a *LostError when the lock is
// someone else's or gone, and any other error when this try failed.
func (l *Lock) renew(ctx context.Context) error {
	p, etag, err := l.srv.GetProfileETag(ctx, l.name)
	if incus.IsNotFound(err) {
		return l.deleted()
	}
	if err != nil {
		return err
	}
	h, beat := holderOf(p)
	if h.ID != l.holder.ID {
		return &LostError{Scope: l.scope, By: &h}
	}
	err = l.srv.UpdateProfileIfMatch(ctx, lockProfile(l.name, l.scope, l.holder, beat+1), etag)
	if incus.IsNotFound(err) {
		return l.deleted()
	}
	// A changed profile (IsChanged) is a failed try, not a loss: the next
	// renewal reads whose it is now.
	return err
}
