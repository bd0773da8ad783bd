package rest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWebsocket(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		c = c.WithProject("p1")
		id := f.addOp(&fakeOp{Secret: "s3cret", Hold: true})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		ws, err := c.Websocket(ctx, id, "s3cret")
		if err != nil {
			t.Fatalf("Websocket: %v", err)
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("ping")); err != nil {
			t.Fatalf("write: %v", err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		kind, msg, err := ws.ReadMessage()
		if err != nil || kind != websocket.BinaryMessage || string(msg) != "ping" {
			t.Fatalf("read = %d %q %v, want the echo", kind, msg, err)
		}

		reqs := f.requests()
		if len(reqs) != 1 {
			t.Fatalf("server saw %+v", reqs)
		}
		r := reqs[0]
		if r.Method != http.MethodGet || r.Path != "/1.0/operations/"+id+"/websocket" ||
			r.Query.Get("secret") != "s3cret" || r.Query.Get("project") != "p1" {
			t.Errorf("dial = %s %s?%s", r.Method, r.Path, r.Query.Encode())
		}
	})
}

func TestWebsocketWrongSecret(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		id := f.addOp(&fakeOp{Secret: "s3cret", Hold: true})
		ws, err := c.Websocket(context.Background(), id, "guess")
		if err == nil {
			ws.Close()
			t.Fatal("Websocket connected with a wrong secret")
		}
		if !IsForbidden(err) {
			t.Errorf("error = %v (status %d), want 403", err, StatusOf(err))
		}
	})
}

func TestWebsocketUnknownOperation(t *testing.T) {
	bothTransports(t, func(t *testing.T, f *fake, c *Client) {
		ws, err := c.Websocket(context.Background(), "nope", "s3cret")
		if err == nil {
			ws.Close()
			t.Fatal("Websocket connected to an unknown operation")
		}
		if !IsNotFound(err) {
			t.Errorf("error = %v (status %d), want 404", err, StatusOf(err))
		}
	})
}
