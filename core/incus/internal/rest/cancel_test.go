package rest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCancelDuringWait cancels the context while the server holds the wait
// (its 200 header already written, as incusd does): Do returns promptly with
// context.Canceled and cancels the operation on the server.
func TestCancelDuringWait(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		c.waitTimeout = time.Minute // only the cancel may end this wait
		c = c.WithProject("p1")
		startsOp(f, fakeOp{Hold: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			// Cancel once the client is inside the wait.
			for ctx.Err() == nil {
				for _, r := range f.requests() {
					if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/wait") {
						cancel()
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()

		start := time.Now()
		_, err := c.Do(ctx, createReq)
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v, want context.Canceled", err)
		}
		if took > 3*time.Second {
			t.Errorf("Do took %v to notice the cancel", took)
		}

		var del []seenRequest
		for _, r := range f.requests() {
			if r.Method == http.MethodDelete {
				del = append(del, r)
			}
		}
		if len(del) != 1 || del[0].Path != "/1.0/operations/op-1" || del[0].Query.Get("project") != "p1" {
			t.Errorf("DELETE requests = %+v, want one DELETE /1.0/operations/op-1?project=p1", del)
		}
	})
}

func TestCancelledBeforeWait(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		ctx, cancel := context.WithCancel(context.Background())
		f.handle("POST /1.0/instances", func(w http.ResponseWriter, r *http.Request) {
			f.startOp(w, &fakeOp{TimeoutWaits: 100})
			cancel() // the caller gives up while the answer is on its way
		})
		_, err := c.Do(ctx, createReq)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v, want context.Canceled", err)
		}
	})
}
