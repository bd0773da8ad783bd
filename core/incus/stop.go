package incus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lxc/incus/v6/shared/api"
)

// Shutdown stops an instance cleanly, giving its init up to timeout, and
// stops it forcibly when that runs out. Stopping a stopped instance is not
// an error.
func (s *Server) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	secs := max(int(timeout/time.Second), 1)
	op, err := s.client.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Timeout: secs}, "")
	if err == nil {
		err = wait(ctx, op, "stopping instance "+name)
	}
	if err == nil || strings.Contains(err.Error(), "already stopped") {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if ferr := s.Stop(ctx, name, true); ferr != nil {
		return fmt.Errorf("stopping instance %s: a clean shutdown failed (%v), and so did a forced stop: %w", name, err, ferr)
	}
	return nil
}
