//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitServer is a Git repository served over git's smart HTTP protocol by
// `git http-backend` through net/http/cgi, the way a real Git host serves
// Flux, and a work tree to commit to it from.
type gitServer struct {
	t    *testing.T
	root string // GIT_PROJECT_ROOT: holds the bare fleet.git
	work string // a clone to commit from
	// Addr is host:port; the repository is http://Addr/fleet.git.
	Addr string
}

// startGitServer serves an empty bare repository fleet.git (branch main) on
// listenAddr until the test ends.
func startGitServer(t *testing.T, listenAddr string) *gitServer {
	t.Helper()
	dir := t.TempDir()
	g := &gitServer{t: t, root: filepath.Join(dir, "srv"), work: filepath.Join(dir, "work")}
	g.git("", "init", "-q", "--bare", "-b", "main", filepath.Join(g.root, "fleet.git"))
	g.git("", "init", "-q", "-b", "main", g.work)
	g.git(g.work, "remote", "add", "origin", filepath.Join(g.root, "fleet.git"))

	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend missing: %v (apt-get install git)", err)
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		t.Fatalf("git server: listening on %s: %v", listenAddr, err)
	}
	g.Addr = ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			h.ServeHTTP(w, r)
			t.Logf("git server: %s %s from %s (%s)", r.Method, r.URL, r.RemoteAddr, time.Since(start).Round(time.Millisecond))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return g
}

// URL is the repository's clone URL.
func (g *gitServer) URL() string { return "http://" + g.Addr + "/fleet.git" }

func (g *gitServer) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=plex e2e", "GIT_AUTHOR_EMAIL=e2e@plex.invalid",
		"GIT_COMMITTER_NAME=plex e2e", "GIT_COMMITTER_EMAIL=e2e@plex.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+g.work)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content; "" deletes), commits and pushes them,
// and returns the new commit.
func (g *gitServer) commit(msg string, files map[string]string) string {
	g.t.Helper()
	for p, content := range files {
		full := filepath.Join(g.work, p)
		if content == "" {
			g.git(g.work, "rm", "-q", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
		g.git(g.work, "add", p)
	}
	g.git(g.work, "commit", "-q", "-m", msg)
	g.git(g.work, "push", "-q", "origin", "main")
	return g.git(g.work, "rev-parse", "HEAD")
}
