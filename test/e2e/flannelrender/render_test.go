package flannelrender

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The flannel version plex's e2e renders (hack/flannel-artifacts.sh builds it).
const version = "v0.28.10"

var opts = Options{
	Network:        "10.212.80.0/20",
	Image:          "registry.k8s.io/plex-e2e/flannel:v0.28.10",
	CNIPluginImage: "registry.k8s.io/plex-e2e/flannel-cni-plugin:v0.9.1",
	CNIVersion:     "0.4.0",
}

// TestRenderUpstream renders the real upstream manifest from the module and
// checks each change, and that the rest is upstream's.
func TestRenderUpstream(t *testing.T) {
	dir, err := ModuleDir(context.Background(), version)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := os.ReadFile(ManifestPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(upstream, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "ghcr.io") || strings.Contains(s, "10.244.0.0/16") {
		t.Fatalf("rendered manifest still names upstream's images or network:\n%s", s)
	}
	docs := splitDocs(out)
	if want := len(splitDocs(upstream)); len(docs) != want {
		t.Fatalf("%d documents rendered, upstream has %d", len(docs), want)
	}
	var cm corev1.ConfigMap
	var ds appsv1.DaemonSet
	for _, d := range docs {
		d = []byte(strings.TrimPrefix(string(d), header))
		switch {
		case strings.Contains(string(d), "kind: ConfigMap"):
			if err := yaml.UnmarshalStrict(d, &cm); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(string(d), "kind: DaemonSet"):
			if err := yaml.UnmarshalStrict(d, &ds); err != nil {
				t.Fatal(err)
			}
		case !strings.Contains(string(upstream), strings.TrimSpace(string(d))):
			t.Errorf("a document other than the ConfigMap and the DaemonSet changed:\n%s", d)
		}
	}
	var netConf struct {
		Network string
		Backend struct{ Type string }
	}
	if err := json.Unmarshal([]byte(cm.Data["net-conf.json"]), &netConf); err != nil {
		t.Fatal(err)
	}
	if netConf.Network != opts.Network || netConf.Backend.Type != "vxlan" {
		t.Errorf("net-conf.json = %+v, want Network %s and upstream's vxlan backend", netConf, opts.Network)
	}
	var cniConf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct{ Type string }
	}
	if err := json.Unmarshal([]byte(cm.Data["cni-conf.json"]), &cniConf); err != nil {
		t.Fatal(err)
	}
	if cniConf.CNIVersion != "0.4.0" || len(cniConf.Plugins) != 2 || cniConf.Plugins[0].Type != "flannel" || cniConf.Plugins[1].Type != "portmap" {
		t.Errorf("cni-conf.json = %+v", cniConf)
	}
	spec := ds.Spec.Template.Spec
	if len(spec.InitContainers) != 2 || len(spec.Containers) != 1 {
		t.Fatalf("containers: %d init, %d", len(spec.InitContainers), len(spec.Containers))
	}
	plugin := spec.InitContainers[0]
	if plugin.Image != opts.CNIPluginImage || strings.Join(plugin.Command, " ") != "/opt/bin/install-conf" ||
		strings.Join(plugin.Args, " ") != "/flannel /opt/cni/bin/flannel" {
		t.Errorf("install-cni-plugin = %s %q %q", plugin.Image, plugin.Command, plugin.Args)
	}
	if spec.InitContainers[1].Image != opts.Image || spec.Containers[0].Image != opts.Image {
		t.Errorf("images: %s, %s", spec.InitContainers[1].Image, spec.Containers[0].Image)
	}
	if got := strings.Join(spec.Containers[0].Args, " "); !strings.Contains(got, "--ip-masq") || !strings.Contains(got, "--kube-subnet-mgr") {
		t.Errorf("flanneld args %q lost upstream's --ip-masq or --kube-subnet-mgr", got)
	}
}

func TestRenderErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		o    Options
		want string
	}{
		"bad network":  {"kind: Namespace\n", Options{Network: "10.212.80.0", Image: "a", CNIPluginImage: "b", CNIVersion: "0.4.0"}, `Network "10.212.80.0"`},
		"no images":    {"kind: Namespace\n", Options{Network: "10.212.80.0/20"}, "Image, CNIPluginImage and CNIVersion are required"},
		"no daemonset": {"kind: Namespace\nmetadata:\n  name: x\n", opts, "lacks the ConfigMap kube-flannel-cfg or the DaemonSet kube-flannel-ds"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render([]byte(c.in), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
}
