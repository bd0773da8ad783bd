// Package flux bootstraps Flux onto a plex from Go: it renders the Flux
// components with github.com/fluxcd/flux2/v2's pkg/manifestgen/install (from
// a local directory for air-gapped use, or downloaded), the GitRepository and
// Kustomization with pkg/manifestgen/sync, and applies them with server-side
// apply through the plex's admin kubeconfig, as field manager "plex". It then
// waits until each controller is available and the first sync is ready.
package flux

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxcd/flux2/v2/pkg/manifestgen/install"
	fluxsync "github.com/fluxcd/flux2/v2/pkg/manifestgen/sync"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Defaults of Options and Sync.
const (
	DefaultNamespace = "flux-system"
	// DefaultName is the name of the GitRepository, the Kustomization and the
	// deploy key Secret, as `flux bootstrap` names them.
	DefaultName     = "flux-system"
	DefaultBranch   = "main"
	DefaultInterval = time.Minute
	// FieldManager owns every field plex applies.
	FieldManager = "plex"
)

// Options say which Flux to install.
type Options struct {
	// Version is the Flux release, like v2.7.3. Default DefaultVersion.
	Version string
	// Components to install. Default DefaultComponents.
	Components []string
	// Namespace Flux runs in. Default flux-system.
	Namespace string
	// Registry the controller images come from; the image of component C is
	// Registry/C:<its version>. Default ghcr.io/fluxcd.
	Registry string
	// ManifestsDir is a local directory holding what a Flux release's
	// manifests.tar.gz holds: <component>.yaml for each component, rbac.yaml
	// and policies.yaml. It is read, never written. Empty downloads the
	// release's manifests from GitHub, which needs the network.
	ManifestsDir string
	// Timeout bounds the download. Default one minute.
	Timeout time.Duration
}

// Sync says what Flux reconciles the plex from.
type Sync struct {
	// Name of the GitRepository and the Kustomization. Default flux-system.
	Name string
	// URL of the Git repository: http://, https:// or ssh://.
	URL string
	// Branch to follow. Default main.
	Branch string
	// Path in the repository to apply, like clusters/omniplex.
	Path string
	// Interval of the GitRepository. Default one minute.
	Interval time.Duration
	// Secret is the Secret with the Git credentials, in the Flux namespace;
	// empty for a public repository.
	Secret string
}

