// Package status prints the progress of long operations: one line per action
// that opens with • and ends ✓ or ✗ with its duration, like kind's status
// lines. Every event is its own line, so actions running in parallel, logs and
// CI output all stay readable.
//
// It holds the progress lines only. The programs' edge (signals, exit codes,
// the final error, -o json|yaml) is core/cli: status is imported by the core
// packages that do the work, which must not depend on that edge.
package status

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Logger writes status lines. It is safe for concurrent use; actions running
// in parallel each print their own start and end lines.
type Logger struct {
	mu sync.Mutex
	w  io.Writer
	// Verbose enables Debugf output.
	Verbose bool
	now     func() time.Time
}

// New returns a Logger writing to w.
func New(w io.Writer) *Logger {
	return &Logger{w: w, now: time.Now}
}

// Discard is a Logger that prints nothing.
func Discard() *Logger { return &Logger{w: io.Discard, now: time.Now} }

// Infof prints a plain line.
func (l *Logger) Infof(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// Debugf prints a line only when Verbose is set.
func (l *Logger) Debugf(format string, args ...any) {
	if l.Verbose {
		l.Infof(format, args...)
	}
}

// Action is a running status line.
type Action struct {
	l     *Logger
	msg   string
	start time.Time
	done  bool
}

// Start opens a status line.
func (l *Logger) Start(format string, args ...any) *Action {
	a := &Action{l: l, msg: fmt.Sprintf(format, args...), start: l.now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, " • %s\n", a.msg)
	return a
}

// End closes the line ✓ when err is nil and ✗ otherwise, and returns err, so
// that `return a.End(err)` reads naturally. Ending twice does nothing.
func (a *Action) End(err error) error {
	if a == nil || a.done {
		return err
	}
	a.done = true
	d := a.l.now().Sub(a.start).Round(10 * time.Millisecond)
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	fmt.Fprintf(a.l.w, " %s %s (%s)\n", mark, a.msg, d)
	return err
}

// Elapsed is the time since the action started.
func (a *Action) Elapsed() time.Duration { return a.l.now().Sub(a.start) }
