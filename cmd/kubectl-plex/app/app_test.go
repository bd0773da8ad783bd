package app

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String() + errOut.String(), err
}

func TestPlanInvalidSpecReportsEveryError(t *testing.T) {
	_, err := run(t, "plan", "-f", "../../../core/spec/testdata/invalid-many.yaml", "--offline")
	if err == nil {
		t.Fatal("plan of an invalid spec succeeded")
	}
	for _, path := range []string{"plexes[0].nodes[0].extra", "plexes[0].nodeSubnet", "plexes[0].controlPlanes", "plexes[1].gateway"} {
		if !strings.Contains(err.Error(), path+":") {
			t.Errorf("error does not name %s:\n%v", path, err)
		}
	}
}

func TestPlanOfflineExports(t *testing.T) {
	for format, want := range map[string]string{
		"table":   "omniplex1  control-plane  10.212.0.11",
		"hosts":   "10.212.0.11 omniplex1",
		"genders": "omniplex1 plex=omniplex,role=control-plane",
		"ansible": "ansible_host: 10.212.0.11",
	} {
		out, err := run(t, "plan", "-f", "../../../examples/omniplex.yaml", "--offline", "-o", format)
		if err != nil {
			t.Fatalf("-o %s: %v", format, err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("-o %s: output lacks %q:\n%s", format, want, out)
		}
	}
}

func TestBadFlagsAreClearErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "-f FILE"},
		{[]string{"plan", "-f", "x.yaml", "-o", "xml"}, "unknown output format"},
		{[]string{"up"}, "-f FILE"},
		{[]string{"join", "-f", "x.yaml", "omniplex"}, "INDICES"},
		{[]string{"status", "-o", "xml"}, "unknown output format"},
		{[]string{"down"}, "-f FILE for every plex"},
	} {
		_, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "kubectl-plex ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, err = run(t, "--help")
	if err != nil || !strings.Contains(out, "kubectl plex up") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}

func TestFluxstrapExport(t *testing.T) {
	manifests := "../../../core/flux/testdata/manifests"
	out, err := run(t, "fluxstrap", "omniplex", "--url", "http://10.212.0.1:8080/fleet.git", "--manifests", manifests,
		"--registry", "registry.k8s.io/fluxcd", "--export")
	if err != nil {
		t.Fatalf("fluxstrap --export: %v\n%s", err, out)
	}
	for _, want := range []string{"kind: GitRepository", "path: ./clusters/omniplex", "image: registry.k8s.io/fluxcd/kustomize-controller:v1.7.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("--export output lacks %q", want)
		}
	}

	// An SSH source with known hosts given: a new key, its Secret, and the
	// public key printed.
	out, err = run(t, "fluxstrap", "omniplex", "--url", "ssh://git@git.example.com:2222/you/fleet.git", "--manifests", manifests,
		"--ssh-known-hosts", "../../../core/flux/testdata/known_hosts", "--export")
	if err != nil {
		t.Fatalf("fluxstrap --export (ssh): %v\n%s", err, out)
	}
	for _, want := range []string{"kind: Secret", "identity.pub:", "secretRef:", "deploy key (new", "ssh-ed25519 ", " plex-omniplex"} {
		if !strings.Contains(out, want) {
			t.Errorf("ssh --export output lacks %q", want)
		}
	}
}

func TestFluxstrapErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fluxstrap", "omniplex", "--export"}, "no Git source"},
		{[]string{"fluxstrap", "omniplex", "--url", "git@github.com:you/fleet.git", "--export"}, "ssh://git@github.com/you/fleet.git"},
		{[]string{"fluxstrap", "omniplex", "--url", "https://example.com/fleet", "--manifests", "/nonexistent", "--export"}, "lacks source-controller.yaml"},
		{[]string{"fluxstrap", "omniplex", "-f", "../../../examples/omniplex.yaml", "--export"}, "no flux block"},
	} {
		_, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
