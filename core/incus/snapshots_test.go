package incus

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

// snapshotFake serves an instance's snapshots as incusd does: a POST makes
// one in a background operation, a name taken is refused, a restore is a
// PUT of the instance naming the snapshot, and a missing one is 404.
type snapshotFake struct {
	f        *fakeIncus
	mu       sync.Mutex
	snaps    map[string]time.Time
	restored []string
}

func newSnapshotFake(f *fakeIncus) *snapshotFake {
	x := &snapshotFake{f: f, snaps: map[string]time.Time{}}
	f.handle("POST /1.0/instances/{name}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name     string `json:"name"`
			Stateful bool   `json:"stateful"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Stateful {
			writeErrorJSON(w, http.StatusBadRequest, "want a stateless snapshot")
			return
		}
		x.mu.Lock()
		_, taken := x.snaps[req.Name]
		if !taken {
			x.snaps[req.Name] = time.Now()
		}
		x.mu.Unlock()
		op := f.newOp("task", nil, nil, nil)
		if taken {
			f.finish(op, nil, "Snapshot '"+req.Name+"' already in use")
		} else {
			f.finish(op, nil, "")
		}
		f.respondOp(w, op)
	})
	f.handle("GET /1.0/instances/{name}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		defer x.mu.Unlock()
		var out []map[string]any
		for n, at := range x.snaps {
			// incusd 5 and older named them "instance/snapshot".
			out = append(out, map[string]any{"name": r.PathValue("name") + "/" + n, "created_at": at, "stateful": false,
				"config": map[string]string{LabelManaged: "true"}})
		}
		writeSyncJSON(w, out)
	})
	f.handle("DELETE /1.0/instances/{name}/snapshots/{snap}", func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		_, ok := x.snaps[r.PathValue("snap")]
		delete(x.snaps, r.PathValue("snap"))
		x.mu.Unlock()
		if !ok {
			writeErrorJSON(w, http.StatusNotFound, "Snapshot not found")
			return
		}
		op := f.newOp("task", nil, nil, nil)
		f.finish(op, nil, "")
		f.respondOp(w, op)
	})
	f.handle("PUT /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Restore string `json:"restore"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		x.mu.Lock()
		_, ok := x.snaps[req.Restore]
		if ok {
			x.restored = append(x.restored, req.Restore)
		}
		x.mu.Unlock()
		if !ok {
			writeErrorJSON(w, http.StatusNotFound, "Snapshot not found")
			return
		}
		op := f.newOp("task", nil, nil, nil)
		f.finish(op, nil, "")
		f.respondOp(w, op)
	})
	return x
}

func TestSnapshots(t *testing.T) {
	overBoth(t, func(t *testing.T, f *fakeIncus, s *Server) {
		x := newSnapshotFake(f)
		ctx := context.Background()
		for _, n := range []string{"a", "b"} {
			if err := s.CreateSnapshot(ctx, "c1", n); err != nil {
				t.Fatalf("CreateSnapshot %s: %v", n, err)
			}
		}
		if err := s.CreateSnapshot(ctx, "c1", "a"); err == nil {
			t.Error("CreateSnapshot of a name taken: no error")
		}
		list, err := s.ListSnapshots(ctx, "c1")
		if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" || !IsManaged(list[0].Config) {
			t.Fatalf("ListSnapshots: %+v, %v; want a then b, without the instance's name", list, err)
		}
		if err := s.RestoreSnapshot(ctx, "c1", "a"); err != nil {
			t.Fatalf("RestoreSnapshot: %v", err)
		}
		if err := s.RestoreSnapshot(ctx, "c1", "nope"); !IsNotFound(err) {
			t.Errorf("RestoreSnapshot of a missing snapshot: %v, want not found", err)
		}
		if len(x.restored) != 1 {
			t.Errorf("restored %v, want [a]", x.restored)
		}
		for i := 0; i < 2; i++ {
			if err := s.DeleteSnapshot(ctx, "c1", "a"); err != nil {
				t.Errorf("DeleteSnapshot #%d: %v", i, err)
			}
		}
		if got := f.requests(http.MethodDelete, "/1.0/instances/c1/snapshots/a"); len(got) != 2 {
			t.Errorf("DELETE requests: %d, want 2", len(got))
		}
	})
}
