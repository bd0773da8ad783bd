package engine_test

import (
	"testing"

	"github.com/plex-dev/plex/core/registry/engine"
)

func TestParseStorage(t *testing.T) {
	out := `size registry.k8s.io 1234
blob registry.k8s.io sha256:aaa
link registry.k8s.io pause sha256:aaa
link registry.k8s.io coredns/coredns sha256:bbb
repo registry.k8s.io pause
repo registry.k8s.io coredns/coredns
size docker.io 99
link docker.io library/nginx sha256:ccc
garbage line
`
	f := engine.ParseStorage(out)
	if f.Size["registry.k8s.io"] != 1234 || !f.Blobs["registry.k8s.io"]["sha256:aaa"] || len(f.Blobs["registry.k8s.io"]) != 1 {
		t.Errorf("registry.k8s.io: %+v", f)
	}
	// Zot prints no blob lines: its blobs are those of its links.
	if !f.Blobs["docker.io"]["sha256:ccc"] {
		t.Errorf("docker.io blobs: %v", f.Blobs["docker.io"])
	}
	inv := f.Links
	if !inv.Has("registry.k8s.io", "coredns/coredns", "sha256:bbb") || inv.Has("registry.k8s.io", "pause", "sha256:bbb") {
		t.Errorf("inventory %v", inv)
	}
	if r := f.Repos["registry.k8s.io"]; len(r) != 2 || r[0] != "coredns/coredns" {
		t.Errorf("repos %v", r)
	}
}
