package bake

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/internal/digest"
)

// DefaultReleaseURL is where Kubernetes publishes its release binaries:
// <url>/<version>/bin/linux/<arch>/<binary>, each with a .sha256 beside it.
const DefaultReleaseURL = "https://dl.k8s.io/release"

// Where containerd and runc publish their releases: containerd
// <url>/v<V>/containerd-<V>-linux-<arch>.tar.gz with a .sha256sum beside it,
// runc <url>/v<V>/runc.<arch> with the list runc.sha256sum.
const (
	DefaultContainerdReleaseURL = "https://github.com/containerd/containerd/releases/download"
	DefaultRuncReleaseURL       = "https://github.com/opencontainers/runc/releases/download"
)

// binarySet is a group of binaries a bake takes from one source: a local
// directory or an upstream release.
type binarySet struct {
	// what names the set in errors, with the flag that gives a directory.
	what, flag string
	names      []string
	// dest is the directory in the instance the binaries go to.
	dest string
	// hint says what the directory must hold and what makes it.
	hint string
}

var (
	// kubeBinaries go into /usr/bin of a kube image.
	kubeBinaries = binarySet{
		what: "kube artifacts", flag: "--kube-artifacts",
		names: []string{"kubeadm", "kubelet", "kubectl"}, dest: "/usr/bin",
		hint: "kubeadm, kubelet and kubectl of the requested version (hack/k8s-artifacts.sh builds them)",
	}
	// runtimeBinaries go into /usr/local/bin, beside nothing dpkg owns; the
	// containerd unit the bake writes runs them from there.
	runtimeBinaries = binarySet{
		what: "runtime artifacts", flag: "--runtime-artifacts",
		names: []string{"containerd", "containerd-shim-runc-v2", "runc"}, dest: "/usr/local/bin",
		hint: "containerd, containerd-shim-runc-v2 and runc of the requested versions (hack/runtime-artifacts.sh builds them)",
	}
)

// artifact is one binary for the image: where it is on this machine (Path,
// once known) or where to download it (URL), and the sha256 of what is
// downloaded (or of the local file).
type artifact struct {
	Name string
	Path string
	URL  string
	// SHA256 is the published sum of what URL serves: the binary itself, or
	// the tar.gz that holds it at Member.
	SHA256 string
	Member string
	// Dest is the directory in the instance the binary goes to.
	Dest string
	// fileSum is the sha256 of the file at Path, once known.
	fileSum string
}

