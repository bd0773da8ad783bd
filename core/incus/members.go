package incus

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Member is an Incus cluster member as placement needs it.
type Member struct {
	Name string `json:"name"`
	// Status is what Incus says: Online, Offline, Evacuated, Blocked…
	Status string `json:"status"`
	// Message explains the status ("Fully operational", "No heartbeat…").
	Message string `json:"message,omitempty"`
	// Groups are the cluster groups the member is in ("default", …).
	Groups []string `json:"groups,omitempty"`
}

// Members lists the members of the cluster the server belongs to, sorted by
// name. A standalone server has none, and gives an empty list without error.
func (s *Server) Members(ctx context.Context) ([]Member, error) {
	info, err := s.info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading incus remote %q: %w", s.Remote, err)
	}
	if !info.Environment.ServerClustered {
		return nil, nil
	}
	var all []struct {
		ServerName string   `json:"server_name"`
		Status     string   `json:"status"`
		Message    string   `json:"message"`
		Groups     []string `json:"groups"`
	}
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("cluster", "members"), Query: map[string][]string{"recursion": {"1"}}}, &all); err != nil {
		return nil, fmt.Errorf("listing the cluster members of incus remote %q: %w", s.Remote, err)
	}
	out := make([]Member, 0, len(all))
	for _, m := range all {
		out = append(out, Member{Name: m.ServerName, Status: m.Status, Message: m.Message, Groups: m.Groups})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}
