package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/core/cni"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/nodefiles"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

var _ Incus = (*fakeIncus)(nil)

func TestUpCreatesLabelledNodesAndJoinsThem(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	if err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("up: %v", err)
	}

	if got, want := f.names(), []string{"lab1", "lab2", "lab3"}; !slices.Equal(got, want) {
		t.Fatalf("instances %v, want %v", got, want)
	}
	for i, name := range []string{"lab1", "lab2", "lab3"} {
		in, _ := f.instance(name)
		role := plan.RoleWorker
		if i == 0 {
			role = plan.RoleControlPlane
		}
		for k, want := range map[string]string{
			incus.LabelManaged: "true",
			incus.LabelPlex:    "lab",
			incus.LabelRole:    role,
			incus.LabelIndex:   strconv.Itoa(i + 1),
			incus.LabelAddress: "10.212.0." + strconv.Itoa(11+i),
		} {
			if got := in.Config[k]; got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if in.Status != "Running" || in.Image != "debian12_kube" || !slices.Contains(in.Profiles, KubeProfileName) {
			t.Errorf("%s: status %s, image %s, profiles %v; want Running, debian12_kube, with %s", name, in.Status, in.Image, in.Profiles, KubeProfileName)
		}
		// The node booted with its files, seeded before its first start:
		// its network, every node in /etc/hosts, and the masquerade unit
		// enabled by a drop-in.
		hosts := string(f.file(name, nodefiles.HostsPath))
		if !strings.Contains(string(f.file(name, nodefiles.NetworkFile)), "Address=10.212.0."+strconv.Itoa(11+i)+"/24") ||
			!strings.Contains(hosts, "10.212.0.11 lab1") || !strings.Contains(hosts, "10.212.0.13 lab3") ||
			!strings.Contains(string(f.file(name, nodefiles.WantedAtBootPath(cni.MasqUnitName))), "Wants="+cni.MasqUnitName) {
			t.Errorf("%s: seeded files: network %q, hosts %q", name, f.file(name, nodefiles.NetworkFile), hosts)
		}
	}
	if p, ok := f.profiles[KubeProfileName]; !ok || p.Config["security.nesting"] != "true" {
		t.Errorf("profile %s = %+v (made: %v), want the kube profile", KubeProfileName, p, ok)
	}

	if got := f.ranOn(mark{}, "kubeadm", "init", "--config"); !slices.Equal(got, []string{"lab1"}) {
		t.Errorf("kubeadm init ran on %v, want [lab1]", got)
	}
	if got := f.ranOn(mark{}, "kubeadm", "join"); !slices.Equal(got, []string{"lab2", "lab3"}) {
		t.Errorf("kubeadm join ran on %v, want [lab2 lab3]", got)
	}
	// The joins use the token kubeadm init made, pinned to the CA: the
	// discovery file holds that CA. No other token is made.
	if f.token == "" {
		t.Fatal("kubeadm init made no bootstrap token")
	}
	if got := f.ranOn(mark{}, "kubeadm", "token", "create"); len(got) != 0 {
		t.Errorf("kubeadm token create ran on %v; the joins right after init use init's token", got)
	}
	for _, name := range []string{"lab2", "lab3"} {
		cfg := string(f.file(name, kubeadmDir+"/kubeadm-join.yaml"))
		if !strings.Contains(cfg, "tlsBootstrapToken: "+f.token) || !strings.Contains(cfg, "kubeConfigPath: "+discoveryPath) {
			t.Errorf("%s: join config lacks token %s or discovery file %s:\n%s", name, f.token, discoveryPath, cfg)
		}
		disc, err := clientcmd.Load(f.file(name, discoveryPath))
		if err != nil {
			t.Fatalf("%s: discovery file: %v", name, err)
		}
		for _, c := range disc.Clusters {
			if string(c.CertificateAuthorityData) != string(f.ca) || c.Server != "https://10.212.0.11:6443" {
				t.Errorf("%s: discovery file's cluster %s at %s, want the plex's CA at https://10.212.0.11:6443", name, c.CertificateAuthorityData, c.Server)
			}
		}
	}

	cfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatalf("reading the merged kubeconfig: %v", err)
	}
	if cfg.CurrentContext != "plex-lab" || cfg.Clusters["plex-lab"] == nil || cfg.Clusters["plex-lab"].Server != "https://10.212.0.11:6443" {
		t.Errorf("kubeconfig: current context %q, cluster %+v; want plex-lab at https://10.212.0.11:6443", cfg.CurrentContext, cfg.Clusters["plex-lab"])
	}
	kh, err := KnownHostsPath("lab")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatalf("known_hosts: %v", err)
	}
	if n := strings.Count(string(b), "ssh-ed25519"); n != 3 {
		t.Errorf("known_hosts has %d ed25519 keys, want 3:\n%s", n, b)
	}
}

