package incus

// Keys that `incus plexbake` sets: on its transient instance (config keys)
// and on the images it publishes (image properties). An image is plex-baked
// when it has PropType.
const (
	// LabelBake is the image alias a transient bake instance is baking.
	LabelBake = LabelPrefix + "bake"
	// LabelBakeStarted is when that bake started (RFC 3339).
	LabelBakeStarted = LabelPrefix + "bake-started"
	// LabelBakeID tells one bake process's instance from another's.
	LabelBakeID = LabelPrefix + "bake-id"

	// PropType is the node type the image was baked for (kube).
	PropType = LabelPrefix + "type"
	// PropBase is the base image reference the image was baked from.
	PropBase = LabelPrefix + "base"
	// PropBaseFingerprint is that base image's fingerprint.
	PropBaseFingerprint = LabelPrefix + "base-fingerprint"
	// PropInputs is the hash of everything that went into the image; a bake
	// with the same inputs hash finds the image and does nothing.
	PropInputs = LabelPrefix + "inputs"
	// PropKubernetesVersion is the version of kubeadm, kubelet and kubectl.
	PropKubernetesVersion = LabelPrefix + "kubernetes-version"
	// PropContainerdVersion is the containerd version (2.4.2 for a release,
	// the package version for the base's containerd).
	PropContainerdVersion = LabelPrefix + "containerd-version"
	// PropRuncVersion is the runc version, the same way.
	PropRuncVersion = LabelPrefix + "runc-version"
	// PropPreloadedImages lists the images a kube image holds in containerd's
	// store already (space-separated references), when it was baked with
	// --preload-images.
	PropPreloadedImages = LabelPrefix + "preloaded-images"
	// PropRestrictOOMScoreAdj is "true" when the bake found that processes in
	// the instance cannot lower their oom_score_adj, and so configured
	// containerd with restrict_oom_score_adj; kube-proxy then needs
	// oomScoreAdj: 0.
	PropRestrictOOMScoreAdj = LabelPrefix + "restrict-oom-score-adj"
	// PropBakeFormat is the version of the bake recipe that made the image.
	PropBakeFormat = LabelPrefix + "bake-format"
)
