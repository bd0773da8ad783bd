package registry

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/internal/digest"
	"github.com/plex-dev/plex/core/registry/engine"
)

// installZot puts the Zot binary into the instance, unless the one there is
// the same.
func (r *upRun) installZot(ctx context.Context) error {
	arch, err := r.srv.Architecture(ctx)
	if err != nil {
		return err
	}
	p, err := r.zot.path(ctx, arch)
	if err != nil {
		return err
	}
	sum, err := digest.FileSHA256(p)
	if err != nil {
		return err
	}
	if out, err := r.srv.Run(ctx, r.cache.Instance, "sh", "-c", "sha256sum "+engine.ZotBinary+" 2>/dev/null || true"); err == nil && strings.HasPrefix(out, sum) {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.srv.PushReader(ctx, r.cache.Instance, engine.ZotBinary, f, 0o755); err != nil {
		return err
	}
	r.changed(engine.ZotBinary)
	return nil
}

// provisionScript is where the engine's provision script goes in the
// instance.
const provisionScript = "/usr/local/lib/plex-registry/provision.sh"

// provision installs the engine's files and units in the instance and waits
// until every endpoint answers (engine.Layout.ProvisionScript).
func (r *upRun) provision(ctx context.Context) error {
	script, err := r.cache.ProvisionScript()
	if err != nil {
		return err
	}
	// 0700: the script carries the htpasswd file's hashes, if any.
	if err := r.srv.PushFile(ctx, r.cache.Instance, provisionScript, []byte(script), 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := r.srv.Run(ctx, r.cache.Instance, "bash", provisionScript)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		for _, p := range []string{"plex-changed ", "plex-removed "} {
			if s, ok := strings.CutPrefix(line, p); ok && !r.res.Created {
				r.changed(strings.TrimSpace(s))
			}
		}
	}
	return nil
}

// recordLayout puts the layout labels on the instance, which is how
// kubectl plex up, warm and status find the cache and its endpoints.
func (r *upRun) recordLayout(ctx context.Context) error {
	labels, err := r.cache.labels()
	if err != nil {
		return err
	}
	if err := r.srv.SetInstanceConfig(ctx, r.cache.Instance, labels); err != nil {
		return err
	}
	if r.existing != nil {
		r.changed("layout labels")
	}
	return nil
}
