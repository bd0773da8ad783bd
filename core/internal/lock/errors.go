package lock

import (
	"errors"
	"fmt"
)

// ErrHeld is matched (errors.Is) by a *HeldError.
var ErrHeld = errors.New("lock held by another run")

// ErrLost is matched (errors.Is) by a *LostError.
var ErrLost = errors.New("lock lost")

// HeldError is Acquire's answer with NoWait when another run holds the lock.
type HeldError struct {
	Scope  Scope
	Holder Holder
	// Profile is the Incus profile that is the lock.
	Profile string
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is in use by %s; wait for it to finish (run again without --no-wait to wait for it), or, if that process is gone, delete its lock with `incus profile delete %s`", e.Scope, e.Holder, e.Profile)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// LostError says that a run no longer holds its lock: another run took it
// over, someone deleted it, or the holder could not renew it long enough
// that others may have.
type LostError struct {
	Scope Scope
	// By is who holds it now, when that is known.
	By *Holder
	// Err is why, when it was not a takeover.
	Err error
}

func (e *LostError) Error() string {
	var why string
	switch {
	case e.By != nil:
		why = "it was taken over by " + e.By.String() + ", which judged this run dead because it had stopped renewing the lock"
	case e.Err != nil:
		why = e.Err.Error()
	default:
		why = "it is gone"
	}
	return fmt.Sprintf("lost the lock on %s: %s; plex stopped so that two runs do not change %s at once; check its state and run the command again", e.Scope, why, e.Scope)
}

// Is makes errors.Is(err, ErrLost) true.
func (e *LostError) Is(target error) bool { return target == ErrLost }

// Unwrap is the cause, when there is one.
func (e *LostError) Unwrap() error { return e.Err }
