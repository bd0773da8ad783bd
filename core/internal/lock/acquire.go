package lock

import (
	"context"
	"fmt"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// Acquire takes the lock on scope for who (its Verb, "kubectl plex up", is
// what waiters are shown; Host and PID default to this process). When
// another run holds it, Acquire waits until that run releases it or is
// judged dead (see the package doc), calling opts.OnWait to say who it waits
// for, or, with opts.NoWait, returns a *HeldError at once. It returns when
// ctx is done, with ctx's error.
//
// Work under the lock with l.Context(ctx), and call l.Release on every path.
func Acquire(ctx context.Context, srv Server, scope Scope, who Holder, opts Options) (*Lock, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	me, err := newHolder(who)
	if err != nil {
		return nil, err
	}
	w := &waiter{srv: srv, scope: scope, name: scope.ProfileName(), opts: opts, me: me, seen: map[string]sighting{}}
	for {
		l, again, err := w.round(ctx)
		if err != nil && ctx.Err() != nil && w.waiting {
			// Ctrl-C or a deadline, wherever in the round it landed.
			err = w.interrupted(ctx)
		}
		if l != nil || err != nil {
			return l, err
		}
		if again {
			// The lock changed hands as we looked: look again at once.
			continue
		}
		if err := sleep(ctx, opts.Poll); err != nil {
			return nil, w.interrupted(ctx)
		}
	}
}

func (w *waiter) interrupted(ctx context.Context) error {
	return fmt.Errorf("waiting for the lock on %s, held by %s: %w", w.scope, w.holder, ctx.Err())
}

// waiter is one Acquire's view of the lock over its rounds.
type waiter struct {
	srv   Server
	scope Scope
	name  string
	opts  Options
	me    Holder
	// holder is who held the lock last round; waiting says OnWait was told.
	holder  Holder
	waiting bool
	// seen is, per profile, the ETag last seen and when this waiter first
	// saw it: what staleness is judged by.
	seen map[string]sighting
}

type sighting struct {
	etag string
	at   time.Time
}

// stale reports whether profile name has had etag for Stale, as this
// waiter has watched it.
func (w *waiter) stale(name, etag string) bool {
	s, ok := w.seen[name]
	if !ok || s.etag != etag {
		w.seen[name] = sighting{etag: etag, at: time.Now()}
		return false
	}
	return time.Since(s.at) >= w.opts.Stale
}

// round looks at the lock once and takes it if it is free or its holder is
// dead. again asks for another round without a pause.
func (w *waiter) round(ctx context.Context) (l *Lock, again bool, err error) {
	p, etag, err := w.srv.GetProfileETag(ctx, w.name)
	if incus.IsNotFound(err) {
		return w.create(ctx)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the lock on %s: %w", w.scope, err)
	}
	h, _ := holderOf(p)
	if h.ID == w.me.ID {
		// A create whose answer was lost did happen after all.
		return hold(ctx, w.srv, w.scope, w.name, w.me, w.opts), false, nil
	}
	if w.opts.NoWait {
		return nil, false, &HeldError{Scope: w.scope, Holder: h, Profile: w.name}
	}
	if !w.waiting || h.ID != w.holder.ID {
		w.holder, w.waiting = h, true
		if w.opts.OnWait != nil {
			w.opts.OnWait(h)
		}
	}
	if !w.stale(w.name, etag) {
		return nil, false, nil
	}
	l, err = w.takeOver(ctx, etag, h)
	return l, false, err
}

// create takes a free lock.
func (w *waiter) create(ctx context.Context) (*Lock, bool, error) {
	w.me.Since = now()
	err := w.srv.CreateProfileExclusive(ctx, lockProfile(w.name, w.scope, w.me, 0))
	if err == nil {
		return hold(ctx, w.srv, w.scope, w.name, w.me, w.opts), false, nil
	}
	if incus.IsExists(err) {
		return nil, true, nil
	}
	// No answer: the create may have happened. Read it back.
	if p, _, gerr := w.srv.GetProfileETag(ctx, w.name); gerr == nil {
		if h, _ := holderOf(p); h.ID == w.me.ID {
			return hold(ctx, w.srv, w.scope, w.name, w.me, w.opts), false, nil
		}
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("taking the lock on %s: %w", w.scope, err)
}

// takeOver takes the lock from a holder judged dead, whose content had
// etag. It returns no lock and no error when another waiter is taking it
// over, or when the holder turned out to be alive.
func (w *waiter) takeOver(ctx context.Context, etag string, dead Holder) (*Lock, error) {
	claims, err := w.claim(ctx, etag)
	if err != nil || claims == nil {
		return nil, err
	}
	// Once the lock no longer has content etag, which it never has again
	// (each holding has its own id, each renewal its own count), the claims
	// on etag serve nothing, and a late claimant's write fails If-Match.
	defer w.dropClaims(ctx, claims)

	w.me.Since = now()
	err = w.srv.UpdateProfileIfMatch(ctx, lockProfile(w.name, w.scope, w.me, 0), etag)
	if incus.IsChanged(err) || incus.IsNotFound(err) {
		// It renewed after all (it was slow, not dead), or it released.
		return nil, nil
	}
	// Read back: only what Incus has now counts. This also settles a write
	// whose answer was lost.
	p, _, gerr := w.srv.GetProfileETag(ctx, w.name)
	switch {
	case gerr == nil:
		if h, _ := holderOf(p); h.ID != w.me.ID {
			return nil, nil
		}
	case err != nil:
		return nil, fmt.Errorf("taking over the lock on %s from %s: %w", w.scope, dead, err)
	default:
		// The write succeeded and the read did not: hold it, and let the
		// first renewal, which reads it, find out if it is not ours.
	}
	if w.opts.OnTakeOver != nil {
		w.opts.OnTakeOver(dead)
	}
	return hold(ctx, w.srv, w.scope, w.name, w.me, w.opts), nil
}

// claim creates the claim on etag, passing over claims whose takers died.
// It returns the claims to drop once the takeover is done, the last of them
// its own, or nil when another waiter is taking the lock over right now.
func (w *waiter) claim(ctx context.Context, etag string) ([]string, error) {
	var names []string
	for k := 0; k < maxClaims; k++ {
		name := claimName(w.name, etag, k)
		names = append(names, name)
		err := w.srv.CreateProfileExclusive(ctx, claimProfile(name, w.scope, w.me))
		if err == nil {
			return names, nil
		}
		if !incus.IsExists(err) {
			return nil, fmt.Errorf("taking over the lock on %s: creating the claim %s: %w", w.scope, name, err)
		}
		_, cetag, err := w.srv.GetProfileETag(ctx, name)
		if incus.IsNotFound(err) {
			// Its taker just finished: the lock has moved on.
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("taking over the lock on %s: reading the claim %s: %w", w.scope, name, err)
		}
		if !w.stale(name, cetag) {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("taking over the lock on %s: %d takeover claims were abandoned (profiles %s-t…); delete them and %s with `incus profile delete`", w.scope, maxClaims, w.name, w.name)
}

// dropClaims deletes takeover claims, even when ctx is done; one left
// behind costs the next takeover of the same content a Stale wait, no more.
func (w *waiter) dropClaims(ctx context.Context, names []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for _, n := range names {
		_ = w.srv.DeleteProfile(ctx, n)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
