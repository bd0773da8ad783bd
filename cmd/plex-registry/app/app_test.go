package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestHelp(t *testing.T) {
	for verb, wants := range map[string][]string{
		"up":     {"--engine", "--upstream", "--skip-tls-verify", "--zot-binary", "--retain", "hosts.toml", "local-registry-hosting"},
		"warm":   {"--kubernetes-version", "--from-cluster", "--platform", "--jobs", "-o, --output"},
		"status": {"-o, --output"},
		"down":   {"--purge"},
	} {
		out, _, err := run(t, "", verb, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q", verb, w)
			}
		}
	}
}

// TestArgumentErrors covers what is refused before Incus is asked.
func TestArgumentErrors(t *testing.T) {
	list := filepath.Join(t.TempDir(), "images.txt")
	if err := os.WriteFile(list, []byte("registry.k8s.io/pause:3.10.1\nnot an image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"up", "omniplex"}, "", "give -f SPEC too"},
		{[]string{"up", "-f", "x.yaml", "--address", "10.212.0.30"}, "", "--address and --instance are for a cache without a spec"},
		{[]string{"up", "--upstream", "registry.k8s.io=ftp://x", "--address", "10.212.0.30"}, "", "is not a registry URL"},
		{[]string{"up", "--engine", "podman", "--address", "10.212.0.30"}, "", `unknown cache engine "podman"`},
		{[]string{"warm"}, "", "no images to warm"},
		{[]string{"warm", "-o", "yaml", "x"}, "", `unknown output format "yaml"`},
		{[]string{"warm", "-f", list}, "", "images.txt:2:"},
		{[]string{"warm", "-f", "-"}, "# nothing\n\n", "no images to warm"},
		{[]string{"warm", "--kubernetes-version", "v1.20.0"}, "", "knows kubeadm's images for v1.34.x only"},
	} {
		_, _, err := run(t, tt.stdin, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "plex-registry ") {
		t.Errorf("version: %q %v", out, err)
	}
}
