// Package action runs a long operation as an ordered list of actions that
// share one context: each action opens a status line and closes it ✓ or ✗
// with its time, and what the actions create is undone, newest first, when a
// later one fails or the user presses Ctrl-C — unless the user asked to keep
// it (--retain). bake, up, join, down and plex-registry up are all written as
// such lists, so each reads top to bottom in one function.
package action

import (
	"context"
	"errors"
	"fmt"

	"github.com/plex-dev/plex/core/status"
)

// Action is one step: a title for its status line and the work.
type Action struct {
	Title string
	// TitleFunc, when set, makes the title when the action runs, from what
	// earlier actions found.
	TitleFunc func() string
	Do        func(ctx context.Context) error
	// Quiet actions print no status line of their own (a lookup whose
	// result the next action's title shows).
	Quiet bool
	// when, set by When, decides at the action's turn whether it runs.
	when func() bool
}

// New is shorthand for an Action.
func New(title string, do func(ctx context.Context) error) Action {
	return Action{Title: title, Do: do}
}

// Skip is an action that does nothing and prints nothing: a step that does
// not apply this time keeps its place in the list.
var Skip = Action{Quiet: true, Do: func(context.Context) error { return nil }}

// SkipRest, returned by an action's Do, ends the run early as a success:
// the action's line closes ✓ and the actions after it do not run. An action
// that finds the work already done (an up-to-date image) returns it, so that
// a list can stop where it learns so without a second list after a check.
var SkipRest = errors.New("nothing left to do")

// If returns a when cond holds, and Skip otherwise.
func If(cond bool, a Action) Action {
	if cond {
		return a
	}
	return Skip
}

// When returns a that runs only if cond holds when its turn comes: for a step
// that earlier actions decide on (a node that has joined already is not
// joined again). Unlike If, cond is asked at run time; a skipped action
// prints nothing.
func When(cond func() bool, a Action) Action {
	a.when = cond
	return a
}

func (a Action) title() string {
	if a.TitleFunc != nil {
		return a.TitleFunc()
	}
	return a.Title
}

// Run runs the actions in order and stops at the first error, or with nil
// at an action that returns SkipRest. An action that a Ctrl-C stopped
// returns Interrupted's one line.
func Run(ctx context.Context, log *status.Logger, actions ...Action) error {
	return RunFor(ctx, log, "", actions...)
}

// RunFor is Run for one of several subjects worked on in parallel, such as
// the plexes of one spec file: each status line starts with "subject: ", so
// that interleaved lines stay readable. Errors, Interrupted's too, keep the
// bare title; the caller names the subject when it wraps them.
func RunFor(ctx context.Context, log *status.Logger, subject string, actions ...Action) error {
	for _, a := range actions {
		if a.Do == nil || (a.when != nil && !a.when()) {
			continue
		}
		title := a.title()
		if err := ctx.Err(); err != nil {
			return Interrupted(title, err)
		}
		var line *status.Action
		if !a.Quiet {
			line = log.Start("%s", prefixed(subject, title))
		}
		err := a.Do(ctx)
		if errors.Is(err, SkipRest) {
			_ = line.End(nil)
			return nil
		}
		_ = line.End(err)
		if err != nil {
			if ctx.Err() != nil {
				return Interrupted(title, ctx.Err())
			}
			return err
		}
	}
	return nil
}

// prefixed is "subject: title", or title alone without a subject.
func prefixed(subject, title string) string {
	if subject == "" {
		return title
	}
	return subject + ": " + title
}

// Interrupted says, in one line, which action a Ctrl-C (or a deadline)
// stopped. It wraps the context's error, so errors.Is(err, context.Canceled)
// still holds. A Ctrl-C's "context canceled" is left out of the text: the
// user knows they pressed it, and the line reads "interrupted while
// waiting for 3 node(s) to boot". A deadline's cause stays in the text.
func Interrupted(title string, cause error) error {
	msg := "interrupted"
	if title != "" {
		msg += " while " + lowerFirst(title)
	}
	if !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%s: %w", msg, cause)
	}
	return &interrupted{msg: msg, cause: cause}
}

// interrupted is a Ctrl-C's error: its own text, the context's cause.
type interrupted struct {
	msg   string
	cause error
}

func (e *interrupted) Error() string { return e.msg }
func (e *interrupted) Unwrap() error { return e.cause }

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
