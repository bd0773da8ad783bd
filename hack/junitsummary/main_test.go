package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	jsonFile := filepath.Join(t.TempDir(), "summary.json")
	var out bytes.Buffer
	if err := run([]string{"-json", jsonFile, "testdata/junit_01.xml"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"run 3, passed 2, failed 1, skipped 1 (specs; 2 more not selected)",
		"  - [sig-storage] CSI something [Conformance]\n      skipped - Only supported for providers [gce gke] (not skeleton)\n",
		"✗ [sig-network] DNS should provide DNS for services  [Conformance] (60 s)",
		"[FAILED] Unable to read agnhost_udp@dns-test-service from pod dns-1234/dns-test-abc\n",
		"conformance: 2 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Run != 3 || s.Passed != 2 || s.Failed != 1 || s.Skipped != 1 || s.NotSelected != 2 || len(s.Skips) != 1 || len(s.Failures) != 1 || s.Seconds != 81.5 {
		t.Errorf("summary.json = %+v", s)
	}
}

func TestSummaryErrors(t *testing.T) {
	if err := run(nil, &bytes.Buffer{}); err == nil {
		t.Error("no files: want an error")
	}
	if err := run([]string{"testdata/missing.xml"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "reading the JUnit report") {
		t.Errorf("missing file: err = %v", err)
	}
}
