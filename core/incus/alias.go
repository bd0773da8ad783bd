package incus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lxc/incus/v6/shared/cliconfig"
)

// AliasChange says what InstallAlias or RemoveAlias did to the incus client
// configuration.
type AliasChange struct {
	// ConfigPath is the config.yml that was read (and written when Changed).
	ConfigPath string
	Name       string
	// Value is the alias's value now ("" once removed); Previous its value
	// before ("" when there was none).
	Value, Previous string
	Changed         bool
}

// InstallAlias sets the incus CLI alias name to value in the client
// configuration (configPath, or the CLI's own when empty), as `incus alias
// add` does. A value starting with "/" makes the CLI run that program
// directly: `incus NAME args…` runs `value args…`. Setting the value it
// already has changes nothing.
func InstallAlias(configPath, name, value string) (AliasChange, error) {
	conf, path, err := loadClientConfig(configPath)
	if err != nil {
		return AliasChange{}, err
	}
	ch := AliasChange{ConfigPath: path, Name: name, Value: value, Previous: conf.Aliases[name]}
	if ch.Previous == value {
		return ch, nil
	}
	if conf.Aliases == nil {
		conf.Aliases = map[string]string{}
	}
	conf.Aliases[name] = value
	if err := saveClientConfig(conf, path); err != nil {
		return ch, err
	}
	ch.Changed = true
	return ch, nil
}

// RemoveAlias deletes the incus CLI alias name; a missing alias changes
// nothing.
func RemoveAlias(configPath, name string) (AliasChange, error) {
	conf, path, err := loadClientConfig(configPath)
	if err != nil {
		return AliasChange{}, err
	}
	prev, ok := conf.Aliases[name]
	ch := AliasChange{ConfigPath: path, Name: name, Previous: prev}
	if !ok {
		return ch, nil
	}
	delete(conf.Aliases, name)
	if err := saveClientConfig(conf, path); err != nil {
		return ch, err
	}
	ch.Changed = true
	return ch, nil
}

// loadClientConfig reads the client configuration and says where it lives.
func loadClientConfig(configPath string) (*cliconfig.Config, string, error) {
	conf, err := cliconfig.LoadConfig(configPath)
	if err != nil {
		return nil, "", fmt.Errorf("loading the incus client configuration: %w", err)
	}
	path := configPath
	if path == "" {
		if conf.ConfigDir == "" {
			return nil, "", errors.New("cannot tell where the incus client configuration lives: set INCUS_CONF or HOME")
		}
		path = conf.ConfigPath("config.yml")
	}
	return conf, path, nil
}

func saveClientConfig(conf *cliconfig.Config, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("creating the incus client configuration directory: %w", err)
	}
	if err := conf.SaveConfig(path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
