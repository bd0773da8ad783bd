package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeFlannel lays out what --flannel-bin-dir and --iptables-root hold, with
// small stand-in files (not ELF, so no libraries are looked for).
func fakeFlannel(t *testing.T) *options {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"bin/flanneld", "bin/install-conf", "bin/flannel",
		"root/usr/sbin/xtables-nft-multi", "root/usr/sbin/xtables-legacy-multi",
		"root/usr/lib/x86_64-linux-gnu/xtables/libxt_MASQUERADE.so"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(filepath.Base(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, mode := range []string{"nft", "legacy"} {
			for _, suffix := range []string{"", "-save", "-restore"} {
				if err := os.Symlink("xtables-"+mode+"-multi", filepath.Join(dir, "root/usr/sbin", fam+"-"+mode+suffix)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return &options{flannelBinDir: filepath.Join(dir, "bin"), iptablesRoot: filepath.Join(dir, "root"), iptablesMode: "nft",
		flannelTag: "v0.28.10", flannelCNITag: "v0.9.1"}
}

func TestFlannelImages(t *testing.T) {
	o := fakeFlannel(t)
	comps := flannelComponents(o)
	if len(comps) != 2 || comps[0].ref() != "plex-e2e/flannel:v0.28.10" || comps[1].ref() != "plex-e2e/flannel-cni-plugin:v0.9.1" {
		t.Fatalf("flannel images: %v", comps)
	}
	recipes := map[string]*recipe{}
	for _, c := range comps {
		r, err := prepare(c, o)
		if err != nil {
			t.Fatalf("%s: %v", c.ref(), err)
		}
		if _, err := r.build(); err != nil {
			t.Fatalf("%s: %v", c.ref(), err)
		}
		recipes[c.repo] = r
	}
	fl := recipes["plex-e2e/flannel"]
	// flanneld runs iptables, iptables-save and iptables-restore by name.
	for _, p := range []string{"opt/bin/flanneld", "opt/bin/install-conf", "usr/sbin/iptables", "usr/sbin/iptables-save", "usr/sbin/iptables-restore", "run/flannel"} {
		if _, ok := fl.tree[p]; !ok {
			t.Errorf("flannel image lacks /%s", p)
		}
	}
	if e := fl.tree["usr/sbin/iptables"]; e.linkname != "iptables-nft" {
		t.Errorf("/usr/sbin/iptables -> %q, want iptables-nft (--iptables-mode)", e.linkname)
	}
	if !slices.Equal(fl.cfg.Config.Entrypoint, []string{"/opt/bin/flanneld"}) {
		t.Errorf("flannel runs %v", fl.cfg.Config.Entrypoint)
	}
	plugin := recipes["plex-e2e/flannel-cni-plugin"]
	for _, p := range []string{"flannel", "opt/bin/install-conf"} {
		if e, ok := plugin.tree[p]; !ok || e.mode.Perm()&0o111 == 0 {
			t.Errorf("flannel-cni-plugin image: /%s present %v, mode %v; want an executable", p, ok, e.mode)
		}
	}
}

func TestFlannelImagesNeedTheirInputs(t *testing.T) {
	o := fakeFlannel(t)
	o.iptablesRoot = ""
	if _, err := prepare(flannelComponents(o)[0], o); err == nil || !strings.Contains(err.Error(), "--iptables-root is required") {
		t.Errorf("no --iptables-root: err = %v", err)
	}
	o.flannelBinDir = t.TempDir()
	if _, err := prepare(flannelComponents(o)[1], o); err == nil || !strings.Contains(err.Error(), "hack/flannel-artifacts.sh") {
		t.Errorf("empty --flannel-bin-dir: err = %v, want advice to run hack/flannel-artifacts.sh", err)
	}
}
