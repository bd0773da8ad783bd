package plan

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	p := Plex{Name: "omniplex", Nodes: []Node{{Name: "omniplex1"}, {Name: "omniplex2"}, {Name: "omniplex3"}}}
	existing := []Existing{
		{Name: "omniplex1", Status: "Running", Plex: "omniplex", Managed: true},
		{Name: "omniplex2", Status: "Stopped"}, // same name, not plex's
		{Name: "omniplex9", Status: "Running", Plex: "omniplex", Managed: true},
		{Name: "verniplex1", Status: "Running", Plex: "verniplex", Managed: true},
		{Name: "omniplex7", Status: "Running", Plex: "omniplex"}, // label without managed: not ours
	}
	got := Diff(p, existing)
	want := []Change{
		{Plex: "omniplex", Node: "omniplex1", Action: ActionExists, Status: "Running"},
		{Plex: "omniplex", Node: "omniplex2", Action: ActionConflict, Status: "Stopped"},
		{Plex: "omniplex", Node: "omniplex3", Action: ActionCreate},
		{Plex: "omniplex", Node: "omniplex9", Action: ActionRemove, Status: "Running"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff:\n got %+v\nwant %+v", got, want)
	}
	st := States(got)
	if st["omniplex1"] != "exists (Running)" || st["omniplex3"] != "create" {
		t.Fatalf("States: %v", st)
	}
}
