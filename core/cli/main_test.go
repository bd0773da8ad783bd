package cli

import (
	"bytes"
	"errors"
	"testing"
)

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		interrupted bool
		code        int
		out         string
	}{
		{"success", nil, false, 0, ""},
		{"success after a late signal", nil, true, 0, ""},
		{"error", errors.New("boom"), false, ExitError, "error: boom\n"},
		{"interrupted", errors.New("context canceled"), true, ExitInterrupted, "interrupted: context canceled\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := report(&b, tc.err, tc.interrupted); code != tc.code || b.String() != tc.out {
				t.Errorf("report = %d %q, want %d %q", code, b.String(), tc.code, tc.out)
			}
		})
	}
}
