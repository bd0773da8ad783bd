package cluster

import (
	"context"

	"github.com/plex-dev/plex/core/incus"
)

// KubeProfileName is the profile plex manages for Kubernetes nodes.
const KubeProfileName = "plex-kube"

// kubeProfile is what a stock kubelet needs in a system container: privileged
// and nested, unconfined, all devices, /proc and /sys writable, the cgroup
// hierarchies mounted even with a cgroup namespace (the `force` is the
// difference between a working and a failing kubelet on cgroup v1 hosts), and
// /dev/kmsg for kubelet's OOM watcher.
//
// linux.kernel_modules is left out on purpose: Incus fails to start the
// instance when it cannot modprobe, and hosts without kmod (or with the
// modules built in) are common among lab hosts. The host must have overlay,
// br_netfilter, ip_tables and nf_nat loaded or built in.
func kubeProfile() incus.Profile {
	return incus.Profile{
		Name:        KubeProfileName,
		Description: "plex: Kubernetes node in a system container (managed by plex; changes are overwritten)",
		Config: map[string]string{
			"security.privileged": "true",
			"security.nesting":    "true",
			"raw.lxc": "lxc.apparmor.profile=unconfined\n" +
				"lxc.cap.drop=\n" +
				"lxc.cgroup.devices.allow=a\n" +
				"lxc.mount.auto=proc:rw sys:rw cgroup:rw:force\n" +
				"lxc.mount.entry=/dev/kmsg dev/kmsg none bind,create=file 0 0\n",
		},
	}
}

// ensureProfile makes or updates the profile every node is made with.
func (r *run) ensureProfile(ctx context.Context) error {
	return r.srv.EnsureProfile(ctx, kubeProfile())
}
