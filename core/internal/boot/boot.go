// Package boot waits for an instance plex created to finish booting: its
// cloud-init done (or, on a node that boots without it, systemd's start-up
// jobs) and its planned address on eth0. bake, up, join and
// plex-registry up all wait the same way.
package boot

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Runner runs a command in an instance and returns its combined output.
type Runner interface {
	Run(ctx context.Context, instance string, cmd ...string) (string, error)
}

// Options say what booted means.
type Options struct {
	// Address is the IPv4 address eth0 must have; empty accepts any.
	Address string
	// Probe is shell run after cloud-init is done; its output is returned
	// (facts the caller reads, such as the cgroup version).
	Probe string
	// Timeout bounds the whole wait; 3 minutes when zero.
	Timeout time.Duration
	// Every is the pause between tries; 500 ms when zero.
	Every time.Duration
	// Network names the network in the error when the address never comes.
	Network string
	// AnyInterface takes a global IPv4 address on any interface instead of
	// eth0's: a VM's NIC is named after its PCI slot (enp5s0), and bake's
	// transient instance gets its NIC from whatever the default profile has.
	AnyInterface bool
}

// waitScript waits for the boot to end: for cloud-init where it runs, else
// (a plex node, which boots without it) for systemd's start-up jobs.
// "degraded" (a unit that failed) ends the wait too: the caller's checks say
// whether what it needs came up.
const waitScript = "if [ -e /etc/cloud/cloud-init.disabled ] || ! command -v cloud-init >/dev/null; then\n" +
	"  systemctl is-system-running --wait >/dev/null 2>&1 || true\n" +
	"else\n" +
	"  cloud-init status --wait >/dev/null 2>&1 || true\n" +
	"fi\n"

// script waits for the boot (waitScript), then prints eth0's address (or, with
// AnyInterface, the first global one) as "addr=A " and runs the probe.
func script(o Options) string {
	addrs := "dev eth0"
	if o.AnyInterface {
		addrs = "scope global"
	}
	return waitScript +
		"echo \"addr=$(ip -4 -o addr show " + addrs + " | awk '{print $4}' | cut -d/ -f1 | head -n1) \"\n" +
		o.Probe
}

// Wait runs the boot script until the instance reports its address, and
// returns the script's output. The first tries fail while the container's
// init is still starting; that is expected and retried.
func Wait(ctx context.Context, r Runner, instance string, o Options) (string, error) {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Every == 0 {
		o.Every = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	want := "addr="
	if o.Address != "" {
		want += o.Address + " "
	}
	var last string
	var lastErr error
	for {
		out, err := r.Run(ctx, instance, "sh", "-c", script(o))
		if err == nil && strings.Contains(out, want) && (o.Address != "" || !strings.Contains(out, "addr= ")) {
			return out, nil
		}
		last, lastErr = strings.TrimSpace(out), err
		t := time.NewTimer(o.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			if lastErr != nil {
				return "", fmt.Errorf("%s did not boot within %s: %w", instance, o.Timeout, lastErr)
			}
			where := ""
			if o.Network != "" {
				where = " the network " + o.Network + " and"
			}
			return "", fmt.Errorf("%s booted without its address %s (got: %s); check%s `incus exec %s -- networkctl status eth0` (and `cloud-init status --long` where cloud-init runs)", instance, o.Address, last, where, instance)
		case <-t.C:
		}
	}
}
