package cluster

import (
	"context"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/boot"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
)

// Incus is what cluster needs from an Incus server. incusServer (a
// *incus.Server) implements it; the tests use an in-memory fake.
//
// Remote and Project are methods here but fields on *incus.Server, so the
// real server goes through the thin incusServer wrapper rather than
// satisfying Incus itself. Passing the names beside the server instead
// would thread two more strings through discover, findNode, placement,
// status and run, and the remote's name is only known once Connect has
// resolved the default remote anyway.
type Incus interface {
	// Remote is the remote's name as the user knows it, for messages and
	// placement.
	Remote() string
	// Project is the project the connection works in, for messages.
	Project() string

	ListInstances(ctx context.Context) ([]incus.Instance, error)
	GetInstance(ctx context.Context, name string) (*incus.Instance, error)
	CreateInstance(ctx context.Context, spec incus.InstanceSpec) error
	Start(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error
	Exec(ctx context.Context, name string, cmd []string, o incus.ExecOptions) (int, error)
	Run(ctx context.Context, name string, cmd ...string) (string, error)
	PushFile(ctx context.Context, name, path string, content []byte, mode int) error
	// SeedFiles has Incus write files into a new instance as it first
	// starts (nodes.go).
	SeedFiles(ctx context.Context, name string, files []incus.SeedFile) error
	PullFile(ctx context.Context, name, path string) ([]byte, error)
	EnsureProfile(ctx context.Context, p incus.Profile) error
	ImageByAlias(ctx context.Context, alias string) (*incus.Image, error)
	Members(ctx context.Context) ([]incus.Member, error)
	SetInstanceConfig(ctx context.Context, name string, kv map[string]string) error
	// Snapshots (snapshot.go, restore.go).
	Freeze(ctx context.Context, name string) error
	Unfreeze(ctx context.Context, name string) error
	CreateSnapshot(ctx context.Context, instance, name string) error
	ListSnapshots(ctx context.Context, instance string) ([]incus.Snapshot, error)
	DeleteSnapshot(ctx context.Context, instance, name string) error
	RestoreSnapshot(ctx context.Context, instance, name string) error
	// The profile calls the plex's lock is made of (lock.go).
	lock.Server
}

// incusServer gives *incus.Server's Remote and Project fields the method
// form Incus asks for; every other method is the server's own. The methods
// shadow the promoted fields of the same names on purpose, so call sites
// read srv.Remote() whichever the server is.
type incusServer struct{ *incus.Server }

var _ Incus = incusServer{}

func (s incusServer) Remote() string  { return s.Server.Remote }
func (s incusServer) Project() string { return s.Server.Project }

// connectIncus is the real connection.
func connectIncus(ctx context.Context, o incus.ConnectOptions) (Incus, error) {
	s, err := incus.Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	return incusServer{s}, nil
}

// seams are where the tests put fakes in place of Incus and of the plex's
// Kubernetes API server, which a fake Incus cannot bring up. A nil *seams,
// what every caller outside the tests has, means the real ones.
type seams struct {
	connect   func(ctx context.Context, o incus.ConnectOptions) (Incus, error)
	waitReady func(ctx context.Context, kubeconfig []byte, names []string, timeout time.Duration) error
	// saveEtcd stands in for etcd's snapshot, which needs a real etcd.
	saveEtcd func(ctx context.Context, srv Incus, via string, cps []plan.Node) ([]byte, error)
	// bootTimeout and bootEvery, when set, shorten the boot wait, so that
	// a test of a node that never boots ends in a second, not in minutes.
	bootTimeout, bootEvery time.Duration
	// lockPoll, when set, is how often a run waiting for the plex's lock
	// looks at it, so that a test of the wait takes milliseconds.
	lockPoll time.Duration
}

func (s *seams) lockOptions(o lock.Options) lock.Options {
	if s != nil && s.lockPoll > 0 {
		o.Poll = s.lockPoll
	}
	return o
}

func (s *seams) bootOptions(o boot.Options) boot.Options {
	if s != nil {
		o.Timeout, o.Every = s.bootTimeout, s.bootEvery
	}
	return o
}

func (s *seams) open(ctx context.Context, o incus.ConnectOptions) (Incus, error) {
	if s == nil || s.connect == nil {
		return connectIncus(ctx, o)
	}
	return s.connect(ctx, o)
}

func (s *seams) nodesReady(ctx context.Context, kubeconfig []byte, names []string, timeout time.Duration) error {
	if s == nil || s.waitReady == nil {
		return waitReady(ctx, kubeconfig, names, timeout)
	}
	return s.waitReady(ctx, kubeconfig, names, timeout)
}

// nodesReadySince is nodesReady for nodes whose kubelets must have
// reported after since; the fake's waitReady stands in for it as it is.
func (s *seams) nodesReadySince(ctx context.Context, kubeconfig []byte, names []string, since time.Time, timeout time.Duration) error {
	if s == nil || s.waitReady == nil {
		return waitReadySince(ctx, kubeconfig, names, since, timeout)
	}
	return s.waitReady(ctx, kubeconfig, names, timeout)
}

func (s *seams) etcdSnapshot(ctx context.Context, srv Incus, via string, cps []plan.Node) ([]byte, error) {
	if s == nil || s.saveEtcd == nil {
		return etcdSnapshot(ctx, srv, via, cps)
	}
	return s.saveEtcd(ctx, srv, via, cps)
}

// dial opens the server of remote and project through t's seams.
func (t Target) dial(ctx context.Context, remote, project string) (Incus, error) {
	return t.seams.open(ctx, incus.ConnectOptions{ConfigPath: t.IncusConfig, Remote: remote, Project: project})
}
