package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

// joinErrors joins errors in a stable order, so output does not depend on
// which goroutine finished first.
func joinErrors(errs []error) error {
	sort.Slice(errs, func(a, b int) bool { return errs[a].Error() < errs[b].Error() })
	return errors.Join(errs...)
}

// A step that runs on every node at once fails on every node the same way
// more often than not: three copies of a boot script and its output say less
// than one line that names the three nodes. So the error of a step is one
// line per distinct cause, a failed command shortened to its first line and
// the last line of its output; the whole command and output go to the run's
// output log, which the error names, and to the Logger with -v.

// nodeErr is the error of one node of a step.
type nodeErr struct {
	node string
	err  error
}

// stepError is a step's condensed error. It unwraps to every node's own
// error, so errors.Is and errors.As see through it.
type stepError struct {
	msg  string
	errs []error
}

func (e *stepError) Error() string   { return e.msg }
func (e *stepError) Unwrap() []error { return e.errs }

// eachNode runs f for every node at once and condenses their errors.
func (r *run) eachNode(ctx context.Context, nodes []plan.Node, f func(plan.Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	var failed []nodeErr
	for i, err := range errs {
		if err != nil {
			failed = append(failed, nodeErr{nodes[i].Name, err})
		}
	}
	return r.condense(ctx, failed)
}

// brief condenses the error of a step that is not per node: a command that
// failed in one node reads like eachNode's.
func (r *run) brief(ctx context.Context, err error) error {
	var se *stepError
	if err == nil || errors.As(err, &se) {
		return err
	}
	node := ""
	var ee *incus.ExecError
	if errors.As(err, &ee) {
		node = ee.Instance
	}
	return r.condense(ctx, []nodeErr{{node, err}})
}

// condense makes one line of the nodes' errors: nodes with the same cause
// share one clause that names them, in the order given.
func (r *run) condense(ctx context.Context, failed []nodeErr) error {
	if len(failed) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		// A Ctrl-C: the runner reports it in its own words.
		return errors.Join(errs(failed)...)
	}
	var (
		keys   []string
		nodes  = map[string][]string{}
		logged string
	)
	for _, f := range failed {
		key := f.err.Error()
		var ee *incus.ExecError
		if errors.As(f.err, &ee) {
			if path := r.out.record(ee); path != "" {
				logged = path
			}
			key = strings.Replace(key, ee.Error(), shortExec(ee), 1)
		}
		if f.node != "" {
			key = wordRE(f.node).ReplaceAllString(key, "${1}\x00${2}")
		}
		if _, ok := nodes[key]; !ok {
			keys = append(keys, key)
		}
		if f.node != "" {
			nodes[key] = append(nodes[key], f.node)
		}
	}
	clauses := make([]string, len(keys))
	for i, key := range keys {
		names := strings.Join(nodes[key], ", ")
		switch {
		case strings.Contains(key, "\x00"):
			clauses[i] = strings.ReplaceAll(key, "\x00", names)
		case names != "":
			clauses[i] = names + ": " + key
		default:
			clauses[i] = key
		}
	}
	msg := strings.Join(clauses, "; ")
	if logged != "" {
		msg += " (full output in " + logged + ")"
	}
	return &stepError{msg: msg, errs: errs(failed)}
}

func errs(failed []nodeErr) []error {
	out := make([]error, len(failed))
	for i, f := range failed {
		out[i] = f.err
	}
	return out
}

// wordRE matches name as a whole word, so lab1 is not found in lab10.
func wordRE(name string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(name) + `($|[^A-Za-z0-9-])`)
}

// shortExec is a failed command in one line: its first line, and the last
// line of its output, which is where kubeadm and most tools say what went
// wrong.
func shortExec(ee *incus.ExecError) string {
	cmd := strings.Join(ee.Command, " ")
	if i := strings.IndexByte(cmd, '\n'); i >= 0 {
		cmd = cmd[:i] + " …"
	}
	if len(cmd) > 80 {
		cmd = cmd[:77] + "…"
	}
	s := fmt.Sprintf("command %q exited %d", cmd, ee.Code)
	out := strings.TrimSpace(ee.Output)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = strings.TrimSpace(out[i+1:])
	}
	if out != "" {
		s += ": " + out
	}
	return s
}

// outputLog keeps the full command and output of every command that failed
// in a run, in a file made at the first failure.
type outputLog struct {
	// name starts the file's name: "plex-lab-up".
	name string
	log  *status.Logger

	mu   sync.Mutex
	path string
	// failed is set when the file could not be written; the errors then
	// carry no path and -v is the only way to the output.
	failed bool
}

// record writes a failed command to the log file and, with -v, to the
// Logger, and returns the file's path ("" when it could not be written).
func (l *outputLog) record(ee *incus.ExecError) string {
	what := fmt.Sprintf("%s: command exited %d:\n$ %s\n%s", ee.Instance, ee.Code, strings.Join(ee.Command, " "), strings.TrimRight(ee.Output, "\n"))
	l.log.Debugf("   %s", what)
	entry := "== " + time.Now().Format(time.RFC3339) + " " + what + "\n\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed {
		return ""
	}
	if l.path == "" {
		f, err := os.CreateTemp("", l.name+"-*.log")
		if err != nil {
			l.failed = true
			return ""
		}
		l.path = f.Name()
		_ = f.Close()
	}
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		l.failed = true
		return ""
	}
	defer f.Close()
	if _, err := f.WriteString(entry); err != nil {
		l.failed = true
		return ""
	}
	return l.path
}
