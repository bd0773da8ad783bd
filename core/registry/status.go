package registry

import (
	"context"
	"time"

	"github.com/plex-dev/plex/core/registry/engine"
)

// Status is what a cache holds, and whether its upstreams answer.
type Status struct {
	*Cache
	// Size is the bytes stored on the cache volume, over all upstreams.
	Size int64 `json:"size"`
	// RepositoryCount is how many repositories the cache holds, over all
	// upstreams.
	RepositoryCount int              `json:"repositoryCount"`
	Upstreams       []UpstreamStatus `json:"upstreams"`
	// Lab is the lab namespace: the cache's own images.
	Lab LabStatus `json:"lab"`
	// Error says why the storage could not be read (a stopped instance).
	Error string `json:"error,omitempty"`
}

// UpstreamStatus is one upstream of a cache.
type UpstreamStatus struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	TLSVerify bool   `json:"tlsVerify"`
	// Mirror is the URL the nodes' hosts.toml names.
	Mirror string `json:"mirror"`
	// Probe is whether URL answers now, asked from where plex-registry
	// runs: while it does not, the cache serves only what it holds.
	Probe Probe `json:"probe"`
	Size  int64 `json:"size"`
	Blobs int   `json:"blobs"`
	// Repositories are the repositories cached, as the upstream names them.
	Repositories []string `json:"repositories"`
}

// LabStatus is the lab namespace of a cache (engine.Layout.LabHost).
type LabStatus struct {
	// Host is where nodes pull from; images are Host/lab/NAME:TAG.
	Host string `json:"host"`
	// PushHost is where images are pushed: Host, or another port when
	// pushes need a password under the distribution engine.
	PushHost string `json:"pushHost"`
	// PushAuth says whether a push needs a password (htpasswd).
	PushAuth bool  `json:"pushAuth"`
	Size     int64 `json:"size"`
	// Repositories are the lab's repositories (lab/...).
	Repositories []string `json:"repositories"`
}

// GetStatus reports the selected caches.
func GetStatus(ctx context.Context, s Selector) ([]Status, error) {
	srv, caches, _, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(caches))
	for _, c := range caches {
		out = append(out, statusOf(ctx, srv, c))
	}
	return out, nil
}

func statusOf(ctx context.Context, srv Server, c *Cache) Status {
	st := Status{Cache: c}
	// The upstreams are asked while the storage is read, which takes longer.
	probes := probeAll(ctx, c)
	var facts engine.Storage
	if c.Running() {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := srv.Run(rctx, c.Instance, "sh", "-c", c.StorageScript(true, true))
		cancel()
		if err != nil {
			st.Error = err.Error()
		}
		facts = engine.ParseStorage(out)
	} else {
		st.Error = "the instance is " + c.Status + ": start it with `plex-registry up`"
	}
	answers := probes()
	st.Lab = LabStatus{Host: c.LabHost(c.Address), PushHost: c.LabPushHost(c.Address), PushAuth: c.PushAuth,
		Size: facts.Size[engine.LabKey], Repositories: facts.Repos[engine.LabKey]}
	if st.Lab.Repositories == nil {
		st.Lab.Repositories = []string{}
	}
	st.Size += st.Lab.Size
	st.RepositoryCount += len(st.Lab.Repositories)
	for _, e := range c.Endpoints {
		us := UpstreamStatus{Name: e.Name, URL: e.URL, TLSVerify: e.TLSVerify, Mirror: e.MirrorURL(c.Address),
			Probe: answers[e.Name], Size: facts.Size[e.Name], Blobs: len(facts.Blobs[e.Name]), Repositories: facts.Repos[e.Name]}
		if us.Repositories == nil {
			us.Repositories = []string{}
		}
		st.Size += us.Size
		st.RepositoryCount += len(us.Repositories)
		st.Upstreams = append(st.Upstreams, us)
	}
	return st
}
