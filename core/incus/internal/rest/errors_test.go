package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestErrorAnswers(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		f.handle("GET /1.0/instances/missing", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "Instance not found")
		})
		f.handle("GET /1.0/projects/secret", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusForbidden, "not authorized")
		})
		// A proxy's plain-text answer, not an envelope: the status still counts.
		f.handle("GET /1.0/plain", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such thing", http.StatusNotFound)
		})
		// JSON that is no envelope, with an error status.
		f.handle("GET /1.0/gateway", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadGateway, map[string]any{"message": "upstream down"})
		})
		ctx := context.Background()

		_, err := c.Sync(ctx, Request{Method: http.MethodGet, Path: Path("instances", "missing")}, nil)
		if !IsNotFound(err) || IsForbidden(err) || IsPreconditionFailed(err) {
			t.Errorf("404: IsNotFound=%v IsForbidden=%v IsPreconditionFailed=%v (%v)", IsNotFound(err), IsForbidden(err), IsPreconditionFailed(err), err)
		}
		var e *Error
		if !errors.As(fmt.Errorf("wrapped: %w", err), &e) {
			t.Fatalf("errors.As(*Error) failed on %T %v", err, err)
		}
		if e.Status != 404 || e.Message != "Instance not found" || e.Method != "GET" || e.Path != "/1.0/instances/missing" {
			t.Errorf("error = %+v", *e)
		}

		_, err = c.Sync(ctx, Request{Method: http.MethodGet, Path: Path("projects", "secret")}, nil)
		if !IsForbidden(err) || IsNotFound(err) || StatusOf(err) != 403 {
			t.Errorf("403: IsForbidden=%v StatusOf=%d (%v)", IsForbidden(err), StatusOf(err), err)
		}

		_, err = c.Sync(ctx, Request{Method: http.MethodGet, Path: "/1.0/plain"}, nil)
		if !IsNotFound(err) {
			t.Errorf("plain 404: IsNotFound=false (%v)", err)
		}

		_, err = c.Sync(ctx, Request{Method: http.MethodGet, Path: "/1.0/gateway"}, nil)
		if StatusOf(err) != http.StatusBadGateway {
			t.Errorf("JSON 502: StatusOf = %d (%v), want 502", StatusOf(err), err)
		}
	})
}

func TestPutWithETag(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		const current = `"v2"`
		f.handle("PUT /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
			if m := r.Header.Get("If-Match"); m != "" && m != current {
				writeError(w, http.StatusPreconditionFailed, "ETag doesn't match: "+current+" vs "+m)
				return
			}
			writeSync(w, nil)
		})
		put := Request{Method: http.MethodPut, Path: Path("instances", "n1"), Body: map[string]any{"config": map[string]string{}}}

		put.ETag = `"v1"`
		_, err := c.Sync(context.Background(), put, nil)
		if !IsPreconditionFailed(err) {
			t.Fatalf("stale ETag: err = %v, want 412", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusPreconditionFailed || e.Method != http.MethodPut {
			t.Errorf("error = %#v", err)
		}

		put.ETag = current
		if _, err := c.Sync(context.Background(), put, nil); err != nil {
			t.Fatalf("current ETag: %v", err)
		}

		reqs := f.requests()
		if len(reqs) != 2 || reqs[0].IfMatch != `"v1"` || reqs[1].IfMatch != current {
			t.Errorf("server saw %+v, want two PUTs with If-Match \"v1\" then %s", reqs, current)
		}
	})
}
