package status

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestLinesShowsEachLineWhenVerbose(t *testing.T) {
	var shown bytes.Buffer
	l := New(&shown)
	l.Verbose = true
	w := &Lines{Log: l, Prefix: "   | ", Filter: strings.ToUpper}
	for _, part := range []string{"one\ntw", "o\n", "thr", "ee"} {
		_, _ = io.WriteString(w, part)
	}
	if got, want := shown.String(), "   | ONE\n   | TWO\n"; got != want {
		t.Errorf("before Flush: %q, want %q (a line is shown once it ends)", got, want)
	}
	w.Flush()
	if got, want := shown.String(), "   | ONE\n   | TWO\n   | THREE\n"; got != want {
		t.Errorf("after Flush: %q, want %q", got, want)
	}
	if got, want := w.String(), "one\ntwo\nthree"; got != want {
		t.Errorf("kept %q, want %q: the filter is for the terminal only", got, want)
	}
}

func TestLinesQuiet(t *testing.T) {
	var shown bytes.Buffer
	w := &Lines{Log: New(&shown)}
	_, _ = io.WriteString(w, "a\nb\n")
	w.Flush()
	if shown.Len() != 0 || w.String() != "a\nb\n" {
		t.Errorf("quiet: shown %q, kept %q", shown.String(), w.String())
	}
	var nolog Lines
	_, _ = io.WriteString(&nolog, "c")
	nolog.Flush()
	if nolog.String() != "c" {
		t.Errorf("without a Logger: kept %q", nolog.String())
	}
}
