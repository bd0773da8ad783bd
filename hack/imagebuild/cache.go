package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Building an image means reading and compressing ~100 MB; asking the registry
// whether it has a digest takes a millisecond. The cache remembers which
// digest a recipe gave last time, so an unchanged image is neither read nor
// compressed when the registry still has it. The key covers the recipe (file
// list with each source file's size and mtime, the config) and this program's
// own executable, so a change to either builds afresh.

type cacheEntry struct {
	Digest  string `json:"digest"`
	RawSize int64  `json:"rawSize"`
	ZipSize int64  `json:"zipSize"`
}

var selfHash = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
})

// key identifies the image r would build.
func (r *recipe) key() (string, error) {
	self, err := selfHash()
	if err != nil {
		return "", fmt.Errorf("hashing this program: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "imagebuild cache 1\nself %s\nnote %s\n", self, r.note)
	if err := json.NewEncoder(h).Encode(r.cfg); err != nil {
		return "", err
	}
	names := make([]string, 0, len(r.tree))
	for n := range r.tree {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := r.tree[n]
		fmt.Fprintf(h, "%q %o %q %x", n, uint32(e.mode), e.linkname, sha256.Sum256(e.data))
		if e.src != "" {
			fi, err := os.Stat(e.src)
			if err != nil {
				return "", fmt.Errorf("reading %s for /%s: %w", e.src, n, err)
			}
			fmt.Fprintf(h, " %q %d %d", e.src, fi.Size(), fi.ModTime().UnixNano())
		}
		fmt.Fprintln(h)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func cachePath(dir, key string) string { return filepath.Join(dir, key+".json") }

// loadCache returns the remembered image for key, or nil.
func loadCache(dir, key string) *built {
	b, err := os.ReadFile(cachePath(dir, key))
	if err != nil {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	d, err := v1.NewHash(e.Digest)
	if err != nil {
		return nil
	}
	return &built{digest: d, rawSize: e.RawSize, zipSize: e.ZipSize}
}

// saveCache remembers b for key; failing to is not an error worth stopping for.
func saveCache(dir, key string, b *built) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	data, err := json.Marshal(cacheEntry{Digest: b.digest.String(), RawSize: b.rawSize, ZipSize: b.zipSize})
	if err != nil {
		return
	}
	tmp := cachePath(dir, key) + ".tmp"
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, cachePath(dir, key))
	}
}
