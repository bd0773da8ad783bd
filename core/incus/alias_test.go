package incus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
