package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestBakeDryRun(t *testing.T) {
	_, errOut, err := run(t, "bake", "kube", "images:debian/12/cloud", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"baking debian-12-cloud_kube", "15. delete transient instance plexbake-debian-12-cloud-kube",
		"16. point debian-12-cloud_kube at the new image"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestBakeRegistryDryRun(t *testing.T) {
	_, errOut, err := run(t, "bake", "registry", "debian12", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"baking debian12_registry", "install the distribution registry", "delete transient instance plexbake-debian12-registry"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestBakeRefusesUnknownType(t *testing.T) {
	_, _, err := run(t, "bake", "kubernetes", "debian12", "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "known types: kube, registry") {
		t.Errorf("kubernetes: %v", err)
	}
}

func TestHelp(t *testing.T) {
	out, _, err := run(t, "bake", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"incus plexbake bake kube debian12", "--kube-artifacts", "--runtime-artifacts", "--containerd-version distro", "--runc-version", "--preload-images", "--preload-mirror"} {
		if !strings.Contains(out, want) {
			t.Errorf("bake --help has no %q:\n%s", want, out)
		}
	}
}

// TestRuntimeFlags: --containerd-version distro alone is accepted (the runc
// flag's default does not get in its way), and a bad version names its flag.
func TestRuntimeFlags(t *testing.T) {
	if _, _, err := run(t, "bake", "kube", "debian12", "--dry-run", "--containerd-version", "distro"); err != nil {
		t.Errorf("--containerd-version distro: %v", err)
	}
	for _, args := range [][]string{
		{"--containerd-version", "1.7.27"},
		{"--runc-version", "latest"},
		{"--containerd-version", "distro", "--runc-version", "v1.5.3"},
		{"--preload-images", "--preload-mirror", "registry.example"},
	} {
		_, _, err := run(t, append([]string{"bake", "kube", "debian12", "--dry-run"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), args[len(args)-2]) {
			t.Errorf("%v: %v, want an error naming %s", args, err, args[len(args)-2])
		}
	}
}

// TestRetainFlag checks that --retain and its deprecated spelling --keep
// set the same option, and that help shows only --retain.
func TestRetainFlag(t *testing.T) {
	for _, flag := range []string{"--retain", "--keep"} {
		var out, errOut bytes.Buffer
		root := NewCommand(&out, &errOut)
		root.SetArgs([]string{"bake", "kube", "debian12", "--dry-run", flag})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%s: %v", flag, err)
		}
		bake, _, err := root.Find([]string{"bake"})
		if err != nil {
			t.Fatal(err)
		}
		if v := bake.Flags().Lookup("retain").Value.String(); v != "true" {
			t.Errorf("%s: retain = %s, want true", flag, v)
		}
		said := strings.Contains(errOut.String(), "--keep has been deprecated, use --retain")
		if said != (flag == "--keep") || strings.Contains(out.String(), "deprecated") {
			t.Errorf("%s: deprecation notice on stderr: %v\nstdout:\n%s\nstderr:\n%s", flag, said, out.String(), errOut.String())
		}
	}
	help, _, err := run(t, "bake", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help, "--retain") || strings.Contains(help, "--keep") {
		t.Errorf("bake --help should show --retain and not --keep:\n%s", help)
	}
}

func TestAliasInstallRemove(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config.yml")
	alias := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := newAliasCommand(&out, func() (string, error) { return "/opt/plex/bin/incus-plexbake", nil })
		cmd.SetArgs(append(args, "--config", conf))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("alias %v: %v", args, err)
		}
		return out.String()
	}
	if out := alias("install"); !strings.Contains(out, "added incus alias plexbake → /opt/plex/bin/incus-plexbake") || !strings.Contains(out, "alias remove") {
		t.Errorf("install:\n%s", out)
	}
	if out := alias("install"); !strings.Contains(out, "already installed") {
		t.Errorf("second install:\n%s", out)
	}
	if out := alias("remove"); !strings.Contains(out, "removed incus alias plexbake") {
		t.Errorf("remove:\n%s", out)
	}
	if out := alias("remove"); !strings.Contains(out, "nothing to do") {
		t.Errorf("second remove:\n%s", out)
	}
}
