package incus

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// profilesFake serves /1.0/profiles as incusd does: GET with the ETag of the
// profile's writable fields, POST creating (409 when it exists, 201 with a
// Location otherwise), PUT replacing after checking If-Match (412).
type profilesFake struct {
	mu       sync.Mutex
	profiles map[string]Profile
	// beforePut runs before each PUT is checked: another client's change.
	beforePut func(p *Profile)
}

func newProfilesFake(f *fakeIncus) *profilesFake {
	x := &profilesFake{profiles: map[string]Profile{}}
	f.handle("GET /1.0/profiles/{name}", x.get)
	f.handle("POST /1.0/profiles", x.post)
	f.handle("PUT /1.0/profiles/{name}", x.put)
	return x
}

func profileETag(p Profile) string {
	return etagOf([]any{p.Config, p.Description, p.Devices})
}

func (x *profilesFake) get(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	p, ok := x.profiles[r.PathValue("name")]
	x.mu.Unlock()
	if !ok {
		writeErrorJSON(w, http.StatusNotFound, "Profile not found")
		return
	}
	w.Header().Set("ETag", profileETag(p))
	writeSyncJSON(w, map[string]any{"name": p.Name, "description": p.Description, "config": p.Config, "devices": p.Devices, "used_by": []string{}, "project": "default"})
}

func (x *profilesFake) post(w http.ResponseWriter, r *http.Request) {
	var p Profile
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Name == "" {
		writeErrorJSON(w, http.StatusBadRequest, "No name provided")
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.profiles[p.Name]; ok {
		writeErrorJSON(w, http.StatusConflict, "Error inserting "+p.Name+" into database: The profile already exists")
		return
	}
	x.profiles[p.Name] = p
	w.Header().Set("Location", "/1.0/profiles/"+p.Name)
	writeJSONStatus(w, http.StatusCreated, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": nil})
}

func (x *profilesFake) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var p Profile
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		writeErrorJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cur, ok := x.profiles[name]
	if !ok {
		writeErrorJSON(w, http.StatusNotFound, "Profile not found")
		return
	}
	if x.beforePut != nil {
		x.beforePut(&cur)
		x.profiles[name] = cur
	}
	if m := r.Header.Get("If-Match"); m != "" && m != profileETag(cur) {
		writeErrorJSON(w, http.StatusPreconditionFailed, "ETag doesn't match")
		return
	}
	p.Name = name
	x.profiles[name] = p
	writeSyncJSON(w, nil)
}

func (x *profilesFake) profile(name string) (Profile, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.profiles[name]
	return p, ok
}

var wantProfile = Profile{
	Name:        "plex-kube",
	Description: "plex kube nodes",
	Config:      map[string]string{"security.nesting": "true", "limits.memory": "4GiB"},
	Devices:     map[string]map[string]string{"kmsg": {"type": "unix-char", "source": "/dev/kmsg", "path": "/dev/kmsg"}},
}

func TestEnsureProfileCreates(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newProfilesFake(f)
	ctx := testCtx(t)
	if err := s.EnsureProfile(ctx, wantProfile); err != nil {
		t.Fatalf("EnsureProfile: %v", err)
	}
	got, ok := x.profile("plex-kube")
	wantConfig := maps.Clone(wantProfile.Config)
	wantConfig[LabelManaged] = "true"
	if !ok || got.Description != wantProfile.Description || !reflect.DeepEqual(got.Config, wantConfig) || !reflect.DeepEqual(got.Devices, wantProfile.Devices) {
		t.Errorf("created %+v (found %v); want %+v with %s=true", got, ok, wantProfile, LabelManaged)
	}
	if _, has := wantProfile.Config[LabelManaged]; has {
		t.Error("EnsureProfile changed the caller's config map")
	}
	// Ensuring the same content again writes nothing.
	if err := s.EnsureProfile(ctx, wantProfile); err != nil {
		t.Fatalf("EnsureProfile again: %v", err)
	}
	if n, m := len(f.requests("POST", "/1.0/profiles")), len(f.requests("PUT", "/1.0/profiles/plex-kube")); n != 1 || m != 0 {
		t.Errorf("%d POSTs and %d PUTs; want one creation and no update", n, m)
	}
}

func TestEnsureProfileRefusesUnlabelled(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newProfilesFake(f)
	theirs := Profile{Name: "plex-kube", Description: "someone else's", Config: map[string]string{"limits.cpu": "1"}, Devices: map[string]map[string]string{}}
	x.mu.Lock()
	x.profiles["plex-kube"] = theirs
	x.mu.Unlock()
	err := s.EnsureProfile(testCtx(t), wantProfile)
	if err == nil || !strings.Contains(err.Error(), "plex did not create it") {
		t.Errorf("EnsureProfile over an unlabelled profile = %v; want a refusal", err)
	}
	if got, _ := x.profile("plex-kube"); !reflect.DeepEqual(got, theirs) {
		t.Errorf("the unlabelled profile changed: %+v", got)
	}
	if n := len(f.requests("PUT", "/1.0/profiles/plex-kube")) + len(f.requests("POST", "/1.0/profiles")); n != 0 {
		t.Errorf("%d writes to a profile plex does not own", n)
	}
}

func TestEnsureProfileUpdates(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newProfilesFake(f)
	old := Profile{Name: "plex-kube", Description: "old", Config: map[string]string{LabelManaged: "true", "limits.memory": "2GiB"}, Devices: map[string]map[string]string{}}
	x.mu.Lock()
	x.profiles["plex-kube"] = old
	x.mu.Unlock()
	if err := s.EnsureProfile(testCtx(t), wantProfile); err != nil {
		t.Fatalf("EnsureProfile: %v", err)
	}
	puts := f.requests("PUT", "/1.0/profiles/plex-kube")
	if len(puts) != 1 || puts[0].IfMatch != profileETag(old) {
		t.Errorf("PUTs %+v; want one with If-Match %s", puts, profileETag(old))
	}
	got, _ := x.profile("plex-kube")
	if got.Description != wantProfile.Description || got.Config["limits.memory"] != "4GiB" || got.Config[LabelManaged] != "true" || !reflect.DeepEqual(got.Devices, wantProfile.Devices) {
		t.Errorf("updated to %+v", got)
	}

	// A change made between the read and the write is not overwritten.
	x.mu.Lock()
	x.profiles["plex-kube"] = old
	x.beforePut = func(p *Profile) { p.Description = "changed meanwhile" }
	x.mu.Unlock()
	err := s.EnsureProfile(testCtx(t), wantProfile)
	if !rest.IsPreconditionFailed(err) || !strings.Contains(err.Error(), "changed while") {
		t.Errorf("EnsureProfile losing the race = %v; want the 412, explained", err)
	}
	if got, _ := x.profile("plex-kube"); got.Description != "changed meanwhile" {
		t.Errorf("the other client's change was overwritten: %+v", got)
	}
}
