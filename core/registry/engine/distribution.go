package engine

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// DistributionConfig is the part of the CNCF distribution registry's
// configuration (version 0.1, as Debian's docker-registry 2.8 reads it) that
// plex writes: filesystem storage and, for the proxy, the upstream.
type DistributionConfig struct {
	Version string              `json:"version"`
	Log     DistributionLog     `json:"log"`
	Storage DistributionStorage `json:"storage"`
	HTTP    DistributionHTTP    `json:"http"`
	Health  DistributionHealth  `json:"health"`
	// Auth, when set, asks every request for a password.
	Auth *DistributionAuth `json:"auth,omitempty"`
	// Proxy, when set, makes the registry a pull-through cache of one
	// upstream. Without it the registry serves what its storage holds.
	Proxy *DistributionProxy `json:"proxy,omitempty"`
}

// DistributionLog is the registry's logging.
type DistributionLog struct {
	Level string `json:"level"`
	// AccessLog is off: a warm or a node pull logs a line per blob, which
	// buries the errors in the journal.
	AccessLog DistributionAccessLog `json:"accesslog"`
	Fields    map[string]string     `json:"fields,omitempty"`
}

// DistributionAccessLog switches the per-request log.
type DistributionAccessLog struct {
	Disabled bool `json:"disabled"`
}

// DistributionStorage is the registry's storage.
type DistributionStorage struct {
	Filesystem  DistributionFilesystem   `json:"filesystem"`
	Delete      DistributionToggle       `json:"delete"`
	Cache       map[string]string        `json:"cache,omitempty"`
	Maintenance *DistributionMaintenance `json:"maintenance,omitempty"`
}

// DistributionFilesystem is the filesystem storage driver.
type DistributionFilesystem struct {
	RootDirectory string `json:"rootdirectory"`
}

// DistributionToggle is a setting with only an enabled flag.
type DistributionToggle struct {
	Enabled bool `json:"enabled"`
}

// DistributionMaintenance holds the read-only switch.
type DistributionMaintenance struct {
	ReadOnly DistributionToggle `json:"readonly"`
}

// DistributionHTTP is where the registry listens.
type DistributionHTTP struct {
	Addr    string              `json:"addr"`
	Headers map[string][]string `json:"headers,omitempty"`
}

// DistributionHealth turns off the storage health check, which would
// report a fresh, empty storage as unhealthy.
type DistributionHealth struct {
	StorageDriver DistributionToggle `json:"storagedriver"`
}

// DistributionAuth is the registry's access control: htpasswd only.
type DistributionAuth struct {
	Htpasswd *DistributionHtpasswd `json:"htpasswd,omitempty"`
}

// DistributionHtpasswd checks basic-auth passwords against an htpasswd file
// of bcrypt hashes.
type DistributionHtpasswd struct {
	Realm string `json:"realm"`
	Path  string `json:"path"`
}

// DistributionProxy is the pull-through cache's upstream.
type DistributionProxy struct {
	RemoteURL string `json:"remoteurl"`
}

// DistributionStorageDir is the storage root of one upstream's proxy inside
// the cache instance, on the cache volume.
func DistributionStorageDir(upstream string) string {
	return StorageDir + "/distribution/" + upstream
}

// NewDistributionConfig is the proxy configuration of one endpoint of a
// distribution layout. offline is the same registry without the proxy and
// read-only: it serves what the proxy cached while the upstream does not
// answer (the 2.8 proxy refuses to start then).
func NewDistributionConfig(e Endpoint, offline bool) *DistributionConfig {
	c := &DistributionConfig{
		Version: "0.1",
		Log:     DistributionLog{Level: "info", AccessLog: DistributionAccessLog{Disabled: true}, Fields: map[string]string{"service": "plex-registry", "upstream": e.Name}},
		Storage: DistributionStorage{
			Filesystem: DistributionFilesystem{RootDirectory: DistributionStorageDir(e.Name)},
			Delete:     DistributionToggle{Enabled: true},
			Cache:      map[string]string{"blobdescriptor": "inmemory"},
		},
		HTTP:   DistributionHTTP{Addr: fmt.Sprintf(":%d", e.Port), Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}}},
		Health: DistributionHealth{StorageDriver: DistributionToggle{Enabled: false}},
	}
	if offline {
		c.Storage.Maintenance = &DistributionMaintenance{ReadOnly: DistributionToggle{Enabled: true}}
		c.Log.Fields["mode"] = "offline"
	} else {
		c.Proxy = &DistributionProxy{RemoteURL: e.URL}
	}
	return c
}

// YAML renders the configuration file.
func (c *DistributionConfig) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Written by plex-registry; rewritten by every `plex-registry up`.\n"), b...), nil
}
