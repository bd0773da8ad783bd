package kubeadm

import (
	"encoding/json"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"

	"github.com/plex-dev/plex/core/plan"
)

// kubeletConfig is the kubelet configuration of every node in the plex
// (kubeadm stores it in the kubelet-config ConfigMap, and joining nodes take
// it from there). It holds what a kubelet needs in a privileged system
// container sharing a host with other labs.
func kubeletConfig(o InitOptions) (map[string]any, error) {
	c := kubeletv1beta1.KubeletConfiguration{
		// containerd in the node image runs with SystemdCgroup = false.
		CgroupDriver: "cgroupfs",
		FailSwapOn:   ptr(false),
		// The disk is the host's: its fill level says nothing about this node,
		// and image GC or disk-pressure eviction would only hurt lab pods.
		ImageGCHighThresholdPercent: ptr[int32](100),
		EvictionHard: map[string]string{
			"memory.available":   "100Mi",
			"nodefs.available":   "0%",
			"nodefs.inodesFree":  "0%",
			"imagefs.available":  "0%",
			"imagefs.inodesFree": "0%",
		},
		// The container cannot set kernel sysctls such as vm.overcommit_memory
		// to kubelet's liking; kubelet must not insist.
		ProtectKernelDefaults: false,
	}
	if o.CgroupV1 {
		c.FailCgroupV1 = ptr(false)
	}
	if o.ResolvConf != "" {
		c.ResolverConfig = ptr(o.ResolvConf)
	}
	c.APIVersion, c.Kind = kubeletAPIVersion, "KubeletConfiguration"
	m, err := pruned(c, kubeletv1beta1.KubeletConfiguration{})
	if err != nil {
		return nil, err
	}
	// false is the default too, which the field's omitempty drops; it is
	// written out so that a reader of the file sees the choice.
	m["protectKernelDefaults"] = c.ProtectKernelDefaults
	return m, nil
}

// kubeProxyConfig is the kube-proxy configuration of the plex.
func kubeProxyConfig(p plan.Plex, o InitOptions) (map[string]any, error) {
	c := kubeproxyv1alpha1.KubeProxyConfiguration{
		Mode: "iptables",
		// kube-proxy tells pod traffic from the rest by the cluster's pod
		// subnet, since Node.spec.podCIDR is not set with plex's bridge CNI
		// (see controllerManagerArgs).
		DetectLocalMode: "ClusterCIDR",
		ClusterCIDR:     p.PodSubnet,
		// The conntrack sysctls are the host's and a container cannot set
		// them: zero means leave them alone.
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
	if o.RestrictOOMScoreAdj {
		c.OOMScoreAdj = ptr[int32](0)
	}
	c.APIVersion, c.Kind = proxyAPIVersion, "KubeProxyConfiguration"
	return pruned(c, kubeproxyv1alpha1.KubeProxyConfiguration{})
}

// pruned is obj as a JSON object without the fields whose value is the one
// the zero value of its type has. The upstream component-config types mark
// few fields omitempty, so they would otherwise spell out dozens of "0s" and
// "" that mean "default" anyway. Decoding the result gives back exactly obj,
// since a missing field decodes to its zero value.
func pruned(obj, zero any) (map[string]any, error) {
	m, err := toMap(obj)
	if err != nil {
		return nil, err
	}
	z, err := toMap(zero)
	if err != nil {
		return nil, err
	}
	prune(m, z)
	return m, nil
}

func prune(m, zero map[string]any) {
	for k, v := range m {
		zv, ok := zero[k]
		if !ok {
			continue
		}
		if reflect.DeepEqual(v, zv) {
			delete(m, k)
			continue
		}
		vm, ok1 := v.(map[string]any)
		zm, ok2 := zv.(map[string]any)
		if ok1 && ok2 {
			prune(vm, zm)
			if len(vm) == 0 {
				delete(m, k)
			}
		}
	}
}

func toMap(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("marshalling %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("unmarshalling %T: %w", obj, err)
	}
	return m, nil
}

func ptr[T any](v T) *T { return &v }
