package incus

import (
	"testing"
)

// TestExecRetriesWhenNotConnected: a command whose websockets could not be
// connected never started, so Exec runs it again, and gives up after three
// tries with the connection's error.
func TestExecRetriesWhenNotConnected(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	f.mu.Lock()
	f.refuseWebsockets = 1
	f.mu.Unlock()
	code, err := s.Exec(testCtx(t), "c1", []string{"true"}, ExecOptions{})
	if err != nil || code != 0 {
		t.Fatalf("Exec after one refused websocket: %d, %v", code, err)
	}
	if n := f.countExecPosts(); n != 2 {
		t.Errorf("the fake saw %d exec requests, want 2 (one refused, one run)", n)
	}

	f.mu.Lock()
	f.refuseWebsockets = 100
	f.mu.Unlock()
	if _, err := s.Exec(testCtx(t), "c1", []string{"true"}, ExecOptions{}); err == nil {
		t.Fatal("Exec with every websocket refused: no error")
	}
	if n := f.countExecPosts(); n != 5 {
		t.Errorf("the fake saw %d exec requests in all, want 5 (2 + 3 tries)", n)
	}
}

func (f *fakeIncus) countExecPosts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if r.Method == "POST" && len(r.Path) > 5 && r.Path[len(r.Path)-5:] == "/exec" {
			n++
		}
	}
	return n
}
