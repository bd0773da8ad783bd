package main

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestLayerIsDeterministic(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	digest := func() string {
		tree := baseTree()
		tree.copyFile("usr/local/bin/tool", bin, 0o755)
		l, _, err := tree.layer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := digest(), digest(); a != b {
		t.Fatalf("two builds of one tree differ: %s != %s", a, b)
	}
}

func TestTarballHasParentsAndModes(t *testing.T) {
	tree := baseTree()
	tree.file("usr/local/bin/x", 0o755, []byte("x"))
	tree.file("usr/local/bin/suid", fs.ModeSetuid|0o755, []byte("s"))
	tree.symlink("usr/sbin/iptables", "iptables-nft")
	raw, err := tree.tarball()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		order = append(order, h.Name)
	}
	for _, tc := range []struct {
		name string
		typ  byte
		mode int64
	}{
		{"tmp/", tar.TypeDir, 0o1777},
		{"usr/", tar.TypeDir, 0o755},
		{"usr/local/bin/", tar.TypeDir, 0o755},
		{"usr/local/bin/x", tar.TypeReg, 0o755},
		{"usr/local/bin/suid", tar.TypeReg, 0o4755},
		{"usr/sbin/iptables", tar.TypeSymlink, 0o777},
		{"etc/passwd", tar.TypeReg, 0o644},
		{"etc/nsswitch.conf", tar.TypeReg, 0o644},
	} {
		h, ok := got[tc.name]
		if !ok {
			t.Errorf("%s is missing; have %v", tc.name, order)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Uid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: type %c mode %o uid %d mtime %v; want type %c mode %o uid 0 mtime %v",
				tc.name, h.Typeflag, h.Mode, h.Uid, h.ModTime, tc.typ, tc.mode, epoch)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("entries not sorted: %q before %q", order[i-1], order[i])
		}
	}
}
