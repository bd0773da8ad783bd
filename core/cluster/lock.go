package cluster

import (
	"context"
	"errors"

	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/status"
)

// One run at a time works on a plex: up, join, drain and down each hold the
// plex's lock (core/internal/lock, an Incus profile every client sees) on
// its server for the whole run, so that two runs, from any hosts, never
// create, join or delete the same nodes at once. A run that finds the lock
// held waits, on one status line naming the holder, and then works on what
// the other made; with NoWait it fails at once, naming the holder.

// holdPlex runs work while this run holds the lock of plex on srv; verb
// ("up") names the run to those who wait for it. work gets a context that
// ends when the lock is lost, and the lock, whose loss means work must not
// undo what it made (see run.fail): the run that took the plex over may be
// adopting it.
//
// The lock is released after work returns, so a failed run's undo happens
// while it still holds the plex. A lock lost at any point is the run's
// error, since another run may have worked on the plex meanwhile; a lock
// that could not be deleted frees itself, and is only reported.
func (t Target) holdPlex(ctx context.Context, srv Incus, plex, verb string, noWait bool, log *status.Logger, work func(context.Context, *lock.Lock) error) error {
	var line *status.Action
	opts := t.seams.lockOptions(lock.Options{
		NoWait: noWait,
		OnWait: func(h lock.Holder) {
			if line == nil {
				line = log.Start("%s: waiting for the plex, in use by %s", plex, h)
				return
			}
			log.Debugf("   %s: the plex is now in use by %s", plex, h)
		},
		OnTakeOver: func(dead lock.Holder) {
			log.Infof(" ! %s: took the plex over from %s, which had stopped renewing its lock: that run died, and what it was doing may be half done", plex, dead)
		},
	})
	l, err := lock.Acquire(ctx, srv, lock.Plex(plex), lock.Holder{Verb: "kubectl plex " + verb}, opts)
	_ = line.End(err)
	if err != nil {
		return err
	}
	lctx, cancel := l.Context(ctx)
	err = work(lctx, l)
	cancel()
	switch rerr := l.Release(ctx); {
	case errors.Is(rerr, lock.ErrLost):
		return rerr
	case rerr != nil:
		log.Infof(" ! %s: %v", plex, rerr)
	}
	return err
}

// fail ends a run that failed: it undoes what the run made (unless Retain)
// and returns err. A run that lost the plex's lock undoes nothing, since
// the run that took the plex over may be adopting those very nodes, and
// returns why it lost the lock.
func (r *run) fail(err error) error {
	if r.lock != nil {
		if lost := r.lock.Err(); lost != nil {
			r.rv.Success()
			return lost
		}
	}
	return r.rv.Fail(err)
}
