// Package cli is the edge the three programs share: Main turns Ctrl-C into
// context cancellation, prints the one error and picks the exit code, and
// WriteData writes the -o json|yaml output of the verbs.
//
// It stays apart from core/status, although both present things to the user.
// The core packages that do the work (cluster, bake, registry, flux) import
// status to print their progress; they must not reach os.Exit or signal
// handling, and they have no output formats to choose. Only the programs
// (cmd/*) and the end-to-end tests, for the exit codes, import cli. Folding
// the two together would give every core package the process edge, and
// moving status would touch every package that reports progress, for no
// behaviour gained.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes of Main.
const (
	ExitError       = 1
	ExitInterrupted = 130 // 128 + SIGINT, as shells report it
)

// Main runs execute with a context that Ctrl-C (SIGINT) or SIGTERM cancels,
// so that a verb stops at its next step and cleans up what it made, and
// exits: 0 on success, ExitError on error, ExitInterrupted after a signal.
func Main(execute func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := execute(ctx)
	interrupted := ctx.Err() != nil
	stop()
	os.Exit(report(os.Stderr, err, interrupted))
}

// report prints err as the programs do and returns the exit code.
func report(w io.Writer, err error, interrupted bool) int {
	switch {
	case err == nil:
		return 0
	case interrupted && strings.Contains(err.Error(), "interrupted"):
		// The long operations already say which step was interrupted.
		fmt.Fprintln(w, err)
		return ExitInterrupted
	case interrupted:
		fmt.Fprintln(w, "interrupted:", err)
		return ExitInterrupted
	default:
		fmt.Fprintln(w, "error:", err)
		return ExitError
	}
}
