package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseIndices(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "1", want: []int{1}},
		{in: "1, 3-5", want: []int{1, 3, 4, 5}},
		{in: " 7 ,2-3", want: []int{2, 3, 7}},
		{in: "3 - 4", want: []int{3, 4}},
		{in: "5-5", want: []int{5}},
		{in: "9999", want: []int{9999}},
		{in: "", wantErr: "no indices"},
		{in: "  ", wantErr: "no indices"},
		{in: "3-1", wantErr: "runs backwards"},
		{in: "a", wantErr: "not an index or a range"},
		{in: "1-b", wantErr: "not an index or a range"},
		{in: "1-2-3", wantErr: "not an index or a range"},
		{in: "-1", wantErr: "not an index or a range"},
		{in: "+1", wantErr: "not an index or a range"},
		{in: "1.5", wantErr: "not an index or a range"},
		{in: "0", wantErr: "indices start at 1"},
		{in: "0-3", wantErr: "indices start at 1"},
		{in: "10000", wantErr: "too large"},
		{in: "1-3, 2", wantErr: `index 2 is listed twice (in "1-3" and "2")`},
		{in: "4, 4", wantErr: "index 4 is listed twice"},
		{in: "1,", wantErr: "empty item"},
		{in: ",1", wantErr: "empty item"},
		{in: "1,,2", wantErr: "empty item"},
	}
	for _, tt := range tests {
		got, err := ParseIndices(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseIndices(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseIndices(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
