package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/plex-dev/plex/core/plan"
)

// PodCIDRPatch is a JSON merge patch for n's Node object that records the pod
// CIDR the plan gave it (spec.podCIDR and spec.podCIDRs). With the bridge CNI
// the controller-manager allocates nothing, so the field stays empty unless
// plex sets it; the API server accepts a value only while the field is empty
// (or unchanged). Setting it is optional: nothing in a bridge plex reads it,
// but `kubectl get node -o wide` users and some tools do.
func PodCIDRPatch(n plan.Node) ([]byte, error) {
	pc, err := netip.ParsePrefix(n.PodCIDR)
	if err != nil || pc.Masked() != pc {
		return nil, fmt.Errorf("patching the pod CIDR of node %s: %q is not a network", n.Name, n.PodCIDR)
	}
	patch := map[string]any{"spec": map[string]any{
		"podCIDR":  pc.String(),
		"podCIDRs": []string{pc.String()},
	}}
	return json.Marshal(patch)
}
