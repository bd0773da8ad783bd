package warm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/plex-dev/plex/core/registry/engine"
)

// LabPrefix is the first element of every repository in the lab namespace
// (engine.LabPrefix).
const LabPrefix = engine.LabPrefix

// LoadOptions say where LoadOCI pushes. Zero values mean the defaults.
type LoadOptions struct {
	// Registry is the host:port of the registry serving the lab namespace
	// (10.212.0.143:5050).
	Registry string
	// Insecure speaks plain HTTP to Registry whatever its address; without
	// it, go-containerregistry uses HTTP for private and loopback addresses
	// only.
	Insecure bool
	// Auth are the credentials to push with; nil pushes anonymously.
	Auth authn.Authenticator
	// Repository, under lab/, receives the images the source names by a
	// tag alone (an org.opencontainers.image.ref.name of v1). Default: the
	// source's file name without .tar, .tar.gz or .tgz, made a valid
	// repository name.
	Repository string
	// Attempts is how often one image's push is tried; default 3.
	Attempts int
	// RetryDelay is the wait before the first retry, doubling after each;
	// default 500 ms.
	RetryDelay time.Duration
	// Log, when set, receives a line for each image pushed.
	Log func(format string, args ...any)
}

// Loaded is one image (or image index) LoadOCI pushed.
type Loaded struct {
	// Source is the image's name in the source: an index.json annotation,
	// or a manifest.json RepoTags entry.
	Source string `json:"source"`
	// Ref is the tag pushed, <Registry>/lab/<repository>:<tag>.
	Ref string `json:"ref"`
	// Digest is the manifest's digest. From an OCI layout it is the
	// source's own; a docker save tarball holds no manifest, so
	// go-containerregistry writes one.
	Digest string `json:"digest"`
}

// LoadOCI pushes the images built elsewhere into the lab namespace of
// o.Registry. src is an OCI image layout directory, an OCI archive (a tar
// of a layout, as `podman save --format oci-archive` writes) or a `docker
// save` tarball; a tar may be gzipped. A tar with both a layout and a
// manifest.json (Docker 25 and later write both) is read as a layout,
// which keeps the digests.
//
// Every entry of the layout's index.json is pushed as it is, an index whole
// with every image it lists, so digests do not change. Its name is the
// annotation io.containerd.image.name, else
// org.opencontainers.image.ref.name. A full name example.com/team/app:v1
// becomes <Registry>/lab/team/app:v1: the registry is dropped and the
// repository kept (Docker Hub's nginx:1 is lab/library/nginx:1); a name
// already in <Registry>/lab/ keeps its repository. A name without '/', ':'
// or '@' is a tag and goes to lab/<Repository>. An image without a name, or
// named by digest only, is refused rather than pushed by digest: Zot, which
// collects garbage, deletes untagged manifests, so it would vanish.
//
// The source and every name are checked before the first push, so a bad
// one pushes nothing. When a push fails after others succeeded, what was
// pushed comes back with the error.
func LoadOCI(ctx context.Context, src string, o LoadOptions) ([]Loaded, error) {
	if err := o.complete(src); err != nil {
		return nil, err
	}
	s, err := openSource(src)
	if err != nil {
		return nil, err
	}
	defer s.close()
	pushes, err := o.plan(src, s)
	if err != nil {
		return nil, err
	}
	rt := labTransport(6)
	var out []Loaded
	for i, p := range pushes {
		_, err := retryUpTo(ctx, o.Attempts, o.RetryDelay, func() error { return o.push(ctx, rt, p) })
		if err != nil {
			return out, fmt.Errorf("pushing %s (%s) as %s, image %d of %d: %w", p.src.name, p.src.where, p.ref, i+1, len(pushes), o.explain(err))
		}
		d := p.src.digest
		if d == (v1.Hash{}) {
			if d, err = p.src.img.Digest(); err != nil {
				return out, fmt.Errorf("computing the digest of %s: %w", p.src.name, err)
			}
		}
		out = append(out, Loaded{Source: p.src.name, Ref: p.ref.String(), Digest: d.String()})
		o.logf("pushed %s as %s@%s", p.src.name, p.ref, d)
	}
	return out, nil
}

