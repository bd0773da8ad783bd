package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeE2E lays out what --e2e-bin-dir, --e2e-root and --e2e-src hold, with
// small stand-in files (not ELF, so no libraries are looked for).
func fakeE2E(t *testing.T) *options {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"bin/sample-apiserver":  "sample-apiserver",
		"k8s/etcd":              "etcd",
		"bin/agnhost":           "agnhost",
		"bin/nnp":               "nnp",
		"root/bin/busybox":      "busybox",
		"root/usr/bin/dig":      "dig",
		"root/usr/bin/host":     "host",
		"root/usr/bin/nslookup": "nslookup",
		"root/usr/bin/curl":     "curl",
		"root/usr/bin/getent":   "getent",
		"root/bin/nc.openbsd":   "nc",
		"root/bin/ip":           "ip",
		"root/bin/ss":           "ss",
		"root/bin/dash":         "dash",
		"root/bin/bash":         "bash",
		"src/test/images/agnhost/porter/localhost.crt": "crt",
		"src/test/images/agnhost/porter/localhost.key": "key",
		"src/test/images/nautilus/html/nautilus.jpg":   "jpg",
		"src/test/images/nautilus/html/data.json":      "{}",
		"src/test/images/kitten/html/kitten.jpg":       "jpg",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &options{e2eBinDir: filepath.Join(dir, "bin"), e2eRoot: filepath.Join(dir, "root"), e2eSrc: filepath.Join(dir, "src"),
		binDir: filepath.Join(dir, "k8s")}
}

func e2eRecipe(t *testing.T, o *options, ref string) *recipe {
	t.Helper()
	for _, c := range e2eComponents() {
		if c.ref() == ref {
			r, err := prepare(c, o)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			return r
		}
	}
	t.Fatalf("no e2e image %s", ref)
	return nil
}

func TestE2EImages(t *testing.T) {
	o := fakeE2E(t)
	// Every image the list names can be laid out and packed.
	for _, c := range e2eComponents() {
		r, err := prepare(c, o)
		if err != nil {
			t.Fatalf("%s: %v", c.ref(), err)
		}
		if _, err := r.build(); err != nil {
			t.Fatalf("%s: %v", c.ref(), err)
		}
	}

	ag := e2eRecipe(t, o, "e2e-test-images/agnhost:2.56")
	for _, p := range []string{"agnhost", "agnhost-2", "bin/sh", "bin/nc", "usr/bin/dig", "usr/bin/curl", "localhost.crt", "uploads"} {
		if _, ok := ag.tree[p]; !ok {
			t.Errorf("agnhost lacks /%s", p)
		}
	}
	if e := ag.tree["bin/sh"]; e.linkname != "dash" {
		t.Errorf("agnhost's /bin/sh -> %q, want dash (busybox's static shell prefers its applets to PATH)", e.linkname)
	}
	bbt := e2eRecipe(t, o, "e2e-test-images/busybox:1.37.0-1").tree
	if e := bbt["bin/sh"]; e.linkname != "busybox" {
		t.Errorf("busybox's /bin/sh -> %q, want busybox (the read-only root spec expects ash's error message)", e.linkname)
	}
	for _, a := range []string{"bin/hexdump", "bin/sysctl", "bin/od"} {
		if _, ok := bbt[a]; !ok {
			t.Errorf("busybox lacks /%s (the ConfigMap binary data and Sysctls specs run it)", a)
		}
	}
	if e := e2eRecipe(t, o, "e2e-test-images/nonewprivs:1.3").tree["usr/local/bin/nnp"]; e.mode&fs.ModeSetuid == 0 || e.src == "" {
		t.Errorf("nonewprivs' /usr/local/bin/nnp is %+v, want the built nnp, setuid", e)
	}
	if e := ag.tree["bin/nc"]; e.linkname != "nc.openbsd" {
		t.Errorf("/bin/nc -> %q, want Debian's nc.openbsd (busybox's takes other flags)", e.linkname)
	}
	if e := ag.tree["bin/ss"]; e.src == "" {
		t.Errorf("/bin/ss is not iproute2's: %+v", e)
	}
	if !strings.Contains(string(ag.tree["etc/group"].data), "group-defined-in-image:x:50000:user-defined-in-image") {
		t.Errorf("agnhost's /etc/group lacks the group the security-context tests expect:\n%s", ag.tree["etc/group"].data)
	}
	if !slices.Equal(ag.cfg.Config.Entrypoint, []string{"/agnhost"}) || !slices.Equal(ag.cfg.Config.Cmd, []string{"pause"}) {
		t.Errorf("agnhost runs %v %v, want [/agnhost] [pause]", ag.cfg.Config.Entrypoint, ag.cfg.Config.Cmd)
	}

	web := e2eRecipe(t, o, "e2e-test-images/httpd:2.4.38-4")
	if _, ok := web.tree["usr/local/apache2/htdocs/index.html"]; !ok {
		t.Error("httpd stand-in lacks /usr/local/apache2/htdocs/index.html")
	}
	if ep := web.cfg.Config.Entrypoint; len(ep) == 0 || ep[0] != "/bin/httpd" || !slices.Contains(ep, "80") {
		t.Errorf("httpd stand-in runs %v, want busybox httpd on port 80", ep)
	}
	if u := e2eRecipe(t, o, "e2e-test-images/nonroot:1.4").cfg.Config.User; u != "1234" {
		t.Errorf("nonroot runs as %q, want 1234", u)
	}
	nau := e2eRecipe(t, o, "e2e-test-images/nautilus:1.7")
	if _, ok := nau.tree["nautilus.jpg"]; !ok || !slices.Equal(nau.cfg.Config.Cmd, []string{"test-webserver"}) {
		t.Errorf("nautilus: /nautilus.jpg present %v, cmd %v", ok, nau.cfg.Config.Cmd)
	}
	bb := e2eRecipe(t, o, "e2e-test-images/busybox:1.37.0-1")
	if bb.cfg.Config.Entrypoint != nil || !slices.Equal(bb.cfg.Config.Cmd, []string{"sh"}) {
		t.Errorf("busybox runs %v %v, want no entrypoint and [sh]", bb.cfg.Config.Entrypoint, bb.cfg.Config.Cmd)
	}
}

func TestE2EImagesNeedTheirInputs(t *testing.T) {
	o := fakeE2E(t)
	o.e2eRoot = t.TempDir() // no busybox, no dig
	_, err := prepare(e2eComponents()[0], o)
	if err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("empty --e2e-root: err = %v, want advice to unpack busybox-static", err)
	}
	_, err = prepare(e2eComponents()[0], &options{})
	if err == nil || !strings.Contains(err.Error(), "--e2e-bin-dir") {
		t.Errorf("no --e2e-bin-dir: err = %v", err)
	}
}
