// Package version carries the build's version, set at link time by the
// Makefile through -ldflags "-X".
package version

import (
	"fmt"
	"runtime"
)

// Set with -ldflags "-X github.com/plex-dev/plex/core/version.Version=v0.1.0 …".
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
)

// String is the one-line version a `version` verb prints.
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", program, Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
