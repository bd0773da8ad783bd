package kubeadm

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

// discoveryKubeconfig is the kubeconfig kubeadm join reads for file
// discovery: the cluster only, with no credentials (the token goes in the
// JoinConfiguration's tlsBootstrapToken).
type discoveryKubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []namedCluster `json:"clusters"`
	Contexts       []namedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
	Users          []namedUser    `json:"users"`
}

// namedUser has no credentials: clientcmd wants the context's user to exist.
type namedUser struct {
	Name string         `json:"name"`
	User map[string]any `json:"user"`
}

type namedCluster struct {
	Name    string  `json:"name"`
	Cluster cluster `json:"cluster"`
}

type cluster struct {
	Server                   string `json:"server"`
	CertificateAuthorityData []byte `json:"certificate-authority-data"`
}

type namedContext struct {
	Name    string      `json:"name"`
	Context contextSpec `json:"context"`
}

type contextSpec struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
}

// DiscoveryKubeconfig renders the file of JoinOptions.DiscoveryFile: the
// plex's API endpoint and its CA certificate (caPEM, the control plane's
// /etc/kubernetes/pki/ca.crt). It holds no secret.
func DiscoveryKubeconfig(p plan.Plex, caPEM []byte) ([]byte, error) {
	blk, _ := pem.Decode(caPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("the cluster CA is not a PEM certificate")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !ca.IsCA {
		return nil, fmt.Errorf("the cluster CA does not parse as a CA certificate")
	}
	if _, err := endpointHost(p.Endpoint); err != nil {
		return nil, err
	}
	const name = "plex"
	return yaml.Marshal(discoveryKubeconfig{
		APIVersion:     "v1",
		Kind:           "Config",
		Clusters:       []namedCluster{{Name: name, Cluster: cluster{Server: "https://" + p.Endpoint, CertificateAuthorityData: pem.EncodeToMemory(blk)}}},
		Contexts:       []namedContext{{Name: name, Context: contextSpec{Cluster: name, User: name}}},
		CurrentContext: name,
		Users:          []namedUser{{Name: name, User: map[string]any{}}},
	})
}
