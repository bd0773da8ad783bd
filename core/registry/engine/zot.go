package engine

import (
	"encoding/json"
	"fmt"
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
	// Compat lets Zot serve Docker media types as they are ("docker2s2"),
	// which preserveDigest needs for Docker-format upstream images.
	Compat []string `json:"compat,omitempty"`
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
	PreserveDigest bool             `json:"preserveDigest"`
	Content        []ZotSyncContent `json:"content"`
}

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
	for _, e := range l.Endpoints {
		verify := e.TLSVerify
		cfg.Extensions.Sync.Registries = append(cfg.Extensions.Sync.Registries, ZotSyncRegistry{
			URLs:           []string{e.URL},
			OnDemand:       true,
			TLSVerify:      &verify,
			PreserveDigest: true,
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
