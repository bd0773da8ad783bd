package rest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fake is a small Incus server: it answers in Incus's envelopes, keeps
// background operations, and records every request it sees. Tests add their
// own handlers with handle; the operation endpoints are built in.
type fake struct {
	t   *testing.T
	mux *http.ServeMux

	mu   sync.Mutex
	seen []seenRequest
	ops  map[string]*fakeOp
	next int
}

// seenRequest is one request as the server received it.
type seenRequest struct {
	Method  string
	Path    string // escaped, as on the wire
	Query   url.Values
	IfMatch string
}

// fakeOp is a background operation. It ends after TimeoutWaits waits have
// come back unfinished; until then GET and wait report it Running.
type fakeOp struct {
	ID       string
	Secret   string         // the websocket secret, in its metadata
	Metadata map[string]any // the result's metadata once it ends
	Err      string         // non-empty: the operation fails with this text
	// ErrCode is the error_code the wait body carries for a failure (real
	// incusd maps the operation's error: 500 usually, 404 for a not-found).
	ErrCode int
	// TimeoutWaits is how many waits end on the server's timeout first.
	TimeoutWaits int
	// TimeoutAsError answers a timed-out wait the way incusd does: HTTP 200
	// already written, then an error body. Otherwise the wait answers the
	// still-running operation.
	TimeoutAsError bool
	// Hold makes a wait write its 200 header at once and hold the body until
	// the client goes away, as incusd does while the operation runs.
	Hold bool
	// Gone makes the operation unknown: wait and GET answer 404.
	Gone bool

	waits     int
	cancelled bool
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, mux: http.NewServeMux(), ops: map[string]*fakeOp{}}
	f.mux.HandleFunc("GET /1.0/operations/{id}", f.opGet)
	f.mux.HandleFunc("GET /1.0/operations/{id}/wait", f.opWait)
	f.mux.HandleFunc("DELETE /1.0/operations/{id}", f.opDelete)
	f.mux.HandleFunc("GET /1.0/operations/{id}/websocket", f.opWebsocket)
	return f
}

// handle adds a handler for a ServeMux pattern ("POST /1.0/instances").
func (f *fake) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{
		Method:  r.Method,
		Path:    r.URL.EscapedPath(),
		Query:   r.URL.Query(),
		IfMatch: r.Header.Get("If-Match"),
	})
	f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// requests returns what the server has seen so far.
func (f *fake) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// count counts the requests with that method and escaped path.
func (f *fake) count(method, path string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// addOp registers an operation and returns its id.
func (f *fake) addOp(op *fakeOp) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op.ID == "" {
		f.next++
		op.ID = fmt.Sprintf("op-%d", f.next)
	}
	f.ops[op.ID] = op
	return op.ID
}

// startOp registers an operation and answers the request that started it
// with Incus's async envelope.
func (f *fake) startOp(w http.ResponseWriter, op *fakeOp) {
	id := f.addOp(op)
	f.mu.Lock()
	md := f.render(op, false)
	f.mu.Unlock()
	w.Header().Set("Location", "/1.0/operations/"+id)
	writeJSON(w, http.StatusAccepted, map[string]any{
		"type": "async", "status": "Operation created", "status_code": 100,
		"operation": "/1.0/operations/" + id, "metadata": md,
	})
}

// render is the operation as Incus describes it; ended says whether to show
// its final state. Callers hold f.mu.
func (f *fake) render(op *fakeOp, ended bool) map[string]any {
	o := map[string]any{
		"id": op.ID, "class": "task", "description": "fake", "status": "Running",
		"status_code": 103, "may_cancel": true, "err": "", "metadata": map[string]any{},
	}
	if op.Secret != "" {
		o["class"] = "websocket"
		o["metadata"] = map[string]any{"fds": map[string]any{"0": op.Secret}}
	}
	switch {
	case !ended:
	case op.cancelled:
		o["status"], o["status_code"], o["err"] = "Cancelled", 401, "cancelled"
	case op.Err != "":
		o["status"], o["status_code"], o["err"] = "Failure", 400, op.Err
	default:
		o["status"], o["status_code"], o["metadata"] = "Success", 200, op.Metadata
	}
	return o
}

func (f *fake) lookup(r *http.Request) *fakeOp {
	op := f.ops[r.PathValue("id")]
	if op == nil || op.Gone {
		return nil
	}
	return op
}

func (f *fake) opGet(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := f.lookup(r)
	if op == nil {
		writeError(w, http.StatusNotFound, "Operation not found")
		return
	}
	writeSync(w, f.render(op, op.cancelled || op.waits > op.TimeoutWaits))
}

func (f *fake) opWait(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	op := f.lookup(r)
	if op == nil {
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, "Operation not found")
		return
	}
	if op.Hold {
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	op.waits++
	timedOut := op.waits <= op.TimeoutWaits
	body := f.render(op, !timedOut)
	f.mu.Unlock()

	switch {
	case timedOut && op.TimeoutAsError:
		writeJSON(w, http.StatusOK, map[string]any{"type": "error", "error": "context deadline exceeded", "error_code": 500})
	case timedOut:
		writeSync(w, body)
	case op.Err != "":
		// incusd renders the operation's error after its 200 header.
		code := op.ErrCode
		if code == 0 {
			code = http.StatusInternalServerError
		}
		writeJSON(w, http.StatusOK, map[string]any{"type": "error", "error": op.Err, "error_code": code})
	default:
		writeSync(w, body)
	}
}

func (f *fake) opDelete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := f.lookup(r)
	if op == nil {
		writeError(w, http.StatusNotFound, "Operation not found")
		return
	}
	op.cancelled = true
	writeSync(w, nil)
}

// opWebsocket serves an operation's websocket to a client that brings its
// secret, and echoes what it receives.
func (f *fake) opWebsocket(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	op := f.lookup(r)
	f.mu.Unlock()
	if op == nil {
		writeError(w, http.StatusNotFound, "Operation not found")
		return
	}
	if op.Secret == "" || r.URL.Query().Get("secret") != op.Secret {
		writeError(w, http.StatusForbidden, "not authorized")
		return
	}
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(kind, msg); err != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSync(w http.ResponseWriter, md any) {
	writeJSON(w, http.StatusOK, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": md})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"type": "error", "error": msg, "error_code": status})
}

// fastClient shortens the client's waits and pauses for tests.
func fastClient(t *testing.T, ep Endpoint) *Client {
	t.Helper()
	c, err := New(ep)
	if err != nil {
		t.Fatalf("New(%+v): %v", ep, err)
	}
	c.waitTimeout = time.Second
	c.backoff = 5 * time.Millisecond
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

// serveTLS serves f over HTTPS on TCP and returns a client that pins the
// test server's certificate.
func (f *fake) serveTLS() *Client {
	srv := httptest.NewTLSServer(f)
	f.t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return fastClient(f.t, Endpoint{URL: srv.URL, TLS: &tls.Config{RootCAs: pool}})
}

// serveUnix serves f on a unix socket and returns a client for it.
func (f *fake) serveUnix() *Client {
	// A short directory: a socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "rest")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		f.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	f.t.Cleanup(srv.Close)
	return fastClient(f.t, Endpoint{SocketPath: sock})
}

// bothTransports runs fn against a fresh fake server over HTTPS and over a
// unix socket.
func bothTransports(t *testing.T, fn func(t *testing.T, f *fake, c *Client)) {
	t.Run("https", func(t *testing.T) {
		f := newFake(t)
		fn(t, f, f.serveTLS())
	})
	t.Run("unix", func(t *testing.T) {
		f := newFake(t)
		fn(t, f, f.serveUnix())
	})
}
