package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/nodefiles"
	"github.com/plex-dev/plex/core/plan"
)

// upForSnapshot brings plex lab up with lab1 (control plane) and lab2.
func upForSnapshot(t *testing.T) *fakeIncus {
	t.Helper()
	kc := testEnv(t)
	f := newFake(t)
	if err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-2"), Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("up: %v", err)
	}
	return f
}

func TestSnapshotAndRestore(t *testing.T) {
	f := upForSnapshot(t)
	ctx := context.Background()
	ref := Ref{Name: "lab", Target: f.target()}
	name, err := Snapshot(ctx, SnapshotOptions{Ref: ref, Snapshot: "s1"})
	if err != nil || name != "s1" {
		t.Fatalf("snapshot: %q, %v", name, err)
	}
	for _, n := range []string{"lab1", "lab2"} {
		in := f.instances[n]
		if len(in.snaps) != 1 {
			t.Fatalf("%s has %d snapshots, want 1", n, len(in.snaps))
		}
		if in.snaps[0].frozen || in.Status != "Running" {
			t.Errorf("%s: snapshot taken frozen %t, now %s; one control plane is snapshotted live", n, in.snaps[0].frozen, in.Status)
		}
		c := in.snaps[0].Config
		if c[incus.LabelSnapshot] != "s1" || c[incus.LabelSnapshotNodes] != "lab1,lab2" || len(c[incus.LabelSpecHash]) != 16 {
			t.Errorf("%s's snapshot has labels %v", n, c)
		}
	}
	// Nodes boot without cloud-init, restored or not; a node that an
	// earlier plex made gets the marker with its snapshot.
	for _, n := range []string{"lab1", "lab2"} {
		if _, ok := f.instances[n].snaps[0].files[nodefiles.CloudInitDisabled]; !ok {
			t.Errorf("%s's snapshot has no %s", n, nodefiles.CloudInitDisabled)
		}
		if _, ok := f.instances[n].files[nodefiles.CloudInitDisabled]; !ok {
			t.Errorf("the running %s has no %s", n, nodefiles.CloudInitDisabled)
		}
	}
	etcdFile := EtcdSnapshotPath("s1")
	if _, ok := f.instances["lab1"].snaps[0].files[etcdFile]; !ok {
		t.Errorf("the control plane's snapshot has no %s", etcdFile)
	}
	if _, ok := f.instances["lab1"].files[etcdFile]; ok {
		t.Errorf("%s left on the running node", etcdFile)
	}

	// A name taken, or not a name: refused, nothing made.
	taken := f.snapshotsTaken
	if _, err := Snapshot(ctx, SnapshotOptions{Ref: ref, Snapshot: "s1"}); err == nil || !strings.Contains(err.Error(), "snapshot delete lab s1") {
		t.Errorf("snapshot of a name taken: %v", err)
	}
	if _, err := Snapshot(ctx, SnapshotOptions{Ref: ref, Snapshot: "a/b"}); err == nil {
		t.Error("snapshot named a/b: no error")
	}
	if f.snapshotsTaken != taken {
		t.Errorf("refused snapshots made %d snapshot(s)", f.snapshotsTaken-taken)
	}

	// Break the plex, then restore.
	f.instances["lab2"].files["/broken"] = []byte("x")
	if err := Restore(ctx, RestoreOptions{Ref: ref, Snapshot: "s1"}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if _, ok := f.instances["lab2"].files["/broken"]; ok {
		t.Error("restore left lab2's change")
	}
	for _, n := range []string{"lab1", "lab2"} {
		if _, ok := f.instances[n].files[nodefiles.CloudInitDisabled]; !ok {
			t.Errorf("restored %s has no %s", n, nodefiles.CloudInitDisabled)
		}
	}
	if !slices.Equal(f.restored, []string{"lab1/s1", "lab2/s1"}) && !slices.Equal(f.restored, []string{"lab2/s1", "lab1/s1"}) {
		t.Errorf("restored %v", f.restored)
	}

	list, err := ListSnapshots(ctx, SnapshotListOptions{Ref: ref})
	if err != nil || len(list) != 1 || list[0].Name != "s1" || !list[0].Matches() || !slices.Equal(list[0].Nodes, []string{"lab1", "lab2"}) {
		t.Errorf("list: %+v, %v", list, err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	f := upForSnapshot(t)
	ctx := context.Background()
	ref := Ref{Name: "lab", Target: f.target()}
	if _, err := Snapshot(ctx, SnapshotOptions{Ref: ref, Snapshot: "s1"}); err != nil {
		t.Fatal(err)
	}
	// A snapshot a user takes later inherits plex's label with s1's name:
	// it is not plex's.
	if err := f.CreateSnapshot(ctx, "lab1", "mine"); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		what string
		o    RestoreOptions
		want []string
	}{
		{"unknown snapshot", RestoreOptions{Ref: ref, Snapshot: "nope"}, []string{`no snapshot "nope"`, "it has s1", "snapshot list lab"}},
		{"a user's snapshot", RestoreOptions{Ref: ref, Snapshot: "mine"}, []string{`no snapshot "mine"`}},
		{"no such plex", RestoreOptions{Ref: Ref{Name: "nosuch", Target: f.target()}, Snapshot: "s1"}, []string{`no instances of plex "nosuch"`}},
	} {
		err := Restore(ctx, c.o)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", c.what, err, w)
			}
		}
	}

	// A worker joined since the snapshot.
	f.addInstance("lab3", map[string]string{incus.LabelManaged: "true", incus.LabelPlex: "lab", incus.LabelRole: plan.RoleWorker, incus.LabelIndex: "3"})
	err := Restore(ctx, RestoreOptions{Ref: ref, Snapshot: "s1"})
	if err == nil || !strings.Contains(err.Error(), "lab3 added since") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore after a join: %v, want it refused naming lab3 and --force", err)
	}
	if len(f.restored) != 0 {
		t.Fatalf("refused restores restored %v", f.restored)
	}
	list, err := ListSnapshots(ctx, SnapshotListOptions{Ref: ref})
	if err != nil || len(list) != 1 || !slices.Equal(list[0].Added, []string{"lab3"}) {
		t.Errorf("list after a join: %+v, %v", list, err)
	}
	if err := Restore(ctx, RestoreOptions{Ref: ref, Snapshot: "s1", Force: true}); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	if len(f.restored) != 2 {
		t.Errorf("restore --force restored %v, want lab1 and lab2", f.restored)
	}

	// Delete: plex's snapshot only.
	if err := DeleteSnapshot(ctx, DeleteSnapshotOptions{Ref: ref, Snapshot: "mine"}); err == nil {
		t.Error("deleting a user's snapshot: no error")
	}
	if err := DeleteSnapshot(ctx, DeleteSnapshotOptions{Ref: ref, Snapshot: "s1"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	slices.Sort(f.snapshotsDeleted)
	if !slices.Equal(f.snapshotsDeleted, []string{"lab1/s1", "lab2/s1"}) {
		t.Errorf("deleted %v", f.snapshotsDeleted)
	}
	if list, err := ListSnapshots(ctx, SnapshotListOptions{Ref: ref}); err != nil || len(list) != 0 {
		t.Errorf("list after delete: %+v, %v", list, err)
	}
}

// TestSnapshotFailureUndoes fails one node's snapshot: the snapshots the
// others got are deleted again, and so is etcd's copy.
func TestSnapshotFailureUndoes(t *testing.T) {
	f := upForSnapshot(t)
	ctx := context.Background()
	f.failSnapshot = func(instance string) error {
		if instance == "lab2" {
			return errors.New("disk full")
		}
		return nil
	}
	_, err := Snapshot(ctx, SnapshotOptions{Ref: Ref{Name: "lab", Target: f.target()}, Snapshot: "s1"})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("snapshot with lab2 failing: %v", err)
	}
	for _, n := range []string{"lab1", "lab2"} {
		if len(f.instances[n].snaps) != 0 {
			t.Errorf("%s kept %d snapshot(s)", n, len(f.instances[n].snaps))
		}
	}
	if _, ok := f.instances["lab1"].files[EtcdSnapshotPath("s1")]; ok {
		t.Error("etcd's copy left on lab1")
	}
}
