package rest

import (
	"strings"
	"testing"
)

func TestEndpointValidation(t *testing.T) {
	for _, tc := range []struct {
		ep      Endpoint
		wantErr string // "" means valid
	}{
		{Endpoint{}, "neither"},
		{Endpoint{URL: "http://incus.example:8443"}, "only https"},
		{Endpoint{URL: "ws://incus.example:8443"}, "only https"},
		{Endpoint{URL: "incus.example:8443"}, "incus.example"},
		{Endpoint{URL: "https://incus.example:8443/1.0"}, "path"},
		{Endpoint{URL: "https://incus.example:8443"}, ""},
		{Endpoint{URL: "https://incus.example:8443/"}, ""},
		{Endpoint{SocketPath: "/var/lib/incus/unix.socket"}, ""},
	} {
		c, err := New(tc.ep)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(%+v): %v", tc.ep, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("New(%+v) accepted it", tc.ep)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("New(%+v): %q, want it to mention %q", tc.ep, err, tc.wantErr)
		case err == nil && c.Endpoint() != tc.ep:
			t.Errorf("Endpoint() = %+v, want %+v", c.Endpoint(), tc.ep)
		}
	}
}
