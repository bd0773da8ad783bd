package main

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// component is one image: a binary from --bin-dir packed under the
// registry.k8s.io repository name that kubeadm (or containerd's sandbox_image)
// asks for.
type component struct {
	binary   string
	repo     string   // path below registry.k8s.io
	tag      string   //
	aliases  []string // further repo:tag names for the same image
	iptables bool     // also carry iptables (kube-proxy)
	path     string   // the binary's path, when it is not in --bin-dir (--extra)
	user     string   // USER[:GROUP] of the image config; empty is root (--extra-user)
	caBundle string   // a PEM file to carry as the system CA bundle (--ca-bundle)
	// e2e, when set, lays out a conformance image instead (e2eimages.go).
	e2e func(o *options, t fileTree, cfg *v1.Config) error
	// flannel, when set, lays out one of flannel's images (flannel.go) and
	// returns the layer's note.
	flannel func(o *options, t fileTree, cfg *v1.Config) (string, error)
}

func (c component) ref() string { return c.repo + ":" + c.tag }

// components lists the images kubeadm needs for a cluster of k8sVersion.
func components(o *options) []component {
	return []component{
		{binary: "kube-apiserver", repo: "kube-apiserver", tag: o.version},
		{binary: "kube-controller-manager", repo: "kube-controller-manager", tag: o.version},
		{binary: "kube-scheduler", repo: "kube-scheduler", tag: o.version},
		{binary: "kube-proxy", repo: "kube-proxy", tag: o.version, iptables: true},
		{binary: "etcd", repo: "etcd", tag: o.etcdTag},
		// kubeadm asks for coredns/coredns under registry.k8s.io and for a flat
		// coredns under any custom imageRepository; serve both.
		{binary: "coredns", repo: "coredns/coredns", tag: o.corednsTag, aliases: []string{"coredns:" + o.corednsTag}},
		{binary: "pause", repo: "pause", tag: o.pauseTag},
	}
}

const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseTree is what every image has besides its binary: /tmp, a minimal user
// database and an nsswitch.conf, so that Go's resolver and user lookups behave.
func baseTree() fileTree {
	t := fileTree{}
	t.dir("tmp", 0o777|os.ModeSticky)
	t.dir("run", 0o755)
	t.dir("root", 0o700)
	t.dir("etc", 0o755)
	t.file("etc/passwd", 0o644, []byte(
		"root:x:0:0:root:/root:/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
	t.file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"))
	t.file("etc/nsswitch.conf", 0o644, []byte(
		"passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"))
	return t
}

// recipe is everything an image is made of, before any file is read.
type recipe struct {
	tree fileTree
	cfg  *v1.ConfigFile
	note string // history: how the layer was made
}

// prepare lays out the files and the config of c's image.
func prepare(c component, o *options) (*recipe, error) {
	if c.e2e != nil {
		return prepareE2E(c, o)
	}
	if c.flannel != nil {
		return prepareFlannel(c, o)
	}
	bin := c.path
	if bin == "" {
		bin = filepath.Join(o.binDir, c.binary)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w (run hack/k8s-artifacts.sh first)", c.ref(), err)
	}
	t := baseTree()
	t.copyFile("usr/local/bin/"+c.binary, bin, fi.Mode().Perm()|0o555)
	note := "plex hack/imagebuild: " + c.binary
	if c.iptables {
		if o.iptablesRoot == "" {
			return nil, fmt.Errorf("building %s: --iptables-root is required (a directory with Debian's iptables packages unpacked)", c.ref())
		}
		if err := addIptables(t, o.iptablesRoot, o.iptablesMode); err != nil {
			return nil, fmt.Errorf("building %s: %w", c.ref(), err)
		}
		note += " + iptables (" + o.iptablesMode + ")"
	}
	if c.caBundle != "" {
		if _, err := os.Stat(c.caBundle); err != nil {
			return nil, fmt.Errorf("building %s: --ca-bundle: %w", c.ref(), err)
		}
		t.copyFile("etc/ssl/certs/ca-certificates.crt", c.caBundle, 0o644)
		note += " + CA bundle"
	}

	cfg, err := baseConfig(c)
	if err != nil {
		return nil, err
	}
	return &recipe{tree: t, cfg: cfg, note: note}, nil
}

// baseConfig is the image config of c: linux/amd64, PATH, the binary as the
// entrypoint, c's user, and labels that name the image.
func baseConfig(c component) (*v1.ConfigFile, error) {
	cfg, err := empty.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = "amd64"
	cfg.OS = "linux"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Env = []string{pathEnv}
	// kubeadm's manifests give a command for every image but coredns and the
	// sandbox (pause); an entrypoint everywhere also makes `ctr run` work.
	cfg.Config.Entrypoint = []string{"/usr/local/bin/" + c.binary}
	cfg.Config.WorkingDir = "/"
	// Pods that set runAsNonRoot without runAsUser (Flux's controllers) need
	// a numeric non-root user in the image.
	cfg.Config.User = c.user
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   c.repo,
		"org.opencontainers.image.version": c.tag,
		"dev.plex.built-by":                "hack/imagebuild",
	}
	return cfg, nil
}

// built is an image ready to push.
type built struct {
	img     v1.Image
	digest  v1.Hash
	rawSize int64 // uncompressed layer
	zipSize int64 // compressed layer
}

// build reads the files and makes the single-layer linux/amd64 OCI image.
func (r *recipe) build() (*built, error) {
	layer, rawSize, err := r.tree.layer()
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(empty.Image, r.cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: r.note},
	})
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	zipSize, err := layer.Size()
	if err != nil {
		return nil, err
	}
	return &built{img: img, digest: d, rawSize: rawSize, zipSize: zipSize}, nil
}
