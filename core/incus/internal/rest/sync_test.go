package rest

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

type testInstance struct {
	Name   string            `json:"name"`
	Status string            `json:"status"`
	Config map[string]string `json:"config"`
}

func TestSyncDecodesMetadataAndETag(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		f.handle("GET /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"etag-`+r.PathValue("name")+`"`)
			writeSync(w, map[string]any{"name": r.PathValue("name"), "status": "Running", "config": map[string]string{"user.k": "v"}})
		})
		var got testInstance
		etag, err := c.WithProject("p1").Sync(context.Background(), Request{
			Method: http.MethodGet, Path: Path("instances", "n1"), Target: "member2",
		}, &got)
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if got.Name != "n1" || got.Status != "Running" || got.Config["user.k"] != "v" {
			t.Errorf("decoded %+v", got)
		}
		if etag != `"etag-n1"` {
			t.Errorf("etag = %q, want %q", etag, `"etag-n1"`)
		}
		reqs := f.requests()
		if len(reqs) != 1 {
			t.Fatalf("server saw %d requests, want 1: %+v", len(reqs), reqs)
		}
		if q := reqs[0].Query; q.Get("project") != "p1" || q.Get("target") != "member2" {
			t.Errorf("query = %v, want project=p1 and target=member2", q)
		}
	})
}

func TestNoProjectOrTargetUnlessSet(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		f.handle("GET /1.0/instances", func(w http.ResponseWriter, r *http.Request) { writeSync(w, []string{}) })
		if _, err := c.Sync(context.Background(), Request{Method: http.MethodGet, Path: Path("instances")}, nil); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		q := f.requests()[0].Query
		if q.Has("project") || q.Has("target") {
			t.Errorf("query = %v, want neither project nor target", q)
		}
	})
}

// TestProjectOnEveryCall drives a sync call, an operation that needs more
// than one wait, a websocket dial and a cancel, and checks that each request
// the server saw carried the project.
func TestProjectOnEveryCall(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		c = c.WithProject("p1")
		ctx := context.Background()
		f.handle("GET /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) { writeSync(w, map[string]any{}) })
		f.handle("POST /1.0/instances/{name}/exec", func(w http.ResponseWriter, r *http.Request) {
			f.startOp(w, &fakeOp{Secret: "s3cret", TimeoutWaits: 1})
		})
		if _, err := c.Sync(ctx, Request{Method: http.MethodGet, Path: Path("instances", "n1")}, nil); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		op, err := c.Async(ctx, Request{Method: http.MethodPost, Path: Path("instances", "n1", "exec"), Body: map[string]any{}, Target: "m1"})
		if err != nil {
			t.Fatalf("Async: %v", err)
		}
		ws, err := c.Websocket(ctx, op.ID, "s3cret")
		if err != nil {
			t.Fatalf("Websocket: %v", err)
		}
		ws.Close()
		if _, err := c.Wait(ctx, op); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		c.Cancel(op)

		seen := map[string]bool{}
		for _, r := range f.requests() {
			kind := r.Method + " " + r.Path[strings.LastIndex(r.Path, "/")+1:]
			seen[kind] = true
			if r.Query.Get("project") != "p1" {
				t.Errorf("%s %s?%s: no project=p1", r.Method, r.Path, r.Query.Encode())
			}
			if want := r.Method == http.MethodPost; r.Query.Has("target") != want {
				t.Errorf("%s %s?%s: target present = %v, want %v", r.Method, r.Path, r.Query.Encode(), !want, want)
			}
		}
		for _, k := range []string{"GET n1", "POST exec", "GET websocket", "GET wait", "GET " + op.ID, "DELETE " + op.ID} {
			if !seen[k] {
				t.Errorf("the server never saw %q; saw %v", k, seen)
			}
		}
	})
}
