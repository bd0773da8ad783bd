package bake

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

// recipeFS holds what the bake puts into the transient instance: the shell
// scripts that run there (scripts/) and the files written into a container
// before its first boot (files/, by their path in the instance). All of it is
// part of every image's inputs hash: editing any of it re-bakes.
//
//go:embed scripts/*.sh all:files
var recipeFS embed.FS

// scriptDir is where the scripts are pushed in the instance; clean.sh removes it.
const scriptDir = "/var/lib/plexbake"

// script returns the text of one embedded script.
func script(name string) string {
	b, err := recipeFS.ReadFile("scripts/" + name)
	if err != nil {
		panic(fmt.Sprintf("bake: no embedded script %s", name))
	}
	return string(b)
}

// bootFiles are the files written into a container before it first starts,
// by absolute path. They have to be there at boot: the networkd drop-in, for
// one, is what lets a base without it get online under the kube profile's
// writable /sys at all.
func bootFiles() map[string]string {
	out := map[string]string{}
	err := fs.WalkDir(recipeFS, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := recipeFS.ReadFile(p)
		out[strings.TrimPrefix(p, "files")] = string(b)
		return err
	})
	if err != nil {
		panic(fmt.Sprintf("bake: reading the embedded files: %v", err))
	}
	return out
}
