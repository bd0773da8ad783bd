//go:build e2e

package e2e

// The packaging tests check what `make dist` produced (dist/, or PLEX_DIST)
// the way users meet it: the real Krew installs the archive and the real
// kubectl runs the plugin, the incus client runs plexbake through its alias,
// and a second `make dist` from another directory gives the same bytes.
// `make packaging-test` builds dist/ once and runs them all (-run TestPackaging)
// with PLEX_DIST set; without it they skip.

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/internal/testenv"
)

// packagingRelease is one dist directory and what hack/dist.sh recorded about
// it in build-info.txt.
type packagingRelease struct {
	dir  string
	info map[string]string // version, commit, krew-version, source-date-epoch, source-fingerprint, …
}

// loadRelease reads the build-info.txt of the dist directory PLEX_DIST.
// Without PLEX_DIST it skips: `make e2e` runs this package too, without a
// dist, while `make packaging-test` builds one and sets it.
func loadRelease(t *testing.T) *packagingRelease {
	t.Helper()
	dir := os.Getenv("PLEX_DIST")
	if dir == "" {
		t.Skip("SKIPPED: the packaging tests check a dist directory given as PLEX_DIST; run `make packaging-test` (builds dist/ and sets it)")
	}
	info, err := readBuildInfo(filepath.Join(dir, "build-info.txt"))
	if err != nil {
		t.Fatalf("reading the dist directory %s: %v; build it with `make dist` (make packaging-test does)", dir, err)
	}
	return &packagingRelease{dir: dir, info: info}
}

func readBuildInfo(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			info[k] = v
		}
	}
	return info, sc.Err()
}

// archives are the archives this dist must hold: those of distArchives on
// the platforms its build-info.txt lists (all of them in a release; the
// host's in `make packaging-test`).
func (r *packagingRelease) archives(t *testing.T) map[string][]string {
	t.Helper()
	plats := strings.Fields(r.info["platforms"])
	if len(plats) == 0 {
		t.Fatalf("%s/build-info.txt lists no platforms", r.dir)
	}
	out := map[string][]string{}
	for _, p := range plats {
		n := 0
		for name, files := range distArchives {
			if strings.HasSuffix(name, "_"+strings.ReplaceAll(p, "/", "_")) {
				out[name] = files
				n++
			}
		}
		if n == 0 {
			t.Errorf("build-info.txt lists platform %s, which no archive of a release is for", p)
		}
	}
	if !slices.Contains(plats, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("the dist has no archives for this machine (%s/%s), whose binaries the tests run: platforms %v", runtime.GOOS, runtime.GOARCH, plats)
	}
	return out
}

// archive is the path of dist's NAME.tar.gz.
func (r *packagingRelease) archive(name string) string {
	return filepath.Join(r.dir, name+".tar.gz")
}

// packagingRepoRoot is the repository this test file belongs to.
func packagingRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// extractArchive unpacks a tar.gz into a new temporary directory and returns
// it with the archive's headers, in archive order.
func extractArchive(t *testing.T, path string) (string, []*tar.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dir := t.TempDir()
	var headers []*tar.Header
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		headers = append(headers, h)
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "/") {
			t.Fatalf("%s: entry %q: want only regular files at the top level", path, h.Name)
		}
		out, err := os.OpenFile(filepath.Join(dir, h.Name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(h.Mode).Perm())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatalf("extracting %s from %s: %v", h.Name, path, err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir, headers
}

// runTool runs a program with env added to (and overriding) this process's
// environment, logs the command, its time and output, and returns the
// combined output.
func runTool(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	logged := string(out)
	if len(logged) > 4000 { // a completion script, say: its start tells enough
		logged = logged[:4000] + fmt.Sprintf("\n… (%d bytes in all)", len(out))
	}
	t.Logf("$ %s %s (%s, err=%v)\n%s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, logged)
	return string(out), err
}

func mustRunTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// requirePackaging is testenv.Require plus the release under test.
func requirePackaging(t *testing.T) (*testenv.Harness, *packagingRelease) {
	t.Helper()
	h := testenv.Require(t)
	return h, loadRelease(t)
}
