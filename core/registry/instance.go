package registry

import (
	"context"
	"strconv"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/boot"
	"github.com/plex-dev/plex/core/registry/engine"
)

// ensureProfile makes the profile every cache instance gets. It is shared
// by all caches, so a failed run leaves it.
func (r *upRun) ensureProfile(ctx context.Context) error {
	return r.srv.EnsureProfile(ctx, incus.Profile{Name: ProfileName, Description: "plex read-through image cache"})
}

// createVolume creates the cache volume, labelled as this cache's so that a
// later run adopts it, and registers its removal.
func (r *upRun) createVolume(ctx context.Context) error {
	pool, vol := r.cache.Pool, r.cache.Volume
	cfg := map[string]string{incus.LabelManaged: "true", LabelCacheInstance: r.cache.Instance}
	if r.site.plex != "" {
		cfg[incus.LabelPlex] = r.site.plex
	}
	if r.o.VolumeSize != "" {
		cfg["size"] = r.o.VolumeSize
	}
	if err := r.srv.CreateVolume(ctx, incus.Volume{Pool: pool, Name: vol, Config: cfg, Description: "plex read-through image cache of " + r.cache.Instance}); err != nil {
		return err
	}
	r.rv.Add("volume", pool+"/"+vol, func(ctx context.Context) error { return r.srv.DeleteVolume(ctx, pool, vol) })
	r.changed("volume " + pool + "/" + vol)
	return nil
}

// createInstance creates the cache instance and registers its removal.
func (r *upRun) createInstance(ctx context.Context) error {
	spec, err := r.instanceSpec()
	if err != nil {
		return err
	}
	if err := r.srv.CreateInstance(ctx, spec); err != nil {
		return err
	}
	r.rv.Add("instance", spec.Name, func(ctx context.Context) error { return r.srv.Delete(ctx, spec.Name) })
	r.res.Created = true
	r.changed("instance " + spec.Name)
	return nil
}

// start starts the instance, new or stopped.
func (r *upRun) start(ctx context.Context) error {
	if err := r.srv.Start(ctx, r.cache.Instance); err != nil {
		return err
	}
	if r.existing != nil {
		r.changed("started " + r.cache.Instance)
	}
	return nil
}

// waitBoot waits for cloud-init and the cache's static address.
func (r *upRun) waitBoot(ctx context.Context) error {
	_, err := boot.Wait(ctx, r.srv, r.cache.Instance, boot.Options{Address: r.cache.Address, Network: r.site.network})
	return err
}

// instanceSpec is the cache instance: an unprivileged container (a
// registry needs nothing more) with the node labels, a static address, and
// the cache volume at StorageDir.
func (r *upRun) instanceSpec() (incus.InstanceSpec, error) {
	n := r.site.node
	var hosts []cloudinit.Host
	for _, h := range r.site.hosts {
		hosts = append(hosts, cloudinit.Host{Name: h.Name, Address: h.Address})
	}
	if len(hosts) == 0 {
		hosts = []cloudinit.Host{{Name: n.Name, Address: n.Address}}
	}
	userData, err := cloudinit.UserData(cloudinit.UserDataInput{Hostname: n.Name, Hosts: hosts})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	netConfig, err := cloudinit.NetworkConfig(n, r.site.gateway, r.site.bits, []string{r.site.gateway})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	labels, err := r.cache.labels()
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	cfg := map[string]string{
		incus.LabelManaged:          "true",
		incus.LabelRole:             n.Role,
		incus.LabelType:             n.Type,
		incus.LabelAddress:          n.Address,
		"cloud-init.user-data":      string(userData),
		"cloud-init.network-config": string(netConfig),
		"boot.autostart":            "true",
	}
	if r.site.plex != "" {
		cfg[incus.LabelPlex] = r.site.plex
		cfg[incus.LabelIndex] = strconv.Itoa(n.Index)
	}
	for k, v := range labels {
		cfg[k] = v
	}
	if n.CPU != "" {
		cfg["limits.cpu"] = n.CPU
	}
	if n.Memory != "" {
		cfg["limits.memory"] = n.Memory
	}
	nic := map[string]string{"type": "nic", "name": cloudinit.Interface}
	if r.site.bridged {
		nic["nictype"], nic["parent"] = "bridged", r.site.network
	} else {
		nic["network"], nic["ipv4.address"] = r.site.network, n.Address
	}
	devices := map[string]map[string]string{
		"eth0":  nic,
		"cache": {"type": "disk", "pool": r.cache.Pool, "source": r.cache.Volume, "path": engine.StorageDir},
	}
	if r.site.pool != "" {
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": r.site.pool}
	}
	return incus.InstanceSpec{Name: n.Name, Image: n.Image, Profiles: n.Profiles, Config: cfg, Devices: devices, Target: n.Target}, nil
}
