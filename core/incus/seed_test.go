package incus

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// seedFake keeps what incusd's metadata endpoints of an instance would: its
// template files and the templates merged into its metadata by PATCH.
type seedFake struct {
	mu        sync.Mutex
	files     map[string][]byte
	templates map[string]seedTemplate
	patches   int
}

func newSeedFake(f *fakeIncus) *seedFake {
	x := &seedFake{files: map[string][]byte{}, templates: map[string]seedTemplate{
		"/etc/hostname": {When: []string{"create", "copy"}, Template: "hostname.tpl", Properties: map[string]string{}},
	}}
	f.handle("POST /1.0/instances/{name}/metadata/templates", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		x.mu.Lock()
		x.files[r.URL.Query().Get("path")] = b
		x.mu.Unlock()
		writeSyncJSON(w, nil)
	})
	f.handle("PATCH /1.0/instances/{name}/metadata", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Templates map[string]seedTemplate `json:"templates"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			writeErrorJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		x.mu.Lock()
		for k, v := range m.Templates {
			x.templates[k] = v
		}
		x.patches++
		x.mu.Unlock()
		writeSyncJSON(w, nil)
	})
	return x
}

func TestSeedFiles(t *testing.T) {
	f := newFakeIncus(t)
	x := newSeedFake(f)
	s := f.serveUnix()
	files := []SeedFile{
		{Path: "/etc/ssh/key", Content: []byte("secret {{ not a variable }}\n"), Mode: 0o600},
		{Path: "/etc/cni/net.d/10-plex.conflist", Content: []byte(`{"cniVersion": "1.0.0"}`)},
	}
	if err := s.SeedFiles(t.Context(), "c1", files); err != nil {
		t.Fatal(err)
	}
	if x.patches != 1 {
		t.Errorf("%d PATCHes of the metadata, want 1", x.patches)
	}
	if _, ok := x.templates["/etc/hostname"]; !ok {
		t.Error("the image's own template was dropped")
	}
	for _, sf := range files {
		tpl, ok := x.templates[sf.Path]
		if !ok {
			t.Fatalf("no template for %s: %+v", sf.Path, x.templates)
		}
		if strings.Contains(tpl.Template, "/") || len(tpl.When) != 1 || tpl.When[0] != "create" {
			t.Errorf("%s: template %+v", sf.Path, tpl)
		}
		want := "0644"
		if sf.Mode != 0 {
			want = "0600"
		}
		if tpl.Mode != want {
			t.Errorf("%s: mode %q, want %q", sf.Path, tpl.Mode, want)
		}
		if got := x.files[tpl.Template]; !bytes.Equal(got, templateLiteral(sf.Content)) {
			t.Errorf("%s: template file %q", sf.Path, got)
		}
	}
	if x.templates[files[0].Path].Template == x.templates[files[1].Path].Template {
		t.Error("two paths share a template file")
	}

	// Bad input sends nothing.
	before := len(f.requests(http.MethodPatch, "/1.0/instances/c1/metadata"))
	for _, bad := range [][]SeedFile{
		{{Path: "etc/relative", Content: []byte("x")}},
		{{Path: "/etc/a", Content: []byte("x")}, {Path: "/etc/a", Content: []byte("y")}},
	} {
		if err := s.SeedFiles(t.Context(), "c1", bad); err == nil {
			t.Errorf("SeedFiles(%+v): no error", bad)
		}
	}
	if n := len(f.requests(http.MethodPost, "/1.0/instances/c1/metadata/templates")); n != len(files) {
		t.Errorf("%d template uploads, want %d: bad input sent some", n, len(files))
	}
	if after := len(f.requests(http.MethodPatch, "/1.0/instances/c1/metadata")); after != before {
		t.Error("bad input patched the metadata")
	}
}

// templateLiteral leaves no opening of template syntax, and renders back to
// the content: each "{" is one templatetag.
func TestTemplateLiteral(t *testing.T) {
	const tag = "{% templatetag openbrace %}"
	for _, in := range []string{"", "plain\n", "{{ x }}", "{% if %}{# c #}", "${HOME} {} {{{", "a%}b}}"} {
		out := string(templateLiteral([]byte(in)))
		if rest := strings.ReplaceAll(out, tag, ""); strings.Contains(rest, "{") {
			t.Errorf("templateLiteral(%q) = %q: a { is left outside the tags", in, out)
		}
		if back := strings.ReplaceAll(out, tag, "{"); back != in {
			t.Errorf("templateLiteral(%q) renders to %q", in, back)
		}
	}
}
