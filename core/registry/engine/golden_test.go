package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/plex-dev/plex/core/internal/golden"
)

// assertGolden compares got with the golden file name (go test -update
// rewrites it).
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}
