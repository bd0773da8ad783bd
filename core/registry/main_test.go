package registry

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pullEnv makes the test binary a puller: the integration test pushes it
// into a container and pulls images through the cache with it.
const pullEnv = "PLEX_REGISTRY_TEST_PULL"

func TestMain(m *testing.M) {
	if os.Getenv(pullEnv) != "" {
		os.Exit(pullMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// pullMain pulls each image (linux/amd64 of an index) and reads every blob,
// which go-containerregistry checks against its digest. It prints one line
// per image and returns non-zero when any failed.
func pullMain(refs []string) int {
	rc := 0
	for _, s := range refs {
		n, err := pullOne(s)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", s, err)
			rc = 1
			continue
		}
		fmt.Printf("ok %s %d\n", s, n)
	}
	return rc
}

func pullOne(s string) (int64, error) {
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		return 0, err
	}
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return 0, err
	}
	if _, err := img.ConfigFile(); err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		r, err := l.Compressed()
		if err != nil {
			return total, err
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
