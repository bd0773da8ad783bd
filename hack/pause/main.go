// Command pause is the pod sandbox process for plex's offline control-plane
// images. It holds the pod's namespaces open, sleeps until SIGTERM or SIGINT,
// and reaps any child that gets re-parented to it (it is PID 1 of the pod when
// the pod shares its process namespace).
//
// It is built statically (CGO_ENABLED=0) by hack/k8s-artifacts.sh and packed as
// registry.k8s.io/pause by hack/imagebuild.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the build through -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Printf("pause (plex) %s\n", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1")
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking; several SIGCHLDs may
// coalesce into one delivery, so it loops until no zombie is left.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
