//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPackagingIncusAlias installs the incus alias from the released
// incus-plexbake into a throwaway incus client configuration (INCUS_CONF),
// and runs `incus plexbake` through the harness's incus client. The user's
// own configuration is not touched.
func TestPackagingIncusAlias(t *testing.T) {
	h, rel := requirePackaging(t)
	incus, err := exec.LookPath("incus")
	if err != nil {
		t.Fatalf("the harness's incus client: %v; run hack/harness.sh up", err)
	}
	dir, _ := extractArchive(t, rel.archive("incus-plexbake_"+runtime.GOOS+"_"+runtime.GOARCH))
	bake := filepath.Join(dir, "incus-plexbake")
	conf := t.TempDir()
	env := []string{"INCUS_CONF=" + conf, "INCUS_SOCKET=" + h.Socket}

	userConf := filepath.Join(os.Getenv("HOME"), ".config", "incus", "config.yml")
	before, _ := os.ReadFile(userConf)

	out := mustRunTool(t, env, bake, "alias", "install")
	for _, s := range []string{"added incus alias plexbake → " + bake, filepath.Join(conf, "config.yml"), "incus-plexbake alias remove", "incus alias remove plexbake"} {
		if !strings.Contains(out, s) {
			t.Errorf("alias install: want %q in its output (the alias it added, and how to remove it)", s)
		}
	}
	if out := mustRunTool(t, env, bake, "alias", "install"); !strings.Contains(out, "already installed") {
		t.Errorf("a second alias install: want %q", "already installed")
	}
	if out := mustRunTool(t, env, incus, "alias", "list", "--format", "csv"); !strings.Contains(out, "plexbake,"+bake) {
		t.Errorf("incus alias list does not show plexbake → %s", bake)
	}

	out = mustRunTool(t, env, incus, "plexbake", "--help")
	for _, s := range []string{"incus plexbake bakes the images", "Usage:", "incus plexbake [command]"} {
		if !strings.Contains(out, s) {
			t.Errorf("incus plexbake --help: want %q in it", s)
		}
	}
	if out := mustRunTool(t, env, incus, "plexbake", "version"); !strings.Contains(out, rel.info["version"]) {
		t.Errorf("incus plexbake version: want %q in it", rel.info["version"])
	}

	// incus's own shell completion passes __complete through the alias, so
	// `incus plexbake <TAB>` completes with incus-plexbake's verbs.
	if out := mustRunTool(t, env, incus, "__complete", "plexbake", ""); !strings.Contains(out, "bake\t") || !strings.Contains(out, "alias\t") {
		t.Errorf("incus __complete plexbake '': want plexbake's verbs (bake, alias, …)")
	}

	// With a global flag before the alias (`incus --project x plexbake`),
	// incus finds the alias but keeps the flags in front of its expansion,
	// and tries to exec the first flag as the program. The README says to
	// put the flags after plexbake, which has its own --project and --remote.
	// This checks both halves, and fails when a newer incus lifts the
	// restriction, so that the README can say so.
	if out := mustRunTool(t, env, incus, "plexbake", "--project", "default", "--remote", "local", "list", "--help"); !strings.Contains(out, "--project") {
		t.Errorf("incus plexbake --project default … list --help: want the usage")
	}
	out, err = runTool(t, env, incus, "--project", "default", "plexbake", "version")
	switch {
	case err == nil:
		t.Errorf("incus --project default plexbake now works with incus %s: update the README's caveat (Install, the incus alias)", incusVersion(incus))
	case !strings.Contains(out, `exec: "--project"`):
		t.Errorf("incus --project default plexbake: it fails differently from what the README describes: %s", out)
	}

	out = mustRunTool(t, env, bake, "alias", "remove")
	if !strings.Contains(out, "removed incus alias plexbake") {
		t.Errorf("alias remove: want %q", "removed incus alias plexbake")
	}
	if out := mustRunTool(t, env, incus, "alias", "list", "--format", "csv"); strings.Contains(out, "plexbake") {
		t.Errorf("incus alias list still shows plexbake after alias remove:\n%s", out)
	}

	after, _ := os.ReadFile(userConf)
	if string(before) != string(after) {
		t.Errorf("%s changed: the test must only touch INCUS_CONF=%s", userConf, conf)
	}
}

// incusVersion is `incus version` on one line, for messages.
func incusVersion(incus string) string {
	out, _ := exec.Command(incus, "version").CombinedOutput()
	return strings.Join(strings.Fields(string(out)), " ")
}
