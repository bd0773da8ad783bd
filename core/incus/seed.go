package incus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// SeedFile is a file Incus writes into a container as it first starts.
type SeedFile struct {
	Path    string
	Content []byte
	// Mode is the new file's permission bits (0o644 when zero); a file the
	// image already has keeps its own. Missing parent directories are made
	// 0755.
	Mode int
}

// SeedFiles has Incus write files into a container that has not started yet,
// as it first starts, before its init runs: each becomes one of the
// instance's own templates (the mechanism images use for /etc/hostname),
// applied on the "create" trigger and holding the content as literal text. A
// file the image's templates also write (/etc/hosts) gets the seeded content.
//
// Unlike a file push into a stopped container, this starts no file helper in
// incusd (`incusd forkfile`): Incus stops that helper when the container
// starts, and when the helper still has a connection open it waits for it in
// whole seconds. Pushes made right before a start cost it a second in most
// tries (incusd 6.0.4: 1.2 s against 0.2 s).
//
// A file's template is named after its path, so seeding the same paths
// again replaces them. The files are written once: a later start, a restore
// or a copy does not write them again.
func (s *Server) SeedFiles(ctx context.Context, name string, files []SeedFile) error {
	if len(files) == 0 {
		return nil
	}
	templates := map[string]seedTemplate{}
	for _, f := range files {
		if f.Path == "" || f.Path[0] != '/' {
			return fmt.Errorf("seeding files into %s: path %q is not absolute", name, f.Path)
		}
		if _, dup := templates[f.Path]; dup {
			return fmt.Errorf("seeding files into %s: %s given twice", name, f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		templates[f.Path] = seedTemplate{When: []string{"create"}, Template: seedTemplateName(f.Path), Properties: map[string]string{}, Mode: fmt.Sprintf("%04o", mode)}
	}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		tpl := templates[f.Path].Template
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.c.Sync(ctx, rest.Request{
				Method:  http.MethodPost,
				Path:    rest.Path("instances", name, "metadata", "templates"),
				Query:   url.Values{"path": {tpl}},
				RawBody: bytes.NewReader(templateLiteral(f.Content)),
				Header:  http.Header{"Content-Type": {"application/octet-stream"}},
			}, nil)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", f.Path, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("seeding files into %s: %w", name, err)
	}
	// PATCH merges into the instance's metadata: the image's own
	// templates stay, but for the paths seeded here.
	_, err := s.c.Sync(ctx, rest.Request{
		Method: http.MethodPatch,
		Path:   rest.Path("instances", name, "metadata"),
		Body:   map[string]any{"templates": templates},
	}, nil)
	if err != nil {
		return fmt.Errorf("seeding files into %s: adding their templates: %w", name, err)
	}
	return nil
}

// seedTemplate is an entry of an instance's metadata.yaml templates.
type seedTemplate struct {
	When       []string          `json:"when"`
	CreateOnly bool              `json:"create_only"`
	Template   string            `json:"template"`
	Properties map[string]string `json:"properties"`
	Mode       string            `json:"mode,omitempty"`
}

// seedTemplateName is the template file of a seeded path: a name with no
// slash, the same for the same path.
func seedTemplateName(path string) string {
	sum := sha256.Sum256([]byte(path))
	return "plex-seed-" + hex.EncodeToString(sum[:8]) + ".tpl"
}

// templateLiteral is content as an Incus template (pongo2) that renders to
// content itself: every "{" is written with the templatetag tag, so no "{{",
// "{%" or "{#" is left to be read as template syntax.
func templateLiteral(content []byte) []byte {
	return bytes.ReplaceAll(content, []byte("{"), []byte("{% templatetag openbrace %}"))
}
