package cluster

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

// The fake's snapshots copy an instance's config and files, and a restore
// puts both back and leaves the instance running, as Incus does for a
// stateless snapshot of a running instance.

type fakeSnapshot struct {
	incus.Snapshot
	files map[string][]byte
	// frozen is whether the instance was frozen when it was taken.
	frozen bool
}

func (f *fakeIncus) Freeze(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.running(name)
	if err != nil {
		return err
	}
	in.Status = "Frozen"
	return nil
}

func (f *fakeIncus) Unfreeze(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return fmt.Errorf("instance %s: %w", name, incus.ErrNotFound)
	}
	if in.Status == "Frozen" {
		in.Status = "Running"
	}
	return nil
}

func (f *fakeIncus) SetInstanceConfig(ctx context.Context, name string, kv map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return fmt.Errorf("instance %s: %w", name, incus.ErrNotFound)
	}
	if in.Config == nil {
		in.Config = map[string]string{}
	}
	for k, v := range kv {
		if v == "" {
			delete(in.Config, k)
		} else {
			in.Config[k] = v
		}
	}
	return nil
}

func (f *fakeIncus) CreateSnapshot(ctx context.Context, instance, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[instance]
	if !ok {
		return fmt.Errorf("instance %s: %w", instance, incus.ErrNotFound)
	}
	for _, s := range in.snaps {
		if s.Name == name {
			return fmt.Errorf("snapshotting %s: snapshot %s already exists", instance, name)
		}
	}
	if f.failSnapshot != nil {
		if err := f.failSnapshot(instance); err != nil {
			return err
		}
	}
	f.snapshotsTaken++
	in.snaps = append(in.snaps, fakeSnapshot{
		Snapshot: incus.Snapshot{Name: name, CreatedAt: time.Now(), Config: maps.Clone(in.Config)},
		files:    maps.Clone(in.files),
		frozen:   in.Status == "Frozen",
	})
	return nil
}

func (f *fakeIncus) ListSnapshots(ctx context.Context, instance string) ([]incus.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[instance]
	if !ok {
		return nil, fmt.Errorf("instance %s: %w", instance, incus.ErrNotFound)
	}
	var out []incus.Snapshot
	for _, s := range in.snaps {
		c := s.Snapshot
		c.Config = maps.Clone(s.Config)
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeIncus) DeleteSnapshot(ctx context.Context, instance, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[instance]
	if !ok {
		return fmt.Errorf("instance %s: %w", instance, incus.ErrNotFound)
	}
	for i, s := range in.snaps {
		if s.Name == name {
			in.snaps = append(in.snaps[:i], in.snaps[i+1:]...)
			f.snapshotsDeleted = append(f.snapshotsDeleted, instance+"/"+name)
			return nil
		}
	}
	return nil
}

func (f *fakeIncus) RestoreSnapshot(ctx context.Context, instance, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[instance]
	if !ok {
		return fmt.Errorf("instance %s: %w", instance, incus.ErrNotFound)
	}
	for _, s := range in.snaps {
		if s.Name == name {
			in.Config = maps.Clone(s.Config)
			in.files = maps.Clone(s.files)
			in.Status = "Running"
			f.restored = append(f.restored, instance+"/"+name)
			return nil
		}
	}
	return fmt.Errorf("restoring %s: snapshot %s: %w", instance, name, incus.ErrNotFound)
}

// saveEtcd stands in for etcd's snapshot.
func (f *fakeIncus) saveEtcd(ctx context.Context, srv Incus, via string, cps []plan.Node) ([]byte, error) {
	return []byte("etcd data"), nil
}
