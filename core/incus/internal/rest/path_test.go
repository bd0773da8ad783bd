package rest

import (
	"context"
	"net/http"
	"testing"
)

func TestPathEscapesSegments(t *testing.T) {
	for _, tc := range []struct {
		segs []string
		want string
	}{
		{nil, "/1.0"},
		{[]string{"instances", "n1"}, "/1.0/instances/n1"},
		{[]string{"instances", "my box", "files"}, "/1.0/instances/my%20box/files"},
		{[]string{"storage-pools", "p", "volumes", "custom", "a/b"}, "/1.0/storage-pools/p/volumes/custom/a%2Fb"},
		{[]string{"images", "aliases", "x?y#z"}, "/1.0/images/aliases/x%3Fy%23z"},
	} {
		if got := Path(tc.segs...); got != tc.want {
			t.Errorf("Path(%q) = %q, want %q", tc.segs, got, tc.want)
		}
	}
}

// TestEscapedPathOnTheWire checks that a slash inside a name reaches the
// server as %2F, one segment, and not as two.
func TestEscapedPathOnTheWire(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		var name string
		f.handle("GET /1.0/storage-pools/{pool}/volumes/custom/{name}", func(w http.ResponseWriter, r *http.Request) {
			name = r.PathValue("name")
			writeSync(w, nil)
		})
		_, err := c.Sync(context.Background(), Request{Method: http.MethodGet, Path: Path("storage-pools", "p", "volumes", "custom", "a/b c")}, nil)
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if name != "a/b c" {
			t.Errorf("server got name %q, want %q", name, "a/b c")
		}
		if p := f.requests()[0].Path; p != "/1.0/storage-pools/p/volumes/custom/a%2Fb%20c" {
			t.Errorf("path on the wire = %q", p)
		}
	})
}
