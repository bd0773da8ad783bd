package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the time stamp of every file and of every image: the images are a
// function of their inputs only, so a rebuild from the same binaries gives the
// same digests and the push is skipped.
var epoch = time.Unix(0, 0).UTC()

// entry is one file system object of a layer.
type entry struct {
	mode     fs.FileMode // permission bits plus fs.ModeDir / fs.ModeSymlink
	linkname string      // for symlinks
	data     []byte      // for regular files, when given inline
	src      string      // for regular files, a path on this machine to read
}

// fileTree is the content of a single layer, keyed by the clean path inside
// the image without a leading slash.
type fileTree map[string]entry

func (t fileTree) dir(p string, perm fs.FileMode) {
	t.parents(p)
	t[clean(p)] = entry{mode: fs.ModeDir | perm}
}

func (t fileTree) file(p string, perm fs.FileMode, data []byte) {
	t.parents(p)
	t[clean(p)] = entry{mode: perm, data: data}
}

func (t fileTree) copyFile(p, src string, perm fs.FileMode) {
	t.parents(p)
	t[clean(p)] = entry{mode: perm, src: src}
}

func (t fileTree) symlink(p, target string) {
	t.parents(p)
	t[clean(p)] = entry{mode: fs.ModeSymlink | 0o777, linkname: target}
}

// parents adds the missing parent directories of p with mode 0755.
func (t fileTree) parents(p string) {
	for d := path.Dir(clean(p)); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := t[d]; !ok {
			t[d] = entry{mode: fs.ModeDir | 0o755}
		}
	}
}

func clean(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// tarball writes the tree as an uncompressed tar with fixed owners and times,
// in sorted order, so that equal trees give equal bytes.
func (t fileTree) tarball() ([]byte, error) {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := t[n]
		hdr := &tar.Header{
			Name:    n,
			Mode:    int64(e.mode.Perm()),
			ModTime: epoch,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		if e.mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if e.mode&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		var data []byte
		switch {
		case e.mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.linkname
		default:
			hdr.Typeflag = tar.TypeReg
			data = e.data
			if e.src != "" {
				b, err := os.ReadFile(e.src)
				if err != nil {
					return nil, fmt.Errorf("reading %s for /%s: %w", e.src, n, err)
				}
				data = b
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing tar header for /%s: %w", n, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("writing /%s into the layer: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// layer compresses the tree once, deterministically (gzip header without name
// or time), and wraps the result as an OCI layer.
func (t fileTree) layer() (v1.Layer, int64, error) {
	raw, err := t.tarball()
	if err != nil {
		return nil, 0, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, 0, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, 0, fmt.Errorf("compressing the layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, 0, fmt.Errorf("compressing the layer: %w", err)
	}
	compressed := gz.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, 0, fmt.Errorf("making the layer: %w", err)
	}
	return l, int64(len(raw)), nil
}
