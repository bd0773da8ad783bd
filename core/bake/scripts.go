package bake

import (
	"embed"
	"fmt"
)

// scriptFS holds the shell scripts that run inside the transient instance.
// Their text is part of every image's inputs hash: editing one re-bakes.
//
//go:embed scripts/*.sh
var scriptFS embed.FS

// scriptDir is where the scripts are pushed in the instance; clean.sh removes it.
const scriptDir = "/var/lib/plexbake"

// script returns the text of one embedded script.
func script(name string) string {
	b, err := scriptFS.ReadFile("scripts/" + name)
	if err != nil {
		panic(fmt.Sprintf("bake: no embedded script %s", name))
	}
	return string(b)
}

// typeScripts are the scripts a node type runs, in the order the bake runs
// them.
var typeScripts = map[string][]string{
	TypeKube: {"wait-boot.sh", "kube-provision.sh", "kube-verify.sh", "clean.sh"},
}
