package incus

// Commands run in an instance through Incus's exec API with websockets
// (interactive=false, wait-for-websocket=true), not with record-output:
// plex's verbose mode streams a command's output while it runs (a kubeadm
// init takes 15 s), and record-output only hands the output over at the
// end, in files that must then be read and deleted. The websockets carry
// stdout and stderr as they come; both may go to one writer, which then
// holds them in the order they arrived.
//
// Ctrl-C (the context ending) while a command runs: plex sends SIGTERM to the
// command through the exec's control websocket, gives it execGrace to end,
// then closes the control websocket, on which incusd kills the command
// with SIGKILL. Exec then returns the context's error. Only the command
// plex started gets the signals; a process it left in the background may
// outlive it, as with `incus exec`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// ExecError is a command that failed inside an instance. It keeps the
// command and its output, so the user sees why.
type ExecError struct {
	Instance string
	Command  []string
	Code     int
	Output   string
}

func (e *ExecError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 4000 {
		out = "…" + out[len(out)-4000:]
	}
	return fmt.Sprintf("command %q in %s exited %d:\n%s", commandLine(e.Command), e.Instance, e.Code, out)
}

// commandLine is a command as errors show it: a script passed to sh -c is
// cut at its first line (and a long line at 160 bytes), so that an error
// names the command without repeating the whole script.
func commandLine(cmd []string) string {
	s := strings.Join(cmd, " ")
	cut := len(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		cut = i
	}
	cut = min(cut, 160)
	if cut == len(s) {
		return s
	}
	return strings.TrimSpace(s[:cut]) + " …"
}

// ExecOptions tune Exec.
type ExecOptions struct {
	// Stdin is the command's standard input; nil gives it an empty one.
	Stdin io.Reader
	// Stdout and Stderr get the command's output as it comes; nil drops it.
	// They may be the same writer (it must then be safe for concurrent use).
	Stdout io.Writer
	Stderr io.Writer
	// Env is added to plex's base environment (PATH, LANG, DEBIAN_FRONTEND).
	Env map[string]string
}

// execGrace is how long a command has to end after SIGTERM when the caller's
// context ends, before incusd kills it.
var execGrace = 3 * time.Second

// outputDrain bounds how long Exec waits, after the command has ended, for
// the rest of its output to arrive.
const outputDrain = 30 * time.Second

type execPost struct {
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	WaitForWS   bool              `json:"wait-for-websocket"`
	Interactive bool              `json:"interactive"`
}

type execControl struct {
	Command string `json:"command"`
	Signal  int    `json:"signal,omitempty"`
}

// Exec runs a command in an instance and returns its exit code. A command
// that cannot be found exits 127, as in a shell.
func (s *Server) Exec(ctx context.Context, name string, cmd []string, o ExecOptions) (int, error) {
	for attempt := 1; ; attempt++ {
		code, err := s.exec(ctx, name, cmd, o)
		// incusd starts the command only once its stream websockets are
		// connected, so a command whose websockets could not be connected
		// (a daemon too busy to answer in time) never ran: run it again.
		var nc *notConnected
		if !errors.As(err, &nc) || ctx.Err() != nil || attempt == 3 {
			return code, err
		}
		if werr := rest.Sleep(ctx, time.Duration(attempt)*time.Second); werr != nil {
			return -1, err
		}
	}
}

// notConnected is a command whose websockets could not be connected: it
// did not start.
type notConnected struct{ err error }

func (e *notConnected) Error() string { return e.err.Error() }
func (e *notConnected) Unwrap() error { return e.err }

