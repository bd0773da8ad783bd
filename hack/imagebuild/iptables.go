package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// kube-proxy (iptables mode) runs iptables, iptables-save, iptables-restore and
// their ip6tables twins. The files come from Debian's iptables package and its
// libraries, unpacked with dpkg-deb -x into one directory (--iptables-root):
// the two multi-call binaries, the symlinks that name them, the xtables
// extensions, and every shared library they need, found by following the ELF
// NEEDED entries, down to the dynamic loader.

const (
	sbinDir     = "usr/sbin"
	xtablesDir  = "usr/lib/x86_64-linux-gnu/xtables"
	nftMulti    = "xtables-nft-multi"
	legacyMulti = "xtables-legacy-multi"
)

// libDirs is where the loader of a Debian 12 amd64 system looks for
// libraries without an ld.so.cache.
var libDirs = []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib"}

// rootCollector copies files from a Debian root (packages unpacked with
// dpkg-deb -x) into a layer tree, with the libraries and loader they need:
// kube-proxy's iptables, and the conformance images' dig and curl.
type rootCollector struct {
	root    string
	tree    fileTree
	scanned map[string]bool
	queue   []string
}

// addIptables puts iptables (nft and legacy), the extensions, their libraries
// and the loader into t. mode ("nft" or "legacy") chooses what the plain
// names iptables, iptables-save … point to, as Debian's alternatives would.
func addIptables(t fileTree, root, mode string) error {
	if mode != "nft" && mode != "legacy" {
		return fmt.Errorf("iptables mode %q: want nft or legacy", mode)
	}
	c := &rootCollector{root: root, tree: t, scanned: map[string]bool{}}
	for _, multi := range []string{nftMulti, legacyMulti} {
		if err := c.add(path.Join(sbinDir, multi)); err != nil {
			return fmt.Errorf("adding %s from %s (unpack Debian's iptables package there): %w", multi, root, err)
		}
	}

	// The per-command names are symlinks to the multi-call binaries.
	sbin, err := os.ReadDir(filepath.Join(root, sbinDir))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(root, sbinDir), err)
	}
	for _, de := range sbin {
		if de.Type()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(root, sbinDir, de.Name()))
		if err != nil {
			return err
		}
		if b := path.Base(target); b == nftMulti || b == legacyMulti {
			t.symlink(path.Join(sbinDir, de.Name()), target)
		}
	}

	// Debian's alternatives, which dpkg-deb -x does not create.
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, suffix := range []string{"", "-save", "-restore"} {
			name := fam + suffix
			target := fam + "-" + mode + suffix
			if _, ok := t[path.Join(sbinDir, target)]; !ok {
				return fmt.Errorf("%s is missing in %s; is the iptables package unpacked there?", target, root)
			}
			t.symlink(path.Join(sbinDir, name), target)
		}
	}

	exts, err := os.ReadDir(filepath.Join(root, xtablesDir))
	if err != nil {
		return fmt.Errorf("reading the xtables extensions: %w", err)
	}
	for _, de := range exts {
		if err := c.add(path.Join(xtablesDir, de.Name())); err != nil {
			return err
		}
	}

	if err := c.closure(); err != nil {
		return err
	}

	// Protocol and service names (-p tcp, --dport http) resolve through these.
	for _, f := range []string{"etc/protocols", "etc/services", "etc/ethertypes"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			t.copyFile(f, filepath.Join(root, f), 0o644)
		}
	}
	return nil
}

// add copies rel (a path inside root) into the tree. A symlink is kept as a
// symlink and its target is added too; an ELF file is queued for scanning.
func (c *rootCollector) add(rel string) error {
	rel = clean(rel)
	for hops := 0; hops < 16; hops++ {
		if _, ok := c.tree[rel]; ok && c.scanned[rel] {
			return nil
		}
		full := filepath.Join(c.root, rel)
		fi, err := os.Lstat(full)
		if err != nil {
			return fmt.Errorf("adding /%s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("/%s in %s is not a regular file", rel, c.root)
			}
			c.tree.copyFile(rel, full, fi.Mode().Perm())
			if !c.scanned[rel] {
				c.scanned[rel] = true
				c.queue = append(c.queue, rel)
			}
			return nil
		}
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		c.tree.symlink(rel, target)
		c.scanned[rel] = true
		if path.IsAbs(target) {
			rel = clean(target)
		} else {
			rel = clean(path.Join(path.Dir(rel), target))
		}
	}
	return fmt.Errorf("too many symlinks from /%s", rel)
}

// closure follows PT_INTERP and DT_NEEDED of every queued ELF file.
func (c *rootCollector) closure() error {
	for len(c.queue) > 0 {
		rel := c.queue[0]
		c.queue = c.queue[1:]
		f, err := elf.Open(filepath.Join(c.root, rel))
		if err != nil {
			var fe *elf.FormatError
			if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				continue // not ELF (a script, a file shorter than a header): nothing to follow
			}
			return fmt.Errorf("reading /%s: %w", rel, err)
		}
		var needs []string
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					needs = append(needs, "/"+clean(strings.TrimRight(string(b), "\x00")))
				}
			}
		}
		libs, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return fmt.Errorf("reading the libraries /%s needs: %w", rel, err)
		}
		needs = append(needs, libs...)
		for _, n := range needs {
			if strings.HasPrefix(n, "/") {
				if err := c.add(n); err != nil {
					return fmt.Errorf("/%s needs %s: %w", rel, n, err)
				}
				continue
			}
			found := false
			for _, d := range libDirs {
				if _, err := os.Lstat(filepath.Join(c.root, d, n)); err == nil {
					if err := c.add(path.Join(d, n)); err != nil {
						return err
					}
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("/%s needs %s, which is in none of %v under %s (download its Debian package too)", rel, n, libDirs, c.root)
			}
		}
	}
	return nil
}
