package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/plex-dev/plex/core/plan"
)

// EtcdMember is one member of a plex's etcd cluster.
type EtcdMember struct {
	Name      string `json:"name"`
	ClientURL string `json:"clientURL"`
	Healthy   bool   `json:"healthy"`
	Leader    bool   `json:"leader,omitempty"`
	Error     string `json:"error,omitempty"`
}

// EtcdHealth is the etcd view of a plex.
type EtcdHealth struct {
	Members []EtcdMember `json:"members"`
	Healthy int          `json:"healthy"`
	// Quorum is true while more than half of the members are healthy.
	Quorum bool `json:"quorum"`
}

// etcdClient connects to the etcd members on cps from the host, with the
// health-check client certificate kubeadm made on control-plane node via.
func etcdClient(ctx context.Context, srv Incus, via string, cps []plan.Node) (*clientv3.Client, error) {
	read := func(p string) ([]byte, error) { return srv.PullFile(ctx, via, "/etc/kubernetes/pki/etcd/"+p) }
	caPEM, err := read("ca.crt")
	if err != nil {
		return nil, err
	}
	certPEM, err := read("healthcheck-client.crt")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("healthcheck-client.key")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	var endpoints []string
	for _, n := range cps {
		if n.Address != "" {
			endpoints = append(endpoints, "https://"+n.Address+":2379")
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 3 * time.Second,
		TLS:         &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd: %w", err)
	}
	return cli, nil
}

// removeEtcdMember removes the member named name, or whose peer URL is at
// address (a member added by a join that never started has no name), if
// etcd still has it. kubeadm reset does this too, but gives up quietly when
// it cannot reach etcd at that moment.
func removeEtcdMember(ctx context.Context, srv Incus, via string, cps []plan.Node, name, address string) error {
	cli, err := etcdClient(ctx, srv, via, cps)
	if err != nil {
		return err
	}
	defer cli.Close()
	return retryAPI(ctx, func() error {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		list, err := cli.MemberList(lctx)
		if err != nil {
			return fmt.Errorf("listing etcd members: %w", err)
		}
		for _, m := range list.Members {
			match := m.Name == name
			for _, u := range m.PeerURLs {
				match = match || strings.Contains(u, "//"+address+":")
			}
			if match {
				if _, err := cli.MemberRemove(lctx, m.ID); err != nil {
					return fmt.Errorf("removing etcd member %s (%x): %w", name, m.ID, err)
				}
			}
		}
		return nil
	})
}

// etcdHealth asks etcd for its members and the status of each.
func etcdHealth(ctx context.Context, srv Incus, via string, cps []plan.Node) (*EtcdHealth, error) {
	cli, err := etcdClient(ctx, srv, via, cps)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := cli.MemberList(lctx)
	if err != nil {
		return nil, fmt.Errorf("listing etcd members: %w", err)
	}
	h := &EtcdHealth{}
	for _, m := range list.Members {
		em := EtcdMember{Name: m.Name}
		if len(m.ClientURLs) > 0 {
			em.ClientURL = m.ClientURLs[0]
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := cli.Status(sctx, em.ClientURL)
			cancel()
			if err != nil {
				em.Error = err.Error()
			} else {
				em.Healthy = true
				em.Leader = st.Leader == m.ID
				h.Healthy++
			}
		} else {
			em.Error = "not started (no client URL)"
		}
		h.Members = append(h.Members, em)
	}
	sort.Slice(h.Members, func(a, b int) bool { return h.Members[a].Name < h.Members[b].Name })
	h.Quorum = h.Healthy > len(h.Members)/2
	return h, nil
}

// checkQuorumAfterRemoving says whether etcd keeps its quorum when member
// name leaves: the members left must have a healthy majority among them.
func checkQuorumAfterRemoving(h *EtcdHealth, name string) error {
	total, healthy := 0, 0
	for _, m := range h.Members {
		if m.Name == name {
			continue
		}
		total++
		if m.Healthy {
			healthy++
		}
	}
	if total == 0 {
		return fmt.Errorf("%s is the last etcd member: removing it ends the cluster; use `kubectl plex down`", name)
	}
	if healthy <= total/2 {
		return fmt.Errorf("removing %s would leave %d etcd member(s) with only %d healthy, which is no quorum: bring the unhealthy members back first, or pass --ignore-quorum", name, total, healthy)
	}
	return nil
}
