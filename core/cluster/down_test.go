package cluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// upForDown brings plex lab up with two nodes next to instances down must
// leave alone.
func upForDown(t *testing.T) (f *fakeIncus, spec, kubeconfig string) {
	t.Helper()
	kubeconfig = testEnv(t)
	f = newFake(t)
	spec = writeSpec(t, "lab", "1-2")
	if err := Up(context.Background(), UpOptions{File: spec, Target: f.target(), Kubeconfig: kubeconfig}); err != nil {
		t.Fatalf("up: %v", err)
	}
	// No labels, a name like lab's nodes.
	f.addInstance("lab3", nil)
	// lab's name without plex's mark: not plex's.
	f.addInstance("lab4", map[string]string{incus.LabelPlex: "lab"})
	// Another plex's node.
	f.addInstance("labx1", map[string]string{incus.LabelManaged: "true", incus.LabelPlex: "labx", incus.LabelRole: plan.RoleWorker})
	// lab's image cache, plex-registry's to remove.
	f.addInstance("lab-cache", map[string]string{incus.LabelManaged: "true", incus.LabelPlex: "lab", incus.LabelRole: plan.RoleRegistry})
	return f, spec, kubeconfig
}

func TestDownDeletesOnlyThePlexsInstances(t *testing.T) {
	f, _, kc := upForDown(t)
	kh, err := KnownHostsPath("lab")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kh); err != nil {
		t.Fatalf("up wrote no known_hosts: %v", err)
	}
	m := f.mark()
	if err := Down(context.Background(), DownOptions{Ref: Ref{Name: "lab", Target: f.target()}, Kubeconfig: kc}); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, deleted := f.since(m); !slices.Equal(deleted, []string{"lab1", "lab2"}) {
		t.Errorf("down deleted %v, want [lab1 lab2]", deleted)
	}
	if got, want := f.names(), []string{"lab-cache", "lab3", "lab4", "labx1"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	cfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Contexts[spec.ContextName("lab")]; ok {
		t.Errorf("context %s is still in the kubeconfig", spec.ContextName("lab"))
	}
	if _, err := os.Stat(filepath.Dir(kh)); !os.IsNotExist(err) {
		t.Errorf("known_hosts directory still there (stat: %v)", err)
	}

	// Again: nothing left to delete is no error.
	m = f.mark()
	if err := Down(context.Background(), DownOptions{Ref: Ref{Name: "lab", Target: f.target()}, Kubeconfig: kc}); err != nil {
		t.Fatalf("second down: %v", err)
	}
	if _, deleted := f.since(m); len(deleted) > 0 {
		t.Errorf("second down deleted %v", deleted)
	}
}

// With the spec file and no name, each plex of the file goes down on its
// own connection, which must still be the caller's.
func TestDownOfFile(t *testing.T) {
	f, spec, kc := upForDown(t)
	m := f.mark()
	if err := Down(context.Background(), DownOptions{Ref: Ref{File: spec, Target: f.target()}, Kubeconfig: kc}); err != nil {
		t.Fatalf("down -f: %v", err)
	}
	if _, deleted := f.since(m); !slices.Equal(deleted, []string{"lab1", "lab2"}) {
		t.Errorf("down -f deleted %v, want [lab1 lab2]", deleted)
	}
}
