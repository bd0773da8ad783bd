package bake

import "github.com/plex-dev/plex/core/internal/action"

// nodeType is what sets one node type's bake apart; everything else is
// common to all types (see actions).
type nodeType struct {
	// scripts are pushed into the instance once it has booted, in the order
	// the bake runs them. Their text and settings (handed to the
	// provisioning script) go into the inputs.
	scripts  []string
	settings func(o Options) map[string]string
	// kubernetes types carry kubeadm, kubelet and kubectl, whose version
	// and sums go into the inputs.
	kubernetes bool
	// middle installs and checks what the type holds, between the boot and
	// the clean-up.
	middle func(b *baker) []action.Action
	// properties are the type's own image properties, its description
	// among them; imageProperties adds those every image records.
	properties func(b *baker) map[string]string
}

// typeOf is the node type named name; complete has checked the name.
func typeOf(name string) nodeType {
	if name == TypeRegistry {
		return registryType()
	}
	return kubeType()
}
