package incus

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// instanceConfigFake serves GET and PUT /1.0/instances/c1 as incusd does: the
// GET carries the ETag of the writable fields, a PUT whose If-Match is not
// that ETag fails with 412 before any operation starts, and a PUT that
// passes replaces the writable fields in a background operation.
type instanceConfigFake struct {
	f  *fakeIncus
	mu sync.Mutex
	in instancePut
	// racers are changes another client makes just before plex's next PUTs
	// arrive, one per PUT.
	racers []func(*instancePut)
	// alwaysRace makes every PUT lose the race.
	alwaysRace bool
}

func newInstanceConfigFake(f *fakeIncus, in instancePut) *instanceConfigFake {
	x := &instanceConfigFake{f: f, in: in}
	f.handle("GET /1.0/instances/{name}", x.get)
	f.handle("PUT /1.0/instances/{name}", x.put)
	return x
}

func (x *instanceConfigFake) get(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("name") != "c1" {
		writeErrorJSON(w, http.StatusNotFound, "Instance not found")
		return
	}
	x.mu.Lock()
	in := x.in
	etag := etagOf(in)
	x.mu.Unlock()
	w.Header().Set("ETag", etag)
	writeSyncJSON(w, map[string]any{
		"name": "c1", "status": "Running", "status_code": 103, "type": "container",
		"architecture": in.Architecture, "config": in.Config, "devices": in.Devices,
		"ephemeral": in.Ephemeral, "profiles": in.Profiles, "stateful": in.Stateful, "description": in.Description,
		"expanded_config": map[string]string{"security.nesting": "true"},
	})
}

func (x *instanceConfigFake) put(w http.ResponseWriter, r *http.Request) {
	var req instancePut
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrorJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	x.mu.Lock()
	if x.alwaysRace {
		x.in.Config = maps.Clone(x.in.Config)
		x.in.Config["user.counter"] += "+"
	} else if len(x.racers) > 0 {
		x.racers[0](&x.in)
		x.racers = x.racers[1:]
	}
	etag := etagOf(x.in)
	if m := r.Header.Get("If-Match"); m != "" && m != etag {
		x.mu.Unlock()
		writeErrorJSON(w, http.StatusPreconditionFailed, "ETag doesn't match: "+etag+" vs "+m)
		return
	}
	x.in = req
	x.mu.Unlock()
	op := x.f.newOp("task", nil, nil, nil)
	x.f.finish(op, nil, "")
	x.f.respondOp(w, op)
}

func (x *instanceConfigFake) current() instancePut {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.in
}

func startingInstance() instancePut {
	return instancePut{
		Architecture: "x86_64",
		Config:       map[string]string{"user.keep": "1", "user.drop": "x", "limits.cpu": "2", "volatile.base_image": "abc"},
		Devices:      map[string]map[string]string{"eth0": {"type": "nic", "network": "incusbr0", "ipv4.address": "10.0.0.5"}},
		Profiles:     []string{"default", "plex"},
		Description:  "a node",
	}
}

func TestSetInstanceConfigRetriesOn412(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	start := startingInstance()
	x := newInstanceConfigFake(f, start)
	etag0 := etagOf(start)
	// Another client adds a key between plex's read and its write.
	x.racers = []func(*instancePut){func(in *instancePut) {
		in.Config = maps.Clone(in.Config)
		in.Config["user.other"] = "y"
	}}

	if err := s.SetInstanceConfig(testCtx(t), "c1", map[string]string{"user.plex.role": "worker", "user.drop": ""}); err != nil {
		t.Fatalf("SetInstanceConfig: %v", err)
	}
	puts := f.requests("PUT", "/1.0/instances/c1")
	if len(puts) != 2 || len(f.requests("GET", "/1.0/instances/c1")) != 2 {
		t.Fatalf("%d PUTs and %d GETs; want the read-modify-write twice", len(puts), len(f.requests("GET", "/1.0/instances/c1")))
	}
	if puts[0].IfMatch != etag0 {
		t.Errorf("the first PUT has If-Match %q, want the ETag of the read %q", puts[0].IfMatch, etag0)
	}
	if puts[1].IfMatch == "" || puts[1].IfMatch == etag0 {
		t.Errorf("the retry has If-Match %q; want the ETag of a fresh read", puts[1].IfMatch)
	}
	got := x.current()
	want := map[string]string{"user.keep": "1", "limits.cpu": "2", "volatile.base_image": "abc", "user.other": "y", "user.plex.role": "worker"}
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("config = %v, want %v (the key set, the emptied key gone, every other key kept)", got.Config, want)
	}
	if !reflect.DeepEqual(got.Devices, start.Devices) || !reflect.DeepEqual(got.Profiles, start.Profiles) ||
		got.Description != start.Description || got.Architecture != start.Architecture {
		t.Errorf("the PUT changed more than the config: %+v", got)
	}
}

func TestSetInstanceConfigGivesUp(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newInstanceConfigFake(f, startingInstance())
	x.alwaysRace = true
	err := s.SetInstanceConfig(testCtx(t), "c1", map[string]string{"user.plex.role": "worker"})
	if !rest.IsPreconditionFailed(err) {
		t.Errorf("SetInstanceConfig losing every race = %v; want the 412", err)
	}
	if n := len(f.requests("PUT", "/1.0/instances/c1")); n != 4 {
		t.Errorf("%d PUTs, want 4 (three retries)", n)
	}
}

func TestSetInstanceConfigUnchanged(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	newInstanceConfigFake(f, startingInstance())
	if err := s.SetInstanceConfig(testCtx(t), "c1", map[string]string{"user.keep": "1", "user.absent": ""}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("PUT", "/1.0/instances/c1")); n != 0 {
		t.Errorf("%d PUTs for a config that already holds the values", n)
	}
}
