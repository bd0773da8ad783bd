package incus

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// imagesFake serves image publishing and aliases as incusd does: POST
// /1.0/images from an instance is a background operation whose metadata
// gets the new image's fingerprint and size when it ends; aliases are
// created with POST (409 when taken, 201), moved with PUT, and both need
// the target image to exist.
type imagesFake struct {
	f       *fakeIncus
	mu      sync.Mutex
	images  map[string]bool
	aliases map[string]aliasJSON
	posts   []imagesPost
}

func newImagesFake(f *fakeIncus, fingerprints ...string) *imagesFake {
	x := &imagesFake{f: f, images: map[string]bool{}, aliases: map[string]aliasJSON{}}
	for _, fp := range fingerprints {
		x.images[fp] = true
	}
	f.handle("POST /1.0/images", x.publish)
	f.handle("GET /1.0/images/aliases/{name...}", x.aliasGet)
	f.handle("POST /1.0/images/aliases", x.aliasPost)
	f.handle("PUT /1.0/images/aliases/{name...}", x.aliasPut)
	return x
}

func (x *imagesFake) publish(w http.ResponseWriter, r *http.Request) {
	var req imagesPost
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrorJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	x.mu.Lock()
	x.posts = append(x.posts, req)
	fp := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(req.Source, len(x.posts)))))
	x.mu.Unlock()
	op := x.f.newOp("task", nil, nil, nil)
	go func() {
		// The tarball takes a while.
		time.Sleep(50 * time.Millisecond)
		name := req.Source["name"]
		if req.Source["type"] != "instance" || !x.f.hasInstance(name) {
			x.f.finish(op, nil, "Instance not found")
			return
		}
		x.mu.Lock()
		x.images[fp] = true
		x.mu.Unlock()
		x.f.finish(op, map[string]any{"fingerprint": fp, "size": "123456"}, "")
	}()
	x.f.respondOp(w, op)
}

func (x *imagesFake) aliasGet(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	a, ok := x.aliases[r.PathValue("name")]
	x.mu.Unlock()
	if !ok {
		writeErrorJSON(w, http.StatusNotFound, "Image alias not found")
		return
	}
	w.Header().Set("ETag", etagOf(a))
	writeSyncJSON(w, a)
}

func (x *imagesFake) aliasPost(w http.ResponseWriter, r *http.Request) {
	var req aliasJSON
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || req.Target == "" {
		writeErrorJSON(w, http.StatusBadRequest, "name and target are required")
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.aliases[req.Name]; ok {
		writeErrorJSON(w, http.StatusConflict, fmt.Sprintf("Alias %q already exists", req.Name))
		return
	}
	if !x.images[req.Target] {
		writeErrorJSON(w, http.StatusNotFound, "Image not found")
		return
	}
	x.aliases[req.Name] = aliasJSON{Name: req.Name, Target: req.Target, Description: req.Description, Type: "container"}
	w.Header().Set("Location", "/1.0/images/aliases/"+req.Name)
	writeJSONStatus(w, http.StatusCreated, map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": nil})
}

func (x *imagesFake) aliasPut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req aliasJSON
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Target == "" {
		writeErrorJSON(w, http.StatusBadRequest, "The target field is required")
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.aliases[name]
	switch {
	case !ok:
		writeErrorJSON(w, http.StatusNotFound, "Image alias not found")
	case r.Header.Get("If-Match") != "" && r.Header.Get("If-Match") != etagOf(a):
		writeErrorJSON(w, http.StatusPreconditionFailed, "ETag doesn't match")
	case !x.images[req.Target]:
		writeErrorJSON(w, http.StatusNotFound, "Image not found")
	default:
		a.Target, a.Description = req.Target, req.Description
		x.aliases[name] = a
		writeSyncJSON(w, nil)
	}
}

func (x *imagesFake) alias(name string) aliasJSON {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.aliases[name]
}

func TestPublishImage(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	x := newImagesFake(f)
	props := map[string]string{PropType: "kube", "os": "debian"}
	fp, err := s.PublishImage(testCtx(t), PublishSpec{Instance: "c1", Properties: props, Compression: "none"})
	if err != nil {
		t.Fatalf("PublishImage: %v", err)
	}
	x.mu.Lock()
	made := x.images[fp]
	x.mu.Unlock()
	if len(fp) != 64 || !made {
		t.Errorf("PublishImage = %q; want the fingerprint the operation reported", fp)
	}
	x.mu.Lock()
	posts := x.posts
	x.mu.Unlock()
	want := imagesPost{Properties: props, Source: map[string]string{"type": "instance", "name": "c1"}, CompressionAlgorithm: "none"}
	if len(posts) != 1 || !reflect.DeepEqual(posts[0], want) {
		t.Errorf("POST /1.0/images %+v, want %+v", posts, want)
	}

	_, err = s.PublishImage(testCtx(t), PublishSpec{Instance: "ghost"})
	if err == nil || !strings.Contains(err.Error(), "Instance not found") || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("publishing a missing instance = %v; want the operation's failure", err)
	}
}

func TestSetImageAlias(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	fp1, fp2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	x := newImagesFake(f, fp1, fp2)
	ctx := testCtx(t)
	const alias = "plex/kube-1.31"

	old, err := s.SetImageAlias(ctx, alias, fp1, "kube image")
	if err != nil || old != "" {
		t.Fatalf("creating the alias = %q, %v; want no previous target", old, err)
	}
	if a := x.alias(alias); a.Target != fp1 || a.Description != "kube image" {
		t.Errorf("alias %+v, want target %s", a, fp1)
	}

	old, err = s.SetImageAlias(ctx, alias, fp2, "")
	if err != nil || old != fp1 {
		t.Fatalf("moving the alias = %q, %v; want the old target %s", old, err, fp1)
	}
	if a := x.alias(alias); a.Target != fp2 || a.Description != "kube image" {
		t.Errorf("alias %+v, want target %s keeping its description", a, fp2)
	}

	old, err = s.SetImageAlias(ctx, alias, fp2, "")
	if err != nil || old != fp2 {
		t.Errorf("setting the alias to its target = %q, %v", old, err)
	}
	if n, m := len(f.requests("POST", "/1.0/images/aliases")), len(f.requests("PUT", "/1.0/images/aliases/plex%2Fkube-1.31")); n != 1 || m != 1 {
		t.Errorf("%d POSTs and %d PUTs of the alias; want 1 and 1", n, m)
	}
}
