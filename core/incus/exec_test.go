package incus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExecExitCodes(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		ctx := testCtx(t)
		for _, tt := range []struct {
			cmd  []string
			code int
		}{
			{[]string{"true"}, 0},
			{[]string{"false"}, 1},
			{[]string{"nope"}, 127},
		} {
			code, err := s.Exec(ctx, "c1", tt.cmd, ExecOptions{Env: map[string]string{"FOO": "bar", "LANG": "C"}})
			if err != nil || code != tt.code {
				t.Errorf("Exec(%v) = %d, %v; want %d", tt.cmd, code, err, tt.code)
			}
			e := f.nextExec(t)
			if !reflect.DeepEqual(e.Command, tt.cmd) {
				t.Errorf("the fake ran %q, want %q", e.Command, tt.cmd)
			}
			for k, v := range map[string]string{"FOO": "bar", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} {
				if e.Env[k] != v {
					t.Errorf("%v ran with %s=%q, want %q", tt.cmd, k, e.Env[k], v)
				}
			}
		}
		for _, r := range f.requests("POST", "/1.0/instances/c1/exec") {
			if r.Query.Get("project") != "default" {
				t.Errorf("exec without ?project=default: %v", r.Query)
			}
		}

		out, err := s.Run(ctx, "c1", "true")
		if err != nil || out != "" {
			t.Errorf("Run(true) = %q, %v", out, err)
		}
		for _, tt := range []struct {
			cmd  []string
			code int
			out  string
		}{
			{[]string{"false", "boom"}, 1, "boom\n"},
			{[]string{"nope"}, 127, ""},
		} {
			out, err := s.Run(ctx, "c1", tt.cmd...)
			var ee *ExecError
			if !errors.As(err, &ee) {
				t.Errorf("Run(%v) = %q, %v; want an *ExecError", tt.cmd, out, err)
				continue
			}
			if ee.Code != tt.code || ee.Output != tt.out || out != tt.out || ee.Instance != "c1" || !reflect.DeepEqual(ee.Command, tt.cmd) {
				t.Errorf("Run(%v) = %q, %+v; want code %d and output %q", tt.cmd, out, ee, tt.code, tt.out)
			}
			if tt.out != "" && !strings.Contains(err.Error(), strings.TrimSpace(tt.out)) {
				t.Errorf("the error %q does not show the output", err)
			}
		}
	})
}

func TestExecMissingInstance(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	code, err := s.Exec(testCtx(t), "ghost", []string{"true"}, ExecOptions{})
	if err == nil || !IsNotFound(err) || code != -1 {
		t.Errorf("Exec in a missing instance = %d, %v; want -1 and a not-found error", code, err)
	}
}

// firstDiff describes where got differs from want.
func firstDiff(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d of %d", i, len(got))
		}
	}
	return fmt.Sprintf("length %d, want %d", len(got), len(want))
}

func TestExecBigOutput(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		var stdout, stderr bytes.Buffer
		code, err := s.Exec(testCtx(t), "c1", []string{"big"}, ExecOptions{Stdout: &stdout, Stderr: &stderr})
		if err != nil || code != 0 {
			t.Fatalf("Exec(big) = %d, %v", code, err)
		}
		if want := bigOutput(); !bytes.Equal(stdout.Bytes(), want) {
			t.Errorf("stdout is not the 3 MiB the command wrote: %s", firstDiff(stdout.Bytes(), want))
		}
		if stderr.String() != bigStderr {
			t.Errorf("stderr = %q, want %q", stderr.String(), bigStderr)
		}
	})
}

func TestExecStdin(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		// Several of sendStdin's 32 KiB messages.
		in := bigOutput()[:200_000]
		out, err := s.RunInput(testCtx(t), "c1", bytes.NewReader(in), "cat")
		if err != nil {
			t.Fatalf("RunInput(cat): %v", err)
		}
		if !bytes.Equal([]byte(out), in) {
			t.Errorf("cat gave back other bytes than its stdin: %s", firstDiff([]byte(out), in))
		}
	})
}

func TestExecNilStdinIsEOF(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		// cat ends only when its stdin does: a nil Stdin must be closed at
		// once, or this hangs until the context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		var stdout bytes.Buffer
		code, err := s.Exec(ctx, "c1", []string{"cat"}, ExecOptions{Stdout: &stdout})
		if err != nil || code != 0 || stdout.Len() != 0 {
			t.Fatalf("Exec(cat) with no stdin = %d, %v, output %q", code, err, stdout.String())
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("cat with no stdin took %v", d)
		}
	})
}

func TestExecInterleavedOutput(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		out, err := s.Run(testCtx(t), "c1", "interleave")
		if err != nil || out != "o1e1o2" {
			t.Errorf("Run(interleave) = %q, %v; want stdout and stderr in the order written: o1e1o2", out, err)
		}
	})
}

func TestCommandLine(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"kubeadm", "join", "--config", "/etc/plex/kubeadm-join.yaml"}, "kubeadm join --config /etc/plex/kubeadm-join.yaml"},
		{[]string{"sh", "-c", "# routes\nset -eu\nip route replace 10.0.0.0/24 via 10.1.0.2\n"}, "sh -c # routes …"},
		{[]string{"echo", long}, "echo " + long[:155] + " …"},
	} {
		if got := commandLine(tc.cmd); got != tc.want {
			t.Errorf("commandLine(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
