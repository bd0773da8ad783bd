package action

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/status"
)

func TestRunSkipRest(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	step := func(name string, err error) Action {
		return New(name, func(context.Context) error { ran = append(ran, name); return err })
	}
	err := Run(context.Background(), status.New(&out),
		step("check", nil), step("find it done", fmt.Errorf("image x: %w", SkipRest)), step("make it", nil))
	if err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if strings.Join(ran, ",") != "check,find it done" {
		t.Errorf("ran %v", ran)
	}
	if s := out.String(); !strings.Contains(s, "✓ find it done") || strings.Contains(s, "✗") || strings.Contains(s, "make it") {
		t.Errorf("status lines:\n%s", s)
	}
}
