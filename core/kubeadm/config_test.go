package kubeadm

import (
	"bytes"
	"strings"
	"testing"
	"time"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

const (
	testToken  = "abcdef.0123456789abcdef"
	testHash   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testCertKy = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

// omniplex is a plex of one control-plane node and, with workers, two more.
func omniplex(workers bool) plan.Plex {
	p := plan.Plex{
		Name:              "omniplex",
		Network:           "plexbr0",
		NodeSubnet:        "10.212.0.0/24",
		Gateway:           "10.212.0.1",
		PodSubnet:         "10.244.0.0/16",
		ServiceSubnet:     "10.96.0.0/12",
		KubernetesVersion: "v1.34.4",
		CNI:               "bridge",
		ControlPlanes:     1,
		Endpoint:          "10.212.0.11:6443",
		Nodes: []plan.Node{
			{Name: "omniplex1", Index: 1, Type: "kube", Role: plan.RoleControlPlane, Address: "10.212.0.11", PodCIDR: "10.244.1.0/24"},
		},
	}
	if workers {
		p.Nodes = append(p.Nodes,
			plan.Node{Name: "omniplex2", Index: 2, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.12", PodCIDR: "10.244.2.0/24"},
			plan.Node{Name: "omniplex3", Index: 3, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.13", PodCIDR: "10.244.3.0/24"},
		)
	}
	return p
}

func TestInitConfigGolden(t *testing.T) {
	manifest := omniplex(true)
	manifest.CNI = "manifest"
	manifest.CNIManifest = "cilium.yaml"
	tests := []struct {
		name string
		p    plan.Plex
		o    InitOptions
	}{
		{"init-single.yaml", omniplex(false), InitOptions{Token: testToken}},
		{"init-workers.yaml", omniplex(true), InitOptions{Token: testToken, TokenTTL: time.Hour}},
		{"init-image-repository.yaml", omniplex(true), InitOptions{Token: testToken, ImageRepository: "10.212.0.1:5000"}},
		{"init-cgroupv1-oom.yaml", omniplex(true), InitOptions{
			Token:               testToken,
			CertificateKey:      testCertKy,
			SkipPhases:          []string{"addon/kube-proxy"},
			CgroupV1:            true,
			RestrictOOMScoreAdj: true,
			ResolvConf:          "/run/systemd/resolve/resolv.conf",
		}},
		{"init-cni-manifest.yaml", manifest, InitOptions{Token: testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InitConfig(tt.p, tt.p.Nodes[0], tt.o)
			if err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tt.name, got)
		})
	}
}

func TestJoinConfigGolden(t *testing.T) {
	p := omniplex(true)
	cp := plan.Node{Name: "omniplex4", Index: 4, Type: "kube", Role: plan.RoleControlPlane, Address: "10.212.0.14", PodCIDR: "10.244.4.0/24"}
	p.Nodes = append(p.Nodes, cp)
	tests := []struct {
		name string
		n    plan.Node
		o    JoinOptions
	}{
		{"join-worker.yaml", p.Nodes[1], JoinOptions{Token: testToken, CACertHash: testHash}},
		{"join-control-plane.yaml", cp, JoinOptions{Token: testToken, CACertHash: testHash, ControlPlane: true, CertificateKey: testCertKy}},
		{"join-worker-file.yaml", p.Nodes[1], JoinOptions{Token: testToken, DiscoveryFile: "/etc/plex/discovery.conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JoinConfig(p, tt.n, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tt.name, got)
		})
	}
}

func TestInitConfigErrors(t *testing.T) {
	ok := InitOptions{Token: testToken}
	tests := []struct {
		name string
		edit func(p *plan.Plex, o *InitOptions)
		want string
	}{
		{"worker node", func(p *plan.Plex, _ *InitOptions) { p.Nodes[0].Role = plan.RoleWorker }, "only a control-plane node"},
		{"no token", func(_ *plan.Plex, o *InitOptions) { o.Token = "" }, "no bootstrap token"},
		{"bad token", func(_ *plan.Plex, o *InitOptions) { o.Token = "ABCDEF.0123456789abcdef" }, "not of the form"},
		{"negative ttl", func(_ *plan.Plex, o *InitOptions) { o.TokenTTL = -time.Minute }, "negative"},
		{"bad certificate key", func(_ *plan.Plex, o *InitOptions) { o.CertificateKey = "xyz" }, "certificate key"},
		{"bad address", func(p *plan.Plex, _ *InitOptions) { p.Nodes[0].Address = "" }, "not an IP address"},
		{"bad endpoint", func(p *plan.Plex, _ *InitOptions) { p.Endpoint = "10.212.0.11" }, "not host:port"},
		{"no version", func(p *plan.Plex, _ *InitOptions) { p.KubernetesVersion = "" }, "kubernetesVersion"},
		{"bad pod subnet", func(p *plan.Plex, _ *InitOptions) { p.PodSubnet = "10.244.0.0" }, "podSubnet"},
		{"bad service subnet", func(p *plan.Plex, _ *InitOptions) { p.ServiceSubnet = "" }, "serviceSubnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, o := omniplex(true), ok
			tt.edit(&p, &o)
			_, err := InitConfig(p, p.Nodes[0], o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ABCDEF") {
				t.Fatalf("error repeats the token: %v", err)
			}
		})
	}
}

func TestJoinConfigErrors(t *testing.T) {
	p := omniplex(true)
	worker := p.Nodes[1]
	tests := []struct {
		name string
		n    plan.Node
		o    JoinOptions
		want string
	}{
		{"no hash", worker, JoinOptions{Token: testToken}, "no CA certificate hash"},
		{"bad hash", worker, JoinOptions{Token: testToken, CACertHash: "sha256:abc"}, "is not sha256:"},
		{"no token", worker, JoinOptions{CACertHash: testHash}, "no bootstrap token"},
		{"worker as control plane", worker, JoinOptions{Token: testToken, CACertHash: testHash, ControlPlane: true}, "ControlPlane is true"},
		{"control plane as worker", p.Nodes[0], JoinOptions{Token: testToken, CACertHash: testHash}, "ControlPlane is false"},
		{"key for worker", worker, JoinOptions{Token: testToken, CACertHash: testHash, CertificateKey: testCertKy}, "only for control-plane"},
		{"hash and file", worker, JoinOptions{Token: testToken, CACertHash: testHash, DiscoveryFile: "/etc/plex/d.conf"}, "give one"},
		{"relative file", worker, JoinOptions{Token: testToken, DiscoveryFile: "d.conf"}, "not an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := JoinConfig(p, tt.n, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestComponentConfigsDecode checks that the pruned component configs decode
// strictly into the upstream types with the values plex meant.
func TestComponentConfigsDecode(t *testing.T) {
	p := omniplex(true)
	b, err := InitConfig(p, p.Nodes[0], InitOptions{Token: testToken, CgroupV1: true, RestrictOOMScoreAdj: true})
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(b, []byte("---\n"))
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}

	var kc kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict(docs[2], &kc); err != nil {
		t.Fatalf("kubelet config: %v", err)
	}
	if kc.Kind != "KubeletConfiguration" || kc.CgroupDriver != "cgroupfs" || kc.FailSwapOn == nil || *kc.FailSwapOn ||
		kc.FailCgroupV1 == nil || *kc.FailCgroupV1 || *kc.ImageGCHighThresholdPercent != 100 ||
		kc.EvictionHard["nodefs.available"] != "0%" || kc.EvictionHard["memory.available"] != "100Mi" {
		t.Errorf("kubelet config: %+v", kc)
	}
	if kc.SyncFrequency.Duration != 0 || kc.Authentication.Webhook.Enabled != nil {
		t.Errorf("kubelet config has fields plex did not set: %+v", kc)
	}

	var kp kubeproxyv1alpha1.KubeProxyConfiguration
	if err := yaml.UnmarshalStrict(docs[3], &kp); err != nil {
		t.Fatalf("kube-proxy config: %v", err)
	}
	if kp.Kind != "KubeProxyConfiguration" || kp.Mode != "iptables" || kp.ClusterCIDR != "10.244.0.0/16" ||
		kp.OOMScoreAdj == nil || *kp.OOMScoreAdj != 0 || kp.Conntrack.MaxPerCore == nil || *kp.Conntrack.MaxPerCore != 0 ||
		kp.Conntrack.TCPEstablishedTimeout == nil || kp.Conntrack.TCPEstablishedTimeout.Duration != 0 ||
		kp.Conntrack.TCPCloseWaitTimeout == nil || kp.Conntrack.TCPCloseWaitTimeout.Duration != 0 {
		t.Errorf("kube-proxy config: %+v", kp)
	}

	// Without the host quirks neither override appears.
	b, err = InitConfig(p, p.Nodes[0], InitOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("failCgroupV1")) || bytes.Contains(b, []byte("oomScoreAdj")) {
		t.Errorf("failCgroupV1 or oomScoreAdj set without the options:\n%s", b)
	}
}
