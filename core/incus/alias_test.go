package incus

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestInstallRemoveAlias(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incus", "config.yml")
	ch, err := InstallAlias(path, "plexbake", "/opt/plex/incus-plexbake")
	if err != nil || !ch.Changed || ch.Previous != "" || ch.ConfigPath != path {
		t.Fatalf("install: %+v, %v", ch, err)
	}
	ch, err = InstallAlias(path, "plexbake", "/opt/plex/incus-plexbake")
	if err != nil || ch.Changed {
		t.Errorf("second install changed something: %+v, %v", ch, err)
	}
	ch, err = InstallAlias(path, "plexbake", "/usr/local/bin/incus-plexbake")
	if err != nil || !ch.Changed || ch.Previous != "/opt/plex/incus-plexbake" {
		t.Errorf("moving the alias: %+v, %v", ch, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "plexbake: /usr/local/bin/incus-plexbake") {
		t.Errorf("config.yml:\n%s", b)
	}
	ch, err = RemoveAlias(path, "plexbake")
	if err != nil || !ch.Changed {
		t.Errorf("remove: %+v, %v", ch, err)
	}
	ch, err = RemoveAlias(path, "plexbake")
	if err != nil || ch.Changed {
		t.Errorf("second remove: %+v, %v", ch, err)
	}
}

// userConfig has everything plex must not lose: comments, keys plex does not
// know (a newer CLI's), remotes with their settings, and other aliases.
const userConfig = `# my incus client configuration
default-remote: srv # the lab
remotes:
  # the lab server
  srv:
    addr: https://10.0.0.1:8443
    auth_type: tls
    keepalive: 30
    project: web
    protocol: incus
    public: false
  local:
    addr: unix://
    project: dev
    public: false
defaults:
  list_format: compact
future_key:
  - a
  - b
aliases:
  # list compactly
  ll: list -c ns # short
  yes-please: "yes"
`

func parseYAML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	return m
}

