package engine

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// LabKey stands for the lab namespace where StorageScript names an upstream:
// no upstream name has parentheses.
const LabKey = "(lab)"

// StorageScript prints what the cache holds, one fact a line:
// "blob UPSTREAM DIGEST" (stored data), "link UPSTREAM REPO DIGEST" (a blob
// a repository can serve), "repo UPSTREAM REPOSITORY" and
// "size UPSTREAM BYTES"; repositories are named as the upstream names them.
// A blob counts once its data is complete: distribution moves a blob into
// place and links it when it is committed, Zot after checking its digest.
// A blob serves only the repositories it is linked into, which is why warm
// looks at links.
func (l Layout) StorageScript(blobs, repos bool) string {
	var b strings.Builder
	b.WriteString("set -u\n")
	if l.Engine == EngineZot {
		fmt.Fprintf(&b, "cd %s 2>/dev/null || exit 0\n", ZotStorageDir)
		for _, e := range l.Endpoints {
			fmt.Fprintf(&b, "if [ -d %s ]; then\n", e.Prefix)
			fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", e.Name, e.Prefix)
			if blobs {
				fmt.Fprintf(&b, "  find %s -path '*/blobs/sha256/*' ! -path '*/.sync/*' -type f | sed -n 's|^%s/\\(.*\\)/blobs/sha256/\\([0-9a-f]*\\)$|link %s \\1 sha256:\\2|p'\n", e.Prefix, e.Prefix, e.Name)
			}
			if repos {
				fmt.Fprintf(&b, "  find %s -name index.json ! -path '*/.sync/*' -type f | sed -n 's|^%s/\\(.*\\)/index.json$|repo %s \\1|p'\n", e.Prefix, e.Prefix, e.Name)
			}
			b.WriteString("fi\n")
		}
		fmt.Fprintf(&b, "if [ -d %s ]; then\n", LabPrefix)
		fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", LabKey, LabPrefix)
		if repos {
			fmt.Fprintf(&b, "  find %s -name index.json ! -path '*/.sync/*' -type f | sed -n 's|^\\(.*\\)/index.json$|repo %s \\1|p'\n", LabPrefix, LabKey)
		}
		b.WriteString("fi\n")
		return b.String()
	}
	for _, e := range l.Endpoints {
		dir := DistributionStorageDir(e.Name)
		v2 := dir + "/docker/registry/v2"
		fmt.Fprintf(&b, "if [ -d %s ]; then\n", dir)
		fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", e.Name, dir)
		if blobs {
			fmt.Fprintf(&b, "  [ -d %s/blobs ] && find %s/blobs/sha256 -name data -type f | sed -n 's|^.*/\\([0-9a-f]*\\)/data$|blob %s sha256:\\1|p'\n", v2, v2, e.Name)
			fmt.Fprintf(&b, "  [ -d %s/repositories ] && find %s/repositories -path '*/_layers/sha256/*/link' -type f | sed -n 's|^%s/repositories/\\(.*\\)/_layers/sha256/\\([0-9a-f]*\\)/link$|link %s \\1 sha256:\\2|p'\n", v2, v2, v2, e.Name)
		}
		if repos {
			fmt.Fprintf(&b, "  [ -d %s/repositories ] && find %s/repositories -name _manifests -type d | sed -n 's|^%s/repositories/\\(.*\\)/_manifests$|repo %s \\1|p'\n", v2, v2, v2, e.Name)
		}
		b.WriteString("fi\n")
	}
	v2 := LabStorageDir + "/docker/registry/v2"
	fmt.Fprintf(&b, "if [ -d %s ]; then\n", LabStorageDir)
	fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", LabKey, LabStorageDir)
	if repos {
		fmt.Fprintf(&b, "  [ -d %s/repositories ] && find %s/repositories -name _manifests -type d | sed -n 's|^%s/repositories/\\(.*\\)/_manifests$|repo %s \\1|p'\n", v2, v2, v2, LabKey)
	}
	b.WriteString("fi\n")
	b.WriteString("true\n")
	return b.String()
}

// Storage is what StorageScript printed: what a cache's storage holds.
type Storage struct {
	// Blobs are the digests stored, by upstream.
	Blobs map[string]map[string]bool
	// Links are the blobs each repository can serve.
	Links Inventory
	// Repos are the repositories cached, by upstream, sorted.
	Repos map[string][]string
	// Size is the bytes stored, by upstream.
	Size map[string]int64
}

// Inventory is what a cache can serve without asking its upstreams: by
// upstream, the set of "REPOSITORY@DIGEST" (repositories as the upstream
// names them).
type Inventory map[string]map[string]bool

// Has reports whether the cache can serve blob digest of an upstream's
// repository without asking the upstream.
func (inv Inventory) Has(upstream, repo, digest string) bool {
	return inv[upstream][repo+"@"+digest]
}

// ParseStorage reads StorageScript's output; lines it does not know are
// skipped.
func ParseStorage(out string) Storage {
	f := Storage{Blobs: map[string]map[string]bool{}, Links: Inventory{}, Repos: map[string][]string{}, Size: map[string]int64{}}
	add := func(m map[string]map[string]bool, up, key string) {
		if m[up] == nil {
			m[up] = map[string]bool{}
		}
		m[up][key] = true
	}
	zotBlobs := map[string]map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 && fields[0] == "link" {
			add(f.Links, fields[1], fields[2]+"@"+fields[3])
			add(zotBlobs, fields[1], fields[3])
			continue
		}
		if len(fields) != 3 {
			continue
		}
		up := fields[1]
		switch fields[0] {
		case "blob":
			add(f.Blobs, up, fields[2])
		case "repo":
			f.Repos[up] = append(f.Repos[up], path.Clean(fields[2]))
		case "size":
			n, _ := strconv.ParseInt(fields[2], 10, 64)
			f.Size[up] = n
		}
	}
	for up := range f.Repos {
		slices.Sort(f.Repos[up])
	}
	// Zot keeps blobs per repository: its stored blobs are its links'.
	for up, ds := range zotBlobs {
		if _, ok := f.Blobs[up]; !ok {
			f.Blobs[up] = ds
		}
	}
	return f
}
