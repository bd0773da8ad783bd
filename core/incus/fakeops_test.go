package incus

// The fake's background operations behave like incusd v6.0.4's: GET shows
// one, DELETE cancels it, /wait holds the request (its 200 header already
// flushed) until the operation ends or ?timeout= runs out, and /websocket
// connects one of a websocket operation's sockets, named by its secret.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// fakeOp is a background operation.
type fakeOp struct {
	ID    string
	Class string // task, websocket
	// Metadata is what GET shows; finish merges the result into it.
	Metadata map[string]any
	// Sockets maps a websocket's name ("0", "control") to its secret.
	Sockets map[string]string
	attach  func(fd string, c *websocket.Conn)

	status    string
	code      int
	err       string
	connected map[string]bool
	done      chan struct{}
}

// newOp registers a running operation; a websocket one has sockets (name to
// secret) and attach, which receives each connection once it is upgraded.
func (f *fakeIncus) newOp(class string, md map[string]any, sockets map[string]string, attach func(fd string, c *websocket.Conn)) *fakeOp {
	op := &fakeOp{ID: randomSecret()[:16], Class: class, Metadata: md, Sockets: sockets, attach: attach,
		status: "Running", code: 103, connected: map[string]bool{}, done: make(chan struct{})}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	f.mu.Lock()
	f.ops[op.ID] = op
	f.mu.Unlock()
	return op
}

// finish ends an operation: with md merged into its metadata, or failed
// with errText.
func (f *fakeIncus) finish(op *fakeOp, md map[string]any, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op.code >= 200 {
		return
	}
	for k, v := range md {
		op.Metadata[k] = v
	}
	if errText != "" {
		op.status, op.code, op.err = "Failure", 400, errText
	} else {
		op.status, op.code = "Success", 200
	}
	close(op.done)
}

// render is the operation as incusd describes it; callers hold f.mu.
func (op *fakeOp) render() map[string]any {
	md := map[string]any{}
	for k, v := range op.Metadata {
		md[k] = v
	}
	return map[string]any{
		"id": op.ID, "class": op.Class, "description": "fake operation",
		"created_at": time.Now().UTC(), "updated_at": time.Now().UTC(),
		"status": op.status, "status_code": op.code, "resources": map[string]any{},
		"metadata": md, "may_cancel": op.Class == "websocket", "err": op.err, "location": "none",
	}
}

// respondOp answers the request that started op with the async envelope.
func (f *fakeIncus) respondOp(w http.ResponseWriter, op *fakeOp) {
	f.mu.Lock()
	body := op.render()
	f.mu.Unlock()
	w.Header().Set("Location", "/1.0/operations/"+op.ID)
	writeJSONStatus(w, http.StatusAccepted, map[string]any{
		"type": "async", "status": "Operation created", "status_code": 100,
		"operation": "/1.0/operations/" + op.ID, "metadata": body,
	})
}

func (f *fakeIncus) lookupOp(r *http.Request) *fakeOp {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[r.PathValue("id")]
}

func (f *fakeIncus) opGet(w http.ResponseWriter, r *http.Request) {
	op := f.lookupOp(r)
	if op == nil {
		writeErrorJSON(w, http.StatusNotFound, "Operation not found")
		return
	}
	f.mu.Lock()
	body := op.render()
	f.mu.Unlock()
	writeSyncJSON(w, body)
}

func (f *fakeIncus) opDelete(w http.ResponseWriter, r *http.Request) {
	op := f.lookupOp(r)
	if op == nil {
		writeErrorJSON(w, http.StatusNotFound, "Operation not found")
		return
	}
	f.mu.Lock()
	if op.code < 200 {
		op.status, op.code, op.err = "Cancelled", 401, "Operation canceled"
		close(op.done)
	}
	f.mu.Unlock()
	writeSyncJSON(w, nil)
}

// opWait holds the request, its 200 header already flushed, until the
// operation ends or ?timeout= runs out, as incusd does; a failure or a
// timeout is an error envelope after that 200.
func (f *fakeIncus) opWait(w http.ResponseWriter, r *http.Request) {
	op := f.lookupOp(r)
	if op == nil {
		writeErrorJSON(w, http.StatusNotFound, "Operation not found")
		return
	}
	var timeout <-chan time.Time
	if s := r.URL.Query().Get("timeout"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil {
			writeErrorJSON(w, http.StatusInternalServerError, err.Error())
			return
		}
		if secs > -1 {
			timeout = time.After(time.Duration(secs) * time.Second)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	select {
	case <-op.done:
	case <-timeout:
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": "context deadline exceeded", "error_code": 500})
		return
	case <-r.Context().Done():
		return
	case <-f.quit:
		return
	}
	f.mu.Lock()
	body, errText := op.render(), op.err
	f.mu.Unlock()
	if errText != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": errText, "error_code": 500})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": body})
}

// opWebsocket connects one of an operation's websockets: the secret names
// which, each connects once, and only while the operation runs.
func (f *fakeIncus) opWebsocket(w http.ResponseWriter, r *http.Request) {
	op := f.lookupOp(r)
	if op == nil {
		writeErrorJSON(w, http.StatusNotFound, "Operation not found")
		return
	}
	secret := r.URL.Query().Get("secret")
	f.mu.Lock()
	if f.refuseWebsockets > 0 {
		f.refuseWebsockets--
		f.mu.Unlock()
		writeErrorJSON(w, http.StatusServiceUnavailable, "too busy")
		return
	}
	fd := ""
	for name, s := range op.Sockets {
		if s == secret && secret != "" {
			fd = name
		}
	}
	var problem string
	status := http.StatusBadRequest
	switch {
	case op.Class != "websocket":
		problem = "Only websocket operations can be connected"
	case op.code != 103:
		problem = "Only running operations can be connected"
	case fd == "":
		problem, status = "not authorized", http.StatusForbidden
	case op.connected[fd]:
		problem = "Websocket number already connected"
	default:
		op.connected[fd] = true
	}
	f.mu.Unlock()
	if problem != "" {
		writeErrorJSON(w, status, problem)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, HandshakeTimeout: 5 * time.Second}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	op.attach(fd, conn)
}
