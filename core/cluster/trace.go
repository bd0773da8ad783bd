package cluster

import (
	"context"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/kubeadm"
	"github.com/plex-dev/plex/core/status"
)

// traced is the Incus of a verbose run (`kubectl plex -v`): every command
// run in a node is shown with its node, and its output line by line as it
// comes, bootstrap tokens and certificate keys hidden (kubeadm.Redact).
type traced struct {
	Incus
	log *status.Logger
}

// traceCommands wraps srv when log is verbose.
func traceCommands(srv Incus, log *status.Logger) Incus {
	if log == nil || !log.Verbose {
		return srv
	}
	if _, ok := srv.(traced); ok {
		return srv
	}
	return traced{Incus: srv, log: log}
}

// untraced is srv without the tracing, for polls that would flood the
// terminal: the boot wait tries its probe twice a second.
func untraced(srv Incus) Incus {
	if t, ok := srv.(traced); ok {
		return t.Incus
	}
	return srv
}

func (t traced) Run(ctx context.Context, name string, cmd ...string) (string, error) {
	t.log.Debugf("   $ %s: %s", name, kubeadm.Redact(strings.Join(cmd, " ")))
	out := &status.Lines{Log: t.log, Prefix: "   | ", Filter: kubeadm.Redact}
	code, err := t.Incus.Exec(ctx, name, cmd, incus.ExecOptions{Stdout: out, Stderr: out})
	out.Flush()
	return incus.RunResult(name, cmd, code, err, out.String())
}
