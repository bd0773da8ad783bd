package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/plex-dev/plex/core/spec"
)

// kubeconfigPath is the file to merge into: the explicit path, else the
// first file of $KUBECONFIG, else ~/.kube/config (what kubectl writes to).
func kubeconfigPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if len(rules.Precedence) > 0 {
		return rules.Precedence[0]
	}
	return rules.GetDefaultFilename()
}

// kubeconfigMu serialises the read-modify-write of the kubeconfig file:
// plexes of one file are brought up and down in parallel, and each merges or
// removes its own context.
var kubeconfigMu sync.Mutex

// mergeKubeconfig merges a plex's admin kubeconfig into the user's file as
// context plex-<name>, makes it current, and writes the file 0600.
func mergeKubeconfig(explicit, plex string, admin []byte) (string, error) {
	src, err := clientcmd.Load(admin)
	if err != nil {
		return "", fmt.Errorf("parsing the admin kubeconfig: %w", err)
	}
	srcCtx, ok := src.Contexts[src.CurrentContext]
	if !ok {
		return "", fmt.Errorf("the admin kubeconfig has no current context")
	}
	kubeconfigMu.Lock()
	defer kubeconfigMu.Unlock()
	path := kubeconfigPath(explicit)
	dst, err := clientcmd.LoadFromFile(path)
	if os.IsNotExist(err) {
		dst, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return "", fmt.Errorf("reading kubeconfig %s: %w", path, err)
	}
	name := spec.ContextName(plex)
	dst.Clusters[name] = src.Clusters[srcCtx.Cluster]
	dst.AuthInfos[name] = src.AuthInfos[srcCtx.AuthInfo]
	dst.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	dst.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := clientcmd.WriteToFile(*dst, path); err != nil {
		return "", fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	// WriteToFile keeps an existing file's mode; the file holds credentials.
	if err := os.Chmod(path, 0o600); err != nil {
		return "", err
	}
	return name, nil
}

// removeFromKubeconfig deletes a plex's context, cluster and user.
func removeFromKubeconfig(explicit, plex string) error {
	kubeconfigMu.Lock()
	defer kubeconfigMu.Unlock()
	path := kubeconfigPath(explicit)
	cfg, err := clientcmd.LoadFromFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading kubeconfig %s: %w", path, err)
	}
	name := spec.ContextName(plex)
	if _, ok := cfg.Contexts[name]; !ok {
		return nil
	}
	delete(cfg.Contexts, name)
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, name)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// writeKubeconfig merges the admin kubeconfig into the user's.
func (r *run) writeKubeconfig(context.Context) (err error) {
	r.ctxName, err = mergeKubeconfig(r.opts.Kubeconfig, r.px.Name, r.admin)
	if err != nil {
		return fmt.Errorf("merging context %s into the kubeconfig: %w", spec.ContextName(r.px.Name), err)
	}
	return nil
}
