package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const k8sRegistry = "registry.k8s.io/"

// checkKubeadmImages asks the built kubeadm which images a cluster needs and
// checks that the registry serves each of them for linux/amd64: under
// registry.k8s.io's names (for a containerd mirror) and under the flat names
// kubeadm uses with a custom imageRepository.
func checkKubeadmImages(ctx context.Context, o *options, out io.Writer) error {
	v, err := output(ctx, o.kubeadm, "version", "-o", "short")
	if err != nil {
		return err
	}
	if strings.TrimSpace(v) != o.version {
		return fmt.Errorf("%s version -o short says %q, want %s", o.kubeadm, strings.TrimSpace(v), o.version)
	}
	fmt.Fprintf(out, "check: %s version -o short = %s\n", o.kubeadm, strings.TrimSpace(v))

	var errs []error
	for _, repo := range []string{"", o.registry} {
		args := []string{"config", "images", "list", "--kubernetes-version", o.version}
		prefix := k8sRegistry
		if repo != "" {
			args = append(args, "--image-repository", repo)
			prefix = repo + "/"
		}
		list, err := output(ctx, o.kubeadm, args...)
		if err != nil {
			return err
		}
		for _, ref := range strings.Fields(list) {
			if !strings.HasPrefix(ref, prefix) {
				errs = append(errs, fmt.Errorf("kubeadm names %s, outside %s", ref, prefix))
				continue
			}
			repoTag := strings.TrimPrefix(ref, prefix)
			img, t, err := imageIn(ctx, o.registry, repoTag)
			if err != nil {
				fmt.Fprintf(out, "✗ %s: %v\n", ref, err)
				errs = append(errs, err)
				continue
			}
			cf, err := img.ConfigFile()
			if err != nil {
				errs = append(errs, fmt.Errorf("reading the config of %s: %w", t, err))
				continue
			}
			d, err := img.Digest()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" {
				errs = append(errs, fmt.Errorf("%s is %s/%s, want linux/amd64", t, cf.OS, cf.Architecture))
				continue
			}
			fmt.Fprintf(out, "✓ %-50s %s/%s@%s\n", ref, o.registry, repoTag, d)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the registry lacks images kubeadm needs: %w", errors.Join(errs...))
	}
	return nil
}

// kubeProxyRules is a small ruleset in the shape kube-proxy writes in iptables
// mode; restoring it loads the extensions kube-proxy relies on.
const kubeProxyRules = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-PLEXTEST - [0:0]
:KUBE-SEP-PLEXTEST - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-PLEXTEST
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-PLEXTEST -m comment --comment "kube-system/kube-dns:dns" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-PLEXTEST
-A KUBE-SEP-PLEXTEST -s 10.244.0.2/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-PLEXTEST -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.0.2:53
COMMIT
*filter
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 10250 -m conntrack --ctstate NEW -j ACCEPT
COMMIT
`

// chrootCheck pulls kube-proxy back from the registry, unpacks it, and runs its
// iptables in a chroot: --version of every flavour, then a kube-proxy-like
// ruleset restored and saved in a fresh network namespace (so the host's
// rules are never touched), for both the nft and the legacy backend.
func chrootCheck(ctx context.Context, o *options, out io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("--chroot-check needs root (chroot, unshare)")
	}
	img, t, err := imageIn(ctx, o.registry, "kube-proxy:"+o.version)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "plex-kube-proxy-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rc := mutate.Extract(img)
	defer rc.Close()
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	untar.Stdin = rc
	if b, err := untar.CombinedOutput(); err != nil {
		return fmt.Errorf("unpacking %s into %s: %w: %s", t, dir, err, b)
	}
	fmt.Fprintf(out, "check: unpacked %s into %s\n", t, dir)

	for _, bin := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "iptables-nft", "iptables-legacy", "ip6tables-legacy"} {
		v, err := output(ctx, "chroot", dir, "/usr/sbin/"+bin, "--version")
		if err != nil {
			return fmt.Errorf("running %s from %s in a chroot: %w", bin, t, err)
		}
		fmt.Fprintf(out, "✓ chroot: %-18s --version: %s\n", bin, strings.TrimSpace(v))
	}
	v, err := output(ctx, "chroot", dir, "/usr/local/bin/kube-proxy", "--version")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "✓ chroot: kube-proxy --version: %s\n", strings.TrimSpace(v))

	if _, err := exec.LookPath("unshare"); err != nil {
		fmt.Fprintln(out, "check: no unshare here; skipped iptables-restore in a fresh network namespace")
		return nil
	}
	for _, flavour := range []string{"nft", "legacy"} {
		// iptables-legacy-save finds its tables through /proc; mount one in a
		// private mount namespace, as a container runtime would.
		script := `mkdir -p "$1/proc" && mount -t proc proc "$1/proc" && ` +
			`chroot "$1" /usr/sbin/iptables-` + flavour + `-restore && chroot "$1" /usr/sbin/iptables-` + flavour + `-save`
		cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", dir)
		cmd.Stdin = strings.NewReader(kubeProxyRules)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("iptables-%s-restore of a kube-proxy-like ruleset in a new netns: %w: %s", flavour, err, se.String())
		}
		saved := so.String()
		for _, want := range []string{"--to-destination 10.244.0.2:53", "--probability 0.50000000000", "--dst-type LOCAL", "--ctstate INVALID", "MASQUERADE --random-fully"} {
			if !strings.Contains(saved, want) {
				return fmt.Errorf("iptables-%s-save after restore lacks %q:\n%s", flavour, want, saved)
			}
		}
		fmt.Fprintf(out, "✓ chroot+netns: iptables-%s-restore/-save of a kube-proxy-like ruleset (%d rules back)\n",
			flavour, strings.Count(saved, "\n-A "))
	}
	return nil
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(se.String()))
	}
	return so.String(), nil
}
