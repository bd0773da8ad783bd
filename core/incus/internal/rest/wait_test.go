package rest

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// startsOp makes POST /1.0/instances start a copy of op (each call its own).
func startsOp(f *fake, op fakeOp) {
	f.handle("POST /1.0/instances", func(w http.ResponseWriter, r *http.Request) {
		o := op
		f.startOp(w, &o)
	})
}

var createReq = Request{Method: http.MethodPost, Path: Path("instances"), Body: map[string]any{"name": "n1"}}

func TestWaitPollsAgainAfterServerTimeout(t *testing.T) {
	for name, asError := range map[string]bool{"running": false, "error-body": true} {
		t.Run(name, func(t *testing.T) {
			bothTransports(t, func(t *testing.T, f *fake, c *Client) {
				startsOp(f, fakeOp{TimeoutWaits: 2, TimeoutAsError: asError, Metadata: map[string]any{"fingerprint": "abc"}})
				op, err := c.Do(context.Background(), createReq)
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if op.Status != "Success" || op.StatusCode != 200 {
					t.Errorf("status = %q (%d), want Success (200)", op.Status, op.StatusCode)
				}
				var md struct {
					Fingerprint string `json:"fingerprint"`
				}
				if err := op.Decode(&md); err != nil || md.Fingerprint != "abc" {
					t.Errorf("Decode = %+v, %v; want fingerprint abc", md, err)
				}
				if n := f.count(http.MethodGet, "/1.0/operations/"+op.ID+"/wait"); n != 3 {
					t.Errorf("the server saw %d waits, want 3 (two timed out)", n)
				}
			})
		})
	}
}

func TestFailedOperation(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		startsOp(f, fakeOp{TimeoutWaits: 1, Err: "Failed creating instance: disk full"})
		op, err := c.Do(context.Background(), createReq)
		if err == nil {
			t.Fatalf("Do succeeded: %+v", op)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an *Error", err, err)
		}
		if e.Message != "Failed creating instance: disk full" || err.Error() != e.Message {
			t.Errorf("message = %q (Error() %q), want the operation's err", e.Message, err.Error())
		}
		if errors.Is(err, ErrVanished) {
			t.Errorf("a failed operation is reported vanished: %v", err)
		}
	})
}

// TestFailedOperationWithNotFoundError: incusd renders a failed operation's
// error in the wait's body with the code its error maps to, so an operation
// that failed on something not found answers the wait with error_code 404.
// That is the operation's failure, not the operation gone.
func TestFailedOperationWithNotFoundError(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		startsOp(f, fakeOp{Err: "Storage pool not found", ErrCode: http.StatusNotFound})
		_, err := c.Do(context.Background(), createReq)
		if errors.Is(err, ErrVanished) {
			t.Fatalf("reported vanished: %v", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Message != "Storage pool not found" {
			t.Fatalf("error = %v, want *Error with the operation's text", err)
		}
	})
}

func TestVanishedOperation(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		startsOp(f, fakeOp{Gone: true})
		_, err := c.Do(context.Background(), createReq)
		if !errors.Is(err, ErrVanished) {
			t.Fatalf("error = %v, want one wrapping ErrVanished", err)
		}
		if IsNotFound(err) {
			t.Errorf("a vanished operation reads as a 404 of the object: %v", err)
		}
	})
}

func TestSyncWaitsForAnAsyncAnswer(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		startsOp(f, fakeOp{TimeoutWaits: 1, Metadata: map[string]any{"name": "n1"}})
		var out struct {
			Name string `json:"name"`
		}
		if _, err := c.Sync(context.Background(), createReq, &out); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if out.Name != "n1" {
			t.Errorf("metadata = %+v, want name n1", out)
		}
	})
}
