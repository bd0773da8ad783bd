package incus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// FileMode is the mode and owner of a file plex writes into an instance.
// Incus applies them when it creates the file; an existing file keeps its
// own (plex's files are written once, or always with the same mode).
type FileMode struct {
	Mode     int // permission bits, 0o644 when zero
	UID, GID int
}

// WriteFile writes a file into an instance from r, creating its missing
// parent directories (0755, root). r is rewound before each retry.
func (s *Server) WriteFile(ctx context.Context, name, path string, r io.ReadSeeker, m FileMode) error {
	if m.Mode == 0 {
		m.Mode = 0o644
	}
	push := func() error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return s.postFile(ctx, name, path, "file", keepOpen(r), m)
	}
	err := retryTransient(ctx, push)
	if rest.IsNotFound(err) {
		// The parent directory is missing: make it, then push again. Trying
		// first keeps the common case at one round trip.
		if derr := s.makeDirs(ctx, name, pathpkg.Dir(path)); derr != nil {
			return fmt.Errorf("writing %s in %s: %w", path, name, derr)
		}
		err = retryTransient(ctx, push)
	}
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", path, name, err)
	}
	return nil
}

// keepOpen hides the Close of a body that has one (an *os.File) from
// net/http, which closes a request's body once it is sent: the caller's file
// would be closed after the first attempt, and the retry's Seek would fail.
func keepOpen(r io.Reader) io.Reader {
	if _, ok := r.(io.Closer); ok {
		return struct{ io.Reader }{r}
	}
	return r
}

// PushFile writes a file into an instance with mode, creating its parent
// directories.
func (s *Server) PushFile(ctx context.Context, name, path string, content []byte, mode int) error {
	return s.WriteFile(ctx, name, path, bytes.NewReader(content), FileMode{Mode: mode})
}

// PushReader writes a file into an instance from r, for content too large to
// hold in memory (binaries).
func (s *Server) PushReader(ctx context.Context, name, path string, r io.ReadSeeker, mode int) error {
	return s.WriteFile(ctx, name, path, r, FileMode{Mode: mode})
}

// PushSymlink makes path in an instance (a stopped container too) a
// symbolic link to target. The parent must exist.
func (s *Server) PushSymlink(ctx context.Context, name, path, target string) error {
	link := func() error {
		return s.postFile(ctx, name, path, "symlink", strings.NewReader(target), FileMode{Mode: 0o777})
	}
	err := link()
	if rest.IsNotFound(err) {
		if derr := s.makeDirs(ctx, name, pathpkg.Dir(path)); derr != nil {
			return fmt.Errorf("linking %s in %s: %w", path, name, derr)
		}
		err = link()
	}
	if err != nil {
		return fmt.Errorf("linking %s to %s in %s: %w", path, target, name, err)
	}
	return nil
}

// MakeDir creates a directory in an instance (a stopped container too); an
// existing directory is not an error. The parent must exist.
func (s *Server) MakeDir(ctx context.Context, name, path string, mode int) error {
	if err := s.postFile(ctx, name, path, "directory", nil, FileMode{Mode: mode}); err != nil {
		return fmt.Errorf("creating directory %s in %s: %w", path, name, err)
	}
	return nil
}

// makeDirs creates dir and its missing parents, from the top down.
func (s *Server) makeDirs(ctx context.Context, name, dir string) error {
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	cur := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		cur += "/" + p
		if err := s.postFile(ctx, name, cur, "directory", nil, FileMode{Mode: 0o755}); err != nil {
			return fmt.Errorf("creating directory %s: %w", cur, err)
		}
	}
	return nil
}

func (s *Server) postFile(ctx context.Context, name, path, typ string, body io.Reader, m FileMode) error {
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Incus-type", typ)
	h.Set("X-Incus-mode", fmt.Sprintf("%04o", m.Mode))
	h.Set("X-Incus-uid", strconv.Itoa(m.UID))
	h.Set("X-Incus-gid", strconv.Itoa(m.GID))
	switch typ {
	case "file":
		h.Set("X-Incus-write", "overwrite")
	case "symlink": // the body is the link's target
	default:
		body = http.NoBody
	}
	_, err := s.c.Sync(ctx, rest.Request{
		Method:  http.MethodPost,
		Path:    rest.Path("instances", name, "files"),
		Query:   url.Values{"path": {path}},
		RawBody: body,
		Header:  h,
	}, nil)
	return err
}

// FileInfo is what Incus says of a file in an instance.
type FileInfo struct {
	Mode     int
	UID, GID int
	// Type is file, directory or symlink.
	Type string
	// Entries are a directory's names.
	Entries []string
}

// PullFile reads a file from an instance. A missing file is an error that
// IsNotFound recognises.
func (s *Server) PullFile(ctx context.Context, name, path string) ([]byte, error) {
	out, _, err := s.ReadFile(ctx, name, path)
	return out, err
}

// ReadFile reads a file, or lists a directory, in an instance, with its
// mode and owner.
func (s *Server) ReadFile(ctx context.Context, name, path string) ([]byte, *FileInfo, error) {
	var out []byte
	var info *FileInfo
	err := retryTransient(ctx, func() error {
		resp, err := s.c.Stream(ctx, rest.Request{
			Method: http.MethodGet,
			Path:   rest.Path("instances", name, "files"),
			Query:  url.Values{"path": {path}},
		})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		info = fileInfo(resp.Header)
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if n := resp.ContentLength; n >= 0 && int64(len(b)) != n {
			return io.ErrUnexpectedEOF
		}
		out = b
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s from %s: %w", path, name, err)
	}
	if info.Type == "directory" {
		var env struct {
			Metadata []string `json:"metadata"`
		}
		if err := json.Unmarshal(out, &env); err != nil {
			return nil, nil, fmt.Errorf("listing %s in %s: %w", path, name, err)
		}
		info.Entries, out = env.Metadata, nil
	}
	return out, info, nil
}

func fileInfo(h http.Header) *FileInfo {
	num := func(k string, base int) int {
		n, err := strconv.ParseInt(h.Get(k), base, 64)
		if err != nil {
			return -1
		}
		return int(n)
	}
	return &FileInfo{Mode: num("X-Incus-mode", 8), UID: num("X-Incus-uid", 10), GID: num("X-Incus-gid", 10), Type: h.Get("X-Incus-type")}
}

// retryTransient retries a file transfer that failed on the way, not on
// the file: incusd's file helper in the instance (forkfile) sometimes drops
// the connection under load. Transfers overwrite, so a retry is safe.
func retryTransient(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 4; i++ {
		err = f()
		if err == nil || !transient(err) {
			return err
		}
		if serr := rest.Sleep(ctx, time.Duration(i+1)*250*time.Millisecond); serr != nil {
			return serr
		}
	}
	return err
}

// transient tells a dropped transfer from an answer about the file. A
// dropped connection has no status; incusd reports its helper's failures as
// 500s whose text names it.
func transient(err error) bool {
	if rest.Dropped(err) {
		return true
	}
	var e *rest.Error
	if errors.As(err, &e) && e.Status == http.StatusInternalServerError {
		for _, s := range []string{"forkfile", "connection reset by peer", "broken pipe", "EOF"} {
			if strings.Contains(e.Message, s) {
				return true
			}
		}
	}
	return false
}
