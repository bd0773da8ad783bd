package plan

import (
	"bytes"
	"github.com/plex-dev/plex/core/internal/golden"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/spec"
)

// assertGolden compares got with the golden file name (go test -update
// rewrites it).
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", "golden", name), got)
}

// The plan tests use the spec package's valid inputs and the examples, so
// that every valid spec has a checked plan.
func specInputs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../spec/testdata/valid-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no ../spec/testdata/valid-*.yaml: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "valid-"), ".yaml")] = f
	}
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, f := range examples {
		out["example-"+strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	return out
}

func resolveFile(t *testing.T, path string) *Plan {
	t.Helper()
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(cfg)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return p
}

func TestGolden(t *testing.T) {
	writers := map[string]func(io.Writer, *Plan) error{
		"table":   func(w io.Writer, p *Plan) error { return WriteTable(w, p, nil) },
		"yaml":    WriteYAML,
		"json":    WriteJSON,
		"hosts":   WriteHosts,
		"genders": WriteGenders,
		"ansible": WriteAnsible,
	}
	for name, path := range specInputs(t) {
		p := resolveFile(t, path)
		for format, write := range writers {
			t.Run(name+"."+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := write(&buf, p); err != nil {
					t.Fatal(err)
				}
				assertGolden(t, name+"."+format, buf.Bytes())
			})
		}
	}
}

func TestGoldenTableStates(t *testing.T) {
	p := resolveFile(t, "../spec/testdata/valid-two-plexes.yaml")
	states := map[string]string{
		"omniplex1":  "exists (Running)",
		"omniplex2":  "create",
		"verniplex1": "conflict (Stopped)",
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, p, states); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "two-plexes-states.table", buf.Bytes())
}

func TestWriteAnsibleGroupClash(t *testing.T) {
	p := &Plan{Plexes: []Plex{{Name: "worker", Nodes: []Node{{Name: "worker1", Role: RoleWorker}}}}}
	if err := WriteAnsible(io.Discard, p); err == nil {
		t.Error("want an error for a plex named like a role group")
	}
}
