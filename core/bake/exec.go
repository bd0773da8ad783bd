package bake

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
)

// runScript runs one of the pushed scripts with env and returns its output;
// a non-zero exit is an *incus.ExecError carrying the output's tail.
func (b *baker) runScript(ctx context.Context, name string, timeout time.Duration, env map[string]string) (string, error) {
	return b.exec(ctx, timeout, env, "/bin/sh", scriptDir+"/"+name)
}

func (b *baker) exec(ctx context.Context, timeout time.Duration, env map[string]string, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &status.Lines{Log: b.log, Prefix: "   | "}
	code, err := b.srv.Exec(ctx, b.instance, cmd, incus.ExecOptions{Stdout: out, Stderr: out, Env: env})
	out.Flush()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return out.String(), fmt.Errorf("%s did not finish in %s:\n%s", strings.Join(cmd, " "), timeout, tail(out.String(), 2000))
	}
	return incus.RunResult(b.instance, cmd, code, err, out.String())
}

// parseFacts reads the "plex-fact KEY=VALUE" lines of a script's output.
func parseFacts(out string) map[string]string {
	facts := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "plex-fact ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			facts[k] = v
		}
	}
	return facts
}
