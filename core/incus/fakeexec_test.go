package incus

// The fake's exec endpoint runs a command the way incusd v6.0.4 runs a
// non-interactive one with wait-for-websocket: a websocket operation with
// four sockets ("0", "1", "2", "control"); the command starts once 0, 1 and
// 2 are connected (the control socket is not required); stdin is binary
// messages ended by an empty text message; stdout and stderr are binary
// messages, each ended by an empty text message (the barrier) once the
// command has ended; the control socket takes {"command":"signal"} and a
// close or a broken control socket kills the command; when it has ended the
// sockets are closed and the operation succeeds with {"return": code}.
//
// The commands are fakes:
//
//	true        exits 0
//	false ARGS  writes ARGS to stderr, exits 1
//	nope        exits 127, as a command that does not exist
//	big         writes bigOutput to stdout and bigStderr to stderr
//	cat         copies stdin to stdout
//	sleep       runs until signalled; exits 128+signal (143 on SIGTERM)
//	            unless the fake ignores SIGTERM (ignoreTERM)
//	interleave  writes o1 to stdout, e1 to stderr, o2 to stdout, pausing
//	            after each so that the client has it before the next

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// bigOutput is 3 MiB that no reordering or loss of 32 KiB messages leaves
// unchanged.
var bigOutput = sync.OnceValue(func() []byte {
	b := make([]byte, 3<<20)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>8)*7 ^ byte(i>>16)*13
	}
	return b
})

const bigStderr = "big: wrote 3 MiB\n"

// interleavePause is how long interleave waits after each write.
const interleavePause = 100 * time.Millisecond

// fakeExec is one command the fake ran.
type fakeExec struct {
	Command []string
	Env     map[string]string

	f        *fakeIncus
	op       *fakeOp
	required chan struct{} // 0, 1 and 2 are connected
	reqOnce  sync.Once
	ctrlUp   chan struct{} // control is connected
	dead     chan struct{} // the command has ended
	done     chan struct{} // the operation has ended

	mu            sync.Mutex
	conns         map[string]*websocket.Conn
	closed        bool
	signals       []int // signals received on the control socket
	controlClosed bool  // the client closed control while the command ran
	code          int
}

