package registry

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Zot's upstream release.
const (
	// DefaultZotVersion is the Zot release a cache runs unless told.
	DefaultZotVersion = "v2.1.21"
	// DefaultZotReleaseURL is where Zot's release files are downloaded from:
	// <url>/<version>/zot-linux-<arch> and <url>/<version>/checksums.sha256.txt.
	DefaultZotReleaseURL = "https://github.com/project-zot/zot/releases/download"
)

// zotSource says where the Zot binary comes from.
type zotSource struct {
	// Binary is a local Zot binary (air-gapped use); it wins over a download.
	Binary     string
	Version    string
	ReleaseURL string
	CacheDir   string
	Client     *http.Client
}

// newZotSource is where up takes the Zot binary from, with the defaults
// filled in.
func newZotSource(o UpOptions) zotSource {
	z := zotSource{Binary: o.ZotBinary, Version: o.ZotVersion, ReleaseURL: o.ZotReleaseURL, CacheDir: o.DownloadCache, Client: o.HTTPClient}
	if z.Version == "" {
		z.Version = DefaultZotVersion
	}
	if z.ReleaseURL == "" {
		z.ReleaseURL = DefaultZotReleaseURL
	}
	if z.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		z.CacheDir = filepath.Join(dir, "plex", "zot")
	}
	return z
}

// from says where the binary comes from, for the status line.
func (z zotSource) from() string {
	if z.Binary != "" {
		return z.Binary
	}
	return "release " + z.Version
}

// path returns a local Zot binary for arch: Binary, or the release file,
// downloaded once into CacheDir and checked against the release's sha256.
func (z zotSource) path(ctx context.Context, arch string) (string, error) {
	if z.Binary != "" {
		st, err := os.Stat(z.Binary)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("zot binary %q is not an executable file", z.Binary)
		}
		return z.Binary, nil
	}
	file := "zot-linux-" + arch
	dest := filepath.Join(z.CacheDir, "zot-"+z.Version+"-linux-"+arch)
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	base := strings.TrimRight(z.ReleaseURL, "/") + "/" + z.Version + "/"
	sums, err := z.get(ctx, base+"checksums.sha256.txt")
	if err != nil {
		return "", err
	}
	want, err := checksumOf(sums, file)
	sums.Close()
	if err != nil {
		return "", fmt.Errorf("zot %s: %w", z.Version, err)
	}
	body, err := z.get(ctx, base+file)
	if err != nil {
		return "", err
	}
	defer body.Close()
	if err := os.MkdirAll(z.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("making the download cache: %w", err)
	}
	tmp, err := os.CreateTemp(z.CacheDir, file+".*")
	if err != nil {
		return "", fmt.Errorf("making the download cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", base+file, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("downloading %s: sha256 %s, but the release's checksums say %s", base+file, got, want)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", err
	}
	return dest, nil
}

func (z zotSource) get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	c := z.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w; without internet access, give --zot-binary PATH", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// checksumOf finds a file's sum in a sha256sum-style list.
func checksumOf(r io.Reader, file string) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == file && len(f[0]) == 64 {
			return strings.ToLower(f[0]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("checksums.sha256.txt lists no %s", file)
}
