package rest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
)

// dropMidBody answers with headers that promise more body than it sends,
// then closes the connection.
func dropMidBody(t *testing.T, w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
	buf.WriteString(`{"type":"sync","status":"Success","status_code":200,"metadata":{"na`)
	if err := buf.Flush(); err != nil {
		t.Errorf("flush: %v", err)
	}
}

// flaky drops the first answer mid-body and answers properly afterwards.
func flaky(t *testing.T, calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			dropMidBody(t, w)
			return
		}
		writeSync(w, map[string]any{"name": "n1"})
	}
}

func TestDroppedGetIsRetried(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		var calls atomic.Int32
		f.handle("GET /1.0/instances/n1", flaky(t, &calls))
		var out struct {
			Name string `json:"name"`
		}
		if _, err := c.Sync(context.Background(), Request{Method: http.MethodGet, Path: Path("instances", "n1")}, &out); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if out.Name != "n1" {
			t.Errorf("metadata = %+v", out)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("server saw %d GETs, want 2", n)
		}
	})
}

func TestDroppedStreamGetIsRetried(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		var calls atomic.Int32
		f.handle("GET /1.0/instances/n1/files", func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				// Dropped before any answer: the transport sees EOF.
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			w.Write([]byte("content"))
		})
		resp, err := c.Stream(context.Background(), Request{Method: http.MethodGet, Path: Path("instances", "n1", "files")})
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		resp.Body.Close()
		if n := calls.Load(); n != 2 {
			t.Errorf("server saw %d GETs, want 2", n)
		}
	})
}

func TestDroppedPostIsNotRetried(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		var calls atomic.Int32
		f.handle("POST /1.0/instances", flaky(t, &calls))
		_, err := c.Sync(context.Background(), createReq, nil)
		if err == nil {
			t.Fatal("Sync succeeded on a dropped POST")
		}
		if !Dropped(err) {
			t.Errorf("Dropped(%v) = false", err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("server saw %d POSTs, want exactly 1", n)
		}
		if n := f.count(http.MethodPost, "/1.0/instances"); n != 1 {
			t.Errorf("server recorded %d POSTs, want exactly 1", n)
		}
	})
}