// setDefaults fills the zero fields of o.
func (o *Options) setDefaults() {
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if len(o.Components) == 0 {
		o.Components = append([]string(nil), DefaultComponents...)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Registry == "" {
		o.Registry = DefaultRegistry
	}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
}

func (s *Sync) setDefaults() {
	if s.Name == "" {
		s.Name = DefaultName
	}
	if s.Branch == "" {
		s.Branch = DefaultBranch
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
}

// Manifests are the objects fluxstrap applies, in the groups it applies them.
type Manifests struct {
	// Components are the Flux components as install.Generate renders them:
	// Namespace, CRDs, RBAC, NetworkPolicies, Services, Deployments.
	Components []*unstructured.Unstructured
	// Secret is the deploy key Secret of an SSH source, nil otherwise.
	Secret *unstructured.Unstructured
	// Sync are the GitRepository and the Kustomization; nil when only the
	// components are wanted.
	Sync []*unstructured.Unstructured
	// Header is a comment on what was generated, for WriteYAML.
	Header string
}

// All returns every object in apply order.
func (m *Manifests) All() []*unstructured.Unstructured {
	all := append([]*unstructured.Unstructured(nil), m.Components...)
	if m.Secret != nil {
		all = append(all, m.Secret)
	}
	return append(all, m.Sync...)
}

// WriteYAML writes every object as one multi-document YAML stream that
// `kubectl apply --server-side -f -` takes.
func (m *Manifests) WriteYAML(w io.Writer) error {
	var b bytes.Buffer
	if m.Header != "" {
		for _, l := range strings.Split(strings.TrimRight(m.Header, "\n"), "\n") {
			b.WriteString("# " + l + "\n")
		}
	}
	for _, o := range m.All() {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("writing %s as YAML: %w", describe(o), err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Generate renders the Flux components of o, and, when s is not nil, the
// GitRepository and Kustomization that sync from it (with key's Secret when
// the source is SSH). With o.ManifestsDir set nothing touches the network.
func Generate(o Options, s *Sync, key *DeployKey) (*Manifests, error) {
	o.setDefaults()
	comps, err := generateComponents(o)
	if err != nil {
		return nil, err
	}
	m := &Manifests{
		Components: comps,
		Header: fmt.Sprintf("Flux %s (%s), images from %s, generated by plex with fluxcd/flux2 pkg/manifestgen",
			o.Version, strings.Join(o.Components, ", "), o.Registry),
	}
	if s == nil {
		return m, nil
	}
	s.setDefaults()
	if key != nil {
		if s.Secret == "" {
			s.Secret = s.Name
		}
		m.Secret = key.Secret(s.Secret, o.Namespace)
	}
	m.Sync, err = generateSync(o, *s)
	if err != nil {
		return nil, err
	}
	m.Header += fmt.Sprintf("\nsync: %s branch %s path ./%s every %s", s.URL, s.Branch, strings.TrimPrefix(s.Path, "./"), s.Interval)
	return m, nil
}

// generateComponents runs install.Generate, offline from a copy of
// o.ManifestsDir when it is set (Generate writes into its base directory).
func generateComponents(o Options) ([]*unstructured.Unstructured, error) {
	in := install.MakeDefaultOptions()
	in.Version = o.Version
	in.Components = o.Components
	in.ComponentsExtra = nil
	in.Namespace = o.Namespace
	in.Registry = strings.TrimSuffix(o.Registry, "/")
	in.Timeout = o.Timeout

	base := ""
	if o.ManifestsDir != "" {
		dir, err := copyManifests(o.ManifestsDir, o.Components, in.NetworkPolicy)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		base = dir
	} else if !strings.HasPrefix(o.Version, "v") {
		return nil, fmt.Errorf("flux version %q: give a release like %s", o.Version, DefaultVersion)
	}
	man, err := install.Generate(in, base)
	if err != nil {
		if base == "" {
			return nil, fmt.Errorf("generating the Flux %s components (downloading them from %s; offline, give --manifests DIR): %w", o.Version, in.BaseURL, err)
		}
		return nil, fmt.Errorf("generating the Flux %s components from %s: %w", o.Version, o.ManifestsDir, err)
	}
	objs, err := decodeObjects([]byte(man.Content))
	if err != nil {
		return nil, fmt.Errorf("reading the generated Flux components: %w", err)
	}
	return objs, nil
}

// copyManifests checks that dir has what install.Generate reads, and copies
// its YAML files into a fresh temporary directory.
func copyManifests(dir string, components []string, networkPolicy bool) (string, error) {
	want := append([]string(nil), components...)
	want = append(want, "rbac")
	if networkPolicy {
		want = append(want, "policies")
	}
	var missing []string
	for _, w := range want {
		if _, err := os.Stat(filepath.Join(dir, w+".yaml")); err != nil {
			missing = append(missing, w+".yaml")
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("manifests directory %s lacks %s: it must hold what a Flux release's manifests.tar.gz holds (hack/flux-artifacts.sh builds it offline)", dir, strings.Join(missing, ", "))
	}
	tmp, err := os.MkdirTemp("", "plex-flux-")
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("reading manifests directory: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("copying the Flux manifests: %w", err)
		}
	}
	return tmp, nil
}

// generateSync runs sync.Generate and drops the secretRef of a source that
// needs no credentials (sync.Generate always writes one).
func generateSync(o Options, s Sync) ([]*unstructured.Unstructured, error) {
	if err := checkURL(s.URL); err != nil {
		return nil, err
	}
	if strings.TrimSpace(s.Path) == "" {
		return nil, errors.New("no path in the repository to sync: give one, like clusters/<plex>")
	}
	so := fluxsync.MakeDefaultOptions()
	so.Name = s.Name
	so.Namespace = o.Namespace
	so.URL = s.URL
	so.Branch = s.Branch
	so.Interval = s.Interval
	so.Secret = s.Secret
	so.TargetPath = s.Path
	man, err := fluxsync.Generate(so)
	if err != nil {
		return nil, fmt.Errorf("generating the Flux sync objects: %w", err)
	}
	objs, err := decodeObjects([]byte(man.Content))
	if err != nil {
		return nil, fmt.Errorf("reading the generated Flux sync objects: %w", err)
	}
	if s.Secret == "" {
		for _, obj := range objs {
			if obj.GetKind() == "GitRepository" {
				unstructured.RemoveNestedField(obj.Object, "spec", "secretRef")
			}
		}
	}
	return objs, nil
}

// checkURL accepts the Git URLs Flux's GitRepository accepts.
func checkURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errors.New("no Git URL to sync from: give --url or a flux.url in the spec")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if i := strings.Index(raw, ":"); i > 0 && strings.Contains(raw[:i], "@") && !strings.Contains(raw, "://") {
			return fmt.Errorf("git URL %q: Flux takes SSH URLs as ssh://%s/%s", raw, raw[:i], strings.TrimPrefix(raw[i+1:], "/"))
		}
		return fmt.Errorf("git URL %q is not a URL: write one like https://example.com/you/fleet or ssh://git@example.com/you/fleet", raw)
	}
	switch u.Scheme {
	case "http", "https", "ssh":
		return nil
	}
	return fmt.Errorf("git URL %q: the scheme must be http, https or ssh", raw)
}

// isSSH tells whether a Git URL needs a deploy key.
func isSSH(raw string) bool { return strings.HasPrefix(raw, "ssh://") }

// decodeObjects splits a multi-document YAML stream into objects, skipping
// empty documents.
func decodeObjects(b []byte) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("a document without apiVersion and kind: %v", m)
		}
		out = append(out, obj)
	}
}

// describe names an object for messages: Kind namespace/name.
func describe(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + " " + ns + "/" + o.GetName()
	}
	return o.GetKind() + " " + o.GetName()
}
