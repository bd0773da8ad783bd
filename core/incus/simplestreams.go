package incus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// A simplestreams image server publishes streams/v1/index.json, which names
// the products file (streams/v1/images.json). A product is one OS release,
// variant and architecture; its versions are dated builds, and Incus names
// a build by the "combined" sha256 of its metadata and root files. Only
// that fingerprint is needed here: incusd downloads the image itself.

type ssIndex struct {
	Index map[string]struct {
		DataType string `json:"datatype"`
		Path     string `json:"path"`
	} `json:"index"`
}

type ssProducts struct {
	Products map[string]struct {
		Aliases  string `json:"aliases"`
		Arch     string `json:"arch"`
		OS       string `json:"os"`
		Release  string `json:"release"`
		Variant  string `json:"variant"`
		Versions map[string]struct {
			Items map[string]ssItem `json:"items"`
		} `json:"versions"`
	} `json:"products"`
}

type ssItem struct {
	FileType         string `json:"ftype"`
	CombinedSquashFS string `json:"combined_squashfs_sha256"`
	CombinedRootXz   string `json:"combined_rootxz_sha256"`
	Combined         string `json:"combined_sha256"`
	CombinedDiskKVM  string `json:"combined_disk-kvm-img_sha256"`
}

// resolveSimpleStreams finds the newest build of the product whose aliases
// include alias, for arch, and returns its fingerprint and properties.
func resolveSimpleStreams(ctx context.Context, ep rest.Endpoint, alias, arch string, vm bool) (*Image, error) {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: ep.TLS}}
	base := strings.TrimRight(ep.URL, "/")
	var idx ssIndex
	if err := getJSON(ctx, hc, base+"/streams/v1/index.json", &idx); err != nil {
		return nil, err
	}
	path := "streams/v1/images.json"
	for _, e := range idx.Index {
		if e.DataType == "image-downloads" && e.Path != "" {
			path = e.Path
		}
	}
	var ps ssProducts
	if err := getJSON(ctx, hc, base+"/"+path, &ps); err != nil {
		return nil, err
	}
	for _, p := range ps.Products {
		if p.Arch != arch || !hasAlias(p.Aliases, alias) {
			continue
		}
		serials := make([]string, 0, len(p.Versions))
		for v := range p.Versions {
			serials = append(serials, v)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(serials)))
		for _, serial := range serials {
			if fp := ssFingerprint(p.Versions[serial].Items, vm); fp != "" {
				props := map[string]string{"os": p.OS, "release": p.Release, "architecture": p.Arch, "serial": serial}
				if p.Variant != "" {
					props["variant"] = p.Variant
				}
				return &Image{Fingerprint: fp, Properties: props}, nil
			}
		}
	}
	kind := "container"
	if vm {
		kind = "virtual-machine"
	}
	return nil, fmt.Errorf("no %s image with alias %q for %s (see `incus image list REMOTE:`): %w", kind, alias, arch, ErrNotFound)
}

// ssFingerprint is the fingerprint Incus gives a build: its metadata item's
// combined hash with the root file the instance type uses.
func ssFingerprint(items map[string]ssItem, vm bool) string {
	var meta *ssItem
	roots := map[string]bool{}
	for _, it := range items {
		switch it.FileType {
		case "incus.tar.xz", "lxd.tar.xz":
			m := it
			meta = &m
		default:
			roots[it.FileType] = true
		}
	}
	if meta == nil {
		return ""
	}
	switch {
	case vm && roots["disk-kvm.img"]:
		return meta.CombinedDiskKVM
	case vm:
		return ""
	case roots["squashfs"]:
		return meta.CombinedSquashFS
	case roots["root.tar.xz"] && meta.CombinedRootXz != "":
		return meta.CombinedRootXz
	case roots["root.tar.xz"]:
		return meta.Combined
	}
	return ""
}

func hasAlias(list, alias string) bool {
	for _, a := range strings.Split(list, ",") {
		if strings.TrimSpace(a) == alias {
			return true
		}
	}
	return false
}

func getJSON(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reading %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}
