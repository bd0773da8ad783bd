package incus

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// lockProfilesFake serves the profile calls of lock.go as incusd 6.0.4
// answers them (checked on the harness): a duplicate create is a 500 (or a
// 409, when dupStatus says so), a PUT to a missing profile a 404, a stale
// If-Match a 412, and a PUT's answer carries no ETag.
type lockProfilesFake struct {
	mu        sync.Mutex
	profiles  map[string]Profile
	dupStatus int
	// failCreate, when set, fails every create with 500 and this text.
	failCreate string
}

func newLockProfilesFake(f *fakeIncus) *lockProfilesFake {
	x := &lockProfilesFake{profiles: map[string]Profile{}, dupStatus: http.StatusInternalServerError}
	f.handle("GET /1.0/profiles/{name}", x.get)
	f.handle("POST /1.0/profiles", x.post)
	f.handle("PUT /1.0/profiles/{name}", x.put)
	f.handle("DELETE /1.0/profiles/{name}", x.delete)
	return x
}

func (x *lockProfilesFake) get(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	p, ok := x.profiles[r.PathValue("name")]
	x.mu.Unlock()
	if !ok {
		writeErrorJSON(w, http.StatusNotFound, "Fetch profile: Profile not found")
		return
	}
	w.Header().Set("ETag", profileETag(p)) // quoted, as incusd sends it
	writeSyncJSON(w, map[string]any{"name": p.Name, "description": p.Description, "config": p.Config, "devices": p.Devices, "used_by": []string{}})
}

func (x *lockProfilesFake) post(w http.ResponseWriter, r *http.Request) {
	var p Profile
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Name == "" {
		writeErrorJSON(w, http.StatusBadRequest, "No name provided")
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failCreate != "" {
		writeErrorJSON(w, http.StatusInternalServerError, x.failCreate)
		return
	}
	if _, ok := x.profiles[p.Name]; ok {
		writeErrorJSON(w, x.dupStatus, "Error inserting \""+p.Name+"\" into database: The profile already exists")
		return
	}
	x.profiles[p.Name] = p
	w.Header().Set("Location", "/1.0/profiles/"+p.Name)
	writeJSONStatus(w, http.StatusCreated, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": nil})
}

func (x *lockProfilesFake) put(w http.ResponseWriter, r *http.Request) {
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
		writeErrorJSON(w, http.StatusNotFound, "Failed to retrieve profile \""+name+"\": Profile not found")
		return
	}
	// incusd compares If-Match without its quotes.
	if m := strings.Trim(r.Header.Get("If-Match"), `"`); m != "" && m != strings.Trim(profileETag(cur), `"`) {
		writeErrorJSON(w, http.StatusPreconditionFailed, "ETag doesn't match: "+strings.Trim(profileETag(cur), `"`)+" vs "+m)
		return
	}
	p.Name = name
	x.profiles[name] = p
	writeSyncJSON(w, nil)
}

func (x *lockProfilesFake) delete(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.profiles[r.PathValue("name")]; !ok {
		writeErrorJSON(w, http.StatusNotFound, "Profile not found")
		return
	}
	delete(x.profiles, r.PathValue("name"))
	writeSyncJSON(w, map[string]any{})
}

func TestLockCreateProfileExclusive(t *testing.T) {
	for _, dup := range []int{http.StatusInternalServerError, http.StatusConflict} {
		f := newFakeIncus(t)
		s := f.serveUnix()
		x := newLockProfilesFake(f)
		x.dupStatus = dup
		ctx := testCtx(t)
		p := Profile{Name: "plex-lock-plex-lab", Config: map[string]string{LabelManaged: "true", "user.plex.lock.holder": `{"id":"a"}`}}
		if err := s.CreateProfileExclusive(ctx, p); err != nil {
			t.Fatalf("CreateProfileExclusive: %v", err)
		}
		err := s.CreateProfileExclusive(ctx, Profile{Name: p.Name, Config: map[string]string{"user.plex.lock.holder": `{"id":"b"}`}})
		if !IsExists(err) {
			t.Errorf("a second create (duplicate answered %d) = %v; want IsExists", dup, err)
		}
		if got := x.profiles[p.Name].Config["user.plex.lock.holder"]; got != `{"id":"a"}` {
			t.Errorf("the second create changed the profile: holder %s", got)
		}
	}

	// A 500 that is not a duplicate stays what it was.
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newLockProfilesFake(f)
	x.failCreate = "Failed to begin transaction: database is locked"
	err := s.CreateProfileExclusive(testCtx(t), Profile{Name: "plex-lock-plex-lab"})
	if err == nil || IsExists(err) || rest.StatusOf(err) != http.StatusInternalServerError || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("a failed create = %v; want the server's 500, not IsExists", err)
	}
	if err := s.CreateProfileExclusive(testCtx(t), Profile{}); err == nil {
		t.Error("a create without a name: no error")
	}
}

func TestLockProfileETagAndUpdate(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	newLockProfilesFake(f)
	ctx := testCtx(t)
	name := "plex-lock-plex-lab"
	if _, _, err := s.GetProfileETag(ctx, name); !IsNotFound(err) {
		t.Errorf("GetProfileETag of a missing profile = %v; want IsNotFound", err)
	}
	if err := s.UpdateProfileIfMatch(ctx, Profile{Name: name}, `"x"`); !IsNotFound(err) {
		t.Errorf("UpdateProfileIfMatch of a missing profile = %v; want IsNotFound", err)
	}
	if err := s.CreateProfileExclusive(ctx, Profile{Name: name, Config: map[string]string{"user.plex.lock.beat": "0"}}); err != nil {
		t.Fatal(err)
	}
	p, etag, err := s.GetProfileETag(ctx, name)
	if err != nil || etag == "" || p.Name != name || p.Config["user.plex.lock.beat"] != "0" {
		t.Fatalf("GetProfileETag = %+v, %q, %v", p, etag, err)
	}
	p.Config["user.plex.lock.beat"] = "1"
	if err := s.UpdateProfileIfMatch(ctx, *p, etag); err != nil {
		t.Fatalf("UpdateProfileIfMatch with the ETag just read: %v", err)
	}
	puts := f.requests("PUT", "/1.0/profiles/"+name)
	if len(puts) != 2 || puts[1].IfMatch != etag {
		t.Errorf("PUTs %+v; want the last with If-Match %s", puts, etag)
	}
	_, etag2, _ := s.GetProfileETag(ctx, name)
	if etag2 == etag {
		t.Error("the ETag did not change with the content")
	}
	// The old ETag no longer matches.
	err = s.UpdateProfileIfMatch(ctx, *p, etag)
	if !IsChanged(err) || !rest.IsPreconditionFailed(err) || IsNotFound(err) {
		t.Errorf("UpdateProfileIfMatch with a stale ETag = %v; want IsChanged", err)
	}
	if err := s.UpdateProfileIfMatch(ctx, *p, ""); err == nil || len(f.requests("PUT", "/1.0/profiles/"+name)) != 3 {
		t.Errorf("UpdateProfileIfMatch without an ETag = %v; want a refusal, and no request", err)
	}
}
