package cluster

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

func TestJoinAddsOneWorker(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    JoinOptions
		want string
	}{
		{name: "count", o: JoinOptions{Count: 1}, want: "lab3"},
		{name: "indices", o: JoinOptions{Indices: "5"}, want: "lab5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := testEnv(t)
			f := newFake(t)
			spec := writeSpec(t, "lab", "1-2")
			if err := Up(context.Background(), UpOptions{File: spec, Target: f.target(), Kubeconfig: kc}); err != nil {
				t.Fatalf("up: %v", err)
			}
			m := f.mark()
			o := tc.o
			o.File, o.Name, o.Target, o.Kubeconfig = spec, "lab", f.target(), kc
			if err := Join(context.Background(), o); err != nil {
				t.Fatalf("join: %v", err)
			}
			created, deleted := f.since(m)
			if !slices.Equal(created, []string{tc.want}) || len(deleted) > 0 {
				t.Fatalf("join created %v and deleted %v, want only %s created", created, deleted, tc.want)
			}
			in, _ := f.instance(tc.want)
			if in.Plex() != "lab" || in.Config[incus.LabelRole] != plan.RoleWorker || in.Status != "Running" {
				t.Errorf("%s: plex %q, role %q, status %s; want a running worker of lab", tc.want, in.Plex(), in.Config[incus.LabelRole], in.Status)
			}
			if got := f.ranOn(m, "kubeadm", "join"); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("kubeadm join ran on %v, want [%s]", got, tc.want)
			}
			if got := f.ranOn(m, "kubeadm", "init"); len(got) > 0 {
				t.Errorf("join ran kubeadm init on %v", got)
			}
			// init's token may have expired: join makes its own.
			if got := f.ranOn(m, "kubeadm", "token", "create"); !slices.Equal(got, []string{"lab1"}) {
				t.Errorf("kubeadm token create ran on %v, want [lab1]", got)
			}
			// The workers that were there learn the route to the new one's pods.
			if got := f.ranOn(m, "sh", "-c"); !slices.Contains(got, "lab2") {
				t.Errorf("pod routes were not synced on lab2 (commands on %v)", got)
			}
		})
	}
}

// Workers that earlier joins added are not in the spec; a later join, and an
// up of the spec, must keep routing to their pods.
func TestJoinKeepsTheRoutesOfEarlierJoins(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	spec := writeSpec(t, "lab", "1-2")
	if err := Up(context.Background(), UpOptions{File: spec, Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("up: %v", err)
	}
	for _, idx := range []string{"3", "4"} {
		if err := Join(context.Background(), JoinOptions{File: spec, Name: "lab", Indices: idx, Target: f.target(), Kubeconfig: kc}); err != nil {
			t.Fatalf("join %s: %v", idx, err)
		}
	}
	cidr := func(name string) string {
		in, _ := f.instance(name)
		return in.Config[incus.LabelPodCIDR]
	}
	// lab4 booted with routes to every other node's pods, lab3's included.
	if dropIn := string(f.file("lab4", routesDropIn)); !strings.Contains(dropIn, cidr("lab3")) || !strings.Contains(dropIn, cidr("lab2")) {
		t.Errorf("lab4's routes lack lab3's %s or lab2's %s:\n%s", cidr("lab3"), cidr("lab2"), dropIn)
	}
	// The second join synced lab3 too, and kept lab2's route to lab3.
	for node, want := range map[string][]string{"lab2": {"lab3", "lab4"}, "lab3": {"lab2", "lab4"}} {
		dropIn := string(f.file(node, routesDropIn))
		for _, other := range want {
			if !strings.Contains(dropIn, cidr(other)) {
				t.Errorf("%s's routes lack %s's pods (%s):\n%s", node, other, cidr(other), dropIn)
			}
		}
	}
	// So does an up of the spec, which lists only lab1 and lab2.
	if err := Up(context.Background(), UpOptions{File: spec, Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if dropIn := string(f.file("lab2", routesDropIn)); !strings.Contains(dropIn, cidr("lab3")) || !strings.Contains(dropIn, cidr("lab4")) {
		t.Errorf("after up, lab2's routes lack lab3's or lab4's pods:\n%s", dropIn)
	}
}
