package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/status"
)

// Reverter records how to undo what a run has created, as it creates it,
// and on failure undoes it newest first. Register each undo step right
// after the thing exists, so that a failure at any point undoes exactly what
// this run made. It is safe for concurrent use (nodes are made in parallel).
type Reverter struct {
	mu    sync.Mutex
	steps []undo
	log   *status.Logger
	// Retain keeps everything on failure and says how to remove it.
	Retain bool
	// Timeout bounds the whole undo, which runs on a fresh context: the
	// run's own has usually ended (Ctrl-C).
	Timeout time.Duration
	// Subject, when set, starts the undo's status line, as RunFor's do.
	Subject string
}

type undo struct {
	what string // "instance lab1": a noun phrase, counted by kind in the summary
	kind string // "instance"
	do   func(ctx context.Context) error
}

// NewReverter returns a Reverter that prints to log.
func NewReverter(log *status.Logger, retain bool) *Reverter {
	return &Reverter{log: log, Retain: retain, Timeout: 2 * time.Minute}
}

// Add registers the undo of one thing this run made: kind is what it is
// ("instance", "profile", "image alias"), name which one.
func (r *Reverter) Add(kind, name string, do func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, undo{what: kind + " " + name, kind: kind, do: do})
}

// Len is the number of undo steps recorded.
func (r *Reverter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

// Success forgets the undo steps: what the run made is now the user's.
func (r *Reverter) Success() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = nil
}

// Fail undoes what was recorded, newest first, and returns cause with one
// line saying what was removed (or kept, with Retain). Call it from a defer
// with the run's error:
//
//	defer func() { err = rv.Fail(err) }()
//
// A nil cause means success and undoes nothing.
func (r *Reverter) Fail(cause error) error {
	if cause == nil {
		r.Success()
		return nil
	}
	r.mu.Lock()
	steps := r.steps
	r.steps = nil
	r.mu.Unlock()
	if len(steps) == 0 {
		return cause
	}
	summary := summarize(steps)
	if r.Retain {
		return fmt.Errorf("%w\n(--retain: kept the %s this run made; remove them by hand or run the command again)", cause, summary)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	line := r.log.Start("%s", prefixed(r.Subject, "removing the "+summary+" this run made"))
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].do(ctx); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", steps[i].what, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = line.End(err)
		return fmt.Errorf("%w\n(cleaning up also failed: %v)", cause, err)
	}
	_ = line.End(nil)
	return fmt.Errorf("%w; removed the %s this run made", cause, summary)
}

// summarize counts the steps by kind: "3 instance(s) and 1 profile(s)".
func summarize(steps []undo) string {
	var kinds []string
	count := map[string]int{}
	for _, s := range steps {
		if count[s.kind] == 0 {
			kinds = append(kinds, s.kind)
		}
		count[s.kind]++
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s(s)", count[k], k)
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
