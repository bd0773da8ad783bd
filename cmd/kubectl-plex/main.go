// Command kubectl-plex is the kubectl plugin that brings up Kubernetes lab
// clusters ("plexes") in Incus system containers. Run it as `kubectl plex`.
package main

import (
	"context"
	"os"

	"github.com/plex-dev/plex/cmd/kubectl-plex/app"
	"github.com/plex-dev/plex/core/cli"
)

func main() {
	cli.Main(func(ctx context.Context) error {
		return app.NewCommand(app.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).ExecuteContext(ctx)
	})
}
