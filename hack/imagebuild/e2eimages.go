package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The conformance suite (k8s.io/kubernetes/test/e2e) pulls its workload
// images from registry.k8s.io/e2e-test-images (test/utils/image/manifest.go).
// None of them can be pulled here, so they are rebuilt under the same names
// from what can be had: agnhost from its source in k8s.io/kubernetes, and the
// tools the upstream images take from Alpine (a shell and coreutils, dig,
// curl) from Debian's busybox-static, bind9-dnsutils and curl packages,
// unpacked into one directory (--e2e-root). Where upstream's image is a
// third-party server (httpd, nginx), busybox's httpd stands in: the tests use
// them as "a web server on port 80 serving an index.html from the usual
// place". hack/conformance-images.sh lists what each image stands in for.

// e2eImage is one image of the suite.
type e2eImage struct {
	repo, tag string // below registry.k8s.io
	// build fills the tree and sets the config's entrypoint, cmd and user.
	build func(o *options, t fileTree, cfg *v1.Config) error
}

// e2eImages lists the images --e2e-bin-dir builds, under registry.k8s.io's
// names and the tags of k8s.io/kubernetes v1.34's manifest.go.
func e2eImages() []e2eImage {
	return []e2eImage{
		{"e2e-test-images/agnhost", "2.56", buildAgnhost},
		{"e2e-test-images/busybox", "1.37.0-1", buildBusybox},
		{"e2e-test-images/jessie-dnsutils", "1.7", buildDnsutils},
		{"e2e-test-images/httpd", "2.4.38-4", webServer("/usr/local/apache2/htdocs", "<html><body><h1>It works!</h1></body></html>\n")},
		{"e2e-test-images/httpd", "2.4.39-4", webServer("/usr/local/apache2/htdocs", "<html><body><h1>It works! (new)</h1></body></html>\n")},
		{"e2e-test-images/nginx", "1.14-4", webServer("/usr/share/nginx/html", "<html><body><h1>Welcome to nginx!</h1></body></html>\n")},
		{"e2e-test-images/nginx", "1.15-4", webServer("/usr/share/nginx/html", "<html><body><h1>Welcome to nginx! (new)</h1></body></html>\n")},
		{"e2e-test-images/nonroot", "1.4", buildNonRoot},
		{"e2e-test-images/nonewprivs", "1.3", buildNonewprivs},
		{"e2e-test-images/nautilus", "1.7", demoServer("nautilus")},
		{"e2e-test-images/kitten", "1.7", demoServer("kitten")},
		// The Aggregator spec: the sample API server and the etcd beside it.
		{"e2e-test-images/sample-apiserver", "1.29.2", buildSampleAPIServer},
		{"etcd", "3.6.4-0", buildEtcd},
	}
}

// e2eComponents turns e2eImages into components for pushAll.
func e2eComponents() []component {
	var out []component
	for _, im := range e2eImages() {
		out = append(out, component{binary: path.Base(im.repo), repo: im.repo, tag: im.tag, e2e: im.build})
	}
	return out
}

// prepareE2E lays out an e2e image: the base tree, then what its build adds.
func prepareE2E(c component, o *options) (*recipe, error) {
	if o.e2eBinDir == "" || o.e2eRoot == "" {
		return nil, fmt.Errorf("building %s: --e2e-bin-dir and --e2e-root are required", c.ref())
	}
	cfg, err := baseConfig(c)
	if err != nil {
		return nil, err
	}
	t := baseTree()
	cfg.Config.Entrypoint = nil
	if err := c.e2e(o, t, &cfg.Config); err != nil {
		return nil, fmt.Errorf("building %s: %w", c.ref(), err)
	}
	return &recipe{tree: t, cfg: cfg, note: "plex hack/imagebuild: conformance image " + c.ref()}, nil
}

// addBusybox puts Debian's static busybox at /bin/busybox and one symlink per
// applet in /bin, where nothing else claims the name: the shell, coreutils,
// nc, wget, httpd… that the tests run inside Alpine-based images.
//
// One conformance difference stays: upstream's busybox shows the envFrom
// specs' variables whose names are no shell identifiers (data-1) to
// `sh -c env`, and Debian's busybox (1.35, and 1.37 of Debian 13) drops
// them before it runs env, as dash does. bash keeps them, but its error
// messages differ from the ones the read-only root file system spec
// expects ("/bin/sh: can't create /file: …"); that spec passes with
// busybox's shell, so the 4 envFrom specs are the ones written down.
func addBusybox(o *options, t fileTree) error {
	src := filepath.Join(o.e2eRoot, "bin/busybox")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("busybox: %w (unpack Debian's busybox-static into --e2e-root)", err)
	}
	t.copyFile("bin/busybox", src, 0o755)
	for _, a := range busyboxApplets {
		p := path.Join("bin", a)
		if _, ok := t[p]; !ok {
			t.symlink(p, "busybox")
		}
	}
	return nil
}

