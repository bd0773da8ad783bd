//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain first takes down, on the harness daemon, every plex that a spec
// under testdata/ names. A run that was killed (a CI timeout, a session that
// ended) leaves its plex running; its nodes hold addresses, pod routes, CPU
// and memory that the next run's tests need. Each test also takes its own
// plex down before it starts; this sweep covers the plexes of tests that
// this run does not select.
func TestMain(m *testing.M) {
	if os.Getenv("PLEX_TEST_INCUS") != "" {
		if err := sweep(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: sweeping plexes a killed run left: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func sweep() error {
	bin, err := filepath.Abs("../../bin/kubectl-plex")
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil // the tests that need it say so themselves
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		return err
	}
	cfgs, err := plexSpecs(files)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "plex-e2e-sweep")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, c := range cfgs {
		for _, p := range c.Plexes {
			if p.Remote != "" && p.Remote != "local" {
				continue // other remotes belong to their own harness (hack/incus-cluster.sh)
			}
			cmd := exec.Command(bin, "down", p.Name, "--kubeconfig", filepath.Join(tmp, "kubeconfig"))
			cmd.Env = append(os.Environ(), "HOME="+tmp, "XDG_CONFIG_HOME="+filepath.Join(tmp, ".config"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("kubectl plex down %s: %v\n%s", p.Name, err, out)
			}
			if !strings.Contains(string(out), "nothing to delete") {
				fmt.Fprintf(os.Stderr, "e2e: took down plex %s, left by an earlier run:\n%s", p.Name, out)
			}
		}
	}
	return nil
}
