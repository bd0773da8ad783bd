package bake

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/boot"
	"github.com/plex-dev/plex/core/status"
)

// bootProbe is what the bake needs of a booted instance beyond boot.Wait's
// cloud-init and address: systemd done starting units, so that nothing else
// is still changing the system while it is provisioned. It fails until then,
// which makes boot.Wait try again. It is not part of the inputs: it changes
// nothing in the image.
const bootProbe = `state=$(systemctl is-system-running 2>/dev/null || true)
case $state in
running) echo "systemd running" ;;
degraded)
  echo "systemd degraded; failed units:"
  systemctl --failed --no-legend --plain | sed 's/^/  /'
  ;;
*)
  echo "systemd is still '$state'; unfinished jobs:"
  systemctl list-jobs --no-legend | sed 's/^/  /'
  exit 1
  ;;
esac
# cloud-init 1 is worth a look, but the base may still provision fine.
rc=0
command -v cloud-init >/dev/null 2>&1 && { cloud-init status >/dev/null 2>&1 || rc=$?; }
if [ "$rc" -eq 1 ]; then
  echo "cloud-init finished with errors:"
  cloud-init status --long 2>&1 | sed 's/^/  /'
fi
`

// writeBootFiles writes bootFiles into the stopped container, making the
// directories they need.
func (b *baker) writeBootFiles(ctx context.Context) error {
	files := bootFiles()
	for _, p := range sortedKeys(files) {
		var dirs []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
		}
		for _, d := range dirs {
			if err := b.srv.MakeDir(ctx, b.instance, d, 0o755); err != nil {
				return err
			}
		}
		// PushReader, not PushFile: the container is not running, so nothing
		// can be run in it (PushFile makes parents with mkdir -p).
		if err := b.srv.PushReader(ctx, b.instance, p, strings.NewReader(files[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (b *baker) waitBoot(ctx context.Context) error {
	// Any interface: a VM's NIC is not eth0, and apt needs only a way out.
	out, err := boot.Wait(ctx, bootRunner{b}, b.instance, boot.Options{
		Probe: bootProbe, Timeout: b.o.BootTimeout, AnyInterface: true,
	})
	if err != nil {
		return err
	}
	// The output is boot.Wait's "addr=A " line, then the probe's.
	_, probe, _ := strings.Cut(strings.TrimSpace(out), "addr=")
	addr, probe, _ := strings.Cut(probe, "\n")
	b.log.Infof("   address %s, %s", strings.TrimSpace(addr), strings.ReplaceAll(strings.TrimSpace(probe), "\n", "\n   "))
	return nil
}

// bootRunner runs boot.Wait's tries through the bake's Server. A failed try
// is the probe's own words, without the script that boot.Wait wraps it in:
// boot.Wait shows the last one when the boot times out.
type bootRunner struct{ b *baker }

func (r bootRunner) Run(ctx context.Context, instance string, cmd ...string) (string, error) {
	// Quiet even when verbose: the tries come twice a second.
	out := &status.Lines{}
	code, err := r.b.srv.Exec(ctx, instance, cmd, incus.ExecOptions{Stdout: out, Stderr: out})
	switch {
	case err != nil:
		return out.String(), err
	case code != 0 && strings.TrimSpace(out.String()) == "":
		return "", fmt.Errorf("the boot check exited %d", code)
	case code != 0:
		return out.String(), errors.New(strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
