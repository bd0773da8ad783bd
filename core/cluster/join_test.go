package cluster

import (
	"context"
	"slices"
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
