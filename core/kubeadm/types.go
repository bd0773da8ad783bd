package kubeadm

// The kubeadm.k8s.io/v1beta4 types plex writes. They live in k8s.io/kubernetes,
// a module far too large to import for a few structs, so these are local
// copies of the fields plex uses, with the json names of
// cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go (v1.34). Every field is
// omitempty, so what plex does not set is left to kubeadm's defaults.

const (
	kubeadmAPIVersion = "kubeadm.k8s.io/v1beta4"
	kubeletAPIVersion = "kubelet.config.k8s.io/v1beta1"
	proxyAPIVersion   = "kubeproxy.config.k8s.io/v1alpha1"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type initConfiguration struct {
	typeMeta         `json:",inline"`
	BootstrapTokens  []bootstrapToken        `json:"bootstrapTokens,omitempty"`
	NodeRegistration nodeRegistrationOptions `json:"nodeRegistration"`
	LocalAPIEndpoint apiEndpoint             `json:"localAPIEndpoint"`
	CertificateKey   string                  `json:"certificateKey,omitempty"`
	SkipPhases       []string                `json:"skipPhases,omitempty"`
}

// bootstrapToken is bootstraptoken/v1.BootstrapToken; its token marshals as
// the "id.secret" string.
type bootstrapToken struct {
	Token       string   `json:"token"`
	Description string   `json:"description,omitempty"`
	TTL         string   `json:"ttl,omitempty"`
	Usages      []string `json:"usages,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

type clusterConfiguration struct {
	typeMeta             `json:",inline"`
	Networking           networking            `json:"networking"`
	KubernetesVersion    string                `json:"kubernetesVersion"`
	ControlPlaneEndpoint string                `json:"controlPlaneEndpoint,omitempty"`
	APIServer            apiServer             `json:"apiServer"`
	ControllerManager    controlPlaneComponent `json:"controllerManager"`
	Scheduler            controlPlaneComponent `json:"scheduler"`
	ImageRepository      string                `json:"imageRepository,omitempty"`
	ClusterName          string                `json:"clusterName,omitempty"`
	EncryptionAlgorithm  string                `json:"encryptionAlgorithm,omitempty"`
}

type controlPlaneComponent struct {
	ExtraArgs []arg `json:"extraArgs,omitempty"`
}

type apiServer struct {
	controlPlaneComponent `json:",inline"`
	CertSANs              []string `json:"certSANs,omitempty"`
}

type networking struct {
	ServiceSubnet string `json:"serviceSubnet,omitempty"`
	PodSubnet     string `json:"podSubnet,omitempty"`
	DNSDomain     string `json:"dnsDomain,omitempty"`
}

type apiEndpoint struct {
	AdvertiseAddress string `json:"advertiseAddress,omitempty"`
	BindPort         int32  `json:"bindPort,omitempty"`
}

type nodeRegistrationOptions struct {
	Name      string `json:"name,omitempty"`
	CRISocket string `json:"criSocket,omitempty"`
	// Taints is a pointer because kubeadm tells "absent" (the default
	// control-plane taint) from "[]" (no taint at all).
	Taints           *[]taint `json:"taints,omitempty"`
	KubeletExtraArgs []arg    `json:"kubeletExtraArgs,omitempty"`
	// ImagePullSerial false has kubeadm pull the control-plane images
	// all at once in its preflight, not one after the other.
	ImagePullSerial *bool `json:"imagePullSerial,omitempty"`
}

// taint is corev1.Taint without the time field plex never sets.
type taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// arg is v1beta4's ordered replacement for the map of extra arguments.
type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type joinConfiguration struct {
	typeMeta         `json:",inline"`
	NodeRegistration nodeRegistrationOptions `json:"nodeRegistration"`
	Discovery        discovery               `json:"discovery"`
	ControlPlane     *joinControlPlane       `json:"controlPlane,omitempty"`
	SkipPhases       []string                `json:"skipPhases,omitempty"`
}

type joinControlPlane struct {
	LocalAPIEndpoint apiEndpoint `json:"localAPIEndpoint"`
	CertificateKey   string      `json:"certificateKey,omitempty"`
}

type discovery struct {
	BootstrapToken    *bootstrapTokenDiscovery `json:"bootstrapToken,omitempty"`
	File              *fileDiscovery           `json:"file,omitempty"`
	TLSBootstrapToken string                   `json:"tlsBootstrapToken,omitempty"`
}

type fileDiscovery struct {
	KubeConfigPath string `json:"kubeConfigPath"`
}

type bootstrapTokenDiscovery struct {
	Token             string   `json:"token"`
	APIServerEndpoint string   `json:"apiServerEndpoint,omitempty"`
	CACertHashes      []string `json:"caCertHashes,omitempty"`
}