// busyboxApplets are the applets linked into /bin: those the e2e tests and
// their probes call, plus the usual shell tools. (busybox --list would name
// them all, but running a binary from the root at build time is not wanted.)
var busyboxApplets = []string{
	"[", "[[", "ash", "awk", "base64", "basename", "cat", "chgrp", "chmod", "chown", "chroot", "cmp", "cp", "cut",
	"date", "dd", "df", "diff", "dirname", "dmesg", "du", "echo", "egrep", "env", "expr", "false", "fgrep", "find",
	"free", "grep", "gunzip", "gzip", "head", "hexdump", "hostname", "httpd", "id", "ip", "kill", "ln", "ls", "md5sum",
	"mkdir", "mkfifo", "mknod", "mktemp", "mount", "mv", "nc", "netstat", "nproc", "nsenter", "nslookup", "od",
	"pidof", "ping", "ping6", "printenv", "printf", "ps", "pwd", "readlink", "realpath", "rev", "rm", "rmdir", "sed",
	"seq", "setsid", "sh", "sha1sum", "sha256sum", "sha512sum", "sleep", "sort", "stat", "sync", "sysctl", "tac",
	"tail", "tar", "tee", "test", "timeout", "top", "touch", "tr", "true", "truncate", "umount", "uname", "uniq",
	"unlink", "unshare", "uptime", "usleep", "wc", "wget", "which", "whoami", "xargs", "xxd", "yes", "zcat",
}

// debianTools are the programs of upstream's Alpine-based images that
// busybox lacks or takes other flags for, from Debian's packages: dig, host
// and nslookup (bind9-dnsutils); curl; getent (libc-bin; the DNS tests'
// /etc/hosts probe); OpenBSD's nc (the Services tests run `nc -v -t -w 2`,
// which busybox's nc refuses); ip and ss (iproute2; the NodePort tests run
// `ss -ant46`); and dash as /bin/sh, with bash beside it (upstream has
// both): Debian's static busybox shell runs its own applet for any command
// name it knows, whatever PATH says, so under it `nc` would be busybox's.
var debianTools = []string{"usr/bin/dig", "usr/bin/host", "usr/bin/nslookup", "usr/bin/curl", "usr/bin/getent",
	"bin/nc.openbsd", "bin/ip", "bin/ss", "bin/dash", "bin/bash"}

// addDebianTools copies debianTools, with every library they need, from
// --e2e-root, over busybox's applets of the same names.
func addDebianTools(o *options, t fileTree) error {
	c := &rootCollector{root: o.e2eRoot, tree: t, scanned: map[string]bool{}}
	for _, b := range debianTools {
		if err := c.add(b); err != nil {
			return fmt.Errorf("%w (unpack Debian's bind9-dnsutils, curl, libc-bin, netcat-openbsd, iproute2, dash and bash with their libraries into --e2e-root)", err)
		}
	}
	if err := c.closure(); err != nil {
		return err
	}
	// Debian's alternatives and /bin/sh, which dpkg-deb -x does not create.
	t.symlink("bin/nc", "nc.openbsd")
	t.symlink("bin/sh", "dash")
	for _, f := range []string{"etc/protocols", "etc/services"} {
		if _, err := os.Stat(filepath.Join(o.e2eRoot, f)); err == nil {
			t.copyFile(f, filepath.Join(o.e2eRoot, f), 0o644)
		}
	}
	return nil
}

// buildAgnhost: agnhost at /agnhost (and /agnhost-2, as upstream), porter's
// test certificate, the user and group the security-context tests expect
// the image to define, the shell tools, dig and curl.
func buildAgnhost(o *options, t fileTree, cfg *v1.Config) error {
	bin := filepath.Join(o.e2eBinDir, "agnhost")
	fi, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("agnhost: %w (run hack/conformance-artifacts.sh first)", err)
	}
	t.copyFile("agnhost", bin, fi.Mode().Perm()|0o555)
	t.symlink("agnhost-2", "agnhost")
	if o.e2eSrc != "" {
		for _, f := range []string{"localhost.crt", "localhost.key"} {
			t.copyFile(f, filepath.Join(o.e2eSrc, "test/images/agnhost/porter", f), 0o644)
		}
	}
	t.dir("uploads", 0o755)
	t.file("etc/passwd", 0o644, []byte(
		"root:x:0:0:root:/root:/bin/sh\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"))
	t.file("etc/group", 0o644, []byte(
		"root:x:0:\nnobody:x:65534:\nuser-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"))
	if err := addBusybox(o, t); err != nil {
		return err
	}
	if err := addDebianTools(o, t); err != nil {
		return err
	}
	cfg.Entrypoint = []string{"/agnhost"}
	cfg.Cmd = []string{"pause"}
	return nil
}

