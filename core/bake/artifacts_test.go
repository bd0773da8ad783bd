package bake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestReleaseArtifacts serves a fake release tree: the sums are read for the
// inputs hash, the binaries are downloaded once, checked, and cached.
func TestReleaseArtifacts(t *testing.T) {
	bins := map[string]string{"kubeadm": "adm", "kubelet": "let", "kubectl": "ctl"}
	var downloads int
	corrupt := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if !strings.HasPrefix(r.URL.Path, "/release/v1.34.4/bin/linux/amd64/") {
			http.NotFound(w, r)
			return
		}
		if bin, ok := strings.CutSuffix(name, ".sha256"); ok {
			sum := sha256.Sum256([]byte(bins[bin]))
			w.Write([]byte(hex.EncodeToString(sum[:])))
			return
		}
		downloads++
		body := bins[name]
		if corrupt {
			body += "!"
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	ctx := context.Background()

	arts, err := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 3 || downloads != 0 {
		t.Fatalf("artifacts %v, %d downloads before fetching", arts, downloads)
	}
	cache := t.TempDir()
	for i := range arts {
		if err := arts[i].fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(arts[i].Path)
		if err != nil || string(got) != bins[arts[i].Name] {
			t.Errorf("%s: %q, %v", arts[i].Name, got, err)
		}
	}
	// Cached: no second download.
	again, _ := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	for i := range again {
		if err := again[i].fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
	}
	if downloads != 3 {
		t.Errorf("%d downloads, want 3", downloads)
	}
	// A download whose sum does not match is refused and not kept.
	corrupt = true
	bad, _ := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	err = bad[0].fetch(ctx, srv.Client(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "the download was discarded") || bad[0].Path != "" {
		t.Errorf("corrupt download: %v (path %q)", err, bad[0].Path)
	}
	// A missing version says what to do instead.
	_, err = releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v9.9.9", "amd64")
	if err == nil || !strings.Contains(err.Error(), "--kube-artifacts") {
		t.Errorf("missing release: %v", err)
	}
}

func TestLocalArtifacts(t *testing.T) {
	dir := artifactDir(t)
	arts, err := localArtifacts(dir)
	if err != nil || len(arts) != 3 || arts[0].Path == "" || len(arts[0].SHA256) != 64 {
		t.Fatalf("%v, %v", arts, err)
	}
	os.Remove(dir + "/kubelet")
	if _, err := localArtifacts(dir); err == nil || !strings.Contains(err.Error(), "kubelet") {
		t.Errorf("missing kubelet: %v", err)
	}
}
