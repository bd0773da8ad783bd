package cni

import (
	"github.com/plex-dev/plex/core/internal/golden"
	"path/filepath"
	"testing"
)

// assertGolden compares got with the golden file name (go test -update
// rewrites it).
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}
