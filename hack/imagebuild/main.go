// Command imagebuild packs plex's offline Kubernetes binaries into single-layer
// linux/amd64 OCI images and pushes them to a plain-HTTP registry under the
// registry.k8s.io repository names, so that containerd can mirror
// registry.k8s.io to that registry and kubeadm keeps its default image
// repository:
//
//	kube-apiserver:v1.34.4  kube-controller-manager:v1.34.4  kube-scheduler:v1.34.4
//	kube-proxy:v1.34.4 (with iptables)  etcd:3.6.5-0  coredns/coredns:v1.12.1
//	(also coredns:v1.12.1)  pause:3.10.1
//
// The images are deterministic (fixed times, sorted tar), so an image whose
// digest is already in the registry is not pushed again.
//
//	go run ./hack/imagebuild --registry 127.0.0.1:5000 \
//	    --bin-dir /var/cache/plex-dev/k8s/v1.34.4/bin --iptables-root DIR [--check]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

type options struct {
	binDir        string
	version       string
	registry      string
	iptablesRoot  string
	iptablesMode  string
	etcdTag       string
	corednsTag    string
	pauseTag      string
	only          string
	jobs          int
	check         bool
	kubeadm       string
	chrootCheck   bool
	cacheDir      string
	extras        []string
	extraUser     string
	caBundle      string
	e2eBinDir     string
	e2eRoot       string
	e2eSrc        string
	flannelBinDir string
	flannelTag    string
	flannelCNITag string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o := &options{}
	cache := os.Getenv("PLEX_CACHE")
	if cache == "" {
		cache = "/var/cache/plex-dev"
	}
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	fs.StringVar(&o.binDir, "bin-dir", "", "directory with the built binaries (default $PLEX_CACHE/k8s/<version>/bin)")
	fs.StringVar(&o.version, "version", "v1.34.4", "Kubernetes version: the tag of the kube-* images")
	fs.StringVar(&o.registry, "registry", "", "registry HOST:PORT to push to, plain HTTP (required)")
	fs.StringVar(&o.iptablesRoot, "iptables-root", "", "directory with Debian's iptables and library packages unpacked (dpkg-deb -x)")
	fs.StringVar(&o.iptablesMode, "iptables-mode", "nft", "what kube-proxy's plain `iptables` runs: nft or legacy (Debian 12's default is nft)")
	fs.StringVar(&o.etcdTag, "etcd-tag", "3.6.5-0", "tag of the etcd image (kubeadm's constants.DefaultEtcdVersion)")
	fs.StringVar(&o.corednsTag, "coredns-tag", "v1.12.1", "tag of the coredns image (kubeadm's constants.CoreDNSVersion)")
	fs.StringVar(&o.pauseTag, "pause-tag", "3.10.1", "tag of the pause image (kubeadm's constants.PauseVersion)")
	fs.StringVar(&o.only, "only", "", "comma-separated repositories to build (default all), e.g. kube-proxy,pause; none builds only the --extra images")
	fs.IntVar(&o.jobs, "jobs", 2, "images built and pushed at once")
	fs.BoolVar(&o.check, "check", false, "afterwards, check that the registry has every image `kubeadm config images list` names")
	fs.StringVar(&o.kubeadm, "kubeadm", "", "kubeadm binary for --check (default <bin-dir>/kubeadm)")
	fs.BoolVar(&o.chrootCheck, "chroot-check", false, "afterwards, pull kube-proxy back, unpack it and run its iptables in a chroot and a new network namespace (root only)")
	fs.StringVar(&o.cacheDir, "cache-dir", filepath.Join(cache, "imagebuild"), "where to remember the digests of built images")
	fs.Func("extra", "also build REPO:TAG=BINARY, a static binary as a one-layer image (repeatable), e.g. plex-e2e/echo:v1=/tmp/echo", func(v string) error {
		o.extras = append(o.extras, v)
		return nil
	})
	fs.StringVar(&o.extraUser, "extra-user", "", "USER[:GROUP] the --extra images run as, e.g. 65534:65534 for controllers whose pods set runAsNonRoot (default root)")
	fs.StringVar(&o.caBundle, "ca-bundle", "", "PEM file put into the --extra images as /etc/ssl/certs/ca-certificates.crt (e.g. Debian's), for binaries that speak TLS")
	fs.StringVar(&o.e2eBinDir, "e2e-bin-dir", "", "also build the conformance suite's images (registry.k8s.io/e2e-test-images/*) from the agnhost in this directory (hack/conformance-artifacts.sh)")
	fs.StringVar(&o.e2eRoot, "e2e-root", "", "with --e2e-bin-dir: Debian's busybox-static, bind9-dnsutils, curl and libc-bin with their libraries, unpacked (dpkg-deb -x)")
	fs.StringVar(&o.e2eSrc, "e2e-src", "", "with --e2e-bin-dir: the k8s.io/kubernetes module directory, for agnhost's test certificate and the Update Demo pages")
	fs.StringVar(&o.flannelBinDir, "flannel-bin-dir", "", "also build flannel's images (registry.k8s.io/plex-e2e/flannel, …/flannel-cni-plugin) from the binaries in this directory (hack/flannel-artifacts.sh); needs --iptables-root")
	fs.StringVar(&o.flannelTag, "flannel-tag", "v0.28.10", "with --flannel-bin-dir: the tag of the flannel image (flanneld's version)")
	fs.StringVar(&o.flannelCNITag, "flannel-cni-tag", "v0.9.1", "with --flannel-bin-dir: the tag of the flannel-cni-plugin image (the containernetworking/plugins version it is built from)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.registry == "" {
		return errors.New("--registry HOST:PORT is required")
	}
	if strings.Contains(o.registry, "/") {
		return fmt.Errorf("--registry %q: give HOST:PORT only; the repository names are registry.k8s.io's", o.registry)
	}
	if o.binDir == "" {
		o.binDir = filepath.Join(cache, "k8s", o.version, "bin")
	}
	if o.kubeadm == "" {
		o.kubeadm = filepath.Join(o.binDir, "kubeadm")
	}
	if o.jobs < 1 {
		o.jobs = 1
	}

	comps := components(o)
	if o.only == "none" { // only the --extra images
		comps = nil
	} else if o.only != "" {
		want := map[string]bool{}
		for _, r := range strings.Split(o.only, ",") {
			want[strings.TrimSpace(r)] = true
		}
		var sel []component
		for _, c := range comps {
			if want[c.repo] || want[c.binary] {
				sel = append(sel, c)
				delete(want, c.repo)
				delete(want, c.binary)
			}
		}
		if len(want) > 0 {
			return fmt.Errorf("--only: unknown images %v", keys(want))
		}
		comps = sel
	}

	if o.e2eBinDir != "" {
		comps = append(comps, e2eComponents()...)
	}
	if o.flannelBinDir != "" {
		comps = append(comps, flannelComponents(o)...)
	}
	for _, e := range o.extras {
		ref, bin, ok := strings.Cut(e, "=")
		repo, tag, ok2 := strings.Cut(ref, ":")
		if !ok || !ok2 || bin == "" {
			return fmt.Errorf("--extra %q: write REPO:TAG=BINARY", e)
		}
		comps = append(comps, component{binary: filepath.Base(bin), repo: repo, tag: tag, path: bin, user: o.extraUser, caBundle: o.caBundle})
	}
	if err := pushAll(ctx, o, comps, out); err != nil {
		return err
	}
	if o.check {
		if err := checkKubeadmImages(ctx, o, out); err != nil {
			return err
		}
	}
	if o.chrootCheck {
		if err := chrootCheck(ctx, o, out); err != nil {
			return err
		}
	}
	return nil
}

func keys(m map[string]bool) []string {
	var r []string
	for k := range m {
		r = append(r, k)
	}
	return r
}
