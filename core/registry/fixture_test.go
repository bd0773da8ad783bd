package registry

import (
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fixture is a set of images in an upstream registry: images with several
// layers, two tags of one repository that share layers, and a
// multi-platform index.
type fixture struct {
	// refs are the images as nodes name them, under the upstream's name.
	refs []string
	// digests are the images' manifest digests, by ref.
	digests map[string]string
	// blobs are the distinct "repo@digest" an amd64 warm needs.
	blobs map[string]bool
	// arm64 are the blobs only the arm64 image of the index has.
	arm64 map[string]bool
	// bytes is the size of blobs.
	bytes int64
}

// pushFixture pushes the fixture to the registry at host (host:port, plain
// HTTP), each repository under prefix, and names the images under upstream.
// layerSize is the size of each layer.
func pushFixture(t testing.TB, host, prefix, upstream string, layerSize int64) *fixture {
	t.Helper()
	f := &fixture{digests: map[string]string{}, blobs: map[string]bool{}, arm64: map[string]bool{}}
	put := func(repo, tag string, img v1.Image) {
		ref, err := name.ParseReference(fmt.Sprintf("%s/%s%s:%s", host, prefix, repo, tag), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		d, _ := img.Digest()
		id := upstream + "/" + repo + ":" + tag
		f.refs = append(f.refs, id)
		f.digests[id] = d.String()
	}
	addBlobs := func(repo string, img v1.Image, into map[string]bool) {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		into[repo+"@"+m.Config.Digest.String()] = true
		for _, l := range m.Layers {
			into[repo+"@"+l.Digest.String()] = true
		}
	}

	layered, err := random.Image(layerSize, 4)
	if err != nil {
		t.Fatal(err)
	}
	put("plex-test/layered", "v1", layered)
	addBlobs("plex-test/layered", layered, f.blobs)
	extra, err := random.Layer(layerSize, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := mutate.AppendLayers(layered, extra)
	if err != nil {
		t.Fatal(err)
	}
	put("plex-test/layered", "v2", v2)
	addBlobs("plex-test/layered", v2, f.blobs)

	single, err := random.Image(layerSize, 2)
	if err != nil {
		t.Fatal(err)
	}
	put("plex-test/single", "1.0", single)
	addBlobs("plex-test/single", single, f.blobs)

	amd, err := random.Image(layerSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	arm, err := random.Image(layerSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	ref, err := name.ParseReference(fmt.Sprintf("%s/%splex-test/multi:v1", host, prefix), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	f.refs = append(f.refs, upstream+"/plex-test/multi:v1")
	f.digests[upstream+"/plex-test/multi:v1"] = d.String()
	addBlobs("plex-test/multi", amd, f.blobs)
	addBlobs("plex-test/multi", arm, f.arm64)

	// bytes: every distinct blob an amd64 warm fetches.
	sizes := map[string]int64{}
	for _, img := range []struct {
		repo string
		img  v1.Image
	}{{"plex-test/layered", layered}, {"plex-test/layered", v2}, {"plex-test/single", single}, {"plex-test/multi", amd}} {
		m, _ := img.img.Manifest()
		sizes[img.repo+"@"+m.Config.Digest.String()] = m.Config.Size
		for _, l := range m.Layers {
			sizes[img.repo+"@"+l.Digest.String()] = l.Size
		}
	}
	for _, s := range sizes {
		f.bytes += s
	}
	return f
}
