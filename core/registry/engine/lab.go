package engine

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The lab namespace: the cache also keeps the lab's own images (what a CI
// pipeline or a developer builds), which have no upstream. They live under
// LabPrefix on LabPort of the cache: <cache>:5000/lab/... with Zot, beside
// the mirrored prefixes, and <cache>:5050/lab/... with the distribution
// engine, whose proxies refuse pushes, so a plain registry serves the lab
// on its own port. The nodes' containerd knows that host (plain HTTP), so
// a pod names the image as it was pushed.
const (
	// LabPrefix is the repository prefix of the lab's images.
	LabPrefix = "lab"
	// DistributionLabPort serves the lab namespace under the distribution
	// engine; DistributionLabPushPort takes pushes when they need a
	// password (PushAuth), while DistributionLabPort serves pulls read-only.
	DistributionLabPort     = 5050
	DistributionLabPushPort = 5051
	// LabStorageDir is the distribution lab registry's storage.
	LabStorageDir = StorageDir + "/lab"
	// HtpasswdFile is where the htpasswd file of PushAuth goes.
	HtpasswdFile = ConfigDir + "/htpasswd"
	// The lab's units are not plex-registry-*, the upstreams' names, so
	// that no upstream can be called the same.
	labUnit     = "plex-lab-registry.service"
	labPushUnit = "plex-lab-registry-push.service"
)

// LabPort is the port serving the lab namespace (pulls, and pushes unless
// PushAuth).
func (l Layout) LabPort() int {
	if l.Engine == EngineZot {
		return ZotPort
	}
	return DistributionLabPort
}

// LabPushPort is the port that takes pushes into the lab namespace.
func (l Layout) LabPushPort() int {
	if l.Engine == EngineDistribution && l.PushAuth {
		return DistributionLabPushPort
	}
	return l.LabPort()
}

// LabHost is the lab namespace's registry host on a cache at address:
// images are <LabHost>/lab/NAME:TAG.
func (l Layout) LabHost(address string) string {
	return net.JoinHostPort(address, strconv.Itoa(l.LabPort()))
}

// LabPushHost is where images are pushed into the lab namespace.
func (l Layout) LabPushHost(address string) string {
	return net.JoinHostPort(address, strconv.Itoa(l.LabPushPort()))
}

// labDistributionConfig is the plain registry of the lab namespace: no
// proxy. With PushAuth, the one on DistributionLabPort is read-only and the
// one on DistributionLabPushPort asks for a password, on the same storage.
func labDistributionConfig(port int, readOnly, auth bool) *DistributionConfig {
	c := &DistributionConfig{
		Version: "0.1",
		Log:     DistributionLog{Level: "info", AccessLog: DistributionAccessLog{Disabled: true}, Fields: map[string]string{"service": "plex-registry", "namespace": LabPrefix}},
		Storage: DistributionStorage{
			Filesystem: DistributionFilesystem{RootDirectory: LabStorageDir},
			Delete:     DistributionToggle{Enabled: true},
			Cache:      map[string]string{"blobdescriptor": "inmemory"},
		},
		HTTP:   DistributionHTTP{Addr: fmt.Sprintf(":%d", port), Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}}},
		Health: DistributionHealth{StorageDriver: DistributionToggle{Enabled: false}},
	}
	if readOnly {
		c.Storage.Maintenance = &DistributionMaintenance{ReadOnly: DistributionToggle{Enabled: true}}
	}
	if auth {
		c.Auth = &DistributionAuth{Htpasswd: &DistributionHtpasswd{Realm: "plex-registry lab", Path: HtpasswdFile}}
	}
	return c
}

// labFiles are the distribution lab registries' files.
func (l Layout) labFiles() ([]File, error) {
	var files []File
	add := func(unit string, port int, readOnly, auth bool) error {
		b, err := labDistributionConfig(port, readOnly, auth).YAML()
		if err != nil {
			return err
		}
		name := unit[:len(unit)-len(".service")]
		cfg := ConfigDir + "/" + name + ".yml"
		files = append(files,
			File{Path: cfg, Mode: 0o644, Content: string(b), Units: []string{unit}},
			File{Path: unitDir + "/" + unit, Mode: 0o644, Content: labUnitFile(port, cfg), Units: []string{unit}},
		)
		return nil
	}
	if err := add(labUnit, DistributionLabPort, l.PushAuth, false); err != nil {
		return nil, err
	}
	if l.PushAuth {
		if err := add(labPushUnit, DistributionLabPushPort, false, true); err != nil {
			return nil, err
		}
	}
	return append(files, l.htpasswdFile(labPushUnit)...), nil
}

func labUnitFile(port int, cfg string) string {
	return `# Written by plex-registry.
[Unit]
Description=plex lab image registry (distribution on :` + strconv.Itoa(port) + `)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=` + StorageDir + `

[Service]
ExecStart=/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ ` + DistributionBinary + ` serve ` + cfg + `
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

// ParseHtpasswd checks an htpasswd file for PushAuth: "USER:HASH" lines with
// bcrypt hashes, the only kind both engines take (`htpasswd -nB USER` makes
// one). It returns the users; from is the file's name, for the errors.
func ParseHtpasswd(from, content string) ([]string, error) {
	var users []string
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "":
			return nil, fmt.Errorf("%s line %d is not USER:HASH: make the file with `htpasswd -cB %s USER`", from, i+1, from)
		case !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$"):
			return nil, fmt.Errorf("%s line %d: the password of %s is not a bcrypt hash, the only kind the cache checks: make it with `htpasswd -B %s %s`", from, i+1, user, from, user)
		}
		users = append(users, user)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s has no users: add one with `htpasswd -cB %s USER`", from, from)
	}
	return users, nil
}

// htpasswdFile is the htpasswd file, restarting the units that read it.
func (l Layout) htpasswdFile(units ...string) []File {
	if !l.PushAuth || l.Htpasswd == "" {
		return nil
	}
	content := l.Htpasswd
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return []File{{Path: HtpasswdFile, Mode: 0o640, Content: content, Units: units}}
}
