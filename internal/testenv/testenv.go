// Package testenv gives integration tests the real incusd that the harness
// (hack/harness.sh) prepares. Tests call Require; it skips, loudly, when
// PLEX_TEST_INCUS is unset, and fails when it is set but the harness is not
// usable, so CI can never pass by skipping.
//
// It imports testing, so it is internal to the module: the tests under core/
// and test/e2e share it, and no program or user of plex's packages can
// import it.
package testenv

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// Harness describes the prepared Incus environment.
type Harness struct {
	// Socket is the incusd unix socket.
	Socket string
	// Pool, Network and Image are the storage pool, managed bridge and base
	// image alias the harness made.
	Pool, Network, Image string
	// Cache is PLEX_CACHE.
	Cache string
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Require returns the harness or skips the test with the reason.
func Require(t testing.TB) *Harness {
	t.Helper()
	if os.Getenv("PLEX_TEST_INCUS") == "" {
		t.Skip("SKIPPED: integration test needs the harness incusd; run `make test` (sets PLEX_TEST_INCUS=1 after hack/harness.sh up)")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Fatalf("PLEX_TEST_INCUS is set but this is not root on Linux (%s, euid %d): the harness needs both", runtime.GOOS, os.Geteuid())
	}
	h := &Harness{
		Socket:  getenv("PLEX_INCUS_SOCKET", "/var/lib/incus/unix.socket"),
		Pool:    getenv("PLEX_POOL", "plex"),
		Network: getenv("PLEX_NETWORK", "plexbr0"),
		Image:   getenv("PLEX_BASE_IMAGE", "debian12"),
		Cache:   getenv("PLEX_CACHE", "/var/cache/plex-dev"),
	}
	if _, err := os.Stat(h.Socket); err != nil {
		t.Fatalf("PLEX_TEST_INCUS is set but the incusd socket is missing: %v; run hack/harness.sh up", err)
	}
	return h
}

// Incus runs the incus CLI against the harness daemon and returns its output;
// a failure fails the test with the command and its output.
func (h *Harness) Incus(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("incus", args...)
	cmd.Env = append(os.Environ(), "INCUS_SOCKET="+h.Socket)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("incus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