func TestUpAgainAdoptsWhatExists(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	o := UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc}
	if err := Up(context.Background(), o); err != nil {
		t.Fatalf("first up: %v", err)
	}
	// A node the run made holds no kubeadm state: the first up asks none
	// whether it has any.
	if got := f.ranOn(mark{}, "test", "-e"); len(got) > 0 {
		t.Errorf("the first up looked for kubeadm's files in the nodes it had just made: %v", got)
	}
	m := f.mark()
	var log bytes.Buffer
	o.Log = status.New(&log)
	if err := Up(context.Background(), o); err != nil {
		t.Fatalf("second up: %v\n%s", err, log.String())
	}
	if got := f.ranOn(m, "test", "-e"); !slices.Equal(got, []string{"lab1", "lab2", "lab3"}) {
		t.Errorf("the second up looked for kubeadm's files on %v, want every node", got)
	}
	created, deleted := f.since(m)
	if len(created) > 0 || len(deleted) > 0 {
		t.Errorf("second up created %v and deleted %v, want neither", created, deleted)
	}
	if got := f.ranOn(m, "kubeadm"); len(got) > 0 {
		t.Errorf("second up ran kubeadm on %v", got)
	}
	if !strings.Contains(log.String(), "no changes") {
		t.Errorf("second up did not say \"no changes\":\n%s", log.String())
	}
}

// failJoinOn makes kubeadm join fail on node, as a port in use would.
func failJoinOn(node string) func(string, []string) error {
	return func(n string, cmd []string) error {
		if n == node && slices.Equal(cmd[:2], []string{"kubeadm", "join"}) {
			return errors.New("[ERROR Port-10250]: Port 10250 is in use")
		}
		return nil
	}
}

func TestUpFailureDeletesOnlyWhatThisRunCreated(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before is the spec's indices of an up that succeeds first; "" for none.
		before      string
		wantDeleted []string
		wantLeft    []string
	}{
		{name: "fresh plex", wantDeleted: []string{"lab1", "lab2", "lab3"}, wantLeft: []string{"lab9"}},
		{name: "grown plex", before: "1-2", wantDeleted: []string{"lab3"}, wantLeft: []string{"lab1", "lab2", "lab9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := testEnv(t)
			f := newFake(t)
			// Someone else's instance with a plex-like name.
			f.addInstance("lab9", nil)
			if tc.before != "" {
				if err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", tc.before), Target: f.target(), Kubeconfig: kc}); err != nil {
					t.Fatalf("first up: %v", err)
				}
			}
			m := f.mark()
			f.failRun = failJoinOn("lab3")
			err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc})
			if err == nil || !strings.Contains(err.Error(), "Port 10250 is in use") {
				t.Fatalf("up with a failing join: err = %v, want the join's error", err)
			}
			checkOneLine(t, err, "joining ", "lab3: command \"kubeadm join --config /etc/plex/kubeadm-join.yaml\" exited 1: [ERROR Port-10250]: Port 10250 is in use")
			checkOutputLog(t, err, 1, "$ kubeadm join --config /etc/plex/kubeadm-join.yaml\n[ERROR Port-10250]")
			created, deleted := f.since(m)
			if !slices.Equal(deleted, tc.wantDeleted) || !slices.Equal(created, tc.wantDeleted) {
				t.Errorf("created %v and deleted %v, want both %v", created, deleted, tc.wantDeleted)
			}
			if got := f.names(); !slices.Equal(got, tc.wantLeft) {
				t.Errorf("left %v, want %v", got, tc.wantLeft)
			}
		})
	}
}

func TestUpFailureWithRetainKeepsWhatThisRunCreated(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	f.failRun = failJoinOn("lab3")
	var log bytes.Buffer
	err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc, Retain: true, Log: status.New(&log)})
	if err == nil {
		t.Fatal("up with a failing join succeeded")
	}
	if !strings.Contains(err.Error(), "--retain: kept the 3 instance(s) this run made") {
		t.Errorf("up did not say it kept the instances: %v", err)
	}
	if _, deleted := f.since(mark{}); len(deleted) > 0 {
		t.Errorf("up with Retain deleted %v", deleted)
	}
	if got, want := f.names(), []string{"lab1", "lab2", "lab3"}; !slices.Equal(got, want) {
		t.Errorf("instances %v, want %v kept", got, want)
	}
	if strings.Contains(log.String(), "removing") {
		t.Errorf("up with Retain removed something:\n%s", log.String())
	}
}

func TestUpRefusesAnInstanceItDidNotMake(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	f.addInstance("lab2", map[string]string{"user.comment": "mine"})
	err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc})
	if err == nil || !strings.Contains(err.Error(), "lab2 exists but plex did not create it") {
		t.Fatalf("up over a foreign lab2: err = %v", err)
	}
	if created, _ := f.since(mark{}); len(created) > 0 {
		t.Errorf("up over a foreign lab2 created %v", created)
	}
}
