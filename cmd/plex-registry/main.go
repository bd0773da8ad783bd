// Command plex-registry is part of plex; see its --help.
package main

import (
	"context"
	"os"

	"github.com/plex-dev/plex/cmd/plex-registry/app"
	"github.com/plex-dev/plex/core/cli"
)

func main() {
	cli.Main(func(ctx context.Context) error {
		return app.NewCommand(app.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).ExecuteContext(ctx)
	})
}
