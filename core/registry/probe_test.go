package registry

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/registry/engine"
)

// registryAt serves status at /v2/ (and 404 elsewhere), as a registry's
// API root does; every server here listens on loopback.
func registryAt(t *testing.T, status int, tlsOn bool) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.example/token",service="registry"`)
		}
		if status == http.StatusFound {
			w.Header().Set("Location", "/login")
		}
		w.WriteHeader(status)
	})
	srv := httptest.NewUnstartedServer(h)
	// The probe that verifies a self-signed certificate fails the handshake
	// on purpose; the server need not log it.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is the URL of a loopback server that has gone: a connection to
// it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestProbeUpstream(t *testing.T) {
	// hang accepts the connection and never answers: an upstream that is
	// up but stuck.
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	selfSigned := registryAt(t, http.StatusOK, true)

	for _, tt := range []struct {
		name      string
		url       string
		tlsVerify bool
		answers   bool
		detail    string
	}{
		{"answering", registryAt(t, http.StatusOK, false).URL, true, true, "200 OK"},
		{"wants a token", registryAt(t, http.StatusUnauthorized, false).URL + "/", true, true, "401 Unauthorized"},
		{"not a registry", registryAt(t, http.StatusNotFound, false).URL, true, false, "404 Not Found"},
		{"failing", registryAt(t, http.StatusServiceUnavailable, false).URL, true, false, "503 Service Unavailable"},
		{"redirect not followed", registryAt(t, http.StatusFound, false).URL, true, false, "302 Found"},
		{"refused", closedURL(t), true, false, "connection refused"},
		{"stuck", hang.URL, true, false, "timed out waiting for an answer"},
		{"self-signed, verified", selfSigned.URL, true, false, "certificate"},
		{"self-signed, verification off", selfSigned.URL, false, true, "200 OK"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The deadline status gives a probe; only the stuck upstream
			// reaches it, and the probe must stop there.
			ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
			defer cancel()
			start := time.Now()
			p := ProbeUpstream(ctx, tt.url, tt.tlsVerify)
			if took := time.Since(start); took > ProbeTimeout+time.Second {
				t.Errorf("the probe took %s, past its %s deadline", took, ProbeTimeout)
			}
			if p.Answers != tt.answers || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("probe of %s = %+v, want answers=%v with %q", tt.url, p, tt.answers, tt.detail)
			}
		})
	}
}

// storageServer is an Incus whose cache instance prints out for the
// storage script; status calls nothing else.
type storageServer struct {
	Server
	out string
}

func (s storageServer) Run(context.Context, string, ...string) (string, error) { return s.out, nil }

// TestStatusJSON checks what `plex-registry status -o json` gives: per
// upstream whether it answers, what the cache holds of it, and the totals.
func TestStatusJSON(t *testing.T) {
	up := registryAt(t, http.StatusUnauthorized, false)
	down := closedURL(t)
	l, err := engine.NewLayout(engine.EngineDistribution, []engine.Upstream{
		{Name: "up.test", URL: up.URL, TLSVerify: true},
		{Name: "down.test", URL: down, TLSVerify: true},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{Instance: "lab20", Plex: "lab", Address: "10.212.0.30", Status: "Running", Layout: l, Pool: "plex", Volume: "lab20-cache"}
	srv := storageServer{out: `size up.test 1000
repo up.test library/nginx
repo up.test pause
blob up.test sha256:aaa
size down.test 24
repo down.test coredns/coredns
`}
	st := statusOf(context.Background(), srv, c)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Instance        string `json:"instance"`
		Size            int64  `json:"size"`
		RepositoryCount int    `json:"repositoryCount"`
		Error           string `json:"error"`
		Upstreams       []struct {
			Name  string `json:"name"`
			Probe struct {
				Answers *bool  `json:"answers"`
				Detail  string `json:"detail"`
			} `json:"probe"`
			Size         int64    `json:"size"`
			Blobs        int      `json:"blobs"`
			Repositories []string `json:"repositories"`
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Instance != "lab20" || doc.Size != 1024 || doc.RepositoryCount != 3 || doc.Error != "" || len(doc.Upstreams) != 2 {
		t.Fatalf("status %s", b)
	}
	for _, u := range doc.Upstreams {
		if u.Probe.Answers == nil {
			t.Fatalf("%s: no probe.answers in %s", u.Name, b)
		}
		switch u.Name {
		case "up.test":
			if !*u.Probe.Answers || u.Probe.Detail != "401 Unauthorized" || u.Size != 1000 || u.Blobs != 1 || strings.Join(u.Repositories, ",") != "library/nginx,pause" {
				t.Errorf("up.test: %+v", u)
			}
		case "down.test":
			if *u.Probe.Answers || !strings.Contains(u.Probe.Detail, "connection refused") || u.Size != 24 || len(u.Repositories) != 1 {
				t.Errorf("down.test: %+v", u)
			}
		}
	}

	// A stopped cache still says whether its upstreams answer.
	c.Status = "Stopped"
	st = statusOf(context.Background(), srv, c)
	if st.Error == "" || st.RepositoryCount != 0 || len(st.Upstreams) != 2 || !st.Upstreams[1].Probe.Answers {
		t.Errorf("stopped cache: %+v", st)
	}
}
