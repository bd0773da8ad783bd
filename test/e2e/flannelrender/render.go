// Package flannelrender renders flannel's upstream manifest
// (Documentation/kube-flannel.yml in the github.com/flannel-io/flannel module,
// read from the Go module cache) for a plex: the e2e test of flannel through
// `cni: manifest` applies what it returns. The upstream file is not copied
// into this repository; every change to it is made here, in code, and listed
// in Render's comment.
package flannelrender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const header = "# Rendered by plex test/e2e/flannelrender from flannel's Documentation/kube-flannel.yml.\n"

// Options say what Render changes.
type Options struct {
	// Network is the plex's podSubnet: net-conf.json's Network, which must
	// hold every node's spec.podCIDR.
	Network string
	// Image and CNIPluginImage replace upstream's ghcr.io images, e.g.
	// registry.k8s.io/plex-e2e/flannel:v0.28.10 (hack/imagebuild --flannel-bin-dir).
	Image          string
	CNIPluginImage string
	// CNIVersion is the conflist's cniVersion: the plugin built from
	// containernetworking/plugins v0.9.1 speaks up to 0.4.0, not upstream's 1.0.0.
	CNIVersion string
}

// ModuleDir downloads (or finds in the module cache) github.com/flannel-io/flannel
// at version and returns its directory.
func ModuleDir(ctx context.Context, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/flannel-io/flannel@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download github.com/flannel-io/flannel@%s: %s", version, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/flannel-io/flannel@%s: %w\n%s", version, err, stderr.Bytes())
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download github.com/flannel-io/flannel@%s named no directory", version)
	}
	return info.Dir, nil
}

// ManifestPath is where upstream's manifest lies in the module.
func ManifestPath(moduleDir string) string {
	return filepath.Join(moduleDir, "Documentation", "kube-flannel.yml")
}

// RenderFile reads upstream's manifest from the module at version and renders it.
func RenderFile(ctx context.Context, version string, o Options) ([]byte, error) {
	dir, err := ModuleDir(ctx, version)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(ManifestPath(dir))
	if err != nil {
		return nil, fmt.Errorf("reading flannel's manifest: %w", err)
	}
	return Render(b, o)
}

// Render returns upstream's manifest with these changes, and no others:
//   - kube-flannel-cfg's net-conf.json: Network is o.Network (upstream 10.244.0.0/16);
//   - kube-flannel-cfg's cni-conf.json: cniVersion is o.CNIVersion (upstream 1.0.0);
//   - kube-flannel-ds: the images are o.Image and o.CNIPluginImage (upstream
//     ghcr.io/flannel-io/flannel and …/flannel-cni-plugin);
//   - the install-cni-plugin init container runs
//     `/opt/bin/install-conf /flannel /opt/cni/bin/flannel` instead of
//     `cp -f /flannel /opt/cni/bin/flannel`: the image has no busybox, and
//     install-conf is flannel's own atomic copy (it keeps the file mode).
//
// Every other document is passed through byte for byte. Render fails if
// upstream's manifest no longer has the shape these changes expect.
func Render(upstream []byte, o Options) ([]byte, error) {
	if _, err := netip.ParsePrefix(o.Network); err != nil {
		return nil, fmt.Errorf("Network %q: %w; give the plex's podSubnet, like 10.212.80.0/20", o.Network, err)
	}
	if o.Image == "" || o.CNIPluginImage == "" || o.CNIVersion == "" {
		return nil, errors.New("Image, CNIPluginImage and CNIVersion are required")
	}
	docs := splitDocs(upstream)
	var out [][]byte
	var sawCfg, sawDS bool
	for _, d := range docs {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(d, &meta); err != nil {
			return nil, fmt.Errorf("reading flannel's manifest: %w", err)
		}
		switch {
		case meta.Kind == "ConfigMap" && meta.Metadata.Name == "kube-flannel-cfg":
			b, err := renderConfig(d, o)
			if err != nil {
				return nil, err
			}
			d, sawCfg = b, true
		case meta.Kind == "DaemonSet" && meta.Metadata.Name == "kube-flannel-ds":
			b, err := renderDaemonSet(d, o)
			if err != nil {
				return nil, err
			}
			d, sawDS = b, true
		}
		out = append(out, d)
	}
	if !sawCfg || !sawDS {
		return nil, fmt.Errorf("flannel's manifest lacks the ConfigMap kube-flannel-cfg or the DaemonSet kube-flannel-ds (found config %v, daemonset %v)", sawCfg, sawDS)
	}
	var b bytes.Buffer
	b.WriteString(header)
	for i, d := range out {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d)
		if !bytes.HasSuffix(d, []byte("\n")) {
			b.WriteString("\n")
		}
	}
	return b.Bytes(), nil
}

// splitDocs splits a YAML stream at its "---" lines, dropping empty documents.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func renderConfig(doc []byte, o Options) ([]byte, error) {
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(doc, &cm); err != nil {
		return nil, fmt.Errorf("reading kube-flannel-cfg: %w", err)
	}
	var netConf map[string]any
	if err := json.Unmarshal([]byte(cm.Data["net-conf.json"]), &netConf); err != nil {
		return nil, fmt.Errorf("kube-flannel-cfg net-conf.json: %w", err)
	}
	if _, ok := netConf["Network"]; !ok {
		return nil, errors.New("kube-flannel-cfg net-conf.json has no Network")
	}
	netConf["Network"] = o.Network
	var cniConf map[string]any
	if err := json.Unmarshal([]byte(cm.Data["cni-conf.json"]), &cniConf); err != nil {
		return nil, fmt.Errorf("kube-flannel-cfg cni-conf.json: %w", err)
	}
	if _, ok := cniConf["cniVersion"]; !ok {
		return nil, errors.New("kube-flannel-cfg cni-conf.json has no cniVersion")
	}
	cniConf["cniVersion"] = o.CNIVersion
	for key, v := range map[string]any{"net-conf.json": netConf, "cni-conf.json": cniConf} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, err
		}
		cm.Data[key] = string(b) + "\n"
	}
	return yaml.Marshal(&cm)
}

func renderDaemonSet(doc []byte, o Options) ([]byte, error) {
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(doc, &ds); err != nil {
		return nil, fmt.Errorf("reading kube-flannel-ds: %w", err)
	}
	spec := &ds.Spec.Template.Spec
	found := map[string]bool{}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			c := &cs[i]
			switch c.Name {
			case "install-cni-plugin":
				if len(c.Command) != 1 || c.Command[0] != "cp" || len(c.Args) != 3 || c.Args[0] != "-f" {
					return nil, fmt.Errorf("kube-flannel-ds init container install-cni-plugin runs %q %q, not `cp -f SRC DST`; update flannelrender", c.Command, c.Args)
				}
				c.Image = o.CNIPluginImage
				c.Command = []string{"/opt/bin/install-conf"}
				c.Args = c.Args[1:]
			case "install-cni", "kube-flannel":
				c.Image = o.Image
			default:
				continue
			}
			found[c.Name] = true
		}
	}
	for _, n := range []string{"install-cni-plugin", "install-cni", "kube-flannel"} {
		if !found[n] {
			return nil, fmt.Errorf("kube-flannel-ds has no container %s; update flannelrender", n)
		}
	}
	b, err := yaml.Marshal(&ds)
	if err != nil {
		return nil, err
	}
	return b, nil
}
