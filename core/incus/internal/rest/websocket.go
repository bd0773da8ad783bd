package rest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// WebsocketHandshake bounds one websocket's handshake. incusd has been seen
// not to answer one for over 30 s, on a loaded host, right after it deleted
// a large instance; the REST calls have no bound but the caller's context.
const WebsocketHandshake = 45 * time.Second

// Websocket connects to one of an operation's websockets (an exec's stdin,
// stdout, stderr or control) with the secret the operation gave.
func (c *Client) Websocket(ctx context.Context, opID, secret string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: WebsocketHandshake,
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  64 << 10,
	}
	wsURL := "wss" + strings.TrimPrefix(c.base, "https")
	if c.ep.URL == "" {
		sock := c.ep.SocketPath
		d.NetDialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "unix", sock)
		}
		wsURL = "ws" + strings.TrimPrefix(c.base, "http")
	} else {
		d.TLSClientConfig = c.ep.TLS
	}
	q := url.Values{"secret": {secret}}
	if c.project != "" {
		q.Set("project", c.project)
	}
	path := Path("operations", opID, "websocket")
	h := http.Header{"User-Agent": {UserAgent}}
	conn, resp, err := d.DialContext(ctx, wsURL+path+"?"+q.Encode(), h)
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			_, derr := decodeEnvelope(resp, http.MethodGet, path)
			resp.Body.Close()
			if derr != nil {
				return nil, derr
			}
		}
		return nil, fmt.Errorf("connecting to the websocket of operation %s: %w", opID, err)
	}
	return conn, nil
}
