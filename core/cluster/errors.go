package cluster

import (
	"errors"
	"sort"
)

// joinErrors joins errors in a stable order, so output does not depend on
// which goroutine finished first.
func joinErrors(errs []error) error {
	sort.Slice(errs, func(a, b int) bool { return errs[a].Error() < errs[b].Error() })
	return errors.Join(errs...)
}
