package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ProbeTimeout bounds the question to one upstream: enough for a registry
// across the internet to answer /v2/, short enough that status does not hang
// on one that is gone. status asks every upstream at once, so an outage
// costs the command this long, not this long per upstream.
const ProbeTimeout = 2 * time.Second

// Probe is what an upstream said just now to GET /v2/, asked from where
// plex-registry runs (not from the cache instance).
type Probe struct {
	// Answers is true when the upstream spoke the registry API: 200, or 401
	// from a registry that wants a token first (Docker Hub, ghcr.io).
	Answers bool `json:"answers"`
	// Detail is the HTTP status it gave, or why there was no answer.
	Detail string `json:"detail"`
}

// ProbeUpstream asks the registry at upstreamURL (scheme://host[:port])
// whether it answers now. tlsVerify is the cache's own setting for that
// upstream, so that a lab registry with a self-signed certificate counts as
// answering when the cache would pull from it. The caller's ctx bounds the
// wait.
func ProbeUpstream(ctx context.Context, upstreamURL string, tlsVerify bool) Probe {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(upstreamURL, "/")+"/v2/", nil)
	if err != nil {
		return Probe{Detail: err.Error()}
	}
	// A clone of the default transport keeps its proxy settings
	// (HTTPS_PROXY, NO_PROXY), which is how this machine reaches the
	// internet if it needs one.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !tlsVerify {
		// The user turned verification off for this upstream (a lab
		// registry's self-signed certificate); the cache skips it too.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	defer tr.CloseIdleConnections()
	// A redirect from /v2/ is not an answer of the registry API; report it
	// as it is rather than follow it to some login page.
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return Probe{Detail: probeError(ctx, err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return Probe{Answers: resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized, Detail: resp.Status}
}

// probeError says why there was no answer: the dial or TLS error without
// url.Error's repetition of the method and URL.
func probeError(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out waiting for an answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// probeAll starts asking every upstream of c at once, each within
// ProbeTimeout, and returns a function that waits for the answers, by
// upstream name, so that the caller can read the storage meanwhile.
func probeAll(ctx context.Context, c *Cache) func() map[string]Probe {
	type result struct {
		name string
		p    Probe
	}
	ch := make(chan result, len(c.Endpoints))
	for _, e := range c.Endpoints {
		go func() {
			pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			ch <- result{e.Name, ProbeUpstream(pctx, e.URL, e.TLSVerify)}
		}()
	}
	return func() map[string]Probe {
		out := make(map[string]Probe, len(c.Endpoints))
		for range c.Endpoints {
			r := <-ch
			out[r.name] = r.p
		}
		return out
	}
}
