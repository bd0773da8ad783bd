package digest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("plex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// printf 'plex\n' | sha256sum
	const want = "47c23ef331b0b2839d4e4faf3ad53fb7edcaf5bd9f8b90c15847b9d0598678aa"
	got, err := FileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("FileSHA256 = %s, want %s", got, want)
	}
	if _, err := FileSHA256(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file hashed")
	}
}
