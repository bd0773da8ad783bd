package bake

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
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
	out := &outputLog{log: b.log}
	code, err := b.srv.Exec(ctx, b.instance, cmd, incus.ExecOptions{Stdout: out, Stderr: out, Env: env})
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return out.String(), fmt.Errorf("%s did not finish in %s:\n%s", strings.Join(cmd, " "), timeout, tail(out.String(), 2000))
		}
		return out.String(), err
	}
	if code != 0 {
		return out.String(), &incus.ExecError{Instance: b.instance, Command: cmd, Code: code, Output: out.String()}
	}
	return out.String(), nil
}

// outputLog collects a command's output and, in verbose mode, shows it line
// by line as it comes.
type outputLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	log     *status.Logger
}

func (w *outputLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.Debugf("   | %s", w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *outputLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
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
