package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
)

// scriptedExec is an Incus whose Exec prints out, in two writes that split a
// line, and exits with code.
type scriptedExec struct {
	Incus
	out  string
	code int
}

func (s scriptedExec) Exec(_ context.Context, _ string, _ []string, o incus.ExecOptions) (int, error) {
	half := len(s.out) / 2
	_, _ = io.WriteString(o.Stdout, s.out[:half])
	_, _ = io.WriteString(o.Stderr, s.out[half:])
	return s.code, nil
}

func TestTracedRunShowsCommandsWithoutSecrets(t *testing.T) {
	const token = "abcdef.0123456789abcdef"
	var buf bytes.Buffer
	log := status.New(&buf)
	log.Verbose = true
	srv := traceCommands(scriptedExec{out: "W1202 a warning\n" + token}, log)

	out, err := srv.Run(context.Background(), "lab1", "kubeadm", "token", "create", "--ttl", "15m")
	if err != nil {
		t.Fatal(err)
	}
	if out != "W1202 a warning\n"+token {
		t.Errorf("Run returned %q; the caller must get the output as it was", out)
	}
	want := "   $ lab1: kubeadm token create --ttl 15m\n   | W1202 a warning\n   | abcdef.****************\n"
	if buf.String() != want {
		t.Errorf("verbose output:\n%s\nwant:\n%s", buf.String(), want)
	}
	if strings.Contains(buf.String(), "0123456789abcdef") {
		t.Errorf("the token's secret was shown: %s", buf.String())
	}

	_, err = traceCommands(scriptedExec{out: "boom\n", code: 2}, log).Run(context.Background(), "lab1", "false")
	var ee *incus.ExecError
	if !errors.As(err, &ee) || ee.Code != 2 || ee.Output != "boom\n" || ee.Instance != "lab1" {
		t.Errorf("a failed command gave %v, want an *incus.ExecError with its code and output", err)
	}
}

func TestTraceOnlyWhenVerbose(t *testing.T) {
	srv := scriptedExec{}
	if got := traceCommands(srv, status.Discard()); got != Incus(srv) {
		t.Errorf("a quiet run's server was wrapped: %T", got)
	}
	log := status.New(io.Discard)
	log.Verbose = true
	tr := traceCommands(srv, log)
	if _, ok := tr.(traced); !ok {
		t.Fatalf("a verbose run's server is %T, want traced", tr)
	}
	if _, ok := traceCommands(tr, log).(traced).Incus.(traced); ok {
		t.Error("wrapping twice nests the tracing")
	}
	if untraced(tr) != Incus(srv) {
		t.Error("untraced did not give the server back")
	}
}
