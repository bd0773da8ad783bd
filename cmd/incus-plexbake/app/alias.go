package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/incus"
)

// aliasName is the incus CLI alias that makes `incus plexbake` work.
const aliasName = "plexbake"

// thisExecutable is the absolute, symlink-free path of the running program.
func thisExecutable() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("finding this executable's path: %w", err)
	}
	if strings.HasPrefix(exe, os.TempDir()+string(filepath.Separator)) && strings.Contains(exe, "go-build") {
		return "", fmt.Errorf("this is a temporary `go run` build (%s); build incus-plexbake (make build) and run alias install from the binary", exe)
	}
	return exe, nil
}

// newAliasCommand builds `alias install|remove`; executable says what the
// alias points at.
func newAliasCommand(out io.Writer, executable func() (string, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "Install or remove the incus alias that makes `incus plexbake` work",
		Long: `Incus runs an alias whose value starts with "/" as a program, so the alias
plexbake → /absolute/path/incus-plexbake makes "incus plexbake …" run this
program. It is stored in the incus client configuration (config.yml), as
"incus alias add" would store it.`,
	}
	var configPath string
	cmd.PersistentFlags().StringVar(&configPath, "config", "", "incus client config.yml (default: the incus CLI's)")
	cmd.AddCommand(&cobra.Command{
		Use:     "install",
		Short:   "Point the incus alias plexbake at this executable",
		Example: "  incus-plexbake alias install\n  incus plexbake version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			exe, err := executable()
			if err != nil {
				return err
			}
			ch, err := incus.InstallAlias(configPath, aliasName, exe)
			if err != nil {
				return err
			}
			switch {
			case !ch.Changed:
				fmt.Fprintf(out, "incus alias %s → %s is already installed (%s)\n", aliasName, exe, ch.ConfigPath)
			case ch.Previous != "":
				fmt.Fprintf(out, "changed incus alias %s from %s to %s in %s\n", aliasName, ch.Previous, exe, ch.ConfigPath)
			default:
				fmt.Fprintf(out, "added incus alias %s → %s to %s\n", aliasName, exe, ch.ConfigPath)
			}
			fmt.Fprintf(out, "run it as: incus %s --help\nremove it with: incus-plexbake alias remove (or: incus alias remove %s)\n", aliasName, aliasName)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "remove",
		Short: "Remove the incus alias plexbake",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ch, err := incus.RemoveAlias(configPath, aliasName)
			if err != nil {
				return err
			}
			if !ch.Changed {
				fmt.Fprintf(out, "there is no incus alias %s in %s; nothing to do\n", aliasName, ch.ConfigPath)
				return nil
			}
			fmt.Fprintf(out, "removed incus alias %s (was %s) from %s\n", aliasName, ch.Previous, ch.ConfigPath)
			return nil
		},
	})
	return cmd
}
