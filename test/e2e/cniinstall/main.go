// Command cniinstall is the end-to-end tests' stand-in for a CNI that a
// manifest brings (flannel, Cilium, …): run by a DaemonSet on the host
// network, it waits until the controller-manager has given its node a pod
// CIDR, writes a bridge + host-local conflist for that CIDR into the host's
// /etc/cni/net.d (mounted at /host/etc/cni/net.d), and stays running. It
// routes nothing between nodes, so it serves one-node plexes.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const confDir = "/host/etc/cni/net.d"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cniinstall:", err)
		os.Exit(1)
	}
	fmt.Println("cniinstall: conflist written; staying up")
	select {}
}

func run() error {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return fmt.Errorf("NODE_NAME is not set (give it from spec.nodeName)")
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cidr string
	for cidr == "" {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			cidr = n.Spec.PodCIDR
		}
		if cidr == "" {
			fmt.Printf("cniinstall: waiting for the pod CIDR of %s (%v)\n", node, err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %s got no pod CIDR: %w", node, ctx.Err())
			case <-time.After(time.Second):
			}
		}
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "e2e-manifest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni1",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, cidr)
	tmp := filepath.Join(confDir, ".10-e2e-manifest.conflist")
	if err := os.WriteFile(tmp, []byte(conf), 0o644); err != nil {
		return err
	}
	fmt.Printf("cniinstall: %s gets pods from %s\n", node, cidr)
	return os.Rename(tmp, filepath.Join(confDir, "10-e2e-manifest.conflist"))
}
