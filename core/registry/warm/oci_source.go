package warm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The annotations that name an entry of an OCI layout's index.json:
// containerd and Docker write the full reference in the first and the tag
// alone in the second; buildah, podman and skopeo write either in the
// second.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// source is what LoadOCI reads images from.
type source struct {
	images []*named
	// unnamedFix says how to name an image in this kind of source.
	unnamedFix string
	// close removes what reading the source unpacked.
	close func()
}

// named is one name the source gives an image or an index: an image with
// several names appears once for each.
type named struct {
	name  string // as the source gives it; "" when it gives none
	where string // where in the source, for errors
	img   v1.Image
	idx   v1.ImageIndex
	// digest is the manifest's, when the source says it; a docker save
	// tarball's is computed after the push.
	digest v1.Hash
}

func (n *named) same(m *named) bool {
	if n.digest != (v1.Hash{}) {
		return n.digest == m.digest
	}
	return n.img != nil && n.img == m.img
}

const notASource = "give an OCI image layout directory, an OCI archive (podman save --format oci-archive) or a docker save tarball"

// openSource reads src, telling the kind of source by what it holds.
func openSource(src string) (*source, error) {
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: %s", src, notASource)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	if fi.IsDir() {
		return readLayout(src, src, func() {})
	}
	open := tarOpener(src)
	hasLayout, hasManifest, err := sniffTar(open)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a directory nor a tar archive (%v): %s", src, err, notASource)
	}
	switch {
	case hasLayout:
		dir, err := unpackLayout(open)
		if err != nil {
			return nil, fmt.Errorf("unpacking the OCI layout in %s: %w", src, err)
		}
		return readLayout(src, dir, func() { os.RemoveAll(dir) })
	case hasManifest:
		return readDockerTar(src, open)
	}
	return nil, fmt.Errorf("%s is a tar archive with neither an oci-layout and index.json (an OCI archive) nor a manifest.json (a docker save tarball): %s", src, notASource)
}

// readLayout lists the entries of the OCI layout at dir, which src is or
// holds. It checks that the layout holds every blob they need, so that a
// push does not fail half-way through.
func readLayout(src, dir string, cleanup func()) (*source, error) {
	s := &source{
		close:      cleanup,
		unnamedFix: "name it in the source, like `skopeo copy oci:DIR@DIGEST oci:DIR:TAG` does with an org.opencontainers.image.ref.name annotation",
	}
	err := func() error {
		for _, f := range []string{"oci-layout", "index.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return fmt.Errorf("%s is not an OCI image layout: it has no %s; %s", src, f, notASource)
			}
		}
		p, err := layout.FromPath(dir)
		if err != nil {
			return fmt.Errorf("reading the OCI layout %s: %w", src, err)
		}
		ii, err := p.ImageIndex()
		if err != nil {
			return fmt.Errorf("reading the OCI layout %s: %w", src, err)
		}
		im, err := ii.IndexManifest()
		if err != nil {
			return fmt.Errorf("reading %s: index.json is not an image index: %w", src, err)
		}
		if len(im.Manifests) == 0 {
			return fmt.Errorf("%s holds no image: its index.json lists none; save the images into it first", src)
		}
		for i, d := range im.Manifests {
			n := &named{where: fmt.Sprintf("index.json manifests[%d] (%s)", i, d.Digest), digest: d.Digest}
			n.name = d.Annotations[annotationContainerdName]
			if n.name == "" {
				n.name = d.Annotations[annotationRefName]
			}
			switch {
			case d.MediaType.IsIndex():
				n.idx, err = ii.ImageIndex(d.Digest)
			case d.MediaType.IsImage():
				n.img, err = ii.Image(d.Digest)
			default:
				err = fmt.Errorf("it is a %s, neither an image nor an image index: remove it from the source", d.MediaType)
			}
			if err == nil {
				err = hasAll(p, d)
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", src, n.where, err)
			}
			s.images = append(s.images, n)
		}
		return nil
	}()
	if err != nil {
		cleanup()
		return nil, err
	}
	return s, nil
}

