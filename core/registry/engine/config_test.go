package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/internal/fixture"
)

func TestZotConfigGolden(t *testing.T) {
	for _, tt := range []struct {
		golden string
		ups    []engine.Upstream
		skip   []string
	}{
		{"zot-default.json", nil, nil},
		{"zot-lab.json", fixture.LabUpstreams(t), []string{"myreg.lab:5443"}},
	} {
		l, err := engine.NewLayout(engine.EngineZot, tt.ups, tt.skip)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := engine.NewZotConfig(l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cfg.JSON()
		if err != nil {
			t.Fatal(err)
		}
		assertGolden(t, tt.golden, b)
	}
	l, _ := engine.NewLayout(engine.EngineZot, fixture.LabUpstreams(t), []string{"myreg.lab:5443"})
	script, err := l.ProvisionScript()
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "provision-zot-lab.sh", []byte(script))
}

// TestZotConfigSchema checks the rendered file against the names of Zot's
// documented schema (examples/config-sync.json, config-docker-compat-sync.json
// and pkg/extensions/config/sync/config.go in project-zot/zot): a typo in a
// JSON tag would make Zot ignore the setting silently.
func TestZotConfigSchema(t *testing.T) {
	l, err := engine.NewLayout(engine.EngineZot, fixture.LabUpstreams(t), []string{"myreg.lab:5443"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := engine.NewZotConfig(l)
	b, _ := cfg.JSON()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return out
	}
	allowed := map[string][]string{
		"":                       {"distSpecVersion", "storage", "http", "log", "extensions"},
		"storage":                {"rootDirectory", "dedupe", "gc"},
		"http":                   {"address", "port", "compat"},
		"log":                    {"level"},
		"extensions":             {"sync"},
		"extensions.sync":        {"enable", "registries"},
		"registries[]":           {"urls", "onDemand", "tlsVerify", "preserveDigest", "maxRetries", "retryDelay", "content"},
		"registries[].content[]": {"prefix", "destination"},
	}
	check := func(path string, v any) {
		for _, k := range keys(v) {
			if !strings.Contains(" "+strings.Join(allowed[path], " ")+" ", " "+k+" ") {
				t.Errorf("%s: key %q is not in Zot's documented schema", path, k)
			}
		}
	}
	check("", doc)
	for _, k := range []string{"storage", "http", "log", "extensions"} {
		check(k, doc[k])
	}
	sync := doc["extensions"].(map[string]any)["sync"].(map[string]any)
	check("extensions.sync", sync)
	regs := sync["registries"].([]any)
	if len(regs) != 3 {
		t.Fatalf("%d registries", len(regs))
	}
	for _, r := range regs {
		check("registries[]", r)
		rm := r.(map[string]any)
		if rm["onDemand"] != true || rm["preserveDigest"] != true {
			t.Errorf("registry %v: not on demand with preserved digests", rm["urls"])
		}
		for _, c := range rm["content"].([]any) {
			check("registries[].content[]", c)
		}
	}
	if c := doc["http"].(map[string]any)["compat"].([]any); len(c) != 1 || c[0] != "docker2s2" {
		t.Errorf("http.compat = %v", c)
	}
	// TLS verification stays on except where turned off.
	for _, r := range regs {
		rm := r.(map[string]any)
		url := rm["urls"].([]any)[0].(string)
		if want := url != "https://myreg.lab:5443"; rm["tlsVerify"] != want {
			t.Errorf("%s: tlsVerify %v, want %v", url, rm["tlsVerify"], want)
		}
	}
}

// TestZotConfigOutage checks that every upstream's sync entry carries what
// keeps the cache useful while that upstream does not answer: on-demand
// sync, one retry after 100 ms (a cached tag is served at once, a
// never-cached image fails fast), digests kept with docker2s2, and TLS
// verification as asked.
func TestZotConfigOutage(t *testing.T) {
	for _, tt := range []struct {
		name string
		ups  []engine.Upstream
		skip []string
	}{
		{"default", nil, nil},
		{"lab", fixture.LabUpstreams(t), []string{"myreg.lab:5443"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := engine.NewLayout(engine.EngineZot, tt.ups, tt.skip)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := engine.NewZotConfig(l)
			if err != nil {
				t.Fatal(err)
			}
			b, err := cfg.JSON()
			if err != nil {
				t.Fatal(err)
			}
			// Read back from the JSON, which is what Zot sees.
			var doc struct {
				HTTP struct {
					Compat []string `json:"compat"`
				} `json:"http"`
				Extensions struct {
					Sync struct {
						Registries []map[string]any `json:"registries"`
					} `json:"sync"`
				} `json:"extensions"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if strings.Join(doc.HTTP.Compat, ",") != "docker2s2" {
				t.Errorf("http.compat = %v, want [docker2s2] (preserveDigest needs it)", doc.HTTP.Compat)
			}
			regs := doc.Extensions.Sync.Registries
			if len(regs) != len(l.Endpoints) {
				t.Fatalf("%d sync registries for %d upstreams", len(regs), len(l.Endpoints))
			}
			for i, e := range l.Endpoints {
				r := regs[i]
				if urls, _ := r["urls"].([]any); len(urls) != 1 || urls[0] != e.URL {
					t.Errorf("registry %d: urls %v, want [%s]", i, r["urls"], e.URL)
				}
				if r["onDemand"] != true || r["preserveDigest"] != true || r["tlsVerify"] != e.TLSVerify {
					t.Errorf("%s: onDemand %v, preserveDigest %v, tlsVerify %v (want true, true, %v)", e.Name, r["onDemand"], r["preserveDigest"], r["tlsVerify"], e.TLSVerify)
				}
				// JSON numbers decode as float64.
				if r["maxRetries"] != float64(1) {
					t.Errorf("%s: maxRetries %v, want 1", e.Name, r["maxRetries"])
				}
				delay, _ := r["retryDelay"].(string)
				if d, err := time.ParseDuration(delay); err != nil || d != 100*time.Millisecond {
					t.Errorf("%s: retryDelay %q, want \"100ms\" (%v)", e.Name, delay, err)
				}
			}
		})
	}
}

func TestDistributionConfigGolden(t *testing.T) {
	l, err := engine.NewLayout(engine.EngineDistribution, fixture.LabUpstreams(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := l.Endpoint("registry.k8s.io")
	if !ok {
		t.Fatal("no registry.k8s.io endpoint")
	}
	for golden, offline := range map[string]bool{"distribution-registry.k8s.io.yml": false, "distribution-registry.k8s.io.offline.yml": true} {
		b, err := engine.NewDistributionConfig(e, offline).YAML()
		if err != nil {
			t.Fatal(err)
		}
		assertGolden(t, golden, b)
		// It parses back as YAML with the keys docker-registry 2.8 reads.
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["version"] != "0.1" {
			t.Errorf("version = %v", doc["version"])
		}
		_, proxied := doc["proxy"]
		if proxied == offline {
			t.Errorf("offline=%v but proxy section present=%v", offline, proxied)
		}
	}
	script, err := l.ProvisionScript()
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "provision-distribution-lab.sh", []byte(script))
}

func TestLayoutPorts(t *testing.T) {
	l, err := engine.NewLayout(engine.EngineDistribution, append(fixture.LabUpstreams(t), engine.Upstream{Name: "a.example", URL: "https://a.example", TLSVerify: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range l.Endpoints {
		got[e.Name] = e.Port
	}
	want := map[string]int{"a.example": 5010, "docker.io": 5001, "myreg.lab:5443": 5011, "registry.k8s.io": 5002}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s on port %d, want %d", k, got[k], v)
		}
	}
	z, err := engine.NewLayout(engine.EngineZot, fixture.LabUpstreams(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := z.Ports(); len(p) != 1 || p[0] != engine.ZotPort {
		t.Errorf("zot ports %v", p)
	}
	if e, _ := z.Endpoint("myreg.lab:5443"); e.Prefix != "myreg.lab_5443" {
		t.Errorf("zot prefix of myreg.lab:5443 is %q", e.Prefix)
	}
	if units := l.Units(); len(units) != 5 || units[0] != "plex-registry-a.example.service" || units[2] != "plex-registry-myreg.lab_5443.service" || units[4] != "plex-lab-registry.service" {
		t.Errorf("units %v", units)
	}
}

// The lab namespace: where it is served and pushed under each engine, with
// and without a password for pushes.
func TestLabNamespace(t *testing.T) {
	for _, tt := range []struct {
		engine         string
		pushAuth       bool
		host, pushHost string
		units          []string
		ports          []int
	}{
		{engine.EngineZot, false, "10.0.0.3:5000", "10.0.0.3:5000", []string{"plex-registry-zot.service"}, []int{5000}},
		{engine.EngineZot, true, "10.0.0.3:5000", "10.0.0.3:5000", []string{"plex-registry-zot.service"}, []int{5000}},
		{engine.EngineDistribution, false, "10.0.0.3:5050", "10.0.0.3:5050", []string{"plex-registry-registry.k8s.io.service", "plex-lab-registry.service"}, []int{5002, 5050}},
		{engine.EngineDistribution, true, "10.0.0.3:5050", "10.0.0.3:5051", []string{"plex-registry-registry.k8s.io.service", "plex-lab-registry.service", "plex-lab-registry-push.service"}, []int{5002, 5050, 5051}},
	} {
		l, err := engine.NewLayout(tt.engine, []engine.Upstream{{Name: "registry.k8s.io", URL: "http://10.212.0.1:5000"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.PushAuth = tt.pushAuth
		if tt.pushAuth {
			l.Htpasswd = "ci:$2y$05$abcdefghijklmnopqrstuuZ7d7Zq1k3lQwq7m1v5Xo4k5b3cY1F6e\n"
		}
		if h := l.LabHost("10.0.0.3"); h != tt.host {
			t.Errorf("%s push auth %v: lab host %s, want %s", tt.engine, tt.pushAuth, h, tt.host)
		}
		if h := l.LabPushHost("10.0.0.3"); h != tt.pushHost {
			t.Errorf("%s push auth %v: lab push host %s, want %s", tt.engine, tt.pushAuth, h, tt.pushHost)
		}
		if u := l.Units(); !slices.Equal(u, tt.units) {
			t.Errorf("%s push auth %v: units %v, want %v", tt.engine, tt.pushAuth, u, tt.units)
		}
		if p := l.Ports(); !slices.Equal(p, tt.ports) {
			t.Errorf("%s push auth %v: ports %v, want %v", tt.engine, tt.pushAuth, p, tt.ports)
		}
		script, err := l.ProvisionScript()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(script, engine.HtpasswdFile+" is missing"); got != tt.pushAuth {
			t.Errorf("%s push auth %v: the provision script checks the htpasswd file: %v", tt.engine, tt.pushAuth, got)
		}
		if tt.pushAuth {
			name := "zot-pushauth.json"
			if tt.engine == engine.EngineDistribution {
				name = "distribution-pushauth.files"
			}
			files, err := l.Files()
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range files {
				if tt.engine == engine.EngineZot || strings.Contains(f.Path, "lab-registry") {
					fmt.Fprintf(&b, "==> %s (%04o)\n%s\n", f.Path, f.Mode, f.Content)
				}
			}
			assertGolden(t, name, []byte(b.String()))
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	for _, tt := range []struct {
		engine string
		ups    []engine.Upstream
		skip   []string
		want   string
	}{
		{"podman", nil, nil, `unknown cache engine "podman"`},
		{engine.EngineDistribution, nil, []string{"quay.io"}, "cannot turn off TLS verification toward https://quay.io"},
		{engine.EngineZot, nil, []string{"nosuch.io"}, "nosuch.io, which is not an upstream"},
		{engine.EngineZot, []engine.Upstream{{Name: "docker.io", URL: "https://registry-1.docker.io"}, {Name: "docker.io", URL: "https://x"}}, nil, "docker.io is given twice"},
		{engine.EngineZot, []engine.Upstream{{Name: "Bad_Name", URL: "https://x"}}, nil, "not a registry host"},
		{engine.EngineZot, []engine.Upstream{{Name: "x.io", URL: "ftp://x.io"}}, nil, "is not a registry URL"},
		{engine.EngineZot, []engine.Upstream{{Name: "x.io", URL: "https://x.io/v2/foo"}}, nil, "no path"},
	} {
		_, err := engine.NewLayout(tt.engine, tt.ups, tt.skip)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v %v: err = %v, want %q", tt.engine, tt.ups, tt.skip, err, tt.want)
		}
	}
	// An http:// lab upstream needs no TLS, so turning verification off is fine.
	if _, err := engine.NewLayout(engine.EngineDistribution, []engine.Upstream{{Name: "registry.k8s.io", URL: "http://10.212.0.1:5000", TLSVerify: true}}, []string{"registry.k8s.io"}); err != nil {
		t.Errorf("http upstream with verification off: %v", err)
	}
}

func TestParseUpstream(t *testing.T) {
	u, err := engine.ParseUpstream(" Docker.io ")
	if err != nil || u.Name != "docker.io" || u.URL != "https://registry-1.docker.io" || !u.TLSVerify {
		t.Errorf("docker.io: %+v %v", u, err)
	}
	u, err = engine.ParseUpstream("registry.k8s.io=http://10.212.0.1:5000")
	if err != nil || u.URL != "http://10.212.0.1:5000" {
		t.Errorf("override: %+v %v", u, err)
	}
	if _, err := engine.ParseUpstream("registry.k8s.io=10.212.0.1:5000"); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}

func TestParseHtpasswd(t *testing.T) {
	users, err := engine.ParseHtpasswd("pw", "# lab\nci:$2y$05$abc\n\nbob:$2a$10$xyz\n")
	if err != nil || !slices.Equal(users, []string{"ci", "bob"}) {
		t.Errorf("users %v, %v", users, err)
	}
	for content, want := range map[string]string{
		"":                      "pw has no users: add one with `htpasswd -cB pw USER`",
		"ci\n":                  "pw line 1 is not USER:HASH",
		"ci:{SHA}W6ph5Mm5Pz8\n": "pw line 1: the password of ci is not a bcrypt hash",
		"ci:$apr1$x$y\n":        "make it with `htpasswd -B pw ci`",
	} {
		if _, err := engine.ParseHtpasswd("pw", content); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}
