package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/plex-dev/plex/core/cluster"
	"github.com/plex-dev/plex/core/flux"
)

// core is the one call into core/ that each verb makes. NewCommand wires the
// real functions; the tests put recorders in their place, to see what a
// verb's flags became without an Incus server.
type core struct {
	plan           func(context.Context, cluster.PlanOptions) (*cluster.PlanResult, error)
	up             func(context.Context, cluster.UpOptions) error
	join           func(context.Context, cluster.JoinOptions) error
	drain          func(context.Context, cluster.DrainOptions) error
	down           func(context.Context, cluster.DownOptions) error
	status         func(context.Context, cluster.StatusOptions) ([]cluster.PlexStatus, error)
	snapshot       func(context.Context, cluster.SnapshotOptions) (string, error)
	restore        func(context.Context, cluster.RestoreOptions) error
	listSnapshots  func(context.Context, cluster.SnapshotListOptions) ([]cluster.PlexSnapshot, error)
	deleteSnapshot func(context.Context, cluster.DeleteSnapshotOptions) error
	kubeconfig     func(context.Context, cluster.KubeconfigOptions) ([]byte, error)
	sshCommand     func(context.Context, cluster.SSHOptions) ([]string, error)
	fluxstrap      func(context.Context, flux.StrapOptions) (*flux.StrapResult, error)
	// exec replaces this process with argv, as ssh NODE does.
	exec func(argv []string) error
}

func realCore() core {
	return core{
		plan:           cluster.Plan,
		up:             cluster.Up,
		join:           cluster.Join,
		drain:          cluster.Drain,
		down:           cluster.Down,
		status:         cluster.Status,
		snapshot:       cluster.Snapshot,
		restore:        cluster.Restore,
		listSnapshots:  cluster.ListSnapshots,
		deleteSnapshot: cluster.DeleteSnapshot,
		kubeconfig:     cluster.Kubeconfig,
		sshCommand:     cluster.SSHCommand,
		fluxstrap:      flux.Strap,
		exec:           execProcess,
	}
}

// execProcess runs argv in place of this process.
func execProcess(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s is not installed: %w", argv[0], err)
	}
	return syscall.Exec(path, argv, os.Environ())
}
