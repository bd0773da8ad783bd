package spec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// manyMistakes is a spec of n node groups, each with a misspelled key; after
// index 9999 the indices repeat, so the later groups also reuse an index.
// manyMistakes(200000) is a 10 MB file with about 390,000 problems.
func manyMistakes(n int) []byte {
	var b bytes.Buffer
	b.WriteString("apiVersion: plex.dev/v1alpha1\nkind: PlexConfig\nplexes:\n- name: omniplex\n  nodeSubnet: 172.16.0.0/16\n  podSubnet: 10.128.0.0/9\n  nodes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {base: debian12, indices: \"%d\", tpye: kube}\n", i%MaxIndex+1)
	}
	return b.Bytes()
}

// BenchmarkParseManyMistakes parses a 10 MB spec with about 390,000 problems
// and formats its error the way the programs print it. Run it with
// go test ./core/spec -run '^$' -bench ManyMistakes -benchtime 1x
func BenchmarkParseManyMistakes(b *testing.B) {
	data := manyMistakes(200000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := Parse(data)
		var list ErrorList
		if !errors.As(err, &list) {
			b.Fatalf("Parse: %v", err)
		}
		msg := "error: " + err.Error() + "\n"
		b.ReportMetric(float64(len(list)), "problems")
		b.ReportMetric(float64(len(msg)), "message-bytes")
		b.ReportMetric(float64(strings.Count(msg, "\n")), "message-lines")
	}
}

func TestErrorListMessageIsCapped(t *testing.T) {
	_, err := Parse(manyMistakes(3000))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse: %v", err)
	}
	// Every group has a misspelled key, and nothing else is wrong.
	if len(list) != 3000 {
		t.Errorf("the list holds %d problems, want all 3000", len(list))
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxErrorLines+1 {
		t.Fatalf("the message has %d lines, want %d:\n%v", len(lines), MaxErrorLines+1, err)
	}
	for i, line := range lines[:MaxErrorLines] {
		if line != list[i].Error() {
			t.Errorf("line %d is %q, want problem %d, %q", i, line, i, list[i].Error())
		}
	}
	if want := "… and 2980 more problems"; !strings.HasPrefix(lines[MaxErrorLines], want) {
		t.Errorf("last line %q, want it to start %q", lines[MaxErrorLines], want)
	}
}

func TestErrorListMessageLength(t *testing.T) {
	list := func(n int) ErrorList {
		l := make(ErrorList, n)
		for i := range l {
			l[i] = FieldError{Field: fmt.Sprintf("plexes[%d].name", i), Message: "bad"}
		}
		return l
	}
	for _, tc := range []struct {
		n, lines int
		last     string
	}{
		{1, 1, "plexes[0].name: bad"},
		{MaxErrorLines, MaxErrorLines, "plexes[19].name: bad"},
		{MaxErrorLines + 1, MaxErrorLines + 1, "… and 1 more problem: fix these and run again"},
		{MaxErrorLines + 5, MaxErrorLines + 1, "… and 5 more problems (often the same mistake repeated): fix these and run again"},
	} {
		lines := strings.Split(list(tc.n).Error(), "\n")
		if len(lines) != tc.lines || lines[len(lines)-1] != tc.last {
			t.Errorf("%d problems: %d lines ending %q, want %d ending %q", tc.n, len(lines), lines[len(lines)-1], tc.lines, tc.last)
		}
	}
}