// complete checks o and sets its defaults.
func (o *LoadOptions) complete(src string) error {
	switch {
	case o.Registry == "":
		return errors.New("registry is empty: set Registry to the host:port of the registry serving the lab namespace, like 10.212.0.143:5050")
	case strings.Contains(o.Registry, "://"):
		return fmt.Errorf("registry %q has a scheme: set Registry to host:port only, and Insecure for plain HTTP", o.Registry)
	}
	if _, err := name.NewRegistry(o.Registry, name.StrictValidation); err != nil {
		return fmt.Errorf("registry %q is not a host:port: %v", o.Registry, err)
	}
	if o.Repository != "" && !repositoryRE.MatchString(o.Repository) {
		return fmt.Errorf("repository %q is not a repository name: use lowercase letters and digits, with '.', '_', '__' or dashes between them and '/' between path components", o.Repository)
	}
	if o.Repository == "" {
		// Left empty when the file name makes none; a bare tag then asks
		// for Repository.
		o.Repository = repositoryFromPath(src)
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	return nil
}

func (o *LoadOptions) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// push is one image of the source and the tag it is pushed as.
type push struct {
	src *named
	ref name.Tag
}

// plan names every image of s in the lab namespace, reporting every name
// that fails at once, and drops repeats: the same image under the same
// name twice.
func (o *LoadOptions) plan(src string, s *source) ([]push, error) {
	var out []push
	var errs []string
	byRef := map[string]*named{}
	for _, n := range s.images {
		var ref name.Tag
		var err error
		if n.name == "" {
			err = fmt.Errorf("it has no name, and the lab namespace keeps images by tag only (a registry may delete an untagged manifest): %s", s.unnamedFix)
		} else {
			ref, err = o.target(n.name)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n.where, err))
			continue
		}
		if prev, ok := byRef[ref.String()]; ok {
			if !prev.same(n) {
				errs = append(errs, fmt.Sprintf("%s (%s) and %s (%s) are different images that would both be %s: rename one in the source", prev.where, prev.name, n.where, n.name, ref))
			}
			continue
		}
		byRef[ref.String()] = n
		out = append(out, push{src: n, ref: ref})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("loading %s: nothing was pushed, as %d of its images cannot be named in %s/%s/:\n%s", src, len(errs), o.Registry, LabPrefix, strings.Join(errs, "\n"))
	}
	return out, nil
}

// bareTagRE is a name that is a tag alone, not a reference.
var bareTagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// repositoryRE is the distribution spec's repository name, stricter than
// go-containerregistry, which accepts a//b or a-.
var repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// target is the tag in the lab namespace for an image the source names s.
func (o *LoadOptions) target(s string) (name.Tag, error) {
	var repo, tag string
	if bareTagRE.MatchString(s) {
		if o.Repository == "" {
			return name.Tag{}, fmt.Errorf("it is named by the tag %q alone, and the source's file name makes no repository name: set Repository", s)
		}
		repo, tag = o.Repository, s
	} else {
		ref, err := name.ParseReference(s)
		if err != nil {
			return name.Tag{}, fmt.Errorf("its name %q is neither a tag nor an image reference (%v): rename it in the source", s, err)
		}
		t, ok := ref.(name.Tag)
		if !ok {
			return name.Tag{}, fmt.Errorf("its name %q has a digest, and the lab namespace keeps images by tag only (a registry may delete an untagged manifest): name it repository:tag in the source", s)
		}
		repo, tag = t.RepositoryStr(), t.TagStr()
		if r, ok := strings.CutPrefix(repo, LabPrefix+"/"); ok && t.RegistryStr() == o.Registry {
			// Pulled from the lab namespace before: it keeps its name.
			repo = r
		}
	}
	full := LabPrefix + "/" + repo
	if !repositoryRE.MatchString(full) {
		return name.Tag{}, fmt.Errorf("%s, its repository in the lab namespace, is not a repository name: rename it in the source", full)
	}
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(o.Registry+"/"+full+":"+tag, append(opts, name.StrictValidation)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("its name in the lab namespace, %s/%s:%s, is not a valid reference (%v): rename it in the source", o.Registry, full, tag, err)
	}
	return ref, nil
}

// push writes one image or index as the source holds it: manifests and
// blobs are not rewritten, so the digests stay.
func (o *LoadOptions) push(ctx context.Context, rt http.RoundTripper, p push) error {
	auth := o.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	opts := append(ownRetries(),
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(rt),
		remote.WithUserAgent("plex-registry"),
	)
	if p.src.idx != nil {
		return remote.WriteIndex(p.ref, p.src.idx, opts...)
	}
	return remote.Write(p.ref, p.src.img, opts...)
}

// explain adds the fix to a refusal of the registry.
func (o *LoadOptions) explain(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	anonymous := o.Auth == nil || o.Auth == authn.Anonymous
	switch {
	case te.StatusCode == http.StatusUnauthorized && anonymous:
		return fmt.Errorf("%w: %s needs credentials to push: set Auth", err, o.Registry)
	case te.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s refused the credentials in Auth: check them", err, o.Registry)
	case te.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s does not let these credentials push to %s/: give Auth credentials that may", err, o.Registry, LabPrefix)
	}
	return err
}

// repositoryFromPath makes a repository name of a source's file name:
// lowercase, its archive extension dropped, each run of other characters
// a dash. It is empty when nothing is left.
func repositoryFromPath(src string) string {
	base := strings.ToLower(filepath.Base(filepath.Clean(src)))
	for _, ext := range []string{".gz", ".tgz", ".tar"} {
		base = strings.TrimSuffix(base, ext)
	}
	var b strings.Builder
	sep := ""
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if b.Len() > 0 {
				b.WriteString(sep)
			}
			sep = ""
			b.WriteRune(r)
		case sep == "" && (r == '.' || r == '_'):
			sep = string(r)
		default:
			sep = "-"
		}
	}
	return b.String()
}
