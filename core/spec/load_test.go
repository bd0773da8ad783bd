package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// expectations reads the "# want: FIELD" and "# want-error: TEXT" lines at the
// top of a testdata file.
func expectations(t *testing.T, data []byte) (fields []string, errText []string) {
	t.Helper()
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# want: "); ok {
			fields = append(fields, strings.TrimSpace(rest))
		}
		if rest, ok := strings.CutPrefix(line, "# want-error: "); ok {
			errText = append(errText, strings.TrimSpace(rest))
		}
	}
	sort.Strings(fields)
	return fields, errText
}

func TestLoadValid(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/valid-*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(cfg.Plexes) == 0 {
				t.Fatal("no plexes")
			}
			// Defaults are idempotent and a loaded spec stays valid.
			before := *cfg
			SetDefaults(cfg)
			if !reflect.DeepEqual(before, *cfg) {
				t.Errorf("SetDefaults changed a loaded spec")
			}
			if err := Validate(cfg); err != nil {
				t.Errorf("Validate after Load: %v", err)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid-*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			wantFields, wantText := expectations(t, data)
			if len(wantFields) == 0 && len(wantText) == 0 {
				t.Fatal("testdata file has no '# want:' or '# want-error:' line")
			}
			_, err = Load(f)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error does not name the file %s:\n%v", f, err)
			}
			for _, s := range wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not contain %q:\n%v", s, err)
				}
			}
			var list ErrorList
			if !errors.As(err, &list) {
				if len(wantFields) > 0 {
					t.Fatalf("error is not an ErrorList:\n%v", err)
				}
				return
			}
			if got := list.Fields(); !reflect.DeepEqual(got, wantFields) {
				t.Errorf("fields:\n got %q\nwant %q\nerror:\n%v", got, wantFields, err)
			}
			for _, e := range list {
				if e.Message == "" || strings.Contains(e.Message, "%!") {
					t.Errorf("bad message for %s: %q", e.Field, e.Message)
				}
			}
		})
	}
}

func TestParseCoercesNumbers(t *testing.T) {
	cfg, err := Load("testdata/valid-unquoted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plexes[0]
	if p.Nodes[0].Indices != "1" || p.Limits["kube"].CPU != "4" {
		t.Errorf("numbers not read as strings: indices %q, cpu %q", p.Nodes[0].Indices, p.Limits["kube"].CPU)
	}
	if p.Limits["kube"].Memory != "2GiB" {
		t.Errorf("kube memory %q, want the default merged in", p.Limits["kube"].Memory)
	}
}

func TestErrorListError(t *testing.T) {
	l := ErrorList{{Field: "plexes[0].name", Message: "bad"}, {Field: "plexes", Message: "worse"}}
	if got, want := l.Error(), "plexes[0].name: bad\nplexes: worse"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Skip("no examples")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestParseDecodesLikeYAMLUnmarshal holds Parse, which decodes the tree it
// already read, to what yaml.Unmarshal of the file gives, numbers and
// booleans in string fields included.
func TestParseDecodesLikeYAMLUnmarshal(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	examples, _ := filepath.Glob("../../examples/*.yaml")
	docs := map[string][]byte{"scalars": []byte(`apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: omniplex
  nodeSubnet: 10.212.0.0/24
  controlPlanes: 1.0
  flux: {url: "https://example.com/fleet", branch: 1.25, path: yes}
  limits:
    kube: {cpu: 2, memory: 2GiB}
  nodes:
  - {base: debian12, indices: 1, image: 0x1F}
  - {base: debian12, indices: 2, targets: [3, 2.5, true]}
`)}
	for _, f := range append(files, examples...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = data
	}
	for name, data := range docs {
		got, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := &Config{}
		if err := yaml.Unmarshal(data, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		SetDefaults(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Parse gave\n%+v\nyaml.Unmarshal gave\n%+v", name, got.Plexes, want.Plexes)
		}
	}
}