// hasAll checks that the layout at p holds the blobs of d: its manifest,
// and for an image its config and layers, for an index what it lists.
func hasAll(p layout.Path, d v1.Descriptor) error {
	if err := hasBlob(p, d); err != nil {
		return err
	}
	raw, err := p.Bytes(d.Digest)
	if err != nil {
		return err
	}
	switch {
	case d.MediaType.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("index %s: %w", d.Digest, err)
		}
		for _, c := range im.Manifests {
			if err := hasAll(p, c); err != nil {
				return err
			}
		}
	case d.MediaType.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if err := hasBlob(p, m.Config); err != nil {
			return err
		}
		for _, l := range m.Layers {
			if !l.MediaType.IsDistributable() {
				// A foreign layer lives elsewhere; it is not pushed.
				continue
			}
			if err := hasBlob(p, l); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasBlob(p layout.Path, d v1.Descriptor) error {
	fi, err := os.Stat(filepath.Join(string(p), "blobs", d.Digest.Algorithm, d.Digest.Hex))
	what := string(d.MediaType)
	if d.Platform != nil {
		what += " for " + d.Platform.String()
	}
	switch {
	case err != nil:
		return fmt.Errorf("the layout lacks blob %s (%s): it is incomplete; save the image again with all its blobs (of a multi-platform image, every platform, or only the one you need)", d.Digest, what)
	case fi.Size() != d.Size:
		return fmt.Errorf("blob %s (%s) is %d bytes, not the %d its descriptor says: the layout is damaged; save the image again", d.Digest, what, fi.Size(), d.Size)
	}
	return nil
}

// readDockerTar lists the images of a docker save tarball, one for each of
// their RepoTags. An image is read once however many tags it has.
func readDockerTar(src string, open tarball.Opener) (*source, error) {
	m, err := tarball.LoadManifest(open)
	if err != nil {
		return nil, fmt.Errorf("reading manifest.json of %s, a docker save tarball: %w", src, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s holds no image: its manifest.json lists none; save the images into it first", src)
	}
	s := &source{
		close:      func() {},
		unnamedFix: "docker save by image ID keeps no name: save it by name (docker save app:v1)",
	}
	var bad bool
	for i, e := range m {
		where := fmt.Sprintf("manifest.json entry %d", i)
		if len(e.RepoTags) == 0 {
			s.images = append(s.images, &named{where: where})
			continue
		}
		for _, t := range e.RepoTags {
			if _, err := name.NewTag(t); err != nil {
				bad = true
			}
			s.images = append(s.images, &named{name: t, where: where})
		}
	}
	if bad {
		// The names are reported with the others; go-containerregistry
		// finds no image by tag while any tag does not parse.
		return s, nil
	}
	byEntry := map[string]v1.Image{}
	for _, n := range s.images {
		if n.name == "" {
			continue
		}
		if img, ok := byEntry[n.where]; ok {
			n.img = img
			continue
		}
		tag, _ := name.NewTag(n.name)
		if n.img, err = tarball.Image(open, &tag); err != nil {
			return nil, fmt.Errorf("reading %s (%s) of %s: %w", n.name, n.where, src, err)
		}
		byEntry[n.where] = n.img
	}
	return s, nil
}

// tarOpener opens the tar at path, ungzipping it when it is gzipped.
func tarOpener(path string) tarball.Opener {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(f)
		if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			zr, err := gzip.NewReader(br)
			if err != nil {
				f.Close()
				return nil, err
			}
			return readCloser{zr, f}, nil
		}
		return readCloser{br, f}, nil
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// sniffTar tells whether a tar holds an OCI layout (oci-layout and
// index.json at its top) and a docker save manifest.json.
func sniffTar(open tarball.Opener) (hasLayout, hasManifest bool, err error) {
	rc, err := open()
	if err != nil {
		return false, false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var ociLayout, index bool
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, false, err
		}
		switch path.Clean(h.Name) {
		case "oci-layout":
			ociLayout = true
		case "index.json":
			index = true
		case "manifest.json":
			hasManifest = true
		}
	}
	return ociLayout && index, hasManifest, nil
}

// unpackLayout writes the OCI layout in a tar to a new temporary
// directory. Only the layout's own files are written; as their names are
// cleaned first, none lands outside the directory.
func unpackLayout(open tarball.Opener) (dir string, err error) {
	rc, err := open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dir, err = os.MkdirTemp("", "plex-oci-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir, nil
		}
		if err != nil {
			return "", err
		}
		p := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !(p == "oci-layout" || p == "index.json" || strings.HasPrefix(p, "blobs/")) {
			continue
		}
		to := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return "", err
		}
		f, err := os.Create(to)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
}
