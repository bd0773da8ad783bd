package mirror

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/registry/engine"
)

// The KEP-1755 ConfigMap ("Communicating a local registry"), which tools
// such as Tilt and Skaffold read to find a cluster's registry.
const (
	HostingConfigMapName      = "local-registry-hosting"
	HostingConfigMapNamespace = "kube-public"
	HostingConfigMapKey       = "localRegistryHosting.v1"
	// HelpURL explains the cache to whoever finds the ConfigMap.
	HelpURL = "https://github.com/plex-dev/plex#plex-registry"
)

// LocalRegistryHostingV1 is the value of localRegistryHosting.v1 (KEP-1755).
type LocalRegistryHostingV1 struct {
	// Host is the registry's host:port as seen from outside the cluster.
	Host string `json:"host,omitempty"`
	// HostFromClusterNetwork is how pods reach it.
	HostFromClusterNetwork string `json:"hostFromClusterNetwork,omitempty"`
	// HostFromContainerRuntime is how the nodes' container runtime reaches it.
	HostFromContainerRuntime string `json:"hostFromContainerRuntime,omitempty"`
	// Help is a URL that explains the registry.
	Help string `json:"help,omitempty"`
}

// Hosting describes a cache at address laid out as l the KEP-1755 way: its
// lab namespace (engine.Layout.LabHost), the part of the cache that takes
// pushes, which is what tools such as Tilt look for. The cache sits on the
// plex's network with a static address, so the pods and the runtime reach
// it at the same host:port as this machine; the host pushes to
// engine.Layout.LabPushHost, another port when pushes need a password under
// the distribution engine.
func Hosting(address string, l engine.Layout) LocalRegistryHostingV1 {
	if len(l.Endpoints) == 0 {
		return LocalRegistryHostingV1{Help: HelpURL}
	}
	pull := l.LabHost(address)
	return LocalRegistryHostingV1{Host: l.LabPushHost(address), HostFromClusterNetwork: pull, HostFromContainerRuntime: pull, Help: HelpURL}
}

// HostingConfigMap is the ConfigMap that publishes the cache in a cluster.
func HostingConfigMap(address string, l engine.Layout) (*corev1.ConfigMap, error) {
	v, err := yaml.Marshal(Hosting(address, l))
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: HostingConfigMapName, Namespace: HostingConfigMapNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "plex-registry"},
		},
		Data: map[string]string{HostingConfigMapKey: string(v)},
	}, nil
}

// PublishHosting creates or updates the local-registry-hosting ConfigMap.
func PublishHosting(ctx context.Context, cs kubernetes.Interface, address string, l engine.Layout) error {
	want, err := HostingConfigMap(address, l)
	if err != nil {
		return err
	}
	api := cs.CoreV1().ConfigMaps(HostingConfigMapNamespace)
	cur, err := api.Get(ctx, HostingConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		if cur.Data[HostingConfigMapKey] == want.Data[HostingConfigMapKey] {
			return nil
		}
		cur.Data = want.Data
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels["app.kubernetes.io/managed-by"] = "plex-registry"
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publishing ConfigMap %s/%s: %w", HostingConfigMapNamespace, HostingConfigMapName, err)
	}
	return nil
}

// PublishHostingWithKubeconfig publishes the ConfigMap with an admin
// kubeconfig's bytes (what `kubectl plex up` holds after init).
func PublishHostingWithKubeconfig(ctx context.Context, kubeconfig []byte, address string, l engine.Layout) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return PublishHosting(ctx, cs, address, l)
}