// localArtifacts reads a set's binaries from an artifact directory
// (air-gapped use and the tests) and hashes them, all at once: hashing the
// ~210 MB of Kubernetes binaries is most of an unchanged re-bake.
func localArtifacts(dir string, set binarySet) ([]artifact, error) {
	out := make([]artifact, len(set.names))
	errs := make([]error, len(set.names))
	var wg sync.WaitGroup
	for i, name := range set.names {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err == nil && !st.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w; the directory must hold %s", set.what, p, err, set.hint)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := digest.FileSHA256(p)
			if err != nil {
				errs[i] = fmt.Errorf("%s: hashing %s: %w", set.what, p, err)
				return
			}
			out[i] = artifact{Name: name, Path: p, SHA256: sum, Dest: set.dest, fileSum: sum}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// releaseArtifacts names the upstream Kubernetes release binaries and reads
// their published sha256 sums, which is all the inputs hash needs: a cache
// hit downloads nothing else.
func releaseArtifacts(ctx context.Context, client *http.Client, baseURL, version, arch string) ([]artifact, error) {
	out := make([]artifact, 0, len(kubeBinaries.names))
	for _, name := range kubeBinaries.names {
		u := fmt.Sprintf("%s/%s/bin/linux/%s/%s", strings.TrimRight(baseURL, "/"), version, arch, name)
		body, err := httpGet(ctx, client, u+".sha256", 1<<10)
		if err != nil {
			return nil, fmt.Errorf("reading the sha256 of %s %s: %w; without network access to the release downloads, pass --kube-artifacts DIR", name, version, err)
		}
		sum := strings.ToLower(strings.Fields(string(body) + " ")[0])
		if !hexSHA256.MatchString(sum) {
			return nil, fmt.Errorf("reading the sha256 of %s %s: %s does not hold a sha256 sum", name, version, u+".sha256")
		}
		out = append(out, artifact{Name: name, URL: u, SHA256: sum, Dest: kubeBinaries.dest})
	}
	return out, nil
}

// runtimeReleaseArtifacts names containerd's release tarball (containerd
// and its runc shim are taken out of it) and runc's release binary, with
// their published sums. Versions are like v2.4.2.
func runtimeReleaseArtifacts(ctx context.Context, client *http.Client, containerdURL, runcURL, containerdVersion, runcVersion, arch string) ([]artifact, error) {
	cv, rv := strings.TrimPrefix(containerdVersion, "v"), strings.TrimPrefix(runcVersion, "v")
	tarball := fmt.Sprintf("containerd-%s-linux-%s.tar.gz", cv, arch)
	tarURL := fmt.Sprintf("%s/v%s/%s", strings.TrimRight(containerdURL, "/"), cv, tarball)
	csum, err := publishedSum(ctx, client, tarURL+".sha256sum", tarball)
	if err != nil {
		return nil, fmt.Errorf("reading the sha256 of containerd %s: %w; without network access to the release downloads, pass --runtime-artifacts DIR", containerdVersion, err)
	}
	runcName := "runc." + arch
	runcBase := fmt.Sprintf("%s/v%s/", strings.TrimRight(runcURL, "/"), rv)
	rsum, err := publishedSum(ctx, client, runcBase+"runc.sha256sum", runcName)
	if err != nil {
		return nil, fmt.Errorf("reading the sha256 of runc %s: %w; without network access to the release downloads, pass --runtime-artifacts DIR", runcVersion, err)
	}
	dest := runtimeBinaries.dest
	return []artifact{
		{Name: "containerd", URL: tarURL, SHA256: csum, Member: "bin/containerd", Dest: dest},
		{Name: "containerd-shim-runc-v2", URL: tarURL, SHA256: csum, Member: "bin/containerd-shim-runc-v2", Dest: dest},
		{Name: "runc", URL: runcBase + runcName, SHA256: rsum, Dest: dest},
	}, nil
}

// publishedSum reads a sha256sum(1) list ("<sum>  <name>" lines, a '*'
// before binary names) and returns name's sum.
func publishedSum(ctx context.Context, client *http.Client, url, name string) (string, error) {
	body, err := httpGet(ctx, client, url, 64<<10)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name {
			sum := strings.ToLower(f[0])
			if !hexSHA256.MatchString(sum) {
				return "", fmt.Errorf("%s: %q is not a sha256 sum", url, f[0])
			}
			return sum, nil
		}
	}
	return "", fmt.Errorf("%s lists no sha256 for %s", url, name)
}

// fetch makes sure a release binary is in cacheDir, downloading what URL
// serves when no copy with the right sum is there, and sets a.Path. A
// download whose sum does not match is discarded. A binary in a tarball is
// extracted from the checked tarball each time (a second of work for
// containerd's), so nothing unchecked is ever used.
func (a *artifact) fetch(ctx context.Context, client *http.Client, cacheDir string) error {
	if a.Path != "" {
		return nil
	}
	dir := filepath.Join(cacheDir, a.SHA256[:16])
	if a.Member == "" {
		p := filepath.Join(dir, a.Name)
		if err := download(ctx, client, a.URL, a.SHA256, p, 0o755); err != nil {
			return err
		}
		a.Path, a.fileSum = p, a.SHA256
		return nil
	}
	tarball := filepath.Join(dir, pathBase(a.URL))
	if err := download(ctx, client, a.URL, a.SHA256, tarball, 0o644); err != nil {
		return err
	}
	p := filepath.Join(dir, a.Name)
	sum, err := extract(tarball, a.Member, p)
	if err != nil {
		return fmt.Errorf("taking %s out of %s: %w", a.Member, a.URL, err)
	}
	a.Path, a.fileSum = p, sum
	return nil
}

func pathBase(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// download makes sure path holds what url serves, with sha256 sum; a file
// already there with that sum is kept.
func download(ctx context.Context, client *http.Client, url, sum, path string, mode os.FileMode) error {
	if got, err := digest.FileSHA256(path); err == nil && got == sum {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".part-*")
	if err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	defer os.Remove(tmp.Name())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tmp.Close()
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tmp.Close()
		return fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("downloading %s: sha256 is %s, the release says %s; the download was discarded", url, got, sum)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	return nil
}

// extract writes the regular file member of the tar.gz at tarball to dest
// (mode 0755) and returns its sha256.
func extract(tarball, member, dest string) (string, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("the archive has no %s", member)
		}
		if err != nil {
			return "", err
		}
		if path.Clean(strings.TrimPrefix(hdr.Name, "./")) != member {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return "", fmt.Errorf("%s in the archive is not a regular file", member)
		}
		tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".part-*")
		if err != nil {
			return "", err
		}
		defer os.Remove(tmp.Name())
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(tmp, h), tr)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o755)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), dest)
		}
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
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