// buildBusybox: Debian's busybox 1.35 for upstream's 1.37.
func buildBusybox(o *options, t fileTree, cfg *v1.Config) error {
	if err := addBusybox(o, t); err != nil {
		return err
	}
	cfg.Cmd = []string{"sh"}
	return nil
}

// buildDnsutils: upstream's is Debian jessie with dnsutils; the tests run dig
// under sh.
func buildDnsutils(o *options, t fileTree, cfg *v1.Config) error {
	if err := addBusybox(o, t); err != nil {
		return err
	}
	if err := addDebianTools(o, t); err != nil {
		return err
	}
	cfg.Cmd = []string{"sh"}
	return nil
}

// buildNonRoot: upstream's is busybox with USER 1234.
func buildNonRoot(o *options, t fileTree, cfg *v1.Config) error {
	if err := addBusybox(o, t); err != nil {
		return err
	}
	cfg.User = "1234"
	cfg.Cmd = []string{"sh"}
	return nil
}

// buildNonewprivs: upstream's is Alpine with test/images/nonewprivs as
// /usr/local/bin/nnp, setuid root; it prints its effective uid, which
// no_new_privs (allowPrivilegeEscalation: false) keeps at the pod's.
func buildNonewprivs(o *options, t fileTree, cfg *v1.Config) error {
	bin := filepath.Join(o.e2eBinDir, "nnp")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("nnp: %w (run hack/conformance-artifacts.sh first)", err)
	}
	if err := addBusybox(o, t); err != nil {
		return err
	}
	t.copyFile("usr/local/bin/nnp", bin, fs.ModeSetuid|0o755)
	cfg.Cmd = []string{"nnp"}
	return nil
}

// webServer stands busybox's httpd in for upstream's httpd and nginx images:
// port 80, index.html under docroot, in the foreground.
func webServer(docroot, index string) func(*options, fileTree, *v1.Config) error {
	return func(o *options, t fileTree, cfg *v1.Config) error {
		if err := addBusybox(o, t); err != nil {
			return err
		}
		t.file(path.Join(docroot, "index.html"), 0o644, []byte(index))
		cfg.Entrypoint = []string{"/bin/httpd", "-f", "-v", "-p", "80", "-h", docroot}
		return nil
	}
}

// demoServer: the kubectl Update Demo images are agnhost's test-webserver
// serving the image's files from /; the html comes from the module.
func demoServer(name string) func(*options, fileTree, *v1.Config) error {
	return func(o *options, t fileTree, cfg *v1.Config) error {
		if err := buildAgnhost(o, t, cfg); err != nil {
			return err
		}
		if o.e2eSrc == "" {
			return fmt.Errorf("%s: --e2e-src (the k8s.io/kubernetes module directory) is required", name)
		}
		dir := filepath.Join(o.e2eSrc, "test/images", name, "html")
		des, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		names := make([]string, 0, len(des))
		for _, de := range des {
			names = append(names, de.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			t.copyFile(n, filepath.Join(dir, n), 0o644)
		}
		cfg.Cmd = []string{"test-webserver"}
		return nil
	}
}

// buildSampleAPIServer: k8s.io/sample-apiserver at the staging version (the
// Aggregator spec gives it only flags); upstream's is 1.29.2.
func buildSampleAPIServer(o *options, t fileTree, cfg *v1.Config) error {
	bin := filepath.Join(o.e2eBinDir, "sample-apiserver")
	fi, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("sample-apiserver: %w (run hack/conformance-artifacts.sh first)", err)
	}
	t.copyFile("kube-sample-apiserver", bin, fi.Mode().Perm()|0o555)
	cfg.Entrypoint = []string{"/kube-sample-apiserver"}
	return nil
}

// buildEtcd: the suite's etcd tag (manifest.go's, one patch behind kubeadm's)
// with our etcd; the Aggregator spec runs /usr/local/bin/etcd.
func buildEtcd(o *options, t fileTree, cfg *v1.Config) error {
	bin := filepath.Join(o.binDir, "etcd")
	fi, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("etcd: %w (run hack/k8s-artifacts.sh first)", err)
	}
	t.copyFile("usr/local/bin/etcd", bin, fi.Mode().Perm()|0o555)
	cfg.Entrypoint = []string{"/usr/local/bin/etcd"}
	return nil
}
