package warm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ParseImageList reads a list of images: one reference a line; blank lines
// and everything after a '#' are ignored. Every line that is not an image
// reference is reported, with its line number, at once.
func ParseImageList(r io.Reader, source string) ([]string, error) {
	var out, errs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			errs = append(errs, fmt.Sprintf("%s:%d: %q: one image per line", source, n, line))
			continue
		}
		if _, err := name.ParseReference(line); err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %q is not an image reference: %v", source, n, line, err))
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// kubeadmImageVersions are the images kubeadm pulls for a Kubernetes minor
// version besides the control-plane components of the exact version: from
// cmd/kubeadm/app/constants (DefaultEtcdVersion, CoreDNSVersion,
// PauseVersion) of that release.
var kubeadmImageVersions = map[string]struct{ etcd, coredns, pause string }{
	"1.34": {etcd: "3.6.5-0", coredns: "v1.12.1", pause: "3.10.1"},
}

var kubeVersionRE = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)\.([0-9]+)$`)

// KubeadmImages lists what `kubeadm config images list` prints for a
// Kubernetes version with the default image repository registry.k8s.io.
func KubeadmImages(version string) ([]string, error) {
	m := kubeVersionRE.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("kubernetes version %q is not vMAJOR.MINOR.PATCH like v1.34.4", version)
	}
	minor := m[1] + "." + m[2]
	v, ok := kubeadmImageVersions[minor]
	if !ok {
		known := make([]string, 0, len(kubeadmImageVersions))
		for k := range kubeadmImageVersions {
			known = append(known, "v"+k+".x")
		}
		sort.Strings(known)
		return nil, fmt.Errorf("plex-registry knows kubeadm's images for %s only, not v%s: list them with `kubeadm config images list --kubernetes-version %s` and pass them with -f", strings.Join(known, ", "), minor, version)
	}
	tag := "v" + strings.TrimPrefix(version, "v")
	const repo = "registry.k8s.io/"
	return []string{
		repo + "kube-apiserver:" + tag,
		repo + "kube-controller-manager:" + tag,
		repo + "kube-scheduler:" + tag,
		repo + "kube-proxy:" + tag,
		repo + "coredns/coredns:" + v.coredns,
		repo + "pause:" + v.pause,
		repo + "etcd:" + v.etcd,
	}, nil
}

// ClusterImages lists the images of the pods in a cluster: every
// container, init container and ephemeral container, once each, sorted.
func ClusterImages(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the pods: %w", err)
	}
	return podImages(pods.Items), nil
}

func podImages(pods []corev1.Pod) []string {
	seen := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.InitContainers {
			seen[c.Image] = true
		}
		for _, c := range p.Spec.Containers {
			seen[c.Image] = true
		}
		for _, c := range p.Spec.EphemeralContainers {
			seen[c.Image] = true
		}
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	slices.Sort(out)
	return out
}
