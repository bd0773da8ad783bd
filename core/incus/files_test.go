package incus

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

func TestPushFileMode(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	ctx := testCtx(t)
	f.mkdir("/usr", 0o755)

	if err := s.PushFile(ctx, "c1", "/usr/tool", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatalf("PushFile: %v", err)
	}
	out, info, err := s.ReadFile(ctx, "c1", "/usr/tool")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if string(out) != "#!/bin/sh\n" || info.Mode != 0o755 || info.Type != "file" || info.UID != 0 || info.GID != 0 {
		t.Errorf("ReadFile = %q, %+v; want the content, mode 0755, a file owned by root", out, info)
	}
	if p := f.posts(); len(p) != 1 || p[0].Mode != "0755" || p[0].Type != "file" {
		t.Errorf("posts = %+v, want one file POST with X-Incus-mode 0755", p)
	}

	// Writing again replaces the content; the mode stays the file's own,
	// as incusd applies it only when it creates the file.
	if err := s.PushFile(ctx, "c1", "/usr/tool", []byte("v2"), 0o600); err != nil {
		t.Fatalf("PushFile again: %v", err)
	}
	out, info, err = s.ReadFile(ctx, "c1", "/usr/tool")
	if err != nil || string(out) != "v2" || info.Mode != 0o755 {
		t.Errorf("after a second push: %q, %+v, %v; want v2 with mode 0755", out, info, err)
	}

	// No mode is 0644.
	if err := s.PushFile(ctx, "c1", "/usr/plain", []byte("x"), 0); err != nil {
		t.Fatalf("PushFile with no mode: %v", err)
	}
	if n := f.file("/usr/plain"); n == nil || n.Mode != 0o644 {
		t.Errorf("a file pushed with no mode is %+v, want mode 0644", n)
	}
}

func TestPushFileCreatesParents(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	f.mkdir("/etc", 0o755)

	if err := s.PushFile(testCtx(t), "c1", "/etc/plex/pki/ca.crt", []byte("cert"), 0o600); err != nil {
		t.Fatalf("PushFile into a missing directory: %v", err)
	}
	var dirs []string
	for _, p := range f.posts() {
		if p.Type == "directory" {
			dirs = append(dirs, p.Path)
			if p.Mode != "0755" || p.Status != http.StatusOK {
				t.Errorf("directory POST %+v, want mode 0755 and success", p)
			}
		}
	}
	if want := []string{"/etc", "/etc/plex", "/etc/plex/pki"}; !reflect.DeepEqual(dirs, want) {
		t.Errorf("directory POSTs %q, want %q (top down)", dirs, want)
	}
	for _, d := range []string{"/etc/plex", "/etc/plex/pki"} {
		if n := f.file(d); n == nil || !n.Dir || n.Mode != 0o755 {
			t.Errorf("%s is %+v, want a directory with mode 0755", d, n)
		}
	}
	if n := f.file("/etc/plex/pki/ca.crt"); n == nil || string(n.Data) != "cert" || n.Mode != 0o600 {
		t.Errorf("the file is %+v, want cert with mode 0600", n)
	}
}

func TestPullFileMissing(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	f.mkdir("/etc", 0o755)
	for _, p := range []string{"/etc/missing", "/nodir/missing"} {
		out, err := s.PullFile(testCtx(t), "c1", p)
		if !IsNotFound(err) || out != nil {
			t.Errorf("PullFile(%s) = %q, %v; want an error IsNotFound recognises", p, out, err)
		}
		var re *rest.Error
		if !errors.As(err, &re) || re.Status != http.StatusNotFound {
			t.Errorf("PullFile(%s): %v does not wrap a 404 *rest.Error", p, err)
		}
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Errorf("the error %q does not name the file", err)
		}
	}
}

func TestReadFileDirectory(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	ctx := testCtx(t)
	f.mkdir("/etc", 0o750)
	f.mkdir("/etc/sub", 0o755)
	for _, p := range []string{"/etc/b", "/etc/a", "/etc/sub/deeper"} {
		if err := s.PushFile(ctx, "c1", p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, info, err := s.ReadFile(ctx, "c1", "/etc")
	if err != nil {
		t.Fatalf("ReadFile of a directory: %v", err)
	}
	if out != nil || info.Type != "directory" || info.Mode != 0o750 || !reflect.DeepEqual(info.Entries, []string{"a", "b", "sub"}) {
		t.Errorf("ReadFile(/etc) = %q, %+v; want no content, a directory with mode 0750 holding a, b, sub", out, info)
	}
}

// openTemp opens a file holding content: what plex pushes binaries from, and
// a reader that net/http would close and could not rewind by itself.
func openTemp(t *testing.T, content []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestPushReaderFileIntoMissingDir(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	// The first POST gets 404 (no /srv/bin), the second comes after the
	// directories are made: both read the same file.
	r := openTemp(t, []byte("binary"))
	if err := s.PushReader(testCtx(t), "c1", "/srv/bin/tool", r, 0o755); err != nil {
		t.Fatalf("PushReader from a file into a missing directory: %v", err)
	}
	if n := f.file("/srv/bin/tool"); n == nil || string(n.Data) != "binary" {
		t.Errorf("the pushed file is %+v, want binary", n)
	}
	// The file is the caller's to close.
	if _, err := r.Seek(0, 0); err != nil {
		t.Errorf("PushReader closed the caller's file: %v", err)
	}
}

func TestPushReaderRewindsBeforeRetry(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	f.mkdir("/opt", 0o755)
	content := bigOutput()[:1<<20]
	r := openTemp(t, content)

	const partial = 64 << 10
	f.mu.Lock()
	f.failFilePost = partial
	f.mu.Unlock()
	if err := s.PushReader(testCtx(t), "c1", "/opt/tool", r, 0o755); err != nil {
		t.Fatalf("PushReader with one forkfile failure: %v", err)
	}
	posts := f.posts()
	if len(posts) != 2 || posts[0].Status != http.StatusInternalServerError || posts[0].Read != partial ||
		posts[1].Status != http.StatusOK || posts[1].Read != len(content) {
		t.Errorf("posts = %+v; want a failed one that read %d bytes, then one that read all %d", posts, partial, len(content))
	}
	if n := f.file("/opt/tool"); n == nil || !bytes.Equal(n.Data, content) || n.Mode != 0o755 {
		if n == nil {
			t.Fatal("the file was not written")
		}
		t.Errorf("the pushed file (mode %04o) is not the content with mode 0755: %s", n.Mode, firstDiff(n.Data, content))
	}
}