func (s *Server) exec(ctx context.Context, name string, cmd []string, o ExecOptions) (int, error) {
	what := fmt.Sprintf("running %q in %s", commandLine(cmd), name)
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
	for k, v := range o.Env {
		env[k] = v
	}
	op, err := s.c.Async(ctx, rest.Request{
		Method: http.MethodPost,
		Path:   rest.Path("instances", name, "exec"),
		Body:   execPost{Command: cmd, Environment: env, WaitForWS: true},
	})
	if err != nil {
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	var meta struct {
		FDs map[string]string `json:"fds"`
	}
	if err := op.Decode(&meta); err != nil || meta.FDs["0"] == "" || meta.FDs["1"] == "" || meta.FDs["2"] == "" {
		s.c.Cancel(op)
		return -1, fmt.Errorf("%s: the server gave no websockets for the command's streams", what)
	}
	conns := map[string]*websocket.Conn{}
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	for _, fd := range []string{"control", "0", "1", "2"} {
		c, err := s.c.Websocket(ctx, op.ID, meta.FDs[fd])
		if err != nil {
			closeAll()
			s.c.Cancel(op)
			return -1, &notConnected{fmt.Errorf("%s: %w", what, err)}
		}
		conns[fd] = c
	}
	defer closeAll()

	// Incus pings every websocket; reading is what answers the pings, so
	// the two sockets plex only writes to are read too.
	go discard(conns["control"])
	go discard(conns["0"])
	go sendStdin(conns["0"], o.Stdin)
	var outputs sync.WaitGroup
	outputs.Add(2)
	go func() { defer outputs.Done(); receive(conns["1"], o.Stdout) }()
	go func() { defer outputs.Done(); receive(conns["2"], o.Stderr) }()

	done, err := s.c.Wait(ctx, op)
	if err != nil {
		if ctx.Err() != nil {
			s.interrupt(conns["control"], op)
			return -1, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if commandNotFound(err) {
			return 127, nil
		}
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	drained := make(chan struct{})
	go func() { outputs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(outputDrain):
	case <-ctx.Done():
		return -1, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	code, ok := done.Metadata["return"].(float64)
	if !ok {
		return -1, fmt.Errorf("%s: the server gave no exit code", what)
	}
	return int(code), nil
}

// commandNotFound tells incusd's failure to start a missing program, which
// it reports as a failed operation with this text only. A shell says 127.
func commandNotFound(err error) bool {
	var e *rest.Error
	return errors.As(err, &e) && e.Method == "operation" && strings.EqualFold(strings.TrimSpace(e.Message), "command not found")
}

// interrupt ends a command whose caller has gone: SIGTERM, then, after
// execGrace, closing the control socket, on which incusd sends SIGKILL.
func (s *Server) interrupt(control *websocket.Conn, op *rest.Operation) {
	msg, _ := json.Marshal(execControl{Command: "signal", Signal: 15})
	_ = control.WriteMessage(websocket.TextMessage, msg)
	ctx, cancel := context.WithTimeout(context.Background(), execGrace)
	defer cancel()
	if _, err := s.c.Wait(ctx, op); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return
	}
	_ = control.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	_ = control.Close()
}

// sendStdin copies r to the stdin websocket as binary messages, then sends
// the empty text message that Incus reads as end of input.
func sendStdin(c *websocket.Conn, r io.Reader) {
	if r != nil {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if werr := c.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				break
			}
		}
	}
	_ = c.WriteMessage(websocket.TextMessage, nil)
}

// receive copies binary messages to w until the text message that marks the
// end of the stream, or the socket closes.
func receive(c *websocket.Conn, w io.Writer) {
	if w == nil {
		w = io.Discard
	}
	for {
		mt, r, err := c.NextReader()
		if err != nil || mt != websocket.BinaryMessage {
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			w = io.Discard // keep reading so the command is not blocked on a full socket
		}
	}
}

func discard(c *websocket.Conn) {
	for {
		if _, _, err := c.NextReader(); err != nil {
			return
		}
	}
}

// Run runs a command in an instance and returns its combined output. A
// non-zero exit is an *ExecError with the output.
func (s *Server) Run(ctx context.Context, name string, cmd ...string) (string, error) {
	return s.RunInput(ctx, name, nil, cmd...)
}

// RunInput is Run with standard input.
func (s *Server) RunInput(ctx context.Context, name string, stdin io.Reader, cmd ...string) (string, error) {
	var buf lockedBuffer
	code, err := s.Exec(ctx, name, cmd, ExecOptions{Stdin: stdin, Stdout: &buf, Stderr: &buf})
	return RunResult(name, cmd, code, err, buf.String())
}

// RunResult is what Run returns for an Exec of cmd in instance that gave
// code and err with output: a non-zero exit is an *ExecError.
func RunResult(instance string, cmd []string, code int, err error, output string) (string, error) {
	if err != nil {
		return output, err
	}
	if code != 0 {
		return output, &ExecError{Instance: instance, Command: cmd, Code: code, Output: output}
	}
	return output, nil
}
