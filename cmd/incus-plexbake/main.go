// Command incus-plexbake is part of plex; see its --help.
package main

import (
	"context"
	"os"

	"github.com/plex-dev/plex/cmd/incus-plexbake/app"
	"github.com/plex-dev/plex/core/cli"
)

func main() {
	cli.Main(func(ctx context.Context) error {
		return app.NewCommand(os.Stdout, os.Stderr).ExecuteContext(ctx)
	})
}