func TestAliasKeepsTheRestOfTheFile(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, path, []byte(userConfig))
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	before := parseYAML(t, []byte(userConfig))

	ch, err := InstallAlias(path, "plexbake", "/opt/plex/incus-plexbake")
	if err != nil || !ch.Changed {
		t.Fatalf("install: %+v, %v", ch, err)
	}
	b, _ := os.ReadFile(path)
	after := parseYAML(t, b)
	if got := after["aliases"].(map[string]any)["plexbake"]; got != "/opt/plex/incus-plexbake" {
		t.Errorf("plexbake = %v:\n%s", got, b)
	}
	delete(after["aliases"].(map[string]any), "plexbake")
	if !reflect.DeepEqual(after, before) {
		t.Errorf("install changed more than its alias:\n%s", b)
	}
	for _, c := range []string{"# my incus client configuration", "# the lab", "# the lab server", "# list compactly", "# short"} {
		if !bytes.Contains(b, []byte(c)) {
			t.Errorf("install lost the comment %q:\n%s", c, b)
		}
	}
	conf, err := LoadClientConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if conf.Aliases["ll"] != "list -c ns" || conf.Aliases["yes-please"] != "yes" || conf.Remotes["srv"].Project != "web" {
		t.Errorf("reloaded %+v", conf)
	}

	if ch, err := RemoveAlias(path, "plexbake"); err != nil || !ch.Changed || ch.Previous != "/opt/plex/incus-plexbake" {
		t.Fatalf("remove: %+v, %v", ch, err)
	}
	b, _ = os.ReadFile(path)
	if got := parseYAML(t, b); !reflect.DeepEqual(got, before) {
		t.Errorf("install then remove is not a no-op:\n%s", b)
	}
	for _, c := range []string{"# my incus client configuration", "# the lab server", "# short"} {
		if !bytes.Contains(b, []byte(c)) {
			t.Errorf("remove lost the comment %q:\n%s", c, b)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v, %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".config.yml.plex-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestAliasFreshFile(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "incus", "config.yml")
	if ch, err := RemoveAlias(path, "plexbake"); err != nil || ch.Changed {
		t.Fatalf("remove from a missing file: %+v, %v", ch, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removing created the file: %v", err)
	}
	if _, err := InstallAlias(path, "plexbake", "/opt/plex/incus-plexbake"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := map[string]any{
		"default-remote": "local",
		"remotes": map[string]any{
			"images": map[string]any{"addr": "https://images.linuxcontainers.org", "protocol": "simplestreams", "public": true},
			"local":  map[string]any{"addr": "unix://", "protocol": "incus", "public": false},
		},
		"aliases": map[string]any{"plexbake": "/opt/plex/incus-plexbake"},
	}
	if got := parseYAML(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("fresh config.yml:\n%s", b)
	}
	if !bytes.Contains(b, []byte("aliases:\n  plexbake: /opt/plex/incus-plexbake\n")) {
		t.Errorf("aliases not written as a block:\n%s", b)
	}
	conf, err := LoadClientConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := conf.Remotes["images"]; !r.Public || r.Protocol != "simplestreams" || conf.DefaultRemote != "local" {
		t.Errorf("images remote lost: %+v", conf.Remotes)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestAliasEdgeCases(t *testing.T) {
	tests := []struct {
		name, content string
		value         string
		// want are substrings of the written file.
		want    []string
		wantErr string
	}{
		{name: "empty file", content: "", want: []string{"aliases:\n  plexbake: /x\n"}},
		{name: "comments only", content: "# nothing yet\n", want: []string{"# nothing yet\n", "plexbake: /x"}},
		{name: "empty aliases", content: "aliases: {}\n", want: []string{"aliases:\n  plexbake: /x\n"}},
		{name: "null aliases", content: "default-remote: local\naliases:\n", want: []string{"default-remote: local\n", "aliases:\n  plexbake: /x\n"}},
		{name: "no aliases key", content: "default-remote: local\n", want: []string{"default-remote: local\n", "plexbake: /x"}},
		{name: "value that YAML 1.1 reads as a bool", content: "", value: "yes", want: []string{`plexbake: "yes"`}},
		{name: "duplicate entries collapse", content: "aliases:\n  plexbake: /old\n  ll: list\n  plexbake: /older\n", want: []string{"ll: list", "plexbake: /x"}},
		{name: "aliases not a mapping", content: "aliases: [a]\n", wantErr: "aliases is not a mapping"},
		{name: "top level not a mapping", content: "- a\n", wantErr: "top level is not a mapping"},
		{name: "several documents", content: "aliases: {}\n---\naliases: {}\n", wantErr: "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			path := filepath.Join(t.TempDir(), "config.yml")
			writeFile(t, path, []byte(tt.content))
			value := tt.value
			if value == "" {
				value = "/x"
			}
			_, err := InstallAlias(path, "plexbake", value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			for _, w := range tt.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("config.yml does not hold %q:\n%s", w, b)
				}
			}
			if bytes.Count(b, []byte("plexbake:")) != 1 {
				t.Errorf("plexbake written more than once:\n%s", b)
			}
			conf, err := LoadClientConfig(path)
			if err != nil {
				t.Fatalf("the CLI's reader cannot read the result: %v\n%s", err, b)
			}
			if conf.Aliases["plexbake"] != value {
				t.Errorf("plexbake = %q:\n%s", conf.Aliases["plexbake"], b)
			}
		})
	}
}

func TestAliasConfigLocation(t *testing.T) {
	tmp := isolate(t)
	if _, err := InstallAlias("", "plexbake", "/x"); err == nil || !strings.Contains(err.Error(), "INCUS_CONF") {
		t.Errorf("without a configuration directory: %v", err)
	}
	t.Setenv("INCUS_CONF", filepath.Join(tmp, "conf"))
	ch, err := InstallAlias("", "plexbake", "/x")
	if want := filepath.Join(tmp, "conf", "config.yml"); err != nil || ch.ConfigPath != want {
		t.Fatalf("%+v, %v; want %s", ch, err, want)
	}
}

func TestAliasKeepsASymlinkedFile(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "incus.yml")
	writeFile(t, target, []byte("default-remote: local\n"))
	link := filepath.Join(dir, "incus", "config.yml")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallAlias(link, "plexbake", "/x"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("config.yml is no longer a symlink: %v, %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); !bytes.Contains(b, []byte("plexbake: /x")) {
		t.Errorf("target not updated:\n%s", b)
	}
}