func (f *fakeIncus) execPost(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Command      []string          `json:"command"`
		Environment  map[string]string `json:"environment"`
		WaitForWS    bool              `json:"wait-for-websocket"`
		Interactive  bool              `json:"interactive"`
		RecordOutput bool              `json:"record-output"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrorJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case req.RecordOutput && req.WaitForWS:
		writeErrorJSON(w, http.StatusBadRequest, `Cannot use "record-output" in combination with "wait-for-websocket"`)
		return
	case !f.hasInstance(r.PathValue("name")):
		writeErrorJSON(w, http.StatusNotFound, "Instance not found")
		return
	case !req.WaitForWS || req.Interactive || len(req.Command) == 0:
		writeErrorJSON(w, http.StatusBadRequest, "the fake runs only non-interactive commands with wait-for-websocket")
		return
	}
	e := &fakeExec{Command: req.Command, Env: req.Environment, f: f, conns: map[string]*websocket.Conn{},
		required: make(chan struct{}), ctrlUp: make(chan struct{}), dead: make(chan struct{}), done: make(chan struct{})}
	sockets := map[string]string{}
	fds := map[string]any{}
	for _, fd := range []string{"0", "1", "2", "control"} {
		sockets[fd] = randomSecret()
		fds[fd] = sockets[fd]
	}
	e.op = f.newOp("websocket", map[string]any{"fds": fds, "command": req.Command, "environment": req.Environment, "interactive": false}, sockets, e.attach)
	f.mu.Lock()
	f.execs = append(f.execs, e)
	f.mu.Unlock()
	go e.run()
	f.respondOp(w, e.op)
}

func (e *fakeExec) attach(fd string, c *websocket.Conn) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = c.Close()
		return
	}
	e.conns[fd] = c
	all := e.conns["0"] != nil && e.conns["1"] != nil && e.conns["2"] != nil
	e.mu.Unlock()
	if fd == "control" {
		close(e.ctrlUp)
	}
	if all {
		e.reqOnce.Do(func() { close(e.required) })
	}
}

func (e *fakeExec) conn(fd string) *websocket.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns[fd]
}

func (e *fakeExec) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, c := range e.conns {
		_ = c.Close()
	}
}

func (e *fakeExec) run() {
	f := e.f
	select {
	case <-e.required:
	case <-time.After(5 * time.Second):
		e.closeAll()
		f.finish(e.op, nil, "Timed out waiting for websockets to connect")
		return
	case <-f.quit:
		e.closeAll()
		return
	}
	stdinR, stdinW := io.Pipe()
	go e.readStdin(stdinW)
	stdout, stderr := &fakeStream{c: e.conn("1")}, &fakeStream{c: e.conn("2")}
	// incusd reads stdout and stderr too: that answers pings and notices a
	// client that went away.
	go discardMessages(stdout.c)
	go discardMessages(stderr.c)
	sig := make(chan int, 8)
	ctrlDone := make(chan struct{})
	go e.control(sig, ctrlDone)

	select {
	case f.execsCh <- e:
	default:
	}
	code := e.command(stdinR, stdout, stderr, sig)
	close(e.dead)
	_ = stdinR.Close()
	_ = stdout.barrier()
	_ = stderr.barrier()
	if c := e.conn("control"); c != nil {
		_ = c.Close()
	}
	<-ctrlDone
	e.closeAll()
	e.mu.Lock()
	e.code = code
	e.mu.Unlock()
	f.finish(e.op, map[string]any{"return": code}, "")
	close(e.done)
}

// readStdin copies binary messages to the command's stdin until the empty
// text message that ends it.
func (e *fakeExec) readStdin(w *io.PipeWriter) {
	c := e.conn("0")
	for {
		mt, r, err := c.NextReader()
		if err != nil {
			_ = w.CloseWithError(err)
			return
		}
		if mt == websocket.TextMessage {
			_ = w.Close()
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			return
		}
	}
}

// control forwards signals to the command and kills it (SIGKILL) when the
// client closes the control socket while the command runs.
func (e *fakeExec) control(sig chan<- int, done chan<- struct{}) {
	defer close(done)
	select {
	case <-e.ctrlUp:
	case <-e.dead:
		return
	}
	c := e.conn("control")
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			select {
			case <-e.dead:
				return
			default:
			}
			e.mu.Lock()
			e.controlClosed = true
			e.mu.Unlock()
			select {
			case sig <- 9:
			default:
			}
			return
		}
		var m struct {
			Command string `json:"command"`
			Signal  int    `json:"signal"`
		}
		if json.Unmarshal(msg, &m) != nil || m.Command != "signal" {
			continue
		}
		e.mu.Lock()
		e.signals = append(e.signals, m.Signal)
		e.mu.Unlock()
		select {
		case sig <- m.Signal:
		default:
		}
	}
}

func (e *fakeExec) command(stdin io.Reader, stdout, stderr io.Writer, sig <-chan int) int {
	switch e.Command[0] {
	case "true":
		return 0
	case "false":
		if len(e.Command) > 1 {
			fmt.Fprintln(stderr, strings.Join(e.Command[1:], " "))
		}
		return 1
	case "cat":
		_, _ = io.Copy(stdout, stdin)
		return 0
	case "big":
		b := bigOutput()
		for off := 0; off < len(b); off += 100000 {
			if _, err := stdout.Write(b[off:min(off+100000, len(b))]); err != nil {
				return 141
			}
		}
		_, _ = io.WriteString(stderr, bigStderr)
		return 0
	case "interleave":
		for _, p := range []struct {
			w io.Writer
			s string
		}{{stdout, "o1"}, {stderr, "e1"}, {stdout, "o2"}} {
			_, _ = io.WriteString(p.w, p.s)
			time.Sleep(interleavePause)
		}
		return 0
	case "sleep":
		for {
			select {
			case s := <-sig:
				e.f.mu.Lock()
				ignore := e.f.ignoreTERM
				e.f.mu.Unlock()
				if s == 15 && ignore {
					continue
				}
				return 128 + s
			case <-e.f.quit:
				return 137
			}
		}
	default:
		return 127
	}
}

// fakeStream writes a command's output as binary messages of at most 32 KiB,
// as incusd's copy from the command's pipe does.
type fakeStream struct {
	mu sync.Mutex
	c  *websocket.Conn
}

func (s *fakeStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(p) {
		end := min(n+32<<10, len(p))
		if err := s.c.WriteMessage(websocket.BinaryMessage, p[n:end]); err != nil {
			return n, err
		}
		n = end
	}
	return n, nil
}

// barrier ends the stream.
func (s *fakeStream) barrier() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.WriteMessage(websocket.TextMessage, []byte{})
}

func discardMessages(c *websocket.Conn) {
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

// nextExec waits for the next command the fake starts.
func (f *fakeIncus) nextExec(t *testing.T) *fakeExec {
	t.Helper()
	select {
	case e := <-f.execsCh:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("the fake started no command")
		return nil
	}
}

// ended waits for the command's operation to end and returns what the fake
// saw: the signals, whether the client closed the control socket while the
// command ran, and the exit code.
func (e *fakeExec) ended(t *testing.T) (signals []int, controlClosed bool, code int) {
	t.Helper()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%v did not end", e.Command)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.signals...), e.controlClosed, e.code
}
