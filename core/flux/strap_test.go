package flux

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/cluster"
)

func TestStrapSource(t *testing.T) {
	spec := filepath.Join("testdata", "spec.yaml")
	for _, tc := range []struct {
		name string
		o    StrapOptions
		want Sync
		err  string
	}{
		{name: "spec block with defaults",
			o:    StrapOptions{Ref: cluster.Ref{Name: "fluxed", File: spec}},
			want: Sync{Name: DefaultName, URL: "https://git.example.com/fleet.git", Branch: "main", Path: "clusters/fluxed", Interval: DefaultInterval}},
		{name: "flags override the spec",
			o:    StrapOptions{Ref: cluster.Ref{Name: "fluxed", File: spec}, URL: "ssh://git@example.com/other.git", Branch: "lab", Path: "labs/x"},
			want: Sync{Name: DefaultName, URL: "ssh://git@example.com/other.git", Branch: "lab", Path: "labs/x", Interval: DefaultInterval}},
		{name: "flags only",
			o:    StrapOptions{Ref: cluster.Ref{Name: "omniplex"}, URL: "http://10.212.0.1:8080/fleet.git"},
			want: Sync{Name: DefaultName, URL: "http://10.212.0.1:8080/fleet.git", Branch: "main", Path: "clusters/omniplex", Interval: DefaultInterval}},
		{name: "spec without a flux block", o: StrapOptions{Ref: cluster.Ref{Name: "plain", File: spec}}, err: "no flux block"},
		{name: "nothing", o: StrapOptions{Ref: cluster.Ref{Name: "x"}}, err: "give --url"},
		{name: "unknown plex", o: StrapOptions{Ref: cluster.Ref{Name: "nope", File: spec}}, err: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.source()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Fatalf("source = %+v, want %+v", *got, tc.want)
			}
		})
	}
}
