package engine

import (
	"encoding/json"
	"fmt"
	"time"
)

// ZotConfig is the part of Zot's configuration file plex writes, following
// Zot's documented schema (examples/config-sync.json and
// pkg/extensions/config/sync/config.go in project-zot/zot). Zot decodes it
// with mapstructure, so the JSON names below are the documented ones.
type ZotConfig struct {
	DistSpecVersion string        `json:"distSpecVersion"`
	Storage         ZotStorage    `json:"storage"`
	HTTP            ZotHTTP       `json:"http"`
	Log             ZotLog        `json:"log"`
	Extensions      ZotExtensions `json:"extensions"`
}

// ZotStorage is Zot's local storage.
type ZotStorage struct {
	RootDirectory string `json:"rootDirectory"`
	// Dedupe hard-links blobs that several repositories share.
	Dedupe bool `json:"dedupe"`
	// GC removes blobs no manifest refers to any more.
	GC bool `json:"gc"`
}

// ZotHTTP is where Zot listens.
type ZotHTTP struct {
	Address string `json:"address"`
	Port    string `json:"port"`
	// Realm, Auth and AccessControl are set with PushAuth only.
	Realm         string            `json:"realm,omitempty"`
	Auth          *ZotAuth          `json:"auth,omitempty"`
	AccessControl *ZotAccessControl `json:"accessControl,omitempty"`
	// Compat lets Zot serve Docker media types as they are ("docker2s2"),
	// which preserveDigest needs for Docker-format upstream images.
	Compat []string `json:"compat,omitempty"`
}

// ZotAuth is Zot's authentication: htpasswd only.
type ZotAuth struct {
	Htpasswd ZotHtpasswd `json:"htpasswd"`
}

// ZotHtpasswd is the htpasswd file (bcrypt hashes).
type ZotHtpasswd struct {
	Path string `json:"path"`
}

// ZotAccessControl is Zot's authorization, by repository glob.
type ZotAccessControl struct {
	Repositories map[string]ZotRepoPolicy `json:"repositories"`
}

// ZotRepoPolicy says what the anonymous and the authenticated users may do
// in the repositories of a glob.
type ZotRepoPolicy struct {
	AnonymousPolicy []string `json:"anonymousPolicy"`
	DefaultPolicy   []string `json:"defaultPolicy"`
}

// ZotLog is Zot's logging.
type ZotLog struct {
	Level string `json:"level"`
}

// ZotExtensions are Zot's optional features; plex uses sync only.
type ZotExtensions struct {
	Sync *ZotSync `json:"sync,omitempty"`
}

// ZotSync is the sync extension: Zot as a mirror of other registries.
type ZotSync struct {
	Enable     *bool             `json:"enable"`
	Registries []ZotSyncRegistry `json:"registries"`
}

// ZotSyncRegistry is one upstream registry.
type ZotSyncRegistry struct {
	URLs []string `json:"urls"`
	// OnDemand pulls an image from upstream when a client first asks for it.
	OnDemand bool `json:"onDemand"`
	// TLSVerify checks the upstream's certificate (Zot's default is true;
	// plex always writes it out).
	TLSVerify *bool `json:"tlsVerify"`
	// PreserveDigest keeps upstream manifests byte for byte (no conversion
	// to OCI), so that images pulled by digest keep their digest.
	PreserveDigest bool `json:"preserveDigest"`
	// MaxRetries and RetryDelay bound how long a pull waits on an upstream
	// that does not answer (see ZotSyncMaxRetries). Zot's config check
	// refuses maxRetries without retryDelay, so plex writes both.
	MaxRetries int `json:"maxRetries"`
	// RetryDelay is a Go duration ("100ms"), as Zot decodes it.
	RetryDelay string           `json:"retryDelay"`
	Content    []ZotSyncContent `json:"content"`
}

// Zot's retries toward an upstream that does not answer. Zot asks the
// upstream on every pull by tag, even for an image it holds, and serves its
// own copy only once its retries give up. Measured on Zot v2.1.20 with the
// upstream stopped: with Zot's defaults (about five retries, backing off to
// some 30 s) tag pulls took 3 s, then up to 30 s each, and a never-cached
// image 60 s to fail; with one retry after 100 ms, cached tags came from
// storage in 0.05–0.17 s and a never-cached image got 404 after 0.37 s, so
// containerd moves on to the next host of its hosts.toml at once. Pulls by
// digest never ask the upstream.
const (
	ZotSyncMaxRetries = 1
	ZotSyncRetryDelay = 100 * time.Millisecond
)

// ZotSyncContent selects upstream repositories and where they go locally.
type ZotSyncContent struct {
	// Prefix is a path or glob of upstream repositories ("**": all).
	Prefix string `json:"prefix"`
	// Destination is the local path they are stored under.
	Destination string `json:"destination,omitempty"`
	StripPrefix bool   `json:"stripPrefix,omitempty"`
}

// ZotStorageDir is Zot's storage root inside the cache instance, on the
// cache volume.
const ZotStorageDir = StorageDir + "/zot"

// NewZotConfig is Zot's configuration for a layout: an on-demand sync
// mirror of every upstream, each under its own prefix.
func NewZotConfig(l Layout) (*ZotConfig, error) {
	if l.Engine != EngineZot {
		return nil, fmt.Errorf("a zot configuration for a %s layout", l.Engine)
	}
	enable := true
	cfg := &ZotConfig{
		DistSpecVersion: "1.1.1",
		Storage:         ZotStorage{RootDirectory: ZotStorageDir, Dedupe: true, GC: true},
		HTTP:            ZotHTTP{Address: "0.0.0.0", Port: fmt.Sprint(ZotPort), Compat: []string{"docker2s2"}},
		Log:             ZotLog{Level: "info"},
		Extensions:      ZotExtensions{Sync: &ZotSync{Enable: &enable}},
	}
	if l.PushAuth {
		// Anyone pulls anything; a user of the htpasswd file also pushes
		// into the lab namespace, and nobody pushes into a mirrored prefix.
		cfg.HTTP.Realm = "plex-registry"
		cfg.HTTP.Auth = &ZotAuth{Htpasswd: ZotHtpasswd{Path: HtpasswdFile}}
		cfg.HTTP.AccessControl = &ZotAccessControl{Repositories: map[string]ZotRepoPolicy{
			"**":              {AnonymousPolicy: []string{"read"}, DefaultPolicy: []string{"read"}},
			LabPrefix + "/**": {AnonymousPolicy: []string{"read"}, DefaultPolicy: []string{"read", "create", "update", "delete"}},
		}}
	}
	for _, e := range l.Endpoints {
		verify := e.TLSVerify
		cfg.Extensions.Sync.Registries = append(cfg.Extensions.Sync.Registries, ZotSyncRegistry{
			URLs:           []string{e.URL},
			OnDemand:       true,
			TLSVerify:      &verify,
			PreserveDigest: true,
			MaxRetries:     ZotSyncMaxRetries,
			RetryDelay:     ZotSyncRetryDelay.String(),
			Content:        []ZotSyncContent{{Prefix: "**", Destination: "/" + e.Prefix}},
		})
	}
	return cfg, nil
}

// JSON renders the configuration file.
func (c *ZotConfig) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
