package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Client talks to one Incus server in one project. It keeps no state of its
// own beyond the connection pool, so copies made by WithProject share it.
type Client struct {
	ep      Endpoint
	base    string // scheme://host the requests go to
	http    *http.Client
	project string
	// waitTimeout is the ?timeout= of one operation wait; tests shorten it.
	waitTimeout time.Duration
	// backoff is the pause before retrying a dropped read; tests shorten it.
	backoff time.Duration
}

// UserAgent is sent with every request so that server logs name plex.
var UserAgent = "plex"

// New makes a client for an endpoint. It dials nothing: the first call does.
func New(ep Endpoint) (*Client, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // the Incus socket and a remote's address are never reached through a proxy
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	c := &Client{ep: ep, http: &http.Client{Transport: tr}, waitTimeout: 30 * time.Second, backoff: 200 * time.Millisecond}
	if ep.URL == "" {
		c.base = "http://incus.socket"
		sock := ep.SocketPath
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
	} else {
		c.base = strings.TrimRight(ep.URL, "/")
		tr.TLSClientConfig = ep.TLS
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return c, nil
}

// WithProject returns a client that works in project ("" is the server's
// default project). The copy shares the connection pool.
func (c *Client) WithProject(project string) *Client {
	cp := *c
	cp.project = project
	return &cp
}

// Project is the project every call carries.
func (c *Client) Project() string { return c.project }

// Endpoint is where the client connects.
func (c *Client) Endpoint() Endpoint { return c.ep }

// Path joins escaped segments under /1.0: Path("instances", name, "exec").
func Path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/1.0")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Request is one call. Path is already escaped (see Path).
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Target places the call on a cluster member (?target=), or on a cluster
	// group with "@group".
	Target string
	// ETag, when set, is sent as If-Match: the write fails with 412 when the
	// object changed since it was read.
	ETag string
	// Body is sent as JSON; RawBody is sent as it is, with Header.
	Body    any
	RawBody io.Reader
	Header  http.Header
}

func (c *Client) url(r Request) string {
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = v
	}
	if c.project != "" {
		q.Set("project", c.project)
	}
	if r.Target != "" {
		q.Set("target", r.Target)
	}
	u := c.base + r.Path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// send makes one HTTP round trip and returns the raw response.
func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	var body io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the request: %w", r.Method, r.Path, err)
		}
		body = bytes.NewReader(b)
	} else if r.RawBody != nil {
		body = r.RawBody
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.url(r), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.ETag != "" {
		req.Header.Set("If-Match", r.ETag)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s on %s: %w", r.Method, r.Path, c.ep.describe(), err)
	}
	return resp, nil
}

// retrying runs one attempt of a call, and again when it is a read (GET)
// whose connection dropped on the way, before or during the body: a read
// changes nothing on the server. A write is never repeated here.
func (c *Client) retrying(ctx context.Context, method string, attempt func() error) error {
	attempts := 1
	if method == http.MethodGet {
		attempts = 3
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if werr := Sleep(ctx, time.Duration(i)*c.backoff); werr != nil {
				return werr
			}
		}
		err = attempt()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !Dropped(err) {
			return err
		}
	}
	return err
}

// call makes a request and decodes its envelope.
func (c *Client) call(ctx context.Context, r Request) (env *envelope, h http.Header, err error) {
	err = c.retrying(ctx, r.Method, func() error {
		resp, err := c.send(ctx, r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		env, err = decodeEnvelope(resp, r.Method, r.Path)
		h = resp.Header
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return env, h, nil
}

// Sync makes a call that Incus answers at once, decodes the metadata into
// out (nil skips it) and returns the object's ETag.
func (c *Client) Sync(ctx context.Context, r Request, out any) (string, error) {
	env, h, err := c.call(ctx, r)
	if err != nil {
		return "", err
	}
	if env.Type == "async" {
		// Some endpoints answer async on some servers (a cluster forwards);
		// the caller asked for a result, so wait for it.
		op, err := c.opFrom(env, r)
		if err != nil {
			return "", err
		}
		done, err := c.Wait(ctx, op)
		if err != nil {
			return "", err
		}
		if out != nil && done.Metadata != nil {
			if err := done.Decode(out); err != nil {
				return "", fmt.Errorf("%s %s: decoding the operation's result: %w", r.Method, r.Path, err)
			}
		}
		return "", nil
	}
	if err := env.into(out, r.Method, r.Path); err != nil {
		return "", err
	}
	return h.Get("ETag"), nil
}

// Stream makes a call whose answer is not an envelope (a file's content).
// An error status is decoded into an *Error. The caller closes the body.
func (c *Client) Stream(ctx context.Context, r Request) (resp *http.Response, err error) {
	err = c.retrying(ctx, r.Method, func() error {
		resp, err = c.send(ctx, r)
		if err != nil {
			return err
		}
		if resp.StatusCode >= 400 {
			defer resp.Body.Close()
			_, err = decodeEnvelope(resp, r.Method, r.Path)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Dropped reports whether err is a connection that broke on the way (reset,
// closed early, a truncated body) rather than an answer: worth one more try
// where repeating the call is safe.
func Dropped(err error) bool {
	if err == nil || StatusOf(err) != 0 {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// Sleep waits for d, or less when ctx ends first (its error then).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
