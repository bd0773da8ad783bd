package incus

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Snapshot is what plex needs to know about an instance snapshot.
type Snapshot struct {
	// Name is the snapshot's own name, without the instance's.
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	Stateful  bool      `json:"stateful"`
	// Config is the instance's config as it was when the snapshot was
	// taken: the labels plex set on the instance just before are in it.
	Config map[string]string `json:"-"`
}

type snapshotJSON struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"created_at"`
	Stateful  bool              `json:"stateful"`
	Config    map[string]string `json:"config"`
}

// CreateSnapshot takes a stateless snapshot of an instance, running or not:
// its filesystem as it is at that instant, without its memory. On a btrfs
// or zfs pool that is a copy-on-write snapshot, which costs no copying.
func (s *Server) CreateSnapshot(ctx context.Context, instance, name string) error {
	body := struct {
		Name     string `json:"name"`
		Stateful bool   `json:"stateful"`
	}{Name: name}
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("instances", instance, "snapshots"), Body: body})
	if err != nil {
		return fmt.Errorf("snapshotting instance %s as %s: %w", instance, name, err)
	}
	return nil
}

// ListSnapshots lists an instance's snapshots, oldest first.
func (s *Server) ListSnapshots(ctx context.Context, instance string) ([]Snapshot, error) {
	var all []snapshotJSON
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("instances", instance, "snapshots"), Query: map[string][]string{"recursion": {"1"}}}, &all)
	if err != nil {
		return nil, fmt.Errorf("listing the snapshots of instance %s: %w", instance, err)
	}
	out := make([]Snapshot, 0, len(all))
	for _, sn := range all {
		// Older servers name a snapshot "instance/snapshot".
		name := sn.Name[strings.LastIndex(sn.Name, "/")+1:]
		out = append(out, Snapshot{Name: name, CreatedAt: sn.CreatedAt, Stateful: sn.Stateful, Config: sn.Config})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].CreatedAt.Before(out[b].CreatedAt) })
	return out, nil
}

// DeleteSnapshot deletes one snapshot of an instance. A missing snapshot
// is not an error.
func (s *Server) DeleteSnapshot(ctx context.Context, instance, name string) error {
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("instances", instance, "snapshots", name)})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting snapshot %s of instance %s: %w", name, instance, err)
	}
	return nil
}

// RestoreSnapshot puts an instance back to one of its snapshots: its
// filesystem, config, devices and profiles. Incus stops a running instance
// for it and starts it again afterwards.
func (s *Server) RestoreSnapshot(ctx context.Context, instance, name string) error {
	body := struct {
		Restore  string `json:"restore"`
		Stateful bool   `json:"stateful"`
	}{Restore: name}
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("instances", instance), Body: body})
	if err != nil {
		return fmt.Errorf("restoring instance %s to snapshot %s: %w", instance, name, err)
	}
	return nil
}
