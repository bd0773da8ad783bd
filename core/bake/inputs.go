package bake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// FormatVersion is the version of the bake recipe. Bump it when the steps
// change in a way that the hashed inputs (the scripts' text, the options)
// do not show, so that existing images stop counting as up to date.
const FormatVersion = 1

// Inputs is everything that decides what a baked image holds. Two bakes with
// equal Inputs make equivalent images, so a bake whose inputs hash matches
// the alias's image does nothing. What does not change the image (the apt
// proxy, the artifact directory's path, the alias) is left out.
type Inputs struct {
	Format          int    `json:"format"`
	Type            string `json:"type"`
	VM              bool   `json:"vm"`
	BaseFingerprint string `json:"baseFingerprint"`
	// KubernetesVersion and Artifacts (binary name → sha256) pin the
	// Kubernetes binaries, whichever source they come from.
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	Artifacts         map[string]string `json:"artifacts,omitempty"`
	// Scripts is the provisioning scripts' text by file name.
	Scripts map[string]string `json:"scripts"`
	// Files are the files written into a container before it boots, by path.
	Files map[string]string `json:"files,omitempty"`
	// Settings are the containerd/CNI/package choices the scripts are given.
	Settings map[string]string `json:"settings,omitempty"`
}

// Hash is the hex sha256 of the inputs' canonical JSON (Go sorts map keys).
func (in Inputs) Hash() string {
	b, err := json.Marshal(in)
	if err != nil {
		// Only strings, ints and bools: Marshal cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
