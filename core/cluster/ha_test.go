package cluster

import (
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/plan"
)

func TestCheckQuorumAfterRemoving(t *testing.T) {
	m := func(name string, healthy bool) EtcdMember { return EtcdMember{Name: name, Healthy: healthy} }
	for _, tc := range []struct {
		name    string
		members []EtcdMember
		remove  string
		wantErr string
	}{
		{"3 healthy, remove one", []EtcdMember{m("a", true), m("b", true), m("c", true)}, "c", ""},
		{"remove the unhealthy one", []EtcdMember{m("a", true), m("b", true), m("c", false)}, "c", ""},
		{"one down, remove a healthy one", []EtcdMember{m("a", true), m("b", false), m("c", true)}, "c", "no quorum"},
		{"2 healthy, remove one", []EtcdMember{m("a", true), m("b", true)}, "b", ""},
		{"last member", []EtcdMember{m("a", true)}, "a", "last etcd member"},
	} {
		err := checkQuorumAfterRemoving(&EtcdHealth{Members: tc.members}, tc.remove)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want it to say %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestKeepalivedConfig(t *testing.T) {
	px := plan.Plex{Name: "plexha", NodeSubnet: "10.212.0.0/24", APIVIP: "10.212.0.60"}
	cps := []plan.Node{{Name: "plexha1", Address: "10.212.0.61"}, {Name: "plexha2", Address: "10.212.0.62"}, {Name: "plexha3", Address: "10.212.0.63"}}
	b, err := keepalivedConfig(px, cps[1], cps)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{"priority 99", "unicast_src_ip 10.212.0.62", "10.212.0.61\n", "10.212.0.63\n", "10.212.0.60/24 dev eth0", "weight 50", "state BACKUP"} {
		if !strings.Contains(conf, want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "    10.212.0.62\n") {
		t.Errorf("a node lists itself as a peer:\n%s", conf)
	}
	if vrrpRouterID("plexha") == vrrpRouterID("omniplex") {
		t.Logf("router IDs collide for these two names (possible, 1 in 255)")
	}
	if id := vrrpRouterID("plexha"); id < 1 || id > 255 {
		t.Errorf("router id %d outside 1-255", id)
	}
}
