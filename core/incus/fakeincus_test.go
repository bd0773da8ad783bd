package incus

// fakeIncus is a small Incus server for the unit tests of this package. It
// answers in incusd's envelopes (sync, async, error), keeps background
// operations (fakeops_test.go) and records every request. The exec and file
// endpoints live in fakeexec_test.go and fakefiles_test.go; other tests add
// their own handlers with handle.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

type fakeIncus struct {
	t   *testing.T
	mux *http.ServeMux
	// quit ends every handler and fake command still running when the test
	// ends, so that closing the HTTP server does not wait for them.
	quit chan struct{}

	mu   sync.Mutex
	reqs []fakeRequest
	ops  map[string]*fakeOp

	// Exec (fakeexec_test.go).
	execs      []*fakeExec
	execsCh    chan *fakeExec
	ignoreTERM bool
	// refuseWebsockets answers that many websocket connections 503, as a
	// daemon too busy to take them would fail them.
	refuseWebsockets int

	// Files (fakefiles_test.go).
	fs        map[string]map[string]*fakeNode // instance → clean path → node
	filePosts []fakeFilePost
	// failFilePost, when set, makes the next file POST read that many bytes
	// of the body and then fail as forkfile does under load.
	failFilePost int
}

// fakeRequest is one request as the server received it.
type fakeRequest struct {
	Method, Path string // the path escaped, as on the wire
	Query        url.Values
	IfMatch      string
}

func newFakeIncus(t *testing.T) *fakeIncus {
	f := &fakeIncus{
		t:       t,
		mux:     http.NewServeMux(),
		quit:    make(chan struct{}),
		ops:     map[string]*fakeOp{},
		execsCh: make(chan *fakeExec, 16),
		fs:      map[string]map[string]*fakeNode{},
	}
	f.mux.HandleFunc("GET /1.0", f.serverGet)
	f.mux.HandleFunc("GET /1.0/operations/{id}", f.opGet)
	f.mux.HandleFunc("DELETE /1.0/operations/{id}", f.opDelete)
	f.mux.HandleFunc("GET /1.0/operations/{id}/wait", f.opWait)
	f.mux.HandleFunc("GET /1.0/operations/{id}/websocket", f.opWebsocket)
	f.mux.HandleFunc("POST /1.0/instances/{name}/exec", f.execPost)
	f.mux.HandleFunc("GET /1.0/instances/{name}/files", f.fileGet)
	f.mux.HandleFunc("POST /1.0/instances/{name}/files", f.filePost)
	f.addInstance("c1")
	return f
}

// handle adds a handler for a ServeMux pattern ("PUT /1.0/profiles/{name}").
func (f *fakeIncus) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fakeIncus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeRequest{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), IfMatch: r.Header.Get("If-Match")})
	f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// requests returns the requests with that method and escaped path.
func (f *fakeIncus) requests(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// serveUnix serves the fake on a unix socket and returns a Server for it.
func (f *fakeIncus) serveUnix() *Server {
	// A short directory: a socket's path is limited to about 108 bytes.
	dir, err := os.MkdirTemp("", "pi")
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
	f.closeWith(srv)
	return f.server(rest.Endpoint{SocketPath: sock})
}

// serveTLS serves the fake over HTTPS and returns a Server that trusts the
// test server's certificate.
func (f *fakeIncus) serveTLS() *Server {
	srv := httptest.NewTLSServer(f)
	f.closeWith(srv)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return f.server(rest.Endpoint{URL: srv.URL, TLS: &tls.Config{RootCAs: pool}})
}

func (f *fakeIncus) closeWith(srv *httptest.Server) {
	// Cleanups run last-in first-out: quit first, so that no handler holds
	// the server open.
	f.t.Cleanup(srv.Close)
	f.t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		select {
		case <-f.quit:
		default:
			close(f.quit)
		}
	})
}

func (f *fakeIncus) server(ep rest.Endpoint) *Server {
	c, err := rest.New(ep)
	if err != nil {
		f.t.Fatalf("rest.New(%+v): %v", ep, err)
	}
	return &Server{Remote: "test", Project: "default", c: c.WithProject("default")}
}

// overBoth runs fn against a fresh fake served on a unix socket and over
// HTTPS.
func overBoth(t *testing.T, fn func(t *testing.T, f *fakeIncus, s *Server)) {
	t.Run("unix", func(t *testing.T) {
		f := newFakeIncus(t)
		fn(t, f, f.serveUnix())
	})
	t.Run("tls", func(t *testing.T) {
		f := newFakeIncus(t)
		fn(t, f, f.serveTLS())
	})
}

// serverGet is GET /1.0 of a standalone x86_64 server that trusts plex.
func (f *fakeIncus) serverGet(w http.ResponseWriter, r *http.Request) {
	writeSyncJSON(w, map[string]any{
		"api_version": "1.0",
		"auth":        "trusted",
		"environment": map[string]any{
			"architectures":    []string{"x86_64", "i686"},
			"server_clustered": false,
			"server_name":      "fake",
			"server_version":   "6.0.4",
		},
	})
}

// addInstance makes a running instance with an empty root filesystem.
func (f *fakeIncus) addInstance(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fs[name] = map[string]*fakeNode{"/": {Dir: true, Mode: 0o755}}
}

func (f *fakeIncus) hasInstance(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fs[name] != nil
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSyncJSON(w http.ResponseWriter, md any) {
	writeJSONStatus(w, http.StatusOK, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": md})
}

func writeErrorJSON(w http.ResponseWriter, status int, msg string) {
	writeJSONStatus(w, status, map[string]any{"type": "error", "error": msg, "error_code": status})
}

// etagOf is an ETag as incusd makes it: a hash of the object's writable
// fields, quoted.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%q", fmt.Sprintf("%x", sha256.Sum256(b)))
}
