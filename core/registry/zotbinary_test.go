package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestZotDownload(t *testing.T) {
	bin := []byte("#!/bin/sh\necho zot\n")
	sum := sha256.Sum256(bin)
	sums := hex.EncodeToString(sum[:]) + "  zot-linux-amd64\n" + strings.Repeat("0", 64) + "  zot-linux-arm64\n"
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		switch r.URL.Path {
		case "/v9.9.9/checksums.sha256.txt":
			w.Write([]byte(sums))
		case "/v9.9.9/zot-linux-amd64", "/v9.9.9/zot-linux-arm64":
			w.Write(bin)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	z := zotSource{Version: "v9.9.9", ReleaseURL: srv.URL, CacheDir: dir}
	p, err := z.path(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(bin) || filepath.Dir(p) != dir {
		t.Errorf("downloaded %s: %q", p, got)
	}
	n := gets.Load()
	if _, err := z.path(context.Background(), "amd64"); err != nil || gets.Load() != n {
		t.Errorf("second call: err %v, %d more requests", err, gets.Load()-n)
	}
	if _, err := z.path(context.Background(), "arm64"); err == nil || !strings.Contains(err.Error(), "but the release's checksums say 0000") {
		t.Errorf("bad checksum: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "zot-v9.9.9-linux-arm64")); err == nil {
		t.Error("a binary with a bad checksum was kept")
	}
	if _, err := (zotSource{Version: "v0.0.1", ReleaseURL: srv.URL, CacheDir: dir}).path(context.Background(), "amd64"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing release: %v", err)
	}
	// --zot-binary wins, and must be executable.
	local := filepath.Join(dir, "zot")
	os.WriteFile(local, bin, 0o644)
	if _, err := (zotSource{Binary: local}).path(context.Background(), "amd64"); err == nil {
		t.Error("a non-executable --zot-binary was accepted")
	}
	os.Chmod(local, 0o755)
	if p, err := (zotSource{Binary: local}).path(context.Background(), "amd64"); err != nil || p != local {
		t.Errorf("--zot-binary: %s %v", p, err)
	}
}
