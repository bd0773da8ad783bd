package bake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/internal/digest"
)

// DefaultReleaseURL is where Kubernetes publishes its release binaries:
// <url>/<version>/bin/linux/<arch>/<binary>, each with a .sha256 beside it.
const DefaultReleaseURL = "https://dl.k8s.io/release"

// kubeBinaries go into /usr/bin of a kube image.
var kubeBinaries = []string{"kubeadm", "kubelet", "kubectl"}

// artifact is one Kubernetes binary: where it is on this machine (Path, once
// known) or where to download it (URL), and the sha256 it must have.
type artifact struct {
	Name   string
	Path   string
	URL    string
	SHA256 string
}

// localArtifacts reads the binaries from an artifact directory (air-gapped
// use and the tests) and hashes them, all at once: hashing the ~210 MB is
// most of an unchanged re-bake.
func localArtifacts(dir string) ([]artifact, error) {
	out := make([]artifact, len(kubeBinaries))
	errs := make([]error, len(kubeBinaries))
	var wg sync.WaitGroup
	for i, name := range kubeBinaries {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err == nil && !st.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			return nil, fmt.Errorf("kube artifacts: %s: %w; the directory must hold kubeadm, kubelet and kubectl of the requested version (hack/k8s-artifacts.sh builds them)", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := digest.FileSHA256(p)
			if err != nil {
				errs[i] = fmt.Errorf("kube artifacts: hashing %s: %w", p, err)
				return
			}
			out[i] = artifact{Name: name, Path: p, SHA256: sum}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// releaseArtifacts names the upstream release binaries and reads their
// published sha256 sums, which is all the inputs hash needs: a cache hit
// downloads nothing else.
func releaseArtifacts(ctx context.Context, client *http.Client, baseURL, version, arch string) ([]artifact, error) {
	out := make([]artifact, 0, len(kubeBinaries))
	for _, name := range kubeBinaries {
		u := fmt.Sprintf("%s/%s/bin/linux/%s/%s", strings.TrimRight(baseURL, "/"), version, arch, name)
		body, err := httpGet(ctx, client, u+".sha256", 1<<10)
		if err != nil {
			return nil, fmt.Errorf("reading the sha256 of %s %s: %w; without network access to the release downloads, pass --kube-artifacts DIR", name, version, err)
		}
		sum := strings.ToLower(strings.Fields(string(body) + " ")[0])
		if !hexSHA256.MatchString(sum) {
			return nil, fmt.Errorf("reading the sha256 of %s %s: %s does not hold a sha256 sum", name, version, u+".sha256")
		}
		out = append(out, artifact{Name: name, URL: u, SHA256: sum})
	}
	return out, nil
}

// fetch makes sure a release binary is in cacheDir with the right sum,
// downloading it when it is not, and sets a.Path. A download whose sum does
// not match is discarded.
func (a *artifact) fetch(ctx context.Context, client *http.Client, cacheDir string) error {
	if a.Path != "" {
		return nil
	}
	dir := filepath.Join(cacheDir, a.SHA256[:16])
	p := filepath.Join(dir, a.Name)
	if sum, err := digest.FileSHA256(p); err == nil && sum == a.SHA256 {
		a.Path = p
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	tmp, err := os.CreateTemp(dir, a.Name+".part-*")
	if err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	defer os.Remove(tmp.Name())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		tmp.Close()
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tmp.Close()
		return fmt.Errorf("downloading %s: %s", a.URL, resp.Status)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
		return fmt.Errorf("downloading %s: sha256 is %s, the release says %s; the download was discarded", a.URL, got, a.SHA256)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	a.Path = p
	return nil
}

func httpGet(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}
