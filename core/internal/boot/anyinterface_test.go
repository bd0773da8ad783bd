package boot

import (
	"context"
	"strings"
	"testing"
)

type scriptRunner struct{ script string }

func (r *scriptRunner) Run(_ context.Context, _ string, cmd ...string) (string, error) {
	r.script = cmd[len(cmd)-1]
	return "addr=10.0.0.7 \n", nil
}

func TestWaitAnyInterface(t *testing.T) {
	for _, anyIf := range []bool{false, true} {
		r := &scriptRunner{}
		if _, err := Wait(context.Background(), r, "n1", Options{AnyInterface: anyIf}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(r.script, "scope global"); got != anyIf || strings.Contains(r.script, "dev eth0") == anyIf {
			t.Errorf("AnyInterface %v: script\n%s", anyIf, r.script)
		}
	}
}
