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
		{"interrupted, saying where", errors.New("lab: interrupted while kubeadm init on lab1; removed the 2 instance(s) this run made"), true, ExitInterrupted,
			"lab: interrupted while kubeadm init on lab1; removed the 2 instance(s) this run made\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := report(&b, tc.err, tc.interrupted); code != tc.code || b.String() != tc.out {
				t.Errorf("report = %d %q, want %d %q", code, b.String(), tc.code, tc.out)
			}
		})
	}
}

func TestWriteData(t *testing.T) {
	v := struct {
		Name  string `json:"name"`
		Nodes int    `json:"nodes"`
	}{"omniplex", 3}
	for format, want := range map[string]string{
		"json": "{\n  \"name\": \"omniplex\",\n  \"nodes\": 3\n}\n",
		"yaml": "name: omniplex\nnodes: 3\n",
	} {
		var b bytes.Buffer
		if err := WriteData(&b, format, v); err != nil || b.String() != want {
			t.Errorf("WriteData %s = %q, %v; want %q", format, b.String(), err, want)
		}
	}
	if err := WriteData(&bytes.Buffer{}, "xml", v); err == nil {
		t.Error("format xml accepted")
	}
}
