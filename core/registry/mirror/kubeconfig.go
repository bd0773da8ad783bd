package mirror

import (
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/core/spec"
)

// ErrNoContext is returned when the kubeconfig has no context for the plex:
// its cluster was never brought up from this machine.
var ErrNoContext = errors.New("no such kubeconfig context")

// ClusterClient is a client of a plex's cluster through its context in the
// user's kubeconfig (kubeconfig empty: $KUBECONFIG, else ~/.kube/config).
func ClusterClient(kubeconfig, plex string) (kubernetes.Interface, error) {
	name := spec.ContextName(plex)
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("%w %s: `kubectl plex up` (or `kubectl plex kubeconfig`) writes it", ErrNoContext, name)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig context %s: %w", name, err)
	}
	return kubernetes.NewForConfig(cfg)
}
