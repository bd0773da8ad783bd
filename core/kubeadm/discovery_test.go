package kubeadm

import (
	"encoding/pem"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// The discovery file is what kubeadm join's file discovery accepts: client-go
// loads and validates it (kubeadm calls the same), the server is the plex's
// endpoint, the CA is the cluster's, and it carries no credentials.
func TestDiscoveryKubeconfig(t *testing.T) {
	p := omniplex(true)
	ca, _ := testCA(t)
	b, err := DiscoveryKubeconfig(p, ca)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatalf("clientcmd.Load: %v\n%s", err, b)
	}
	if err := clientcmd.Validate(*cfg); err != nil {
		t.Fatalf("clientcmd.Validate: %v\n%s", err, b)
	}
	c := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	if c.Server != "https://"+p.Endpoint || string(c.CertificateAuthorityData) != string(ca) {
		t.Errorf("cluster %+v, want server https://%s and the CA", c, p.Endpoint)
	}
	for name, u := range cfg.AuthInfos {
		if u.Token != "" || u.TokenFile != "" || len(u.ClientKeyData) > 0 || u.ClientKey != "" || u.Username != "" {
			t.Errorf("user %s has credentials", name)
		}
	}

	for _, bad := range [][]byte{nil, []byte("not pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})} {
		if _, err := DiscoveryKubeconfig(p, bad); err == nil || !strings.Contains(err.Error(), "cluster CA") {
			t.Errorf("CA %.20q: error %v, want one about the cluster CA", bad, err)
		}
	}
}
